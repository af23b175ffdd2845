/**
 * Tenancy (contract §3) over plain HTTP: a second business's API key and
 * owner token get 404 on the first business's customers, exactly as for a
 * missing id, and change nothing. By phone, an unknown number at check-in
 * enrols a new customer in the caller's own business (the usual POS flow).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business, type RestResponse } from "./support/rest.js";
import { keysOf } from "./support/assertions.js";

let t: TestApp;
/** The first business, whose customer the second one must not reach. */
let a: Business;
/** The second business. */
let b: Business;
let victimId: string;
let storeA: string;
const PHONE = "+353123456789";
const MISSING = "zq0000000000000000000000";

beforeAll(async () => {
  t = await startTestApp();
  a = await registerBusiness(t.url, { rewardTitle: "A's Coffee" });
  b = await registerBusiness(t.url, { rewardTitle: "B's Coffee" });
  const c = await rest(t.url, "POST", "/v1/owner/customers", {
    body: { name: "Victim of A", phone: PHONE, notes: "A's note", initialPoints: 300 },
    headers: ownerAuth(a),
  });
  expect(c.status, c.text).toBe(200);
  victimId = c.body.customer.id;
  const ck = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: PHONE, amount: 10 }, headers: posAuth(a) });
  expect(ck.body.totalPoints).toBe(310);
  const s = await rest(t.url, "POST", "/v1/owner/stores", { body: { name: "A's store" }, headers: ownerAuth(a) });
  storeA = s.body.store.id;
});
afterAll(async () => {
  await t?.close();
});


function expectNotFound(r: RestResponse) {
  expect(r.status, r.text).toBe(404);
  expect(r.headers.get("content-type")).toMatch(/^application\/json/);
  expect(keysOf(r.body)).toEqual(["error", "success"]);
  expect(r.body).toEqual({ success: false, error: { code: "not_found", message: "customer not found" } });
}

/** Everything A owns, as A's owner and the database see it. */
async function stateOfA() {
  const g = await rest(t.url, "GET", `/v1/owner/customers/${victimId}`, { headers: ownerAuth(a) });
  expect(g.status).toBe(200);
  const rows = await t.sql(
    "select id, name, phone, status, notes, total_points, updated_at, last_visit_at from customer where business_id = $1 order by id",
    [a.businessId],
  );
  const ledger = await t.sql("select * from ledger_entry where business_id = $1 order by id", [a.businessId]);
  const redemptions = await t.sql("select * from redemption where business_id = $1 order by id", [a.businessId]);
  const program = await t.sql("select * from program where business_id = $1", [a.businessId]);
  return { api: g.body, rows, ledger, redemptions, program };
}

describe("a second business's owner token", () => {
  test("GET, PATCH, PUT, DELETE and points on the first business's customer → 404, exactly as for a missing id; nothing changes", async () => {
    const before = await stateOfA();
    const auth = ownerAuth(b);
    const calls = (id: string) => [
      rest(t.url, "GET", `/v1/owner/customers/${id}`, { headers: auth }),
      rest(t.url, "PATCH", `/v1/owner/customers/${id}`, { body: { name: "Hijacked", status: "BLOCKED" }, headers: auth }),
      rest(t.url, "PUT", `/v1/owner/customers/${id}`, { body: { phone: "+353861234000", notes: "x" }, headers: auth }),
      rest(t.url, "POST", `/v1/owner/customers/${id}/points`, { body: { points: -300, reason: "steal" }, headers: auth }),
      rest(t.url, "POST", `/v1/owner/customers/${id}/points`, { body: { points: 1000, reason: "gift" }, headers: auth }),
      rest(t.url, "DELETE", `/v1/owner/customers/${id}`, { headers: auth }),
    ];
    const foreign = await Promise.all(calls(victimId));
    const missing = await Promise.all(calls(MISSING));
    for (let i = 0; i < foreign.length; i++) {
      expectNotFound(foreign[i]!);
      // Indistinguishable from a missing id: same status and same bytes.
      expect(foreign[i]!.text).toBe(missing[i]!.text);
    }
    expect(await stateOfA()).toEqual(before);
  });

  test("the second business's list, search and dashboard-like reads never show the first one's customers", async () => {
    const l = await rest(t.url, "GET", "/v1/owner/customers", { headers: ownerAuth(b) });
    expect(l.body.customers.map((c: { id: string }) => c.id)).not.toContain(victimId);
    for (const q of ["?search=Victim", "?search=353123456789", "?search=123456789", "?statusFilter=ACTIVE&limit=100"]) {
      const r = await rest(t.url, "GET", `/v1/owner/customers${q}`, { headers: ownerAuth(b) });
      expect(r.status, r.text).toBe(200);
      expect(r.body.customers.map((c: { id: string }) => c.id)).not.toContain(victimId);
      expect(JSON.stringify(r.body)).not.toContain("Victim of A");
    }
  });

  test("cannot revoke the first business's API key or use its store", async () => {
    const r = await rest(t.url, "DELETE", `/v1/owner/api-keys/${a.apiKeyId}`, { headers: ownerAuth(b) });
    expect(r.status, r.text).toBe(404);
    expect(r.body.error.code).toBe("not_found");
    const keys = await rest(t.url, "GET", "/v1/owner/api-keys", { headers: ownerAuth(b) });
    expect(keys.body.apiKeys.map((k: { id: string }) => k.id)).not.toContain(a.apiKeyId);
    const stores = await rest(t.url, "GET", "/v1/owner/stores", { headers: ownerAuth(b) });
    expect(stores.body.stores.map((s: { id: string }) => s.id)).not.toContain(storeA);
    const bound = await rest(t.url, "POST", "/v1/owner/api-keys", { body: { name: "x", storeId: storeA }, headers: ownerAuth(b) });
    expect(bound.status, bound.text).toBe(400);
    expect(bound.body.error.message).toMatch(/storeId/);
    // A's key still works.
    const ok = await rest(t.url, "GET", `/v1/pos/balance/${victimId}`, { headers: posAuth(a) });
    expect(ok.body).toEqual({ customerId: victimId, totalPoints: 310 });
    expect(await t.sql("select revoked_at from api_key where id = $1", [a.apiKeyId])).toEqual([{ revoked_at: null }]);
  });

  test("the second business's program changes do not touch the first one's", async () => {
    const before = await stateOfA();
    const r = await rest(t.url, "PATCH", "/v1/owner/program", { body: { rewardThreshold: 5, rewardTitle: "Changed by B" }, headers: ownerAuth(b) });
    expect(r.status).toBe(200);
    const pa = await rest(t.url, "GET", "/v1/owner/program", { headers: ownerAuth(a) });
    expect(pa.body.program).toMatchObject({ rewardThreshold: 100, rewardTitle: "A's Coffee" });
    expect(await stateOfA()).toEqual(before);
    await rest(t.url, "PATCH", "/v1/owner/program", { body: { rewardThreshold: 100, rewardTitle: "B's Coffee" }, headers: ownerAuth(b) });
  });
});

describe("a second business's API key", () => {
  test("look-ups by the first business's customer id and by its phone → 404, exactly as for a missing customer", async () => {
    const before = await stateOfA();
    const identifiers = [victimId, PHONE, "%2B353123456789", "0123456789", "00353123456789"];
    for (const id of identifiers) {
      for (const kind of ["customer", "balance"]) {
        const r = await rest(t.url, "GET", `/v1/pos/${kind}/${id}`, { headers: posAuth(b) });
        expectNotFound(r);
        const missing = await rest(t.url, "GET", `/v1/pos/${kind}/${kind === "customer" && id === victimId ? MISSING : "+353861999999"}`, { headers: posAuth(b) });
        expect(r.text).toBe(missing.text);
      }
    }
    expect(await stateOfA()).toEqual(before);
  });

  test("check-in and redeem by the first business's customer id → 404; nothing changes", async () => {
    const before = await stateOfA();
    expectNotFound(await rest(t.url, "POST", "/v1/pos/checkin", { body: { customerId: victimId, amount: 50 }, headers: posAuth(b) }));
    expectNotFound(await rest(t.url, "POST", "/v1/pos/redeem", { body: { customerId: victimId, points: 100 }, headers: posAuth(b) }));
    expect(await stateOfA()).toEqual(before);
    expect(await t.sql("select 1 from ledger_entry where business_id = $1", [b.businessId])).toEqual([]);
  });

  test("redeem by the first business's customer's phone → 404 (B has no such customer); nothing changes", async () => {
    const b2 = await registerBusiness(t.url);
    const before = await stateOfA();
    expectNotFound(await rest(t.url, "POST", "/v1/pos/redeem", { body: { phone: PHONE, points: 100 }, headers: posAuth(b2) }));
    expect(await stateOfA()).toEqual(before);
    expect(await t.sql("select 1 from customer where business_id = $1", [b2.businessId])).toEqual([]);
  });

  test("the first business's store id → 400, and nothing is written", async () => {
    const before = await stateOfA();
    const r = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353861999998", amount: 5, storeId: storeA }, headers: posAuth(b) });
    expect(r.status, r.text).toBe(400);
    expect(r.body.error).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/storeId/) });
    expect(await t.sql("select 1 from customer where business_id = $1", [b.businessId])).toEqual([]);
    expect(await stateOfA()).toEqual(before);
  });

  test("check-in by the first business's customer's phone enrols a new customer in the caller's own business; A's customer is untouched", async () => {
    const before = await stateOfA();
    const r = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "0123456789", amount: 20 }, headers: posAuth(b) });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toEqual({
      success: true,
      customerId: expect.any(String),
      pointsAwarded: 20,
      totalPoints: 20,
      rewardThreshold: 100,
      rewardAvailable: false,
      checkinId: expect.any(String),
    });
    expect(r.body.customerId).not.toBe(victimId);
    const rows = await t.sql("select business_id, phone, total_points, name from customer where id = $1", [r.body.customerId]);
    expect(rows).toEqual([{ business_id: b.businessId, phone: PHONE, total_points: 20, name: "" }]);
    expect(await stateOfA()).toEqual(before);

    // Each business now sees its own customer behind the same phone.
    const la = await rest(t.url, "GET", `/v1/pos/customer/${PHONE}`, { headers: posAuth(a) });
    const lb = await rest(t.url, "GET", `/v1/pos/customer/${PHONE}`, { headers: posAuth(b) });
    expect(la.body).toMatchObject({ customerId: victimId, name: "Victim of A", totalPoints: 310 });
    expect(lb.body).toMatchObject({ customerId: r.body.customerId, name: "", totalPoints: 20 });

    // B's owner sees it; A's owner does not.
    expect((await rest(t.url, "GET", `/v1/owner/customers/${r.body.customerId}`, { headers: ownerAuth(b) })).status).toBe(200);
    expectNotFound(await rest(t.url, "GET", `/v1/owner/customers/${r.body.customerId}`, { headers: ownerAuth(a) }));
  });
});
