import { EntitySchema } from "@mikro-orm/core";

/**
 * What an owner or key did, kept after the subject is deleted. It holds ids
 * and figures only, never personal data (no names, phones or notes).
 */
export interface AuditEvent {
  id: string;
  businessId: string;
  actorType: string;
  actorId: string;
  action: string;
  subjectId: string;
  data: Record<string, unknown>;
  createdAt: Date;
}

export const AuditEventSchema = new EntitySchema<AuditEvent>({
  name: "AuditEvent",
  tableName: "audit_event",
  indexes: [{ name: "audit_business_created_idx", properties: ["businessId", "createdAt"] }],
  properties: {
    id: { type: "string", primary: true, length: 32 },
    businessId: { type: "string", length: 32 },
    actorType: { type: "string", length: 10 },
    actorId: { type: "string", length: 32 },
    action: { type: "string", length: 40 },
    subjectId: { type: "string", length: 32 },
    data: { type: "json", columnType: "jsonb", default: "{}" },
    createdAt: { type: "Date", columnType: "timestamptz", defaultRaw: "now()" },
  },
});
