import { EntitySchema } from "@mikro-orm/core";

/** One append-only change of a customer's balance. */
export interface LedgerEntry {
  id: string;
  businessId: string;
  customerId: string;
  delta: number;
  reason: string;
  type: string;
  storeId: string | null;
  apiKeyId: string | null;
  ownerId: string | null;
  redemptionId: string | null;
  /** REFUND rows: the CHECKIN row refunded (a check-in's id is its CHECKIN row's id). */
  checkinId: string | null;
  orderRef: string | null;
  /** SPEND: the amount of a CHECKIN row, the part refunded on a REFUND row. */
  amountCents: number | null;
  /** UNIT: the units of a CHECKIN row, the part refunded on a REFUND row. */
  units: number | null;
  balanceAfter: number;
  createdAt: Date;
}

export const LedgerEntrySchema = new EntitySchema<LedgerEntry>({
  name: "LedgerEntry",
  tableName: "ledger_entry",
  indexes: [
    { name: "ledger_customer_created_idx", properties: ["businessId", "customerId", "createdAt"] },
    { name: "ledger_business_created_idx", properties: ["businessId", "createdAt"] },
    // Partial: a row without them writes no entry (Migration20261201120000).
    {
      name: "ledger_checkin_idx",
      expression: `create index "ledger_checkin_idx" on "ledger_entry" ("business_id", "checkin_id") where "checkin_id" is not null`,
    },
    {
      name: "ledger_checkin_order_ref_idx",
      expression: `create index "ledger_checkin_order_ref_idx" on "ledger_entry" ("business_id", "order_ref", "created_at") where "order_ref" is not null and "type" = 'CHECKIN'`,
    },
  ],
  properties: {
    id: { type: "string", primary: true, length: 32 },
    businessId: { type: "string", length: 32 },
    customerId: { type: "string", length: 32 },
    delta: { type: "integer" },
    reason: { type: "string", length: 500 },
    type: { type: "string", length: 20 },
    storeId: { type: "string", length: 32, nullable: true },
    apiKeyId: { type: "string", length: 32, nullable: true },
    ownerId: { type: "string", length: 32, nullable: true },
    redemptionId: { type: "string", length: 32, nullable: true },
    checkinId: { type: "string", length: 32, nullable: true },
    orderRef: { type: "string", length: 100, nullable: true },
    amountCents: { type: "integer", nullable: true },
    units: { type: "integer", nullable: true },
    balanceAfter: { type: "integer" },
    createdAt: { type: "Date", columnType: "timestamptz", defaultRaw: "clock_timestamp()" },
  },
});
