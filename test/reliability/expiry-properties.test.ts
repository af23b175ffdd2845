/**
 * The ledger model test with expiry (issue 16): random sequences of
 * check-ins (dated month by month: this process's Date, which the in-process
 * server reads), redemptions, owner credits and deductions, refunds, voids,
 * policy changes and expiry runs (`asOf` days) against the real API,
 * compared step by step with an in-memory model of the lots. At every check:
 * the balance equals the ledger sum and equals the unexpired lots plus the
 * never-expiring points minus the debt, and the look-up's `expiringPoints`
 * are exactly the model's lots, soonest first.
 */
import { afterAll, afterEach, beforeAll, expect, test, vi } from "vitest";
import fc from "fast-check";
import { DateTime } from "luxon";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "../support/rest.js";
import { runExpiry } from "../../src/services/expiry-run.js";
import { createDb } from "../../src/persistence/db.js";
import { createLotRepository } from "../../src/persistence/lot-repository.js";

const SEED = 1616;
const ZONE = "Europe/Dublin";

let app: TestApp;
let expire: (businessId: string, asOf: string) => Promise<unknown>;
beforeAll(async () => {
  app = await startTestApp({ env: { OWNER_RATE_LIMIT_PER_MINUTE: "1000000", POS_RATE_LIMIT_PER_MINUTE: "1000000" } });
  const db = createDb(app.orm);
  expire = (businessId, asOf) => runExpiry({ db, lots: createLotRepository(db) }, { asOf, businessIds: [businessId] });
});
afterAll(async () => app?.close());
afterEach(() => vi.useRealTimers());

interface Lot {
  seq: number;
  checkinId: string | null;
  expiresAt: number;
  remaining: number;
}
interface Checkin {
  id: string;
  earned: number;
  refunded: number;
}
interface Redemption {
  id: string;
  points: number;
  voided: boolean;
  uses: { lot: Lot; points: number }[];
}
interface Customer {
  id: string;
  phone: string;
  balance: number;
  lots: Lot[];
  checkins: Checkin[];
  redemptions: Redemption[];
}
interface Model {
  customers: Customer[];
  /** Months since January 2026: when the next check-in is earned. */
  month: number;
  policy: number;
  threshold: number;
  phones: number;
  seq: number;
}
interface Real {
  biz: Business;
}
type Cmd = fc.AsyncCommand<Model, Real>;

/** The instant points earned in `month` stop counting under an N-month policy: local midnight starting month + N + 1. */
const stopsAt = (month: number, n: number) => DateTime.fromObject({ year: 2026, month: 1, day: 1 }, { zone: ZONE }).plus({ months: month + n + 1 }).toMillis();
const earnedAt = (month: number) => DateTime.fromObject({ year: 2026, month: 1, day: 15, hour: 12 }, { zone: ZONE }).plus({ months: month }).toJSDate();
const realMonth = () => {
  const now = DateTime.now().setZone(ZONE);
  return (now.year - 2026) * 12 + now.month - 1;
};
const pick = (m: Model, i: number) => m.customers[i % m.customers.length]!;
const lotsSum = (c: Customer) => c.lots.reduce((s, l) => s + l.remaining, 0);
const soonest = (c: Customer) => c.lots.filter((l) => l.remaining > 0).sort((a, b) => a.expiresAt - b.expiresAt || a.seq - b.seq);

/** New points: a debt first, then a lot for the rest (under a policy). */
function credit(m: Model, c: Customer, points: number, month: number, checkinId: string | null) {
  c.balance += points;
  const lot = Math.min(points, Math.max(c.balance, 0));
  if (m.policy > 0 && lot > 0) c.lots.push({ seq: m.seq++, checkinId, expiresAt: stopsAt(month, m.policy), remaining: lot });
}

/** Takes points from lots in order; returns what it took from each. */
function take(order: Lot[], points: number) {
  const uses: { lot: Lot; points: number }[] = [];
  let left = points;
  for (const l of order) {
    if (left === 0) break;
    const p = Math.min(l.remaining, left);
    if (p === 0) continue;
    l.remaining -= p;
    left -= p;
    uses.push({ lot: l, points: p });
  }
  return uses;
}

async function at<T>(month: number | undefined, fn: () => Promise<T>): Promise<T> {
  if (month === undefined) return fn();
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(earnedAt(month));
  try {
    return await fn();
  } finally {
    vi.useRealTimers();
  }
}

class Enrol implements Cmd {
  constructor(readonly amount: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const phone = `+3531888${String(m.phones++).padStart(5, "0")}`;
    const res = await at(m.month, () => rest(app.url, "POST", "/v1/pos/checkin", { body: { phone, amount: this.amount }, headers: posAuth(r.biz) }));
    expect(res.status, res.text).toBe(200);
    const c: Customer = { id: res.body.customerId, phone, balance: 0, lots: [], checkins: [], redemptions: [] };
    credit(m, c, this.amount, m.month, res.body.checkinId);
    c.checkins.push({ id: res.body.checkinId, earned: this.amount, refunded: 0 });
    m.customers.push(c);
    expect(res.body.totalPoints).toBe(c.balance);
  }
  toString = () => `enrol(${this.amount})`;
}

class CheckinCmd implements Cmd {
  constructor(readonly who: number, readonly amount: number) {}
  check = (m: Readonly<Model>) => m.customers.length > 0;
  async run(m: Model, r: Real) {
    const c = pick(m, this.who);
    const res = await at(m.month, () => rest(app.url, "POST", "/v1/pos/checkin", { body: { customerId: c.id, amount: this.amount }, headers: posAuth(r.biz) }));
    expect(res.status, res.text).toBe(200);
    credit(m, c, this.amount, m.month, res.body.checkinId);
    c.checkins.push({ id: res.body.checkinId, earned: this.amount, refunded: 0 });
    expect(res.body.totalPoints).toBe(c.balance);
  }
  toString = () => `checkin(#${this.who}, ${this.amount})`;
}

class Advance implements Cmd {
  constructor(readonly months: number) {}
  check = (m: Readonly<Model>) => m.month + this.months <= 10;
  async run(m: Model) {
    m.month += this.months;
  }
  toString = () => `advance(${this.months})`;
}

class Policy implements Cmd {
  constructor(readonly months: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const res = await rest(app.url, "PATCH", "/v1/owner/program", { body: { pointsExpireAfterMonths: this.months }, headers: ownerAuth(r.biz) });
    expect(res.status, res.text).toBe(200);
    m.policy = this.months;
  }
  toString = () => `policy(${this.months})`;
}

class Redeem implements Cmd {
  constructor(readonly who: number, readonly rewards: number) {}
  check = (m: Readonly<Model>) => m.customers.length > 0;
  async run(m: Model, r: Real) {
    const c = pick(m, this.who);
    const points = this.rewards * m.threshold;
    const res = await rest(app.url, "POST", "/v1/pos/redeem", { body: { customerId: c.id, points }, headers: posAuth(r.biz) });
    if (c.balance < points) return void expect(res.status).toBe(400);
    expect(res.status, res.text).toBe(200);
    c.balance -= points;
    c.redemptions.push({ id: res.body.redemptionId, points, voided: false, uses: take(soonest(c), points) });
    expect(res.body.remainingPoints).toBe(c.balance);
  }
  toString = () => `redeem(#${this.who}, ${this.rewards}×)`;
}

class Adjust implements Cmd {
  constructor(readonly who: number, readonly delta: number) {}
  check = (m: Readonly<Model>) => m.customers.length > 0;
  async run(m: Model, r: Real) {
    const c = pick(m, this.who);
    const res = await rest(app.url, "POST", `/v1/owner/customers/${c.id}/points`, { body: { points: this.delta, reason: "model" }, headers: ownerAuth(r.biz) });
    if (this.delta < 0 && c.balance + this.delta < 0) return void expect(res.status).toBe(400);
    expect(res.status, res.text).toBe(200);
    // Owner calls run on the real clock: a credit's lot is earned this month.
    if (this.delta > 0) credit(m, c, this.delta, realMonth(), null);
    else {
      c.balance += this.delta;
      take(soonest(c), -this.delta);
    }
    expect(res.body.newBalance).toBe(c.balance);
  }
  toString = () => `adjust(#${this.who}, ${this.delta})`;
}

/** A whole refund of one check-in (VISIT-like figures: SPEND at 1 point per unit, refunded in full). */
class Refund implements Cmd {
  constructor(readonly who: number, readonly which: number) {}
  check = (m: Readonly<Model>) => m.customers.some((c) => c.checkins.length > 0);
  async run(m: Model, r: Real) {
    const withCheckins = m.customers.filter((c) => c.checkins.length > 0);
    const c = withCheckins[this.who % withCheckins.length]!;
    const ci = c.checkins[this.which % c.checkins.length]!;
    const res = await rest(app.url, "POST", "/v1/pos/refund", { body: { checkinId: ci.id }, headers: posAuth(r.biz) });
    if (ci.refunded === ci.earned) return void expect(res.status).toBe(400);
    expect(res.status, res.text).toBe(200);
    const points = ci.earned - ci.refunded;
    ci.refunded = ci.earned;
    const before = c.balance;
    c.balance -= points;
    const own = c.lots.filter((l) => l.checkinId === ci.id);
    let need = points;
    // A check-in that made no lot: the never-expiring points first.
    if (own.length === 0) need -= Math.max(0, Math.min(points, before - lotsSum(c)));
    const order = [...own.filter((l) => l.remaining > 0).sort((a, b) => a.expiresAt - b.expiresAt || a.seq - b.seq), ...soonest(c).filter((l) => l.checkinId !== ci.id)];
    take(order, need);
    expect(res.body).toMatchObject({ pointsReversed: points, totalPoints: c.balance });
  }
  toString = () => `refund(#${this.who}, ci ${this.which})`;
}

class Void implements Cmd {
  constructor(readonly who: number, readonly which: number) {}
  check = (m: Readonly<Model>) => m.customers.some((c) => c.redemptions.length > 0);
  async run(m: Model, r: Real) {
    const withRedemptions = m.customers.filter((c) => c.redemptions.length > 0);
    const c = withRedemptions[this.who % withRedemptions.length]!;
    const rd = c.redemptions[this.which % c.redemptions.length]!;
    const res = await rest(app.url, "POST", "/v1/pos/redeem/void", { body: { redemptionId: rd.id }, headers: posAuth(r.biz) });
    if (rd.voided) return void expect(res.status).toBe(400);
    expect(res.status, res.text).toBe(200);
    rd.voided = true;
    const debt = Math.max(0, -c.balance);
    c.balance += rd.points;
    // The debt is paid by the never-expiring part first, then by the lots soonest first.
    let debtLeft = Math.max(0, debt - (rd.points - rd.uses.reduce((s, u) => s + u.points, 0)));
    for (const u of [...rd.uses].sort((a, b) => a.lot.expiresAt - b.lot.expiresAt || a.lot.seq - b.lot.seq)) {
      const paid = Math.min(u.points, debtLeft);
      debtLeft -= paid;
      u.lot.remaining += u.points - paid;
    }
    expect(res.body).toMatchObject({ pointsRestored: rd.points, totalPoints: c.balance });
  }
  toString = () => `void(#${this.who}, rd ${this.which})`;
}

/** The run of the first day of a month (months since January 2026). */
class Expire implements Cmd {
  constructor(readonly month: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const day = DateTime.fromObject({ year: 2026, month: 1, day: 1 }, { zone: ZONE }).plus({ months: this.month });
    await expire(r.biz.businessId, day.toISODate()!);
    for (const c of m.customers) {
      for (const l of c.lots) {
        if (l.expiresAt <= day.toMillis() && l.remaining > 0) {
          c.balance -= l.remaining;
          l.remaining = 0;
        }
      }
    }
  }
  toString = () => `expire(${DateTime.fromObject({ year: 2026, month: 1, day: 1 }).plus({ months: this.month }).toISODate()})`;
}

class CheckAll implements Cmd {
  check = (m: Readonly<Model>) => m.customers.length > 0;
  async run(m: Model, r: Real) {
    for (const c of m.customers) {
      const res = await rest(app.url, "GET", `/v1/owner/customers/${c.id}`, { headers: ownerAuth(r.biz) });
      expect(res.status).toBe(200);
      expect(res.body.totalPoints).toBe(c.balance);
      const ledger = (res.body.pointsHistory as { delta: number }[]).reduce((s, e) => s + e.delta, 0);
      expect(ledger).toBe(c.balance);
      const groups = new Map<number, number>();
      for (const l of soonest(c)) groups.set(l.expiresAt, (groups.get(l.expiresAt) ?? 0) + l.remaining);
      expect((res.body.expiringPoints ?? []).map((e: { points: number; expiresAt: string }) => [e.points, Date.parse(e.expiresAt)])).toEqual(
        [...groups].map(([at, points]) => [points, at]),
      );
      // balance = lots + never-expiring − debt: lots never exceed a positive balance, and none under a debt.
      const lots = lotsSum(c);
      expect(lots).toBeLessThanOrEqual(Math.max(0, c.balance));
    }
  }
  toString = () => "checkAll";
}

test("stateful model with expiry: balance = ledger sum = unexpired lots + never-expiring − debt, and the look-ups list the lots", async () => {
  const who = fc.nat({ max: 20 });
  const amount = fc.integer({ min: 1, max: 120 });
  const commands = [
    amount.map((a) => new Enrol(a)),
    fc.tuple(who, amount).map(([w, a]) => new CheckinCmd(w, a)),
    fc.tuple(who, amount).map(([w, a]) => new CheckinCmd(w, a)),
    fc.integer({ min: 1, max: 3 }).map((k) => new Advance(k)),
    fc.constantFrom(0, 1, 2, 6).map((n) => new Policy(n)),
    fc.tuple(who, fc.integer({ min: 1, max: 2 })).map(([w, k]) => new Redeem(w, k)),
    fc.tuple(who, fc.integer({ min: 1, max: 2 })).map(([w, k]) => new Redeem(w, k)),
    fc.tuple(who, fc.integer({ min: -80, max: 80 }).filter((d) => d !== 0)).map(([w, d]) => new Adjust(w, d)),
    fc.tuple(who, who).map(([w, i]) => new Refund(w, i)),
    fc.tuple(who, who).map(([w, i]) => new Void(w, i)),
    fc.integer({ min: 1, max: 14 }).map((k) => new Expire(k)),
    fc.constant(new CheckAll()),
  ];
  let runs = 0;
  let steps = 0;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(1, 2, 3), fc.commands(commands, { maxCommands: 30, size: "large" }), async (policy, cmds) => {
      runs++;
      const biz = await registerBusiness(app.url, { rewardThreshold: 40, pointsExpireAfterMonths: policy });
      const model: Model = { customers: [], month: 0, policy, threshold: 40, phones: runs * 1000, seq: 0 };
      const real: Real = { biz };
      await new Enrol(60).run(model, real);
      await fc.asyncModelRun(() => ({ model, real }), cmds);
      await new CheckAll().run(model, real);
      steps += [...cmds].length;
      const rows = await app.sql<{ id: string; total_points: number; ledger: number; lots: number }>(
        `select c.id, c.total_points, coalesce((select sum(delta)::int from ledger_entry l where l.customer_id = c.id), 0) as ledger,
                coalesce((select sum(remaining)::int from point_lot p where p.customer_id = c.id), 0) as lots
         from customer c where c.business_id = $1`,
        [biz.businessId],
      );
      for (const c of model.customers) {
        const row = rows.find((x) => x.id === c.id)!;
        expect(row.total_points).toBe(c.balance);
        expect(row.ledger).toBe(c.balance);
        expect(row.lots).toBe(lotsSum(c));
        if (row.total_points < 0) expect(row.lots).toBe(0);
      }
    }),
    { seed: SEED, numRuns: 12, endOnFailure: true },
  );
  console.log(`[properties] stateful model with expiry: ${runs} runs, ${steps} commands, 0 divergences`);
}, 180_000);
