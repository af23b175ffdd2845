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
  balanceAfter: number;
  createdAt: Date;
}

export const LedgerEntrySchema = new EntitySchema<LedgerEntry>({
  name: "LedgerEntry",
  tableName: "ledger_entry",
  indexes: [
    { name: "ledger_customer_created_idx", properties: ["businessId", "customerId", "createdAt"] },
    { name: "ledger_business_created_idx", properties: ["businessId", "createdAt"] },
  ],
  properties: {
    id: { type: "string", primary: true, length: 32 },
    businessId: { type: "string", length: 32 },
    customerId: { type: "string", length: 32 },
    delta: { type: "integer" },
    reason: { type: "string", length: 500 },
    type: { type: "string", length: 12 },
    storeId: { type: "string", length: 32, nullable: true },
    apiKeyId: { type: "string", length: 32, nullable: true },
    ownerId: { type: "string", length: 32, nullable: true },
    redemptionId: { type: "string", length: 32, nullable: true },
    balanceAfter: { type: "integer" },
    createdAt: { type: "Date", columnType: "timestamptz", defaultRaw: "clock_timestamp()" },
  },
});
