/**
 * Contract §9 over gRPC (grpc-js stubs from proto/) and Connect (connect-node,
 * as the portal calls), and under concurrency on two instances sharing one
 * PostgreSQL and one Redis: the last unit of stock redeemed by two tills at
 * once goes once; a per-customer limit holds the same way; an 11th active
 * promotion is refused when created on both instances at once.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { status } from "@grpc/grpc-js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { BusinessSettings } from "../gen/loyalty/v1/account_pb.js";
import { LoyaltyPos } from "../gen/loyalty/v1/pos_pb.js";
import { PromotionKind, UsePeriod, Weekday } from "../gen/loyalty/v1/types_pb.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";
import { fails, loadGrpcStubs, ok } from "./support/grpc.js";

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

const CUID = /^[a-z][a-z0-9]{24}$/;
const keyMd = (b: Business) => ({ "x-api-key": b.apiKey });
const ownerMd = (b: Business) => ({ authorization: `Bearer ${b.token}` });
let seq = 0;
const nextPhone = () => `+35385${String(3_000_000 + seq++).padStart(7, "0")}`;

describe("gRPC", () => {
  test("rewards and promotions: create, redeem by rewardId, promoted check-in, errors as statuses", async () => {
    const b = await registerBusiness(t1.url);
    const r = await ok(stubs.settings, "CreateReward", { title: "Muffin", cost: 15, stock: 1 }, ownerMd(b));
    expect(r.reward).toMatchObject({ id: expect.stringMatching(CUID), title: "Muffin", cost: 15, active: true, stock: 1, redeemedCount: 0, isDefault: false });
    const p = await ok(stubs.settings, "CreatePromotion", { name: "Bonus", kind: "BONUS", bonusPoints: 5, weekdays: [], storeIds: [] }, ownerMd(b));
    expect(p.promotion).toMatchObject({ kind: "BONUS", bonusPoints: 5, per: "ALL_TIME", summary: "5 bonus points" });
    const phone = nextPhone();
    const c = await ok(stubs.pos, "Checkin", { phone, amount: 20 }, keyMd(b));
    expect(c).toMatchObject({ pointsAwarded: 25, totalPoints: 25, basePoints: 20, promotionPoints: 5, promotionId: p.promotion.id });
    expect(c.availableRewards).toEqual([{ id: r.reward.id, title: "Muffin", cost: 15 }]);
    const red = await ok(stubs.pos, "Redeem", { phone, rewardId: r.reward.id }, keyMd(b));
    expect(red).toMatchObject({ pointsRedeemed: 15, remainingPoints: 10, rewardId: r.reward.id, quantity: 1, rewardTitle: "Muffin" });
    await ok(stubs.pos, "Checkin", { phone, amount: 20 }, keyMd(b));
    expect(await fails(stubs.pos, "Redeem", { phone, rewardId: r.reward.id }, keyMd(b))).toEqual({
      code: status.FAILED_PRECONDITION,
      details: "reward is out of stock",
    });
    expect(await fails(stubs.settings, "UpdateReward", { id: "nosuchreward", cost: 3 }, ownerMd(b))).toEqual({ code: status.NOT_FOUND, details: "reward not found" });
    expect(await fails(stubs.settings, "CreateReward", { title: "x", cost: 0 }, ownerMd(b))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "cost must be a whole number from 1 to 10000000",
    });
    expect(await fails(stubs.settings, "CreatePromotion", { name: "x", kind: "MULTIPLIER", multiplier: 11, weekdays: [], storeIds: [] }, ownerMd(b))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "multiplier must be from 1.01 to 10",
    });
    // Tenancy: another business's key does not see the reward.
    const other = await registerBusiness(t1.url);
    await ok(stubs.pos, "Checkin", { phone, amount: 50 }, keyMd(other));
    expect(await fails(stubs.pos, "Redeem", { phone, rewardId: r.reward.id }, keyMd(other))).toEqual({ code: status.NOT_FOUND, details: "reward not found" });
    expect(await fails(stubs.settings, "EndPromotion", { id: p.promotion.id }, ownerMd(other))).toEqual({ code: status.NOT_FOUND, details: "promotion not found" });
    expect((await fails(stubs.settings, "ListRewards", {}, keyMd(b))).code).toBe(status.UNAUTHENTICATED);
  });
});

describe("Connect", () => {
  test("the portal's calls: program with rewards, promotions with their summary, preview, owner redeem", async () => {
    const b = await registerBusiness(t1.url);
    const headers = ownerAuth(b);
    for (const useBinaryFormat of [false, true]) {
      const transport = createConnectTransport({ baseUrl: t2.url, httpVersion: "1.1", useBinaryFormat });
      const settings = createClient(BusinessSettings, transport);
      const posClient = createClient(LoyaltyPos, transport);
      const reward = (await settings.createReward({ title: `Lunch ${useBinaryFormat}`, cost: 50 }, { headers })).reward!;
      const promo = (
        await settings.createPromotion(
          { name: "Tuesdays", kind: PromotionKind.MULTIPLIER, multiplier: 2, weekdays: [Weekday.TUE], startTime: "14:00", endTime: "17:00", maxUsesPerCustomer: 2, per: UsePeriod.DAY },
          { headers },
        )
      ).promotion!;
      expect(promo.summary).toBe("Double points on Tuesdays 14:00–17:00, Dublin time, twice per customer a day");
      const program = (await settings.getProgram({}, { headers })).program!;
      expect(program.rewards.map((x) => x.title)).toContain(reward.title);
      expect(program.timezone).toBe("Europe/Dublin");
      const list = await settings.listPromotions({}, { headers });
      expect(list.promotions[0]!.id).toBe(promo.id);
      const phone = nextPhone();
      const preview = await posClient.previewCheckin({ phone, amount: 60 }, { headers: posAuth(b) });
      expect(preview.availableRewardsAfter.map((x) => x.id)).toContain(reward.id);
      const c = await posClient.checkin({ phone, amount: 60 }, { headers: posAuth(b) });
      expect(c.pointsAwarded).toBe(preview.pointsAwarded);
      expect(c.promotionId).toBe(preview.promotionId);
      const err = await settings.updatePromotion({ id: promo.id, startTime: "25:00" }, { headers }).catch((e) => e);
      expect(err).toBeInstanceOf(ConnectError);
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toBe('startTime must be a time "HH:MM" (00:00-23:59)');
      await settings.endPromotion({ id: promo.id }, { headers });
    }
  });
});

describe("concurrency across two instances", () => {
  test("the last unit of stock: two tills at once, exactly one succeeds; stock never below 0", async () => {
    const b = await registerBusiness(t1.url);
    const reward = (await rest(t1.url, "POST", "/v1/owner/rewards", { body: { title: "Last", cost: 10, stock: 1 }, headers: ownerAuth(b) })).body.reward;
    for (let round = 0; round < 5; round++) {
      const phones = [nextPhone(), nextPhone()];
      for (const phone of phones) await rest(t1.url, "POST", "/v1/pos/checkin", { body: { phone, amount: 10 }, headers: posAuth(b) });
      const results = await Promise.all(
        phones.map((phone, i) => rest(i === 0 ? t1.url : t2.url, "POST", "/v1/pos/redeem", { body: { phone, rewardId: reward.id }, headers: posAuth(b) })),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses, results.map((r) => r.text).join(" ")).toEqual([200, 400]);
      expect(results.find((r) => r.status === 400)!.body.error.message).toBe("reward is out of stock");
      const [row] = await t1.sql<{ stock: number }>(`select stock from reward where id = $1`, [reward.id]);
      expect(row!.stock).toBe(0);
      // The loser kept its points.
      const loser = phones[results.findIndex((r) => r.status === 400)]!;
      const bal = await rest(t2.url, "GET", `/v1/pos/balance/${encodeURIComponent(loser)}`, { headers: posAuth(b) });
      expect(bal.body.totalPoints).toBe(10);
      await rest(t2.url, "PATCH", `/v1/owner/rewards/${reward.id}`, { body: { stock: 1 }, headers: ownerAuth(b) });
    }
  });

  test("a per-customer limit of 1: the same customer at two tills at once gets it once", async () => {
    const b = await registerBusiness(t1.url);
    const reward = (await rest(t1.url, "POST", "/v1/owner/rewards", { body: { title: "Once", cost: 5, perCustomerLimit: 1 }, headers: ownerAuth(b) })).body.reward;
    for (let round = 0; round < 5; round++) {
      const phone = nextPhone();
      await rest(t1.url, "POST", "/v1/pos/checkin", { body: { phone, amount: 50 }, headers: posAuth(b) });
      const results = await Promise.all(
        [t1.url, t2.url, t1.url].map((url) => rest(url, "POST", "/v1/pos/redeem", { body: { phone, rewardId: reward.id }, headers: posAuth(b) })),
      );
      expect(results.filter((r) => r.status === 200)).toHaveLength(1);
      for (const r of results.filter((x) => x.status !== 200)) expect(r.body.error.message).toBe("reward limit reached");
      const bal = await rest(t2.url, "GET", `/v1/pos/balance/${encodeURIComponent(phone)}`, { headers: posAuth(b) });
      expect(bal.body.totalPoints).toBe(45);
    }
    const sums = await t1.sql<{ bad: string }>(
      `select count(*) as bad from customer c where c.business_id = $1 and c.total_points <> (select coalesce(sum(delta), 0) from ledger_entry l where l.customer_id = c.id)`,
      [b.businessId],
    );
    expect(sums[0]!.bad).toBe("0");
  });

  test("a promotion's per-customer limit holds for simultaneous check-ins; an 11th active promotion is refused on both instances", async () => {
    const b = await registerBusiness(t1.url);
    await rest(t1.url, "POST", "/v1/owner/promotions", { body: { name: "One", kind: "BONUS", bonusPoints: 4, maxUsesPerCustomer: 1 }, headers: ownerAuth(b) });
    // Instance 2 has learnt of it (the change message): another customer's check-in there gets the bonus.
    const warm = await rest(t2.url, "POST", "/v1/pos/checkin", { body: { phone: nextPhone(), amount: 1 }, headers: posAuth(b) });
    expect(warm.body.promotionPoints).toBe(4);
    const phone = nextPhone();
    const results = await Promise.all(
      [t1.url, t2.url, t1.url, t2.url].map((url) => rest(url, "POST", "/v1/pos/checkin", { body: { phone, amount: 1 }, headers: posAuth(b) })),
    );
    for (const r of results) expect(r.status).toBe(200);
    const [promoRows] = await t1.sql<{ n: string }>(`select count(*) as n from ledger_entry where business_id = $1 and type = 'PROMOTION'`, [b.businessId]);
    expect(promoRows!.n).toBe("2"); // the warm-up customer's and exactly one of the four
    for (let i = 0; i < 8; i++) {
      await rest(t1.url, "POST", "/v1/owner/promotions", { body: { name: `P${i}`, kind: "BONUS", bonusPoints: 1 }, headers: ownerAuth(b) });
    }
    const last = await Promise.all(
      [t1.url, t2.url].map((url) => rest(url, "POST", "/v1/owner/promotions", { body: { name: "Tenth or eleventh", kind: "BONUS", bonusPoints: 1 }, headers: ownerAuth(b) })),
    );
    expect(last.map((r) => r.status).sort()).toEqual([200, 400]);
    const [active] = await t1.sql<{ n: string }>(`select count(*) as n from promotion where business_id = $1 and active`, [b.businessId]);
    expect(active!.n).toBe("10");
  });
});
