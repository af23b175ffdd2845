import { EntitySchema } from "@mikro-orm/core";

/** A person who manages a business in the admin portal. */
export interface Owner {
  id: string;
  businessId: string;
  /** Lower-cased; unique across Loyalty+. */
  email: string;
  /** argon2id PHC string; never leaves the persistence layer. */
  passwordHash: string;
  /** Moved on by each log-out and password change; tokens of an older generation are refused. */
  tokenGeneration: number;
  createdAt: Date;
}

export const OwnerSchema = new EntitySchema<Owner>({
  name: "Owner",
  tableName: "owner",
  properties: {
    id: { type: "string", primary: true, length: 32 },
    businessId: { type: "string", length: 32, index: true },
    email: { type: "string", length: 320, unique: true },
    passwordHash: { type: "string", length: 255 },
    tokenGeneration: { type: "integer", default: 0 },
    createdAt: { type: "Date", columnType: "timestamptz", defaultRaw: "now()" },
  },
});
