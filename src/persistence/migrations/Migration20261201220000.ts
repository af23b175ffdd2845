import { Migration } from "@mikro-orm/migrations";

/**
 * Stores can be renamed and deleted; one with history is archived
 * (`archived_at`), not removed, so old ledger rows keep its name. Names are
 * unique per business, ignoring case, among stores in use: existing
 * duplicates get " (2)", " (3)"… first, oldest keeping its name. The
 * program gains its ISO 4217 `currency`, EUR for every existing business.
 */
export class Migration20261201220000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "store" add column "archived_at" timestamptz null;`);
    this.addSql(
      `update "store" s set "name" = left(s."name", 190) || ' (' || d.n || ')'
       from (select "id", row_number() over (partition by "business_id", lower("name") order by "created_at", "id") as n from "store") d
       where d."id" = s."id" and d.n > 1;`,
    );
    this.addSql(`create unique index "store_business_name_unique" on "store" ("business_id", lower("name")) where "archived_at" is null;`);
    this.addSql(`alter table "program" add column "currency" varchar(3) not null default 'EUR';`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "program" drop column "currency";`);
    this.addSql(`drop index if exists "store_business_name_unique";`);
    this.addSql(`delete from "store" where "archived_at" is not null and not exists (select 1 from "ledger_entry" l where l."store_id" = "store"."id");`);
    this.addSql(`alter table "store" drop column "archived_at";`);
  }
}
