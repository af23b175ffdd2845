/**
 * Issue 16 / contract §10 over REST: the policy and its bad input, lots at
 * the month-end rule across years and zones, soonest-first spending,
 * refunds and voids before and after expiry, debts, a policy change between
 * lots, the run of a day (exactly once, twice, two instances at once, killed
 * mid-way), and the reference's answers for a business without a policy.
 * Time is controlled: this process's Date (the in-process server reads it)
 * for when points are earned, and the run's `asOf` day.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";
import { runExpiry } from "../src/services/expiry-run.js";
import { createDb } from "../src/persistence/db.js";
import { createLotRepository } from "../src/persistence/lot-repository.js";

let t: TestApp;
let run: (opts: Parameters<typeof runExpiry>[1]) => ReturnType<typeof runExpiry>;
beforeAll(async () => {
  t = await startTestApp();
  const db = createDb(t.orm);
  run = (opts) => runExpiry({ db, lots: createLotRepository(db) }, opts);
});
afterAll(async () => {
  await t?.close();
});
afterEach(() => {
  vi.useRealTimers();
});

let phoneSeq = 0;
const nextPhone = () => `+35386${String(3_000_000 + phoneSeq++).padStart(7, "0")}`;
const pos = (b: Business, path: string, body: unknown) => rest(t.url, "POST", path, { body, headers: posAuth(b) });
const owner = (b: Business, method: string, path: string, body?: unknown) => rest(t.url, method, path, { body, headers: ownerAuth(b) });
const get = (b: Business, path: string) => rest(t.url, "GET", path, { headers: posAuth(b) });

/** Freezes this process's clock (the server's too: it runs in-process) at an instant. */
function at(iso: string) {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(new Date(iso));
}

async function checkin(b: Business, phone: string, amount: number, when?: string, extra: Record<string, unknown> = {}) {
  if (when) at(when);
  const r = await pos(b, "/v1/pos/checkin", { phone, amount, ...extra });
  vi.useRealTimers();
  expect(r.status, r.text).toBe(200);
  return r.body;
}

async function policy(b: Business, body: Record<string, unknown>) {
  const r = await owner(b, "PATCH", "/v1/owner/program", body);
  expect(r.status, r.text).toBe(200);
  return r.body.program;
}

const expiring = async (b: Business, phone: string) => (await get(b, `/v1/pos/customer/${encodeURIComponent(phone)}`)).body.expiringPoints;

/**
 * The invariant, for every customer of the business: the balance equals the
 * ledger sum and equals the unexpired lots plus never-expiring points minus
 * the debt — so the lots never hold more than a positive balance, and none
 * while there is a debt; and the look-up lists exactly the lots.
 */
async function invariant(b: Business) {
  const rows = await t.sql<{ id: string; phone: string; total_points: number; ledger: number; lots: number }>(
    `select c.id, c.phone, c.total_points,
            coalesce((select sum(delta)::int from ledger_entry l where l.customer_id = c.id), 0) as ledger,
            coalesce((select sum(remaining)::int from point_lot p where p.customer_id = c.id), 0) as lots
     from customer c where c.business_id = $1`,
    [b.businessId],
  );
  for (const r of rows) {
    expect(r.ledger, r.phone).toBe(r.total_points);
    expect(r.lots, r.phone).toBeGreaterThanOrEqual(0);
    expect(r.lots, r.phone).toBeLessThanOrEqual(Math.max(r.total_points, 0));
    const listed = (await expiring(b, r.phone)) ?? [];
    expect(listed.reduce((s: number, x: { points: number }) => s + x.points, 0), r.phone).toBe(r.lots);
  }
  return rows;
}

const expiryRows = (b: Business) =>
  t.sql<{ customer_id: string; delta: number; balance_after: number }>(
    `select customer_id, delta, balance_after from ledger_entry where business_id = $1 and type = 'EXPIRY' order by customer_id, created_at`,
    [b.businessId],
  );

describe("a business without a policy", () => {
  test("answers byte for byte as before, writes no lot and runs no expiry", async () => {
    const b = await registerBusiness(t.url);
    const c = await checkin(b, "+353123456789", 25.5);
    const id = c.customerId;
    const look = await get(b, "/v1/pos/customer/%2B353123456789");
    expect(look.text).toBe(
      `{"customerId":"${id}","name":"","phone":"+353123456789","status":"ACTIVE","totalPoints":25,"rewardAvailable":false,"lifetimePoints":25}`,
    );
    const bal = await get(b, "/v1/pos/balance/%2B353123456789");
    expect(bal.text).toBe(`{"customerId":"${id}","totalPoints":25}`);
    await checkin(b, "+353123456789", 80);
    const red = await pos(b, "/v1/pos/redeem", { phone: "+353123456789", points: 100 });
    expect(red.text).toBe(
      `{"success":true,"redemptionId":"${red.body.redemptionId}","pointsRedeemed":100,"rewardTitle":"Free Reward","remainingPoints":5}`,
    );
    const adm = await owner(b, "GET", `/v1/owner/customers/${id}`);
    expect(Object.keys(adm.body)).toEqual(["customer", "pointsHistory", "totalPoints"]);
    const prog = await owner(b, "GET", "/v1/owner/program");
    expect(prog.body.program).toMatchObject({ pointsExpireAfterMonths: 0, expiryWarningDays: 14 });
    const lots = await t.sql(`select 1 from point_lot where business_id = $1`, [b.businessId]);
    expect(lots).toEqual([]);
    const r = await run({ asOf: "2040-01-01", businessIds: [b.businessId] });
    expect(r.businesses).toBe(0);
    expect((await owner(b, "GET", "/v1/owner/dashboard")).body.pointsExpiring30Days).toBe(0);
  });
});

describe("the policy", () => {
  test("bad values are refused naming the field, and nothing changes", async () => {
    const b = await registerBusiness(t.url);
    for (const [body, message] of [
      [{ pointsExpireAfterMonths: 61 }, "pointsExpireAfterMonths must be a whole number from 0 to 60"],
      [{ pointsExpireAfterMonths: -1 }, "pointsExpireAfterMonths must be a whole number from 0 to 60"],
      [{ pointsExpireAfterMonths: 1.5 }, /pointsExpireAfterMonths/],
      [{ pointsExpireAfterMonths: "twelve" }, /pointsExpireAfterMonths/],
      [{ expiryWarningDays: 91 }, "expiryWarningDays must be a whole number from 0 to 90"],
      [{ expiryWarningDays: -1 }, "expiryWarningDays must be a whole number from 0 to 90"],
      [{ pointsExpireAfterMonths: 12, expiryWarningDays: 100 }, "expiryWarningDays must be a whole number from 0 to 90"],
    ] as const) {
      const r = await owner(b, "PATCH", "/v1/owner/program", body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe("invalid_argument");
      if (typeof message === "string") expect(r.body.error.message).toBe(message);
      else expect(r.body.error.message).toMatch(message);
    }
    const p = await owner(b, "GET", "/v1/owner/program");
    expect(p.body.program).toMatchObject({ pointsExpireAfterMonths: 0, expiryWarningDays: 14 });
    const [row] = await t.sql<{ expiry_since: Date | null }>(`select expiry_since from program where business_id = $1`, [b.businessId]);
    expect(row!.expiry_since).toBeNull();
    expect(await policy(b, { pointsExpireAfterMonths: 60, expiryWarningDays: 90 })).toMatchObject({ pointsExpireAfterMonths: 60, expiryWarningDays: 90 });
    expect(await policy(b, { pointsExpireAfterMonths: 0, expiryWarningDays: 0 })).toMatchObject({ pointsExpireAfterMonths: 0, expiryWarningDays: 0 });
  });
});

describe("lots and the month-end rule", () => {
  test("end of the month N months on, in the program's zone, across years; 23:30 on a month's last day in Dublin", async () => {
    const b = await registerBusiness(t.url, { pointsExpireAfterMonths: 12 });
    const p1 = nextPhone();
    // The contract's example: earned 2026-03-10 with 12 → count through 2027-03-31 (Dublin is on IST then: UTC+1).
    await checkin(b, p1, 10, "2026-03-10T12:00:00Z");
    expect(await expiring(b, p1)).toEqual([{ points: 10, expiresAt: "2027-03-31T23:00:00Z" }]);
    const bal = await get(b, `/v1/pos/balance/${encodeURIComponent(p1)}`);
    expect(bal.body).toEqual({ customerId: bal.body.customerId, totalPoints: 10, nextExpiry: { points: 10, expiresAt: "2027-03-31T23:00:00Z" } });

    // 23:30 on 31 March 2026 in Dublin is 22:30 UTC: still March there.
    const p2 = nextPhone();
    await checkin(b, p2, 20, "2026-03-31T22:30:00Z");
    expect(await expiring(b, p2)).toEqual([{ points: 20, expiresAt: "2027-03-31T23:00:00Z" }]);
    // 23:30 on 31 October 2026 in Dublin (GMT again): October → through 2027-10-31.
    const p3 = nextPhone();
    await checkin(b, p3, 30, "2026-10-31T23:30:00Z");
    expect(await expiring(b, p3)).toEqual([{ points: 30, expiresAt: "2027-11-01T00:00:00Z" }]);
    // 00:30 on 1 April 2026 in Dublin is 23:30 UTC on 31 March: April locally.
    const p4 = nextPhone();
    await checkin(b, p4, 40, "2026-03-31T23:30:00Z");
    expect(await expiring(b, p4)).toEqual([{ points: 40, expiresAt: "2027-04-30T23:00:00Z" }]);

    // Across a year with 1 month, and a zone ahead of UTC (Auckland, NZDT = UTC+13).
    await policy(b, { pointsExpireAfterMonths: 1, timezone: "Pacific/Auckland" });
    const p5 = nextPhone();
    await checkin(b, p5, 5, "2026-12-20T01:00:00Z"); // 20 December 14:00 local → through 31 January 2027
    expect(await expiring(b, p5)).toEqual([{ points: 5, expiresAt: "2027-01-31T11:00:00Z" }]);
    const p6 = nextPhone();
    await checkin(b, p6, 6, "2026-11-30T11:30:00Z"); // 1 December 00:30 local → through 31 January 2027
    expect(await expiring(b, p6)).toEqual([{ points: 6, expiresAt: "2027-01-31T11:00:00Z" }]);
    await invariant(b);
  });
});

describe("spending order", () => {
  test("redeem and deduction take the soonest-expiring first, then the never-expiring; a policy change applies to new points", async () => {
    const b = await registerBusiness(t.url, { rewardThreshold: 50 });
    const phone = nextPhone();
    const first = await checkin(b, phone, 40, "2026-01-05T12:00:00Z"); // no policy: never expires
    await policy(b, { pointsExpireAfterMonths: 12 });
    await checkin(b, phone, 30, "2026-06-10T12:00:00Z"); // → 2027-07-01 (local)
    await policy(b, { pointsExpireAfterMonths: 3 });
    await checkin(b, phone, 25, "2026-07-15T12:00:00Z"); // → 2026-11-01 (sooner than the earlier lot; GMT again)
    await policy(b, { pointsExpireAfterMonths: 0 });
    await checkin(b, phone, 5, "2026-08-01T12:00:00Z"); // never again
    expect(await expiring(b, phone)).toEqual([
      { points: 25, expiresAt: "2026-11-01T00:00:00Z" },
      { points: 30, expiresAt: "2027-06-30T23:00:00Z" },
    ]);
    // 50 points: the 25 that expire soonest, then 25 of the next 30; the never-expiring 45 stay.
    const red = await pos(b, "/v1/pos/redeem", { customerId: first.customerId, points: 50 });
    expect(red.status, red.text).toBe(200);
    expect(await expiring(b, phone)).toEqual([{ points: 5, expiresAt: "2027-06-30T23:00:00Z" }]);
    await policy(b, { pointsExpireAfterMonths: 6 });
    await checkin(b, phone, 10, "2026-08-02T12:00:00Z"); // → 2027-03-01
    // An owner's deduction: the soonest first (the new lot expires before the older one's rest).
    const d = await owner(b, "POST", `/v1/owner/customers/${first.customerId}/points`, { points: -12, reason: "Correction" });
    expect(d.status, d.text).toBe(200);
    expect(await expiring(b, phone)).toEqual([{ points: 3, expiresAt: "2027-06-30T23:00:00Z" }]);
    expect((await get(b, `/v1/pos/balance/${encodeURIComponent(phone)}`)).body.totalPoints).toBe(48);
    await invariant(b);
  });
});

describe("refunds, voids and debts", () => {
  test("a refund takes its own check-in's points first; a check-in earned under 'never' takes the never-expiring first", async () => {
    const b = await registerBusiness(t.url);
    const phone = nextPhone();
    const never = await checkin(b, phone, 50, "2026-02-01T12:00:00Z");
    await policy(b, { pointsExpireAfterMonths: 12 });
    const a = await checkin(b, phone, 30, "2026-03-01T12:00:00Z"); // → 2027-04-01
    const c = await checkin(b, phone, 20, "2026-05-01T12:00:00Z"); // → 2027-06-01
    // Refund the later check-in: its own lot goes, the sooner one stays.
    const r1 = await pos(b, "/v1/pos/refund", { checkinId: c.checkinId });
    expect(r1.body).toMatchObject({ pointsReversed: 20, totalPoints: 80 });
    expect(await expiring(b, phone)).toEqual([{ points: 30, expiresAt: "2027-03-31T23:00:00Z" }]);
    // Half of the never-expiring check-in: from the never-expiring points, the lot stays.
    const r2 = await pos(b, "/v1/pos/refund", { checkinId: never.checkinId, amount: 25 });
    expect(r2.body).toMatchObject({ pointsReversed: 25, totalPoints: 55 });
    expect(await expiring(b, phone)).toEqual([{ points: 30, expiresAt: "2027-03-31T23:00:00Z" }]);
    void a;
    await invariant(b);
  });

  test("a void gives the points back with their original expiry; after that date the next run takes them", async () => {
    const b = await registerBusiness(t.url, { rewardThreshold: 40, pointsExpireAfterMonths: 1 });
    const phone = nextPhone();
    const c1 = await checkin(b, phone, 30, "2026-01-10T12:00:00Z"); // → 2026-03-01
    await checkin(b, phone, 30, "2026-02-10T12:00:00Z"); // → 2026-04-01 (IST: 31 March 23:00 UTC)
    const red = await pos(b, "/v1/pos/redeem", { customerId: c1.customerId, points: 40 });
    expect(red.body.remainingPoints).toBe(20);
    expect(await expiring(b, phone)).toEqual([{ points: 20, expiresAt: "2026-03-31T23:00:00Z" }]);
    // The run of 1 March: nothing of the first lot is left to expire.
    expect((await run({ asOf: "2026-03-01", businessIds: [b.businessId] })).points).toBe(0);
    // Voided after that: 30 go back to the first lot (past its date), 10 to the second.
    const v = await pos(b, "/v1/pos/redeem/void", { redemptionId: red.body.redemptionId });
    expect(v.body).toMatchObject({ pointsRestored: 40, totalPoints: 60 });
    expect(await expiring(b, phone)).toEqual([
      { points: 30, expiresAt: "2026-03-01T00:00:00Z" },
      { points: 30, expiresAt: "2026-03-31T23:00:00Z" },
    ]);
    const again = await run({ asOf: "2026-03-02", businessIds: [b.businessId] });
    expect(again).toMatchObject({ customers: 1, points: 30 });
    expect((await get(b, `/v1/pos/balance/${encodeURIComponent(phone)}`)).body.totalPoints).toBe(30);
    await invariant(b);
  });

  test("a debt never expires and new points pay it first; a refund after expiry", async () => {
    const b = await registerBusiness(t.url, { rewardThreshold: 50, pointsExpireAfterMonths: 1 });
    const phone = nextPhone();
    const c1 = await checkin(b, phone, 60, "2026-01-10T12:00:00Z"); // → 2026-03-01
    await pos(b, "/v1/pos/redeem", { customerId: c1.customerId, points: 50 });
    // Refund of the whole check-in: 60 back from a balance of 10 → a debt of 50.
    const r = await pos(b, "/v1/pos/refund", { checkinId: c1.checkinId });
    expect(r.body.totalPoints).toBe(-50);
    expect(await expiring(b, phone)).toEqual([]);
    expect((await run({ asOf: "2027-01-01", businessIds: [b.businessId] })).points).toBe(0);
    expect((await get(b, `/v1/pos/balance/${encodeURIComponent(phone)}`)).body).toMatchObject({ totalPoints: -50, nextExpiry: null });
    // 70 new points: 50 pay the debt, 20 make a lot.
    await checkin(b, phone, 70, "2026-02-10T12:00:00Z");
    expect(await expiring(b, phone)).toEqual([{ points: 20, expiresAt: "2026-03-31T23:00:00Z" }]);
    await invariant(b);
    // Expired, then its check-in refunded: the refund takes its points (§8's figure) from what is left, then a debt.
    const p2 = nextPhone();
    const c2 = await checkin(b, p2, 40, "2026-01-10T12:00:00Z");
    await checkin(b, p2, 15, "2026-02-10T12:00:00Z");
    expect(await run({ asOf: "2026-03-01", businessIds: [b.businessId] })).toMatchObject({ customers: 1, points: 40 });
    const r2 = await pos(b, "/v1/pos/refund", { checkinId: c2.checkinId });
    expect(r2.body).toMatchObject({ pointsReversed: 40, totalPoints: -25 });
    expect(await expiring(b, p2)).toEqual([]);
    await invariant(b);
  });
});

describe("the run", () => {
  test("a run of day D expires exactly the points whose last valid day is before D; once; one EXPIRY row per customer", async () => {
    const b = await registerBusiness(t.url, { pointsExpireAfterMonths: 12 });
    const hook = await owner(b, "POST", "/v1/owner/webhooks", { url: "http://127.0.0.1:9/hook", eventTypes: ["points.expired"] });
    expect(hook.status, hook.text).toBe(200);
    const phone = nextPhone();
    const c = await checkin(b, phone, 10, "2026-03-10T12:00:00Z");
    await checkin(b, phone, 5, "2026-03-20T12:00:00Z");
    await checkin(b, phone, 7, "2026-04-02T12:00:00Z");
    expect((await run({ asOf: "2027-03-31", businessIds: [b.businessId] })).points).toBe(0);
    expect(await run({ asOf: "2027-04-01", businessIds: [b.businessId] })).toMatchObject({ businesses: 1, customers: 1, points: 15, lots: 2 });
    expect(await expiryRows(b)).toEqual([{ customer_id: c.customerId, delta: -15, balance_after: 7 }]);
    // Its event, written with it (contract §11).
    const events = await t.sql<{ type: string; customer_id: string; data: { object: Record<string, unknown> } }>(
      `select type, customer_id, data from event where business_id = $1 and type = 'points.expired'`,
      [b.businessId],
    );
    expect(events).toEqual([
      {
        type: "points.expired",
        customer_id: c.customerId,
        data: { object: expect.objectContaining({ customerId: c.customerId, pointsExpired: 15, newBalance: 7, runDate: "2027-04-01" }) },
      },
    ]);
    // A delivery owed to the subscribed endpoint (the sweep queues its attempt).
    const deliveries = await t.sql<{ type: string }>(
      `select e.type from webhook_delivery d join event e on e.id = d.event_id where d.business_id = $1`,
      [b.businessId],
    );
    expect(deliveries).toEqual([{ type: "points.expired" }]);
    // The same day again, and a later day before the next lot's date: nothing changes.
    expect(await run({ asOf: "2027-04-01", businessIds: [b.businessId] })).toMatchObject({ customers: 0, points: 0 });
    expect(await run({ asOf: "2027-04-30", businessIds: [b.businessId] })).toMatchObject({ customers: 0, points: 0 });
    expect(await expiryRows(b)).toHaveLength(1);
    const hist = await owner(b, "GET", `/v1/owner/customers/${c.customerId}`);
    expect(hist.body.pointsHistory[0]).toMatchObject({ delta: -15, type: "EXPIRY", reason: "Points expired" });
    expect(hist.body.expiringPoints).toEqual([{ points: 7, expiresAt: "2027-04-30T23:00:00Z" }]);
    expect(hist.body.lots.map((l: any) => [l.points, l.remaining, l.expired])).toEqual([
      [10, 0, 10],
      [5, 0, 5],
      [7, 7, 0],
    ]);
    await invariant(b);
  });

  test("scheduled: each business once on its local day; a business in another zone waits for its own midnight", async () => {
    const dub = await registerBusiness(t.url, { pointsExpireAfterMonths: 1 });
    const nyc = await registerBusiness(t.url, { pointsExpireAfterMonths: 1, timezone: "America/New_York" });
    const p1 = nextPhone();
    const p2 = nextPhone();
    await checkin(dub, p1, 10, "2026-01-15T12:00:00Z"); // through 2026-02-28 Dublin
    await checkin(nyc, p2, 10, "2026-01-15T12:00:00Z"); // through 2026-02-28 New York
    const ids = [dub.businessId, nyc.businessId];
    // 1 March 02:00 UTC: past midnight in Dublin, still 28 February in New York.
    const r1 = await run({ now: new Date("2026-03-01T02:00:00Z"), skipFinished: true, businessIds: ids });
    expect(r1).toMatchObject({ businesses: 2, customers: 1, points: 10 });
    expect(await expiryRows(dub)).toHaveLength(1);
    expect(await expiryRows(nyc)).toHaveLength(0);
    // An hour later: both businesses' days are done (Dublin's 1 March, New York's 28 February).
    expect(await run({ now: new Date("2026-03-01T03:00:00Z"), skipFinished: true, businessIds: ids })).toMatchObject({ businesses: 0, points: 0 });
    // After midnight in New York (05:00 UTC).
    expect(await run({ now: new Date("2026-03-01T05:30:00Z"), skipFinished: true, businessIds: ids })).toMatchObject({ businesses: 1, points: 10 });
    expect(await expiryRows(nyc)).toHaveLength(1);
    expect(await run({ now: new Date("2026-03-01T06:30:00Z"), skipFinished: true, businessIds: ids })).toMatchObject({ businesses: 0 });
  });

  test("two runs at once (two instances) write one EXPIRY row per customer; a run killed mid-way, run again, misses nothing", async () => {
    const b = await registerBusiness(t.url, { pointsExpireAfterMonths: 1 });
    const phones = Array.from({ length: 9 }, nextPhone);
    for (const [i, phone] of phones.entries()) await checkin(b, phone, 10 + i, "2026-01-15T12:00:00Z");
    await checkin(b, phones[0]!, 3, "2026-02-15T12:00:00Z"); // a later lot: not due on 1 March
    // A second instance on the same database.
    const t2 = await startTestApp({ databaseUrl: t.databaseUrl });
    try {
      const db2 = createDb(t2.orm);
      const [a, c] = await Promise.all([
        run({ asOf: "2026-03-01", businessIds: [b.businessId], batchSize: 2 }),
        runExpiry({ db: db2, lots: createLotRepository(db2) }, { asOf: "2026-03-01", businessIds: [b.businessId], batchSize: 2 }),
      ]);
      expect(a.customers + c.customers).toBe(9);
      expect(a.points + c.points).toBe(9 * 10 + 36);
    } finally {
      await t2.close();
    }
    const rows = await expiryRows(b);
    expect(rows).toHaveLength(9);
    expect(new Set(rows.map((r) => r.customer_id)).size).toBe(9);
    await invariant(b);

    // Killed after its first batch (of 2 customers): the next run does the other customers, once each.
    const k = await registerBusiness(t.url, { pointsExpireAfterMonths: 1 });
    const kp = Array.from({ length: 5 }, nextPhone);
    for (const phone of kp) await checkin(k, phone, 10, "2026-01-15T12:00:00Z");
    const killed = run({
      asOf: "2026-03-01",
      businessIds: [k.businessId],
      batchSize: 2,
      afterBatch: () => {
        throw new Error("killed");
      },
    });
    await expect(killed).rejects.toThrow("killed");
    expect(await expiryRows(k)).toHaveLength(2);
    const [unfinished] = await t.sql<{ finished_at: Date | null; customers: number }>(
      `select finished_at, customers from expiry_run where business_id = $1`,
      [k.businessId],
    );
    expect(unfinished).toEqual({ finished_at: null, customers: 2 });
    expect(await run({ asOf: "2026-03-01", businessIds: [k.businessId], batchSize: 2 })).toMatchObject({ customers: 3, points: 30 });
    const kr = await expiryRows(k);
    expect(kr).toHaveLength(5);
    expect(kr.every((r) => r.delta === -10 && r.balance_after === 0)).toBe(true);
    await invariant(k);
  });

  test("check-ins of customers in a batch wait at most for that batch", async () => {
    const b = await registerBusiness(t.url, { pointsExpireAfterMonths: 1 });
    const phone = nextPhone();
    await checkin(b, phone, 10, "2026-01-15T12:00:00Z");
    let waited = -1;
    await run({
      asOf: "2026-03-01",
      businessIds: [b.businessId],
      afterBatch: async () => {
        // The batch committed: a check-in of its customer goes through at once.
        const s = performance.now();
        await checkin(b, phone, 4);
        waited = performance.now() - s;
      },
    });
    expect(waited).toBeGreaterThanOrEqual(0);
    expect((await get(b, `/v1/pos/balance/${encodeURIComponent(phone)}`)).body.totalPoints).toBe(4);
    await invariant(b);
  });
});

describe("what people see", () => {
  test("owner look-up lists expiring points and lots; the dashboard counts the next 30 days", async () => {
    const b = await registerBusiness(t.url, { pointsExpireAfterMonths: 12 });
    const phone = nextPhone();
    const c = await checkin(b, phone, 120, "2026-03-10T12:00:00Z");
    await checkin(b, phone, 30, "2026-05-10T12:00:00Z");
    const adm = await owner(b, "GET", `/v1/owner/customers/${c.customerId}`);
    expect(adm.body.expiringPoints).toEqual([
      { points: 120, expiresAt: "2027-03-31T23:00:00Z" },
      { points: 30, expiresAt: "2027-05-31T23:00:00Z" },
    ]);
    expect(adm.body.lots[0]).toEqual({
      id: expect.any(String),
      points: 120,
      remaining: 120,
      expired: 0,
      earnedAt: "2026-03-10T12:00:00Z",
      expiresAt: "2027-03-31T23:00:00Z",
      checkinId: c.checkinId,
    });
    expect((await owner(b, "GET", "/v1/owner/dashboard")).body.pointsExpiring30Days).toBe(0);
    // The first lot dated so that it stops counting in 10 days, the second in 40.
    await t.sql(`update point_lot set expires_at = now() + (case when points = 120 then 10 else 40 end) * interval '1 day' where customer_id = $1`, [c.customerId]);
    const d = await owner(b, "GET", "/v1/owner/dashboard");
    expect(d.body).toMatchObject({ pointsExpiring30Days: 120, pointsExpired: 0 });
  });
});
