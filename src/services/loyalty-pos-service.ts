import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  CheckinResponseSchema,
  GetBalanceResponseSchema,
  LoyaltyPos,
  LoyaltyPosGetCustomerResponseSchema,
  RedeemResponseSchema,
} from "../../gen/loyalty/v1/pos_pb.js";
import { DomainError, invalidArgument, notFound } from "../domain/errors.js";
import { isCustomerId, normalizePhone } from "../domain/phone.js";
import { isRewardAvailable, pointsForCheckin, rewardsForRedemption } from "../domain/points.js";
import * as v from "../domain/validation.js";
import type { CustomerRef, CustomerRow } from "../persistence/customer-repository.js";
import { posPrincipal } from "../transport/context.js";
import { withCustomerLock } from "./customer-lock.js";
import type { ServiceDeps } from "./deps.js";
import { programToRules, statusToProto } from "./mappers.js";

/** A letter of any script: what makes a look-up identifier a customer id. */
const LETTER = /\p{L}/u;

/**
 * LoyaltyPos: check-in, look-ups and redemption for tills (API key auth).
 */
export function createLoyaltyPosService(deps: ServiceDeps): ServiceImpl<typeof LoyaltyPos> {
  const { customers, accounts, kv } = deps;

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

  /**
   * Why a conditional write touched no row: the refusal to answer, or
   * undefined when the customer now qualifies (it changed concurrently).
   */
  function refusal(customer: CustomerRow | undefined, neededPoints?: number): DomainError | undefined {
    if (!customer) return notFound("customer not found");
    if (customer.status === "BLOCKED") return new DomainError("permission_denied", "customer is blocked");
    if (neededPoints !== undefined && customer.total_points < neededPoints) {
      return new DomainError("failed_precondition", "insufficient points");
    }
    return undefined;
  }

  const changedConcurrently = () => new DomainError("aborted", "the customer changed concurrently, retry");

  async function whyNot(businessId: string, ref: CustomerRef, neededPoints?: number): Promise<never> {
    throw refusal(await customers.find(businessId, ref), neededPoints) ?? changedConcurrently();
  }

  async function lookup(ctx: HandlerContext, identifier: string) {
    const p = posPrincipal(ctx);
    const program = await accounts.getProgram(p.businessId);
    const ref = refFromIdentifier(identifier, program.defaultCountry);
    const customer = ref && (await customers.find(p.businessId, ref));
    if (!customer) throw notFound("customer not found");
    return { customer, program };
  }

  return {
    async checkin(req, ctx) {
      const p = posPrincipal(ctx);
      const program = await accounts.getProgram(p.businessId);
      const rules = programToRules(program);
      const points = pointsForCheckin(rules, { amount: req.amount, units: req.units });
      const ref = refFromBody(req.customerId, req.phone, program.defaultCountry);
      const storeId = await storeFor(p.businessId, req.storeId, p.storeId);
      const result = await customers.checkin(p.businessId, ref, points, storeId, { apiKeyId: p.apiKeyId });
      if (!result) return whyNot(p.businessId, ref);
      return create(CheckinResponseSchema, {
        success: true,
        customerId: result.customerId,
        pointsAwarded: points,
        totalPoints: result.totalPoints,
        rewardThreshold: rules.rewardThreshold,
        rewardAvailable: isRewardAvailable(result.totalPoints, rules.rewardThreshold),
      });
    },

    async getCustomer(req, ctx) {
      const { customer, program } = await lookup(ctx, req.identifier);
      return create(LoyaltyPosGetCustomerResponseSchema, {
        customerId: customer.id,
        name: customer.name,
        phone: customer.phone,
        status: statusToProto(customer.status),
        totalPoints: customer.total_points,
        rewardAvailable: isRewardAvailable(customer.total_points, program.rewardThreshold),
      });
    },

    async getBalance(req, ctx) {
      const { customer } = await lookup(ctx, req.identifier);
      return create(GetBalanceResponseSchema, { customerId: customer.id, totalPoints: customer.total_points });
    },

    async redeem(req, ctx) {
      const p = posPrincipal(ctx);
      const program = await accounts.getProgram(p.businessId);
      const rules = programToRules(program);
      const points = req.points ?? rules.rewardThreshold;
      rewardsForRedemption(rules, points);
      const ref = refFromBody(req.customerId, req.phone, program.defaultCountry);
      const storeId = await storeFor(p.businessId, req.storeId, p.storeId);
      const lockKey = `${p.businessId}:${"id" in ref ? ref.id : ref.phone}`;
      const result = await withCustomerLock(kv, lockKey, async () => {
        // The debit is conditional; when it touched no row although the
        // customer now qualifies (a concurrent check-in topped the balance
        // up), it is simply tried again.
        for (let attempt = 0; ; attempt++) {
          const done = await customers.redeem(p.businessId, ref, points, rules.rewardTitle, storeId, { apiKeyId: p.apiKeyId });
          if (done) return done;
          const refused = refusal(await customers.find(p.businessId, ref), points);
          if (refused) throw refused;
          if (attempt === 2) throw changedConcurrently();
        }
      });
      return create(RedeemResponseSchema, {
        success: true,
        redemptionId: result.redemptionId,
        pointsRedeemed: points,
        rewardTitle: rules.rewardTitle,
        remainingPoints: result.remainingPoints,
      });
    },
  };
}
