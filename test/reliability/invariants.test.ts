/**
 * Bank-style invariants (issue 4 §2, contract §5): two service instances on
 * one PostgreSQL database (and one Redis) take several hundred concurrent
 * check-ins, redeems and owner adjustments, over REST and gRPC. Afterwards
 * every balance equals its ledger, none is negative, the ledger is one
 * serial chain per customer, and the number of successful redeems is exactly
 * what the balances allowed.
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "../support/rest.js";
import { call, loadGrpcStubs } from "../support/grpc.js";

const LIMITS = { OWNER_RATE_LIMIT_PER_MINUTE: "1000000", POS_RATE_LIMIT_PER_MINUTE: "1000000" };
const CUSTOMERS = 10;
const OPERATIONS = 600;
const IN_FLIGHT = 24;
const COST = 100; // the default reward threshold

let t1: TestApp;
let t2: TestApp;
let stubs: ReturnType<typeof loadGrpcStubs>;
let biz: Business;

beforeAll(async () => {
  t1 = await startTestApp({ env: LIMITS });
  t2 = await startTestApp({ databaseUrl: t1.databaseUrl, env: LIMITS });
  stubs = loadGrpcStubs(`127.0.0.1:${t2.port}`);
  biz = await registerBusiness(t1.url);
});
afterAll(async () => {
  stubs?.close();
  await t2?.close();
  await t1?.close();
});

/** A tiny deterministic PRNG (mulberry32) so a failing run can be replayed. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs `tasks` with at most `limit` in flight. */
async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]!();
      }
    }),
  );
  return out;
}

/** Outcome of one operation, whatever the protocol. */
interface Outcome {
  kind: "checkin" | "redeem" | "adjust";
  customer: number;
  /** "ok" or the error code name. */
  result: string;
  status: number;
  points: number;
  via: string;
}

const GRPC_CODE_NAMES: Record<number, string> = { 3: "invalid_argument", 5: "not_found", 9: "failed_precondition", 10: "aborted", 13: "internal", 14: "unavailable" };

interface LedgerCheck {
  violations: string[];
  totals: Map<string, number>;
}

/** Checks every customer of the business against its ledger; returns the violations found. */
async function checkLedger(t: TestApp, businessId: string): Promise<LedgerCheck> {
  const violations: string[] = [];
  const customers = await t.sql<{ id: string; total_points: number }>(`select id, total_points from customer where business_id = $1`, [businessId]);
  const entries = await t.sql<{ customer_id: string; delta: number; balance_after: number; type: string }>(
    `select customer_id, delta, balance_after, type from ledger_entry where business_id = $1 order by customer_id, created_at, id`,
    [businessId],
  );
  const byCustomer = new Map<string, typeof entries>();
  for (const e of entries) {
    if (!byCustomer.has(e.customer_id)) byCustomer.set(e.customer_id, []);
    byCustomer.get(e.customer_id)!.push(e);
  }
  const totals = new Map<string, number>();
  for (const c of customers) {
    totals.set(c.id, c.total_points);
    const rows = byCustomer.get(c.id) ?? [];
    const sum = rows.reduce((s, r) => s + r.delta, 0);
    if (sum !== c.total_points) violations.push(`${c.id}: total_points ${c.total_points} != ledger sum ${sum}`);
    if (c.total_points < 0) violations.push(`${c.id}: negative balance ${c.total_points}`);
    // The ledger is one serial chain: each balance_after follows from the previous one.
    let running = 0;
    for (const r of rows) {
      running += r.delta;
      if (r.balance_after !== running) violations.push(`${c.id}: balance_after ${r.balance_after} != running ${running}`);
      if (r.balance_after < 0) violations.push(`${c.id}: ledger went negative (${r.balance_after})`);
    }
  }
  const orphans = await t.sql<{ n: string }>(
    `select count(*) as n from ledger_entry l where business_id = $1 and not exists (select 1 from customer c where c.id = l.customer_id)`,
    [businessId],
  );
  if (Number(orphans[0]!.n) !== 0) violations.push(`${orphans[0]!.n} orphan ledger rows`);
  return { violations, totals };
}

test(`invariants: ${OPERATIONS} concurrent check-ins, redeems and adjustments on two instances`, async () => {
  const rnd = prng(20261125);
  const instances = [t1, t2];

  // ~10 customers with opening balances (INITIAL ledger rows).
  const customers: { id: string; phone: string; initial: number }[] = [];
  for (let i = 0; i < CUSTOMERS; i++) {
    const initial = [0, 50, 99, 100, 150, 230, 300, 40, 120, 10][i]!;
    const phone = `+3531555${String(1000 + i).padStart(5, "0")}`;
    const r = await rest(t1.url, "POST", "/v1/owner/customers", {
      body: { name: `Customer ${i}`, phone, initialPoints: initial },
      headers: ownerAuth(biz),
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body.customer.totalPoints).toBe(initial);
    customers.push({ id: r.body.customer.id, phone, initial });
  }

  const tasks: (() => Promise<Outcome>)[] = [];
  for (let n = 0; n < OPERATIONS; n++) {
    // A few customers are hot, so operations really collide.
    const ci = rnd() < 0.5 ? Math.floor(rnd() * 3) : Math.floor(rnd() * CUSTOMERS);
    const c = customers[ci]!;
    const t = instances[rnd() < 0.5 ? 0 : 1]!;
    const r = rnd();
    const useGrpc = rnd() < 0.15;
    const byPhone = rnd() < 0.5;
    if (r < 0.4) {
      const cents = 100 + Math.floor(rnd() * 6000);
      const amount = cents / 100;
      const ref = byPhone ? { phone: c.phone } : { customerId: c.id };
      tasks.push(async () => {
        if (useGrpc) {
          const g = await call(stubs.pos, "Checkin", { ...ref, amount }, { "x-api-key": biz.apiKey });
          return g.error
            ? { kind: "checkin", customer: ci, result: GRPC_CODE_NAMES[g.error.code] ?? `grpc${g.error.code}`, status: 0, points: 0, via: "grpc" }
            : { kind: "checkin", customer: ci, result: "ok", status: 200, points: g.response.pointsAwarded, via: "grpc" };
        }
        const res = await rest(t.url, "POST", "/v1/pos/checkin", { body: { ...ref, amount }, headers: posAuth(biz) });
        return { kind: "checkin", customer: ci, result: res.status === 200 ? "ok" : res.body?.error?.code, status: res.status, points: res.body?.pointsAwarded ?? 0, via: "rest" };
      });
    } else if (r < 0.75) {
      const points = rnd() < 0.8 ? COST : 2 * COST;
      const ref = byPhone ? { phone: c.phone } : { customerId: c.id };
      tasks.push(async () => {
        if (useGrpc) {
          const g = await call(stubs.pos, "Redeem", { ...ref, points }, { "x-api-key": biz.apiKey });
          return g.error
            ? { kind: "redeem", customer: ci, result: GRPC_CODE_NAMES[g.error.code] ?? `grpc${g.error.code}`, status: 0, points, via: "grpc" }
            : { kind: "redeem", customer: ci, result: "ok", status: 200, points: g.response.pointsRedeemed, via: "grpc" };
        }
        const res = await rest(t.url, "POST", "/v1/pos/redeem", { body: { ...ref, points }, headers: posAuth(biz) });
        return { kind: "redeem", customer: ci, result: res.status === 200 ? "ok" : res.body?.error?.code, status: res.status, points, via: "rest" };
      });
    } else {
      const magnitude = 1 + Math.floor(rnd() * 150);
      const points = rnd() < 0.55 ? magnitude : -magnitude;
      tasks.push(async () => {
        const res = await rest(t.url, "POST", `/v1/owner/customers/${c.id}/points`, {
          body: { points, reason: "load test" },
          headers: ownerAuth(biz),
        });
        if (res.status === 200) expect(res.body.adjustment).toBe(points);
        return { kind: "adjust", customer: ci, result: res.status === 200 ? "ok" : res.body?.error?.code, status: res.status, points, via: "rest" };
      });
    }
  }

  const started = Date.now();
  const outcomes = await pool(tasks, IN_FLIGHT);
  const elapsed = Date.now() - started;

  // Every outcome is a success or a legitimate refusal — never a 5xx or an unknown error.
  const allowed: Record<Outcome["kind"], string[]> = {
    checkin: ["ok"],
    redeem: ["ok", "failed_precondition", "aborted"],
    adjust: ["ok", "failed_precondition"],
  };
  const unexpected = outcomes.filter((o) => !allowed[o.kind].includes(o.result));
  expect(unexpected, JSON.stringify(unexpected.slice(0, 5))).toEqual([]);

  // Expected final balances from the responses alone.
  const expected = customers.map((c) => c.initial);
  const counts = customers.map(() => ({ checkin: 0, redeem: 0, adjust: 0 }));
  for (const o of outcomes) {
    if (o.result !== "ok") continue;
    counts[o.customer]![o.kind]++;
    if (o.kind === "checkin") expected[o.customer]! += o.points;
    if (o.kind === "redeem") expected[o.customer]! -= o.points;
    if (o.kind === "adjust") expected[o.customer]! += o.points;
  }

  const { violations, totals } = await checkLedger(t1, biz.businessId);
  const typeCounts = await t1.sql<{ customer_id: string; type: string; n: string }>(
    `select customer_id, type, count(*) as n from ledger_entry where business_id = $1 group by customer_id, type`,
    [biz.businessId],
  );
  const redemptions = await t1.sql<{ customer_id: string; n: string; pts: string }>(
    `select customer_id, count(*) as n, sum(points) as pts from redemption where business_id = $1 group by customer_id`,
    [biz.businessId],
  );
  customers.forEach((c, i) => {
    const n = (type: string) => Number(typeCounts.find((r) => r.customer_id === c.id && r.type === type)?.n ?? 0);
    if (totals.get(c.id) !== expected[i]) violations.push(`${c.id}: final ${totals.get(c.id)} != initial + credits - redeems ${expected[i]}`);
    if (n("CHECKIN") !== counts[i]!.checkin) violations.push(`${c.id}: ${n("CHECKIN")} CHECKIN rows for ${counts[i]!.checkin} successful check-ins`);
    if (n("REDEMPTION") !== counts[i]!.redeem) violations.push(`${c.id}: ${n("REDEMPTION")} REDEMPTION rows for ${counts[i]!.redeem} successful redeems`);
    if (n("ADJUSTMENT") !== counts[i]!.adjust) violations.push(`${c.id}: ${n("ADJUSTMENT")} ADJUSTMENT rows for ${counts[i]!.adjust} successful adjustments`);
    if (n("INITIAL") !== (c.initial > 0 ? 1 : 0)) violations.push(`${c.id}: ${n("INITIAL")} INITIAL rows`);
    const red = redemptions.find((r) => r.customer_id === c.id);
    if (Number(red?.n ?? 0) !== counts[i]!.redeem) violations.push(`${c.id}: ${red?.n ?? 0} redemption rows for ${counts[i]!.redeem} successful redeems`);
  });

  // Drain: fire more redeems than the balance allows, over both instances at once;
  // exactly floor(balance / cost) succeed and the remainder stays.
  const drainTasks: (() => Promise<{ ci: number; status: number; code?: string }>)[] = [];
  customers.forEach((c, ci) => {
    const allowedRedeems = Math.floor(totals.get(c.id)! / COST);
    for (let k = 0; k < allowedRedeems + 3; k++) {
      const t = instances[k % 2]!;
      drainTasks.push(async () => {
        const res = await rest(t.url, "POST", "/v1/pos/redeem", { body: { customerId: c.id, points: COST }, headers: posAuth(biz) });
        return { ci, status: res.status, code: res.body?.error?.code };
      });
    }
  });
  const drained = await pool(drainTasks, IN_FLIGHT);
  const drainBad = drained.filter((d) => d.status !== 200 && !(d.status === 400 && d.code === "failed_precondition") && !(d.status === 409 && d.code === "aborted"));
  expect(drainBad).toEqual([]);
  customers.forEach((c, ci) => {
    const before = totals.get(c.id)!;
    const succeeded = drained.filter((d) => d.ci === ci && d.status === 200).length;
    if (succeeded !== Math.floor(before / COST)) violations.push(`${c.id}: drain of ${before} allowed ${succeeded} redeems, expected ${Math.floor(before / COST)}`);
  });
  const after = await checkLedger(t1, biz.businessId);
  violations.push(...after.violations);
  customers.forEach((c) => {
    const left = after.totals.get(c.id)!;
    if (left !== totals.get(c.id)! % COST) violations.push(`${c.id}: ${left} left after the drain, expected ${totals.get(c.id)! % COST}`);
  });

  const tally = (kind: string, result?: string) => outcomes.filter((o) => o.kind === kind && (result === undefined || o.result === result)).length;
  console.log(
    `[invariants] ${outcomes.length} operations in ${elapsed} ms on 2 instances (${outcomes.filter((o) => o.via === "grpc").length} over gRPC): ` +
      `check-ins ${tally("checkin", "ok")}/${tally("checkin")}, redeems ${tally("redeem", "ok")} ok / ${tally("redeem", "failed_precondition")} insufficient / ${tally("redeem", "aborted")} aborted, ` +
      `adjustments ${tally("adjust", "ok")} ok / ${tally("adjust", "failed_precondition")} refused; drain ${drained.length} redeems, ` +
      `${drained.filter((d) => d.status === 200).length} ok; 5xx: ${outcomes.filter((o) => o.status >= 500).length}; invariant violations: ${violations.length}`,
  );
  expect(violations).toEqual([]);
  // The load really exercised both outcomes of redeem.
  expect(tally("redeem", "ok")).toBeGreaterThan(0);
  expect(tally("redeem", "failed_precondition")).toBeGreaterThan(0);
}, 90_000);

test("two simultaneous redeems of 100 on a balance of 150, one per instance → exactly one succeeds (20 rounds)", async () => {
  let violations = 0;
  for (let round = 0; round < 20; round++) {
    const created = await rest(t1.url, "POST", "/v1/owner/customers", {
      body: { name: `Race ${round}`, phone: `+3531666${String(round).padStart(5, "0")}`, initialPoints: 150 },
      headers: ownerAuth(biz),
    });
    expect(created.status).toBe(200);
    const id = created.body.customer.id as string;
    const phone = created.body.customer.phone as string;
    // Alternate how the two tills name the customer and which protocol the second one speaks.
    const first = rest(t1.url, "POST", "/v1/pos/redeem", { body: round % 2 ? { phone, points: 100 } : { customerId: id, points: 100 }, headers: posAuth(biz) });
    const second =
      round % 4 === 3
        ? call(stubs.pos, "Redeem", { customerId: id, points: 100 }, { "x-api-key": biz.apiKey }).then((g) =>
            g.error ? { status: g.error.code === 9 ? 400 : 1000 + g.error.code, code: GRPC_CODE_NAMES[g.error.code] } : { status: 200, code: undefined },
          )
        : rest(t2.url, "POST", "/v1/pos/redeem", { body: { customerId: id, points: 100 }, headers: posAuth(biz) }).then((r) => ({
            status: r.status,
            code: r.body?.error?.code as string | undefined,
          }));
    const [r1, r2] = await Promise.all([first, second]);
    const statuses = [r1.status, r2.status].sort();
    expect(statuses, `round ${round}`).toEqual([200, 400]);
    expect([r1.status === 400 ? r1.body.error.code : undefined, r2.code].filter(Boolean)).toEqual(["failed_precondition"]);
    const [row] = await t1.sql<{ total_points: number; ledger: string; redemptions: string }>(
      `select total_points, (select coalesce(sum(delta), 0) from ledger_entry where customer_id = $1) as ledger,
              (select count(*) from redemption where customer_id = $1) as redemptions
       from customer where id = $1`,
      [id],
    );
    if (row!.total_points !== 50 || Number(row!.ledger) !== 50 || Number(row!.redemptions) !== 1) violations++;
    expect(row).toEqual({ total_points: 50, ledger: "50", redemptions: "1" });
  }
  console.log(`[invariants] 20 double-redeem races on two instances: 20 single successes, ${violations} violations`);
});
