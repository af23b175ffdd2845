import { Migration } from "@mikro-orm/migrations";

/**
 * "Most recent visit first, never-visited last" (`last_visit_at desc nulls
 * last`) cannot run backwards over the default (asc nulls last) index; this
 * one serves it, so both sort orders of lastVisitAt read an index.
 */
export class Migration20261125174500 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create index "customer_business_visit_desc_idx" on "customer" ("business_id", "last_visit_at" desc nulls last);`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "customer_business_visit_desc_idx";`);
  }
}
