import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { create, createFileRegistry, setExtension, type DescService } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema, MethodOptionsSchema } from "@bufbuild/protobuf/wkt";
import Fastify, { type FastifyInstance } from "fastify";
import { http } from "../gen/google/api/annotations_pb.js";
import { HttpRuleSchema } from "../gen/google/api/http_pb.js";
import { parsePathTemplate, restBindings } from "../src/transport/http-rules.js";
import { registerRestGateway } from "../src/transport/rest-gateway.js";

/**
 * The REST gateway knows the whole `google.api.http` path template grammar
 * (issue 13, item 3): `{field}`, `{field=segments/*}`, `*`, `**`, and the
 * `:verb` suffix of AIP-136 custom methods — or refuses at start a template
 * it cannot serve. No proto of the API uses a verb yet, so the routes are
 * served from a test-only service, on a real port.
 */

const STRING = FieldDescriptorProto_Type.STRING;
const MESSAGE = FieldDescriptorProto_Type.MESSAGE;
const OPTIONAL = FieldDescriptorProto_Label.OPTIONAL;

type Rule = { verb: "get" | "post"; path: string; body?: string };

/** A test-only service `test.v1.Things`: one method per rule, all taking `ThingRequest` and answering `Echo`. */
function thingsService(rules: Record<string, Rule>): DescService {
  const file = create(FileDescriptorProtoSchema, {
    name: "test/v1/things.proto",
    package: "test.v1",
    syntax: "proto3",
    messageType: [
      { name: "Inner", field: [{ name: "id", number: 1, type: STRING, label: OPTIONAL, jsonName: "id" }] },
      {
        name: "ThingRequest",
        field: [
          { name: "id", number: 1, type: STRING, label: OPTIONAL, jsonName: "id" },
          { name: "name", number: 2, type: STRING, label: OPTIONAL, jsonName: "name" },
          { name: "file_path", number: 3, type: STRING, label: OPTIONAL, jsonName: "filePath" },
          { name: "inner", number: 4, type: MESSAGE, typeName: ".test.v1.Inner", label: OPTIONAL, jsonName: "inner" },
          { name: "note", number: 5, type: STRING, label: OPTIONAL, jsonName: "note" },
        ],
      },
      {
        name: "Echo",
        field: ["method", "id", "name", "file_path", "inner_id", "note"].map((name, i) => ({
          name,
          number: i + 1,
          type: STRING,
          label: OPTIONAL,
          jsonName: name.replace(/_(\w)/g, (_m, c: string) => c.toUpperCase()),
        })),
      },
    ],
    service: [
      {
        name: "Things",
        method: Object.entries(rules).map(([name, rule]) => {
          const options = create(MethodOptionsSchema);
          setExtension(options, http, create(HttpRuleSchema, { pattern: { case: rule.verb, value: rule.path }, body: rule.body ?? "" }));
          return { name, inputType: ".test.v1.ThingRequest", outputType: ".test.v1.Echo", options };
        }),
      },
    ],
  });
  return createFileRegistry(file, () => undefined).getService("test.v1.Things")!;
}

describe("parsePathTemplate: the grammar of google/api/http.proto", () => {
  test("literals, {field}, {field=segments}, *, ** and the verb", () => {
    expect(parsePathTemplate("/v1/owner/customers/{id}")).toEqual({
      segments: [{ kind: "literal", text: "v1" }, { kind: "literal", text: "owner" }, { kind: "literal", text: "customers" }, { kind: "*" }],
      variables: [{ fieldPath: ["id"], start: 3, end: 4 }],
    });
    expect(parsePathTemplate("/v1/things/{id}:reverse")).toEqual({
      segments: [{ kind: "literal", text: "v1" }, { kind: "literal", text: "things" }, { kind: "*" }],
      variables: [{ fieldPath: ["id"], start: 2, end: 3 }],
      verb: "reverse",
    });
    expect(parsePathTemplate("/v1/{name=shelves/*/books/*}")).toEqual({
      segments: [{ kind: "literal", text: "v1" }, { kind: "literal", text: "shelves" }, { kind: "*" }, { kind: "literal", text: "books" }, { kind: "*" }],
      variables: [{ fieldPath: ["name"], start: 1, end: 5 }],
    });
    expect(parsePathTemplate("/v1/files/{file_path=**}:download")).toEqual({
      segments: [{ kind: "literal", text: "v1" }, { kind: "literal", text: "files" }, { kind: "**" }],
      variables: [{ fieldPath: ["file_path"], start: 2, end: 3 }],
      verb: "download",
    });
    expect(parsePathTemplate("/v1/*/things:batchGet")).toEqual({
      segments: [{ kind: "literal", text: "v1" }, { kind: "*" }, { kind: "literal", text: "things" }],
      variables: [],
      verb: "batchGet",
    });
    expect(parsePathTemplate("/v1/inner/{inner.id}").variables).toEqual([{ fieldPath: ["inner", "id"], start: 2, end: 3 }]);
  });

  test.each([
    ["v1/things", 'must start with "/"'],
    ["/v1//things", "has an empty segment"],
    ["/v1/**/things", 'has "**" before its last segment'],
    ["/v1/{a={b}}", "has unbalanced or nested braces"],
    ["/v1/{id", "has an unclosed brace"],
    ["/v1/x{id}", 'has a variable inside the segment "x{id}"'],
    ["/v1/{id}x", 'has text after a variable in "{id}x"'],
    ["/v1/{id}/{id}", 'binds "id" twice'],
    ["/v1/{1d}", 'has an invalid field path "1d"'],
    ["/v1/things:", 'has an invalid verb ":"'],
    ["/v1/th=ngs", 'has an invalid segment "th=ngs"'],
  ])("refuses %s: %s", (template, why) => {
    expect(() => parsePathTemplate(template)).toThrow(`path template "${template}" ${why}`);
  });
});

describe("restBindings: Fastify routes, or a refusal at start", () => {
  test("each template's route, OpenAPI path and how its variables are read", () => {
    const s = thingsService({
      Get: { verb: "get", path: "/v1/things/{id}" },
      Reverse: { verb: "post", path: "/v1/things/{id}:reverse", body: "*" },
      BatchGet: { verb: "post", path: "/v1/things:batchGet", body: "*" },
      GetBook: { verb: "get", path: "/v1/{name=shelves/*/books/*}" },
      Download: { verb: "get", path: "/v1/files/{file_path=**}:download" },
    });
    expect(restBindings(s).map((b) => [b.path, b.openApiPath, b.verbSuffix ?? null, b.variables])).toEqual([
      ["/v1/things/:id", "/v1/things/{id}", null, [{ fieldPath: ["id"], parts: [{ param: "id" }] }]],
      ["/v1/things/:id", "/v1/things/{id}:reverse", { param: "id", verb: "reverse" }, [{ fieldPath: ["id"], parts: [{ param: "id" }] }]],
      ["/v1/things::batchGet", "/v1/things:batchGet", null, []],
      [
        "/v1/shelves/:p2/books/:p4",
        "/v1/{name}",
        null,
        [{ fieldPath: ["name"], parts: [{ literal: "shelves" }, { literal: "/" }, { param: "p2" }, { literal: "/" }, { literal: "books" }, { literal: "/" }, { param: "p4" }] }],
      ],
      ["/v1/files/*", "/v1/files/{file_path}:download", { param: "*", verb: "download" }, [{ fieldPath: ["file_path"], parts: [{ param: "*" }] }]],
    ]);
  });

  test("a variable naming no field, a repeated or message field, or an unknown body field stops the start", () => {
    expect(() => restBindings(thingsService({ Bad: { verb: "get", path: "/v1/things/{thing_id}" } }))).toThrow(
      'test.v1.Things/Bad: path template "/v1/things/{thing_id}" binds "thing_id", which is no singular scalar field of test.v1.ThingRequest',
    );
    expect(() => restBindings(thingsService({ Bad: { verb: "get", path: "/v1/things/{inner}" } }))).toThrow(/binds "inner", which is no singular scalar field/);
    expect(() => restBindings(thingsService({ Bad: { verb: "post", path: "/v1/things", body: "thing" } }))).toThrow(
      'test.v1.Things/Bad: google.api.http body "thing" is no field of test.v1.ThingRequest',
    );
    expect(() => restBindings(thingsService({ Bad: { verb: "get", path: "/v1/**/x" } }))).toThrow('test.v1.Things/Bad: path template "/v1/**/x" has "**" before its last segment');
  });
});

describe("the gateway serves every form, on a real port", () => {
  let app: FastifyInstance;
  let url: string;
  beforeAll(async () => {
    const service = thingsService({
      Get: { verb: "get", path: "/v1/things/{id}" },
      Reverse: { verb: "post", path: "/v1/things/{id}:reverse", body: "*" },
      Undo: { verb: "post", path: "/v1/things/{id}:undo" },
      BatchGet: { verb: "post", path: "/v1/things:batchGet", body: "*" },
      GetBook: { verb: "get", path: "/v1/{name=shelves/*/books/*}" },
      Download: { verb: "get", path: "/v1/files/{file_path=**}:download" },
      Touch: { verb: "post", path: "/v1/inner/{inner.id}:touch", body: "*" },
    });
    const echo = (method: string) => (req: { id: string; name: string; filePath: string; inner?: { id: string }; note: string }) => ({
      method,
      id: req.id,
      name: req.name,
      filePath: req.filePath,
      innerId: req.inner?.id ?? "",
      note: req.note,
    });
    const impl = Object.fromEntries(service.methods.map((m) => [m.localName, echo(m.name)]));
    app = Fastify();
    registerRestGateway(app, { services: [service], impls: new Map([[service.typeName, impl]]), interceptors: [] });
    url = await app.listen({ host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => {
    await app?.close();
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${url}${path}`, { method, ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }) });
    return { status: r.status, body: await r.json() };
  };
  const echoed = (fields: Record<string, string>) => ({ method: "", id: "", name: "", filePath: "", innerId: "", note: "", ...fields });

  test("{id}:reverse and {id}:undo reach their methods with the id (not a parameter named id:reverse)", async () => {
    expect(await call("POST", "/v1/things/abc:reverse", { note: "n" })).toEqual({ status: 200, body: echoed({ method: "Reverse", id: "abc", note: "n" }) });
    expect(await call("POST", "/v1/things/abc:undo")).toEqual({ status: 200, body: echoed({ method: "Undo", id: "abc" }) });
    // A colon inside the id, percent-encoded, stays in it.
    expect(await call("POST", "/v1/things/a%3Ab:reverse", {})).toEqual({ status: 200, body: echoed({ method: "Reverse", id: "a:b" }) });
    expect(await call("GET", "/v1/things/abc")).toEqual({ status: 200, body: echoed({ method: "Get", id: "abc" }) });
  });

  test("an unknown verb, or none where one is needed, is 404", async () => {
    expect(await call("POST", "/v1/things/abc:nope", {})).toEqual({ status: 404, body: { success: false, error: { code: "not_found", message: "route not found" } } });
    expect((await call("POST", "/v1/things/abc", {})).status).toBe(404);
    expect((await call("POST", "/v1/things/:reverse", {})).status).toBe(404);
  });

  test("a verb on a literal, multi-segment variables, ** and nested fields", async () => {
    expect(await call("POST", "/v1/things:batchGet", { id: "x" })).toEqual({ status: 200, body: echoed({ method: "BatchGet", id: "x" }) });
    expect(await call("GET", "/v1/shelves/s1/books/b2")).toEqual({ status: 200, body: echoed({ method: "GetBook", name: "shelves/s1/books/b2" }) });
    expect(await call("GET", "/v1/files/a/b/c.txt:download")).toEqual({ status: 200, body: echoed({ method: "Download", filePath: "a/b/c.txt" }) });
    expect(await call("POST", "/v1/inner/i9:touch", { note: "t" })).toEqual({ status: 200, body: echoed({ method: "Touch", innerId: "i9", note: "t" }) });
  });
});
