import { EntitySchema } from "@mikro-orm/core";

/**
 * A CSV import that was carried out (POST /v1/owner/customers/import). Its
 * content hash makes the import idempotent: the same bytes again change
 * nothing and answer `result`, the first run's response, again.
 */
export interface CustomerImport {
  id: string;
  businessId: string;
  /** SHA-256 of the file's bytes, hex. */
  contentHash: string;
  ownerId: string;
  rows: number;
  created: number;
  updated: number;
  /** The JSON response of the run. */
  result: Record<string, unknown>;
  createdAt: Date;
}

export const CustomerImportSchema = new EntitySchema<CustomerImport>({
  name: "CustomerImport",
  tableName: "customer_import",
  uniques: [{ name: "customer_import_business_hash_unique", properties: ["businessId", "contentHash"] }],
  properties: {
    id: { type: "string", primary: true, length: 32 },
    businessId: { type: "string", length: 32 },
    contentHash: { type: "string", length: 64 },
    ownerId: { type: "string", length: 32 },
    rows: { type: "integer" },
    created: { type: "integer" },
    updated: { type: "integer" },
    result: { type: "json", columnType: "jsonb" },
    createdAt: { type: "Date", columnType: "timestamptz", defaultRaw: "now()" },
  },
});
