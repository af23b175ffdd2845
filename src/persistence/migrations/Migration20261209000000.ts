import { Migration } from "@mikro-orm/migrations";

/**
 * `point_lot.warned_at`: when the expiry run wrote the lot's
 * `points.expiring_soon` event (contract §11), set in that event's
 * transaction, so a lot is warned once whatever the runs do. Null: not
 * warned yet. A nullable column without a default: no rewrite of the
 * table. The run's warning scan reads the live lots not warned yet by the
 * partial index (it shrinks as lots are warned or spent).
 */
export class Migration20261209000000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "point_lot" add column "warned_at" timestamptz null;`);
    this.addSql(`create index "point_lot_unwarned_index" on "point_lot" ("business_id", "customer_id", "expires_at") where remaining > 0 and warned_at is null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "point_lot_unwarned_index";`);
    this.addSql(`alter table "point_lot" drop column "warned_at";`);
  }
}
