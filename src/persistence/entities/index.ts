import { ApiKeySchema } from "./api-key.js";
import { AuditEventSchema } from "./audit-event.js";
import { BusinessSchema } from "./business.js";
import { CustomerSchema } from "./customer.js";
import { CustomerImportSchema } from "./customer-import.js";
import { IdempotencyRecordSchema } from "./idempotency-record.js";
import { LedgerEntrySchema } from "./ledger-entry.js";
import { OrderRefClaimSchema } from "./order-ref-claim.js";
import { OwnerSchema } from "./owner.js";
import { ProgramSchema } from "./program.js";
import { RedemptionSchema } from "./redemption.js";
import { StoreSchema } from "./store.js";

/** Every entity of the model, for the ORM configuration. */
export const allEntities = [
  BusinessSchema,
  OwnerSchema,
  StoreSchema,
  ProgramSchema,
  ApiKeySchema,
  CustomerSchema,
  LedgerEntrySchema,
  RedemptionSchema,
  AuditEventSchema,
  IdempotencyRecordSchema,
  CustomerImportSchema,
  OrderRefClaimSchema,
];
