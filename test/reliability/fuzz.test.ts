/**
 * Hostile-input fuzzing (issue 4 §5–6): thousands of generated bodies, query
 * strings, paths and credentials against every REST route (read from the
 * `google.api.http` bindings the gateway itself registers) and a few hundred
 * against the RPCs over Connect. Every answer must be < 500, 4xx answers must
 * have the contract's error shape, no body may leak a stack trace or SQL, and
 * no request may change state.
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import fc from "fast-check";
import http2 from "node:http2";
import { generateKeyPair, SignJWT } from "jose";
import type { DescField, DescMethod } from "@bufbuild/protobuf";
import { apiServices } from "../../src/transport/registry.js";
import { restBindings, type RestBinding } from "../../src/transport/http-rules.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "../support/rest.js";

const SEED = 1337;
const IN_FLIGHT = 24;

let t: TestApp;
let f: Business;
let customerId: string;
let storeId: string;
const PHONE = "+353123456789";

beforeAll(async () => {
  t = await startTestApp({ env: { OWNER_RATE_LIMIT_PER_MINUTE: "10000000", POS_RATE_LIMIT_PER_MINUTE: "10000000" } });
  f = await registerBusiness(t.url);
  const c = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "Fuzz Target", phone: PHONE, initialPoints: 500 }, headers: ownerAuth(f) });
  expect(c.status).toBe(200);
  customerId = c.body.customer.id;
  const s = await rest(t.url, "POST", "/v1/owner/stores", { body: { name: "Fuzz store" }, headers: ownerAuth(f) });
  storeId = s.body.store.id;
  expect((await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: PHONE, amount: 20, storeId }, headers: posAuth(f) })).status).toBe(200);
});
afterAll(async () => {
  await t?.close();
});

// ---------------------------------------------------------------------------
// What the fuzzer knows: every binding, and a valid request for each
// ---------------------------------------------------------------------------

const bindings: RestBinding[] = apiServices.flatMap((s) => restBindings(s));
const rpcName = (m: DescMethod) => `${m.parent.typeName}.${m.name}`;
const authOf = (m: DescMethod): "api_key" | "owner" | "none" =>
  m.parent.typeName === "loyalty.v1.LoyaltyPos" ? "api_key" : m.parent.typeName === "loyalty.v1.OwnerAuth" ? "none" : "owner";
const credentials = (m: DescMethod): Record<string, string> =>
  authOf(m) === "api_key" ? posAuth(f) : authOf(m) === "owner" ? ownerAuth(f) : {};

/** A valid request body per RPC, so that one hostile element decides the outcome. */
function baseBody(m: DescMethod): Record<string, unknown> {
  const bodies: Record<string, Record<string, unknown>> = {
    "loyalty.v1.LoyaltyPos.Checkin": { phone: PHONE, amount: 10, storeId },
    "loyalty.v1.LoyaltyPos.PreviewCheckin": { phone: PHONE, amount: 10, storeId },
    "loyalty.v1.LoyaltyPos.Redeem": { customerId, points: 100 },
    "loyalty.v1.CustomerAdmin.CreateCustomer": { name: "New", phone: "+353111222333", notes: "", initialPoints: 5 },
    "loyalty.v1.CustomerAdmin.UpdateCustomer": { name: "Renamed" },
    "loyalty.v1.CustomerAdmin.AdjustPoints": { points: 5, reason: "fuzz" },
    "loyalty.v1.OwnerAuth.Register": { businessName: "Fuzz Co", email: "fuzz-new@example.com", password: "long enough password" },
    "loyalty.v1.OwnerAuth.Login": { email: f.email, password: "wrong password" },
    "loyalty.v1.BusinessSettings.UpdateProgram": { rewardTitle: "Fuzzed" },
    "loyalty.v1.BusinessSettings.CreateApiKey": { name: "fuzz key" },
    "loyalty.v1.BusinessSettings.CreateStore": { name: "fuzz store" },
  };
  return { ...(bodies[rpcName(m)] ?? {}) };
}

/** A valid path for a binding: the real customer for id-bound POS/owner routes. */
function realPath(b: RestBinding): string {
  return b.path.replace(/:(\w+)/g, (_m, field: string) => (field === "identifier" ? encodeURIComponent(PHONE) : field === "id" && b.path.includes("api-keys") ? "zz0000000000000000000000" : customerId));
}

// ---------------------------------------------------------------------------
// Generators of hostile input
// ---------------------------------------------------------------------------

const LONG = "A".repeat(5000);
const hostileStrings = [
  "\u0000",
  `abc\u0000def`,
  LONG,
  "💥".repeat(3000),
  "\u202e\u0000evil",
  "x".repeat(70_000),
  "\u0007\u0008\u001b[31m",
];
/** Values no string field accepts: wrong JSON types or content every validator refuses. */
const badForString = fc.constantFrom<unknown>(1, 0, -1, 1e308, true, false, {}, { $ne: null }, [], ["a"], [[{}]], ...hostileStrings);
const badForInt = fc.constantFrom<unknown>(
  "abc",
  "NaN",
  "Infinity",
  "-Infinity",
  "1e400",
  1.5,
  -0.5,
  2 ** 31,
  -(2 ** 31) - 1,
  1e308,
  -1e308,
  "",
  " ",
  "12abc",
  true,
  {},
  [],
  [1],
  { valueOf: 1 },
  "\u0000",
  LONG,
);
const badForDouble = fc.constantFrom<unknown>("abc", "NaN", "Infinity", "-Infinity", 1e308, -1, 0, -0, 0.001, 1000000.01, 1e21, "", true, {}, [], [1.5], LONG);
const badForEnum = fc.constantFrom<unknown>("DELETED", "active", "Active", "", 99, -1, 1.5, 0, true, {}, [], "ACTIVE\u0000", LONG);

function badValueFor(field: DescField): fc.Arbitrary<unknown> {
  if (field.fieldKind === "enum") return badForEnum;
  if (field.fieldKind === "scalar") {
    // ScalarType: 1 double, 2 float, 5 int32, 13 uint32, 9 string, 8 bool.
    if (field.scalar === 9) return badForString;
    if (field.scalar === 1 || field.scalar === 2) return badForDouble;
    return badForInt;
  }
  return fc.constantFrom<unknown>("x", 1, true, LONG);
}

/** Key names that are never fields: prototype pollution and mass assignment attempts, junk. */
const unknownKeys = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "prototype", "totalPoints", "total_points", "businessId", "business_id", "balance", "ownerId", "status ", "isAdmin", "", " ", "\u0000", "a".repeat(300), "$where", "__defineGetter__"),
  fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" }),
);

/** Raw JSON texts that are not a valid request body at all. */
const rawBodies = fc.constantFrom(
  "[]",
  "[{}]",
  '"text"',
  "123",
  "true",
  "{",
  '{"a":',
  "{'a': 1}",
  "{a: 1}",
  '{"amount": NaN}',
  '{"amount": Infinity}',
  '{"amount": 1e999999}',
  '{"amount": -}',
  "\u0000",
  "\ufeff[]",
  '{"__proto__": {"polluted": true}}',
  '{"constructor": {"prototype": {"polluted": true}}}',
  `${"[".repeat(50_000)}${"]".repeat(50_000)}`,
  `${'{"a":'.repeat(20_000)}1${"}".repeat(20_000)}`,
  '{"phone": "+353123456789", "phone": {"$gt": ""}}',
  "undefined",
  "null,",
  "{}}",
);

interface FuzzRequest {
  label: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  rawBody?: string;
  /** Connect requests answer Connect's error shape, not the REST one. */
  connect?: boolean;
  /** Reads may answer 200; a request of a mutating RPC must never succeed. */
  mutating: boolean;
}

/** A JSON text with ≥ 1 hostile element (the last one applied), so no request is valid. */
/**
 * Fields a request may carry that the product deliberately ignores, so a bad
 * value there is no hostile request: with a customerId the phone is not used
 * (contract §4: the customer is identified by phone or customerId).
 */
const IGNORED: Record<string, string[]> = { "loyalty.v1.LoyaltyPos.Redeem": ["phone"] };

function hostileBody(m: DescMethod, pathFields: string[]): fc.Arbitrary<string> {
  const fields = m.input.fields.filter((x) => !pathFields.includes(x.name) && !(IGNORED[rpcName(m)] ?? []).includes(x.name));
  const fieldNames = new Set(m.input.fields.flatMap((x) => [x.name, x.jsonName]));
  const mutations: fc.Arbitrary<(o: Record<string, unknown>) => string>[] = [
    unknownKeys
      .filter((k) => !fieldNames.has(k))
      .chain((k) =>
        fc.constantFrom<unknown>(1, "x", null, { polluted: true }, [1, 2], LONG).map((v) => (o: Record<string, unknown>) => {
          // Written by hand so that "__proto__" really is a key of the JSON text.
          const text = JSON.stringify(o);
          const extra = `${JSON.stringify(k)}:${JSON.stringify(v)}`;
          return text === "{}" ? `{${extra}}` : `${text.slice(0, -1)},${extra}}`;
        }),
      ),
    rawBodies.map((raw) => () => raw),
  ];
  if (fields.length) {
    mutations.push(
      fc
        .constantFrom(...fields)
        .chain((field) => badValueFor(field).map((v) => (o: Record<string, unknown>) => JSON.stringify({ ...o, [field.jsonName]: v }))),
    );
    // A second field's wrong value may ride along; the last mutation still decides.
    mutations.push(
      fc.tuple(fc.constantFrom(...fields), badForString, fc.constantFrom(...fields)).chain(([f1, v1, f2]) =>
        badValueFor(f2).map((v2) => (o: Record<string, unknown>) => JSON.stringify({ ...o, [f1.jsonName]: v1, [f2.jsonName]: v2 })),
      ),
    );
  }
  return fc.oneof(...mutations).map((mutate) => mutate(baseBody(m)));
}

/**
 * The same for Connect, whose JSON codec ignores unknown fields (the Connect
 * protocol's forward compatibility: an unknown key can set nothing), so only
 * wrong values and bodies that are no JSON object at all are hostile there.
 */
function hostileConnectBody(m: DescMethod): fc.Arbitrary<string> {
  const notAnObject = rawBodies.filter((raw) => {
    try {
      const v = JSON.parse(raw.replace(/^\ufeff/, ""));
      return typeof v !== "object" || v === null || Array.isArray(v);
    } catch {
      return raw !== "";
    }
  });
  const fields = m.input.fields.filter((x) => !(IGNORED[rpcName(m)] ?? []).includes(x.name));
  if (!fields.length) return notAnObject;
  return fc.oneof(
    notAnObject,
    fc.constantFrom(...fields).chain((field) => badValueFor(field).map((v) => JSON.stringify({ ...baseBody(m), [field.jsonName]: v }))),
  );
}

const idempotencyKeys = fc.oneof(
  fc.constant(undefined),
  fc.string({ minLength: 1, maxLength: 40, unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
  fc.constantFrom("k".repeat(256), "ümlaut", "a\tb"),
);

/** Hostile values for a path parameter (already URL-encoded where needed). */
const hostileIds = fc.oneof(
  fc.constantFrom(
    "..%2F..%2Fetc%2Fpasswd",
    "%2E%2E%2F%2E%2E%2F",
    "..%252F..%252F",
    "%00",
    "abc%00def",
    "%ZZ",
    "%",
    "%C0%AE%C0%AE%2F",
    "%F0%9F%92%A5",
    "'%20OR%201%3D1--",
    "1%3Bdrop%20table%20customer",
    "%24%7Bjndi%3Aldap%3A%2F%2Fx%7D",
    "%3Cscript%3E",
    "null",
    "undefined",
    "%5Bobject%20Object%5D",
    "__proto__",
    "constructor",
    "a".repeat(199),
    "a".repeat(5000),
    "z".repeat(65),
    "%2B%2B%2B",
    "%20",
    "-1",
    "0",
    "1e309",
    "zz0000000000000000000000",
  ),
  fc.string({ minLength: 1, maxLength: 80 }).map((s) => encodeURIComponent(s)),
  fc.stringMatching(/^[a-z][a-z0-9]{7,30}$/),
);

/** Hostile query strings for GET routes (every field of every request message, wrong). */
function hostileQuery(m: DescMethod, pathFields: string[]): fc.Arbitrary<string> {
  const fields = m.input.fields.filter((x) => !pathFields.includes(x.name));
  const junkValue = fc.constantFrom("abc", "-1", "0", "1e10", "NaN", "1.5", "99999999999", "%00", "%ZZ", "a".repeat(500), "DELETED", "true", "", "%2B353");
  const parts: fc.Arbitrary<string>[] = [
    fc.tuple(unknownKeys, junkValue).map(([k, v]) => `${encodeURIComponent(k)}=${v}`),
    fc.constantFrom("__proto__[polluted]=1", "constructor[prototype][x]=1", "a[]=1&a[]=2", "&&&", "=", "%ZZ=1", "x"),
  ];
  if (fields.length) {
    parts.push(fc.tuple(fc.constantFrom(...fields), junkValue).map(([fd, v]) => `${fd.jsonName}=${v}`));
    parts.push(fc.constantFrom(...fields).map((fd) => `${fd.jsonName}=1&${fd.jsonName}=2`));
  }
  return fc.array(fc.oneof(...parts), { minLength: 1, maxLength: 3 }).map((xs) => xs.join("&"));
}

// ---------------------------------------------------------------------------
// Credentials an attacker might try
// ---------------------------------------------------------------------------

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");

async function hostileTokens(): Promise<string[]> {
  const secret = t.config.jwtSecret;
  const iss = t.config.jwtIssuer;
  const aud = t.config.jwtAudience;
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: f.ownerId, bid: f.businessId };
  const { privateKey } = await generateKeyPair("RS256");
  const signed = (alg: string, key: Uint8Array | CryptoKey, mutate: (j: SignJWT) => SignJWT = (j) => j) =>
    mutate(new SignJWT(claims).setProtectedHeader({ alg, typ: "JWT" }).setIssuer(iss).setAudience(aud).setIssuedAt().setExpirationTime("1h")).sign(key);
  const [valid] = [f.token];
  const [, payload] = valid.split(".");
  return [
    `${b64({ alg: "none", typ: "JWT" })}.${b64({ ...claims, iss, aud, exp: now + 3600 })}.`,
    `${b64({ alg: "none" })}.${payload}.`,
    `${b64({ alg: "NONE" })}.${payload}.`,
    await signed("HS512", secret),
    await signed("HS384", secret),
    await signed("RS256", privateKey as CryptoKey),
    await signed("HS256", new TextEncoder().encode("a-completely-different-secret-of-32-bytes+")),
    await signed("HS256", secret, (j) => j.setExpirationTime(now - 60)),
    await signed("HS256", secret, (j) => j.setAudience("someone-else")),
    await signed("HS256", secret, (j) => j.setIssuer("evil-issuer")),
    await new SignJWT({ sub: f.ownerId }).setProtectedHeader({ alg: "HS256" }).setIssuer(iss).setAudience(aud).setExpirationTime("1h").sign(secret),
    await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuer(iss).setAudience(aud).sign(secret), // no exp
    await signed("HS256", secret, (j) => j.setNotBefore(now + 3600)),
    `${valid.split(".").slice(0, 2).join(".")}.${"A".repeat(43)}`,
    `${b64({ alg: "HS256", kid: "../../../dev/null" })}.${payload}.${valid.split(".")[2]}`,
    valid.slice(0, -2),
    `${valid}.extra`,
    "a.b.c",
    "....",
    "",
    "e30.e30.e30",
    "x".repeat(8000),
  ];
}

function hostileAuthHeaders(tokens: string[]): Record<string, string>[] {
  const keys = [
    "",
    "loy_",
    "loy_" + "A".repeat(31),
    "loy_" + "A".repeat(33),
    "loy_" + "A".repeat(32),
    "LOY_" + f.apiKey.slice(4),
    f.apiKey.slice(0, -1) + (f.apiKey.endsWith("a") ? "b" : "a"),
    `${f.apiKey}, ${f.apiKey}`,
    `${f.apiKey}\u00ff`,
    "loy_" + "!".repeat(32),
    "' OR 1=1 --",
    "x".repeat(8000),
    f.token,
  ];
  return [
    ...keys.map((k) => ({ "x-api-key": k })),
    ...tokens.map((tk) => ({ authorization: `Bearer ${tk}` })),
    { authorization: `Basic ${Buffer.from(`${f.email}:${f.password}`).toString("base64")}` },
    { authorization: `Bearer ${f.apiKey}` },
    { authorization: `Bearer` },
    { authorization: `bearer  ${tokens[0]}` },
    { authorization: f.token },
    { authorization: `Bearer ${f.token} ${f.token}` },
  ];
}

// ---------------------------------------------------------------------------
// Sending and judging
// ---------------------------------------------------------------------------

const ERROR_CODES = new Set([
  "invalid_argument",
  "failed_precondition",
  "unauthenticated",
  "permission_denied",
  "not_found",
  "already_exists",
  "aborted",
  "resource_exhausted",
  "out_of_range",
  "unimplemented",
]);
/** What must never appear in a body (outside quoted echoes of the caller's own input). */
const LEAK = /\bat [\w.<>]+ \(|node_modules|\/work\/|\.ts:\d+|\bselect\b.+\bfrom\b|insert into|delete from|\bupdate\b.+\bset\b|violates|relation "|syntax error at|duplicate key|pg_|knex|mikro-?orm|DriverException|TypeError|ReferenceError|RangeError|SyntaxError|stack/i;

interface Finding {
  label: string;
  status: number;
  text: string;
}

async function fire(req: FuzzRequest): Promise<{ status: number; text: string; ok: boolean; why?: string }> {
  let res: Response;
  try {
    res = await fetch(t.url + req.path, {
      method: req.method,
      headers: req.headers,
      body: req.rawBody,
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    return { status: 0, text: String(err), ok: false, why: "no response" };
  }
  const text = await res.text();
  if (res.status >= 500) return { status: res.status, text, ok: false, why: "5xx" };
  const scrubbed = text.replace(/"(?:[^"\\]|\\.)*"/g, (s) => (s.startsWith('"message"') || s.length < 12 ? s : '""'));
  if (LEAK.test(scrubbed)) return { status: res.status, text, ok: false, why: "leak" };
  if (res.status >= 400) {
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      return { status: res.status, text, ok: false, why: "not JSON" };
    }
    if (req.connect) {
      if (!(typeof body?.code === "string" && typeof body?.message === "string")) return { status: res.status, text, ok: false, why: "Connect error shape" };
    } else {
      const shapeOk =
        res.headers.get("content-type")?.startsWith("application/json") &&
        Object.keys(body ?? {}).sort().join() === "error,success" &&
        body.success === false &&
        Object.keys(body.error ?? {}).sort().join() === "code,message" &&
        ERROR_CODES.has(body.error.code) &&
        typeof body.error.message === "string" &&
        body.error.message.length > 0;
      if (!shapeOk) return { status: res.status, text, ok: false, why: "error shape" };
    }
  }
  return { status: res.status, text, ok: true };
}

async function pool<T>(items: T[], limit: number, fn: (x: T) => Promise<void>) {
  let i = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (i < items.length) await fn(items[i++]!);
    }),
  );
}

/** Everything the fuzzed business (and the database at large) holds, to compare before/after. */
async function snapshot() {
  const q = async (sql: string) => JSON.stringify(await t.sql(sql));
  return {
    counts: await q(
      `select (select count(*) from business) as businesses, (select count(*) from owner) as owners,
              (select count(*) from api_key) as keys, (select count(*) from api_key where revoked_at is not null) as revoked,
              (select count(*) from store) as stores, (select count(*) from customer) as customers,
              (select count(*) from ledger_entry) as ledger, (select count(*) from redemption) as redemptions,
              (select count(*) from audit_event) as audit`,
    ),
    customers: await q(`select id, name, phone, status, notes, total_points, updated_at from customer order by id`),
    program: await q(`select * from program order by business_id`),
    owners: await q(`select id, email, password_hash from owner order by id`),
  };
}

/** Frames a gRPC message: compressed flag, big-endian length, bytes (the length may lie). */
function grpcFrame(bytes: Uint8Array, declared = bytes.byteLength): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(declared, 1);
  return Buffer.concat([head, Buffer.from(bytes)]);
}

/** One gRPC call over HTTP/2 with a raw body; returns the grpc-status (trailers or trailers-only headers). */
async function rawGrpc(session: http2.ClientHttp2Session, path: string, headers: Record<string, string>, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    let status: number | undefined;
    req.on("response", (h) => {
      if (h["grpc-status"] !== undefined) status = Number(h["grpc-status"]);
    });
    req.on("trailers", (h) => {
      if (h["grpc-status"] !== undefined) status = Number(h["grpc-status"]);
    });
    req.on("data", () => undefined);
    req.on("end", () => resolve(status ?? -1));
    req.on("error", reject);
    req.setTimeout(10_000, () => req.close());
    req.end(body);
  });
}

test("garbage protobuf over gRPC (HTTP/2) and gRPC-Web → INVALID_ARGUMENT, never INTERNAL", async () => {
  const session = http2.connect(t.url);
  const statuses: Record<number, number> = {};
  const bad: string[] = [];
  try {
    const methods = apiServices.flatMap((s) => s.methods);
    let i = 0;
    for (const m of methods) {
      const readOnly = restBindings(m.parent).find((b) => b.method === m)?.verb === "GET";
      if (!readOnly) continue;
      const path = `/${m.parent.typeName}/${m.name}`;
      const garbage = fc.sample(fc.uint8Array({ minLength: 1, maxLength: 48 }), { numRuns: 10, seed: SEED + 900 + i++ });
      const bodies = [
        ...garbage.map((g) => grpcFrame(g)),
        grpcFrame(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])), // a string longer than the message
        grpcFrame(new Uint8Array([0x0b])), // start group, never ended
        grpcFrame(new Uint8Array([0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])), // 11-byte varint
      ];
      for (const body of bodies) {
        const status = await rawGrpc(session, path, credentials(m), body);
        statuses[status] = (statuses[status] ?? 0) + 1;
        // 0 when the bytes happen to be a valid message; else the caller's error — never 2, 13, 14.
        if (![0, 3, 5, 16].includes(status)) bad.push(`grpc ${path} ${body.toString("hex").slice(0, 40)} → ${status}`);
      }
      for (const g of garbage.slice(0, 4)) {
        const res = await fetch(t.url + path, { method: "POST", headers: { ...credentials(m), "content-type": "application/grpc-web+proto", "x-grpc-web": "1" }, body: new Uint8Array(grpcFrame(g)) });
        const buf = Buffer.from(await res.arrayBuffer());
        const text = buf.toString("latin1");
        const status = Number(/grpc-status: ?(\d+)/.exec(text)?.[1] ?? res.headers.get("grpc-status") ?? -1);
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (res.status >= 500 || ![0, 3, 5, 16].includes(status)) bad.push(`grpc-web ${path} ${Buffer.from(g).toString("hex").slice(0, 40)} → HTTP ${res.status}, grpc-status ${status}`);
      }
    }
  } finally {
    session.close();
  }
  console.log(`[fuzz] garbage gRPC/gRPC-Web bodies: statuses ${JSON.stringify(statuses)}`);
  expect(bad).toEqual([]);
  expect(statuses[3]).toBeGreaterThan(20);
});

test("fuzz: thousands of hostile bodies, paths, queries and credentials on every REST route and RPC", async () => {
  const started = Date.now();
  const before = await snapshot();
  const requests: FuzzRequest[] = [];
  const sample = <T>(arb: fc.Arbitrary<T>, n: number, salt: number) => fc.sample(arb, { numRuns: n, seed: SEED + salt });
  const routeList = bindings.map((b) => `${b.verb} ${b.path}`);
  // The fuzzer covers every binding the gateway registers (and the contract's routes are among them).
  for (const r of ["POST /v1/pos/checkin", "GET /v1/pos/customer/:identifier", "GET /v1/pos/balance/:identifier", "POST /v1/pos/redeem", "POST /v1/owner/customers", "GET /v1/owner/customers", "GET /v1/owner/customers/:id", "PATCH /v1/owner/customers/:id", "PUT /v1/owner/customers/:id", "POST /v1/owner/customers/:id/points", "DELETE /v1/owner/customers/:id", "POST /v1/auth/register", "POST /v1/auth/login", "GET /v1/owner/program", "PATCH /v1/owner/program", "POST /v1/owner/api-keys", "GET /v1/owner/api-keys", "DELETE /v1/owner/api-keys/:id", "POST /v1/owner/stores", "GET /v1/owner/stores"]) {
    expect(routeList).toContain(r);
  }

  // 1. Bodies: ~1,500 hostile JSON bodies over the routes that take one, with valid credentials.
  const bodyRoutes = bindings.filter((b) => b.body !== "");
  bodyRoutes.forEach((b, i) => {
    const n = Math.ceil(1500 / bodyRoutes.length);
    const bodies = sample(hostileBody(b.method, b.pathFields), n, 100 + i);
    const keys = sample(idempotencyKeys, n, 200 + i);
    const cts = sample(fc.constantFrom("application/json", "application/json", "application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16"), n, 300 + i);
    bodies.forEach((raw, k) =>
      requests.push({
        label: `${b.verb} ${b.path} body`,
        mutating: true,
        method: b.verb,
        path: realPath(b),
        headers: { ...credentials(b.method), "content-type": cts[k]!, ...(keys[k] !== undefined ? { "idempotency-key": keys[k]! } : {}) },
        rawBody: raw,
      }),
    );
  });

  // 2. Paths: hostile ids on every parameterised route (valid credentials, valid body), and junk paths.
  const paramRoutes = bindings.filter((b) => b.pathFields.length > 0);
  paramRoutes.forEach((b, i) => {
    for (const id of sample(hostileIds, 60, 400 + i)) {
      requests.push({
        label: `${b.verb} ${b.path} path`,
        mutating: b.verb !== "GET",
        method: b.verb,
        path: b.path.replace(/:(\w+)/g, id),
        headers: { ...credentials(b.method), ...(b.body !== "" ? { "content-type": "application/json" } : {}) },
        rawBody: b.body !== "" ? JSON.stringify(baseBody(b.method)) : undefined,
      });
    }
  });
  const junkPaths = [
    "/v1/../../etc/passwd",
    "/v1/%2e%2e/%2e%2e/etc/passwd",
    "/v1/owner/customers/a/b/c",
    "/v1/pos/checkin%00",
    "/v1/pos/checkin/",
    "/V1/POS/CHECKIN",
    "/v1//pos//checkin",
    "/v1/owner/customers/" + "%41".repeat(3000),
    "/%ZZ",
    "/v1/owner/customers?limit=%ZZ",
    "/loyalty.v1.LoyaltyPos/Nope",
    "/loyalty.v1.Nope/Checkin",
    "/v2/pos/checkin",
    "/v1/pos/checkin;jsessionid=1",
    "/v1/owner/customers/" + encodeURIComponent(customerId) + "%2F..%2F..",
  ];
  for (const p of junkPaths) {
    for (const method of ["GET", "POST", "DELETE", "PATCH"]) {
      requests.push({ label: `${method} junk path`, mutating: method !== "GET", method, path: p, headers: { ...posAuth(f), ...ownerAuth(f), "content-type": "application/json" }, rawBody: method === "GET" || method === "DELETE" ? undefined : "{}" });
    }
  }

  // 3. Query strings on every GET route.
  const getRoutes = bindings.filter((b) => b.verb === "GET");
  getRoutes.forEach((b, i) => {
    for (const q of sample(hostileQuery(b.method, b.pathFields), 45, 500 + i)) {
      requests.push({ label: `GET ${b.path} query`, mutating: false, method: "GET", path: `${realPath(b)}?${q}`, headers: credentials(b.method) });
    }
  });

  // 4. Credentials: garbage keys and forged tokens on every authenticated route, with VALID bodies —
  // the credential alone must stop them (401) before anything changes.
  const tokens = await hostileTokens();
  const authHeaders = hostileAuthHeaders(tokens);
  let authRequests = 0;
  for (const b of bindings.filter((x) => authOf(x.method) !== "none")) {
    for (const h of authHeaders) {
      authRequests++;
      requests.push({
        label: `${b.verb} ${b.path} auth ${Object.keys(h)[0]}`,
        mutating: b.verb !== "GET",
        method: b.verb,
        path: realPath(b),
        headers: { ...h, ...(b.body !== "" ? { "content-type": "application/json" } : {}), "idempotency-key": `auth-${authRequests}` },
        rawBody: b.body !== "" ? JSON.stringify(b.method.name === "UpdateCustomer" ? { status: "BLOCKED" } : baseBody(b.method)) : undefined,
      });
    }
  }

  // 5. Connect: hostile JSON bodies and garbage protobuf to every RPC.
  const methods = apiServices.flatMap((s) => s.methods);
  let connectRequests = 0;
  methods.forEach((m, i) => {
    const readOnly = restBindings(m.parent).find((b) => b.method === m)?.verb === "GET";
    const bodies = sample(hostileConnectBody(m), 15, 600 + i);
    for (const raw of bodies) {
      connectRequests++;
      requests.push({ label: `connect ${rpcName(m)} json`, mutating: !readOnly, method: "POST", path: `/${m.parent.typeName}/${m.name}`, headers: { ...credentials(m), "content-type": "application/json" }, rawBody: raw, connect: true });
    }
    if (readOnly) {
      for (const bytes of sample(fc.uint8Array({ minLength: 1, maxLength: 64 }), 8, 700 + i)) {
        connectRequests++;
        requests.push({
          label: `connect ${rpcName(m)} proto`,
          mutating: false,
          method: "POST",
          path: `/${m.parent.typeName}/${m.name}`,
          headers: { ...credentials(m), "content-type": "application/proto" },
          rawBody: Buffer.from(bytes).toString("latin1"),
          connect: true,
        });
      }
    }
    // Forged credentials over Connect too.
    if (authOf(m) !== "none") {
      for (const h of authHeaders.slice(0, 12)) {
        connectRequests++;
        requests.push({ label: `connect ${rpcName(m)} auth`, mutating: !readOnly, method: "POST", path: `/${m.parent.typeName}/${m.name}`, headers: { ...h, "content-type": "application/json" }, rawBody: JSON.stringify(baseBody(m)), connect: true });
      }
    }
  });

  // Fire them all, moderately in parallel.
  const findings: Finding[] = [];
  /** Changes that went through: a fuzzed request must never be valid. */
  const accepted: string[] = [];
  const statuses: Record<number, number> = {};
  const authOutcomes: Record<number, number> = {};
  await pool(requests, IN_FLIGHT, async (req) => {
    const r = await fire(req);
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    if (req.label.includes(" auth")) authOutcomes[r.status] = (authOutcomes[r.status] ?? 0) + 1;
    if (r.status === 200 && req.mutating) accepted.push(`${req.label}: ${req.method} ${req.path.slice(0, 80)} ${String(req.rawBody ?? "").slice(0, 160)} → ${r.text.slice(0, 100)}`);
    if (!r.ok) findings.push({ label: `${req.label} [${r.why}] ${req.method} ${req.path.slice(0, 120)} ${String(req.rawBody ?? "").slice(0, 120)}`, status: r.status, text: r.text.slice(0, 300) });
  });

  const after = await snapshot();
  const elapsed = Date.now() - started;
  console.log(
    `[fuzz] ${requests.length} requests (${requests.length - connectRequests} REST over ${bindings.length} bindings, ${connectRequests} Connect over ${methods.length} RPCs) in ${elapsed} ms; ` +
      `statuses ${JSON.stringify(statuses)}; forged credentials → ${JSON.stringify(authOutcomes)}; findings ${findings.length}`,
  );
  if (findings.length) {
    const groups = new Map<string, { n: number; example: Finding }>();
    for (const x of findings) {
      const g = x.label.replace(/\].*$/, "]") + ` ${x.status}`;
      groups.set(g, { n: (groups.get(g)?.n ?? 0) + 1, example: groups.get(g)?.example ?? x });
    }
    console.log([...groups].map(([g, v]) => `${v.n} × ${g}\n    e.g. ${v.example.label}\n    → ${v.example.text}`).join("\n"));
  }
  expect(findings.slice(0, 10)).toEqual([]);
  expect(accepted).toEqual([]);
  // Every forged credential was refused with 401.
  expect(Object.keys(authOutcomes)).toEqual(["401"]);
  expect(after).toEqual(before);
  expect(requests.length).toBeGreaterThan(3500);

  // The fuzzed business still works.
  const ok = await rest(t.url, "GET", `/v1/pos/balance/${encodeURIComponent(PHONE)}`, { headers: posAuth(f) });
  expect(ok.body).toEqual({ customerId, totalPoints: 520 });
  // Prototype pollution did not reach the process.
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  // About 4,500 requests over 28 bindings since the lifecycle RPCs (issue 14): ~110 s on a loaded 2-core machine.
}, 240_000);

// ---------------------------------------------------------------------------
// Inherited names (issue 11 §5): a lookup of a client-supplied name in a
// plain object also finds Object.prototype's members
// ---------------------------------------------------------------------------

const INHERITED = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "prototype"];

/**
 * String fields that take any text (names, notes, reasons, titles, a search, a
 * new password): an inherited name is a valid value there, so it must be taken
 * as the text it is. Every other string or enum field names something (an id,
 * a phone, a country, a sort column, an enum value) and must refuse it.
 */
const FREE_TEXT: Record<string, string[]> = {
  "loyalty.v1.CustomerAdmin.CreateCustomer": ["name", "notes"],
  "loyalty.v1.CustomerAdmin.UpdateCustomer": ["name", "notes"],
  "loyalty.v1.CustomerAdmin.AdjustPoints": ["reason"],
  "loyalty.v1.CustomerAdmin.ListCustomers": ["search"],
  "loyalty.v1.OwnerAuth.Register": ["businessName", "password"],
  "loyalty.v1.BusinessSettings.UpdateProgram": ["rewardTitle"],
  "loyalty.v1.BusinessSettings.CreateApiKey": ["name"],
  "loyalty.v1.BusinessSettings.UpdateApiKey": ["name"],
  "loyalty.v1.BusinessSettings.CreateStore": ["name"],
  "loyalty.v1.BusinessSettings.UpdateStore": ["name"],
  // A till's order or receipt number is the till's text: "constructor" is a valid one.
  "loyalty.v1.LoyaltyPos.Checkin": ["orderRef"],
  "loyalty.v1.LoyaltyPos.PreviewCheckin": ["orderRef"],
  "loyalty.v1.LoyaltyPos.Redeem": ["orderRef"],
  "loyalty.v1.LoyaltyPos.RefundCheckin": ["orderRef"],
  "loyalty.v1.LoyaltyPos.VoidRedemption": ["orderRef"],
  "loyalty.v1.CustomerAdmin.RedeemReward": ["orderRef"],
};
const isFreeText = (m: DescMethod, field: DescField) => Object.hasOwn(FREE_TEXT, rpcName(m)) && FREE_TEXT[rpcName(m)]!.includes(field.jsonName);
const isNamed = (field: DescField) => (field.fieldKind === "scalar" && field.scalar === 9) || field.fieldKind === "enum";

/** Every value under `key` anywhere in a JSON value. */
function valuesOf(json: unknown, key: string): unknown[] {
  if (Array.isArray(json)) return json.flatMap((x) => valuesOf(x, key));
  if (json === null || typeof json !== "object") return [];
  return Object.entries(json).flatMap(([k, v]) => [...(k === key ? [v] : []), ...valuesOf(v, key)]);
}

test("inherited names (constructor, __proto__, toString, …) in every path segment, query and body field that names something → 4xx, nothing changed", async () => {
  const before = await snapshot();
  const requests: FuzzRequest[] = [];
  for (const b of bindings) {
    const body = b.body !== "" ? JSON.stringify(baseBody(b.method)) : undefined;
    const json: Record<string, string> = b.body !== "" ? { "content-type": "application/json" } : {};
    // Each path segment in turn.
    for (const name of b.pathFields.length ? INHERITED : []) {
      requests.push({ label: `${b.verb} ${b.path} path ${name}`, mutating: b.verb !== "GET", method: b.verb, path: b.path.replace(/:(\w+)/g, encodeURIComponent(name)), headers: { ...credentials(b.method), ...json }, rawBody: body });
    }
    // Each string or enum field that names something, in the body or the query.
    for (const field of b.method.input.fields) {
      if (!isNamed(field) || isFreeText(b.method, field) || b.pathFields.includes(field.name)) continue;
      if ((IGNORED[rpcName(b.method)] ?? []).includes(field.name)) continue;
      for (const name of INHERITED) {
        const label = `${b.verb} ${b.path} ${field.jsonName}=${name}`;
        if (b.body !== "") {
          requests.push({ label, mutating: true, method: b.verb, path: realPath(b), headers: { ...credentials(b.method), ...json }, rawBody: JSON.stringify({ ...baseBody(b.method), [field.jsonName]: name }) });
        } else {
          requests.push({ label, mutating: false, method: "GET", path: `${realPath(b)}?${field.jsonName}=${encodeURIComponent(name)}`, headers: credentials(b.method) });
        }
      }
    }
    // And as the name of a query parameter.
    if (b.verb === "GET") {
      for (const name of INHERITED) requests.push({ label: `GET ${b.path} ?${name}=1`, mutating: false, method: "GET", path: `${realPath(b)}?${encodeURIComponent(name)}=1`, headers: credentials(b.method) });
    }
  }
  // The same fields over Connect (JSON), path fields included.
  for (const m of apiServices.flatMap((s) => s.methods)) {
    for (const field of m.input.fields) {
      if (!isNamed(field) || isFreeText(m, field) || (IGNORED[rpcName(m)] ?? []).includes(field.name)) continue;
      for (const name of INHERITED) {
        const readOnly = restBindings(m.parent).find((x) => x.method === m)?.verb === "GET";
        const base = { ...baseBody(m), ...(field.name === "id" ? {} : m.input.fields.some((x) => x.name === "id") ? { id: customerId } : {}), ...(m.input.fields.some((x) => x.name === "identifier") && field.name !== "identifier" ? { identifier: PHONE } : {}) };
        requests.push({ label: `connect ${rpcName(m)} ${field.jsonName}=${name}`, mutating: !readOnly, method: "POST", path: `/${m.parent.typeName}/${m.name}`, headers: { ...credentials(m), "content-type": "application/json" }, rawBody: JSON.stringify({ ...base, [field.jsonName]: name }), connect: true });
      }
    }
  }
  // Files served by name (the docs' assets answer in the API's error shape).
  for (const name of INHERITED) requests.push({ label: `GET /docs/assets/${name}`, mutating: false, method: "GET", path: `/docs/assets/${encodeURIComponent(name)}`, headers: {} });

  const findings: string[] = [];
  const statuses: Record<number, number> = {};
  await pool(requests, IN_FLIGHT, async (req) => {
    const r = await fire(req);
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    if (!r.ok) findings.push(`${req.label} [${r.why}] → ${r.status} ${r.text.slice(0, 200)}`);
    else if (r.status < 400 || r.status >= 500) findings.push(`${req.label} → ${r.status} ${r.text.slice(0, 200)}`);
  });
  // The portal's files: a plain 404 page.
  for (const name of INHERITED) {
    const res = await fetch(`${t.url}/portal/assets/${encodeURIComponent(name)}`);
    await res.arrayBuffer();
    if (res.status !== 404) findings.push(`GET /portal/assets/${name} → ${res.status}`);
  }
  console.log(`[fuzz] inherited names: ${requests.length} requests; statuses ${JSON.stringify(statuses)}`);
  expect(findings).toEqual([]);
  expect(requests.length).toBeGreaterThan(400);
  expect(await snapshot()).toEqual(before);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}, 120_000);

test("inherited names in free-text fields are kept as the text they are", async () => {
  const g = await registerBusiness(t.url);
  const created = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "Free Text", phone: "+353871112223", initialPoints: 10_000 }, headers: ownerAuth(g) });
  // The till's calls run on the fuzz business (its store is in their bodies): points for six redeems.
  expect((await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: PHONE, amount: 10_000, storeId }, headers: posAuth(f) })).status).toBe(200);
  const store = await rest(t.url, "POST", "/v1/owner/stores", { body: { name: "Free store" }, headers: ownerAuth(g) });
  const key = await rest(t.url, "GET", "/v1/owner/api-keys", { headers: ownerAuth(g) });
  const ids: Record<string, string> = { customers: created.body.customer.id, stores: store.body.store.id, "api-keys": key.body.apiKeys[0].id };
  const findings: string[] = [];
  let n = 0;
  for (const b of bindings) {
    for (const field of b.method.input.fields.filter((x) => isFreeText(b.method, x))) {
      for (const name of INHERITED) {
        n++;
        const path = b.path.replace(/\/(customers|stores|api-keys)\/:id/, (_m, what: string) => `/${what}/${ids[what]}`);
        const headers = authOf(b.method) === "none" ? {} : authOf(b.method) === "api_key" ? posAuth(f) : ownerAuth(g);
        const base = rpcName(b.method) === "loyalty.v1.OwnerAuth.Register" ? { ...baseBody(b.method), email: `inherited-${n}-${Date.now()}@example.com` } : rpcName(b.method) === "loyalty.v1.CustomerAdmin.CreateCustomer" ? { name: "x", phone: `+3538710000${String(n).padStart(2, "0")}` } : baseBody(b.method);
        const r =
          b.body !== ""
            ? await rest(t.url, b.verb, path, { body: { ...base, [field.jsonName]: name }, headers })
            : await rest(t.url, "GET", `${path}?${field.jsonName}=${encodeURIComponent(name)}`, { headers });
        // A password under 8 characters is refused for its length, naming the field.
        if (field.jsonName === "password" && name.length < 8) {
          if (r.status !== 400 || !/password/.test(r.body?.error?.message ?? "")) findings.push(`${b.verb} ${b.path} ${field.jsonName}=${name} → ${r.status} ${r.text.slice(0, 200)}`);
          continue;
        }
        // Store names are unique: the store created above with this very name holds it.
        if (rpcName(b.method) === "loyalty.v1.BusinessSettings.UpdateStore" && r.status === 409 && r.body?.error?.message === "a store with this name already exists") continue;
        // The check-ins above credited these very order references: the preview names the check-in, as the check-in would.
        if (rpcName(b.method) === "loyalty.v1.LoyaltyPos.PreviewCheckin" && r.status === 409 && /^orderRef was already credited by check-in c[a-z0-9]+$/.test(r.body?.error?.message ?? "")) continue;
        if (r.status !== 200) {
          findings.push(`${b.verb} ${b.path} ${field.jsonName}=${name} → ${r.status} ${r.text.slice(0, 200)}`);
          continue;
        }
        // Where the answer shows the field, it shows the very text (a search answers the list it matched).
        const shown = field.jsonName === "search" ? [] : valuesOf(r.body, field.jsonName === "businessName" ? "never-shown" : field.jsonName);
        for (const v of shown) if (v !== name) findings.push(`${b.verb} ${b.path} ${field.jsonName}=${name} shown as ${JSON.stringify(v)}`);
      }
    }
  }
  expect(findings).toEqual([]);
  expect(n).toBeGreaterThan(60);
  // Stored as given: the customer created with name "__proto__" has exactly that name.
  const stored = await t.sql<{ name: string }>(`select name from customer where business_id = $1 and name = any($2) order by name`, [g.businessId, INHERITED]);
  expect(stored.map((s) => s.name)).toEqual([...INHERITED].sort());
}, 120_000);
