import { EntitySchema } from "@mikro-orm/core";

/**
 * An orderRef credited by a check-in that is not fully refunded: its primary
 * key makes (business, orderRef) unique while it exists. Inserted with the
 * check-in, deleted by the refund that completes it (Migration20261201120000).
 */
export interface OrderRefClaim {
  businessId: string;
  orderRef: string;
  checkinId: string;
  createdAt: Date;
}

export const OrderRefClaimSchema = new EntitySchema<OrderRefClaim>({
  name: "OrderRefClaim",
  tableName: "order_ref_claim",
  indexes: [{ name: "order_ref_claim_checkin_idx", properties: ["checkinId"] }],
  properties: {
    businessId: { type: "string", primary: true, length: 32 },
    orderRef: { type: "string", primary: true, length: 100 },
    checkinId: { type: "string", length: 32 },
    createdAt: { type: "Date", columnType: "timestamptz", defaultRaw: "now()" },
  },
});
