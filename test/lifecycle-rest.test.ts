/**
 * Issue 14 / contract §8 over REST: order references, refunds (proration at
 * the edges), voided redemptions, owner redeem, preview, negative balances,
 * bad input (a clear 400/404 and nothing written) and tenancy.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { LoyaltyPos } from "../gen/loyalty/v1/pos_pb.js";
import { isMutating } from "../src/transport/method-rules.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business, type RestResponse } from "./support/rest.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const CUID = /^[a-z][a-z0-9]{24}$/;
let phoneSeq = 0;
/** A fresh phone number per customer. */
const nextPhone = () => `+35386${String(1_000_000 + phoneSeq++).padStart(7, "0")}`;

const post = (b: Business, path: string, body: unknown, extra: Record<string, string> = {}) =>
  rest(t.url, "POST", path, { body, headers: { ...posAuth(b), ...extra } });
const ownerPost = (b: Business, path: string, body: unknown, extra: Record<string, string> = {}) =>
  rest(t.url, "POST", path, { body, headers: { ...ownerAuth(b), ...extra } });
const checkin = (b: Business, body: Record<string, unknown>, extra?: Record<string, string>) => post(b, "/v1/pos/checkin", body, extra);
const refund = (b: Business, body: Record<string, unknown>, extra?: Record<string, string>) => post(b, "/v1/pos/refund", body, extra);
const redeem = (b: Business, body: Record<string, unknown>) => post(b, "/v1/pos/redeem", body);
const voidIt = (b: Business, body: Record<string, unknown>) => post(b, "/v1/pos/redeem/void", body);
const balance = async (b: Business, id: string) => (await rest(t.url, "GET", `/v1/pos/balance/${id}`, { headers: posAuth(b) })).body.totalPoints;
const customer = async (b: Business, id: string) => (await rest(t.url, "GET", `/v1/owner/customers/${id}`, { headers: ownerAuth(b) })).body;

function expectError(r: RestResponse, status: number, code: string, message: string | RegExp) {
  expect(r.status, r.text).toBe(status);
  expect(r.body.success).toBe(false);
  expect(r.body.error.code).toBe(code);
  if (typeof message === "string") expect(r.body.error.message).toBe(message);
  else expect(r.body.error.message).toMatch(message);
}

/** Every row a business has that points live in. */
async function rowsOf(b: Business) {
  const q = (sql: string) => t.sql(sql, [b.businessId]);
  return {
    customers: await q("select * from customer where business_id = $1 order by id"),
    ledger: await q("select * from ledger_entry where business_id = $1 order by id"),
    redemptions: await q("select * from redemption where business_id = $1 order by id"),
    claims: await q("select * from order_ref_claim where business_id = $1 order by order_ref"),
    idempotency: await q("select * from idempotency_record where business_id = $1 order by key"),
    audit: await q("select * from audit_event where business_id = $1 order by id"),
  };
}

/** The ledger sum of every customer of the business equals its balance. */
async function expectLedgerMatchesBalances(b: Business) {
  const rows = await t.sql<{ id: string; total_points: number; sum: number | null }>(
    `select c.id, c.total_points, (select sum(delta)::int from ledger_entry l where l.customer_id = c.id) as sum
     from customer c where c.business_id = $1`,
    [b.businessId],
  );
  for (const r of rows) expect(r.sum ?? 0, r.id).toBe(r.total_points);
}

describe("check-in answers and ledger entries gain ids (§8)", () => {
  test("checkinId, then the history's id/checkinId/orderRef/amount, store and key names, and lifetimePoints", async () => {
    const b = await registerBusiness(t.url);
    const store = (await ownerPost(b, "/v1/owner/stores", { name: "Main St" })).body.store.id;
    const phone = nextPhone();
    const c = await checkin(b, { phone, amount: 25.5, orderRef: "R-1001", storeId: store });
    expect(c.status, c.text).toBe(200);
    expect(c.body).toEqual({
      success: true,
      customerId: expect.stringMatching(CUID),
      pointsAwarded: 25,
      totalPoints: 25,
      rewardThreshold: 100,
      rewardAvailable: false,
      checkinId: expect.stringMatching(CUID),
    });
    const got = await customer(b, c.body.customerId);
    expect(got.customer.lifetimePoints).toBe(25);
    expect(got.pointsHistory).toEqual([
      {
        id: c.body.checkinId,
        delta: 25,
        reason: "Visit",
        type: "CHECKIN",
        storeId: store,
        createdAt: expect.any(String),
        balanceAfter: 25,
        apiKeyId: b.apiKeyId,
        ownerId: "",
        redemptionId: "",
        checkinId: c.body.checkinId,
        orderRef: "R-1001",
        amount: 25.5,
        units: 0,
        storeName: "Main St",
        apiKeyName: "till 1",
        refundedPoints: 0,
        refundedAmount: 0,
        refundedUnits: 0,
        fullyRefunded: false,
        voided: false,
      },
    ]);
    const pos = await rest(t.url, "GET", `/v1/pos/customer/${c.body.customerId}`, { headers: posAuth(b) });
    expect(pos.body).toEqual({ customerId: c.body.customerId, name: "", phone, status: "ACTIVE", totalPoints: 25, rewardAvailable: false, lifetimePoints: 25 });
  });

  test("lifetimePoints: earned (check-ins, initial, positive adjustments) minus refunds; redemptions, voids and deductions leave it", async () => {
    const b = await registerBusiness(t.url, { rewardThreshold: 10 });
    const created = await ownerPost(b, "/v1/owner/customers", { name: "Lia", phone: nextPhone(), initialPoints: 40 });
    const id = created.body.customer.id;
    expect(created.body.customer.lifetimePoints).toBe(40);
    const c = await checkin(b, { customerId: id, amount: 30 });
    expect((await ownerPost(b, `/v1/owner/customers/${id}/points`, { points: 7, reason: "Goodwill" })).status).toBe(200);
    expect((await ownerPost(b, `/v1/owner/customers/${id}/points`, { points: -5, reason: "Correction" })).status).toBe(200);
    const r = await redeem(b, { customerId: id, points: 20 });
    expect((await voidIt(b, { redemptionId: r.body.redemptionId })).status).toBe(200);
    expect((await refund(b, { checkinId: c.body.checkinId, amount: 10 })).body.pointsReversed).toBe(10);
    const got = await customer(b, id);
    expect(got.customer).toMatchObject({ totalPoints: 40 + 30 + 7 - 5 - 20 + 20 - 10, lifetimePoints: 40 + 30 + 7 - 10 });
    const listed = await rest(t.url, "GET", "/v1/owner/customers", { headers: ownerAuth(b) });
    expect(listed.body.customers[0].lifetimePoints).toBe(67);
  });
});

describe("SPEND refunds: proration and rounding at the edges", () => {
  test("refund 0.01 of 25.50 → 0 points (200); then 10.00 → floor(25 × 10.01 ÷ 25.50) − 0 = 9; the rest → exactly 25 in all", async () => {
    const b = await registerBusiness(t.url);
    const c = await checkin(b, { phone: nextPhone(), amount: 25.5 });
    const id = c.body.checkinId;
    const r1 = await refund(b, { checkinId: id, amount: 0.01 });
    expect(r1.status, r1.text).toBe(200);
    expect(r1.body).toEqual({ success: true, refundId: expect.stringMatching(CUID), checkinId: id, pointsReversed: 0, totalPoints: 25 });
    const r2 = await refund(b, { checkinId: id, amount: 10 });
    expect(r2.body).toMatchObject({ pointsReversed: 9, totalPoints: 16 });
    const r3 = await refund(b, { checkinId: id });
    expect(r3.body).toMatchObject({ pointsReversed: 16, totalPoints: 0 });
    expectError(await refund(b, { checkinId: id, amount: 0.01 }), 400, "failed_precondition", "the check-in is already fully refunded");
    const got = await customer(b, c.body.customerId);
    expect(got.pointsHistory.map((e: any) => [e.type, e.delta, e.amount, e.checkinId, e.reason])).toEqual([
      ["REFUND", -16, 15.49, id, "Refund"],
      ["REFUND", -9, 10, id, "Refund"],
      ["REFUND", 0, 0.01, id, "Refund"],
      ["CHECKIN", 25, 25.5, id, "Visit"],
    ]);
    expect(got.pointsHistory[3]).toMatchObject({ refundedPoints: 25, refundedAmount: 25.5, fullyRefunded: true });
    expect(got.customer.lifetimePoints).toBe(0);
  });

  test("three partial refunds that together exceed the original: the third is refused and writes nothing", async () => {
    const b = await registerBusiness(t.url);
    const c = await checkin(b, { phone: nextPhone(), amount: 25.5 });
    const id = c.body.checkinId;
    expect((await refund(b, { checkinId: id, amount: 10 })).body).toMatchObject({ pointsReversed: 9, totalPoints: 16 });
    // floor(25 × 20.00 ÷ 25.50) = 19 in all → 10 more.
    expect((await refund(b, { checkinId: id, amount: 10 })).body).toMatchObject({ pointsReversed: 10, totalPoints: 6 });
    const before = await rowsOf(b);
    expectError(
      await refund(b, { checkinId: id, amount: 10 }),
      400,
      "failed_precondition",
      "amount is more than is left to refund of the check-in (5.50)",
    );
    expect(await rowsOf(b)).toEqual(before);
    // What is left is still refundable, and takes back exactly the remainder.
    expect((await refund(b, { checkinId: id, amount: 5.5 })).body).toMatchObject({ pointsReversed: 6, totalPoints: 0 });
  });

  test("a 1.5 points-per-euro program: 19.99 earns 29; refunds of 6.66 three times and 0.01 take back 9, 10, 9 and 1", async () => {
    const b = await registerBusiness(t.url, { pointsPerCurrencyUnit: 1.5 });
    const c = await checkin(b, { phone: nextPhone(), amount: 19.99 });
    expect(c.body.pointsAwarded).toBe(29);
    const id = c.body.checkinId;
    // floor(29 × 666 / 1999) = 9; floor(29 × 1332 / 1999) = 19; floor(29 × 1998 / 1999) = 28; the last cent → 29.
    const taken = [];
    for (const amount of [6.66, 6.66, 6.66, 0.01]) taken.push((await refund(b, { checkinId: id, amount })).body.pointsReversed);
    expect(taken).toEqual([9, 10, 9, 1]);
    expect(await balance(b, c.body.customerId)).toBe(0);
  });

  test("the rules follow the mode the check-in was credited under, not today's program", async () => {
    const b = await registerBusiness(t.url);
    const c = await checkin(b, { phone: nextPhone(), amount: 40 });
    expect((await rest(t.url, "PATCH", "/v1/owner/program", { body: { mode: "UNIT" }, headers: ownerAuth(b) })).status).toBe(200);
    expectError(await refund(b, { checkinId: c.body.checkinId, units: 1 }), 400, "invalid_argument", "units cannot be refunded on a SPEND check-in: give amount");
    expect((await refund(b, { checkinId: c.body.checkinId, amount: 20 })).body).toMatchObject({ pointsReversed: 20, totalPoints: 20 });
  });
});

describe("UNIT and VISIT refunds", () => {
  test("UNIT: per unit; amount on a UNIT check-in → 400; more units than left → 400 failed_precondition", async () => {
    const b = await registerBusiness(t.url, { mode: "UNIT", pointsPerUnit: 3 });
    const c = await checkin(b, { phone: nextPhone(), units: 5 });
    expect(c.body.pointsAwarded).toBe(15);
    const id = c.body.checkinId;
    expectError(await refund(b, { checkinId: id, amount: 1 }), 400, "invalid_argument", "amount cannot be refunded on a UNIT check-in: give units");
    expect((await refund(b, { checkinId: id, units: 2 })).body).toMatchObject({ pointsReversed: 6, totalPoints: 9 });
    expectError(await refund(b, { checkinId: id, units: 4 }), 400, "failed_precondition", "units is more than is left to refund of the check-in (3)");
    expectError(await refund(b, { checkinId: id, units: 0 }), 400, "invalid_argument", "units must be a whole number from 1 to 10000");
    expect((await refund(b, { checkinId: id })).body).toMatchObject({ pointsReversed: 9, totalPoints: 0 });
    const hist = (await customer(b, c.body.customerId)).pointsHistory;
    expect(hist.map((e: any) => [e.type, e.delta, e.units])).toEqual([
      ["REFUND", -9, 3],
      ["REFUND", -6, 2],
      ["CHECKIN", 15, 5],
    ]);
    expect(hist[2]).toMatchObject({ refundedUnits: 5, refundedPoints: 15, fullyRefunded: true, amount: 0 });
  });

  test("VISIT: a partial refund → 400 failed_precondition; the whole check-in → its points", async () => {
    const b = await registerBusiness(t.url, { mode: "VISIT", pointsPerVisit: 10 });
    const c = await checkin(b, { phone: nextPhone() });
    const id = c.body.checkinId;
    const before = await rowsOf(b);
    for (const body of [{ checkinId: id, amount: 5 }, { checkinId: id, units: 1 }]) {
      expectError(await refund(b, body), 400, "failed_precondition", "a visit check-in is refunded whole only: give neither amount nor units");
    }
    expect(await rowsOf(b)).toEqual(before);
    expect((await refund(b, { checkinId: id, reason: "Order cancelled" })).body).toMatchObject({ pointsReversed: 10, totalPoints: 0 });
    expectError(await refund(b, { checkinId: id }), 400, "failed_precondition", "the check-in is already fully refunded");
    const hist = (await customer(b, c.body.customerId)).pointsHistory;
    expect(hist.map((e: any) => [e.type, e.delta, e.reason])).toEqual([
      ["REFUND", -10, "Order cancelled"],
      ["CHECKIN", 10, "Visit"],
    ]);
    expect(hist[1].fullyRefunded).toBe(true);
  });
});

describe("order references", () => {
  test("a second credit of the same orderRef → 409 naming the checkinId; an Idempotency-Key retry replays; a fully refunded order may be rung again", async () => {
    const b = await registerBusiness(t.url);
    const phone = nextPhone();
    const first = await checkin(b, { phone, amount: 12, orderRef: "T1-0042" }, { "idempotency-key": "ring-1" });
    expect(first.status).toBe(200);
    const replay = await checkin(b, { phone, amount: 12, orderRef: "T1-0042" }, { "idempotency-key": "ring-1" });
    expect(replay.status).toBe(200);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body).toEqual(first.body);
    const message = `orderRef was already credited by check-in ${first.body.checkinId}`;
    // Another till, another customer, with or without its own key: refused.
    expectError(await checkin(b, { phone: nextPhone(), amount: 5, orderRef: "T1-0042" }), 409, "already_exists", message);
    expectError(await checkin(b, { phone, amount: 12, orderRef: "T1-0042" }, { "idempotency-key": "ring-2" }), 409, "already_exists", message);
    expect(await balance(b, first.body.customerId)).toBe(12);
    // The same orderRef in another business is another order.
    const other = await registerBusiness(t.url);
    expect((await checkin(other, { phone, amount: 12, orderRef: "T1-0042" })).status).toBe(200);
    // Refund by orderRef; a partial one keeps the claim, the one completing it frees it.
    expect((await refund(b, { orderRef: "T1-0042", amount: 2 })).body).toMatchObject({ checkinId: first.body.checkinId, pointsReversed: 2 });
    expectError(await checkin(b, { phone, amount: 12, orderRef: "T1-0042" }), 409, "already_exists", message);
    expect((await refund(b, { orderRef: "T1-0042" })).body).toMatchObject({ checkinId: first.body.checkinId, pointsReversed: 10, totalPoints: 0 });
    const again = await checkin(b, { phone, amount: 15, orderRef: "T1-0042" });
    expect(again.status, again.text).toBe(200);
    expect(again.body.totalPoints).toBe(15);
    // The orderRef now names the new check-in.
    expect((await refund(b, { orderRef: "T1-0042", amount: 5 })).body).toMatchObject({ checkinId: again.body.checkinId, pointsReversed: 5 });
    // ... and the old one by id is still fully refunded.
    expectError(await refund(b, { checkinId: first.body.checkinId }), 400, "failed_precondition", "the check-in is already fully refunded");
    await expectLedgerMatchesBalances(b);
  });

  test("orderRef on a redeem is recorded and names the redemption for a void", async () => {
    const b = await registerBusiness(t.url, { rewardThreshold: 10 });
    const c = await checkin(b, { phone: nextPhone(), amount: 30 });
    const r = await redeem(b, { customerId: c.body.customerId, points: 10, orderRef: "R-77" });
    expect(r.status).toBe(200);
    const hist = (await customer(b, c.body.customerId)).pointsHistory;
    expect(hist[0]).toMatchObject({ type: "REDEMPTION", orderRef: "R-77", redemptionId: r.body.redemptionId, voided: false });
    expect((await voidIt(b, { orderRef: "R-77" })).body).toEqual({
      success: true,
      redemptionId: r.body.redemptionId,
      pointsRestored: 10,
      totalPoints: 30,
    });
    const after = (await customer(b, c.body.customerId)).pointsHistory;
    expect(after.map((e: any) => [e.type, e.delta, e.redemptionId, e.orderRef, e.voided])).toEqual([
      ["REDEMPTION_VOID", 10, r.body.redemptionId, "R-77", false],
      ["REDEMPTION", -10, r.body.redemptionId, "R-77", true],
      ["CHECKIN", 30, "", "", false],
    ]);
  });
});

describe("voids", () => {
  test("a void gives the points back once; a second void → 400 failed_precondition, nothing written; the owner's void too", async () => {
    const b = await registerBusiness(t.url, { rewardThreshold: 50 });
    const c = await checkin(b, { phone: nextPhone(), amount: 120 });
    const r1 = await redeem(b, { customerId: c.body.customerId });
    const r2 = await redeem(b, { customerId: c.body.customerId });
    expect([r1.body.remainingPoints, r2.body.remainingPoints]).toEqual([70, 20]);
    expect((await voidIt(b, { redemptionId: r1.body.redemptionId, reason: "Rung up by mistake" })).body).toMatchObject({ pointsRestored: 50, totalPoints: 70 });
    const before = await rowsOf(b);
    expectError(await voidIt(b, { redemptionId: r1.body.redemptionId }), 400, "failed_precondition", "the redemption is already voided");
    expectError(await ownerPost(b, `/v1/owner/redemptions/${r1.body.redemptionId}/void`, {}), 400, "failed_precondition", "the redemption is already voided");
    expect(await rowsOf(b)).toEqual(before);
    const owner = await ownerPost(b, `/v1/owner/redemptions/${r2.body.redemptionId}/void`, {});
    expect(owner.body).toEqual({ success: true, redemptionId: r2.body.redemptionId, pointsRestored: 50, totalPoints: 120 });
    const hist = (await customer(b, c.body.customerId)).pointsHistory;
    expect(hist[0]).toMatchObject({ type: "REDEMPTION_VOID", reason: "Redemption voided", ownerId: b.ownerId, apiKeyId: "" });
    expect(hist[1]).toMatchObject({ type: "REDEMPTION_VOID", reason: "Rung up by mistake", apiKeyId: b.apiKeyId, redemptionId: r1.body.redemptionId });
    const audit = await t.sql("select action, subject_id from audit_event where business_id = $1 and action = 'redemption.voided'", [b.businessId]);
    expect(audit).toEqual([{ action: "redemption.voided", subject_id: r2.body.redemptionId }]);
    await expectLedgerMatchesBalances(b);
  });

  test("a refund never voids a redemption; voids and refunds of a BLOCKED customer are allowed", async () => {
    const b = await registerBusiness(t.url, { rewardThreshold: 20 });
    const c = await checkin(b, { phone: nextPhone(), amount: 30 });
    const r = await redeem(b, { customerId: c.body.customerId });
    expect((await rest(t.url, "PATCH", `/v1/owner/customers/${c.body.customerId}`, { body: { status: "BLOCKED" }, headers: ownerAuth(b) })).status).toBe(200);
    expect((await refund(b, { checkinId: c.body.checkinId })).body).toMatchObject({ pointsReversed: 30, totalPoints: -20 });
    const redemption = await t.sql("select voided_at from redemption where id = $1", [r.body.redemptionId]);
    expect(redemption).toEqual([{ voided_at: null }]);
    expect((await voidIt(b, { redemptionId: r.body.redemptionId })).body).toMatchObject({ pointsRestored: 20, totalPoints: 0 });
    await expectLedgerMatchesBalances(b);
  });
});

describe("negative balances (§4, §8)", () => {
  test("refund of spent points → negative; redeem refused; owner deduction refused, credit allowed; a check-in covering it lets redeem through", async () => {
    const b = await registerBusiness(t.url, { rewardThreshold: 10 });
    const c = await checkin(b, { phone: nextPhone(), amount: 25 });
    const id = c.body.customerId;
    expect((await redeem(b, { customerId: id, points: 20 })).body.remainingPoints).toBe(5);
    expect((await refund(b, { checkinId: c.body.checkinId })).body).toMatchObject({ pointsReversed: 25, totalPoints: -20 });
    expect(await balance(b, id)).toBe(-20);
    expect((await rest(t.url, "GET", `/v1/pos/customer/${id}`, { headers: posAuth(b) })).body).toMatchObject({ totalPoints: -20, rewardAvailable: false });
    const before = await rowsOf(b);
    expectError(await redeem(b, { customerId: id, points: 10 }), 400, "failed_precondition", "insufficient points");
    expectError(await ownerPost(b, `/v1/owner/customers/${id}/redeem`, {}), 400, "failed_precondition", "insufficient points");
    expectError(await ownerPost(b, `/v1/owner/customers/${id}/points`, { points: -1, reason: "x" }), 400, "failed_precondition", "insufficient points");
    expect(await rowsOf(b)).toEqual(before);
    expect((await ownerPost(b, `/v1/owner/customers/${id}/points`, { points: 5, reason: "Goodwill" })).body).toEqual({ success: true, newBalance: -15, adjustment: 5 });
    expectError(await redeem(b, { customerId: id, points: 10 }), 400, "failed_precondition", "insufficient points");
    expect((await checkin(b, { customerId: id, amount: 24.99 })).body.totalPoints).toBe(9);
    expectError(await redeem(b, { customerId: id, points: 10 }), 400, "failed_precondition", "insufficient points");
    expect((await checkin(b, { customerId: id, amount: 1 })).body.totalPoints).toBe(10);
    expect((await redeem(b, { customerId: id, points: 10 })).body.remainingPoints).toBe(0);
    await expectLedgerMatchesBalances(b);
  });
});

describe("owner redeem (CustomerAdmin.RedeemReward)", () => {
  test("redeems one reward at the counter with the owner on the ledger; the same rules as the POS redeem", async () => {
    const b = await registerBusiness(t.url, { rewardThreshold: 100, rewardTitle: "Free Coffee" });
    const c = await checkin(b, { phone: nextPhone(), amount: 250 });
    const id = c.body.customerId;
    const r = await ownerPost(b, `/v1/owner/customers/${id}/redeem`, { orderRef: "COUNTER-1" });
    expect(r.body).toEqual({ success: true, redemptionId: expect.stringMatching(CUID), pointsRedeemed: 100, rewardTitle: "Free Coffee", remainingPoints: 150 });
    expectError(await ownerPost(b, `/v1/owner/customers/${id}/redeem`, { points: 150 }), 400, "invalid_argument", "points must be the reward cost (100) or a whole multiple of it");
    expectError(await ownerPost(b, `/v1/owner/customers/${id}/redeem`, { points: 200 }), 400, "failed_precondition", "insufficient points");
    expectError(await ownerPost(b, `/v1/owner/customers/czzzzzzzzzzzzzzzzzzzzzzzz/redeem`, {}), 404, "not_found", "customer not found");
    const hist = (await customer(b, id)).pointsHistory;
    expect(hist[0]).toMatchObject({ type: "REDEMPTION", delta: -100, reason: "Redemption: Free Coffee", ownerId: b.ownerId, apiKeyId: "", orderRef: "COUNTER-1", redemptionId: r.body.redemptionId });
    expect((await t.sql("select action from audit_event where business_id = $1 and subject_id = $2", [b.businessId, r.body.redemptionId]))).toEqual([{ action: "redemption.created" }]);
    expect((await rest(t.url, "PATCH", `/v1/owner/customers/${id}`, { body: { status: "BLOCKED" }, headers: ownerAuth(b) })).status).toBe(200);
    expectError(await ownerPost(b, `/v1/owner/customers/${id}/redeem`, {}), 403, "permission_denied", "customer is blocked");
    // And the owner's refund of the check-in, recorded with the owner and audited.
    const rf = await ownerPost(b, `/v1/owner/checkins/${c.body.checkinId}/refund`, { amount: 50, reason: "Returned a mug" });
    expect(rf.body).toEqual({ success: true, refundId: expect.stringMatching(CUID), checkinId: c.body.checkinId, pointsReversed: 50, totalPoints: 100 });
    expect((await customer(b, id)).pointsHistory[0]).toMatchObject({ type: "REFUND", ownerId: b.ownerId, reason: "Returned a mug", amount: 50 });
  });
});

describe("preview (LoyaltyPos.PreviewCheckin)", () => {
  test("answers the check-in's figures and writes nothing — no enrolment, no idempotency record, no claim", async () => {
    const b = await registerBusiness(t.url, { rewardThreshold: 50, rewardTitle: "Cake" });
    const known = await checkin(b, { phone: nextPhone(), amount: 30, orderRef: "P-1" });
    const before = await rowsOf(b);
    const unknownPhone = nextPhone();
    const p1 = await post(b, "/v1/pos/checkin/preview", { phone: unknownPhone, amount: 25.5, orderRef: "P-2" }, { "idempotency-key": "preview-1" });
    expect(p1.status, p1.text).toBe(200);
    expect(p1.headers.get("idempotent-replayed")).toBeNull();
    expect(p1.body).toEqual({
      basePoints: 25,
      promotionPoints: 0,
      promotionId: "",
      pointsAwarded: 25,
      totalPointsAfter: 25,
      rewardAvailableAfter: false,
      availableRewardsAfter: [],
    });
    const p2 = await post(b, "/v1/pos/checkin/preview", { customerId: known.body.customerId, amount: 20 });
    expect(p2.body).toEqual({
      basePoints: 20,
      promotionPoints: 0,
      promotionId: "",
      pointsAwarded: 20,
      totalPointsAfter: 50,
      rewardAvailableAfter: true,
      availableRewardsAfter: [{ id: expect.stringMatching(/^[a-z0-9]+$/), title: "Cake", cost: 50 }],
    });
    // The check-in's refusals, previewed.
    expectError(await post(b, "/v1/pos/checkin/preview", { phone: unknownPhone, amount: 5, orderRef: "P-1" }), 409, "already_exists", `orderRef was already credited by check-in ${known.body.checkinId}`);
    expectError(await post(b, "/v1/pos/checkin/preview", { customerId: "czzzzzzzzzzzzzzzzzzzzzzzz", amount: 5 }), 404, "not_found", "customer not found");
    expectError(await post(b, "/v1/pos/checkin/preview", { phone: unknownPhone }), 400, "invalid_argument", "amount is required in SPEND mode");
    expect(await rowsOf(b)).toEqual(before);
    expect((await rest(t.url, "GET", `/v1/pos/balance/${encodeURIComponent(unknownPhone)}`, { headers: posAuth(b) })).status).toBe(404);
  });

  test("is not a mutating call (NO_SIDE_EFFECTS in the proto): no idempotency guard or cache eviction, no Idempotency-Key in OpenAPI", async () => {
    // isMutating is what the idempotency and change (cache eviction) interceptors both ask.
    expect(isMutating(LoyaltyPos.method.previewCheckin)).toBe(false);
    expect(isMutating(LoyaltyPos.method.checkin)).toBe(true);
    expect(isMutating(LoyaltyPos.method.refundCheckin)).toBe(true);
    const spec = (await rest(t.url, "GET", "/openapi.json")).body;
    const op = spec.paths["/v1/pos/checkin/preview"].post;
    expect(JSON.stringify(op.parameters ?? [])).not.toContain("IdempotencyKey");
    expect(JSON.stringify(spec.paths["/v1/pos/refund"].post.parameters)).toContain("IdempotencyKey");
  });
});

describe("bad input: a clear 4xx naming the field, nothing written", () => {
  test("refund amounts, units, orderRefs and ids", async () => {
    const b = await registerBusiness(t.url);
    const c = await checkin(b, { phone: nextPhone(), amount: 25.5, orderRef: "BAD-1" });
    const other = await checkin(b, { phone: nextPhone(), amount: 10, orderRef: "BAD-2" });
    const id = c.body.checkinId;
    const before = await rowsOf(b);
    const cases: [Record<string, unknown>, number, string, string][] = [
      [{ checkinId: id, amount: 0 }, 400, "invalid_argument", "amount must be greater than 0"],
      [{ checkinId: id, amount: -1 }, 400, "invalid_argument", "amount must be greater than 0"],
      [{ checkinId: id, amount: 1.001 }, 400, "invalid_argument", "amount must have at most 2 decimal places"],
      [{ checkinId: id, amount: 25.51 }, 400, "failed_precondition", "amount is more than is left to refund of the check-in (25.50)"],
      [{ checkinId: id, units: 1 }, 400, "invalid_argument", "units cannot be refunded on a SPEND check-in: give amount"],
      [{ checkinId: id, amount: 1, units: 1 }, 400, "invalid_argument", "give amount or units, not both"],
      [{ checkinId: id, orderRef: "BAD-2" }, 400, "invalid_argument", "checkinId and orderRef name different check-ins"],
      [{ checkinId: other.body.checkinId, orderRef: "BAD-1" }, 400, "invalid_argument", "checkinId and orderRef name different check-ins"],
      [{}, 400, "invalid_argument", "checkinId or orderRef is required"],
      [{ orderRef: "" }, 400, "invalid_argument", "orderRef must not be empty"],
      [{ orderRef: "x".repeat(101) }, 400, "invalid_argument", "orderRef must be at most 100 characters"],
      [{ orderRef: "A\u0007B" }, 400, "invalid_argument", "orderRef must be printable characters without leading or trailing spaces"],
      [{ checkinId: "not an id!" }, 400, "invalid_argument", "checkinId is not a valid id"],
      [{ checkinId: "czzzzzzzzzzzzzzzzzzzzzzzz" }, 404, "not_found", "check-in not found"],
      [{ orderRef: "NO-SUCH-ORDER" }, 404, "not_found", "check-in not found"],
      [{ checkinId: id, reason: "x".repeat(501) }, 400, "invalid_argument", "reason must be at most 500 characters"],
    ];
    for (const [body, status, code, message] of cases) expectError(await refund(b, body), status, code, message);
    expect(await rowsOf(b)).toEqual(before);
    // A ledger row that is not a check-in is not a check-in.
    const initial = await ownerPost(b, "/v1/owner/customers", { name: "Init", phone: nextPhone(), initialPoints: 5 });
    const initialRow = (await customer(b, initial.body.customer.id)).pointsHistory[0].id;
    const after = await rowsOf(b);
    expectError(await refund(b, { checkinId: initialRow }), 404, "not_found", "check-in not found");
    expectError(await ownerPost(b, `/v1/owner/checkins/${initialRow}/refund`, {}), 404, "not_found", "check-in not found");
    expect(await rowsOf(b)).toEqual(after);
  });

  test("check-in and redeem orderRefs, and void targets", async () => {
    const b = await registerBusiness(t.url, { rewardThreshold: 10 });
    const c = await checkin(b, { phone: nextPhone(), amount: 40 });
    const r = await redeem(b, { customerId: c.body.customerId, orderRef: "V-1" });
    const before = await rowsOf(b);
    for (const orderRef of ["", "y".repeat(101), "tab\there", " lead", "new\nline", "\u202e"]) {
      const expected = orderRef === "" ? "orderRef must not be empty" : orderRef.length > 100 ? "orderRef must be at most 100 characters" : "orderRef must be printable characters without leading or trailing spaces";
      expectError(await checkin(b, { phone: nextPhone(), amount: 1, orderRef }), 400, "invalid_argument", expected);
      expectError(await redeem(b, { customerId: c.body.customerId, orderRef }), 400, "invalid_argument", expected);
      expectError(await post(b, "/v1/pos/checkin/preview", { phone: nextPhone(), amount: 1, orderRef }), 400, "invalid_argument", expected);
    }
    // 100 printable characters, any script, are fine (checked by a preview: nothing written).
    expect((await post(b, "/v1/pos/checkin/preview", { phone: nextPhone(), amount: 1, orderRef: "Ω".repeat(99) + "😀" })).status).toBe(200);
    expectError(await voidIt(b, {}), 400, "invalid_argument", "redemptionId or orderRef is required");
    expectError(await voidIt(b, { redemptionId: "czzzzzzzzzzzzzzzzzzzzzzzz" }), 404, "not_found", "redemption not found");
    expectError(await voidIt(b, { orderRef: "V-2" }), 404, "not_found", "redemption not found");
    expectError(await voidIt(b, { redemptionId: r.body.redemptionId, orderRef: "V-2" }), 400, "invalid_argument", "redemptionId and orderRef name different redemptions");
    expectError(await voidIt(b, { redemptionId: "bad id" }), 400, "invalid_argument", "redemptionId is not a valid id");
    expect(await rowsOf(b)).toEqual(before);
  });
});

describe("tenancy: another business's ids and orderRefs are 404, exactly as missing ones", () => {
  test("checkinId, redemptionId and orderRef of business A, used by business B over POS and owner routes", async () => {
    const a = await registerBusiness(t.url, { rewardThreshold: 10 });
    const b = await registerBusiness(t.url, { rewardThreshold: 10 });
    const c = await checkin(a, { phone: nextPhone(), amount: 50, orderRef: "SHARED-1" });
    const r = await redeem(a, { customerId: c.body.customerId, orderRef: "SHARED-R" });
    const before = await rowsOf(a);
    expectError(await refund(b, { checkinId: c.body.checkinId }), 404, "not_found", "check-in not found");
    expectError(await refund(b, { orderRef: "SHARED-1", amount: 1 }), 404, "not_found", "check-in not found");
    expectError(await ownerPost(b, `/v1/owner/checkins/${c.body.checkinId}/refund`, {}), 404, "not_found", "check-in not found");
    expectError(await voidIt(b, { redemptionId: r.body.redemptionId }), 404, "not_found", "redemption not found");
    expectError(await voidIt(b, { orderRef: "SHARED-R" }), 404, "not_found", "redemption not found");
    expectError(await ownerPost(b, `/v1/owner/redemptions/${r.body.redemptionId}/void`, {}), 404, "not_found", "redemption not found");
    expectError(await ownerPost(b, `/v1/owner/customers/${c.body.customerId}/redeem`, {}), 404, "not_found", "customer not found");
    expectError(await post(b, "/v1/pos/checkin/preview", { customerId: c.body.customerId, amount: 1 }), 404, "not_found", "customer not found");
    expect(await rowsOf(a)).toEqual(before);
  });
});
