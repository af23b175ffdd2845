import { EntitySchema } from "@mikro-orm/core";

/** A POS API key. Only the SHA-256 of the secret is stored. */
export interface ApiKey {
  id: string;
  businessId: string;
  name: string;
  prefix: string;
  keyHash: string;
  storeId: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export const ApiKeySchema = new EntitySchema<ApiKey>({
  name: "ApiKey",
  tableName: "api_key",
  indexes: [{ properties: ["businessId", "createdAt"] }],
  properties: {
    id: { type: "string", primary: true, length: 32 },
    businessId: { type: "string", length: 32 },
    name: { type: "string", length: 100 },
    prefix: { type: "string", length: 16 },
    keyHash: { type: "string", length: 64, unique: true },
    storeId: { type: "string", length: 32, nullable: true },
    createdAt: { type: "Date", columnType: "timestamptz", defaultRaw: "now()" },
    lastUsedAt: { type: "Date", columnType: "timestamptz", nullable: true },
    revokedAt: { type: "Date", columnType: "timestamptz", nullable: true },
  },
});
