import { EntitySchema } from "@mikro-orm/core";

/** A loyalty customer; (businessId, phone) is unique. */
export interface Customer {
  id: string;
  businessId: string;
  name: string;
  phone: string;
  status: string;
  notes: string;
  /**
   * Always the sum of the customer's ledger. Negative only after a refund of
   * points already spent (Migration20261201120000); every other debit is a
   * conditional update.
   */
  totalPoints: number;
  /** Points ever earned minus points refunded (bigint: read as a string). */
  lifetimePoints: string;
  createdAt: Date;
  updatedAt: Date;
  lastVisitAt: Date | null;
}

export const CustomerSchema = new EntitySchema<Customer>({
  name: "Customer",
  tableName: "customer",
  uniques: [{ name: "customer_business_phone_unique", properties: ["businessId", "phone"] }],
  // No index may cover totalPoints, lastVisitAt or updatedAt: a check-in
  // must stay a HOT update (migration Migration20261125202000).
  indexes: [
    // With the id, the order of the list by createdAt and the export's
    // keyset pages (created_at, id) are one index range, even when an import
    // created thousands of customers in one transaction (one created_at).
    { name: "customer_business_created_idx", properties: ["businessId", "createdAt", "id"] },
  ],
  properties: {
    id: { type: "string", primary: true, length: 32 },
    businessId: { type: "string", length: 32 },
    name: { type: "string", length: 200, default: "" },
    phone: { type: "string", length: 20 },
    status: { type: "string", length: 10, default: "ACTIVE" },
    notes: { type: "text", default: "" },
    totalPoints: { type: "integer", default: 0 },
    // No index may cover it either: it changes with every check-in.
    lifetimePoints: { type: "bigint", default: 0 },
    createdAt: { type: "Date", columnType: "timestamptz", defaultRaw: "now()" },
    updatedAt: { type: "Date", columnType: "timestamptz", defaultRaw: "now()" },
    lastVisitAt: { type: "Date", columnType: "timestamptz", nullable: true },
  },
});
