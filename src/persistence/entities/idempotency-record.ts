import { EntitySchema } from "@mikro-orm/core";

/**
 * A claimed Idempotency-Key: written in the same transaction as the change it
 * guards, with the response to replay (contract §5).
 */
export interface IdempotencyRecord {
  businessId: string;
  key: string;
  requestHash: string;
  /** "ok" with a response, or a Connect error code with a message. */
  outcome: string;
  response: Buffer | null;
  errorMessage: string | null;
  createdAt: Date;
  expiresAt: Date;
}

export const IdempotencyRecordSchema = new EntitySchema<IdempotencyRecord>({
  name: "IdempotencyRecord",
  tableName: "idempotency_record",
  indexes: [{ name: "idempotency_expires_idx", properties: ["expiresAt"] }],
  properties: {
    businessId: { type: "string", primary: true, length: 32 },
    key: { type: "string", primary: true, length: 255 },
    requestHash: { type: "string", length: 64 },
    outcome: { type: "string", length: 24 },
    response: { type: "blob", columnType: "bytea", nullable: true },
    errorMessage: { type: "text", nullable: true },
    createdAt: { type: "Date", columnType: "timestamptz", defaultRaw: "now()" },
    expiresAt: { type: "Date", columnType: "timestamptz" },
  },
});
