import { LRUCache } from "lru-cache";
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  AdjustPointsResponseSchema,
  CreateCustomerResponseSchema,
  CustomerAdmin,
  CustomerAdminRefundCheckinResponseSchema,
  CustomerAdminVoidRedemptionResponseSchema,
  DeleteCustomerResponseSchema,
  RedeemRewardResponseSchema,
  GetCustomerResponseSchema,
  ListCustomersResponseSchema,
  UpdateCustomerResponseSchema,
} from "../../gen/loyalty/v1/admin_pb.js";
import { CustomerStatus, PaginationSchema } from "../../gen/loyalty/v1/types_pb.js";
import { DomainError, invalidArgument, notFound } from "../domain/errors.js";
import { normalizePhone } from "../domain/phone.js";
import { rewardsForRedemption } from "../domain/points.js";
import * as v from "../domain/validation.js";
import { SORT_COLUMNS, type ListQuery, type SortBy } from "../persistence/customer-repository.js";
import { ownerPrincipal } from "./principal.js";
import { withCustomerLock } from "./customer-lock.js";
import type { ServiceDeps } from "./deps.js";
import { orderRefField, redeemWithRetry, refundCheckin, voidRedemption } from "./lifecycle.js";
import { expiringPoints, expiryShaped, lotTerms, lotToProto, tracksLots } from "./expiry.js";
import { availableRewards, chooseReward, shaped, takeReward, usesCatalogue, withRewardChoice } from "./catalogue.js";
import { customerToProto, ledgerToProto, programToRules } from "./mappers.js";
import { crossedThreshold, type EventInput } from "../domain/events.js";
import { customerObject, emit, eventRequest, rewardAvailable } from "./events.js";

const HISTORY_LIMIT = 500;

/**
 * The phone digits a numeric search looks for: a whole number in any typed
 * form (`0871234567`, `00353…`) becomes its E.164 digits; a fragment loses
 * its trunk/international zeros, which stored E.164 numbers never contain.
 */
function phoneSearchDigits(search: string, country: string): string | undefined {
  const digits = search.replace(/[\s()+\-.]/g, "");
  if (!/^\d+$/.test(digits)) return undefined;
  const memoKey = `${country}|${search}`;
  let found = searchDigitsMemo.get(memoKey);
  if (found === undefined) {
    try {
      found = normalizePhone(search, country).slice(1);
    } catch {
      found = digits.replace(/^0+/, "") || digits;
    }
    searchDigitsMemo.set(memoKey, found);
  }
  return found;
}
/** Owners repeat their searches; a partial number's refusal (an exception) is not recomputed each time. */
const searchDigitsMemo = new LRUCache<string, string>({ max: 1_000 });
const MAX_POINTS_CHANGE = 10_000_000;

/**
 * CustomerAdmin: the owner's management of customers (JWT auth). Every
 * change of points writes the balance and its ledger row together; every
 * change leaves a PII-free audit event in the same transaction.
 */
export function createCustomerAdminService(deps: ServiceDeps): ServiceImpl<typeof CustomerAdmin> {
  const { customers, accounts, db, kv, reads } = deps;

  function statusFrom(status: CustomerStatus, field: string): "ACTIVE" | "BLOCKED" {
    if (status === CustomerStatus.ACTIVE) return "ACTIVE";
    if (status === CustomerStatus.BLOCKED) return "BLOCKED";
    throw invalidArgument(`${field} must be ACTIVE or BLOCKED`);
  }

  return {
    async createCustomer(req, ctx) {
      const p = ownerPrincipal(ctx);
      const program = await reads.program(p.businessId);
      const name = v.text(req.name, "name", { max: 200 });
      const notes = v.text(req.notes, "notes", { max: 2000 });
      const phone = normalizePhone(req.phone, program.defaultCountry);
      const initialPoints = v.wholeNumber(req.initialPoints, "initialPoints", 0, MAX_POINTS_CHANGE);
      const customer = await db.tx(async () => {
        let row = await customers.create(p.businessId, { name, phone, notes });
        if (initialPoints > 0) {
          const after = await customers.adjust(p.businessId, row.id, initialPoints, "Initial points", "INITIAL", {
            ownerId: p.ownerId,
          }, lotTerms(program));
          row = { ...row, total_points: after!.totalPoints, lifetime_points: String(initialPoints) };
        }
        await accounts.audit({
          businessId: p.businessId,
          actorType: "owner",
          actorId: p.ownerId,
          action: "customer.created",
          subjectId: row.id,
          data: { initialPoints },
        });
        const events: EventInput[] = [{ type: "customer.created", customerId: row.id, object: customerObject(row, program.rewardThreshold) }];
        if (crossedThreshold(0, row.total_points, program.rewardThreshold)) events.push(rewardAvailable(program, row.id, row.total_points));
        await emit(deps, p.businessId, events, eventRequest(ctx));
        return row;
      });
      return create(CreateCustomerResponseSchema, {
        success: true,
        customer: customerToProto(customer, program.rewardThreshold),
      });
    },

    async listCustomers(req, ctx) {
      const p = ownerPrincipal(ctx);
      // Absent is the default; an explicit 0 is out of range like -1.
      const page = req.page === undefined ? 1 : v.wholeNumber(req.page, "page", 1, 100_000);
      const limit = req.limit === undefined ? 20 : v.wholeNumber(req.limit, "limit", 1, 100);
      const search = v.text(req.search, "search", { max: 100 });
      const sortBy = (req.sortBy || "createdAt") as SortBy;
      // Own keys only: `in` also finds inherited names (constructor, toString).
      if (!Object.hasOwn(SORT_COLUMNS, sortBy)) {
        throw invalidArgument("sortBy must be one of createdAt, name, totalPoints, lastVisitAt");
      }
      const order = (req.sortOrder || "desc").toLowerCase();
      if (order !== "asc" && order !== "desc") throw invalidArgument("sortOrder must be asc or desc");
      const status =
        req.statusFilter === CustomerStatus.CUSTOMER_STATUS_UNSPECIFIED ? undefined : statusFrom(req.statusFilter, "statusFilter");
      const program = await reads.program(p.businessId);
      const query: ListQuery = {
        page,
        limit,
        search,
        status,
        sortBy,
        sortOrder: order,
        phoneDigits: phoneSearchDigits(search, program.defaultCountry),
      };
      // Owners and their staff repeat the same list and search; any write to
      // the business (program changes included) drops the cached response
      // (business-read-cache.ts). The response is shared: never mutated.
      return reads.list(p.businessId, `customers ${JSON.stringify(query)}`, async () => {
        const { rows, total } = await customers.list(p.businessId, query);
        return create(ListCustomersResponseSchema, {
          customers: rows.map((r) => customerToProto(r, program.rewardThreshold)),
          pagination: create(PaginationSchema, { page, limit, total }),
        });
      });
    },

    async getCustomer(req, ctx) {
      const p = ownerPrincipal(ctx);
      const id = v.id(req.id, "id");
      const [customer, program] = await Promise.all([
        customers.find(p.businessId, { id }),
        reads.program(p.businessId),
      ]);
      if (!customer) throw notFound("customer not found");
      const [history, expiring, lots] = await Promise.all([
        customers.history(p.businessId, id, HISTORY_LIMIT),
        expiringPoints(deps, program, id),
        tracksLots(program) ? deps.lots.lots(p.businessId, id) : [],
      ]);
      return expiryShaped(program, shaped(program, create(GetCustomerResponseSchema, {
        customer: customerToProto(customer, program.rewardThreshold),
        pointsHistory: history.map(ledgerToProto),
        totalPoints: customer.total_points,
        availableRewards: usesCatalogue(program) ? availableRewards(program, customer.total_points) : [],
        expiringPoints: expiring,
        lots: lots.map(lotToProto),
      })));
    },

    async updateCustomer(req, ctx) {
      const p = ownerPrincipal(ctx);
      const id = v.id(req.id, "id");
      const program = await reads.program(p.businessId);
      const changes: { name?: string; phone?: string; status?: string; notes?: string } = {};
      if (req.name !== undefined) changes.name = v.text(req.name, "name", { max: 200 });
      if (req.notes !== undefined) changes.notes = v.text(req.notes, "notes", { max: 2000 });
      if (req.phone !== undefined) changes.phone = normalizePhone(req.phone, program.defaultCountry);
      if (req.status !== undefined) changes.status = statusFrom(req.status, "status");
      const row = await db.tx(async () => {
        const before = await customers.find(p.businessId, { id }, { forUpdate: true });
        if (!before) throw notFound("customer not found");
        const updated = await customers.update(p.businessId, id, changes);
        if (!updated) throw notFound("customer not found");
        const previous: Record<string, unknown> = {};
        for (const key of Object.keys(changes) as (keyof typeof changes)[]) {
          if (before[key] !== updated[key]) previous[key] = before[key];
        }
        if (Object.keys(previous).length > 0) {
          const type = previous.status === undefined ? "customer.updated" : updated.status === "BLOCKED" ? "customer.blocked" : "customer.unblocked";
          await emit(deps, p.businessId, [{ type, customerId: id, object: customerObject(updated, program.rewardThreshold), previous }], eventRequest(ctx));
        }
        await accounts.audit({
          businessId: p.businessId,
          actorType: "owner",
          actorId: p.ownerId,
          action: changes.status ? `customer.${changes.status === "BLOCKED" ? "blocked" : "unblocked"}` : "customer.updated",
          subjectId: id,
          data: { fields: Object.keys(changes) },
        });
        return updated;
      });
      return create(UpdateCustomerResponseSchema, {
        success: true,
        customer: customerToProto(row, program.rewardThreshold),
      });
    },

    async adjustPoints(req, ctx) {
      const p = ownerPrincipal(ctx);
      const id = v.id(req.id, "id");
      if (req.points === 0) throw invalidArgument("points must not be 0");
      v.wholeNumber(req.points, "points", -MAX_POINTS_CHANGE, MAX_POINTS_CHANGE);
      const reason = v.text(req.reason, "reason", { max: 500, required: true });
      const program = await reads.program(p.businessId);
      const result = await withCustomerLock(kv, `${p.businessId}:${id}`, () =>
        db.tx(async () => {
          const after = await customers.adjust(p.businessId, id, req.points, reason, "ADJUSTMENT", { ownerId: p.ownerId }, lotTerms(program));
          if (!after) {
            const exists = await customers.find(p.businessId, { id });
            if (!exists) throw notFound("customer not found");
            throw new DomainError("failed_precondition", "insufficient points");
          }
          // A deduction takes the soonest-expiring points first (contract §10).
          if (req.points < 0 && tracksLots(program)) await deps.lots.spendForDeduction(p.businessId, id, -req.points);
          await accounts.audit({
            businessId: p.businessId,
            actorType: "owner",
            actorId: p.ownerId,
            action: "customer.points_adjusted",
            subjectId: id,
            data: { delta: req.points, balanceAfter: after.totalPoints },
          });
          const events: EventInput[] = [
            {
              type: "points.adjusted",
              customerId: id,
              object: { customerId: id, adjustment: req.points, reason, newBalance: after.totalPoints, ownerId: p.ownerId, createdAt: new Date().toISOString() },
            },
          ];
          if (crossedThreshold(after.totalPoints - req.points, after.totalPoints, program.rewardThreshold)) events.push(rewardAvailable(program, id, after.totalPoints));
          await emit(deps, p.businessId, events, eventRequest(ctx));
          return after;
        }),
      );
      return create(AdjustPointsResponseSchema, { success: true, newBalance: result.totalPoints, adjustment: req.points });
    },

    async refundCheckin(req, ctx) {
      const p = ownerPrincipal(ctx);
      const checkinId = v.id(req.checkinId, "checkinId");
      const out = await refundCheckin(deps, p.businessId, { ...req, checkinId }, eventRequest(ctx), (done) =>
        accounts.audit({
          businessId: p.businessId,
          actorType: "owner",
          actorId: p.ownerId,
          action: "checkin.refunded",
          subjectId: done.checkinId,
          data: { refundId: done.refundId, pointsReversed: done.pointsReversed, balanceAfter: done.totalPoints },
        }),
      );
      return create(CustomerAdminRefundCheckinResponseSchema, { success: true, ...out });
    },

    async voidRedemption(req, ctx) {
      const p = ownerPrincipal(ctx);
      const redemptionId = v.id(req.redemptionId, "redemptionId");
      const out = await voidRedemption(deps, p.businessId, { redemptionId, reason: req.reason }, eventRequest(ctx), (done) =>
        accounts.audit({
          businessId: p.businessId,
          actorType: "owner",
          actorId: p.ownerId,
          action: "redemption.voided",
          subjectId: done.redemptionId,
          data: { pointsRestored: done.pointsRestored, balanceAfter: done.totalPoints },
        }),
      );
      return create(CustomerAdminVoidRedemptionResponseSchema, { success: true, ...out });
    },

    async redeemReward(req, ctx) {
      const p = ownerPrincipal(ctx);
      const id = v.id(req.id, "id");
      const program = await reads.program(p.businessId);
      const choice = await chooseReward(deps, p.businessId, program, req);
      const points = choice.points;
      const title = choice.reward.isDefault ? program.rewardTitle : choice.reward.title;
      const orderRef = orderRefField(req.orderRef) ?? null;
      let storeId: string | null = null;
      if (req.storeId !== undefined && req.storeId.trim() !== "") {
        storeId = v.id(req.storeId, "storeId");
        if (!(await accounts.storeExists(p.businessId, storeId))) throw invalidArgument("storeId is not a store of this business");
      }
      // The same conditional debit as the POS redeem, with the owner on the ledger row.
      const result = await redeemWithRetry(
        deps, p.businessId, { id }, points, title, storeId, eventRequest(ctx), orderRef,
        async (done) => {
          if (choice.guarded) await takeReward(deps, p.businessId, choice, done.customerId);
          await accounts.audit({
            businessId: p.businessId,
            actorType: "owner",
            actorId: p.ownerId,
            action: "redemption.created",
            subjectId: done.redemptionId,
            data: { customerId: id, points, rewardId: choice.reward.id, quantity: choice.quantity, balanceAfter: done.remainingPoints },
          });
        },
        { id: choice.reward.id, quantity: choice.quantity },
        tracksLots(program),
        { request: eventRequest(ctx), fanout: program.webhooks },
      );
      const res = create(RedeemRewardResponseSchema, {
        success: true,
        redemptionId: result.redemptionId,
        pointsRedeemed: points,
        rewardTitle: title,
        remainingPoints: result.remainingPoints,
      });
      return withRewardChoice(program, choice, res);
    },

    async deleteCustomer(req, ctx) {
      const p = ownerPrincipal(ctx);
      const id = v.id(req.id, "id");
      await db.tx(async () => {
        const deleted = await customers.delete(p.businessId, id);
        if (!deleted) throw notFound("customer not found");
        await accounts.audit({
          businessId: p.businessId,
          actorType: "owner",
          actorId: p.ownerId,
          action: "customer.deleted",
          subjectId: id,
          data: { pointsAtDeletion: deleted.totalPoints, ledgerEntriesDeleted: deleted.ledgerEntries },
        });
        // Ids and figures only: the customer's personal data is gone.
        await emit(deps, p.businessId, [{ type: "customer.deleted", customerId: id, object: { id, deleted: true, pointsAtDeletion: deleted.totalPoints } }], eventRequest(ctx));
      });
      return create(DeleteCustomerResponseSchema, { success: true, message: "Customer deleted permanently" });
    },
  };
}
