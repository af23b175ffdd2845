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
  createdAt: Date;
}

export const RedemptionSchema = new EntitySchema<Redemption>({
  name: "Redemption",
  tableName: "redemption",
  indexes: [{ name: "redemption_customer_idx", properties: ["businessId", "customerId"] }],
  properties: {
    id: { type: "string", primary: true, length: 32 },
    businessId: { type: "string", length: 32 },
    customerId: { type: "string", length: 32 },
    points: { type: "integer" },
    rewardTitle: { type: "string", length: 100 },
    storeId: { type: "string", length: 32, nullable: true },
    apiKeyId: { type: "string", length: 32, nullable: true },
    createdAt: { type: "Date", columnType: "timestamptz", defaultRaw: "now()" },
  },
});
