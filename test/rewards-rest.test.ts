/**
 * Issue 15 / contract §9 over REST: the rewards catalogue (CRUD, validation,
 * the default reward), redeem by rewardId with quantity, stock and limits
 * (voids give them back), availableRewards, promotions at the boundaries of
 * each condition (controlled time: the Date of this process, which the
 * in-process server reads), DST, newest wins, preview = check-in, refunds of
 * promoted check-ins, program timezone/currency, bad input and tenancy.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business, type RestResponse } from "./support/rest.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});
afterEach(() => {
  vi.useRealTimers();
});

const CUID = /^[a-z][a-z0-9]{24}$/;
let phoneSeq = 0;
const nextPhone = () => `+35387${String(2_000_000 + phoneSeq++).padStart(7, "0")}`;

const pos = (b: Business, path: string, body: unknown) => rest(t.url, "POST", path, { body, headers: posAuth(b) });
const owner = (b: Business, method: string, path: string, body?: unknown) => rest(t.url, method, path, { body, headers: ownerAuth(b) });
const checkin = (b: Business, body: Record<string, unknown>) => pos(b, "/v1/pos/checkin", body);

function expectError(r: RestResponse, status: number, code: string, message: string | RegExp) {
  expect(r.status, r.text).toBe(status);
  expect(r.body.error.code).toBe(code);
  if (typeof message === "string") expect(r.body.error.message).toBe(message);
  else expect(r.body.error.message).toMatch(message);
}

/** Freezes this process's clock (the server's too: it runs in-process) at an instant. */
function at(iso: string) {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(new Date(iso));
}

async function ledgerMatches(b: Business) {
  const rows = await t.sql<{ total_points: number; sum: number | null }>(
    `select c.total_points, (select sum(delta)::int from ledger_entry l where l.customer_id = c.id) as sum from customer c where c.business_id = $1`,
    [b.businessId],
  );
  for (const r of rows) expect(r.sum ?? 0).toBe(r.total_points);
}

async function createReward(b: Business, body: Record<string, unknown>) {
  const r = await owner(b, "POST", "/v1/owner/rewards", body);
  expect(r.status, r.text).toBe(200);
  return r.body.reward;
}

async function createPromotion(b: Business, body: Record<string, unknown>) {
  const r = await owner(b, "POST", "/v1/owner/promotions", { startsAt: "2026-01-01T00:00:00Z", ...body });
  expect(r.status, r.text).toBe(200);
  return r.body.promotion;
}

describe("the reference's answers, unchanged, for a business that never touches rewards", () => {
  test("check-in, look-ups and redeem answer byte for byte as before the catalogue existed", async () => {
    const b = await registerBusiness(t.url);
    const c = await checkin(b, { phone: "+353123456789", amount: 25.5 });
    const id = c.body.customerId;
    expect(c.text).toBe(
      `{"success":true,"customerId":"${id}","pointsAwarded":25,"totalPoints":25,"rewardThreshold":100,"rewardAvailable":false,"checkinId":"${c.body.checkinId}"}`,
    );
    const look = await rest(t.url, "GET", "/v1/pos/customer/%2B353123456789", { headers: posAuth(b) });
    expect(look.text).toBe(
      `{"customerId":"${id}","name":"","phone":"+353123456789","status":"ACTIVE","totalPoints":25,"rewardAvailable":false,"lifetimePoints":25}`,
    );
    const bal = await rest(t.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: posAuth(b) });
    expect(bal.text).toBe(`{"customerId":"${id}","totalPoints":25}`);
    await checkin(b, { phone: "+353123456789", amount: 80 });
    const red = await pos(b, "/v1/pos/redeem", { phone: "+353123456789", points: 100 });
    expect(red.text).toBe(
      `{"success":true,"redemptionId":"${red.body.redemptionId}","pointsRedeemed":100,"rewardTitle":"Free Reward","remainingPoints":5}`,
    );
    const adm = await owner(b, "GET", `/v1/owner/customers/${id}`);
    expect(Object.keys(adm.body)).toEqual(["customer", "pointsHistory", "totalPoints"]);
    expect(adm.body.pointsHistory[0]).not.toHaveProperty("rewardId");
    expect(adm.body.pointsHistory[0]).not.toHaveProperty("promotionId");
    // The same business once it has a catalogue: the additions appear, the reference's fields keep their values.
    await createReward(b, { title: "Cookie", cost: 3 });
    const c2 = await checkin(b, { phone: "+353123456789", amount: 1 });
    expect(c2.body).toEqual({
      success: true,
      customerId: id,
      pointsAwarded: 1,
      totalPoints: 6,
      rewardThreshold: 100,
      rewardAvailable: false,
      checkinId: expect.stringMatching(CUID),
      basePoints: 1,
      promotionPoints: 0,
      promotionId: "",
      availableRewards: [{ id: expect.stringMatching(CUID), title: "Cookie", cost: 3 }],
    });
    const bal2 = await rest(t.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: posAuth(b) });
    expect(bal2.body).toEqual({ customerId: id, totalPoints: 6, availableRewards: c2.body.availableRewards });
    await ledgerMatches(b);
  });

  test("the migration makes an existing business's single reward its default reward", async () => {
    // Every business of this database was migrated or registered: each has exactly one default reward
    // with the program's threshold and title.
    const rows = await t.sql<{ n: string }>(
      `select count(*) as n from program p where (select count(*) from reward r where r.business_id = p.business_id and r.is_default
        and r.cost = p.reward_threshold and r.title = p.reward_title) <> 1`,
    );
    expect(rows[0]!.n).toBe("0");
  });
});

describe("catalogue", () => {
  test("create, list, update, deactivate; the default reward follows PATCH /v1/owner/program", async () => {
    const b = await registerBusiness(t.url);
    const lunch = await createReward(b, { title: "Free Lunch", cost: 250, stock: 5, perCustomerLimit: 2 });
    expect(lunch).toEqual({
      id: expect.stringMatching(CUID),
      title: "Free Lunch",
      cost: 250,
      active: true,
      stock: 5,
      perCustomerLimit: 2,
      redeemedCount: 0,
      isDefault: false,
      createdAt: expect.any(String),
    });
    const patched = await owner(b, "PATCH", "/v1/owner/program", { rewardThreshold: 80, rewardTitle: "Free Coffee" });
    expect(patched.status).toBe(200);
    const list = await owner(b, "GET", "/v1/owner/rewards");
    expect(list.body.rewards.map((r: any) => [r.title, r.cost, r.isDefault])).toEqual([
      ["Free Coffee", 80, true],
      ["Free Lunch", 250, false],
    ]);
    const def = list.body.rewards[0];
    // Editing the default reward edits the program's two fields.
    const up = await owner(b, "PATCH", `/v1/owner/rewards/${def.id}`, { cost: 90, title: "Coffee" });
    expect(up.body.reward).toMatchObject({ cost: 90, title: "Coffee", isDefault: true });
    const prog = await owner(b, "GET", "/v1/owner/program");
    expect(prog.body.program).toMatchObject({ rewardThreshold: 90, rewardTitle: "Coffee", defaultRewardId: def.id, timezone: "Europe/Dublin", currency: "EUR" });
    expect(prog.body.program.rewards).toHaveLength(2);
    const u2 = await owner(b, "PATCH", `/v1/owner/rewards/${lunch.id}`, { clearStock: true, title: "Lunch" });
    expect(u2.body.reward).toMatchObject({ title: "Lunch", perCustomerLimit: 2 });
    expect(u2.body.reward).not.toHaveProperty("stock"); // absent = unlimited
    const off = await owner(b, "POST", `/v1/owner/rewards/${lunch.id}/deactivate`, {});
    expect(off.body).toMatchObject({ success: true, reward: { id: lunch.id, active: false } });
    const off2 = await owner(b, "DELETE", `/v1/owner/rewards/${lunch.id}`);
    expect(off2.body.reward.active).toBe(false);
    expectError(await owner(b, "DELETE", `/v1/owner/rewards/${def.id}`), 400, "failed_precondition", /default reward cannot be deactivated/);
  });

  test("bad input names the field and writes nothing", async () => {
    const b = await registerBusiness(t.url);
    const before = await t.sql(`select * from reward where business_id = $1`, [b.businessId]);
    expectError(await owner(b, "POST", "/v1/owner/rewards", { title: "X", cost: 0 }), 400, "invalid_argument", "cost must be a whole number from 1 to 10000000");
    expectError(await owner(b, "POST", "/v1/owner/rewards", { title: "X", cost: -5 }), 400, "invalid_argument", "cost must be a whole number from 1 to 10000000");
    expectError(await owner(b, "POST", "/v1/owner/rewards", { title: "X", cost: 10_000_001 }), 400, "invalid_argument", "cost must be a whole number from 1 to 10000000");
    expectError(await owner(b, "POST", "/v1/owner/rewards", { title: "", cost: 5 }), 400, "invalid_argument", "title is required");
    expectError(await owner(b, "POST", "/v1/owner/rewards", { title: "X", cost: 5, stock: -1 }), 400, "invalid_argument", "stock must be a whole number from 0 to 10000000");
    expectError(await owner(b, "PATCH", "/v1/owner/rewards/nosuchreward", { cost: 5 }), 404, "not_found", "reward not found");
    expectError(await owner(b, "POST", "/v1/owner/rewards/nosuchreward/deactivate", {}), 404, "not_found", "reward not found");
    expect(await t.sql(`select * from reward where business_id = $1`, [b.businessId])).toEqual(before);
  });
});

describe("redeem a chosen reward", () => {
  test("rewardId with quantity; points that differ; inactive; stock; per-customer limit; voids give both back", async () => {
    const b = await registerBusiness(t.url);
    const phone = nextPhone();
    await checkin(b, { phone, amount: 1000 });
    const cake = await createReward(b, { title: "Cake", cost: 30, stock: 3, perCustomerLimit: 2 });
    const two = await pos(b, "/v1/pos/redeem", { phone, rewardId: cake.id, quantity: 2 });
    expect(two.body).toMatchObject({ success: true, pointsRedeemed: 60, rewardTitle: "Cake", remainingPoints: 940, rewardId: cake.id, quantity: 2 });
    expectError(await pos(b, "/v1/pos/redeem", { phone, rewardId: cake.id }), 400, "failed_precondition", "reward limit reached");
    expectError(await pos(b, "/v1/pos/redeem", { phone, rewardId: cake.id, points: 31 }), 400, "invalid_argument", "points must equal the reward's cost × quantity (30)");
    expectError(await pos(b, "/v1/pos/redeem", { phone, rewardId: cake.id, quantity: 0 }), 400, "invalid_argument", "quantity must be a whole number from 1 to 100");
    expectError(await pos(b, "/v1/pos/redeem", { phone, rewardId: "nosuchreward" }), 404, "not_found", "reward not found");
    // Another customer takes the last unit; then it is out of stock.
    const other = nextPhone();
    await checkin(b, { phone: other, amount: 100 });
    expect((await pos(b, "/v1/pos/redeem", { phone: other, rewardId: cake.id })).status).toBe(200);
    expectError(await pos(b, "/v1/pos/redeem", { phone: other, rewardId: cake.id }), 400, "failed_precondition", "reward is out of stock");
    let list = (await owner(b, "GET", "/v1/owner/rewards")).body.rewards;
    expect(list.find((r: any) => r.id === cake.id)).toMatchObject({ stock: 0, redeemedCount: 3 });
    // Voiding the first (2 units) gives 2 units of stock and the customer's count back.
    const v = await pos(b, "/v1/pos/redeem/void", { redemptionId: two.body.redemptionId });
    expect(v.body).toMatchObject({ success: true, pointsRestored: 60, totalPoints: 1000 });
    list = (await owner(b, "GET", "/v1/owner/rewards")).body.rewards;
    expect(list.find((r: any) => r.id === cake.id)).toMatchObject({ stock: 2, redeemedCount: 1 });
    expect((await pos(b, "/v1/pos/redeem", { phone, rewardId: cake.id, quantity: 2 })).status).toBe(200);
    await owner(b, "POST", `/v1/owner/rewards/${cake.id}/deactivate`, {});
    await owner(b, "PATCH", `/v1/owner/rewards/${cake.id}`, { stock: 10, clearPerCustomerLimit: true });
    expectError(await pos(b, "/v1/pos/redeem", { phone, rewardId: cake.id }), 400, "failed_precondition", "reward is not active");
    // Not enough points: the usual refusal, nothing taken from stock.
    const big = await createReward(b, { title: "Bike", cost: 5000, stock: 1 });
    expectError(await pos(b, "/v1/pos/redeem", { phone, rewardId: big.id }), 400, "failed_precondition", "insufficient points");
    list = (await owner(b, "GET", "/v1/owner/rewards")).body.rewards;
    expect(list.find((r: any) => r.id === big.id)).toMatchObject({ stock: 1, redeemedCount: 0 });
    // The owner redeems a chosen reward at the counter too.
    const snack = await createReward(b, { title: "Snack", cost: 5 });
    const cust = (await rest(t.url, "GET", `/v1/pos/customer/${encodeURIComponent(phone)}`, { headers: posAuth(b) })).body;
    const o = await owner(b, "POST", `/v1/owner/customers/${cust.customerId}/redeem`, { rewardId: snack.id, quantity: 3 });
    expect(o.body).toMatchObject({ success: true, pointsRedeemed: 15, rewardTitle: "Snack", rewardId: snack.id, quantity: 3 });
    await ledgerMatches(b);
  });

  test("availableRewards: active, in stock, affordable, cheapest first", async () => {
    const b = await registerBusiness(t.url);
    const phone = nextPhone();
    await createReward(b, { title: "Lunch", cost: 250 });
    const tea = await createReward(b, { title: "Tea", cost: 40 });
    await createReward(b, { title: "Gone", cost: 10, stock: 0 });
    const off = await createReward(b, { title: "Off", cost: 20 });
    await owner(b, "POST", `/v1/owner/rewards/${off.id}/deactivate`, {});
    const c = await checkin(b, { phone, amount: 120 });
    const def = (await owner(b, "GET", "/v1/owner/rewards")).body.rewards[0];
    expect(c.body.availableRewards).toEqual([
      { id: tea.id, title: "Tea", cost: 40 },
      { id: def.id, title: "Free Reward", cost: 100 },
    ]);
    const look = await rest(t.url, "GET", `/v1/pos/customer/${encodeURIComponent(phone)}`, { headers: posAuth(b) });
    expect(look.body.availableRewards).toEqual(c.body.availableRewards);
    const adm = await owner(b, "GET", `/v1/owner/customers/${c.body.customerId}`);
    expect(adm.body.availableRewards).toEqual(c.body.availableRewards);
  });
});

describe("promotions", () => {
  test("a window on Tuesdays: the first and last minute in, the end out; the PROMOTION ledger row; summary", async () => {
    const b = await registerBusiness(t.url);
    const promo = await createPromotion(b, { name: "Double Tuesday", kind: "MULTIPLIER", multiplier: 2, weekdays: ["TUE"], startTime: "14:00", endTime: "17:00" });
    expect(promo).toMatchObject({
      id: expect.stringMatching(CUID),
      kind: "MULTIPLIER",
      multiplier: 2,
      weekdays: ["TUE"],
      startTime: "14:00",
      endTime: "17:00",
      per: "ALL_TIME",
      active: true,
      summary: "Double points on Tuesdays 14:00–17:00, Dublin time",
    });
    const phone = nextPhone();
    // 2027-01-05 is a Tuesday; Dublin is on UTC in winter.
    const cases: [string, number][] = [
      ["2027-01-05T13:59:59Z", 0],
      ["2027-01-05T14:00:00Z", 10],
      ["2027-01-05T16:59:59Z", 10],
      ["2027-01-05T17:00:00Z", 0],
      ["2027-01-06T15:00:00Z", 0], // Wednesday
    ];
    for (const [when, bonus] of cases) {
      at(when);
      const c = await checkin(b, { phone, amount: 10 });
      expect(c.body, when).toMatchObject({ basePoints: 10, promotionPoints: bonus, pointsAwarded: 10 + bonus, promotionId: bonus ? promo.id : "" });
    }
    vi.useRealTimers();
    const rows = await t.sql<{ delta: number; type: string; promotion_id: string; checkin_id: string; reason: string }>(
      `select delta, type, promotion_id, checkin_id, reason from ledger_entry where business_id = $1 and type = 'PROMOTION' order by created_at`,
      [b.businessId],
    );
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ delta: 10, type: "PROMOTION", promotion_id: promo.id, reason: "Promotion: Double Tuesday" });
    const checkinIds = await t.sql<{ id: string }>(`select id from ledger_entry where business_id = $1 and type = 'CHECKIN'`, [b.businessId]);
    expect(checkinIds.map((r) => r.id)).toContain(rows[0]!.checkin_id);
    await ledgerMatches(b);
  });

  test("a window across the spring DST change in Dublin (2027-03-28, 01:00 UTC clocks go to 02:00)", async () => {
    const b = await registerBusiness(t.url);
    const promo = await createPromotion(b, { name: "Night", kind: "BONUS", bonusPoints: 7, startTime: "00:30", endTime: "02:30" });
    const phone = nextPhone();
    const cases: [string, number][] = [
      ["2027-03-28T00:29:00Z", 0], // 00:29 GMT
      ["2027-03-28T00:30:00Z", 7], // 00:30 GMT
      ["2027-03-28T00:59:00Z", 7], // 00:59 GMT
      ["2027-03-28T01:00:00Z", 7], // 02:00 IST (01:00 never happens)
      ["2027-03-28T01:29:00Z", 7], // 02:29 IST
      ["2027-03-28T01:30:00Z", 0], // 02:30 IST: the window ended after one hour of real time
      ["2027-03-28T02:00:00Z", 0], // 03:00 IST; a fixed +0 offset would say 02:00 and give the bonus
    ];
    for (const [when, bonus] of cases) {
      at(when);
      const c = await checkin(b, { phone, amount: 5 });
      expect(c.body.promotionPoints, when).toBe(bonus);
      expect(c.body.promotionId, when).toBe(bonus ? promo.id : "");
    }
  });

  // An overnight window belongs to the day it starts on: Saturday 22:00–02:00 is Saturday night.
  const overnight = async (cases: [string, number][]) => {
    const b = await registerBusiness(t.url);
    const promo = await createPromotion(b, { name: "Late", kind: "BONUS", bonusPoints: 6, weekdays: ["SAT"], startTime: "22:00", endTime: "02:00" });
    expect(promo).toMatchObject({ startTime: "22:00", endTime: "02:00", summary: "6 bonus points on Saturdays 22:00–02:00 (overnight), Dublin time" });
    const phone = nextPhone();
    for (const [when, bonus] of cases) {
      at(when);
      const preview = await pos(b, "/v1/pos/checkin/preview", { phone, amount: 5 });
      const c = await checkin(b, { phone, amount: 5 });
      expect([preview.body.promotionPoints, c.body.promotionPoints, c.body.promotionId], when).toEqual([bonus, bonus, bonus ? promo.id : ""]);
    }
    vi.useRealTimers();
    await ledgerMatches(b);
  };

  test("an overnight window (Saturdays 22:00–02:00) on the night Dublin's clocks go forward: an hour shorter", async () => {
    await overnight([
      ["2027-03-26T23:30:00Z", 0], // Friday 23:30 GMT: Friday night is not listed
      ["2027-03-27T00:30:00Z", 0], // Saturday 00:30: the small hours of Friday's night
      ["2027-03-27T21:59:00Z", 0], // Saturday 21:59 GMT
      ["2027-03-27T22:00:00Z", 6], // Saturday 22:00: the first minute
      ["2027-03-27T23:59:00Z", 6],
      ["2027-03-28T00:00:00Z", 6], // Sunday 00:00 GMT: still Saturday's night
      ["2027-03-28T00:59:00Z", 6], // 00:59 GMT, the last minute: 01:00 GMT is 02:00 IST
      ["2027-03-28T01:00:00Z", 0], // 02:00 IST: the end, after 3 hours of real time
      ["2027-03-28T21:00:00Z", 0], // Sunday 22:00 IST: Sunday night is not listed
    ]);
  });

  test("an overnight window (Saturdays 22:00–02:00) on the night Dublin's clocks go back: an hour longer", async () => {
    await overnight([
      ["2027-10-30T20:59:00Z", 0], // Saturday 21:59 IST
      ["2027-10-30T21:00:00Z", 6], // Saturday 22:00 IST
      ["2027-10-31T00:59:00Z", 6], // Sunday 01:59 IST
      ["2027-10-31T01:00:00Z", 6], // 01:00 GMT: the hour from 01:00 comes again
      ["2027-10-31T01:59:00Z", 6], // 01:59 GMT, the last minute
      ["2027-10-31T02:00:00Z", 0], // 02:00 GMT: the end, after 5 hours of real time
      ["2027-10-31T22:00:00Z", 0], // Sunday 22:00 GMT
    ]);
  });

  test("an overnight window's per-DAY limit counts the night once: its small hours are the day it started", async () => {
    const b = await registerBusiness(t.url);
    const promo = await createPromotion(b, {
      name: "Friday night",
      kind: "BONUS",
      bonusPoints: 8,
      weekdays: ["FRI"],
      startTime: "22:00",
      endTime: "02:00",
      maxUsesPerCustomer: 1,
      per: "DAY",
    });
    const phone = nextPhone();
    const cases: [string, number][] = [
      ["2027-01-08T22:30:00Z", 8], // Friday 22:30 GMT
      ["2027-01-09T01:30:00Z", 0], // Saturday 01:30: the same night, spent
      ["2027-01-15T23:00:00Z", 8], // the next Friday night
      ["2027-01-16T01:59:00Z", 0],
    ];
    for (const [when, bonus] of cases) {
      at(when);
      expect((await pos(b, "/v1/pos/checkin/preview", { phone, amount: 5 })).body.promotionPoints, when).toBe(bonus);
      expect((await checkin(b, { phone, amount: 5 })).body.promotionPoints, when).toBe(bonus);
    }
    vi.useRealTimers();
    expect(await t.sql(`select period, uses from promotion_use where business_id = $1 and promotion_id = $2 order by period`, [b.businessId, promo.id])).toEqual([
      { period: "2027-01-08", uses: 1 },
      { period: "2027-01-15", uses: 1 },
    ]);
    // A window to midnight ("18:00"–"00:00") is the evening alone.
    const evening = await createPromotion(b, { name: "Evening", kind: "BONUS", bonusPoints: 2, startTime: "18:00", endTime: "00:00" });
    expect(evening.summary).toBe("2 bonus points 18:00–00:00, Dublin time");
    for (const [when, bonus] of [["2027-01-20T17:59:00Z", 0], ["2027-01-20T18:00:00Z", 2], ["2027-01-20T23:59:00Z", 2], ["2027-01-21T00:00:00Z", 0]] as const) {
      at(when);
      expect((await checkin(b, { phone, amount: 5 })).body.promotionPoints, when).toBe(bonus);
    }
  });

  test("a date range: the last minute before endsAt in, endsAt out; minAmount exactly met; a store not listed", async () => {
    const b = await registerBusiness(t.url);
    const store = (await owner(b, "POST", "/v1/owner/stores", { name: "Main St" })).body.store;
    const other = (await owner(b, "POST", "/v1/owner/stores", { name: "Quay" })).body.store;
    const promo = await createPromotion(b, {
      name: "January",
      kind: "BONUS",
      bonusPoints: 50,
      startsAt: "2027-01-01T00:00:00Z",
      endsAt: "2027-02-01T00:00:00Z",
      minAmount: 10,
      storeIds: [store.id],
    });
    expect(promo.summary).toBe("50 bonus points, on spends of €10.00 or more, in 1 store");
    const phone = nextPhone();
    const cases: [string, Record<string, unknown>, number][] = [
      ["2026-12-31T23:59:59Z", { amount: 10, storeId: store.id }, 0],
      ["2027-01-01T00:00:00Z", { amount: 10, storeId: store.id }, 50],
      ["2027-01-31T23:59:59Z", { amount: 10, storeId: store.id }, 50],
      ["2027-02-01T00:00:00Z", { amount: 10, storeId: store.id }, 0],
      ["2027-01-15T12:00:00Z", { amount: 9.99, storeId: store.id }, 0],
      ["2027-01-15T12:00:00Z", { amount: 10.01, storeId: store.id }, 50],
      ["2027-01-15T12:00:00Z", { amount: 20, storeId: other.id }, 0],
      ["2027-01-15T12:00:00Z", { amount: 20 }, 0],
    ];
    for (const [when, body, bonus] of cases) {
      at(when);
      const c = await checkin(b, { phone, ...body });
      expect(c.body.promotionPoints, `${when} ${JSON.stringify(body)}`).toBe(bonus);
    }
  });

  test("maxUsesPerCustomer per DAY starts again at local midnight (Dublin summer: 23:00 UTC)", async () => {
    const b = await registerBusiness(t.url);
    await createPromotion(b, { name: "Daily", kind: "BONUS", bonusPoints: 3, maxUsesPerCustomer: 1, per: "DAY" });
    const phone = nextPhone();
    const other = nextPhone();
    const cases: [string, string, number][] = [
      ["2027-06-01T22:58:00Z", phone, 3], // 23:58 IST, June 1
      ["2027-06-01T22:59:00Z", phone, 0], // used today
      ["2027-06-01T22:59:30Z", other, 3], // another customer
      ["2027-06-01T23:00:00Z", phone, 3], // 00:00 IST, June 2: a new day
      ["2027-06-01T23:30:00Z", phone, 0],
    ];
    for (const [when, who, bonus] of cases) {
      at(when);
      expect((await checkin(b, { phone: who, amount: 4 })).body.promotionPoints, when).toBe(bonus);
    }
    vi.useRealTimers();
    const all = await createPromotion(b, { name: "Once", kind: "BONUS", bonusPoints: 9, maxUsesPerCustomer: 1, per: "ALL_TIME" });
    expect(all.summary).toBe("9 bonus points, once per customer");
    const fresh = nextPhone();
    expect((await checkin(b, { phone: fresh, amount: 4 })).body).toMatchObject({ promotionId: all.id, promotionPoints: 9 });
    // The newest is spent for this customer: the next qualifying one applies.
    expect((await checkin(b, { phone: fresh, amount: 4 })).body).toMatchObject({ promotionPoints: 3 });
  });

  test("newest wins; ending it lets the older apply; preview = the check-in; refunds take promotion points back in proportion", async () => {
    const b = await registerBusiness(t.url);
    const older = await createPromotion(b, { name: "Old", kind: "MULTIPLIER", multiplier: 1.5 });
    const newer = await createPromotion(b, { name: "New", kind: "MULTIPLIER", multiplier: 3 });
    expect(newer.summary).toBe("Triple points");
    const phone = nextPhone();
    const preview = await pos(b, "/v1/pos/checkin/preview", { phone, amount: 20 });
    expect(preview.body).toMatchObject({ basePoints: 20, promotionPoints: 40, promotionId: newer.id, pointsAwarded: 60, totalPointsAfter: 60, rewardAvailableAfter: false });
    const c = await checkin(b, { phone, amount: 20 });
    expect(c.body).toMatchObject({ basePoints: 20, promotionPoints: 40, promotionId: newer.id, pointsAwarded: 60, totalPoints: 60 });
    const ended = await owner(b, "POST", `/v1/owner/promotions/${newer.id}/end`, {});
    expect(ended.body.promotion.active).toBe(false);
    const c2 = await checkin(b, { phone, amount: 20 });
    expect(c2.body).toMatchObject({ promotionPoints: 10, promotionId: older.id, pointsAwarded: 30, totalPoints: 90 });
    // Refund half of the first: floor(60 × 10/20) = 30 back; then the rest: 30 more.
    const r1 = await pos(b, "/v1/pos/refund", { checkinId: c.body.checkinId, amount: 10 });
    expect(r1.body).toMatchObject({ pointsReversed: 30, totalPoints: 60 });
    const r2 = await pos(b, "/v1/pos/refund", { checkinId: c.body.checkinId });
    expect(r2.body).toMatchObject({ pointsReversed: 30, totalPoints: 30 });
    const list = await owner(b, "GET", "/v1/owner/promotions");
    expect(list.body.promotions.map((p: any) => [p.id, p.active])).toEqual([
      [newer.id, false],
      [older.id, true],
    ]);
    await ledgerMatches(b);
  });

  test("bad input names the field and writes nothing; at most 10 active", async () => {
    const b = await registerBusiness(t.url);
    const other = await registerBusiness(t.url);
    const foreign = (await owner(other, "POST", "/v1/owner/stores", { name: "Theirs" })).body.store;
    const bad: [Record<string, unknown>, string][] = [
      [{ name: "x", kind: "MULTIPLIER", multiplier: 1 }, "multiplier must be from 1.01 to 10"],
      [{ name: "x", kind: "MULTIPLIER", multiplier: 10.01 }, "multiplier must be from 1.01 to 10"],
      [{ name: "x", kind: "MULTIPLIER", multiplier: 1.555 }, "multiplier must have at most 2 decimal places"],
      [{ name: "x", kind: "MULTIPLIER" }, "multiplier is required for a MULTIPLIER promotion"],
      [{ name: "x", kind: "BONUS", bonusPoints: 0 }, "bonusPoints must be a whole number from 1 to 100000"],
      [{ name: "x", kind: "BONUS", bonusPoints: 5, startTime: "9:00", endTime: "10:00" }, 'startTime must be a time "HH:MM" (00:00-23:59)'],
      [{ name: "x", kind: "BONUS", bonusPoints: 5, startTime: "10:00", endTime: "24:00" }, 'endTime must be a time "HH:MM" (00:00-23:59)'],
      [{ name: "x", kind: "BONUS", bonusPoints: 5, startTime: "10:00", endTime: "10:00" }, "endTime must differ from startTime"],
      [{ name: "x", kind: "BONUS", bonusPoints: 5, startTime: "22:00" }, "startTime and endTime go together"],
      [{ name: "x", kind: "BONUS", bonusPoints: 5, startsAt: "2027-02-01T00:00:00Z", endsAt: "2027-01-01T00:00:00Z" }, "endsAt must be after startsAt"],
      [{ name: "x", kind: "BONUS", bonusPoints: 5, storeIds: [foreign.id] }, `storeIds: ${foreign.id} is not a store of this business`],
      [{ name: "", kind: "BONUS", bonusPoints: 5 }, "name is required"],
      [{ name: "x", bonusPoints: 5 }, "kind must be MULTIPLIER or BONUS"],
    ];
    for (const [body, message] of bad) {
      expectError(await owner(b, "POST", "/v1/owner/promotions", body), 400, "invalid_argument", message);
    }
    expectError(await owner(b, "POST", "/v1/owner/promotions", { name: "x", kind: "TRIPLE" }), 400, "invalid_argument", /kind/);
    expect(await t.sql(`select * from promotion where business_id = $1`, [b.businessId])).toEqual([]);
    for (let i = 0; i < 10; i++) await createPromotion(b, { name: `P${i}`, kind: "BONUS", bonusPoints: 1 + i });
    expectError(await owner(b, "POST", "/v1/owner/promotions", { name: "P11", kind: "BONUS", bonusPoints: 1 }), 400, "failed_precondition", /at most 10 promotions can be active/);
    expect((await t.sql(`select count(*)::int as n from promotion where business_id = $1`, [b.businessId]))[0]).toEqual({ n: 10 });
    expectError(await owner(b, "PATCH", "/v1/owner/promotions/nosuchpromo", { name: "y" }), 404, "not_found", "promotion not found");
    expectError(await owner(b, "POST", "/v1/owner/promotions/nosuchpromo/end", {}), 404, "not_found", "promotion not found");
  });
});

describe("refunds of promoted check-ins", () => {
  test("promotion points come back in proportion; a full refund gives the use of a limited promotion back, a partial one does not", async () => {
    const b = await registerBusiness(t.url);
    const once = await createPromotion(b, { name: "First visit", kind: "BONUS", bonusPoints: 5, maxUsesPerCustomer: 1, per: "ALL_TIME" });
    const phone = nextPhone();
    const first = await checkin(b, { phone, amount: 10 });
    expect(first.body).toMatchObject({ basePoints: 10, promotionPoints: 5, promotionId: once.id, pointsAwarded: 15, totalPoints: 15 });
    expect((await checkin(b, { phone, amount: 10 })).body).toMatchObject({ promotionPoints: 0, totalPoints: 25 }); // spent
    // 3.33 of 10.00: floor(15 × 333 / 1000) = 4 of the 15 (base and bonus together).
    const part = await pos(b, "/v1/pos/refund", { checkinId: first.body.checkinId, amount: 3.33 });
    expect(part.body).toMatchObject({ success: true, pointsReversed: 4, totalPoints: 21 });
    expect((await checkin(b, { phone, amount: 10 })).body).toMatchObject({ promotionPoints: 0, totalPoints: 31 }); // still spent
    // The rest, 6.67: the other 11; the check-in is undone, and so is its use of the promotion.
    const rest_ = await pos(b, "/v1/pos/refund", { checkinId: first.body.checkinId });
    expect(rest_.body).toMatchObject({ success: true, pointsReversed: 11, totalPoints: 20 });
    const again = await checkin(b, { phone, amount: 10 });
    expect(again.body).toMatchObject({ basePoints: 10, promotionPoints: 5, promotionId: once.id, pointsAwarded: 15, totalPoints: 35 });
    expect((await checkin(b, { phone, amount: 10 })).body).toMatchObject({ promotionPoints: 0, totalPoints: 45 });
    const uses = await t.sql(`select period, uses from promotion_use where business_id = $1`, [b.businessId]);
    expect(uses).toEqual([{ period: "ALL", uses: 1 }]);
    // An owner's full refund (no amount: all that is left) gives it back too.
    const o = await owner(b, "POST", `/v1/owner/checkins/${again.body.checkinId}/refund`, {});
    expect(o.status, o.text).toBe(200);
    expect(o.body).toMatchObject({ pointsReversed: 15, totalPoints: 30 });
    expect(await t.sql(`select period, uses from promotion_use where business_id = $1`, [b.businessId])).toEqual([{ period: "ALL", uses: 0 }]);
    await ledgerMatches(b);
  });

  test("a per-DAY use goes back to the day it was counted on, not the day of the refund (Dublin summer: local midnight is 23:00 UTC)", async () => {
    const b = await registerBusiness(t.url);
    const daily = await createPromotion(b, { name: "Daily", kind: "MULTIPLIER", multiplier: 1.5, maxUsesPerCustomer: 1, per: "DAY" });
    const phone = nextPhone();
    at("2027-06-01T22:58:00Z"); // 23:58 IST, June 1
    const a = await checkin(b, { phone, amount: 20 });
    expect(a.body).toMatchObject({ basePoints: 20, promotionPoints: 10, promotionId: daily.id, totalPoints: 30 });
    at("2027-06-01T23:10:00Z"); // 00:10 IST, June 2: a new day, a new use
    expect((await checkin(b, { phone, amount: 20 })).body).toMatchObject({ promotionPoints: 10, totalPoints: 60 });
    at("2027-06-01T23:20:00Z");
    const r = await pos(b, "/v1/pos/refund", { checkinId: a.body.checkinId });
    expect(r.body).toMatchObject({ pointsReversed: 30, totalPoints: 30 });
    // June 2's use is still spent: the refund gave back June 1's.
    at("2027-06-01T23:30:00Z");
    expect((await checkin(b, { phone, amount: 20 })).body).toMatchObject({ promotionPoints: 0, totalPoints: 50 });
    vi.useRealTimers();
    expect(await t.sql(`select period, uses from promotion_use where business_id = $1 order by period`, [b.businessId])).toEqual([
      { period: "2027-06-01", uses: 0 },
      { period: "2027-06-02", uses: 1 },
    ]);
    await ledgerMatches(b);
  });

  test("a void of a redemption of 3 units gives back 3 units of stock and of the customer's count, once", async () => {
    const b = await registerBusiness(t.url);
    const phone = nextPhone();
    await checkin(b, { phone, amount: 500 });
    const mug = await createReward(b, { title: "Mug", cost: 20, stock: 10, perCustomerLimit: 4 });
    const units = () =>
      t.sql<{ stock: number; units: number }>(
        `select r.stock, coalesce((select units from reward_customer_count c where c.business_id = r.business_id and c.reward_id = r.id), -1) as units
         from reward r where r.business_id = $1 and r.id = $2`,
        [b.businessId, mug.id],
      );
    const red = await pos(b, "/v1/pos/redeem", { phone, rewardId: mug.id, quantity: 3 });
    expect(red.body).toMatchObject({ success: true, pointsRedeemed: 60, remainingPoints: 440, quantity: 3 });
    expect(await units()).toEqual([{ stock: 7, units: 3 }]);
    expectError(await pos(b, "/v1/pos/redeem", { phone, rewardId: mug.id, quantity: 2 }), 400, "failed_precondition", "reward limit reached");
    const v = await owner(b, "POST", `/v1/owner/redemptions/${red.body.redemptionId}/void`, {});
    expect(v.status, v.text).toBe(200);
    expect(v.body).toMatchObject({ success: true, pointsRestored: 60, totalPoints: 500 });
    expect(await units()).toEqual([{ stock: 10, units: 0 }]);
    expectError(await pos(b, "/v1/pos/redeem/void", { redemptionId: red.body.redemptionId }), 400, "failed_precondition", "the redemption is already voided");
    expect(await units()).toEqual([{ stock: 10, units: 0 }]);
    const list = (await owner(b, "GET", "/v1/owner/rewards")).body.rewards;
    expect(list.find((r: any) => r.id === mug.id)).toMatchObject({ stock: 10, redeemedCount: 0 });
    // The customer may take the full limit again.
    expect((await pos(b, "/v1/pos/redeem", { phone, rewardId: mug.id, quantity: 4 })).body).toMatchObject({ success: true, remainingPoints: 420 });
    expect(await units()).toEqual([{ stock: 6, units: 4 }]);
    await ledgerMatches(b);
  });
});

describe("program timezone and currency", () => {
  test("defaults from the country; validated", async () => {
    const reg = await rest(t.url, "POST", "/v1/auth/register", {
      body: { businessName: "Diner", email: `us-${Date.now()}@example.com`, password: "correct horse battery", defaultCountry: "US" },
    });
    const auth = { authorization: `Bearer ${reg.body.token}` };
    const prog = await rest(t.url, "GET", "/v1/owner/program", { headers: auth });
    expect(prog.body.program).toMatchObject({ timezone: "America/New_York", currency: "USD", defaultCountry: "US" });
    const b = await registerBusiness(t.url);
    expect((await owner(b, "GET", "/v1/owner/program")).body.program).toMatchObject({ timezone: "Europe/Dublin", currency: "EUR" });
    expectError(await owner(b, "PATCH", "/v1/owner/program", { timezone: "Mars/Olympus" }), 400, "invalid_argument", "timezone must be an IANA time zone such as Europe/Dublin");
    expectError(await owner(b, "PATCH", "/v1/owner/program", { currency: "XYZ" }), 400, "invalid_argument", "currency must be an ISO 4217 currency code");
    const ok = await owner(b, "PATCH", "/v1/owner/program", { timezone: "America/Los_Angeles" });
    expect(ok.body.program.timezone).toBe("America/Los_Angeles");
  });
});

describe("tenancy", () => {
  test("another business's reward and promotion ids are not found", async () => {
    const a = await registerBusiness(t.url);
    const b = await registerBusiness(t.url);
    const reward = await createReward(a, { title: "A's", cost: 1 });
    const promo = await createPromotion(a, { name: "A's", kind: "BONUS", bonusPoints: 1 });
    const phone = nextPhone();
    await checkin(b, { phone, amount: 10 });
    expectError(await pos(b, "/v1/pos/redeem", { phone, rewardId: reward.id }), 404, "not_found", "reward not found");
    expectError(await owner(b, "PATCH", `/v1/owner/rewards/${reward.id}`, { cost: 2 }), 404, "not_found", "reward not found");
    expectError(await owner(b, "DELETE", `/v1/owner/rewards/${reward.id}`), 404, "not_found", "reward not found");
    expectError(await owner(b, "PATCH", `/v1/owner/promotions/${promo.id}`, { name: "B" }), 404, "not_found", "promotion not found");
    expectError(await owner(b, "POST", `/v1/owner/promotions/${promo.id}/end`, {}), 404, "not_found", "promotion not found");
    expect((await owner(b, "GET", "/v1/owner/rewards")).body.rewards).toHaveLength(1);
    expect((await owner(b, "GET", "/v1/owner/promotions")).body.promotions).toEqual([]);
    // B's check-ins get none of A's promotion.
    const c = await checkin(b, { phone, amount: 10 });
    expect(c.body.totalPoints).toBe(20);
    expect(c.body).not.toHaveProperty("promotionPoints"); // B has no catalogue: the reference's shape
    expect((await rest(t.url, "GET", "/v1/owner/rewards", {})).status).toBe(401);
  });
});
