import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  AvailableRewardSchema,
  PromotionKind,
  PromotionSchema,
  RewardSchema,
  UsePeriod,
  Weekday,
  type AvailableReward,
} from "../../gen/loyalty/v1/types_pb.js";
import { DomainError, invalidArgument, notFound } from "../domain/errors.js";
import { localTime } from "../domain/locale.js";
import {
  MAX_ACTIVE_PROMOTIONS,
  bonusOf,
  candidates,
  checkRule,
  clockMinute,
  minuteToClock,
  multiplierToHundredths,
  summary,
  usePeriod,
  type CheckinFacts,
  type PromotionRule,
} from "../domain/promotions.js";
import * as v from "../domain/validation.js";
import { newId } from "../infrastructure/ids.js";
import type { ProgramView, RewardRow } from "../persistence/catalogue-repository.js";
import type { Actor } from "../persistence/customer-repository.js";
import type { LotTerms } from "../persistence/lot-repository.js";
import type { ServiceDeps } from "./deps.js";
import { referenceShape } from "./reference-shape.js";

/**
 * The rewards catalogue and promotions (contract §9): the owner's methods,
 * what the hot path asks of the cached program (available rewards, the
 * promotion of a check-in), and the conditional writes of a chosen reward.
 */

export const MAX_REWARDS = 50;
export const MAX_COST = 10_000_000;

/**
 * Does the business use the catalogue: a reward beyond the default one, or
 * an active promotion? One that does not gets the reference's answers byte
 * for byte (reference-shape.ts).
 */
export function usesCatalogue(program: ProgramView): boolean {
  return program.rewards.length > 1 || program.promotions.length > 0;
}

/** Answers in the reference's shape for a business that does not use the catalogue. */
export function shaped<T extends object>(program: ProgramView, message: T): T {
  return usesCatalogue(program) ? message : referenceShape(message);
}

/** Active rewards the balance affords now (in stock), cheapest first; the default reward first among equals. */
export function availableRewards(program: ProgramView, balance: number): AvailableReward[] {
  const out: AvailableReward[] = [];
  for (const r of program.rewards) {
    if (r.active && r.cost <= balance && (r.stock === null || r.stock > 0)) {
      out.push(create(AvailableRewardSchema, { id: r.id, title: r.title, cost: r.cost }));
    }
  }
  // Stable sort: the catalogue is already default first, then oldest first.
  return out.length > 1 ? out.sort((a, b) => a.cost - b.cost) : out;
}

export function rewardToProto(r: RewardRow & { redeemedCount?: number }) {
  return create(RewardSchema, {
    id: r.id,
    title: r.title,
    cost: r.cost,
    active: r.active,
    stock: r.stock ?? undefined,
    perCustomerLimit: r.perCustomerLimit ?? undefined,
    redeemedCount: r.redeemedCount ?? 0,
    isDefault: r.isDefault,
    createdAt: timestampFromDate(r.createdAt),
  });
}

export function promotionToProto(p: PromotionRule, program: { timezone: string; currency: string }) {
  return create(PromotionSchema, {
    id: p.id,
    name: p.name,
    kind: p.kind === "MULTIPLIER" ? PromotionKind.MULTIPLIER : PromotionKind.BONUS,
    multiplier: p.multiplierHundredths === null ? 0 : p.multiplierHundredths / 100,
    bonusPoints: p.bonusPoints ?? 0,
    startsAt: timestampFromDate(p.startsAt),
    endsAt: p.endsAt ? timestampFromDate(p.endsAt) : undefined,
    weekdays: p.weekdays as Weekday[],
    startTime: p.startMinute === null ? "" : minuteToClock(p.startMinute),
    endTime: p.endMinute === null ? "" : minuteToClock(p.endMinute),
    minAmount: p.minAmountCents === null ? 0 : p.minAmountCents / 100,
    storeIds: p.storeIds,
    maxUsesPerCustomer: p.maxUsesPerCustomer ?? 0,
    per: p.per === "DAY" ? UsePeriod.DAY : UsePeriod.ALL_TIME,
    active: p.active,
    createdAt: timestampFromDate(p.createdAt),
    summary: summary(p, program.timezone, program.currency),
  });
}

// ---- the reward of a redemption ----

/** What a redeem asks for, resolved against the catalogue. */
export interface RedeemChoice {
  reward: RewardRow;
  quantity: number;
  points: number;
  /** The debit needs the reward's conditional writes (stock or a per-customer limit). */
  guarded: boolean;
}

/** A redeem's answer names its reward and quantity only for a business that uses the catalogue (else the reference's shape). */
export function withRewardChoice<T extends { rewardId?: string; quantity?: number }>(program: ProgramView, choice: RedeemChoice, res: T): T {
  if (usesCatalogue(program)) {
    res.rewardId = choice.reward.id;
    res.quantity = choice.quantity;
  }
  return res;
}

/**
 * Resolves `rewardId`/`quantity`/`points` of a redeem (contract §9). With a
 * rewardId, points = cost × quantity (a given points that differs is 400);
 * without, the default reward with points its cost or a multiple, as before.
 */
export async function chooseReward(
  deps: ServiceDeps,
  businessId: string,
  program: ProgramView,
  req: { rewardId?: string; quantity?: number; points?: number },
): Promise<RedeemChoice> {
  const quantity = req.quantity === undefined ? undefined : v.wholeNumber(req.quantity, "quantity", 1, 100);
  const rewardId = req.rewardId === undefined || req.rewardId.trim() === "" ? undefined : v.id(req.rewardId, "rewardId");
  let reward: RewardRow | undefined;
  if (rewardId === undefined) {
    reward = program.rewards.find((r) => r.isDefault);
  } else {
    reward = program.rewards.find((r) => r.id === rewardId);
    if (!reward) {
      // Created a moment ago on another instance? Read the catalogue once more.
      reward = (await deps.reads.program(businessId, { fresh: true })).rewards.find((r) => r.id === rewardId);
      if (!reward) throw notFound("reward not found");
    }
  }
  if (!reward) throw new Error(`business ${businessId} has no default reward`);
  const cost = reward.isDefault ? program.rewardThreshold : reward.cost;
  let points: number;
  let units: number;
  if (rewardId === undefined && quantity === undefined) {
    points = req.points ?? cost;
    if (!Number.isInteger(points) || points <= 0) throw invalidArgument("points must be a positive whole number");
    if (points % cost !== 0) throw invalidArgument(`points must be the reward cost (${cost}) or a whole multiple of it`);
    units = points / cost;
  } else {
    units = quantity ?? 1;
    points = cost * units;
    if (req.points !== undefined && req.points !== points) {
      throw invalidArgument(`points must equal the reward's cost × quantity (${points})`);
    }
  }
  if (!reward.active) throw new DomainError("failed_precondition", "reward is not active");
  return { reward, quantity: units, points, guarded: reward.stock !== null || reward.perCustomerLimit !== null };
}

/** The refusal of a reward's conditional write, as contract §9 words it. */
export async function takeReward(deps: ServiceDeps, businessId: string, choice: RedeemChoice, customerId: string): Promise<void> {
  const refused = await deps.catalogue.take(businessId, choice.reward, customerId, choice.quantity);
  if (refused === "inactive") throw new DomainError("failed_precondition", "reward is not active");
  if (refused === "out_of_stock") throw new DomainError("failed_precondition", "reward is out of stock");
  if (refused === "limit") throw new DomainError("failed_precondition", "reward limit reached");
}

// ---- the promotion of a check-in ----

/** The facts of a check-in at this instant, in the program's zone. */
export function checkinFacts(program: ProgramView, basePoints: number, amountCents: number | undefined, storeId: string | null): CheckinFacts {
  const at = new Date();
  return { at, local: localTime(at, program.timezone), basePoints, amountCents, storeId };
}

/** The applied promotion of a check-in. */
export interface Applied {
  promotionId: string;
  points: number;
  totalPoints: number;
}

/**
 * Applies the newest qualifying promotion to a check-in just written (in its
 * transaction): a limited one counts the use first (a conditional upsert, so
 * the limit holds under concurrency) and is passed over when spent; a bonus
 * of 0 (×1.01 of 5 points) is no application. The bonus is its own
 * PROMOTION ledger row naming the promotion and the check-in.
 */
export async function applyPromotion(
  deps: ServiceDeps,
  businessId: string,
  list: PromotionRule[],
  facts: CheckinFacts,
  checkin: { checkinId: string; customerId: string; orderRef: string | null },
  actor: Actor,
  /** Under an expiry policy: the check-in's lot terms, for the bonus's lot. */
  lot?: LotTerms,
): Promise<Applied | undefined> {
  for (const p of list) {
    const points = bonusOf(p, facts.basePoints);
    if (points <= 0) continue;
    const period = p.maxUsesPerCustomer === null ? null : usePeriod(p, facts.local);
    if (period !== null && !(await deps.catalogue.usePromotion(businessId, p, checkin.customerId, period))) continue;
    const totalPoints = await deps.catalogue.creditPromotion(businessId, checkin.customerId, {
      promotionId: p.id,
      promotionName: p.name,
      checkinId: checkin.checkinId,
      points,
      storeId: facts.storeId,
      apiKeyId: actor.apiKeyId ?? null,
      ownerId: actor.ownerId ?? null,
      orderRef: checkin.orderRef,
      usePeriod: period,
    }, lot);
    return { promotionId: p.id, points, totalPoints };
  }
  return undefined;
}

/** The promotion a check-in would get (a preview): the same choice, reading the uses instead of counting them. */
export async function previewPromotion(
  deps: ServiceDeps,
  businessId: string,
  list: PromotionRule[],
  facts: CheckinFacts,
  customerId: string | undefined,
): Promise<{ promotionId: string; points: number } | undefined> {
  const limited = list.filter((p) => p.maxUsesPerCustomer !== null);
  const uses =
    customerId === undefined || limited.length === 0
      ? new Map<string, number>()
      : await deps.catalogue.uses(businessId, customerId, limited.map((p) => ({ promotionId: p.id, period: usePeriod(p, facts.local) })));
  for (const p of list) {
    const points = bonusOf(p, facts.basePoints);
    if (points <= 0) continue;
    if (p.maxUsesPerCustomer !== null && (uses.get(`${p.id}\n${usePeriod(p, facts.local)}`) ?? 0) >= p.maxUsesPerCustomer) continue;
    return { promotionId: p.id, points };
  }
  return undefined;
}

export { candidates };

// ---- owner methods: validation ----

export function rewardFields(req: { title?: string; cost?: number; stock?: number; perCustomerLimit?: number }) {
  return {
    title: req.title === undefined ? undefined : v.text(req.title, "title", { max: 100, required: true }),
    cost: req.cost === undefined ? undefined : v.wholeNumber(req.cost, "cost", 1, MAX_COST),
    stock: req.stock === undefined ? undefined : v.wholeNumber(req.stock, "stock", 0, MAX_COST),
    perCustomerLimit: req.perCustomerLimit === undefined ? undefined : v.wholeNumber(req.perCustomerLimit, "perCustomerLimit", 1, 10_000),
  };
}

function minAmountCents(value: number): number {
  if (!Number.isFinite(value) || value <= 0 || value > 1_000_000) throw invalidArgument("minAmount must be greater than 0 and at most 1000000");
  const m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(value.toString());
  if (!m) throw invalidArgument("minAmount must have at most 2 decimal places");
  return Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
}

function weekdays(list: Weekday[]): number[] {
  const out = new Set<number>();
  for (const d of list) {
    if (!Number.isInteger(d) || d < 1 || d > 7) throw invalidArgument("weekdays must be MON, TUE, WED, THU, FRI, SAT or SUN");
    out.add(d);
  }
  return [...out].sort();
}

function date(ts: Timestamp, field: string): Date {
  const d = timestampDate(ts);
  const y = d.getUTCFullYear();
  if (!Number.isFinite(d.getTime()) || y < 2000 || y > 2200) throw invalidArgument(`${field} must be a time between the years 2000 and 2200`);
  return d;
}

/** What a create or an update of a promotion may set. */
export interface PromotionInput {
  name?: string;
  kind?: PromotionKind;
  multiplier?: number;
  bonusPoints?: number;
  startsAt?: Timestamp;
  endsAt?: Timestamp;
  weekdays: Weekday[];
  startTime?: string;
  endTime?: string;
  minAmount?: number;
  storeIds: string[];
  maxUsesPerCustomer?: number;
  per: UsePeriod;
  active?: boolean;
  clearWeekdays?: boolean;
  clearStoreIds?: boolean;
  clearEndsAt?: boolean;
}

/**
 * Builds the promotion a create (no `base`) or an update (`base`) asks for,
 * every field checked (the message names it), the stores included.
 */
export async function promotionFrom(deps: ServiceDeps, businessId: string, req: PromotionInput, base?: PromotionRule): Promise<PromotionRule> {
  const p: PromotionRule = base
    ? { ...base }
    : {
        id: newId(),
        name: "",
        kind: "MULTIPLIER",
        multiplierHundredths: null,
        bonusPoints: null,
        startsAt: new Date(),
        endsAt: null,
        weekdays: [],
        startMinute: null,
        endMinute: null,
        minAmountCents: null,
        storeIds: [],
        maxUsesPerCustomer: null,
        per: "ALL_TIME",
        active: true,
        createdAt: new Date(),
      };
  if (!base || req.name !== undefined) p.name = v.text(req.name, "name", { max: 100, required: true });
  if (!base) {
    if (req.kind === PromotionKind.MULTIPLIER) p.kind = "MULTIPLIER";
    else if (req.kind === PromotionKind.BONUS) p.kind = "BONUS";
    else throw invalidArgument("kind must be MULTIPLIER or BONUS");
  }
  if (req.multiplier !== undefined) {
    if (p.kind !== "MULTIPLIER") throw invalidArgument("multiplier is for MULTIPLIER promotions; give bonusPoints");
    p.multiplierHundredths = multiplierToHundredths(req.multiplier);
  }
  if (req.bonusPoints !== undefined) {
    if (p.kind !== "BONUS") throw invalidArgument("bonusPoints is for BONUS promotions; give multiplier");
    p.bonusPoints = v.wholeNumber(req.bonusPoints, "bonusPoints", 1, 100_000);
  }
  if (req.startsAt !== undefined) p.startsAt = date(req.startsAt, "startsAt");
  if (req.clearEndsAt) p.endsAt = null;
  if (req.endsAt !== undefined) p.endsAt = date(req.endsAt, "endsAt");
  if (req.clearWeekdays) p.weekdays = [];
  if (req.weekdays.length > 0) p.weekdays = weekdays(req.weekdays);
  if (req.startTime !== undefined) p.startMinute = req.startTime === "" ? null : clockMinute(req.startTime, "startTime");
  if (req.endTime !== undefined) p.endMinute = req.endTime === "" ? null : clockMinute(req.endTime, "endTime");
  if (req.minAmount !== undefined) p.minAmountCents = req.minAmount === 0 ? null : minAmountCents(req.minAmount);
  if (req.clearStoreIds) p.storeIds = [];
  if (req.storeIds.length > 0) {
    const ids = [...new Set(req.storeIds.map((s) => v.id(s, "storeIds")))];
    if (ids.length > 100) throw invalidArgument("storeIds must list at most 100 stores");
    for (const id of ids) {
      if (!(await deps.accounts.storeExists(businessId, id))) throw invalidArgument(`storeIds: ${id} is not a store of this business`);
    }
    p.storeIds = ids;
  }
  if (req.maxUsesPerCustomer !== undefined) {
    p.maxUsesPerCustomer = req.maxUsesPerCustomer === 0 ? null : v.wholeNumber(req.maxUsesPerCustomer, "maxUsesPerCustomer", 1, 1000);
  }
  if (req.per === UsePeriod.DAY) p.per = "DAY";
  else if (req.per === UsePeriod.ALL_TIME) p.per = "ALL_TIME";
  else if (req.per !== UsePeriod.USE_PERIOD_UNSPECIFIED) throw invalidArgument("per must be DAY or ALL_TIME");
  if (req.active !== undefined) p.active = req.active;
  checkRule(p);
  return p;
}

export const tooManyActive = () =>
  new DomainError("failed_precondition", `active: at most ${MAX_ACTIVE_PROMOTIONS} promotions can be active; end one first`);
