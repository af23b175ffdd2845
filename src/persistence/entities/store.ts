import { EntitySchema } from "@mikro-orm/core";

/** A shop or till location of a business. */
export interface Store {
  id: string;
  businessId: string;
  name: string;
  createdAt: Date;
  /** Set when the store was deleted while it had history. */
  archivedAt: Date | null;
}

export const StoreSchema = new EntitySchema<Store>({
  name: "Store",
  tableName: "store",
  indexes: [{ properties: ["businessId", "createdAt"] }],
  properties: {
    id: { type: "string", primary: true, length: 32 },
    businessId: { type: "string", length: 32 },
    name: { type: "string", length: 200 },
    createdAt: { type: "Date", columnType: "timestamptz", defaultRaw: "now()" },
    archivedAt: { type: "Date", columnType: "timestamptz", nullable: true },
  },
});
