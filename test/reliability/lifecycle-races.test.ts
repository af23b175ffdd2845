/**
 * Contract §8 under concurrency, on two service instances sharing one
 * PostgreSQL and one Redis: two tills submitting the same receipt at the same
 * moment credit it once; refunds and voids racing redeems and each other
 * never take back more than a check-in earned, never give a redemption back
 * twice, and leave every balance equal to its ledger, one serial chain.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "../support/rest.js";
import { call, loadGrpcStubs } from "../support/grpc.js";

const LIMITS = { OWNER_RATE_LIMIT_PER_MINUTE: "1000000", POS_RATE_LIMIT_PER_MINUTE: "1000000" };
let t1: TestApp;
let t2: TestApp;
let stubs: ReturnType<typeof loadGrpcStubs>;

beforeAll(async () => {
  t1 = await startTestApp({ env: LIMITS });
  t2 = await startTestApp({ databaseUrl: t1.databaseUrl, env: LIMITS });
  stubs = loadGrpcStubs(`127.0.0.1:${t2.port}`);
});
afterAll(async () => {
  stubs?.close();
  await t2?.close();
  await t1?.close();
});

type Outcome = { status: number; code?: string; message?: string; body?: any };
const GRPC_CODE: Record<number, string> = { 3: "invalid_argument", 5: "not_found", 6: "already_exists", 9: "failed_precondition", 10: "aborted" };
const GRPC_STATUS: Record<number, number> = { 3: 400, 5: 404, 6: 409, 9: 400, 10: 409 };

/** One POS call over REST on instance 1 or 2, or over gRPC on instance 2 (by `lane`). */
async function pos(b: Business, lane: number, method: "Checkin" | "RefundCheckin" | "VoidRedemption" | "Redeem", path: string, body: object, extra: Record<string, string> = {}): Promise<Outcome> {
  if (lane % 3 === 2) {
    const r = await call(stubs.pos, method, body, { "x-api-key": b.apiKey, ...extra });
    if (r.error) return { status: GRPC_STATUS[r.error.code] ?? 500, code: GRPC_CODE[r.error.code] ?? String(r.error.code), message: r.error.details };
    return { status: 200, body: r.response };
  }
  const r = await rest(lane % 3 === 0 ? t1.url : t2.url, "POST", path, { body, headers: { ...posAuth(b), ...extra } });
  return r.status === 200 ? { status: 200, body: r.body } : { status: r.status, code: r.body?.error?.code, message: r.body?.error?.message };
}

/** Every customer's balance equals its ledger, which is one serial chain. */
async function expectConsistentLedgers(b: Business) {
  const customers = await t1.sql<{ id: string; total_points: number }>("select id, total_points from customer where business_id = $1", [b.businessId]);
  const violations: string[] = [];
  for (const c of customers) {
    const rows = await t1.sql<{ delta: number; balance_after: number }>(
      "select delta, balance_after from ledger_entry where customer_id = $1 order by created_at, id",
      [c.id],
    );
    let running = 0;
    for (const r of rows) {
      running += r.delta;
      if (r.balance_after !== running) violations.push(`${c.id}: balance_after ${r.balance_after} != running ${running}`);
    }
    if (running !== c.total_points) violations.push(`${c.id}: balance ${c.total_points} != ledger ${running}`);
  }
  expect(violations).toEqual([]);
}

describe("one receipt, many tills", () => {
  test("the same orderRef submitted 12 times at once over two instances (REST and gRPC) credits exactly once, five orders in a row", async () => {
    const b = await registerBusiness(t1.url);
    for (let order = 0; order < 5; order++) {
      const orderRef = `RACE-${order}`;
      const outcomes = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          pos(b, i, "Checkin", "/v1/pos/checkin", { phone: `+3538720${order}${String(i).padStart(4, "0")}`, amount: 10, orderRef }, i % 2 ? { "idempotency-key": `race-${order}-${i}` } : {}),
        ),
      );
      const won = outcomes.filter((o) => o.status === 200);
      expect(won.length, JSON.stringify(outcomes)).toBe(1);
      const winner = won[0]!.body.checkinId;
      for (const o of outcomes.filter((x) => x.status !== 200)) {
        expect(o).toEqual({ status: 409, code: "already_exists", message: `orderRef was already credited by check-in ${winner}` });
      }
      const rows = await t1.sql("select id from ledger_entry where business_id = $1 and order_ref = $2", [b.businessId, orderRef]);
      expect(rows).toEqual([{ id: winner }]);
    }
    // Only the five winners' customers were enrolled and credited.
    expect(await t1.sql("select count(*)::int as n, sum(total_points)::int as points from customer where business_id = $1", [b.businessId])).toEqual([{ n: 5, points: 50 }]);
    await expectConsistentLedgers(b);
  });

  test("a refund completing a check-in and new check-ins of its orderRef, at once: at most one new credit, never two live claims", async () => {
    const b = await registerBusiness(t1.url);
    const first = await pos(b, 0, "Checkin", "/v1/pos/checkin", { phone: "+353872100000", amount: 20, orderRef: "REUSE-1" });
    expect(first.status).toBe(200);
    const outcomes = await Promise.all([
      pos(b, 1, "RefundCheckin", "/v1/pos/refund", { orderRef: "REUSE-1" }),
      ...Array.from({ length: 8 }, (_, i) => pos(b, i, "Checkin", "/v1/pos/checkin", { phone: "+353872100000", amount: 5, orderRef: "REUSE-1" })),
    ]);
    expect(outcomes[0]!.status).toBe(200);
    const credits = outcomes.slice(1).filter((o) => o.status === 200);
    expect(credits.length).toBeLessThanOrEqual(1);
    for (const o of outcomes.slice(1).filter((x) => x.status !== 200)) {
      expect(o.status).toBe(409);
      // aborted: lost the claim to the check-in the refund just released (retryable).
      expect(["already_exists", "aborted"]).toContain(o.code);
    }
    const claims = await t1.sql("select checkin_id from order_ref_claim where business_id = $1", [b.businessId]);
    expect(claims).toEqual(credits.map((c) => ({ checkin_id: c.body.checkinId })));
    await expectConsistentLedgers(b);
  });
});

describe("refunds and voids racing redeems", () => {
  test("ten refunds of 20.00 of one 100.00 check-in at once: exactly five succeed and take back exactly what it earned", async () => {
    const b = await registerBusiness(t1.url);
    const c = await pos(b, 0, "Checkin", "/v1/pos/checkin", { phone: "+353872200000", amount: 100 });
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => pos(b, i, "RefundCheckin", "/v1/pos/refund", { checkinId: c.body.checkinId, amount: 20 })),
    );
    const ok = outcomes.filter((o) => o.status === 200);
    expect(ok.length).toBe(5);
    expect(ok.reduce((s, o) => s + o.body.pointsReversed, 0)).toBe(100);
    for (const o of outcomes.filter((x) => x.status !== 200)) {
      expect(o.code).toBe("failed_precondition");
      expect(["the check-in is already fully refunded", "amount is more than is left to refund of the check-in (0.00)"]).toContain(o.message);
    }
    expect(await t1.sql("select sum(amount_cents)::int as cents, sum(delta)::int as points from ledger_entry where checkin_id = $1", [c.body.checkinId])).toEqual([{ cents: 10_000, points: -100 }]);
    await expectConsistentLedgers(b);
  });

  test("redeems, partial refunds, double voids and check-ins of three customers at once: ledger = balance, each redemption given back at most once", async () => {
    const b = await registerBusiness(t1.url, { rewardThreshold: 30 });
    const phones = ["+353872300001", "+353872300002", "+353872300003"];
    const checkins: { id: string; phone: string }[] = [];
    for (const phone of phones) {
      for (const amount of [55.55, 40, 12.34]) {
        const r = await pos(b, 0, "Checkin", "/v1/pos/checkin", { phone, amount });
        checkins.push({ id: r.body.checkinId, phone });
      }
    }
    // Some redemptions to void while more redeems race them.
    const redemptions: string[] = [];
    for (const phone of phones) {
      const r = await pos(b, 1, "Redeem", "/v1/pos/redeem", { phone, points: 30 });
      redemptions.push(r.body.redemptionId);
    }
    const tasks: (() => Promise<Outcome & { kind: string; target?: string }>)[] = [];
    for (let i = 0; i < 60; i++) {
      const phone = phones[i % 3]!;
      const ci = checkins[i % checkins.length]!;
      const kind = ["redeem", "refund", "void", "checkin", "redeem", "refund"][i % 6]!;
      if (kind === "redeem") tasks.push(async () => ({ kind, ...(await pos(b, i, "Redeem", "/v1/pos/redeem", { phone, points: 30 })) }));
      if (kind === "refund") tasks.push(async () => ({ kind, target: ci.id, ...(await pos(b, i, "RefundCheckin", "/v1/pos/refund", { checkinId: ci.id, amount: 3.33 })) }));
      if (kind === "void") {
        const id = redemptions[Math.floor(i / 6) % redemptions.length]!; // each one voided several times
        tasks.push(async () => ({ kind, target: id, ...(await pos(b, i, "VoidRedemption", "/v1/pos/redeem/void", { redemptionId: id })) }));
      }
      if (kind === "checkin") tasks.push(async () => ({ kind, ...(await pos(b, i, "Checkin", "/v1/pos/checkin", { phone, amount: 7.77 })) }));
    }
    const outcomes = await Promise.all(tasks.map((f) => f()));
    // Every call answered: 200 or a definite refusal (never a 500).
    for (const o of outcomes) expect([200, 400, 409], JSON.stringify(o)).toContain(o.status);
    // A redemption is given back at most once, and the successful voids are exactly the void rows.
    const voids = await t1.sql<{ redemption_id: string; n: number }>(
      "select redemption_id, count(*)::int as n from ledger_entry where business_id = $1 and type = 'REDEMPTION_VOID' group by redemption_id",
      [b.businessId],
    );
    for (const v of voids) expect(v.n).toBe(1);
    expect(voids.length).toBe(outcomes.filter((o) => o.kind === "void" && o.status === 200).length);
    expect(voids.map((v) => v.redemption_id).sort()).toEqual([...redemptions].sort());
    for (const o of outcomes.filter((x) => x.kind === "void" && x.status !== 200)) {
      expect([o.code, o.message]).toEqual(["failed_precondition", "the redemption is already voided"]);
    }
    // No check-in gave back more than it earned, nor more amount than it had.
    const refunds = await t1.sql<{ checkin_id: string; cents: number; points: number; earned: number; amount: number }>(
      `select r.checkin_id, sum(r.amount_cents)::int as cents, -sum(r.delta)::int as points, c.delta as earned, c.amount_cents as amount
       from ledger_entry r join ledger_entry c on c.id = r.checkin_id
       where r.business_id = $1 and r.type = 'REFUND' group by r.checkin_id, c.delta, c.amount_cents`,
      [b.businessId],
    );
    for (const r of refunds) {
      expect(r.cents).toBeLessThanOrEqual(r.amount);
      expect(r.points).toBe(Math.floor((r.earned * r.cents) / r.amount));
    }
    expect(refunds.reduce((s, r) => s + r.cents, 0)).toBe(outcomes.filter((o) => o.kind === "refund" && o.status === 200).length * 333);
    // Redeems never overdraw: a refund is the only way below zero, and the redeems that won were affordable.
    const redeemRows = await t1.sql<{ n: number }>("select count(*)::int as n from ledger_entry where business_id = $1 and type = 'REDEMPTION'", [b.businessId]);
    expect(redeemRows[0]!.n).toBe(3 + outcomes.filter((o) => o.kind === "redeem" && o.status === 200).length);
    const negativeAfterRedeem = await t1.sql(
      "select id from ledger_entry where business_id = $1 and type = 'REDEMPTION' and balance_after < 0",
      [b.businessId],
    );
    expect(negativeAfterRedeem).toEqual([]);
    await expectConsistentLedgers(b);
  });

  test("the same redemption voided 10 times at once over two instances and the owner route: the points come back once", async () => {
    const b = await registerBusiness(t1.url, { rewardThreshold: 40 });
    const c = await pos(b, 0, "Checkin", "/v1/pos/checkin", { phone: "+353872400000", amount: 50 });
    const r = await pos(b, 0, "Redeem", "/v1/pos/redeem", { customerId: c.body.customerId });
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, async (_, i): Promise<Outcome> => {
        if (i % 4 === 3) {
          const res = await rest(i % 2 ? t2.url : t1.url, "POST", `/v1/owner/redemptions/${r.body.redemptionId}/void`, { body: {}, headers: ownerAuth(b) });
          return res.status === 200 ? { status: 200, body: res.body } : { status: res.status, code: res.body.error.code, message: res.body.error.message };
        }
        return pos(b, i, "VoidRedemption", "/v1/pos/redeem/void", { redemptionId: r.body.redemptionId });
      }),
    );
    const ok = outcomes.filter((o) => o.status === 200);
    expect(ok.length).toBe(1);
    expect(ok[0]!.body).toMatchObject({ pointsRestored: 40, totalPoints: 50 });
    for (const o of outcomes.filter((x) => x.status !== 200)) expect(o).toEqual({ status: 400, code: "failed_precondition", message: "the redemption is already voided" });
    await expectConsistentLedgers(b);
  });
});
