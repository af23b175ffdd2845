import { Migration } from "@mikro-orm/migrations";

/**
 * Every ledger type of version 2 in one check: the lifecycle's REFUND and
 * REDEMPTION_VOID (Migration20261201120000) and the CSV import's IMPORT
 * (Migration20261201210000) were added on separate branches, each
 * rewriting the check with its own list; this one states the union,
 * whatever order those two ran in.
 */
export class Migration20261202100000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "ledger_entry" drop constraint if exists "ledger_entry_type_check";`);
    this.addSql(
      `alter table "ledger_entry" add constraint "ledger_entry_type_check" check (type in ('CHECKIN', 'REDEMPTION', 'ADJUSTMENT', 'INITIAL', 'IMPORT', 'REFUND', 'REDEMPTION_VOID'));`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "ledger_entry" drop constraint if exists "ledger_entry_type_check";`);
    this.addSql(
      `alter table "ledger_entry" add constraint "ledger_entry_type_check" check (type in ('CHECKIN', 'REDEMPTION', 'ADJUSTMENT', 'INITIAL', 'IMPORT'));`,
    );
  }
}
