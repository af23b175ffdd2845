import { EntitySchema } from "@mikro-orm/core";

/** A business (a café, a salon): the tenant that owns every other row. */
export interface Business {
  id: string;
  name: string;
  createdAt: Date;
}

export const BusinessSchema = new EntitySchema<Business>({
  name: "Business",
  tableName: "business",
  properties: {
    id: { type: "string", primary: true, length: 32 },
    name: { type: "string", length: 200 },
    createdAt: { type: "Date", columnType: "timestamptz", defaultRaw: "now()" },
  },
});
