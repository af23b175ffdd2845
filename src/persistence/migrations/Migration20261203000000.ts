import { Migration } from "@mikro-orm/migrations";

/**
 * Point expiry (contract §10).
 *
 * - `program.points_expire_after_months` (0 = never, 1–60),
 *   `expiry_warning_days` (0–90, default 14) and `expiry_since`: when a
 *   policy was first set. A business whose `expiry_since` is null never had
 *   one: it writes no lot and its check-ins and redemptions run exactly the
 *   statements they ran before.
 * - `point_lot`: points earned while a policy was set, with what is left of
 *   them and the instant they stop counting (`expires_at`, the start of the
 *   day after their last valid day in the program's zone). Points earned
 *   under "never" have no lot: they are the balance minus the lots. A debt
 *   (negative balance) exists only when every lot is empty, and new points
 *   pay it before they make a lot. Lots are kept apart from the customer
 *   row, so a check-in of a business without a policy stays a HOT update.
 * - `point_lot_use`: which lots a redemption took, so a void gives the
 *   points back with their original expiry.
 * - `expiry_run`: what each business's run of a day did (counts, duration).
 * - Ledger type EXPIRY.
 */
export class Migration20261203000000 extends Migration {
  override async up(): Promise<void> {
    // The type check is validated over the whole ledger.
    this.addSql(`set local statement_timeout = 0;`);
    this.addSql(`alter table "program" add column "points_expire_after_months" int not null default 0,
      add column "expiry_warning_days" int not null default 14,
      add column "expiry_since" timestamptz null,
      add constraint "program_points_expire_after_months_check" check (points_expire_after_months between 0 and 60),
      add constraint "program_expiry_warning_days_check" check (expiry_warning_days between 0 and 90);`);

    this.addSql(`create table "point_lot" ("id" varchar(32) not null, "business_id" varchar(32) not null,
      "customer_id" varchar(32) not null, "ledger_entry_id" varchar(32) not null, "checkin_id" varchar(32) null,
      "points" int not null, "remaining" int not null, "expired_points" int not null default 0,
      "earned_at" timestamptz not null, "expires_at" timestamptz not null, "expired_at" timestamptz null,
      constraint "point_lot_pkey" primary key ("id"),
      constraint "point_lot_remaining_check" check (remaining >= 0 and points > 0));`);
    this.addSql(`alter table "point_lot" add constraint "point_lot_customer_fk" foreign key ("customer_id") references "customer" ("id") on delete cascade;`);
    // Spending and look-ups (a customer's live lots, soonest first) and the run (keyed by customer).
    this.addSql(`create index "point_lot_live_index" on "point_lot" ("business_id", "customer_id", "expires_at") where remaining > 0;`);
    this.addSql(`create index "point_lot_checkin_index" on "point_lot" ("business_id", "checkin_id") where checkin_id is not null;`);
    this.addSql(`create index "point_lot_customer_index" on "point_lot" ("customer_id");`);

    this.addSql(`create table "point_lot_use" ("redemption_id" varchar(32) not null, "lot_id" varchar(32) not null,
      "business_id" varchar(32) not null, "points" int not null,
      constraint "point_lot_use_pkey" primary key ("redemption_id", "lot_id"));`);
    this.addSql(`alter table "point_lot_use" add constraint "point_lot_use_lot_fk" foreign key ("lot_id") references "point_lot" ("id") on delete cascade;`);
    this.addSql(`create index "point_lot_use_lot_index" on "point_lot_use" ("lot_id");`);

    this.addSql(`create table "expiry_run" ("business_id" varchar(32) not null, "run_date" date not null,
      "started_at" timestamptz not null default now(), "finished_at" timestamptz null,
      "customers" int not null default 0, "points" bigint not null default 0, "runs" int not null default 0,
      constraint "expiry_run_pkey" primary key ("business_id", "run_date"));`);
    this.addSql(`alter table "expiry_run" add constraint "expiry_run_business_fk" foreign key ("business_id") references "business" ("id") on delete cascade;`);

    this.addSql(`alter table "ledger_entry" drop constraint if exists "ledger_entry_type_check";`);
    this.addSql(
      `alter table "ledger_entry" add constraint "ledger_entry_type_check" check (type in ('CHECKIN', 'REDEMPTION', 'ADJUSTMENT', 'INITIAL', 'IMPORT', 'REFUND', 'REDEMPTION_VOID', 'PROMOTION', 'EXPIRY'));`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`delete from "ledger_entry" where type = 'EXPIRY';`);
    this.addSql(`alter table "ledger_entry" drop constraint if exists "ledger_entry_type_check";`);
    this.addSql(
      `alter table "ledger_entry" add constraint "ledger_entry_type_check" check (type in ('CHECKIN', 'REDEMPTION', 'ADJUSTMENT', 'INITIAL', 'IMPORT', 'REFUND', 'REDEMPTION_VOID', 'PROMOTION'));`,
    );
    this.addSql(`drop table "expiry_run";`);
    this.addSql(`drop table "point_lot_use";`);
    this.addSql(`drop table "point_lot";`);
    this.addSql(`alter table "program" drop column "points_expire_after_months", drop column "expiry_warning_days", drop column "expiry_since";`);
  }
}
