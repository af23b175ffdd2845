/**
 * Contract §6 over plain HTTP: the error shape `{success:false, error:{code,
 * message}}`, the HTTP status of each code, bad input of every kind (never a
 * 500, never a stack trace, nothing written), and refused credentials.
 */
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business, type RestResponse } from "./support/rest.js";
import { expectError, keysOf } from "./support/assertions.js";

let t: TestApp;
let b: Business;
let customerId: string;
const PHONE = "+353123456789";

beforeAll(async () => {
  t = await startTestApp();
  b = await registerBusiness(t.url);
  const c = await rest(t.url, "POST", "/v1/owner/customers", {
    body: { name: "Existing", phone: PHONE, initialPoints: 150 },
    headers: ownerAuth(b),
  });
  expect(c.status, c.text).toBe(200);
  customerId = c.body.customer.id;
});
afterAll(async () => {
  await t?.close();
});



const json = { "content-type": "application/json" };
const posRaw = (path: string, rawBody: string) => rest(t.url, "POST", path, { rawBody, headers: { ...posAuth(b), ...json } });
const ownerRaw = (method: string, path: string, rawBody: string) =>
  rest(t.url, method, path, { rawBody, headers: { ...ownerAuth(b), ...json } });

/** What the database holds, to prove that bad input writes nothing. */
async function snapshot() {
  const counts: Record<string, unknown> = {};
  for (const table of ["business", "owner", "customer", "ledger_entry", "redemption", "audit_event", "store", "api_key", "program"]) {
    counts[table] = (await t.sql<{ n: string }>(`select count(*) as n from ${table}`))[0]!.n;
  }
  counts.customers = await t.sql("select id, name, phone, status, notes, total_points, updated_at, last_visit_at from customer order by id");
  counts.programs = await t.sql("select * from program order by business_id");
  return counts;
}

describe("the error shape and statuses", () => {
  test("not_found → 404 with {success:false, error:{code, message}} exactly", async () => {
    const r = await rest(t.url, "GET", "/v1/owner/customers/zq0000000000000000000000", { headers: ownerAuth(b) });
    expectError(r, 404, "not_found", "customer not found");
    expect(r.body).toEqual({ success: false, error: { code: "not_found", message: "customer not found" } });
  });

  test("invalid_argument → 400, failed_precondition → 400, permission_denied → 403, already_exists → 409, unauthenticated → 401", async () => {
    expectError(await posRaw("/v1/pos/checkin", `{"phone":"${PHONE}","amount":-1}`), 400, "invalid_argument", /amount/);
    expectError(await posRaw("/v1/pos/redeem", `{"phone":"${PHONE}","points":200}`), 400, "failed_precondition", "insufficient points");
    const other = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "Blk", phone: "+353861230000" }, headers: ownerAuth(b) });
    await rest(t.url, "PATCH", `/v1/owner/customers/${other.body.customer.id}`, { body: { status: "BLOCKED" }, headers: ownerAuth(b) });
    expectError(await posRaw("/v1/pos/checkin", `{"phone":"+353861230000","amount":1}`), 403, "permission_denied", "customer is blocked");
    expectError(await ownerRaw("POST", "/v1/owner/customers", `{"name":"Dup","phone":"${PHONE}"}`), 409, "already_exists");
    expectError(await rest(t.url, "GET", "/v1/pos/balance/x", {}), 401, "unauthenticated");
  });

  test("unknown routes → 404 in the error shape", async () => {
    for (const [method, path] of [
      ["GET", "/v1/nope"],
      ["GET", "/nope-at-all"],
      ["POST", "/v1/pos/checkin/extra"],
      ["GET", "/v1/owner/customers/a/b/c"],
    ] as const) {
      const r = await rest(t.url, method, path, { headers: posAuth(b) });
      expectError(r, 404, "not_found");
    }
    // A known path with another method is a 405 naming the allowed ones (RFC 9110 §15.5.6).
    const wrongMethod = await rest(t.url, "DELETE", "/v1/pos/checkin", { headers: posAuth(b) });
    expectError(wrongMethod, 405, "unimplemented", "HTTP method DELETE is not allowed on /v1/pos/checkin: use POST");
    expect(wrongMethod.headers.get("allow")).toBe("POST");
  });

  test("every response, success or error, has Content-Type application/json", async () => {
    const responses = [
      await rest(t.url, "GET", `/v1/pos/balance/${customerId}`, { headers: posAuth(b) }),
      await rest(t.url, "GET", "/v1/pos/customer/%2B353123456789", { headers: posAuth(b) }),
      await rest(t.url, "GET", "/v1/owner/customers", { headers: ownerAuth(b) }),
      await rest(t.url, "GET", "/v1/owner/program", { headers: ownerAuth(b) }),
      await rest(t.url, "POST", "/v1/auth/login", { body: { email: b.email, password: "wrong password!" } }),
      await posRaw("/v1/pos/checkin", "{"),
      await rest(t.url, "GET", "/v1/nope"),
      await rest(t.url, "GET", "/v1/pos/balance/x"),
    ];
    for (const r of responses) expect(r.headers.get("content-type"), `${r.status} ${r.text}`).toMatch(/^application\/json/);
    expect(responses.slice(0, 4).map((r) => r.status)).toEqual([200, 200, 200, 200]);
  });
});

describe("bad input → 400 naming the problem, never a 500", () => {
  test("malformed JSON → 400 invalid_argument", async () => {
    for (const raw of ['{"phone": "+353', "{phone: 1}", "not json", "{'a':1}", '{"phone":"x",}']) {
      expectError(await posRaw("/v1/pos/checkin", raw), 400, "invalid_argument");
    }
  });

  test("a body that is not a JSON object → 400", async () => {
    for (const raw of ["[]", '"text"', "42", "true"]) {
      expectError(await posRaw("/v1/pos/checkin", raw), 400, "invalid_argument");
    }
  });

  test.each([
    ["POST", "/v1/pos/checkin", `{"phone":"${PHONE}","amount":"abc"}`, "amount"],
    ["POST", "/v1/pos/checkin", `{"phone":"${PHONE}","amount":true}`, "amount"],
    ["POST", "/v1/pos/checkin", `{"phone":"${PHONE}","amount":[1]}`, "amount"],
    ["POST", "/v1/pos/checkin", `{"phone":"${PHONE}","units":"x","amount":1}`, "units"],
    ["POST", "/v1/pos/checkin", `{"phone":353123456789,"amount":1}`, "phone"],
    ["POST", "/v1/pos/checkin", `{"phone":{"n":1},"amount":1}`, "phone"],
    ["POST", "/v1/pos/checkin", `{"customerId":12,"amount":1}`, "customerId"],
    ["POST", "/v1/pos/checkin", `{"phone":"${PHONE}","amount":1,"storeId":5}`, "storeId"],
    ["POST", "/v1/pos/redeem", `{"phone":"${PHONE}","points":"lots"}`, "points"],
    ["POST", "/v1/pos/redeem", `{"phone":"${PHONE}","points":1e12}`, "points"],
    ["OWNER POST", "/v1/owner/customers", `{"name":true,"phone":"+353861111000"}`, "name"],
    ["OWNER POST", "/v1/owner/customers", `{"name":"N","phone":"+353861111000","initialPoints":"ten"}`, "initialPoints"],
    ["OWNER POST", "/v1/owner/customers", `{"name":"N","phone":"+353861111000","notes":["a"]}`, "notes"],
    ["OWNER PATCH", `/v1/owner/customers/{id}`, `{"name":7}`, "name"],
    ["OWNER POST", `/v1/owner/customers/{id}/points`, `{"points":"5","reason":7}`, "reason"],
    ["OWNER POST", `/v1/owner/customers/{id}/points`, `{"points":"five","reason":"x"}`, "points"],
    ["OWNER PATCH", "/v1/owner/program", `{"rewardThreshold":"many"}`, "rewardThreshold"],
  ])("wrong type: %s %s %s → 400 naming %s", async (method, path, raw, field) => {
    const p = path.replace("{id}", customerId);
    const r = method.startsWith("OWNER") ? await ownerRaw(method.split(" ")[1]!, p, raw) : await posRaw(p, raw);
    expectError(r, 400, "invalid_argument", new RegExp(field));
  });

  test("an unknown field → 400 naming it", async () => {
    expectError(await posRaw("/v1/pos/checkin", `{"phone":"${PHONE}","amount":1,"bogusField":1}`), 400, "invalid_argument", /bogusField/);
    expectError(await posRaw("/v1/pos/redeem", `{"phone":"${PHONE}","points":100,"coupon":"X"}`), 400, "invalid_argument", /coupon/);
    expectError(await ownerRaw("POST", "/v1/owner/customers", `{"name":"N","phone":"+353861111001","email":"a@b.c"}`), 400, "invalid_argument", /email/);
    expectError(await ownerRaw("PATCH", `/v1/owner/customers/${customerId}`, `{"totalPoints":1000}`), 400, "invalid_argument", /totalPoints/);
    expectError(await ownerRaw("PATCH", "/v1/owner/program", `{"rewardCost":10}`), 400, "invalid_argument", /rewardCost/);
    expectError(await rest(t.url, "GET", "/v1/owner/customers?pageSize=5", { headers: ownerAuth(b) }), 400, "invalid_argument", /pageSize/);
  });

  test("an unknown enum string → 400 naming the field", async () => {
    expectError(await ownerRaw("PATCH", `/v1/owner/customers/${customerId}`, `{"status":"FROZEN"}`), 400, "invalid_argument", /status/);
    expectError(await ownerRaw("PUT", `/v1/owner/customers/${customerId}`, `{"status":"active"}`), 400, "invalid_argument", /status/);
    expectError(await ownerRaw("PATCH", `/v1/owner/customers/${customerId}`, `{"status":true}`), 400, "invalid_argument", /status/);
    expectError(await ownerRaw("PATCH", "/v1/owner/program", `{"mode":"POINTS"}`), 400, "invalid_argument", /mode/);
    expectError(await ownerRaw("PATCH", "/v1/owner/program", `{"mode":"spend"}`), 400, "invalid_argument", /mode/);
    expectError(await rest(t.url, "GET", "/v1/owner/customers?statusFilter=FROZEN", { headers: ownerAuth(b) }), 400, "invalid_argument", /statusFilter/);
  });

  test("a body over 1 MiB → 413 in the error shape", async () => {
    const notes = "x".repeat(1024 * 1024);
    const r = await ownerRaw("POST", "/v1/owner/customers", JSON.stringify({ name: "Big", phone: "+353861111002", notes }));
    expectError(r, 413, "invalid_argument");
    const r2 = await posRaw("/v1/pos/checkin", JSON.stringify({ phone: PHONE, amount: 1, pad: notes }));
    expectError(r2, 413, "invalid_argument");
    // Just under the limit is parsed (and then refused for the unknown field, not for its size).
    const under = await posRaw("/v1/pos/checkin", JSON.stringify({ phone: PHONE, amount: 1, pad: "y".repeat(1024 * 1024 - 100) }));
    expectError(under, 400, "invalid_argument", /pad/);
  });

  test("a JSON body without Content-Type: application/json is refused in the error shape (not a 500)", async () => {
    const r = await rest(t.url, "POST", "/v1/pos/checkin", {
      rawBody: `{"phone":"${PHONE}","amount":1}`,
      headers: { ...posAuth(b), "content-type": "text/plain" },
    });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expectError(r, r.status, "invalid_argument");
  });

  test("bad input changes nothing", async () => {
    const before = await snapshot();
    const revoked = await rest(t.url, "POST", "/v1/owner/api-keys", { body: { name: "gone" }, headers: ownerAuth(b) });
    await rest(t.url, "DELETE", `/v1/owner/api-keys/${revoked.body.id}`, { headers: ownerAuth(b) });
    const afterSetup = await snapshot();
    const bad: Promise<RestResponse>[] = [
      posRaw("/v1/pos/checkin", '{"phone": "+353'),
      posRaw("/v1/pos/checkin", `{"phone":"${PHONE}","amount":"abc"}`),
      posRaw("/v1/pos/checkin", `{"phone":"${PHONE}","amount":1.234}`),
      posRaw("/v1/pos/checkin", `{"phone":"+353861111111","amount":0}`),
      posRaw("/v1/pos/checkin", `{"phone":"+353861111112","amount":1,"bogus":1}`),
      posRaw("/v1/pos/checkin", `{"phone":"+353861111113","amount":1,"storeId":"zq0000000000000000000000"}`),
      posRaw("/v1/pos/checkin", JSON.stringify({ phone: "+353861111114", amount: 1, pad: "z".repeat(1_100_000) })),
      posRaw("/v1/pos/redeem", `{"phone":"${PHONE}","points":50}`),
      posRaw("/v1/pos/redeem", `{"phone":"${PHONE}","points":200}`),
      rest(t.url, "POST", "/v1/pos/checkin", { rawBody: `{"phone":"+353861111115","amount":1}`, headers: json }),
      rest(t.url, "POST", "/v1/pos/checkin", { rawBody: `{"phone":"+353861111116","amount":1}`, headers: { ...json, "x-api-key": revoked.body.apiKey } }),
      rest(t.url, "POST", "/v1/pos/checkin", { rawBody: `{"phone":"+353861111117","amount":1}`, headers: { ...json, ...ownerAuth(b) } }),
      ownerRaw("POST", "/v1/owner/customers", `{"name":"N","phone":"${PHONE}","initialPoints":5}`),
      ownerRaw("POST", "/v1/owner/customers", `{"name":"N","phone":"+353861111118","initialPoints":-5}`),
      ownerRaw("POST", "/v1/owner/customers", `{"name":"N","phone":"+353861111119","extra":1}`),
      ownerRaw("PATCH", `/v1/owner/customers/${customerId}`, `{"status":"FROZEN","name":"Changed"}`),
      ownerRaw("PATCH", `/v1/owner/customers/${customerId}`, `{"name":"Changed","phone":"garbage"}`),
      ownerRaw("POST", `/v1/owner/customers/${customerId}/points`, `{"points":10}`),
      ownerRaw("POST", `/v1/owner/customers/${customerId}/points`, `{"points":-1000,"reason":"too much"}`),
      ownerRaw("PATCH", "/v1/owner/program", `{"mode":"POINTS","rewardTitle":"Changed"}`),
      ownerRaw("PATCH", "/v1/owner/program", `{"rewardThreshold":0,"rewardTitle":"Changed"}`),
      ownerRaw("POST", "/v1/owner/stores", `{"name":""}`),
      rest(t.url, "POST", "/v1/owner/customers", { rawBody: `{"name":"N","phone":"+353861111120"}`, headers: { ...json, ...posAuth(b) } }),
      rest(t.url, "DELETE", `/v1/owner/customers/${customerId}`, { headers: { authorization: "Bearer garbage" } }),
      rest(t.url, "POST", "/v1/auth/register", { rawBody: `{"businessName":"X","email":"bad","password":"long enough password"}`, headers: json }),
    ];
    const results = await Promise.all(bad);
    for (const r of results) {
      expect(r.status, r.text).toBeGreaterThanOrEqual(400);
      expect(r.status, r.text).toBeLessThan(500);
      expect(r.body.success).toBe(false);
    }
    expect(await snapshot()).toEqual(afterSetup);
    expect(afterSetup.customers).toEqual(before.customers);
    expect((await rest(t.url, "GET", `/v1/pos/balance/${customerId}`, { headers: posAuth(b) })).body.totalPoints).toBe(150);
  });
});

describe("credentials → 401", () => {
  const balance = (headers: Record<string, string>) => rest(t.url, "GET", `/v1/pos/balance/${customerId}`, { headers });
  const owner = (headers: Record<string, string>) => rest(t.url, "GET", `/v1/owner/customers/${customerId}`, { headers });

  test("POS: missing, malformed, unknown and revoked API keys", async () => {
    expectError(await balance({}), 401, "unauthenticated");
    for (const key of ["", "loy_short", "loy_" + "a".repeat(31) + "!", "xyz_" + "a".repeat(32), "loy_" + "a".repeat(33), `Bearer ${b.apiKey}`]) {
      expectError(await balance({ "x-api-key": key }), 401, "unauthenticated");
    }
    expectError(await balance({ "x-api-key": "loy_" + "Q".repeat(32) }), 401, "unauthenticated");
    const k = await rest(t.url, "POST", "/v1/owner/api-keys", { body: { name: "temp" }, headers: ownerAuth(b) });
    expect((await balance({ "x-api-key": k.body.apiKey })).status).toBe(200);
    await rest(t.url, "DELETE", `/v1/owner/api-keys/${k.body.id}`, { headers: ownerAuth(b) });
    expectError(await balance({ "x-api-key": k.body.apiKey }), 401, "unauthenticated");
    // the right key works (control)
    expect((await balance(posAuth(b))).status).toBe(200);
  });

  test("POS routes refuse an owner JWT; owner routes refuse an API key", async () => {
    expectError(await balance(ownerAuth(b)), 401, "unauthenticated");
    expectError(await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: PHONE, amount: 1 }, headers: ownerAuth(b) }), 401, "unauthenticated");
    expectError(await owner(posAuth(b)), 401, "unauthenticated");
    expectError(await owner({ authorization: `Bearer ${b.apiKey}` }), 401, "unauthenticated");
    expectError(await rest(t.url, "GET", "/v1/owner/program", { headers: posAuth(b) }), 401, "unauthenticated");
    expectError(await rest(t.url, "POST", "/v1/owner/api-keys", { body: {}, headers: posAuth(b) }), 401, "unauthenticated");
    expect((await owner(ownerAuth(b))).status).toBe(200);
  });

  test("owner: missing, garbage, expired, alg-none, wrongly signed and foreign-audience JWTs", async () => {
    const { jwtSecret, jwtIssuer, jwtAudience } = t.config;
    const now = Math.floor(Date.now() / 1000);
    const sign = (opts: { exp?: number; iss?: string; aud?: string; secret?: Uint8Array; alg?: string } = {}) =>
      new SignJWT({ bid: b.businessId })
        .setProtectedHeader({ alg: opts.alg ?? "HS256", typ: "JWT" })
        .setSubject(b.ownerId)
        .setIssuer(opts.iss ?? jwtIssuer)
        .setAudience(opts.aud ?? jwtAudience)
        .setIssuedAt(now - 60)
        .setExpirationTime(opts.exp ?? now + 3600)
        .sign(opts.secret ?? jwtSecret);
    // A token crafted like the service's own is accepted (so the refusals below are about the one thing changed).
    expect((await owner({ authorization: `Bearer ${await sign()}` })).status).toBe(200);

    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const claims = { sub: b.ownerId, bid: b.businessId, iss: jwtIssuer, aud: jwtAudience, iat: now, exp: now + 3600 };
    const tokens = {
      expired: await sign({ exp: now - 10 }),
      "alg none": `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`,
      "wrong secret": await sign({ secret: new TextEncoder().encode("another-secret-that-is-long-enough-to-use") }),
      "HS512 with the right secret": await sign({ alg: "HS512" }),
      "wrong issuer": await sign({ iss: "someone-else" }),
      "wrong audience": await sign({ aud: "someone-else" }),
      "tampered payload": (() => {
        const [h, , s] = b.token.split(".");
        return `${h}.${b64({ ...claims, bid: "zq0000000000000000000000" })}.${s}`;
      })(),
      garbage: "garbage",
      "three garbage parts": "abc.def.ghi",
    };
    for (const [label, token] of Object.entries(tokens)) {
      const r = await owner({ authorization: `Bearer ${token}` });
      expect(r.status, label).toBe(401);
      expectError(r, 401, "unauthenticated");
    }
    expectError(await owner({}), 401, "unauthenticated");
    expectError(await owner({ authorization: b.token }), 401, "unauthenticated");
    expectError(await owner({ authorization: `Basic ${Buffer.from("a:b").toString("base64")}` }), 401, "unauthenticated");
  });
});
