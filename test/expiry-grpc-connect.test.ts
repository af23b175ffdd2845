/**
 * Issue 16 over gRPC (grpc-js stubs from proto/, as a POS vendor builds
 * them) and Connect (connect-node, binary, as the portal calls): the policy,
 * `expiringPoints` on POS and owner GetCustomer, `nextExpiry` on GetBalance,
 * the owner's lots and the dashboard figure, soonest-first spending and the
 * run's EXPIRY entry — the same figures as over REST. Lots are dated in the
 * past with SQL (controlled time).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { status } from "@grpc/grpc-js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { BusinessSettings } from "../gen/loyalty/v1/account_pb.js";
import { CustomerAdmin } from "../gen/loyalty/v1/admin_pb.js";
import { LoyaltyPos } from "../gen/loyalty/v1/pos_pb.js";
import { LedgerEntryType } from "../gen/loyalty/v1/types_pb.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, type Business } from "./support/rest.js";
import { fails, loadGrpcStubs, ok } from "./support/grpc.js";
import { runExpiry } from "../src/services/expiry-run.js";
import { createDb } from "../src/persistence/db.js";
import { createLotRepository } from "../src/persistence/lot-repository.js";

let t: TestApp;
let stubs: ReturnType<typeof loadGrpcStubs>;
beforeAll(async () => {
  t = await startTestApp();
  stubs = loadGrpcStubs(`127.0.0.1:${t.port}`);
});
afterAll(async () => {
  stubs?.close();
  await t?.close();
});

const keyMd = (b: Business) => ({ "x-api-key": b.apiKey });
const ownerMd = (b: Business) => ({ authorization: `Bearer ${b.token}` });
let seq = 0;
const nextPhone = () => `+35384${String(5_000_000 + seq++).padStart(7, "0")}`;

/** Dates a customer's lots as if earned in `months` (YYYY-MM each), oldest lot first, in Dublin. */
async function dateLots(customerId: string, months: string[], policyMonths: number) {
  const lots = await t.sql<{ id: string }>(`select id from point_lot where customer_id = $1 order by earned_at, id`, [customerId]);
  for (const [i, lot] of lots.entries()) {
    await t.sql(
      `update point_lot set earned_at = ($2 || '-15 12:00')::timestamp at time zone 'Europe/Dublin',
         expires_at = ((($2 || '-01')::date + ($3 + 1) * interval '1 month')::timestamp) at time zone 'Europe/Dublin' where id = $1`,
      [lot.id, months[i], policyMonths],
    );
  }
}

describe("gRPC (grpc-js stubs)", () => {
  test("policy, expiringPoints, nextExpiry, soonest-first redeem, the run's EXPIRY entry; bad policy INVALID_ARGUMENT", async () => {
    const b = await registerBusiness(`http://127.0.0.1:${t.port}`, { rewardThreshold: 30 });
    expect(await fails(stubs.settings, "UpdateProgram", { pointsExpireAfterMonths: 61 }, ownerMd(b))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "pointsExpireAfterMonths must be a whole number from 0 to 60",
    });
    expect(await fails(stubs.settings, "UpdateProgram", { expiryWarningDays: 91 }, ownerMd(b))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "expiryWarningDays must be a whole number from 0 to 90",
    });
    const p = await ok(stubs.settings, "UpdateProgram", { pointsExpireAfterMonths: 12, expiryWarningDays: 30 }, ownerMd(b));
    expect(p.program).toMatchObject({ pointsExpireAfterMonths: 12, expiryWarningDays: 30 });
    const phone = nextPhone();
    const c1 = await ok(stubs.pos, "Checkin", { phone, amount: 20 }, keyMd(b));
    await ok(stubs.pos, "Checkin", { phone, amount: 25 }, keyMd(b));
    await dateLots(c1.customerId, ["2026-03", "2026-05"], 12);
    expect(await ok(stubs.pos, "GetCustomer", { identifier: phone }, keyMd(b))).toMatchObject({
      totalPoints: 45,
      expiringPoints: [
        { points: 20, expiresAt: { seconds: String(Date.parse("2027-03-31T23:00:00Z") / 1000), nanos: 0 } },
        { points: 25, expiresAt: { seconds: String(Date.parse("2027-05-31T23:00:00Z") / 1000), nanos: 0 } },
      ],
    });
    // 30 points: the 20 that expire soonest, then 10 of the next lot.
    await ok(stubs.pos, "Redeem", { phone, points: 30 }, keyMd(b));
    const bal = await ok(stubs.pos, "GetBalance", { identifier: c1.customerId }, keyMd(b));
    expect(bal).toEqual({
      customerId: c1.customerId,
      totalPoints: 15,
      availableRewards: [],
      nextExpiry: { points: 15, expiresAt: { seconds: String(Date.parse("2027-05-31T23:00:00Z") / 1000), nanos: 0 } },
    });
    const db = createDb(t.orm);
    expect(await runExpiry({ db, lots: createLotRepository(db) }, { asOf: "2027-06-01", businessIds: [b.businessId] })).toMatchObject({ points: 15 });
    const owner = await ok(stubs.admin, "GetCustomer", { id: c1.customerId }, ownerMd(b));
    expect(owner.totalPoints).toBe(0);
    expect(owner.expiringPoints).toEqual([]);
    expect(owner.pointsHistory[0]).toMatchObject({ type: "EXPIRY", delta: -15, balanceAfter: 0 });
    expect(owner.lots.map((l: any) => [l.points, l.remaining, l.expired])).toEqual([
      [20, 0, 0],
      [25, 0, 15],
    ]);
    expect(await ok(stubs.pos, "GetBalance", { identifier: phone }, keyMd(b))).toMatchObject({ totalPoints: 0, nextExpiry: null });
  });
});

describe("Connect (binary, as the portal)", () => {
  test("the same figures; the dashboard's 30 days", async () => {
    const b = await registerBusiness(t.url, { pointsExpireAfterMonths: 1 });
    const transport = createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", useBinaryFormat: true });
    const pos = createClient(LoyaltyPos, transport);
    const admin = createClient(CustomerAdmin, transport);
    const settings = createClient(BusinessSettings, transport);
    const phone = nextPhone();
    const c = await pos.checkin({ phone, amount: 12 }, { headers: posAuth(b) });
    // Dated so that it stops counting in 5 days.
    await t.sql(`update point_lot set expires_at = now() + interval '5 days' where customer_id = $1`, [c.customerId]);
    const got = await pos.getCustomer({ identifier: phone }, { headers: posAuth(b) });
    expect(got.expiringPoints.map((e) => e.points)).toEqual([12]);
    const at = timestampDate(got.expiringPoints[0]!.expiresAt!).getTime();
    expect(Math.abs(at - (Date.now() + 5 * 86_400_000))).toBeLessThan(60_000);
    const bal = await pos.getBalance({ identifier: phone }, { headers: posAuth(b) });
    expect(bal.nextExpiry?.points).toBe(12);
    const owner = await admin.getCustomer({ id: c.customerId }, { headers: ownerAuth(b) });
    expect(owner.expiringPoints.map((e) => e.points)).toEqual([12]);
    expect(owner.lots.map((l) => [l.points, l.remaining, l.checkinId])).toEqual([[12, 12, c.checkinId]]);
    const dash = await settings.getDashboard({}, { headers: ownerAuth(b) });
    expect(dash.pointsExpiring30Days).toBe(12);
    expect(owner.pointsHistory[0]!.type).toBe(LedgerEntryType.CHECKIN);
    const err = await settings.updateProgram({ expiryWarningDays: 91 }, { headers: ownerAuth(b) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toBe("expiryWarningDays must be a whole number from 0 to 90");
  });
});
