/**
 * The owner's side over plain HTTP: register, login, program, customers
 * (create, list, get, update, adjust, delete), API keys and stores, and the
 * ledger invariant (contract §2–§4).
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business, type RestResponse } from "./support/rest.js";
import { expectError, keysOf } from "./support/assertions.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});



let emailSeq = 0;
const freshEmail = () => `owner-rest-${process.pid}-${Date.now()}-${emailSeq++}@example.com`;
let phoneSeq = 0;
const freshPhone = () => `+35385${String(1_000_000 + phoneSeq++).padStart(7, "0")}`;

const create = (b: Business, body: unknown) => rest(t.url, "POST", "/v1/owner/customers", { body, headers: ownerAuth(b) });
const getCustomer = (b: Business, id: string) => rest(t.url, "GET", `/v1/owner/customers/${id}`, { headers: ownerAuth(b) });
const list = (b: Business, query = "") => rest(t.url, "GET", `/v1/owner/customers${query}`, { headers: ownerAuth(b) });
const adjust = (b: Business, id: string, body: unknown) =>
  rest(t.url, "POST", `/v1/owner/customers/${id}/points`, { body, headers: ownerAuth(b) });
const ledgerCount = async (customerId: string) =>
  Number((await t.sql<{ n: string }>("select count(*) as n from ledger_entry where customer_id = $1", [customerId]))[0]!.n);

describe("register and login", () => {
  test("register returns {success, token, expiresIn, businessId, ownerId}; the program starts at SPEND/1/100/\"Free Reward\"", async () => {
    const email = freshEmail();
    const r = await rest(t.url, "POST", "/v1/auth/register", { body: { businessName: "Corner Café", email, password: "long enough password" } });
    expect(r.status, r.text).toBe(200);
    expect(keysOf(r.body)).toEqual(["businessId", "expiresIn", "ownerId", "success", "token"]);
    expect(r.body).toMatchObject({ success: true, expiresIn: 12 * 3600 });
    expect(r.body.token.split(".")).toHaveLength(3);

    const p = await rest(t.url, "GET", "/v1/owner/program", { headers: { authorization: `Bearer ${r.body.token}` } });
    expect(p.status, p.text).toBe(200);
    expect(p.body.program).toMatchObject({
      mode: "SPEND",
      pointsPerCurrencyUnit: 1,
      rewardThreshold: 100,
      rewardTitle: "Free Reward",
      defaultCountry: "IE",
    });
    const rows = await t.sql<{ id: string; business_id: string; password_hash: string }>(
      "select id, business_id, password_hash from owner where email = $1",
      [email],
    );
    expect(rows).toEqual([{ id: r.body.ownerId, business_id: r.body.businessId, password_hash: expect.stringMatching(/^\$argon2id\$/) }]);
  });

  test("PATCH /v1/owner/program is partial: absent fields are unchanged", async () => {
    const b = await registerBusiness(t.url);
    const r = await rest(t.url, "PATCH", "/v1/owner/program", { body: { rewardTitle: "Free Coffee" }, headers: ownerAuth(b) });
    expect(r.status, r.text).toBe(200);
    expect(r.body.success).toBe(true);
    expect(r.body.program).toMatchObject({ mode: "SPEND", pointsPerCurrencyUnit: 1, rewardThreshold: 100, rewardTitle: "Free Coffee" });
    const r2 = await rest(t.url, "PATCH", "/v1/owner/program", { body: { mode: "UNIT", pointsPerUnit: 4, rewardThreshold: 250 }, headers: ownerAuth(b) });
    expect(r2.body.program).toMatchObject({ mode: "UNIT", pointsPerUnit: 4, rewardThreshold: 250, rewardTitle: "Free Coffee", pointsPerCurrencyUnit: 1 });
    const g = await rest(t.url, "GET", "/v1/owner/program", { headers: ownerAuth(b) });
    expect(g.body.program).toEqual(r2.body.program);
    expectError(
      await rest(t.url, "PATCH", "/v1/owner/program", { body: { rewardThreshold: 0 }, headers: ownerAuth(b) }),
      400,
      "invalid_argument",
      /rewardThreshold/,
    );
  });

  test("register validates its fields (400 naming the field)", async () => {
    const ok = { businessName: "X", email: freshEmail(), password: "long enough password" };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...ok, email: "not-an-email" }, /email/],
      [{ ...ok, password: "short" }, /password/],
      [{ ...ok, businessName: "" }, /businessName/],
      [{ ...ok, defaultCountry: "XX" }, /defaultCountry/],
    ];
    for (const [body, field] of cases) {
      expectError(await rest(t.url, "POST", "/v1/auth/register", { body }), 400, "invalid_argument", field);
    }
  });

  test("a duplicate email (in any case) → 409 already_exists", async () => {
    const b = await registerBusiness(t.url);
    for (const email of [b.email, b.email.toUpperCase()]) {
      const r = await rest(t.url, "POST", "/v1/auth/register", { body: { businessName: "Again", email, password: "another password" } });
      expectError(r, 409, "already_exists");
    }
    expect(await t.sql("select 1 from owner where email = $1", [b.email])).toHaveLength(1);
  });

  test("login returns {success, token, expiresIn}; the token works", async () => {
    const b = await registerBusiness(t.url);
    const r = await rest(t.url, "POST", "/v1/auth/login", { body: { email: b.email, password: b.password } });
    expect(r.status, r.text).toBe(200);
    expect(keysOf(r.body)).toEqual(["expiresIn", "success", "token"]);
    expect(r.body).toMatchObject({ success: true, expiresIn: 43_200 });
    const p = await rest(t.url, "GET", "/v1/owner/program", { headers: { authorization: `Bearer ${r.body.token}` } });
    expect(p.status).toBe(200);
  });

  test("wrong password and unknown email → 401 with one and the same body", async () => {
    const b = await registerBusiness(t.url);
    const wrong = await rest(t.url, "POST", "/v1/auth/login", { body: { email: b.email, password: "not the password" } });
    const unknown = await rest(t.url, "POST", "/v1/auth/login", { body: { email: freshEmail(), password: "not the password" } });
    expectError(wrong, 401, "unauthenticated");
    expectError(unknown, 401, "unauthenticated");
    expect(wrong.text).toBe(unknown.text);
    expect(wrong.body.error.message).toBe("invalid email or password");
  });

  test("the business's defaultCountry reads national phone numbers", async () => {
    const email = freshEmail();
    const reg = await rest(t.url, "POST", "/v1/auth/register", {
      body: { businessName: "London Shop", email, password: "long enough password", defaultCountry: "GB" },
    });
    expect(reg.status, reg.text).toBe(200);
    const b = { token: reg.body.token } as Business;
    const r = await create(b, { name: "Brit", phone: "07700 900123" });
    expect(r.status, r.text).toBe(200);
    expect(r.body.customer.phone).toBe("+447700900123");
  });
});

describe("create customer", () => {
  let b: Business;
  beforeAll(async () => {
    b = await registerBusiness(t.url);
  });

  test("initialPoints go into the ledger as one INITIAL row by the owner", async () => {
    const phone = freshPhone();
    const r = await create(b, { name: "Niamh", phone, notes: "likes oat milk", initialPoints: 40 });
    expect(r.status, r.text).toBe(200);
    expect(r.body.customer).toMatchObject({ name: "Niamh", phone, notes: "likes oat milk", status: "ACTIVE", totalPoints: 40, rewardAvailable: false });
    const g = await getCustomer(b, r.body.customer.id);
    expect(g.body.totalPoints).toBe(40);
    expect(g.body.pointsHistory).toHaveLength(1);
    expect(g.body.pointsHistory[0]).toMatchObject({ delta: 40, type: "INITIAL", balanceAfter: 40, storeId: "", ownerId: b.ownerId });
    const rows = await t.sql("select delta, type, owner_id, api_key_id from ledger_entry where customer_id = $1", [r.body.customer.id]);
    expect(rows).toEqual([{ delta: 40, type: "INITIAL", owner_id: b.ownerId, api_key_id: null }]);
  });

  test("without initialPoints the customer starts at 0 with an empty history", async () => {
    const r = await create(b, { name: "Empty", phone: freshPhone() });
    expect(r.body.customer.totalPoints).toBe(0);
    const g = await getCustomer(b, r.body.customer.id);
    expect(g.body.pointsHistory).toEqual([]);
    expect(g.body.totalPoints).toBe(0);
  });

  test("negative initialPoints → 400 naming initialPoints; a bad phone → 400 naming phone; nothing written", async () => {
    const before = await t.sql("select count(*) as n from customer");
    const phone = freshPhone();
    expectError(await create(b, { name: "Neg", phone, initialPoints: -1 }), 400, "invalid_argument", /initialPoints/);
    expectError(await create(b, { name: "Frac", phone, initialPoints: 1.5 }), 400, "invalid_argument", /initialPoints/);
    expectError(await create(b, { name: "NoPhone" }), 400, "invalid_argument", /phone/);
    expectError(await create(b, { name: "BadPhone", phone: "not a phone" }), 400, "invalid_argument", /phone/);
    expect(await t.sql("select count(*) as n from customer")).toEqual(before);
  });

  test("a phone already used in the business, in any typed form → 409 already_exists", async () => {
    const b2 = await registerBusiness(t.url);
    const first = await create(b2, { name: "First", phone: "+353123456789", initialPoints: 5 });
    expect(first.status).toBe(200);
    for (const phone of ["+353123456789", "+353 12 345 6789", "0123456789", "00353123456789", "012-345 6789"]) {
      const r = await create(b2, { name: "Dup", phone, initialPoints: 10 });
      expectError(r, 409, "already_exists");
    }
    const rows = await t.sql<{ n: string }>("select count(*) as n from customer where business_id = $1", [b2.businessId]);
    expect(rows[0]!.n).toBe("1");
    expect(await ledgerCount(first.body.customer.id)).toBe(1);
  });
});

describe("list customers", () => {
  let b: Business;
  const ids: Record<string, string> = {};
  const names = (r: RestResponse) => r.body.customers.map((c: { name: string }) => c.name);

  beforeAll(async () => {
    b = await registerBusiness(t.url);
    const seed: [string, string, number][] = [
      ["Alice Smith", "+353861000001", 50],
      ["alina jones", "+353861000002", 200],
      ["Bob Brown", "+353871234567", 10],
      ["Charlie", "+353861000004", 0],
      ["Dara", "+353861000005", 75],
    ];
    for (const [name, phone, initialPoints] of seed) {
      const r = await create(b, { name, phone, initialPoints });
      expect(r.status, r.text).toBe(200);
      ids[name] = r.body.customer.id;
    }
    // Visits: Charlie, then Alice (the most recent).
    for (const phone of ["+353861000004", "+353861000001"]) {
      const r = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone, amount: 5 }, headers: posAuth(b) });
      expect(r.status, r.text).toBe(200);
    }
    const blk = await rest(t.url, "PATCH", `/v1/owner/customers/${ids["Bob Brown"]}`, { body: { status: "BLOCKED" }, headers: ownerAuth(b) });
    expect(blk.status).toBe(200);
    // Points now: Alice 55, alina 200, Bob 10 (BLOCKED), Charlie 5, Dara 75.
  });

  test("defaults: page 1, limit 20, newest first, with the total", async () => {
    const r = await list(b);
    expect(r.status, r.text).toBe(200);
    expect(keysOf(r.body)).toEqual(["customers", "pagination"]);
    expect(r.body.pagination).toEqual({ page: 1, limit: 20, total: 5 });
    expect(names(r)).toEqual(["Dara", "Charlie", "Bob Brown", "alina jones", "Alice Smith"]);
    expect(r.body.customers[0]).toMatchObject({ id: ids.Dara, name: "Dara", phone: "+353861000005", status: "ACTIVE", totalPoints: 75 });
  });

  test("page and limit", async () => {
    const p1 = await list(b, "?limit=2");
    expect(p1.body.pagination).toEqual({ page: 1, limit: 2, total: 5 });
    expect(names(p1)).toEqual(["Dara", "Charlie"]);
    const p2 = await list(b, "?page=2&limit=2");
    expect(p2.body.pagination).toEqual({ page: 2, limit: 2, total: 5 });
    expect(names(p2)).toEqual(["Bob Brown", "alina jones"]);
    const p3 = await list(b, "?page=3&limit=2");
    expect(names(p3)).toEqual(["Alice Smith"]);
    const p4 = await list(b, "?page=4&limit=2");
    expect(p4.body).toEqual({ customers: [], pagination: { page: 4, limit: 2, total: 5 } });
    expect((await list(b, "?limit=1")).body.pagination).toEqual({ page: 1, limit: 1, total: 5 });
    expect((await list(b, "?limit=100")).body.pagination).toEqual({ page: 1, limit: 100, total: 5 });
  });

  test("limit outside 1–100 and a bad page → 400 naming the parameter", async () => {
    expectError(await list(b, "?limit=101"), 400, "invalid_argument", /limit/);
    expectError(await list(b, "?limit=-1"), 400, "invalid_argument", /limit/);
    expectError(await list(b, "?limit=ten"), 400, "invalid_argument", /limit/);
    expectError(await list(b, "?page=-1"), 400, "invalid_argument", /page/);
  });

  test("search by name is case-insensitive and matches fragments", async () => {
    const r = await list(b, "?search=ALI&sortBy=name&sortOrder=asc");
    expect(names(r)).toEqual(["Alice Smith", "alina jones"]);
    expect(r.body.pagination.total).toBe(2);
    expect(names(await list(b, "?search=smith"))).toEqual(["Alice Smith"]);
    expect(names(await list(b, "?search=%20Jones%20"))).toEqual(["alina jones"]);
    expect((await list(b, "?search=nobody")).body).toEqual({ customers: [], pagination: { page: 1, limit: 20, total: 0 } });
    // LIKE wildcards are taken literally
    expect((await list(b, "?search=%25")).body.pagination.total).toBe(0);
    expect((await list(b, "?search=_")).body.pagination.total).toBe(0);
  });

  test("search by phone digits", async () => {
    expect(names(await list(b, "?search=871234"))).toEqual(["Bob Brown"]);
    expect(names(await list(b, "?search=353871234567"))).toEqual(["Bob Brown"]);
    expect(names(await list(b, "?search=%2B353%2087%20123"))).toEqual(["Bob Brown"]);
    const r = await list(b, "?search=86100000&sortBy=name&sortOrder=asc");
    expect(names(r)).toEqual(["Alice Smith", "alina jones", "Charlie", "Dara"]);
  });

  test("statusFilter", async () => {
    const blocked = await list(b, "?statusFilter=BLOCKED");
    expect(names(blocked)).toEqual(["Bob Brown"]);
    expect(blocked.body.customers[0].status).toBe("BLOCKED");
    expect(blocked.body.pagination.total).toBe(1);
    const active = await list(b, "?statusFilter=ACTIVE");
    expect(names(active)).toEqual(["Dara", "Charlie", "alina jones", "Alice Smith"]);
    expect(active.body.pagination.total).toBe(4);
    expectError(await list(b, "?statusFilter=FROZEN"), 400, "invalid_argument", /statusFilter/);
  });

  test.each([
    ["createdAt", "asc", ["Alice Smith", "alina jones", "Bob Brown", "Charlie", "Dara"]],
    ["createdAt", "desc", ["Dara", "Charlie", "Bob Brown", "alina jones", "Alice Smith"]],
    ["name", "asc", ["Alice Smith", "alina jones", "Bob Brown", "Charlie", "Dara"]],
    ["name", "desc", ["Dara", "Charlie", "Bob Brown", "alina jones", "Alice Smith"]],
    ["totalPoints", "asc", ["Charlie", "Bob Brown", "Alice Smith", "Dara", "alina jones"]],
    ["totalPoints", "desc", ["alina jones", "Dara", "Alice Smith", "Bob Brown", "Charlie"]],
  ])("sortBy=%s sortOrder=%s", async (sortBy, sortOrder, expected) => {
    const r = await list(b, `?sortBy=${sortBy}&sortOrder=${sortOrder}`);
    expect(r.status, r.text).toBe(200);
    expect(names(r)).toEqual(expected);
  });

  test("sortBy=lastVisitAt: visited customers in order (never-visited ones after them)", async () => {
    const desc = names(await list(b, "?sortBy=lastVisitAt&sortOrder=desc"));
    expect(desc.slice(0, 2)).toEqual(["Alice Smith", "Charlie"]);
    expect(desc.slice(2).sort()).toEqual(["Bob Brown", "Dara", "alina jones"]);
    const asc = names(await list(b, "?sortBy=lastVisitAt&sortOrder=asc"));
    expect(asc.slice(0, 2)).toEqual(["Charlie", "Alice Smith"]);
    const withVisit = (await list(b, "?sortBy=lastVisitAt&sortOrder=desc")).body.customers[0];
    expect(Date.parse(withVisit.lastVisitAt)).toBeGreaterThan(Date.now() - 120_000);
  });

  test("sortOrder defaults to desc; an unknown sortBy or sortOrder → 400 naming it", async () => {
    expect(names(await list(b, "?sortBy=totalPoints"))).toEqual(["alina jones", "Dara", "Alice Smith", "Bob Brown", "Charlie"]);
    expectError(await list(b, "?sortBy=phone"), 400, "invalid_argument", /sortBy/);
    expectError(await list(b, "?sortOrder=sideways"), 400, "invalid_argument", /sortOrder/);
    expectError(await list(b, "?bogus=1"), 400, "invalid_argument", /bogus/);
  });
});

describe("get customer", () => {
  test("pointsHistory is newest first, with {id, delta, reason, type, storeId, createdAt, balanceAfter}; check-ins have reason Visit", async () => {
    const b = await registerBusiness(t.url, { rewardTitle: "Free Coffee" });
    const store = await rest(t.url, "POST", "/v1/owner/stores", { body: { name: "Quay St" }, headers: ownerAuth(b) });
    const phone = freshPhone();
    const c = await create(b, { name: "History", phone, initialPoints: 90 });
    const id = c.body.customer.id;
    const pos = (path: string, body: unknown) => rest(t.url, "POST", path, { body, headers: posAuth(b) });
    expect((await pos("/v1/pos/checkin", { phone, amount: 20, storeId: store.body.store.id })).status).toBe(200);
    const rd = await pos("/v1/pos/redeem", { phone, points: 100 });
    expect(rd.status).toBe(200);
    expect((await adjust(b, id, { points: 7, reason: "Birthday bonus" })).status).toBe(200);

    const g = await getCustomer(b, id);
    expect(g.status, g.text).toBe(200);
    expect(g.body.totalPoints).toBe(17);
    expect(g.body.customer).toMatchObject({ id, name: "History", phone, status: "ACTIVE", totalPoints: 17 });
    const h = g.body.pointsHistory;
    expect(h.map((e: { type: string; delta: number; reason: string; balanceAfter: number }) => [e.type, e.delta, e.reason, e.balanceAfter])).toEqual([
      ["ADJUSTMENT", 7, "Birthday bonus", 17],
      ["REDEMPTION", -100, expect.stringContaining("Free Coffee"), 10],
      ["CHECKIN", 20, "Visit", 110],
      ["INITIAL", 90, expect.any(String), 90],
    ]);
    for (const e of h) {
      for (const k of ["id", "delta", "reason", "type", "storeId", "createdAt", "balanceAfter"]) expect(e).toHaveProperty(k);
      expect(typeof e.id).toBe("string");
      expect(Date.parse(e.createdAt)).toBeGreaterThan(Date.now() - 120_000);
    }
    const times = h.map((e: { createdAt: string }) => Date.parse(e.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(h[2].storeId).toBe(store.body.store.id);
    expect(h[2].apiKeyId).toBe(b.apiKeyId);
    expect(h[1].redemptionId).toBe(rd.body.redemptionId);
    expect(h[0].ownerId).toBe(b.ownerId);
    expect(h[0].storeId).toBe("");
  });

  test("an unknown id → 404 not_found", async () => {
    const b = await registerBusiness(t.url);
    expectError(await getCustomer(b, "zq0000000000000000000000"), 404, "not_found", "customer not found");
  });
});

describe("update customer", () => {
  for (const method of ["PATCH", "PUT"]) {
    test(`${method} is partial: absent fields are unchanged`, async () => {
      const b = await registerBusiness(t.url);
      const phone = freshPhone();
      const c = await create(b, { name: "Orig Name", phone, notes: "orig notes", initialPoints: 12 });
      const id = c.body.customer.id;
      const upd = (body: unknown) => rest(t.url, method, `/v1/owner/customers/${id}`, { body, headers: ownerAuth(b) });

      const r1 = await upd({ notes: "new notes" });
      expect(r1.status, r1.text).toBe(200);
      expect(r1.body.customer).toMatchObject({ name: "Orig Name", phone, notes: "new notes", status: "ACTIVE", totalPoints: 12 });
      const r2 = await upd({ name: "New Name" });
      expect(r2.body.customer).toMatchObject({ name: "New Name", phone, notes: "new notes", status: "ACTIVE" });
      const r3 = await upd({});
      expect(r3.status, r3.text).toBe(200);
      expect(r3.body.customer).toMatchObject({ name: "New Name", phone, notes: "new notes", status: "ACTIVE", totalPoints: 12 });
      const r4 = await upd({ phone: "087 111 2233" });
      expect(r4.body.customer).toMatchObject({ name: "New Name", phone: "+353871112233", notes: "new notes" });

      const g = await getCustomer(b, id);
      expect(g.body.customer).toMatchObject({ id, name: "New Name", phone: "+353871112233", notes: "new notes", status: "ACTIVE", totalPoints: 12 });
      expect(await ledgerCount(id)).toBe(1);
    });
  }

  test("BLOCKED locks and ACTIVE unlocks; an unknown status → 400", async () => {
    const b = await registerBusiness(t.url);
    const c = await create(b, { name: "Lock", phone: freshPhone() });
    const id = c.body.customer.id;
    const r = await rest(t.url, "PATCH", `/v1/owner/customers/${id}`, { body: { status: "BLOCKED" }, headers: ownerAuth(b) });
    expect(r.body.customer.status).toBe("BLOCKED");
    expect((await getCustomer(b, id)).body.customer.status).toBe("BLOCKED");
    const u = await rest(t.url, "PUT", `/v1/owner/customers/${id}`, { body: { status: "ACTIVE" }, headers: ownerAuth(b) });
    expect(u.body.customer).toMatchObject({ status: "ACTIVE", name: "Lock" });
    expectError(
      await rest(t.url, "PATCH", `/v1/owner/customers/${id}`, { body: { status: "CUSTOMER_STATUS_UNSPECIFIED" }, headers: ownerAuth(b) }),
      400,
      "invalid_argument",
      /status/,
    );
    expect((await getCustomer(b, id)).body.customer.status).toBe("ACTIVE");
  });

  test("changing the phone to one in use (any typed form) → 409, and nothing changes", async () => {
    const b = await registerBusiness(t.url);
    const a = await create(b, { name: "A", phone: "+353123456789" });
    const other = await create(b, { name: "B", phone: "+353987654321" });
    for (const phone of ["+353123456789", "0123456789", "00353 12 345 6789"]) {
      const r = await rest(t.url, "PATCH", `/v1/owner/customers/${other.body.customer.id}`, {
        body: { phone, name: "Renamed" },
        headers: ownerAuth(b),
      });
      expectError(r, 409, "already_exists");
    }
    expect((await getCustomer(b, other.body.customer.id)).body.customer).toMatchObject({ name: "B", phone: "+353987654321" });
    // Its own phone, in another form, is no conflict.
    const same = await rest(t.url, "PATCH", `/v1/owner/customers/${a.body.customer.id}`, { body: { phone: "0123456789" }, headers: ownerAuth(b) });
    expect(same.status, same.text).toBe(200);
    expect(same.body.customer.phone).toBe("+353123456789");
  });

  test("an unknown id → 404", async () => {
    const b = await registerBusiness(t.url);
    const r = await rest(t.url, "PATCH", "/v1/owner/customers/zq0000000000000000000000", { body: { name: "X" }, headers: ownerAuth(b) });
    expectError(r, 404, "not_found", "customer not found");
  });
});

describe("adjust points", () => {
  test("adds and deducts with a ledger row of type ADJUSTMENT carrying the owner", async () => {
    const b = await registerBusiness(t.url);
    const c = await create(b, { name: "Adj", phone: freshPhone(), initialPoints: 30 });
    const id = c.body.customer.id;
    expect((await adjust(b, id, { points: 25, reason: "Complaint" })).body).toEqual({ success: true, newBalance: 55, adjustment: 25 });
    expect((await adjust(b, id, { points: -55, reason: "Clawback" })).body).toEqual({ success: true, newBalance: 0, adjustment: -55 });
    const rows = await t.sql("select delta, reason, type, owner_id, balance_after from ledger_entry where customer_id = $1 and type = 'ADJUSTMENT' order by created_at", [id]);
    expect(rows).toEqual([
      { delta: 25, reason: "Complaint", type: "ADJUSTMENT", owner_id: b.ownerId, balance_after: 55 },
      { delta: -55, reason: "Clawback", type: "ADJUSTMENT", owner_id: b.ownerId, balance_after: 0 },
    ]);
    const g = await getCustomer(b, id);
    expect(g.body.pointsHistory[0]).toMatchObject({ delta: -55, reason: "Clawback", type: "ADJUSTMENT", ownerId: b.ownerId, balanceAfter: 0 });
  });

  test("reason is required (400 naming reason); a deduction past zero → 400 failed_precondition; nothing changes", async () => {
    const b = await registerBusiness(t.url);
    const c = await create(b, { name: "Adj2", phone: freshPhone(), initialPoints: 30 });
    const id = c.body.customer.id;
    expectError(await adjust(b, id, { points: 10 }), 400, "invalid_argument", /reason/);
    expectError(await adjust(b, id, { points: 10, reason: "" }), 400, "invalid_argument", /reason/);
    expectError(await adjust(b, id, { points: 10, reason: "   " }), 400, "invalid_argument", /reason/);
    expectError(await adjust(b, id, { points: 0, reason: "nothing" }), 400, "invalid_argument", /points/);
    expectError(await adjust(b, id, { points: 1.5, reason: "half" }), 400, "invalid_argument", /points/);
    const past = await adjust(b, id, { points: -31, reason: "Too much" });
    expectError(past, 400, "failed_precondition");
    expect((await getCustomer(b, id)).body.totalPoints).toBe(30);
    expect(await ledgerCount(id)).toBe(1);
    expectError(await adjust(b, "zq0000000000000000000000", { points: 5, reason: "x" }), 404, "not_found", "customer not found");
  });
});

describe("delete customer", () => {
  test("the customer and their ledger go; a PII-free audit event stays; the phone is free again", async () => {
    const b = await registerBusiness(t.url);
    const phone = "+353861234567";
    const c = await create(b, { name: "Siobhan Delete-Me", phone, notes: "secret note xyz", initialPoints: 100 });
    const id = c.body.customer.id;
    expect((await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone, amount: 10 }, headers: posAuth(b) })).status).toBe(200);
    expect((await rest(t.url, "POST", "/v1/pos/redeem", { body: { phone, points: 100 }, headers: posAuth(b) })).status).toBe(200);
    expect(await ledgerCount(id)).toBe(3);

    const d = await rest(t.url, "DELETE", `/v1/owner/customers/${id}`, { headers: ownerAuth(b) });
    expect(d.body).toEqual({ success: true, message: "Customer deleted permanently" });

    expectError(await getCustomer(b, id), 404, "not_found", "customer not found");
    expectError(await rest(t.url, "DELETE", `/v1/owner/customers/${id}`, { headers: ownerAuth(b) }), 404, "not_found");
    expectError(await rest(t.url, "GET", `/v1/pos/balance/${encodeURIComponent(phone)}`, { headers: posAuth(b) }), 404, "not_found");
    expect(await t.sql("select 1 from customer where id = $1", [id])).toHaveLength(0);
    expect(await ledgerCount(id)).toBe(0);
    expect(await t.sql("select 1 from redemption where customer_id = $1", [id])).toHaveLength(0);

    const audit = await t.sql("select * from audit_event where subject_id = $1 and action = 'customer.deleted'", [id]);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ business_id: b.businessId, actor_id: b.ownerId });
    const everything = JSON.stringify(await t.sql("select * from audit_event where subject_id = $1", [id]));
    for (const pii of ["Siobhan", "Delete-Me", "861234567", "secret note"]) expect(everything).not.toContain(pii);

    const again = await create(b, { name: "New owner of the number", phone });
    expect(again.status, again.text).toBe(200);
    expect(again.body.customer.totalPoints).toBe(0);
  });
});

describe("API keys", () => {
  test("create shows loy_ + 32 base62 once; the list never holds the secret; only a SHA-256 is stored", async () => {
    const b = await registerBusiness(t.url);
    const r = await rest(t.url, "POST", "/v1/owner/api-keys", { body: { name: "till 2" }, headers: ownerAuth(b) });
    expect(r.status, r.text).toBe(200);
    expect(keysOf(r.body)).toEqual(["apiKey", "createdAt", "id", "prefix", "success"]);
    expect(r.body.apiKey).toMatch(/^loy_[A-Za-z0-9]{32}$/);
    expect(r.body.apiKey.startsWith(r.body.prefix)).toBe(true);
    expect(r.body.prefix.length).toBeLessThan(r.body.apiKey.length);

    const l = await rest(t.url, "GET", "/v1/owner/api-keys", { headers: ownerAuth(b) });
    expect(l.status).toBe(200);
    expect(keysOf(l.body)).toEqual(["apiKeys"]);
    expect(l.body.apiKeys).toHaveLength(2);
    const listed = l.body.apiKeys.find((k: { id: string }) => k.id === r.body.id);
    expect(listed).toMatchObject({ id: r.body.id, name: "till 2", prefix: r.body.prefix, storeId: "", createdAt: expect.any(String) });
    for (const k of l.body.apiKeys) {
      for (const key of Object.keys(k)) expect(["id", "name", "prefix", "storeId", "createdAt", "lastUsedAt", "revokedAt"]).toContain(key);
    }
    expect(l.text).not.toContain(r.body.apiKey);
    expect(l.text).not.toContain(b.apiKey);
    expect(l.text).not.toContain(r.body.apiKey.slice(4));

    const stored = JSON.stringify(await t.sql("select * from api_key where id = $1", [r.body.id]));
    expect(stored).not.toContain(r.body.apiKey.slice(4));
    expect(stored).toContain(createHash("sha256").update(r.body.apiKey).digest("hex"));
  });

  test("a revoked key gets 401 at once; other keys keep working", async () => {
    const b = await registerBusiness(t.url);
    const k = await rest(t.url, "POST", "/v1/owner/api-keys", { body: { name: "to revoke" }, headers: ownerAuth(b) });
    const key = k.body.apiKey as string;
    const call = (apiKey: string) => rest(t.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: { "x-api-key": apiKey } });
    // Used once, so it is in the cache when revoked.
    expectError(await call(key), 404, "not_found");
    const rv = await rest(t.url, "DELETE", `/v1/owner/api-keys/${k.body.id}`, { headers: ownerAuth(b) });
    expect(rv.status, rv.text).toBe(200);
    expect(rv.body).toEqual({ success: true });
    const denied = await call(key);
    expectError(denied, 401, "unauthenticated");
    const ck = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353123456789", amount: 5 }, headers: { "x-api-key": key } });
    expectError(ck, 401, "unauthenticated");
    expect(await t.sql("select 1 from customer where business_id = $1", [b.businessId])).toHaveLength(0);
    expectError(await call(b.apiKey), 404, "not_found");

    const l = await rest(t.url, "GET", "/v1/owner/api-keys", { headers: ownerAuth(b) });
    const revoked = l.body.apiKeys.find((x: { id: string }) => x.id === k.body.id);
    expect(Date.parse(revoked.revokedAt)).toBeGreaterThan(Date.now() - 120_000);
    expectError(await rest(t.url, "DELETE", "/v1/owner/api-keys/zq0000000000000000000000", { headers: ownerAuth(b) }), 404, "not_found");
  });

  test("a key bound to a store records that store on its check-ins", async () => {
    const b = await registerBusiness(t.url);
    const s = await rest(t.url, "POST", "/v1/owner/stores", { body: { name: "Till store" }, headers: ownerAuth(b) });
    const k = await rest(t.url, "POST", "/v1/owner/api-keys", { body: { name: "bound", storeId: s.body.store.id }, headers: ownerAuth(b) });
    expect(k.status, k.text).toBe(200);
    const ck = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: freshPhone(), amount: 5 }, headers: { "x-api-key": k.body.apiKey } });
    const g = await getCustomer(b, ck.body.customerId);
    expect(g.body.pointsHistory[0]).toMatchObject({ storeId: s.body.store.id, apiKeyId: k.body.id });
    const l = await rest(t.url, "GET", "/v1/owner/api-keys", { headers: ownerAuth(b) });
    expect(l.body.apiKeys.find((x: { id: string }) => x.id === k.body.id).storeId).toBe(s.body.store.id);
  });
});

describe("stores", () => {
  test("create returns {success, store: {id, name}}; list returns {stores: [...]}, oldest first", async () => {
    const b = await registerBusiness(t.url);
    const empty = await rest(t.url, "GET", "/v1/owner/stores", { headers: ownerAuth(b) });
    expect(empty.body).toEqual({ stores: [] });
    const s1 = await rest(t.url, "POST", "/v1/owner/stores", { body: { name: "Main St" }, headers: ownerAuth(b) });
    expect(s1.status, s1.text).toBe(200);
    expect(keysOf(s1.body)).toEqual(["store", "success"]);
    expect(s1.body.store).toMatchObject({ id: expect.any(String), name: "Main St" });
    const s2 = await rest(t.url, "POST", "/v1/owner/stores", { body: { name: "Quay St" }, headers: ownerAuth(b) });
    const l = await rest(t.url, "GET", "/v1/owner/stores", { headers: ownerAuth(b) });
    expect(keysOf(l.body)).toEqual(["stores"]);
    expect(l.body.stores.map((s: { id: string; name: string }) => [s.id, s.name])).toEqual([
      [s1.body.store.id, "Main St"],
      [s2.body.store.id, "Quay St"],
    ]);
    expectError(await rest(t.url, "POST", "/v1/owner/stores", { body: { name: "" }, headers: ownerAuth(b) }), 400, "invalid_argument", /name/);
  });
});

describe("invariant", () => {
  test("after a sequence of operations every customer's total equals the sum of its ledger", async () => {
    const b = await registerBusiness(t.url, { rewardThreshold: 50 });
    const pos = (path: string, body: unknown) => rest(t.url, "POST", path, { body, headers: posAuth(b) });
    const p1 = freshPhone();
    const p2 = freshPhone();
    const c1 = (await create(b, { name: "Inv One", phone: p1, initialPoints: 20 })).body.customer.id;
    const c2 = (await create(b, { name: "Inv Two", phone: p2 })).body.customer.id;
    await pos("/v1/pos/checkin", { phone: p1, amount: 45.67 });
    await pos("/v1/pos/checkin", { customerId: c2, amount: 120 });
    await pos("/v1/pos/redeem", { phone: p2, points: 100 });
    await pos("/v1/pos/redeem", { phone: p1, points: 150 }); // refused: not enough
    await adjust(b, c1, { points: -15, reason: "correction" });
    await adjust(b, c2, { points: -500, reason: "refused" }); // refused: past zero
    await pos("/v1/pos/redeem", { customerId: c1, points: 50 });
    const enrol = await pos("/v1/pos/checkin", { phone: freshPhone(), amount: 3 });
    await rest(t.url, "DELETE", `/v1/owner/customers/${enrol.body.customerId}`, { headers: ownerAuth(b) });

    expect((await getCustomer(b, c1)).body.totalPoints).toBe(20 + 45 - 15 - 50);
    expect((await getCustomer(b, c2)).body.totalPoints).toBe(20);

    // Across every customer of every test in this file.
    const mismatches = await t.sql(
      `select c.id, c.total_points, coalesce(sum(l.delta), 0)::int as ledger_sum
       from customer c left join ledger_entry l on l.customer_id = c.id
       group by c.id, c.total_points having c.total_points <> coalesce(sum(l.delta), 0)`,
    );
    expect(mismatches).toEqual([]);
    // The newest ledger row's balanceAfter is the balance, and every running balance is ≥ 0.
    const lastRows = await t.sql(
      `select c.id from customer c join lateral (
         select balance_after from ledger_entry l where l.customer_id = c.id order by created_at desc, id desc limit 1
       ) last on true where last.balance_after <> c.total_points`,
    );
    expect(lastRows).toEqual([]);
    expect(await t.sql("select 1 from ledger_entry where balance_after < 0 union all select 1 from customer where total_points < 0")).toEqual([]);
    const orphans = await t.sql("select 1 from ledger_entry l left join customer c on c.id = l.customer_id where c.id is null");
    expect(orphans).toEqual([]);
  });
});

describe("GET /v1/owner/account", () => {
  test("names the token's business and owner, and needs an owner token", async () => {
    const b = await registerBusiness(t.url);
    const res = await rest(t.url, "GET", "/v1/owner/account", { headers: ownerAuth(b) });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ businessId: b.businessId, businessName: "Test Café", ownerId: b.ownerId, email: b.email });
    expectError(await rest(t.url, "GET", "/v1/owner/account", { headers: posAuth(b) }), 401, "unauthenticated");
  });
});
