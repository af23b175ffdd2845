import { Migration } from "@mikro-orm/migrations";

/**
 * The transaction lifecycle (contract §8): order references, refunds, voided
 * redemptions, lifetime points.
 *
 * - A balance may go negative, through a refund of points already spent:
 *   the `total_points >= 0` check goes. Every other debit stays a
 *   conditional update (redeem: `total_points >= points`; an owner's
 *   deduction: `total_points + delta >= 0`), so only a refund overdraws.
 * - `customer.lifetime_points` (bigint: one customer's lifetime can pass
 *   2^31) is written in the same UPDATE as `total_points` and is covered by
 *   no index, so a check-in stays a HOT update (Migration20261125202000);
 *   it is back-filled from the ledger.
 * - The ledger stays append-only. New columns: `checkin_id` (on REFUND rows:
 *   the CHECKIN row refunded; a check-in's id is its CHECKIN row's id),
 *   `order_ref`, and what a refund is prorated by: `amount_cents` (SPEND) or
 *   `units` (UNIT) on the CHECKIN row, the part refunded on a REFUND row.
 *   Their indexes are partial, so a check-in without an orderRef writes no
 *   extra index entry.
 * - `order_ref_claim`: an orderRef is unique per business while its check-in
 *   is not fully refunded. The claim is inserted in the check-in's own
 *   statement (only when an orderRef is given), its primary key turns a
 *   concurrent duplicate into a unique violation, and the refund that
 *   completes the check-in deletes it. It goes with its check-in (cascade).
 * - `redemption.voided_at`: a void is a conditional update of it (once), and
 *   the points come back as a REDEMPTION_VOID ledger row.
 */
export class Migration20261201120000 extends Migration {
  override async up(): Promise<void> {
    // The back-fill reads the whole ledger: on a million rows it can outlast
    // the connection's 15 s statement timeout (seen on a loaded 2-core
    // machine), which would stop the start-up. For this migration's
    // transaction only.
    this.addSql(`set local statement_timeout = 0;`);
    this.addSql(`alter table "customer" drop constraint if exists "customer_total_points_non_negative";`);
    this.addSql(`alter table "customer" add column "lifetime_points" bigint not null default 0;`);
    this.addSql(
      `update "customer" c set "lifetime_points" = s.earned
       from (select business_id, customer_id, sum(delta) as earned from "ledger_entry"
             where delta > 0 and type in ('CHECKIN', 'ADJUSTMENT', 'INITIAL') group by business_id, customer_id) s
       where c.business_id = s.business_id and c.id = s.customer_id;`,
    );

    this.addSql(`alter table "ledger_entry" alter column "type" type varchar(20);`);
    this.addSql(`alter table "ledger_entry" drop constraint if exists "ledger_entry_type_check";`);
    this.addSql(
      `alter table "ledger_entry" add constraint "ledger_entry_type_check" check (type in ('CHECKIN', 'REDEMPTION', 'ADJUSTMENT', 'INITIAL', 'REFUND', 'REDEMPTION_VOID'));`,
    );
    this.addSql(
      `alter table "ledger_entry" add column "checkin_id" varchar(32) null, add column "order_ref" varchar(100) null, add column "amount_cents" int null, add column "units" int null;`,
    );
    this.addSql(`create index "ledger_checkin_idx" on "ledger_entry" ("business_id", "checkin_id") where "checkin_id" is not null;`);
    this.addSql(
      `create index "ledger_checkin_order_ref_idx" on "ledger_entry" ("business_id", "order_ref", "created_at") where "order_ref" is not null and "type" = 'CHECKIN';`,
    );

    this.addSql(`alter table "redemption" add column "order_ref" varchar(100) null, add column "voided_at" timestamptz null;`);
    this.addSql(`create index "redemption_order_ref_idx" on "redemption" ("business_id", "order_ref", "created_at") where "order_ref" is not null;`);

    this.addSql(
      `create table "order_ref_claim" ("business_id" varchar(32) not null, "order_ref" varchar(100) not null, "checkin_id" varchar(32) not null, "created_at" timestamptz not null default now(), constraint "order_ref_claim_pkey" primary key ("business_id", "order_ref"));`,
    );
    this.addSql(`create index "order_ref_claim_checkin_idx" on "order_ref_claim" ("checkin_id");`);
    this.addSql(
      `alter table "order_ref_claim" add constraint "order_ref_claim_checkin_fk" foreign key ("checkin_id") references "ledger_entry" ("id") on delete cascade;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "order_ref_claim";`);
    this.addSql(`drop index if exists "redemption_order_ref_idx";`);
    this.addSql(`alter table "redemption" drop column "order_ref", drop column "voided_at";`);
    this.addSql(`drop index if exists "ledger_checkin_order_ref_idx";`);
    this.addSql(`drop index if exists "ledger_checkin_idx";`);
    this.addSql(`alter table "ledger_entry" drop column "checkin_id", drop column "order_ref", drop column "amount_cents", drop column "units";`);
    this.addSql(`delete from "ledger_entry" where type in ('REFUND', 'REDEMPTION_VOID');`);
    this.addSql(`alter table "ledger_entry" drop constraint if exists "ledger_entry_type_check";`);
    this.addSql(`alter table "ledger_entry" add constraint "ledger_entry_type_check" check (type in ('CHECKIN', 'REDEMPTION', 'ADJUSTMENT', 'INITIAL'));`);
    this.addSql(`alter table "customer" drop column "lifetime_points";`);
    // Balances that went negative keep the check from validating old rows.
    this.addSql(`alter table "customer" add constraint "customer_total_points_non_negative" check (total_points >= 0) not valid;`);
  }
}
