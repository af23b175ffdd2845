import { Migration } from "@mikro-orm/migrations";

/**
 * CSV imports (contract §12): the `IMPORT` ledger type, the table of
 * imports carried out, whose (business, content hash) makes a second upload
 * of the same bytes change nothing, and the customers' created-at index
 * with the id: an import creates thousands of customers with one
 * created_at, and the export reads them in keyset pages of (created_at, id).
 */
export class Migration20261201210000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "ledger_entry" drop constraint if exists "ledger_entry_type_check";`);
    this.addSql(
      `alter table "ledger_entry" add constraint "ledger_entry_type_check" check (type in ('CHECKIN', 'REDEMPTION', 'ADJUSTMENT', 'INITIAL', 'IMPORT'));`,
    );
    this.addSql(
      `create table "customer_import" ("id" varchar(32) not null, "business_id" varchar(32) not null, "content_hash" varchar(64) not null, "owner_id" varchar(32) not null, "rows" int not null, "created" int not null, "updated" int not null, "result" jsonb not null, "created_at" timestamptz not null default now(), constraint "customer_import_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "customer_import" add constraint "customer_import_business_hash_unique" unique ("business_id", "content_hash");`);
    this.addSql(
      `alter table "customer_import" add constraint "customer_import_business_fk" foreign key ("business_id") references "business" ("id") on delete cascade;`,
    );
    this.addSql(`drop index if exists "customer_business_created_idx";`);
    this.addSql(`create index "customer_business_created_idx" on "customer" ("business_id", "created_at", "id");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index if exists "customer_business_created_idx";`);
    this.addSql(`create index "customer_business_created_idx" on "customer" ("business_id", "created_at");`);
    this.addSql(`drop table if exists "customer_import";`);
    this.addSql(`alter table "ledger_entry" drop constraint if exists "ledger_entry_type_check";`);
    this.addSql(
      `alter table "ledger_entry" add constraint "ledger_entry_type_check" check (type in ('CHECKIN', 'REDEMPTION', 'ADJUSTMENT', 'INITIAL'));`,
    );
  }
}
