import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { create, createFileRegistry, setExtension, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, MethodOptionsSchema, ServiceOptionsSchema, type MethodOptions, type ServiceOptions } from "@bufbuild/protobuf/wkt";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { http } from "../gen/google/api/annotations_pb.js";
import { HttpRuleSchema } from "../gen/google/api/http_pb.js";
import { Auth, auth, default_auth } from "../gen/loyalty/v1/options_pb.js";
import { LoyaltyPos } from "../gen/loyalty/v1/pos_pb.js";
import { restBindings } from "../src/transport/http-rules.js";
import { authOf, checkMethodRules, isMutating } from "../src/transport/method-rules.js";
import { API, api, apiServices, createRegistry } from "../src/transport/registry.js";
import type { ServiceDeps } from "../src/services/deps.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { posAuth, registerBusiness, rest, type Business } from "./support/rest.js";

/**
 * The rules in the proto (issue 13, item 1): who may call a method is its
 * `(loyalty.v1.auth)` / its service's `(loyalty.v1.default_auth)`, read-only
 * is `idempotency_level = NO_SIDE_EFFECTS`, and the start refuses a method
 * that states no auth rule (or a GET binding on a method that changes state).
 */

/** A test-only proto file: service `test.v1.Forgotten` with method `DoIt`, options as given. */
function testService(opts: { service?: ServiceOptions; method?: MethodOptions; get?: string } = {}): DescService {
  const method = opts.method ?? create(MethodOptionsSchema);
  if (opts.get) setExtension(method, http, create(HttpRuleSchema, { pattern: { case: "get", value: opts.get } }));
  const file = create(FileDescriptorProtoSchema, {
    name: "test/v1/forgotten.proto",
    package: "test.v1",
    syntax: "proto3",
    messageType: [{ name: "DoItRequest" }, { name: "DoItResponse" }],
    service: [
      {
        name: "Forgotten",
        ...(opts.service ? { options: opts.service } : {}),
        method: [{ name: "DoIt", inputType: ".test.v1.DoItRequest", outputType: ".test.v1.DoItResponse", options: method }],
      },
    ],
  });
  return createFileRegistry(file, () => undefined).getService("test.v1.Forgotten")!;
}

function withAuth(options: ServiceOptions, value: Auth): ServiceOptions;
function withAuth(options: MethodOptions, value: Auth): MethodOptions;
function withAuth(options: ServiceOptions | MethodOptions, value: Auth) {
  if (options.$typeName === "google.protobuf.ServiceOptions") setExtension(options, default_auth, value);
  else setExtension(options, auth, value);
  return options;
}

describe("who may call: the proto says", () => {
  test("every method of the API services, exactly as contract §3", () => {
    const table = Object.fromEntries(apiServices.flatMap((s) => s.methods.map((m) => [`${s.name}/${m.name}`, authOf(m)])));
    for (const [rpc, credential] of Object.entries(table)) {
      const expected = rpc.startsWith("LoyaltyPos/")
        ? "api_key"
        : rpc === "OwnerAuth/Register" || rpc === "OwnerAuth/Login"
          ? "none"
          : "owner";
      expect(credential, rpc).toBe(expected);
    }
    expect(table["OwnerAuth/ChangePassword"]).toBe("owner");
    expect(table["OwnerAuth/Logout"]).toBe("owner");
    expect(table["LoyaltyPos/Checkin"]).toBe("api_key");
    expect(table["CustomerAdmin/ListCustomers"]).toBe("owner");
  });

  test("a method's own option wins over its service's default", () => {
    const s = testService({ service: withAuth(create(ServiceOptionsSchema), Auth.OWNER), method: withAuth(create(MethodOptionsSchema), Auth.NONE) });
    expect(authOf(s.methods[0]!)).toBe("none");
    expect(authOf(testService({ service: withAuth(create(ServiceOptionsSchema), Auth.API_KEY) }).methods[0]!)).toBe("api_key");
    expect(authOf(testService({ method: withAuth(create(MethodOptionsSchema), Auth.OWNER) }).methods[0]!)).toBe("owner");
  });

  test("a method without an auth rule stops the start, naming the method", () => {
    const forgotten = testService();
    expect(authOf(forgotten.methods[0]!)).toBeUndefined();
    // What createApp calls first: nothing is built, nothing listens.
    const deps = {} as ServiceDeps;
    expect(() => createRegistry(deps, { entries: [...API, api(forgotten, () => ({ doIt: () => ({}) }) as never)] })).toThrow(
      /test\.v1\.Forgotten\/DoIt has no auth rule: give it option \(loyalty\.v1\.auth\) or its service option \(loyalty\.v1\.default_auth\)/,
    );
    // AUTH_UNSPECIFIED written out is no rule either.
    expect(() => checkMethodRules([testService({ service: withAuth(create(ServiceOptionsSchema), Auth.UNSPECIFIED) })])).toThrow(/Forgotten\/DoIt has no auth rule/);
  });

  test("a service put on the router beside the registry's is checked too", () => {
    const registry = createRegistry({ config: { reflection: false } } as unknown as ServiceDeps, { entries: [] });
    const forgotten = testService();
    expect(() =>
      createRouterTransport((router) => {
        router.service(forgotten, { doIt: () => ({}) } as never);
        registry.routes(router);
      }),
    ).toThrow(/test\.v1\.Forgotten\/DoIt has no auth rule/);
  });

  test("a GET binding on a method that is not NO_SIDE_EFFECTS stops the start", () => {
    const s = testService({ service: withAuth(create(ServiceOptionsSchema), Auth.OWNER), get: "/v1/things" });
    expect(() => checkMethodRules([s])).toThrow("test.v1.Forgotten/DoIt is bound to GET /v1/things but not marked option idempotency_level = NO_SIDE_EFFECTS");
    expect(() => checkMethodRules(apiServices)).not.toThrow();
  });
});

describe("read-only: idempotency_level = NO_SIDE_EFFECTS", () => {
  test("exactly the GET-bound methods and the check-in preview are read-only", () => {
    const readOnly = apiServices.flatMap((s) => s.methods.filter((m) => !isMutating(m)).map((m) => `${s.name}/${m.name}`));
    const gets = apiServices.flatMap((s) => restBindings(s).filter((b) => b.verb === "GET").map((b) => `${s.name}/${b.method.name}`));
    expect(readOnly.sort()).toEqual([...gets, "LoyaltyPos/PreviewCheckin"].sort());
    expect(readOnly).toContain("LoyaltyPos/GetBalance");
    expect(isMutating(LoyaltyPos.method.checkin)).toBe(true);
    expect(isMutating(LoyaltyPos.method.redeem)).toBe(true);
  });
});

describe("Connect serves read-only methods over GET", () => {
  let t: TestApp;
  let b: Business;
  beforeAll(async () => {
    t = await startTestApp();
    b = await registerBusiness(t.url);
    const r = await rest(t.url, "POST", "/v1/pos/checkin", { headers: posAuth(b), body: { phone: "+353871234567", amount: 12.5 } });
    expect(r.status).toBe(200);
  });
  afterAll(async () => {
    await t?.close();
  });

  test("a plain Connect GET (?message=…&encoding=json) answers the balance", async () => {
    const message = encodeURIComponent(JSON.stringify({ identifier: "+353871234567" }));
    const r = await fetch(`${t.url}/loyalty.v1.LoyaltyPos/GetBalance?connect=v1&encoding=json&message=${message}`, { headers: posAuth(b) });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/json");
    expect(r.headers.get("cache-control")).toBe("private");
    const body = await r.json();
    expect(body).toEqual({ customerId: expect.stringMatching(/^[a-z][a-z0-9]{7,31}$/), totalPoints: 12, availableRewards: [] });
    // Without a key: 401 in Connect's shape, before anything is read.
    const anon = await fetch(`${t.url}/loyalty.v1.LoyaltyPos/GetBalance?connect=v1&encoding=json&message=${message}`);
    expect(anon.status).toBe(401);
    expect(await anon.json()).toEqual({ code: "unauthenticated", message: "missing API key: send it in the X-API-Key header" });
  });

  test("a Connect client with useHttpGet sends GET for reads and POST for writes", async () => {
    // The portal's transport (connect-web), over Node's fetch: what goes on the wire is recorded.
    const methods: string[] = [];
    const recording: typeof fetch = (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      methods.push(`${url.pathname.split("/").pop()} ${init?.method ?? (input instanceof Request ? input.method : "GET")}`);
      return fetch(input, init);
    };
    const transport = createConnectTransport({ baseUrl: t.url, useHttpGet: true, fetch: recording });
    const pos = createClient(LoyaltyPos, transport);
    const balance = await pos.getBalance({ identifier: "+353871234567" }, { headers: posAuth(b) });
    expect(balance.totalPoints).toBe(12);
    const checkin = await pos.checkin({ phone: "+353871234567", amount: 1 }, { headers: posAuth(b) });
    expect(checkin.totalPoints).toBe(13);
    expect(methods).toEqual(["GetBalance GET", "Checkin POST"]);
  });

  test("other HTTP methods on a read-only procedure: 405, Allow: GET, POST; a write takes POST only", async () => {
    const put = await fetch(`${t.url}/loyalty.v1.LoyaltyPos/GetBalance`, { method: "PUT", headers: { "content-type": "application/json" }, body: "{}" });
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("GET, POST");
    const get = await fetch(`${t.url}/loyalty.v1.LoyaltyPos/Checkin?connect=v1&encoding=json&message=%7B%7D`, { headers: posAuth(b) });
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
  });
});
