/**
 * Every example of the published API reference
 * (shared/docs/loyalty-plus-api-reference.txt), request and response as
 * printed, over plain HTTP against the real server. Placeholders of the
 * reference (`cuid_xxx`, `loy_your_api_key_here`, `YOUR_JWT_TOKEN`, the
 * host, `cuid_optional`) are replaced by real values; everything else is
 * sent and compared verbatim.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";
import { keysOf } from "./support/assertions.js";

const run = promisify(execFile);

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const PHONE = "+353123456789";

/**
 * A business whose reward is "Free Coffee" and its customer John Doe
 * (+353123456789) created by the owner with `initialPoints`.
 */
async function johnDoe(initialPoints: number): Promise<{ b: Business; id: string }> {
  const b = await registerBusiness(t.url, { rewardTitle: "Free Coffee" });
  const r = await rest(t.url, "POST", "/v1/owner/customers", {
    body: { name: "John Doe", phone: PHONE, initialPoints },
    headers: ownerAuth(b),
  });
  expect(r.status).toBe(200);
  return { b, id: r.body.customer.id };
}

/** John Doe at the reference's 125 points: 100 initial + a 25.5 check-in. */
async function johnDoeAt125(): Promise<{ b: Business; id: string }> {
  const j = await johnDoe(100);
  const r = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: PHONE, amount: 25.5 }, headers: posAuth(j.b) });
  expect(r.status).toBe(200);
  expect(r.body.totalPoints).toBe(125);
  return j;
}

describe("Authentication", () => {
  test("an API key from the owner has the printed shape loy_ + 32 characters and is accepted in X-API-Key", async () => {
    const b = await registerBusiness(t.url);
    expect(b.apiKey).toMatch(/^loy_[A-Za-z0-9]{32}$/);
    expect(b.apiKey).toHaveLength("loy_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".length);
    const r = await rest(t.url, "POST", "/v1/pos/checkin", {
      body: { phone: PHONE, amount: 1 },
      headers: { "X-API-Key": b.apiKey },
    });
    expect(r.status).toBe(200);
  });
});

describe("POS endpoints", () => {
  test("POST /v1/pos/checkin: the printed request gives the printed response", async () => {
    const { b, id } = await johnDoe(100);
    const store = await rest(t.url, "POST", "/v1/owner/stores", { body: { name: "Main St" }, headers: ownerAuth(b) });
    expect(store.status).toBe(200);
    // The printed body, with the `cuid_optional` placeholder replaced by a real store id.
    const r = await rest(t.url, "POST", "/v1/pos/checkin", {
      rawBody: `{\n"phone": "+353123456789",\n"storeId": "${store.body.store.id}",\n"amount": 25.5,\n"units": 3\n}`,
      headers: { "Content-Type": "application/json", "X-API-Key": b.apiKey },
    });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^application\/json/);
    expect(r.body).toEqual({
      success: true,
      customerId: id,
      pointsAwarded: 25,
      totalPoints: 125,
      rewardThreshold: 100,
      rewardAvailable: true,
      checkinId: expect.stringMatching(/^[a-z][a-z0-9]{24}$/), // added by contract §8
    });
    expect(keysOf(r.body)).toEqual(["checkinId", "customerId", "pointsAwarded", "rewardAvailable", "rewardThreshold", "success", "totalPoints"]);
  });

  test("POST /v1/pos/checkin: 'customerId' identifies the customer as well as 'phone'", async () => {
    const { b, id } = await johnDoe(100);
    const r = await rest(t.url, "POST", "/v1/pos/checkin", { body: { customerId: id, amount: 25.5 }, headers: posAuth(b) });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true, customerId: id, pointsAwarded: 25, totalPoints: 125, rewardThreshold: 100, rewardAvailable: true, checkinId: expect.any(String) });
  });

  test("POST /v1/pos/checkin: 'units' in UNIT mode", async () => {
    const { b, id } = await johnDoe(100);
    const p = await rest(t.url, "PATCH", "/v1/owner/program", { body: { mode: "UNIT", pointsPerUnit: 5 }, headers: ownerAuth(b) });
    expect(p.status).toBe(200);
    const r = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: PHONE, units: 3 }, headers: posAuth(b) });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true, customerId: id, pointsAwarded: 15, totalPoints: 115, rewardThreshold: 100, rewardAvailable: true, checkinId: expect.any(String) });
  });

  test("GET /v1/pos/customer/:identifier: the printed response, by phone and by id", async () => {
    const { b, id } = await johnDoeAt125();
    // lifetimePoints: added by contract §8.
    const expected = { customerId: id, name: "John Doe", phone: PHONE, status: "ACTIVE", totalPoints: 125, rewardAvailable: true, lifetimePoints: 125 };
    for (const identifier of [PHONE, "%2B353123456789", id]) {
      const r = await rest(t.url, "GET", `/v1/pos/customer/${identifier}`, { headers: posAuth(b) });
      expect(r.status, identifier).toBe(200);
      expect(r.headers.get("content-type")).toMatch(/^application\/json/);
      expect(r.body).toEqual(expected);
      expect(keysOf(r.body)).toEqual(["customerId", "lifetimePoints", "name", "phone", "rewardAvailable", "status", "totalPoints"]);
    }
  });

  test("GET /v1/pos/balance/:identifier: the printed response", async () => {
    const { b, id } = await johnDoeAt125();
    for (const identifier of [PHONE, "%2B353123456789", id]) {
      const r = await rest(t.url, "GET", `/v1/pos/balance/${identifier}`, { headers: posAuth(b) });
      expect(r.status, identifier).toBe(200);
      expect(r.body).toEqual({ customerId: id, totalPoints: 125 });
      expect(keysOf(r.body)).toEqual(["customerId", "totalPoints"]);
    }
  });

  test("POST /v1/pos/redeem: the printed request gives the printed response", async () => {
    const { b } = await johnDoeAt125();
    const r = await rest(t.url, "POST", "/v1/pos/redeem", {
      rawBody: `{\n"phone": "+353123456789",\n"points": 100\n}`,
      headers: { "Content-Type": "application/json", "X-API-Key": b.apiKey },
    });
    expect(r.status).toBe(200);
    expect(keysOf(r.body)).toEqual(["pointsRedeemed", "redemptionId", "remainingPoints", "rewardTitle", "success"]);
    expect(r.body).toEqual({
      success: true,
      redemptionId: expect.any(String),
      pointsRedeemed: 100,
      rewardTitle: "Free Coffee",
      remainingPoints: 25,
    });
    expect(r.body.redemptionId).not.toBe("");
  });
});

describe("Customer Management", () => {
  test("POST /v1/owner/customers: the printed request gives the printed response", async () => {
    const b = await registerBusiness(t.url);
    const r = await rest(t.url, "POST", "/v1/owner/customers", {
      rawBody: `{\n"name": "John Doe",\n"phone": "+353123456789",\n"notes": "VIP customer",\n"initialPoints": 50\n}`,
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${b.token}` },
    });
    expect(r.status).toBe(200);
    expect(keysOf(r.body)).toEqual(["customer", "success"]);
    expect(r.body.success).toBe(true);
    expect(r.body.customer).toMatchObject({ id: expect.any(String), name: "John Doe", phone: PHONE, totalPoints: 50 });
    expect(r.body.customer.id).not.toBe("");
  });

  test("GET /v1/owner/customers: the printed response (page 1 of 20, 150 customers)", async () => {
    const b = await registerBusiness(t.url);
    // 149 other customers (seeded in SQL to keep the test light; they have no
    // points, hence no ledger), older than John Doe, who leads the default order.
    await t.sql(
      `insert into customer (id, business_id, name, phone, status, total_points, created_at, updated_at)
       select 's' || substr(md5(random()::text || g::text), 1, 23), $1, 'Customer ' || g, '+35386' || (1000000 + g)::text,
              'ACTIVE', 0, now() - interval '1 hour', now() - interval '1 hour'
       from generate_series(1, 149) as g`,
      [b.businessId],
    );
    // A seeded row answers through the API like any other customer.
    const other = await rest(t.url, "GET", "/v1/pos/balance/%2B353861000001", { headers: posAuth(b) });
    expect(other.body.totalPoints).toBe(0);
    const c = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "John Doe", phone: PHONE, initialPoints: 100 }, headers: ownerAuth(b) });
    const ck = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: PHONE, amount: 25.5 }, headers: posAuth(b) });
    expect(ck.body.totalPoints).toBe(125);

    const r = await rest(t.url, "GET", "/v1/owner/customers", { headers: ownerAuth(b) });
    expect(r.status).toBe(200);
    expect(keysOf(r.body)).toEqual(["customers", "pagination"]);
    expect(r.body.pagination).toEqual({ page: 1, limit: 20, total: 150 });
    expect(r.body.customers).toHaveLength(20);
    expect(r.body.customers[0]).toMatchObject({ id: c.body.customer.id, name: "John Doe", totalPoints: 125 });
    for (const customer of r.body.customers) {
      expect(customer).toMatchObject({ id: expect.any(String), name: expect.any(String), totalPoints: expect.any(Number) });
    }

    // "Query params: page, limit, search, statusFilter, sortBy, sortOrder" — all at once.
    const q = await rest(
      t.url,
      "GET",
      "/v1/owner/customers?page=1&limit=5&search=john&statusFilter=ACTIVE&sortBy=totalPoints&sortOrder=desc",
      { headers: ownerAuth(b) },
    );
    expect(q.status).toBe(200);
    expect(q.body.pagination).toEqual({ page: 1, limit: 5, total: 1 });
    expect(q.body.customers.map((x: { name: string; totalPoints: number }) => [x.name, x.totalPoints])).toEqual([["John Doe", 125]]);
  });

  test("GET /v1/owner/customers/:id: the printed response, with the check-in as reason Visit", async () => {
    const { b, id } = await johnDoe(115);
    const ck = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: PHONE, amount: 10 }, headers: posAuth(b) });
    expect(ck.body).toMatchObject({ pointsAwarded: 10, totalPoints: 125 });
    const r = await rest(t.url, "GET", `/v1/owner/customers/${id}`, { headers: ownerAuth(b) });
    expect(r.status).toBe(200);
    expect(keysOf(r.body)).toEqual(["customer", "pointsHistory", "totalPoints"]);
    expect(r.body.customer).toMatchObject({ id, name: "John Doe", status: "ACTIVE" });
    expect(r.body.pointsHistory[0]).toMatchObject({ delta: 10, reason: "Visit" });
    expect(r.body.totalPoints).toBe(125);
  });

  for (const method of ["PATCH", "PUT"]) {
    test(`${method} /v1/owner/customers/:id: the printed request gives the printed response; ACTIVE unlocks`, async () => {
      const { b, id } = await johnDoeAt125();
      const r = await rest(t.url, method, `/v1/owner/customers/${id}`, {
        rawBody: `{\n"name": "Jane Doe",\n"phone": "+353987654321",\n"status": "BLOCKED"\n}`,
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${b.token}` },
      });
      expect(r.status).toBe(200);
      expect(keysOf(r.body)).toEqual(["customer", "success"]);
      expect(r.body.success).toBe(true);
      expect(r.body.customer).toMatchObject({ id, name: "Jane Doe", status: "BLOCKED", phone: "+353987654321", totalPoints: 125 });

      const unlock = await rest(t.url, method, `/v1/owner/customers/${id}`, { body: { status: "ACTIVE" }, headers: ownerAuth(b) });
      expect(unlock.status).toBe(200);
      expect(unlock.body.customer).toMatchObject({ id, name: "Jane Doe", status: "ACTIVE" });
    });
  }

  test("POST /v1/owner/customers/:id/points: the printed request gives the printed response; positive adds", async () => {
    const { b, id } = await johnDoeAt125();
    const r = await rest(t.url, "POST", `/v1/owner/customers/${id}/points`, {
      rawBody: `{\n"points": -50,\n"reason": "Refund for cancelled order"\n}`,
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${b.token}` },
    });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true, newBalance: 75, adjustment: -50 });
    expect(keysOf(r.body)).toEqual(["adjustment", "newBalance", "success"]);

    const add = await rest(t.url, "POST", `/v1/owner/customers/${id}/points`, {
      body: { points: 50, reason: "Goodwill" },
      headers: ownerAuth(b),
    });
    expect(add.body).toEqual({ success: true, newBalance: 125, adjustment: 50 });
  });

  test("DELETE /v1/owner/customers/:id: the printed response", async () => {
    const { b, id } = await johnDoeAt125();
    const r = await rest(t.url, "DELETE", `/v1/owner/customers/${id}`, { headers: ownerAuth(b) });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ success: true, message: "Customer deleted permanently" });
    expect(keysOf(r.body)).toEqual(["message", "success"]);
  });
});

describe("Code Examples", () => {
  /** The reference's curl command, verbatim but for the host and the key. */
  const curlArgs = (baseUrl: string, apiKey: string) => [
    "-X",
    "POST",
    `${baseUrl}/v1/pos/checkin`,
    "-H",
    "Content-Type: application/json",
    "-H",
    `X-API-Key: ${apiKey}`,
    "-d",
    '{"phone": "+353123456789", "amount": 25.50}',
  ];

  test("the curl example, run by the real curl binary, gets the printed response byte for byte", async () => {
    const { b, id } = await johnDoe(100);
    const { stdout } = await run("curl", curlArgs(t.url, b.apiKey));
    // The printed response byte for byte, then the checkinId that contract §8 adds.
    const printed = `{"success":true,"customerId":"${id}","pointsAwarded":25,"totalPoints":125,"rewardThreshold":100,"rewardAvailable":true`;
    expect(stdout.slice(0, printed.length)).toBe(printed);
    expect(stdout.slice(printed.length)).toMatch(/^,"checkinId":"[a-z][a-z0-9]{24}"\}$/);
  });

  test("the curl example enrols an unknown phone (the usual POS flow)", async () => {
    const b = await registerBusiness(t.url);
    const { stdout } = await run("curl", curlArgs(t.url, b.apiKey));
    const body = JSON.parse(stdout);
    expect(body).toEqual({
      success: true,
      customerId: expect.any(String),
      pointsAwarded: 25,
      totalPoints: 25,
      rewardThreshold: 100,
      rewardAvailable: false,
      checkinId: expect.any(String),
    });
    const lookup = await rest(t.url, "GET", `/v1/pos/customer/${body.customerId}`, { headers: posAuth(b) });
    expect(lookup.body).toMatchObject({ phone: PHONE, status: "ACTIVE", totalPoints: 25 });
  });

  test("the JavaScript fetch example works as written", async () => {
    const b = await registerBusiness(t.url);
    const YOUR_JWT_TOKEN = b.token;
    const response = await fetch(`${t.url}/v1/owner/customers`, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Authorization: `Bearer ${YOUR_JWT_TOKEN}`,
      },
      body: JSON.stringify({
        name: "John Doe",
        phone: "+353123456789",
        initialPoints: 50,
      }),
    });
    const data = await response.json();
    expect(response.status).toBe(200);
    expect(keysOf(data)).toEqual(["customer", "success"]);
    expect(data.success).toBe(true);
    expect(data.customer).toMatchObject({ id: expect.any(String), name: "John Doe", phone: PHONE, totalPoints: 50 });
  });
});
