import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ApiKeySchema,
  CustomerSchema,
  CustomerStatus,
  LedgerEntrySchema,
  LedgerEntryType,
  ProgramMode,
  ProgramSchema,
  StoreSchema,
  type Customer,
  type LedgerEntry,
} from "../../gen/loyalty/v1/types_pb.js";
import { isRewardAvailable, type ProgramRules } from "../domain/points.js";
import type { CustomerRow, LedgerRow } from "../persistence/customer-repository.js";
import type { ApiKey as ApiKeyRow } from "../persistence/entities/api-key.js";
import type { Program as ProgramRow } from "../persistence/entities/program.js";
import type { Store as StoreRow } from "../persistence/entities/store.js";

/**
 * Reads a timestamp as the driver returns it: MikroORM leaves PostgreSQL
 * timestamptz values as text ("2026-11-25 17:33:55.143+00") in raw queries.
 */
export function toDate(value: Date | string): Date {
  if (value instanceof Date) return value;
  const iso = value.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00");
  return new Date(iso);
}

const ts = (value: Date | string) => timestampFromDate(toDate(value));

/** Maps stored values to the wire's enums and messages (and back). */
export const statusToProto = (s: string): CustomerStatus => (s === "BLOCKED" ? CustomerStatus.BLOCKED : CustomerStatus.ACTIVE);

export const modeToProto = (m: string): ProgramMode =>
  m === "UNIT" ? ProgramMode.UNIT : m === "VISIT" ? ProgramMode.VISIT : ProgramMode.SPEND;

const LEDGER_TYPES: Record<string, LedgerEntryType> = {
  CHECKIN: LedgerEntryType.CHECKIN,
  REDEMPTION: LedgerEntryType.REDEMPTION,
  ADJUSTMENT: LedgerEntryType.ADJUSTMENT,
  INITIAL: LedgerEntryType.INITIAL,
  IMPORT: LedgerEntryType.IMPORT,
  REFUND: LedgerEntryType.REFUND,
  REDEMPTION_VOID: LedgerEntryType.REDEMPTION_VOID,
  PROMOTION: LedgerEntryType.PROMOTION,
  EXPIRY: LedgerEntryType.EXPIRY,
};

/** lifetime_points is a bigint (text from the driver); a JSON number is exact to 2^53. */
export const lifetimeOf = (row: { lifetime_points: string | number }): number => Number(row.lifetime_points);

export function customerToProto(row: CustomerRow, rewardThreshold: number): Customer {
  return create(CustomerSchema, {
    id: row.id,
    name: row.name,
    phone: row.phone,
    status: statusToProto(row.status),
    totalPoints: row.total_points,
    rewardAvailable: isRewardAvailable(row.total_points, rewardThreshold),
    notes: row.notes,
    createdAt: ts(row.created_at),
    updatedAt: ts(row.updated_at),
    lastVisitAt: row.last_visit_at ? ts(row.last_visit_at) : undefined,
    lifetimePoints: lifetimeOf(row),
  });
}

export function ledgerToProto(row: LedgerRow): LedgerEntry {
  return create(LedgerEntrySchema, {
    id: row.id,
    delta: row.delta,
    reason: row.reason,
    type: LEDGER_TYPES[row.type] ?? LedgerEntryType.LEDGER_ENTRY_TYPE_UNSPECIFIED,
    storeId: row.store_id ?? "",
    createdAt: ts(row.created_at),
    balanceAfter: row.balance_after,
    apiKeyId: row.api_key_id ?? "",
    ownerId: row.owner_id ?? "",
    redemptionId: row.redemption_id ?? "",
    ...checkinFields(row),
    orderRef: row.order_ref ?? "",
    amount: row.amount_cents === null ? 0 : row.amount_cents / 100,
    units: row.units ?? 0,
    storeName: row.store_name ?? "",
    apiKeyName: row.api_key_name ?? "",
    voided: row.voided === true,
    promotionId: row.promotion_id ?? undefined,
    rewardId: row.type === "REDEMPTION" && row.catalogue_reward === true ? (row.reward_id ?? undefined) : undefined,
    quantity: row.type === "REDEMPTION" && row.catalogue_reward === true ? (row.quantity ?? 1) : undefined,
  });
}

/** A CHECKIN row's id as its checkinId and its refunds so far; a REFUND row's check-in. */
function checkinFields(row: LedgerRow) {
  if (row.type !== "CHECKIN") return { checkinId: row.checkin_id ?? "" };
  const cents = Number(row.refunded_cents ?? 0);
  const units = Number(row.refunded_units ?? 0);
  const fullyRefunded =
    row.amount_cents !== null ? cents >= row.amount_cents : row.units !== null ? units >= row.units : Number(row.refund_count ?? 0) > 0;
  return {
    checkinId: row.id,
    refundedPoints: Number(row.refunded_points ?? 0),
    refundedAmount: cents / 100,
    refundedUnits: units,
    fullyRefunded,
  };
}

export function programToRules(p: ProgramRow): ProgramRules {
  return {
    mode: p.mode as ProgramRules["mode"],
    spendRateHundredths: p.spendRateHundredths,
    pointsPerUnit: p.pointsPerUnit,
    pointsPerVisit: p.pointsPerVisit,
    rewardThreshold: p.rewardThreshold,
    rewardTitle: p.rewardTitle,
  };
}

export function programToProto(p: ProgramRow) {
  return create(ProgramSchema, {
    mode: modeToProto(p.mode),
    pointsPerCurrencyUnit: p.spendRateHundredths / 100,
    pointsPerUnit: p.pointsPerUnit,
    pointsPerVisit: p.pointsPerVisit,
    rewardThreshold: p.rewardThreshold,
    rewardTitle: p.rewardTitle,
    defaultCountry: p.defaultCountry,
    currency: p.currency,
    timezone: p.timezone,
    pointsExpireAfterMonths: p.pointsExpireAfterMonths,
    expiryWarningDays: p.expiryWarningDays,
  });
}

export function storeToProto(s: StoreRow) {
  return create(StoreSchema, { id: s.id, name: s.name, createdAt: ts(s.createdAt), archivedAt: s.archivedAt ? ts(s.archivedAt) : undefined });
}

export function apiKeyToProto(k: ApiKeyRow) {
  return create(ApiKeySchema, {
    id: k.id,
    name: k.name,
    prefix: k.prefix,
    storeId: k.storeId ?? "",
    createdAt: ts(k.createdAt),
    lastUsedAt: k.lastUsedAt ? ts(k.lastUsedAt) : undefined,
    revokedAt: k.revokedAt ? ts(k.revokedAt) : undefined,
  });
}
