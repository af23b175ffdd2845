import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  CheckinResponseSchema,
  GetBalanceResponseSchema,
  LoyaltyPos,
  LoyaltyPosGetCustomerResponseSchema,
  PreviewCheckinResponseSchema,
  RedeemResponseSchema,
  RefundCheckinResponseSchema,
  VoidRedemptionResponseSchema,
} from "../../gen/loyalty/v1/pos_pb.js";
import { DomainError, invalidArgument, notFound } from "../domain/errors.js";
import { isCustomerId, normalizePhone } from "../domain/phone.js";
import { amountToMinorUnits, isRewardAvailable, pointsForCheckin } from "../domain/points.js";
import * as v from "../domain/validation.js";
import type { CheckinRecord, CustomerRef } from "../persistence/customer-repository.js";
import { isOrderRefTaken } from "../persistence/lifecycle-repository.js";
import { posPrincipal } from "./principal.js";
import type { ServiceDeps } from "./deps.js";
import { expiringPoints, expiryShaped, lotTerms, tracksLots } from "./expiry.js";
import { changedConcurrently, orderRefField, redeemWithRetry, refundCheckin, refusal, voidRedemption } from "./lifecycle.js";
import { lifetimeOf, programToRules, statusToProto } from "./mappers.js";
import { crossedThreshold, type EventInput, type EventRequest } from "../domain/events.js";
import type { ProgramView } from "../persistence/catalogue-repository.js";
import { customerObject, emit, eventRequest, rewardAvailable, withDeliveries } from "./events.js";
import { applyPromotion, availableRewards, candidates, checkinFacts, chooseReward, previewPromotion, shaped, takeReward, usesCatalogue, withRewardChoice, type Applied } from "./catalogue.js";

/** A letter of any script: what makes a look-up identifier a customer id. */
const LETTER = /\p{L}/u;

/**
 * LoyaltyPos: check-in, look-ups and redemption for tills (API key auth).
 */
export function createLoyaltyPosService(deps: ServiceDeps): ServiceImpl<typeof LoyaltyPos> {
  const { customers, accounts, lifecycle, db, reads } = deps;

  /** customerId wins over phone; empty strings count as absent. */
  function refFromBody(customerId: string | undefined, phone: string | undefined, country: string): CustomerRef {
    if (customerId !== undefined && customerId.trim() !== "") return { id: v.id(customerId, "customerId") };
    if (phone !== undefined && phone.trim() !== "") return { phone: normalizePhone(phone, country) };
    throw invalidArgument("phone or customerId is required");
  }

  /**
   * Contract §4: text with a letter in it is a customer id, text of digits
   * and phone punctuation a phone number. An id that is not of the shape
   * ids have (`cuid_does_not_exist`) names no customer: undefined, answered
   * 404 without a query. The letter is looked for only once the text is no
   * phone number (a phone never has one): a till's look-up by phone, a memo
   * hit in normalizePhone, costs no more than before (a Unicode regex test
   * is a few hundred ns).
   */
  function refFromIdentifier(identifier: string, country: string): CustomerRef | undefined {
    const value = identifier.trim();
    if (value === "") throw invalidArgument("identifier is required");
    if (isCustomerId(value)) return { id: value };
    try {
      return { phone: normalizePhone(value, country, "identifier") };
    } catch (err) {
      if (LETTER.test(value)) return undefined;
      throw err;
    }
  }

  async function storeFor(businessId: string, requested: string | undefined, keyStore: string | null) {
    if (requested === undefined || requested.trim() === "") return keyStore;
    const storeId = v.id(requested, "storeId");
    if (!(await accounts.storeExists(businessId, storeId))) {
      throw invalidArgument("storeId is not a store of this business");
    }
    return storeId;
  }

  /** The check-in's points and what it records (amount or units, orderRef), all validated. */
  function checkinInput(program: ReturnType<typeof programToRules>, req: { amount?: number; units?: number; orderRef?: string }) {
    const points = pointsForCheckin(program, { amount: req.amount, units: req.units });
    const record: CheckinRecord = { orderRef: orderRefField(req.orderRef) };
    if (program.mode === "SPEND") record.amountCents = amountToMinorUnits(req.amount!);
    if (program.mode === "UNIT") record.units = req.units!;
    return { points, record };
  }

  /** The refusal of a check-in whose orderRef another check-in holds. */
  async function orderRefTaken(businessId: string, orderRef: string): Promise<never> {
    const holder = await lifecycle.claimHolder(businessId, orderRef);
    if (holder === undefined) {
      // Held at the insert, released since (its check-in was fully refunded meanwhile).
      throw new DomainError("aborted", "orderRef was just released by a refund, retry");
    }
    throw new DomainError("already_exists", `orderRef was already credited by check-in ${holder}`);
  }

  /** What a check-in and its preview read from the request, the caller and the program alike. */
  async function checkinRequest(req: { customerId?: string; phone?: string; storeId?: string; amount?: number; units?: number; orderRef?: string }, ctx: HandlerContext) {
    const p = posPrincipal(ctx);
    const program = await reads.program(p.businessId);
    const rules = programToRules(program);
    const { points, record } = checkinInput(rules, req);
    const ref = refFromBody(req.customerId, req.phone, program.defaultCountry);
    const storeId = await storeFor(p.businessId, req.storeId, p.storeId);
    return { p, program, rules, points, record, ref, storeId };
  }

  /** The events of a check-in written apart from its statement (a promoted check-in), as the statement writes them. */
  async function emitCheckin(
    businessId: string,
    program: ProgramView,
    done: { checkinId: string; customerId: string; totalPoints: number; enrolled: boolean },
    c: { points: number; bonus: Applied | undefined; storeId: string | null; record: CheckinRecord },
    request: EventRequest,
  ) {
    const bonus = c.bonus?.points ?? 0;
    const total = c.bonus ? c.bonus.totalPoints : done.totalPoints;
    const events: EventInput[] = [];
    if (done.enrolled) {
      const customer = await customers.find(businessId, { id: done.customerId });
      if (customer) events.push({ type: "customer.created", customerId: done.customerId, object: customerObject(customer, program.rewardThreshold) });
    }
    events.push({
      type: "checkin.created",
      customerId: done.customerId,
      object: {
        checkinId: done.checkinId,
        customerId: done.customerId,
        pointsAwarded: c.points + bonus,
        basePoints: c.points,
        promotionPoints: bonus,
        promotionId: c.bonus?.promotionId ?? "",
        totalPoints: total,
        rewardAvailable: isRewardAvailable(total, program.rewardThreshold),
        storeId: c.storeId ?? "",
        apiKeyId: request.apiKeyId ?? "",
        orderRef: c.record.orderRef ?? "",
        amount: c.record.amountCents === undefined ? null : c.record.amountCents / 100,
        units: c.record.units ?? null,
        createdAt: new Date().toISOString(),
      },
    });
    if (crossedThreshold(total - c.points - bonus, total, program.rewardThreshold)) events.push(rewardAvailable(program, done.customerId, total));
    await emit(deps, businessId, events, request);
  }

  async function whyNot(businessId: string, ref: CustomerRef, neededPoints?: number): Promise<never> {
    throw refusal(await customers.find(businessId, ref), neededPoints) ?? changedConcurrently();
  }

  /** A look-up's customer, read by `read` (the whole row by default). */
  async function lookup<R>(ctx: HandlerContext, identifier: string, read: (businessId: string, ref: CustomerRef) => Promise<R | undefined>) {
    const p = posPrincipal(ctx);
    const program = await reads.program(p.businessId);
    const ref = refFromIdentifier(identifier, program.defaultCountry);
    const customer = ref && (await read(p.businessId, ref));
    if (!customer) throw notFound("customer not found");
    return { customer, program };
  }

  return {
    async checkin(req, ctx) {
      const { p, program, rules, points, record, ref, storeId } = await checkinRequest(req, ctx);
      const actor = eventRequest(ctx);
      // Under an expiry policy the check-in's points make a lot, in the same statement (contract §10).
      const lot = program.pointsExpireAfterMonths === 0 ? undefined : lotTerms(program);
      // A business without promotions pays for them only this length check.
      const facts = program.promotions.length === 0 ? undefined : checkinFacts(program, points, record.amountCents, storeId);
      const qualifying = facts ? candidates(program.promotions, facts) : [];
      let result: Awaited<ReturnType<typeof customers.checkin>>;
      let applied: Applied | undefined;
      try {
        if (qualifying.length === 0) {
          // The check-in, its events (and with an endpoint, their deliveries): one statement.
          const events = { request: actor, rewardThreshold: rules.rewardThreshold, rewardTitle: program.rewardTitle, fanout: program.webhooks };
          result = await withDeliveries(deps, program.webhooks, () => customers.checkin(p.businessId, ref, points, storeId, actor, record, lot, events));
        } else {
          // The check-in, its promotion's row and its events: one transaction.
          result = await db.tx(async () => {
            const done = await customers.checkin(p.businessId, ref, points, storeId, actor, record, lot);
            if (done) {
              applied = await applyPromotion(deps, p.businessId, qualifying, facts!, { ...done, orderRef: record.orderRef ?? null }, actor, lot);
              await emitCheckin(p.businessId, program, done, { points, bonus: applied, storeId, record }, actor);
            }
            return done;
          });
        }
      } catch (err) {
        if (record.orderRef !== undefined && isOrderRefTaken(err)) return orderRefTaken(p.businessId, record.orderRef);
        throw err;
      }
      if (!result) return whyNot(p.businessId, ref);
      const totalPoints = applied ? applied.totalPoints : result.totalPoints;
      const res = create(CheckinResponseSchema, {
        success: true,
        customerId: result.customerId,
        pointsAwarded: points + (applied?.points ?? 0),
        totalPoints,
        rewardThreshold: rules.rewardThreshold,
        rewardAvailable: isRewardAvailable(totalPoints, rules.rewardThreshold),
        checkinId: result.checkinId,
      });
      if (!usesCatalogue(program)) return shaped(program, res);
      res.basePoints = points;
      res.promotionPoints = applied?.points ?? 0;
      res.promotionId = applied?.promotionId ?? "";
      res.availableRewards = availableRewards(program, totalPoints);
      return res;
    },

    async previewCheckin(req, ctx) {
      const { p, program, rules, points, record, ref, storeId } = await checkinRequest(req, ctx);
      const customer = await customers.find(p.businessId, ref);
      // The check-in's own refusals; an unknown phone would be enrolled, so it previews from 0.
      if (customer === undefined && "id" in ref) throw notFound("customer not found");
      if (customer?.status === "BLOCKED") throw new DomainError("permission_denied", "customer is blocked");
      if (record.orderRef !== undefined) {
        const holder = await lifecycle.claimHolder(p.businessId, record.orderRef, { inTransaction: true });
        if (holder !== undefined) throw new DomainError("already_exists", `orderRef was already credited by check-in ${holder}`);
      }
      const facts = program.promotions.length === 0 ? undefined : checkinFacts(program, points, record.amountCents, storeId);
      const qualifying = facts ? candidates(program.promotions, facts) : [];
      const promo = qualifying.length === 0 ? undefined : await previewPromotion(deps, p.businessId, qualifying, facts!, customer?.id);
      const bonus = promo?.points ?? 0;
      const after = (customer?.total_points ?? 0) + points + bonus;
      return create(PreviewCheckinResponseSchema, {
        basePoints: points,
        promotionPoints: bonus,
        promotionId: promo?.promotionId ?? "",
        pointsAwarded: points + bonus,
        totalPointsAfter: after,
        rewardAvailableAfter: isRewardAvailable(after, rules.rewardThreshold),
        availableRewardsAfter: availableRewards(program, after),
      });
    },

    async refundCheckin(req, ctx) {
      const p = posPrincipal(ctx);
      const out = await refundCheckin(deps, p.businessId, req, eventRequest(ctx));
      return create(RefundCheckinResponseSchema, { success: true, ...out });
    },

    async voidRedemption(req, ctx) {
      const p = posPrincipal(ctx);
      const out = await voidRedemption(deps, p.businessId, req, eventRequest(ctx));
      return create(VoidRedemptionResponseSchema, { success: true, ...out });
    },

    async getCustomer(req, ctx) {
      const { customer, program } = await lookup(ctx, req.identifier, customers.find);
      const expiring = await expiringPoints(deps, program, customer.id);
      return expiryShaped(program, shaped(program, create(LoyaltyPosGetCustomerResponseSchema, {
        customerId: customer.id,
        name: customer.name,
        phone: customer.phone,
        status: statusToProto(customer.status),
        totalPoints: customer.total_points,
        rewardAvailable: isRewardAvailable(customer.total_points, program.rewardThreshold),
        lifetimePoints: lifetimeOf(customer),
        availableRewards: usesCatalogue(program) ? availableRewards(program, customer.total_points) : [],
        expiringPoints: expiring,
      })));
    },

    async getBalance(req, ctx) {
      // Only the two columns the answer needs (no timestamps to parse).
      const { customer, program } = await lookup(ctx, req.identifier, customers.balance);
      const expiring = await expiringPoints(deps, program, customer.id);
      return expiryShaped(program, shaped(program, create(GetBalanceResponseSchema, {
        customerId: customer.id,
        totalPoints: customer.total_points,
        availableRewards: usesCatalogue(program) ? availableRewards(program, customer.total_points) : [],
        nextExpiry: expiring[0],
      })));
    },

    async redeem(req, ctx) {
      const p = posPrincipal(ctx);
      const program = await reads.program(p.businessId);
      const choice = await chooseReward(deps, p.businessId, program, req);
      const orderRef = orderRefField(req.orderRef) ?? null;
      const ref = refFromBody(req.customerId, req.phone, program.defaultCountry);
      const storeId = await storeFor(p.businessId, req.storeId, p.storeId);
      const title = choice.reward.isDefault ? program.rewardTitle : choice.reward.title;
      const actor = eventRequest(ctx);
      const result = await redeemWithRetry(
        deps, p.businessId, ref, choice.points, title, storeId, actor, orderRef,
        choice.guarded ? (done) => takeReward(deps, p.businessId, choice, done.customerId) : undefined,
        { id: choice.reward.id, quantity: choice.quantity },
        tracksLots(program),
        { request: actor, fanout: program.webhooks },
      );
      const res = create(RedeemResponseSchema, {
        success: true,
        redemptionId: result.redemptionId,
        pointsRedeemed: choice.points,
        rewardTitle: title,
        remainingPoints: result.remainingPoints,
      });
      return withRewardChoice(program, choice, res);
    },
  };
}
