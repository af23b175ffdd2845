import { EntitySchema } from "@mikro-orm/core";

/** A reward taken at the POS. */
export interface Redemption {
  id: string;
  businessId: string;
  customerId: string;
  points: number;
  rewardTitle: string;
  storeId: string | null;
  apiKeyId: string | null;
  orderRef: string | null;
  /** Set once, by the void that gave the points back. */
  voidedAt: Date | null;
  createdAt: Date;
}

export const RedemptionSchema = new EntitySchema<Redemption>({
  name: "Redemption",
  tableName: "redemption",
  indexes: [
    { name: "redemption_customer_idx", properties: ["businessId", "customerId"] },
    {
      name: "redemption_order_ref_idx",
      expression: `create index "redemption_order_ref_idx" on "redemption" ("business_id", "order_ref", "created_at") where "order_ref" is not null`,
    },
  ],
  properties: {
    id: { type: "string", primary: true, length: 32 },
    businessId: { type: "string", length: 32 },
    customerId: { type: "string", length: 32 },
    points: { type: "integer" },
    rewardTitle: { type: "string", length: 100 },
    storeId: { type: "string", length: 32, nullable: true },
    apiKeyId: { type: "string", length: 32, nullable: true },
    orderRef: { type: "string", length: 100, nullable: true },
    voidedAt: { type: "Date", columnType: "timestamptz", nullable: true },
    createdAt: { type: "Date", columnType: "timestamptz", defaultRaw: "now()" },
  },
});
