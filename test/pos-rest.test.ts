/**
 * Contract §4 (points rules) for the POS endpoints over plain HTTP: SPEND,
 * UNIT and VISIT check-ins, enrolment, stores, identifier look-ups,
 * redemption, BLOCKED customers and rewardAvailable.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business, type RestResponse } from "./support/rest.js";
import { expectError } from "./support/assertions.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const PHONE = "+353123456789";

/** Asserts the contract's error shape, status, code and (part of) the message. */

const checkin = (b: Business, body: unknown) => rest(t.url, "POST", "/v1/pos/checkin", { body, headers: posAuth(b) });
const checkinRaw = (b: Business, rawBody: string) =>
  rest(t.url, "POST", "/v1/pos/checkin", { rawBody, headers: { ...posAuth(b), "content-type": "application/json" } });
const redeem = (b: Business, body: unknown) => rest(t.url, "POST", "/v1/pos/redeem", { body, headers: posAuth(b) });
const balance = async (b: Business, identifier: string) => {
  const r = await rest(t.url, "GET", `/v1/pos/balance/${identifier}`, { headers: posAuth(b) });
  expect(r.status, r.text).toBe(200);
  return r.body.totalPoints as number;
};
const program = async (b: Business, body: Record<string, unknown>) => {
  const r = await rest(t.url, "PATCH", "/v1/owner/program", { body, headers: ownerAuth(b) });
  expect(r.status, r.text).toBe(200);
  return r.body.program;
};
const createCustomer = async (b: Business, body: Record<string, unknown>) => {
  const r = await rest(t.url, "POST", "/v1/owner/customers", { body, headers: ownerAuth(b) });
  expect(r.status, r.text).toBe(200);
  return r.body.customer.id as string;
};
const ledgerCount = async (customerId: string) =>
  Number((await t.sql<{ n: string }>("select count(*) as n from ledger_entry where customer_id = $1", [customerId]))[0]!.n);

/** A distinct Irish-looking number per call, so tests never share a customer. */
let phoneSeq = 0;
const freshPhone = () => `+35387${String(1_000_000 + phoneSeq++).padStart(7, "0")}`;

describe("SPEND mode (the default: 1 point per currency unit)", () => {
  let b: Business;
  beforeAll(async () => {
    b = await registerBusiness(t.url);
  });

  test.each([
    ["25.50", 25],
    ["25.5", 25],
    ["19.99", 19],
    ["0.01", 0],
    ["0.99", 0],
    ["1", 1],
    ["100.00", 100],
    ["1000000", 1_000_000],
    ["1000000.00", 1_000_000],
  ])("amount %s → %i points (floor, exact decimal)", async (amount, points) => {
    const phone = freshPhone();
    const r = await checkinRaw(b, `{"phone": "${phone}", "amount": ${amount}}`);
    expect(r.status, r.text).toBe(200);
    expect(r.body.pointsAwarded).toBe(points);
    expect(r.body.totalPoints).toBe(points);
    expect(await balance(b, phone)).toBe(points);
  });

  test.each([
    ["1000000.01", "1000000.01"],
    ["1000001", "1000001"],
    ["3 decimals", "1.234"],
    ["3 decimals (trailing zero is still 2)", "25.505"],
    ["zero", "0"],
    ["zero with decimals", "0.00"],
    ["negative", "-5"],
    ["negative cent", "-0.01"],
    ['the string "NaN"', '"NaN"'],
    ['the string "Infinity"', '"Infinity"'],
    ['the string "-Infinity"', '"-Infinity"'],
    ["a word", '"abc"'],
    ["null", "null"],
    ["an object", "{}"],
    ["a huge exponent", "1e400"],
  ])("amount %s → 400 naming amount, nothing written", async (_label, amount) => {
    const phone = freshPhone();
    const r = await checkinRaw(b, `{"phone": "${phone}", "amount": ${amount}}`);
    // (proto3 JSON reads null as "absent": then the mode's required field is missing.)
    expectError(r, 400, "invalid_argument", /amount/);
    const rows = await t.sql("select 1 from customer where phone = $1", [phone]);
    expect(rows).toHaveLength(0);
  });

  test("amount is required in SPEND mode (400 naming amount); units alone do not count", async () => {
    const phone = freshPhone();
    expectError(await checkin(b, { phone }), 400, "invalid_argument", /amount/);
    expectError(await checkin(b, { phone, units: 3 }), 400, "invalid_argument", /amount/);
    expect(await t.sql("select 1 from customer where phone = $1", [phone])).toHaveLength(0);
  });

  test("units are ignored in SPEND mode, even ones UNIT mode would refuse", async () => {
    const phone = freshPhone();
    const r = await checkin(b, { phone, amount: 10, units: 3 });
    expect(r.body.pointsAwarded).toBe(10);
    const r2 = await checkin(b, { phone, amount: 10, units: 99_999 });
    expect(r2.status, r2.text).toBe(200);
    expect(r2.body).toMatchObject({ pointsAwarded: 10, totalPoints: 20 });
  });

  test("a fractional rate is applied in exact decimal (no binary rounding)", async () => {
    const b2 = await registerBusiness(t.url, { pointsPerCurrencyUnit: 1.5 });
    // 19.99 × 1.5 = 29.985 → 29
    expect((await checkin(b2, { phone: freshPhone(), amount: 19.99 })).body.pointsAwarded).toBe(29);
    await program(b2, { pointsPerCurrencyUnit: 100 });
    // In binary floating point 1.15 × 100 = 114.99999999999999, 0.29 × 100 = 28.999999999999996,
    // 4.35 × 100 = 434.99999999999994 and 0.57 × 10000 / 100 = 56.99999999999999.
    for (const [amount, points] of [[1.15, 115], [0.29, 29], [4.35, 435], [0.57, 57]] as const) {
      expect((await checkin(b2, { phone: freshPhone(), amount })).body.pointsAwarded, String(amount)).toBe(points);
    }
    await program(b2, { pointsPerCurrencyUnit: 0.1 });
    // 0.3 × 0.1 in floats is 0.030000000000000002; 10.00 × 0.1 = 1 exactly.
    expect((await checkin(b2, { phone: freshPhone(), amount: 10 })).body.pointsAwarded).toBe(1);
    expect((await checkin(b2, { phone: freshPhone(), amount: 9.99 })).body.pointsAwarded).toBe(0);
  });
});

describe("UNIT mode", () => {
  let b: Business;
  beforeAll(async () => {
    b = await registerBusiness(t.url, { mode: "UNIT", pointsPerUnit: 3 });
  });

  test.each([
    [1, 3],
    [4, 12],
    [10_000, 30_000],
  ])("units %i → %i points (units × pointsPerUnit)", async (units, points) => {
    const r = await checkin(b, { phone: freshPhone(), units });
    expect(r.status, r.text).toBe(200);
    expect(r.body.pointsAwarded).toBe(points);
    expect(r.body.totalPoints).toBe(points);
  });

  test.each([
    ["0", "0"],
    ["10001", "10001"],
    ["2.5", "2.5"],
    ["negative", "-1"],
    ["a word", '"three"'],
  ])("units %s → 400 naming units, nothing written", async (_label, units) => {
    const phone = freshPhone();
    const r = await checkinRaw(b, `{"phone": "${phone}", "units": ${units}}`);
    expectError(r, 400, "invalid_argument", /units/);
    expect(await t.sql("select 1 from customer where phone = $1", [phone])).toHaveLength(0);
  });

  test("units is required in UNIT mode (400 naming units); amount alone does not count", async () => {
    const phone = freshPhone();
    expectError(await checkin(b, { phone }), 400, "invalid_argument", /units/);
    expectError(await checkin(b, { phone, amount: 25.5 }), 400, "invalid_argument", /units/);
    expect(await t.sql("select 1 from customer where phone = $1", [phone])).toHaveLength(0);
  });

  test("amount is ignored in UNIT mode, even one SPEND mode would refuse", async () => {
    const phone = freshPhone();
    expect((await checkin(b, { phone, units: 2, amount: 25.5 })).body).toMatchObject({ pointsAwarded: 6, totalPoints: 6 });
    const r = await checkin(b, { phone, units: 2, amount: 1.234 });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ pointsAwarded: 6, totalPoints: 12 });
  });
});

describe("VISIT mode", () => {
  test("every check-in earns pointsPerVisit, whatever amount or units say", async () => {
    const b = await registerBusiness(t.url, { mode: "VISIT", pointsPerVisit: 7 });
    const phone = freshPhone();
    expect((await checkin(b, { phone })).body).toMatchObject({ pointsAwarded: 7, totalPoints: 7 });
    expect((await checkin(b, { phone, amount: 500 })).body).toMatchObject({ pointsAwarded: 7, totalPoints: 14 });
    expect((await checkin(b, { phone, units: 40 })).body).toMatchObject({ pointsAwarded: 7, totalPoints: 21 });
    const p = await rest(t.url, "GET", "/v1/owner/program", { headers: ownerAuth(b) });
    expect(p.body.program).toMatchObject({ mode: "VISIT", pointsPerVisit: 7 });
  });
});

describe("identifying the customer at check-in", () => {
  let b: Business;
  beforeAll(async () => {
    b = await registerBusiness(t.url);
  });

  test("an unknown phone enrols a new ACTIVE customer, stored in E.164", async () => {
    const r = await checkin(b, { phone: "087 765 4321", amount: 12.34 });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toEqual({
      success: true,
      customerId: expect.any(String),
      pointsAwarded: 12,
      totalPoints: 12,
      rewardThreshold: 100,
      rewardAvailable: false,
      checkinId: expect.any(String),
    });
    const c = await rest(t.url, "GET", `/v1/pos/customer/${r.body.customerId}`, { headers: posAuth(b) });
    expect(c.body).toEqual({
      customerId: r.body.customerId,
      name: "",
      phone: "+353877654321",
      status: "ACTIVE",
      totalPoints: 12,
      rewardAvailable: false,
      lifetimePoints: 12,
    });
    // The same phone again credits the same customer.
    const again = await checkin(b, { phone: "+353877654321", amount: 1 });
    expect(again.body).toMatchObject({ customerId: r.body.customerId, totalPoints: 13 });
    const hist = await rest(t.url, "GET", `/v1/owner/customers/${r.body.customerId}`, { headers: ownerAuth(b) });
    expect(hist.body.pointsHistory.map((e: { type: string; reason: string; delta: number }) => [e.type, e.reason, e.delta])).toEqual([
      ["CHECKIN", "Visit", 1],
      ["CHECKIN", "Visit", 12],
    ]);
  });

  test("an unknown customerId → 404 not_found, and no customer is enrolled", async () => {
    const before = await t.sql("select count(*) as n from customer");
    const r = await checkin(b, { customerId: "zq0000000000000000000000", amount: 10 });
    expectError(r, 404, "not_found", "customer not found");
    expect(await t.sql("select count(*) as n from customer")).toEqual(before);
  });

  test("neither phone nor customerId → 400", async () => {
    expectError(await checkin(b, { amount: 10 }), 400, "invalid_argument", /phone|customerId/);
  });

  test("what cannot be a phone number → 400 naming phone", async () => {
    for (const phone of ["hello", "12", "+35312345678901234567", "+1 (555)"]) {
      expectError(await checkin(b, { phone, amount: 10 }), 400, "invalid_argument", /phone/);
    }
  });

  test("the reference's own example numbers (not assigned in Ireland) are accepted", async () => {
    for (const phone of ["+353123456789", "+353987654321"]) {
      const r = await checkin(b, { phone, amount: 1 });
      expect(r.status, r.text).toBe(200);
    }
  });
});

describe("stores", () => {
  test("own store is recorded on the ledger entry; unknown or another business's store → 400 naming storeId", async () => {
    const b = await registerBusiness(t.url);
    const other = await registerBusiness(t.url);
    const own = await rest(t.url, "POST", "/v1/owner/stores", { body: { name: "Main St" }, headers: ownerAuth(b) });
    const foreign = await rest(t.url, "POST", "/v1/owner/stores", { body: { name: "Elsewhere" }, headers: ownerAuth(other) });
    expect(own.status).toBe(200);
    expect(foreign.status).toBe(200);
    const phone = freshPhone();

    const ok = await checkin(b, { phone, amount: 10, storeId: own.body.store.id });
    expect(ok.status, ok.text).toBe(200);
    const id = ok.body.customerId;

    for (const storeId of [foreign.body.store.id, "zq0000000000000000000000", "no such store!"]) {
      const r = await checkin(b, { phone, amount: 10, storeId });
      expectError(r, 400, "invalid_argument", /storeId/);
      const rd = await redeem(b, { phone, points: 100, storeId });
      expectError(rd, 400, "invalid_argument", /storeId/);
    }
    expect(await balance(b, phone)).toBe(10);
    expect(await ledgerCount(id)).toBe(1);

    const plain = await checkin(b, { phone, amount: 90 });
    expect(plain.body.totalPoints).toBe(100);
    const rd = await redeem(b, { phone, points: 100, storeId: own.body.store.id });
    expect(rd.status, rd.text).toBe(200);

    const hist = await rest(t.url, "GET", `/v1/owner/customers/${id}`, { headers: ownerAuth(b) });
    expect(hist.body.pointsHistory.map((e: { type: string; storeId: string }) => [e.type, e.storeId])).toEqual([
      ["REDEMPTION", own.body.store.id],
      ["CHECKIN", ""],
      ["CHECKIN", own.body.store.id],
    ]);
    const rows = await t.sql<{ store_id: string | null }>(
      "select store_id from ledger_entry where customer_id = $1 order by created_at",
      [id],
    );
    expect(rows.map((x) => x.store_id)).toEqual([own.body.store.id, null, own.body.store.id]);
  });
});

describe("identifier look-ups", () => {
  let b: Business;
  let id: string;
  beforeAll(async () => {
    b = await registerBusiness(t.url);
    id = await createCustomer(b, { name: "Aoife Murphy", phone: PHONE, initialPoints: 42 });
  });

  test.each([
    ["the id", () => id],
    ["raw +353…", () => "+353123456789"],
    ["%2B353…", () => "%2B353123456789"],
    ["national 0123456789", () => "0123456789"],
    ["international 00353123456789", () => "00353123456789"],
    ["with spaces (+353 12 345 6789)", () => "+353%2012%20345%206789"],
    ["with spaces, encoded plus (%2B353 12 345 6789)", () => "%2B353%2012%20345%206789"],
    ["national with spaces (012 345 6789)", () => "012%20345%206789"],
  ])("by %s: customer and balance", async (_label, identifier) => {
    const c = await rest(t.url, "GET", `/v1/pos/customer/${identifier()}`, { headers: posAuth(b) });
    expect(c.status, c.text).toBe(200);
    expect(c.body).toEqual({
      customerId: id,
      name: "Aoife Murphy",
      phone: PHONE,
      status: "ACTIVE",
      totalPoints: 42,
      rewardAvailable: false,
      lifetimePoints: 42,
    });
    const bal = await rest(t.url, "GET", `/v1/pos/balance/${identifier()}`, { headers: posAuth(b) });
    expect(bal.status, bal.text).toBe(200);
    expect(bal.body).toEqual({ customerId: id, totalPoints: 42 });
  });

  test("check-in and redeem by the typed forms of the phone reach the same customer", async () => {
    const b2 = await registerBusiness(t.url);
    const cid = await createCustomer(b2, { name: "Sean", phone: PHONE, initialPoints: 100 });
    for (const phone of ["0123456789", "00353123456789", "+353 12 345 6789", "(012) 345-6789"]) {
      const r = await checkin(b2, { phone, amount: 1 });
      expect(r.status, r.text).toBe(200);
      expect(r.body.customerId).toBe(cid);
    }
    const rd = await redeem(b2, { phone: "0123456789", points: 100 });
    expect(rd.body).toMatchObject({ success: true, remainingPoints: 4 });
  });

  test("an unknown phone or id on a look-up → 404 not_found (look-ups never enrol)", async () => {
    for (const identifier of ["+353861111111", "zq0000000000000000000000"]) {
      expectError(await rest(t.url, "GET", `/v1/pos/customer/${identifier}`, { headers: posAuth(b) }), 404, "not_found", "customer not found");
      expectError(await rest(t.url, "GET", `/v1/pos/balance/${identifier}`, { headers: posAuth(b) }), 404, "not_found", "customer not found");
    }
    expect(await t.sql("select 1 from customer where phone = '+353861111111'")).toHaveLength(0);
  });
});

describe("redeem", () => {
  test("points must be the threshold or a whole multiple of it; the balance goes down by exactly that", async () => {
    const b = await registerBusiness(t.url, { rewardTitle: "Free Coffee" });
    const phone = freshPhone();
    const id = await createCustomer(b, { name: "R", phone, initialPoints: 350 });
    for (const points of [50, 150, 99, 101, 0, -100]) {
      expectError(await redeem(b, { phone, points }), 400, "invalid_argument", /points/);
    }
    expectError(
      await rest(t.url, "POST", "/v1/pos/redeem", { rawBody: `{"phone":"${phone}","points":100.5}`, headers: { ...posAuth(b), "content-type": "application/json" } }),
      400,
      "invalid_argument",
      /points/,
    );
    expect(await balance(b, phone)).toBe(350);
    expect(await ledgerCount(id)).toBe(1);

    const one = await redeem(b, { phone, points: 100 });
    expect(one.body).toEqual({ success: true, redemptionId: expect.any(String), pointsRedeemed: 100, rewardTitle: "Free Coffee", remainingPoints: 250 });
    const two = await redeem(b, { customerId: id, points: 200 });
    expect(two.body).toMatchObject({ success: true, pointsRedeemed: 200, remainingPoints: 50 });
    expect(two.body.redemptionId).not.toBe(one.body.redemptionId);

    const hist = await rest(t.url, "GET", `/v1/owner/customers/${id}`, { headers: ownerAuth(b) });
    expect(hist.body.pointsHistory.slice(0, 2)).toMatchObject([
      { delta: -200, type: "REDEMPTION", balanceAfter: 50 },
      { delta: -100, type: "REDEMPTION", balanceAfter: 250 },
    ]);
    const red = await t.sql<{ id: string; points: number }>("select id, points from redemption where customer_id = $1 order by created_at", [id]);
    expect(red).toEqual([
      { id: one.body.redemptionId, points: 100 },
      { id: two.body.redemptionId, points: 200 },
    ]);
  });

  test('short of points → 400 failed_precondition "insufficient points", and nothing changes', async () => {
    const b = await registerBusiness(t.url);
    const phone = freshPhone();
    const id = await createCustomer(b, { name: "Short", phone, initialPoints: 150 });
    const ledgerBefore = await ledgerCount(id);
    const redemptionsBefore = await t.sql("select count(*) as n from redemption");

    expectError(await redeem(b, { phone, points: 200 }), 400, "failed_precondition", "insufficient points");
    expectError(await redeem(b, { customerId: id, points: 1000 }), 400, "failed_precondition", "insufficient points");

    expect(await balance(b, phone)).toBe(150);
    expect(await ledgerCount(id)).toBe(ledgerBefore);
    expect(await t.sql("select count(*) as n from redemption")).toEqual(redemptionsBefore);

    // 150 → one reward of 100 → 50 → a second one is refused: never below zero.
    expect((await redeem(b, { phone, points: 100 })).body.remainingPoints).toBe(50);
    expectError(await redeem(b, { phone, points: 100 }), 400, "failed_precondition", "insufficient points");
    expect(await balance(b, phone)).toBe(50);
    const neg = await t.sql("select 1 from customer where total_points < 0 union all select 1 from ledger_entry where balance_after < 0");
    expect(neg).toHaveLength(0);
  });

  test("a redeem for an unknown phone or id → 404 and enrols nobody", async () => {
    const b = await registerBusiness(t.url);
    const phone = freshPhone();
    expectError(await redeem(b, { phone, points: 100 }), 404, "not_found", "customer not found");
    expectError(await redeem(b, { customerId: "zq0000000000000000000000", points: 100 }), 404, "not_found", "customer not found");
    expect(await t.sql("select 1 from customer where phone = $1", [phone])).toHaveLength(0);
  });

  test("the redemption follows the program's threshold when the owner changes it", async () => {
    const b = await registerBusiness(t.url, { rewardThreshold: 30, rewardTitle: "Free Muffin" });
    const phone = freshPhone();
    await createCustomer(b, { name: "M", phone, initialPoints: 100 });
    expectError(await redeem(b, { phone, points: 100 }), 400, "invalid_argument", /points/);
    expect((await redeem(b, { phone, points: 90 })).body).toMatchObject({ pointsRedeemed: 90, rewardTitle: "Free Muffin", remainingPoints: 10 });
  });
});

describe("BLOCKED customers", () => {
  test('check-in and redeem → 403 "customer is blocked"; look-ups show BLOCKED; nothing changes; owners may still adjust', async () => {
    const b = await registerBusiness(t.url);
    const phone = freshPhone();
    const id = await createCustomer(b, { name: "Blocked Bob", phone, initialPoints: 200 });
    const block = await rest(t.url, "PATCH", `/v1/owner/customers/${id}`, { body: { status: "BLOCKED" }, headers: ownerAuth(b) });
    expect(block.status, block.text).toBe(200);
    const ledgerBefore = await ledgerCount(id);

    expectError(await checkin(b, { phone, amount: 10 }), 403, "permission_denied", "customer is blocked");
    expectError(await checkin(b, { customerId: id, amount: 10 }), 403, "permission_denied", "customer is blocked");
    expectError(await redeem(b, { phone, points: 100 }), 403, "permission_denied", "customer is blocked");
    expectError(await redeem(b, { customerId: id, points: 100 }), 403, "permission_denied", "customer is blocked");

    const c = await rest(t.url, "GET", `/v1/pos/customer/${encodeURIComponent(phone)}`, { headers: posAuth(b) });
    expect(c.status).toBe(200);
    expect(c.body).toEqual({ customerId: id, name: "Blocked Bob", phone, status: "BLOCKED", totalPoints: 200, rewardAvailable: true, lifetimePoints: 200 });
    const byId = await rest(t.url, "GET", `/v1/pos/customer/${id}`, { headers: posAuth(b) });
    expect(byId.body.status).toBe("BLOCKED");
    expect(await balance(b, id)).toBe(200);
    expect(await ledgerCount(id)).toBe(ledgerBefore);
    const row = await t.sql<{ last_visit_at: unknown; status: string }>("select last_visit_at, status from customer where id = $1", [id]);
    expect(row).toEqual([{ last_visit_at: null, status: "BLOCKED" }]);

    const adj = await rest(t.url, "POST", `/v1/owner/customers/${id}/points`, { body: { points: -50, reason: "Fraud review" }, headers: ownerAuth(b) });
    expect(adj.body).toEqual({ success: true, newBalance: 150, adjustment: -50 });

    const unblock = await rest(t.url, "PATCH", `/v1/owner/customers/${id}`, { body: { status: "ACTIVE" }, headers: ownerAuth(b) });
    expect(unblock.body.customer.status).toBe("ACTIVE");
    expect((await checkin(b, { phone, amount: 10 })).body).toMatchObject({ customerId: id, totalPoints: 160 });
    expect((await redeem(b, { phone, points: 100 })).body).toMatchObject({ remainingPoints: 60 });
  });
});

describe("rewardAvailable = totalPoints ≥ rewardThreshold", () => {
  test("false at threshold − 1, true at the threshold and above, false again after a redemption", async () => {
    const b = await registerBusiness(t.url);
    const phone = freshPhone();
    const lookup = async () => (await rest(t.url, "GET", `/v1/pos/customer/${encodeURIComponent(phone)}`, { headers: posAuth(b) })).body;

    const r0 = await checkin(b, { phone, amount: 99.99 });
    expect(r0.body).toEqual({ success: true, customerId: expect.any(String), pointsAwarded: 99, totalPoints: 99, rewardThreshold: 100, rewardAvailable: false, checkinId: expect.any(String) });
    // false is emitted, not omitted
    expect(r0.text).toContain('"rewardAvailable":false');
    expect((await lookup()).rewardAvailable).toBe(false);

    const r1 = await checkin(b, { phone, amount: 1 });
    expect(r1.body).toMatchObject({ totalPoints: 100, rewardAvailable: true });
    expect((await lookup()).rewardAvailable).toBe(true);

    expect((await checkin(b, { phone, amount: 0.5 })).body).toMatchObject({ pointsAwarded: 0, totalPoints: 100, rewardAvailable: true });

    await program(b, { rewardThreshold: 101 });
    expect((await lookup()).rewardAvailable).toBe(false);
    const r2 = await checkin(b, { phone, amount: 1 });
    expect(r2.body).toMatchObject({ totalPoints: 101, rewardThreshold: 101, rewardAvailable: true });

    await redeem(b, { phone, points: 101 });
    expect(await lookup()).toMatchObject({ totalPoints: 0, rewardAvailable: false });
  });

  test("a customer with zero points shows totalPoints 0 and rewardAvailable false explicitly", async () => {
    const b = await registerBusiness(t.url);
    const id = await createCustomer(b, { name: "Zero", phone: freshPhone() });
    const r = await rest(t.url, "GET", `/v1/pos/customer/${id}`, { headers: posAuth(b) });
    expect(r.text).toContain('"totalPoints":0');
    expect(r.text).toContain('"rewardAvailable":false');
    const bal = await rest(t.url, "GET", `/v1/pos/balance/${id}`, { headers: posAuth(b) });
    expect(bal.text).toBe(`{"customerId":"${id}","totalPoints":0}`);
  });
});
