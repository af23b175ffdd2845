import { Migration } from "@mikro-orm/migrations";

/**
 * What the entity schemas cannot express: foreign keys with cascades,
 * value checks, and the trigram indexes that keep a customer search at
 * 100,000 customers from scanning every row.
 */
export class Migration20261125172700 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create extension if not exists pg_trgm;`);
    for (const table of ["owner", "store", "program", "api_key", "customer"]) {
      this.addSql(
        `alter table "${table}" add constraint "${table}_business_fk" foreign key ("business_id") references "business" ("id") on delete cascade;`,
      );
    }
    this.addSql(`alter table "ledger_entry" add constraint "ledger_entry_customer_fk" foreign key ("customer_id") references "customer" ("id") on delete cascade;`);
    this.addSql(`alter table "redemption" add constraint "redemption_customer_fk" foreign key ("customer_id") references "customer" ("id") on delete cascade;`);
    this.addSql(`alter table "customer" add constraint "customer_status_check" check (status in ('ACTIVE', 'BLOCKED'));`);
    this.addSql(`alter table "ledger_entry" add constraint "ledger_entry_type_check" check (type in ('CHECKIN', 'REDEMPTION', 'ADJUSTMENT', 'INITIAL'));`);
    this.addSql(`alter table "program" add constraint "program_mode_check" check (mode in ('SPEND', 'UNIT', 'VISIT'));`);
    this.addSql(`alter table "program" add constraint "program_threshold_check" check (reward_threshold > 0);`);
    this.addSql(`create index "customer_business_name_idx" on "customer" ("business_id", lower("name"));`);
    this.addSql(`create index "customer_name_trgm_idx" on "customer" using gin (lower("name") gin_trgm_ops);`);
    this.addSql(`create index "customer_phone_trgm_idx" on "customer" using gin ("phone" gin_trgm_ops);`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "customer_phone_trgm_idx";`);
    this.addSql(`drop index if exists "customer_name_trgm_idx";`);
    this.addSql(`drop index if exists "customer_business_name_idx";`);
  }
}
