import { Migration } from "@mikro-orm/migrations";

/**
 * Check-ins become heap-only (HOT) updates. A check-in changes a customer's
 * `total_points`, `last_visit_at` and `updated_at`; while any index covers
 * one of those columns, PostgreSQL writes a new entry into *every* index of
 * `customer` on each check-in — nine of them, two of them trigram GIN
 * indexes. Without the two sort indexes on points and last visit, and with
 * room left on each page (fillfactor 85), the update stays on its page and
 * touches no index: measured with pgbench on the check-in transaction,
 * about +40 % transactions per second on this machine (bench/README.md).
 *
 * The price: the owner's list sorted by totalPoints or lastVisitAt is a
 * top-N sort over the business's customers (about 0.1 s at 100,000) instead
 * of an index read, and its result is cached (business-read-cache.ts). The
 * till is the hot path; that sort is an occasional portal click.
 */
export class Migration20261125202000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`drop index if exists "customer_business_points_idx";`);
    this.addSql(`drop index if exists "customer_business_visit_idx";`);
    this.addSql(`drop index if exists "customer_business_visit_desc_idx";`);
    this.addSql(`alter table "customer" set (fillfactor = 85);`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "customer" reset (fillfactor);`);
    this.addSql(`create index "customer_business_points_idx" on "customer" ("business_id", "total_points");`);
    this.addSql(`create index "customer_business_visit_idx" on "customer" ("business_id", "last_visit_at");`);
    this.addSql(`create index "customer_business_visit_desc_idx" on "customer" ("business_id", "last_visit_at" desc nulls last);`);
  }
}
