import { EntitySchema } from "@mikro-orm/core";

/** The loyalty program of a business (one per business). */
export interface Program {
  businessId: string;
  mode: string;
  /** SPEND rate in hundredths of a point per currency unit. */
  spendRateHundredths: number;
  pointsPerUnit: number;
  pointsPerVisit: number;
  rewardThreshold: number;
  rewardTitle: string;
  defaultCountry: string;
  /** ISO 4217 code, e.g. "EUR". */
  currency: string;
  /** IANA time zone (contract §9). */
  timezone: string;
  /** Points earned from now on expire after this many months (0 = never; contract §10). */
  pointsExpireAfterMonths: number;
  expiryWarningDays: number;
  /** When a policy was first set; null = never: no lots, nothing paid for expiry on the hot path. */
  expirySince: Date | null;
  updatedAt: Date;
}

export const ProgramSchema = new EntitySchema<Program>({
  name: "Program",
  tableName: "program",
  properties: {
    businessId: { type: "string", primary: true, length: 32 },
    mode: { type: "string", length: 10 },
    spendRateHundredths: { type: "integer" },
    pointsPerUnit: { type: "integer" },
    pointsPerVisit: { type: "integer" },
    rewardThreshold: { type: "integer" },
    rewardTitle: { type: "string", length: 100 },
    defaultCountry: { type: "string", length: 2 },
    currency: { type: "string", length: 3, default: "EUR" },
    timezone: { type: "string", length: 64, default: "Europe/Dublin" },
    pointsExpireAfterMonths: { type: "integer", default: 0 },
    expiryWarningDays: { type: "integer", default: 14 },
    expirySince: { type: "Date", columnType: "timestamptz", nullable: true },
    updatedAt: { type: "Date", columnType: "timestamptz", defaultRaw: "now()" },
  },
});
