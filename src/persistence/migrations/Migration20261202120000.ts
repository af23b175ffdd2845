import { Migration } from "@mikro-orm/migrations";
import { defaultTimezone } from "../../domain/locale.js";

/**
 * The rewards catalogue and promotions (contract §9).
 *
 * - `reward`: each business's rewards. Every existing business gets its
 *   single reward as the default reward (`is_default`), with the program's
 *   `reward_threshold` and `reward_title` as its cost and title (the program
 *   keeps both columns: every existing answer reads them) and a
 *   deterministic id, so the migration needs no id generator.
 * - `redemption` gains `reward_id` (null on old rows = the default reward:
 *   no back-fill of a large table) and `quantity`.
 * - `reward_customer_count`: units of a limited reward each customer holds
 *   (a conditional upsert keeps the limit under any concurrency).
 * - `promotion` and `promotion_use` (uses per customer and period, the
 *   same way); `ledger_entry.promotion_id`; ledger type PROMOTION.
 * - `program.timezone` (IANA), from each business's country.
 */
export class Migration20261202120000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "reward" ("id" varchar(32) not null, "business_id" varchar(32) not null, "title" varchar(100) not null,
      "cost" int not null, "active" boolean not null default true, "stock" int null, "per_customer_limit" int null,
      "is_default" boolean not null default false, "created_at" timestamptz not null default now(),
      constraint "reward_pkey" primary key ("id"),
      constraint "reward_cost_check" check (cost between 1 and 10000000),
      constraint "reward_stock_check" check (stock is null or stock >= 0));`);
    this.addSql(`create index "reward_business_id_index" on "reward" ("business_id");`);
    this.addSql(`create unique index "reward_default_unique" on "reward" ("business_id") where is_default;`);
    this.addSql(`insert into "reward" ("id", "business_id", "title", "cost", "is_default")
      select 'rw' || substr(md5("business_id"), 1, 24), "business_id", "reward_title", least("reward_threshold", 10000000), true from "program";`);

    this.addSql(`alter table "redemption" add column "reward_id" varchar(32) null, add column "quantity" int not null default 1;`);
    this.addSql(`create index "redemption_reward_index" on "redemption" ("business_id", "reward_id") where voided_at is null;`);
    this.addSql(`create table "reward_customer_count" ("business_id" varchar(32) not null, "reward_id" varchar(32) not null,
      "customer_id" varchar(32) not null, "units" int not null,
      constraint "reward_customer_count_pkey" primary key ("business_id", "reward_id", "customer_id"));`);

    this.addSql(`create table "promotion" ("id" varchar(32) not null, "business_id" varchar(32) not null, "name" varchar(100) not null,
      "kind" varchar(10) not null, "multiplier_hundredths" int null, "bonus_points" int null,
      "starts_at" timestamptz not null, "ends_at" timestamptz null, "weekdays" smallint[] not null default '{}',
      "start_minute" int null, "end_minute" int null, "min_amount_cents" int null, "store_ids" text[] not null default '{}',
      "max_uses_per_customer" int null, "per" varchar(10) not null default 'ALL_TIME', "active" boolean not null default true,
      "created_at" timestamptz not null default clock_timestamp(),
      constraint "promotion_pkey" primary key ("id"),
      constraint "promotion_kind_check" check (kind in ('MULTIPLIER', 'BONUS')),
      constraint "promotion_per_check" check (per in ('DAY', 'ALL_TIME')));`);
    this.addSql(`create index "promotion_business_id_index" on "promotion" ("business_id", "created_at");`);
    this.addSql(`create table "promotion_use" ("business_id" varchar(32) not null, "promotion_id" varchar(32) not null,
      "customer_id" varchar(32) not null, "period" varchar(10) not null, "uses" int not null,
      constraint "promotion_use_pkey" primary key ("business_id", "promotion_id", "customer_id", "period"));`);

    this.addSql(`alter table "ledger_entry" add column "promotion_id" varchar(32) null;`);
    this.addSql(`alter table "ledger_entry" drop constraint if exists "ledger_entry_type_check";`);
    this.addSql(
      `alter table "ledger_entry" add constraint "ledger_entry_type_check" check (type in ('CHECKIN', 'REDEMPTION', 'ADJUSTMENT', 'INITIAL', 'IMPORT', 'REFUND', 'REDEMPTION_VOID', 'PROMOTION'));`,
    );

    this.addSql(`alter table "program" add column "timezone" varchar(64) not null default 'Europe/Dublin';`);
    const rows = (await this.execute(`select distinct default_country as c from program`)) as { c: string }[];
    for (const { c } of rows) {
      const tz = defaultTimezone(c);
      if (tz !== "Europe/Dublin") {
        this.addSql(`update "program" set "timezone" = '${tz.replace(/'/g, "")}' where default_country = '${c.replace(/[^A-Z]/g, "")}';`);
      }
    }
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "program" drop column "timezone";`);
    this.addSql(`delete from "ledger_entry" where type = 'PROMOTION';`);
    this.addSql(`alter table "ledger_entry" drop constraint if exists "ledger_entry_type_check";`);
    this.addSql(
      `alter table "ledger_entry" add constraint "ledger_entry_type_check" check (type in ('CHECKIN', 'REDEMPTION', 'ADJUSTMENT', 'INITIAL', 'IMPORT', 'REFUND', 'REDEMPTION_VOID'));`,
    );
    this.addSql(`alter table "ledger_entry" drop column "promotion_id";`);
    this.addSql(`drop table "promotion_use";`);
    this.addSql(`drop table "promotion";`);
    this.addSql(`drop table "reward_customer_count";`);
    this.addSql(`alter table "redemption" drop column "reward_id", drop column "quantity";`);
    this.addSql(`drop table "reward";`);
  }
}
