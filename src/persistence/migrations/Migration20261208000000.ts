import { Migration } from "@mikro-orm/migrations";

/**
 * `ledger_entry.promotion_period`: on the PROMOTION row of a promotion with
 * a per-customer limit, the period its use was counted in
 * (`promotion_use.period`: the local date for a per-DAY limit, "ALL"
 * otherwise), so a full refund of the check-in gives that use back to the
 * very counter it took it from, whatever the time and the program's zone
 * are when the refund comes. Null on rows that counted no use. A nullable
 * column without a default: no rewrite of the ledger. (Promotions are not
 * released yet, so no older row counted a use without recording it.)
 */
export class Migration20261208000000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "ledger_entry" add column "promotion_period" varchar(10) null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "ledger_entry" drop column "promotion_period";`);
  }
}
