/**
 * Contract §8 over gRPC (grpc-js stubs compiled from proto/, as a POS vendor
 * builds them) and Connect (connect-node clients, binary and JSON, as the
 * portal calls): the same codes, messages and figures as over REST.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { status } from "@grpc/grpc-js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CustomerAdmin } from "../gen/loyalty/v1/admin_pb.js";
import { LoyaltyPos } from "../gen/loyalty/v1/pos_pb.js";
import { LedgerEntryType } from "../gen/loyalty/v1/types_pb.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, type Business } from "./support/rest.js";
import { fails, loadGrpcStubs, ok } from "./support/grpc.js";

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

const CUID = /^[a-z][a-z0-9]{24}$/;
const keyMd = (b: Business) => ({ "x-api-key": b.apiKey });
const ownerMd = (b: Business) => ({ authorization: `Bearer ${b.token}` });

describe("gRPC (grpc-js stubs)", () => {
  test("check-in with orderRef → checkinId; duplicate ALREADY_EXISTS; partial and full refunds; preview; void twice; owner redeem", async () => {
    const b = await registerBusiness(t.url, { rewardThreshold: 20 });
    const c = await ok(stubs.pos, "Checkin", { phone: "+353871110001", amount: 25.5, orderRef: "G-1" }, keyMd(b));
    expect(c).toEqual({
      success: true,
      customerId: expect.stringMatching(CUID),
      pointsAwarded: 25,
      totalPoints: 25,
      rewardThreshold: 20,
      rewardAvailable: true,
      checkinId: expect.stringMatching(CUID),
      availableRewards: [],
    });
    expect(await fails(stubs.pos, "Checkin", { phone: "+353871110002", amount: 3, orderRef: "G-1" }, keyMd(b))).toEqual({
      code: status.ALREADY_EXISTS,
      details: `orderRef was already credited by check-in ${c.checkinId}`,
    });
    expect(await ok(stubs.pos, "RefundCheckin", { orderRef: "G-1", amount: 0.01 }, keyMd(b))).toEqual({
      success: true,
      refundId: expect.stringMatching(CUID),
      checkinId: c.checkinId,
      pointsReversed: 0,
      totalPoints: 25,
    });
    expect(await fails(stubs.pos, "RefundCheckin", { checkinId: c.checkinId, amount: 30 }, keyMd(b))).toEqual({
      code: status.FAILED_PRECONDITION,
      details: "amount is more than is left to refund of the check-in (25.49)",
    });
    expect(await fails(stubs.pos, "RefundCheckin", { checkinId: c.checkinId, units: 2 }, keyMd(b))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "units cannot be refunded on a SPEND check-in: give amount",
    });
    expect(await ok(stubs.pos, "PreviewCheckin", { customerId: c.customerId, amount: 10 }, keyMd(b))).toEqual({
      basePoints: 10,
      promotionPoints: 0,
      promotionId: "",
      pointsAwarded: 10,
      totalPointsAfter: 35,
      rewardAvailableAfter: true,
      availableRewardsAfter: [{ id: expect.any(String), title: "Free Reward", cost: 20 }],
    });
    const r = await ok(stubs.pos, "Redeem", { customerId: c.customerId, orderRef: "G-R1" }, keyMd(b));
    expect(r.remainingPoints).toBe(5);
    // The whole rest of the check-in: 25 points back, from a balance of 5.
    expect(await ok(stubs.admin, "RefundCheckin", { checkinId: c.checkinId, reason: "Order cancelled" }, ownerMd(b))).toEqual({
      success: true,
      refundId: expect.stringMatching(CUID),
      checkinId: c.checkinId,
      pointsReversed: 25,
      totalPoints: -20,
    });
    expect(await fails(stubs.admin, "RedeemReward", { id: c.customerId }, ownerMd(b))).toEqual({ code: status.FAILED_PRECONDITION, details: "insufficient points" });
    expect(await ok(stubs.pos, "VoidRedemption", { orderRef: "G-R1" }, keyMd(b))).toEqual({
      success: true,
      redemptionId: r.redemptionId,
      pointsRestored: 20,
      totalPoints: 0,
    });
    expect(await fails(stubs.admin, "VoidRedemption", { redemptionId: r.redemptionId }, ownerMd(b))).toEqual({
      code: status.FAILED_PRECONDITION,
      details: "the redemption is already voided",
    });
    await ok(stubs.pos, "Checkin", { customerId: c.customerId, amount: 20 }, keyMd(b));
    expect(await ok(stubs.admin, "RedeemReward", { id: c.customerId }, ownerMd(b))).toEqual({
      success: true,
      redemptionId: expect.stringMatching(CUID),
      pointsRedeemed: 20,
      rewardTitle: "Free Reward",
      remainingPoints: 0,
    });
    const got = await ok(stubs.admin, "GetCustomer", { id: c.customerId }, ownerMd(b));
    expect(got.customer.lifetimePoints).toBe(20);
    expect(got.pointsHistory.map((e: any) => e.type)).toEqual(["REDEMPTION", "CHECKIN", "REDEMPTION_VOID", "REFUND", "REDEMPTION", "REFUND", "CHECKIN"]);
  });

  test("tenancy: another business's checkinId, redemptionId, orderRef and customer are NOT_FOUND", async () => {
    const a = await registerBusiness(t.url, { rewardThreshold: 10 });
    const b = await registerBusiness(t.url);
    const c = await ok(stubs.pos, "Checkin", { phone: "+353871110003", amount: 20, orderRef: "T-1" }, keyMd(a));
    const r = await ok(stubs.pos, "Redeem", { customerId: c.customerId, orderRef: "T-R" }, keyMd(a));
    const notFound = (details: string) => ({ code: status.NOT_FOUND, details });
    expect(await fails(stubs.pos, "RefundCheckin", { checkinId: c.checkinId }, keyMd(b))).toEqual(notFound("check-in not found"));
    expect(await fails(stubs.pos, "RefundCheckin", { orderRef: "T-1" }, keyMd(b))).toEqual(notFound("check-in not found"));
    expect(await fails(stubs.pos, "VoidRedemption", { redemptionId: r.redemptionId }, keyMd(b))).toEqual(notFound("redemption not found"));
    expect(await fails(stubs.pos, "VoidRedemption", { orderRef: "T-R" }, keyMd(b))).toEqual(notFound("redemption not found"));
    expect(await fails(stubs.admin, "RefundCheckin", { checkinId: c.checkinId }, ownerMd(b))).toEqual(notFound("check-in not found"));
    expect(await fails(stubs.admin, "VoidRedemption", { redemptionId: r.redemptionId }, ownerMd(b))).toEqual(notFound("redemption not found"));
    expect(await fails(stubs.admin, "RedeemReward", { id: c.customerId }, ownerMd(b))).toEqual(notFound("customer not found"));
    expect(await ok(stubs.pos, "GetBalance", { identifier: c.customerId }, keyMd(a))).toEqual({ customerId: c.customerId, totalPoints: 10, availableRewards: [], nextExpiry: null });
  });
});

describe("Connect (connect-node, binary and JSON)", () => {
  test.each([
    ["binary", true],
    ["JSON", false],
  ])("%s: refund, void, preview and owner redeem with the same figures; idempotent refund replays", async (_name, binary) => {
    const transport = createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", useBinaryFormat: binary });
    const pos = createClient(LoyaltyPos, transport);
    const admin = createClient(CustomerAdmin, transport);
    const b = await registerBusiness(t.url, { mode: "UNIT", pointsPerUnit: 4, rewardThreshold: 8 });
    const headers = posAuth(b);
    const c = await pos.checkin({ phone: "+353871110004", units: 5, orderRef: `C-${binary}` }, { headers });
    expect(c.pointsAwarded).toBe(20);
    const once = await pos.refundCheckin({ checkinId: c.checkinId, units: 2 }, { headers: { ...headers, "idempotency-key": "refund-1" } });
    expect([once.pointsReversed, once.totalPoints]).toEqual([8, 12]);
    // A retry with the same key is the same refund, not a second one.
    const again = await pos.refundCheckin({ checkinId: c.checkinId, units: 2 }, { headers: { ...headers, "idempotency-key": "refund-1" } });
    expect(again.refundId).toBe(once.refundId);
    expect((await pos.getBalance({ identifier: c.customerId }, { headers })).totalPoints).toBe(12);
    const err = await pos.refundCheckin({ checkinId: c.checkinId, amount: 1 }, { headers }).catch((e) => ConnectError.from(e));
    expect([err instanceof ConnectError && err.code, err instanceof ConnectError && err.rawMessage]).toEqual([
      Code.InvalidArgument,
      "amount cannot be refunded on a UNIT check-in: give units",
    ]);
    const preview = await pos.previewCheckin({ customerId: c.customerId, units: 1 }, { headers });
    expect([preview.pointsAwarded, preview.totalPointsAfter, preview.rewardAvailableAfter]).toEqual([4, 16, true]);
    const r = await admin.redeemReward({ id: c.customerId, points: 8 }, { headers: ownerAuth(b) });
    expect(r.remainingPoints).toBe(4);
    const v = await admin.voidRedemption({ redemptionId: r.redemptionId }, { headers: ownerAuth(b) });
    expect([v.pointsRestored, v.totalPoints]).toEqual([8, 12]);
    const voidAgain = await pos.voidRedemption({ redemptionId: r.redemptionId }, { headers }).catch((e) => ConnectError.from(e));
    expect(voidAgain instanceof ConnectError && [voidAgain.code, voidAgain.rawMessage]).toEqual([Code.FailedPrecondition, "the redemption is already voided"]);
    const rest3 = await admin.refundCheckin({ checkinId: c.checkinId }, { headers: ownerAuth(b) });
    expect([rest3.pointsReversed, rest3.totalPoints]).toEqual([12, 0]);
    const got = await admin.getCustomer({ id: c.customerId }, { headers: ownerAuth(b) });
    expect(got.pointsHistory.map((e) => [e.type, e.delta, e.units])).toEqual([
      [LedgerEntryType.REFUND, -12, 3],
      [LedgerEntryType.REDEMPTION_VOID, 8, 0],
      [LedgerEntryType.REDEMPTION, -8, 0],
      [LedgerEntryType.REFUND, -8, 2],
      [LedgerEntryType.CHECKIN, 20, 5],
    ]);
    expect(got.pointsHistory[4]).toMatchObject({ checkinId: c.checkinId, orderRef: `C-${binary}`, refundedUnits: 5, refundedPoints: 20, fullyRefunded: true });
    expect(got.pointsHistory[2]!.voided).toBe(true);
    expect(got.customer!.lifetimePoints).toBe(0);
  });
});
