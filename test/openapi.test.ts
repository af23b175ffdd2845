import { afterAll, beforeAll, describe, expect, test } from "vitest";
import Fastify, { type FastifyInstance } from "fastify";
import { restBindings } from "../src/transport/http-rules.js";
import { registerRestGateway } from "../src/transport/rest-gateway.js";
import { apiServices } from "../src/transport/registry.js";
import { buildOpenApi, openApiRoutes } from "../src/transport/openapi.js";
import { openApiDocument } from "../gen/openapi.js";
import { requiredCredential } from "../src/transport/method-rules.js";
import { registerDocs, registerOpenApi, REFERENCE_CURL_EXAMPLE } from "../src/transport/docs-page.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";

type Json = any;
const key = (r: { method: string; path: string }) => `${r.method} ${r.path}`;
const sorted = (xs: Iterable<string>) => [...xs].sort();

/** Every `$ref` in a document, with where it occurs. */
function refsOf(node: Json, at = "#", out: { ref: string; at: string }[] = []) {
  if (Array.isArray(node)) node.forEach((n, i) => refsOf(n, `${at}/${i}`, out));
  else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string") out.push({ ref: v, at });
      else refsOf(v, `${at}/${k}`, out);
    }
  }
  return out;
}

/** Resolves a local JSON pointer (`#/components/schemas/X`). */
function resolvePointer(doc: Json, ref: string): Json {
  if (!ref.startsWith("#/")) return undefined;
  return ref
    .slice(2)
    .split("/")
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((node: Json, part) => (node == null ? undefined : node[part]), doc);
}

/**
 * A small structural validator of a JSON value against a document schema:
 * `$ref`, `anyOf`, object properties (no unknown keys), `required`, array items,
 * scalar types, `enum`, `const`, `format: int32` and `date-time`.
 */
function validate(doc: Json, schema: Json, value: unknown, path = "$"): string[] {
  if (schema.$ref) {
    const { $ref, ...rest } = schema;
    return [...validate(doc, resolvePointer(doc, $ref), value, path), ...validate(doc, rest, value, path)];
  }
  if (schema.anyOf) {
    const branches = schema.anyOf.map((b: Json) => validate(doc, b, value, path));
    if (!branches.some((e: string[]) => e.length === 0)) return [`${path}: matches no anyOf branch (${branches.flat().join("; ")})`];
  }
  const errors: string[] = [];
  const types: string[] = schema.type === undefined ? [] : [].concat(schema.type);
  if (types.length) {
    const actual =
      value === null ? "null" : Array.isArray(value) ? "array" : Number.isInteger(value) ? "integer" : typeof value;
    const ok = types.some((t) => t === actual || (t === "number" && actual === "integer"));
    if (!ok) return [`${path}: expected ${types.join("|")}, got ${actual}`];
  }
  if (schema.enum && !schema.enum.includes(value)) errors.push(`${path}: ${JSON.stringify(value)} not in enum`);
  if ("const" in schema && schema.const !== value) errors.push(`${path}: expected ${JSON.stringify(schema.const)}`);
  if (schema.format === "int32" && typeof value === "number" && (value < -(2 ** 31) || value >= 2 ** 31)) {
    errors.push(`${path}: out of int32 range`);
  }
  if (schema.format === "date-time" && typeof value === "string" && Number.isNaN(Date.parse(value))) {
    errors.push(`${path}: not a date-time`);
  }
  if (value && typeof value === "object" && !Array.isArray(value) && schema.properties) {
    for (const r of schema.required ?? []) if (!(r in value)) errors.push(`${path}: missing required "${r}"`);
    for (const [k, v] of Object.entries(value)) {
      const prop = schema.properties[k];
      if (!prop) errors.push(`${path}: unknown property "${k}"`);
      else errors.push(...validate(doc, prop, v, `${path}.${k}`));
    }
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => errors.push(...validate(doc, schema.items, v, `${path}[${i}]`)));
  return errors;
}

/** The operation of the document for a method and a Fastify-style path. */
function operationOf(doc: Json, method: string, path: string): Json {
  const p = path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, "{$1}");
  return doc.paths[p]?.[method.toLowerCase()];
}

/** The schema of an operation's 200 response, or of an error status. */
function responseSchema(doc: Json, op: Json, status: number): Json {
  const responses = op.responses;
  let r = responses[String(status)] ?? responses[`${String(status)[0]}XX`];
  if (r?.$ref) r = resolvePointer(doc, r.$ref);
  return r.content["application/json"].schema;
}

/**
 * The routes of `printRoutes({ commonPrefix: false })`, whose lines are
 * `├── /segment (GET, HEAD)` indented by four characters per level.
 */
function parsePrintedRoutes(printed: string): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  const stack: string[] = [];
  for (const line of printed.split("\n")) {
    const m = /^((?:│   |    )*)(?:├── |└── )(.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join("");
    for (const method of (m[3] ?? "").split(",").map((s) => s.trim()).filter(Boolean)) out.push({ method, path });
  }
  return out;
}

/** The document generated at `npm run generate` (scripts/protoc-gen-openapi.ts), which the service serves. */
const doc: Json = openApiDocument;
const bindingRoutes = apiServices.flatMap((s) => restBindings(s)).map((b) => ({ method: b.verb, path: b.path }));

describe("the OpenAPI document", () => {
  test("is OpenAPI 3.1 with servers, auth schemes and the error shape", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info.title).toBeTruthy();
    expect(doc.info.version).toBeTruthy();
    expect(doc.servers).toEqual([{ url: "/" }]);
    expect(doc.components.securitySchemes.ApiKeyAuth).toEqual(
      expect.objectContaining({ type: "apiKey", in: "header", name: "X-API-Key" }),
    );
    expect(doc.components.securitySchemes.BearerAuth).toEqual(
      expect.objectContaining({ type: "http", scheme: "bearer", bearerFormat: "JWT" }),
    );
    const err = doc.components.schemas.Error;
    expect(err.required).toEqual(["success", "error"]);
    expect(err.properties.success).toEqual({ type: "boolean", const: false });
    expect(err.properties.error.required).toEqual(["code", "message"]);
    expect(err.properties.error.properties.code.enum).toEqual(
      expect.arrayContaining(["invalid_argument", "not_found", "unauthenticated", "failed_precondition", "internal"]),
    );
  });

  test("every $ref resolves, operation ids are unique, path templates match their parameters", () => {
    const refs = refsOf(doc);
    expect(refs.length).toBeGreaterThan(50);
    const unresolved = refs.filter((r) => resolvePointer(doc, r.ref) === undefined);
    expect(unresolved).toEqual([]);

    const ids: string[] = [];
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const op of Object.values<Json>(item)) {
        ids.push(op.operationId);
        const params = (op.parameters ?? []).map((p: Json) => (p.$ref ? resolvePointer(doc, p.$ref) : p));
        const inPath = params.filter((p: Json) => p.in === "path");
        expect(sorted(inPath.map((p: Json) => p.name)), `${path}`).toEqual(sorted(templated));
        for (const p of inPath) expect(p.required).toBe(true);
        expect(op.responses["200"], `${op.operationId} 200`).toBeTruthy();
        expect(op.responses["4XX"]).toEqual({ $ref: "#/components/responses/Error" });
        expect(op.responses["5XX"]).toEqual({ $ref: "#/components/responses/Error" });
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  test("lists exactly the routes of the google.api.http bindings", () => {
    expect(sorted(openApiRoutes(doc).map(key))).toEqual(sorted(bindingRoutes.map(key)));
    // The contract's routes (§2), including both verbs of UpdateCustomer.
    const routes = new Set(openApiRoutes(doc).map(key));
    for (const r of [
      "POST /v1/pos/checkin",
      "GET /v1/pos/customer/:identifier",
      "GET /v1/pos/balance/:identifier",
      "POST /v1/pos/redeem",
      "POST /v1/owner/customers",
      "GET /v1/owner/customers",
      "GET /v1/owner/customers/:id",
      "PATCH /v1/owner/customers/:id",
      "PUT /v1/owner/customers/:id",
      "POST /v1/owner/customers/:id/points",
      "DELETE /v1/owner/customers/:id",
      "POST /v1/auth/register",
      "POST /v1/auth/login",
      "GET /v1/owner/program",
      "PATCH /v1/owner/program",
      "POST /v1/owner/api-keys",
      "GET /v1/owner/api-keys",
      "DELETE /v1/owner/api-keys/:id",
      "POST /v1/owner/stores",
      "GET /v1/owner/stores",
    ]) {
      expect(routes.has(r), r).toBe(true);
    }
  });

  test("matches the routes the REST gateway registers on a Fastify instance, both ways", async () => {
    const app = Fastify();
    const registered: { method: string; path: string }[] = [];
    app.addHook("onRoute", (r) => {
      for (const m of [r.method].flat()) if (m !== "HEAD") registered.push({ method: m, path: r.url });
    });
    // Only route registration is looked at here: implementations that are never called.
    const impls = new Map(apiServices.map((s) => [s.typeName, Object.fromEntries(s.methods.map((m) => [m.localName, () => undefined]))]));
    registerRestGateway(app as unknown as FastifyInstance, { services: apiServices, impls, interceptors: [] });
    await app.ready();
    expect(sorted(registered.map(key))).toEqual(sorted(openApiRoutes(doc).map(key)));
    await app.close();
  });

  test("request and response schemas follow proto3 JSON", () => {
    const s = doc.components.schemas;
    // Responses: int32 → integer/int32, bool, string, enum names, Timestamp, repeated, $ref.
    expect(s.CheckinResponse.properties.pointsAwarded).toMatchObject({ type: "integer", format: "int32" });
    expect(s.CheckinResponse.properties.rewardAvailable).toMatchObject({ type: "boolean" });
    expect(s.CheckinResponse.properties.customerId).toMatchObject({ type: "string" });
    expect(s.CheckinResponse.required).toEqual(expect.arrayContaining(["success", "customerId", "pointsAwarded", "totalPoints"]));
    expect(s.CustomerStatus).toMatchObject({ type: "string", enum: ["CUSTOMER_STATUS_UNSPECIFIED", "ACTIVE", "BLOCKED"] });
    expect(s.Customer.properties.status).toMatchObject({ $ref: "#/components/schemas/CustomerStatus" });
    // Unset message fields are written as null by the gateway: Timestamps and messages are nullable in responses.
    expect(s.Customer.properties.createdAt).toMatchObject({ type: ["string", "null"], format: "date-time" });
    expect(s.Customer.required).toEqual(expect.arrayContaining(["id", "status", "totalPoints", "lastVisitAt"]));
    expect(s.GetCustomerResponse.properties.customer).toMatchObject({
      anyOf: [{ $ref: "#/components/schemas/Customer" }, { type: "null" }],
    });
    expect(s.GetCustomerResponse.properties.pointsHistory).toMatchObject({
      type: "array",
      items: { $ref: "#/components/schemas/LedgerEntry" },
    });
    expect(s.Program.properties.pointsPerCurrencyUnit).toMatchObject({ type: "number", format: "double" });
    // Requests: body "*" is the request message; path fields are left out of it.
    expect(s.CheckinRequest.properties.amount).toMatchObject({ type: "number", format: "double" });
    expect(s.CheckinRequest.required).toBeUndefined();
    const update = operationOf(doc, "PATCH", "/v1/owner/customers/:id");
    const body = resolvePointer(doc, update.requestBody.content["application/json"].schema.$ref);
    expect(Object.keys(body.properties).sort()).toEqual(["name", "notes", "phone", "status"]);
    const adjust = operationOf(doc, "POST", "/v1/owner/customers/:id/points");
    const adjustBody = resolvePointer(doc, adjust.requestBody.content["application/json"].schema.$ref);
    expect(Object.keys(adjustBody.properties).sort()).toEqual(["points", "reason"]);
    // GET: the request fields not in the path are query parameters (JSON names).
    const list = operationOf(doc, "GET", "/v1/owner/customers");
    expect(list.parameters.filter((p: Json) => p.in === "query").map((p: Json) => p.name)).toEqual([
      "page",
      "limit",
      "search",
      "statusFilter",
      "sortBy",
      "sortOrder",
    ]);
    expect(list.requestBody).toBeUndefined();
    const balance = operationOf(doc, "GET", "/v1/pos/balance/:identifier");
    expect(balance.parameters).toEqual([expect.objectContaining({ name: "identifier", in: "path", schema: { type: "string" } })]);
  });

  test("security: API key for LoyaltyPos, bearer JWT for CustomerAdmin, BusinessSettings and OwnerAuth's password and logout, none for register and login", () => {
    for (const service of apiServices) {
      for (const b of restBindings(service)) {
        const op = operationOf(doc, b.verb, b.path);
        const auth = requiredCredential(b.method);
        const expected = auth === "api_key" ? [{ ApiKeyAuth: [] }] : auth === "owner" ? [{ BearerAuth: [] }] : undefined;
        expect(op.security, `${b.verb} ${b.path}`).toEqual(expected);
      }
    }
    expect(operationOf(doc, "POST", "/v1/pos/checkin").security).toEqual([{ ApiKeyAuth: [] }]);
    expect(operationOf(doc, "GET", "/v1/owner/customers").security).toEqual([{ BearerAuth: [] }]);
    expect(operationOf(doc, "GET", "/v1/owner/program").security).toEqual([{ BearerAuth: [] }]);
    expect(operationOf(doc, "POST", "/v1/auth/login").security).toBeUndefined();
    expect(operationOf(doc, "POST", "/v1/auth/register").security).toBeUndefined();
    expect(operationOf(doc, "POST", "/v1/auth/password").security).toEqual([{ BearerAuth: [] }]);
    expect(operationOf(doc, "POST", "/v1/auth/logout").security).toEqual([{ BearerAuth: [] }]);
  });

  test("carries the proto comments as descriptions", () => {
    expect(operationOf(doc, "POST", "/v1/pos/checkin").summary).toMatch(/^Awards points to a customer/);
    expect(doc.components.schemas.Customer.description).toBe("A loyalty customer of one business.");
    expect(doc.components.schemas.Customer.properties.phone.description).toMatch(/E\.164/);
    expect(doc.tags.find((t: Json) => t.name === "LoyaltyPos").description).toMatch(/X-API-Key/);
    const list = operationOf(doc, "GET", "/v1/owner/customers");
    expect(list.parameters.find((p: Json) => p.name === "limit").description).toMatch(/1-100/);
  });

  test("is what buildOpenApi makes of the registry's services at run time, plus the comments", () => {
    // Built here from the descriptors embedded in gen/ (no source info): the same document, minus descriptions.
    const bare: Json = buildOpenApi(apiServices);
    expect(Object.keys(bare.paths)).toEqual(Object.keys(doc.paths));
    expect(Object.keys(bare.components.schemas)).toEqual(Object.keys(doc.components.schemas));
    expect(bare.components.schemas.Customer.description).toBeUndefined();
    expect(refsOf(bare).filter((r) => resolvePointer(bare, r.ref) === undefined)).toEqual([]);
  });
});

describe("GET /openapi.json and GET /docs", () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = Fastify() as unknown as FastifyInstance;
    registerOpenApi(app);
    registerDocs(app);
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
  });

  test("/openapi.json serves the generated document as JSON", async () => {
    const res = await app.inject({ method: "GET", url: "/openapi.json" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.json()).toEqual(JSON.parse(JSON.stringify(doc)));
  });

  test("/docs renders the document with local assets only and shows the reference's curl example", async () => {
    const res = await app.inject({ method: "GET", url: "/docs" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    const html = res.body;
    // The curl example of the reference, as published (HTML-escaped).
    const unescaped = html.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
    expect(unescaped).toContain(REFERENCE_CURL_EXAMPLE);
    expect(unescaped).toContain(`curl -X POST https://api.loyaltyplus.app/v1/pos/checkin`);
    expect(unescaped).toContain(`-H "X-API-Key: loy_your_api_key_here"`);
    expect(unescaped).toContain(`-d '{"phone": "+353123456789", "amount": 25.50}'`);
    // Every script and stylesheet is served by this process.
    const assets = [...html.matchAll(/<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(4);
    for (const url of assets) {
      expect(url, url).toMatch(/^\/docs\/assets\//);
      const a = await app.inject({ method: "GET", url });
      expect(a.statusCode, url).toBe(200);
      expect(a.rawPayload.length, url).toBeGreaterThan(0);
    }
    expect(assets).toContain("/docs/assets/swagger-ui-bundle.js");
    const init = await app.inject({ method: "GET", url: "/docs/assets/docs.js" });
    expect(init.body).toContain('url: "/openapi.json"');
    expect(init.body).toContain("validatorUrl: null"); // no call to validator.swagger.io
    expect((await app.inject({ method: "GET", url: "/docs/assets/swagger-ui.css" })).headers["content-type"]).toMatch(/^text\/css/);
  });

  test("/docs/assets serves only the listed files", async () => {
    for (const url of ["/docs/assets/package.json", "/docs/assets/..%2Fpackage.json", "/docs/assets/index.html"]) {
      const res = await app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json()).toEqual({ success: false, error: { code: "not_found", message: "route not found" } });
    }
  });
});

describe("against the real application", () => {
  let t: TestApp;
  let b: Business;
  beforeAll(async () => {
    t = await startTestApp();
    b = await registerBusiness(t.url);
  });
  afterAll(async () => {
    await t?.close();
  });

  test("every REST route the server registers is in the document and vice versa", async () => {
    const printed = parsePrintedRoutes(t.app.printRoutes({ commonPrefix: false }));
    const served = printed.filter((r) => r.path.startsWith("/v1/") && r.method !== "HEAD");
    // The parser reads what Fastify has: each parsed API route exists.
    for (const r of served) expect(t.app.hasRoute({ method: r.method as never, url: r.path }), key(r)).toBe(true);
    // The served document: the bindings' routes and the owner's CSV file routes, which have no binding.
    const servedDoc = await (await fetch(`${t.url}/openapi.json`)).json();
    const fileRoutes = ["POST /v1/owner/customers/import", "GET /v1/owner/customers/export", "GET /v1/owner/ledger/export"];
    expect(sorted(openApiRoutes(servedDoc).map(key))).toEqual(sorted([...openApiRoutes(doc).map(key), ...fileRoutes]));
    expect(sorted(served.map(key))).toEqual(sorted(openApiRoutes(servedDoc).map(key)));
  });

  test("each operation's security scheme is what the server asks for", async () => {
    for (const r of openApiRoutes(doc)) {
      const op = operationOf(doc, r.method, r.path);
      const path = r.path.replace(/:[A-Za-z_]+/g, "x");
      const res = await rest(t.url, r.method, path, r.method === "GET" || r.method === "DELETE" ? {} : { body: {} });
      const scheme = op.security ? Object.keys(op.security[0])[0] : undefined;
      if (scheme === "ApiKeyAuth") {
        expect([res.status, res.body.error.message], key(r)).toEqual([401, expect.stringMatching(/X-API-Key/)]);
      } else if (scheme === "BearerAuth") {
        expect([res.status, res.body.error.message], key(r)).toEqual([401, expect.stringMatching(/Bearer/)]);
      } else {
        expect(res.body.error?.message ?? "", key(r)).not.toMatch(/X-API-Key|Bearer/);
      }
    }
  });

  test("live responses validate against the document's schemas", async () => {
    const check = (method: string, path: string, status: number, body: unknown) => {
      const op = operationOf(doc, method, path);
      expect(op, `${method} ${path}`).toBeTruthy();
      expect(validate(doc, responseSchema(doc, op, status), body), `${method} ${path} ${status}`).toEqual([]);
    };
    const call = async (method: string, template: string, path: string, opts: Parameters<typeof rest>[3] = {}, status = 200) => {
      const res = await rest(t.url, method, path, opts);
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(status);
      check(method, template, status, res.body);
      return res.body;
    };
    const pos = { headers: posAuth(b) };
    const owner = { headers: ownerAuth(b) };
    const checkin = await call("POST", "/v1/pos/checkin", "/v1/pos/checkin", { ...pos, body: { phone: "+353123456789", amount: 25.5 } });
    const id = checkin.customerId;
    await call("GET", "/v1/pos/customer/:identifier", `/v1/pos/customer/${encodeURIComponent("+353123456789")}`, pos);
    await call("GET", "/v1/pos/balance/:identifier", `/v1/pos/balance/${id}`, pos);
    await call("POST", "/v1/pos/redeem", "/v1/pos/redeem", { ...pos, body: { customerId: id, points: 100 } }, 400);
    await call("POST", "/v1/owner/customers", "/v1/owner/customers", {
      ...owner,
      body: { name: "John Doe", phone: "+353987654321", notes: "VIP customer", initialPoints: 50 },
    });
    await call("GET", "/v1/owner/customers", "/v1/owner/customers?page=1&limit=20&statusFilter=ACTIVE&sortBy=name&sortOrder=asc", owner);
    await call("POST", "/v1/owner/customers/:id/points", `/v1/owner/customers/${id}/points`, { ...owner, body: { points: -5, reason: "Refund" } });
    await call("PATCH", "/v1/owner/customers/:id", `/v1/owner/customers/${id}`, { ...owner, body: { status: "BLOCKED" } });
    await call("GET", "/v1/owner/customers/:id", `/v1/owner/customers/${id}`, owner);
    await call("GET", "/v1/owner/customers/:id", "/v1/owner/customers/nosuchcustomer", owner, 404);
    await call("GET", "/v1/owner/program", "/v1/owner/program", owner);
    await call("GET", "/v1/owner/api-keys", "/v1/owner/api-keys", owner);
    await call("POST", "/v1/owner/stores", "/v1/owner/stores", { ...owner, body: { name: "Main Street" } });
    await call("GET", "/v1/owner/stores", "/v1/owner/stores", owner);
    await call("GET", "/v1/owner/dashboard", "/v1/owner/dashboard?days=30", owner);
    await call("POST", "/v1/auth/login", "/v1/auth/login", { body: { email: b.email, password: b.password } });
    await call("POST", "/v1/auth/login", "/v1/auth/login", { body: { email: b.email, password: "wrong password!" } }, 401);
    await call("DELETE", "/v1/owner/customers/:id", `/v1/owner/customers/${id}`, owner);
  });
});
