import { Migration } from "@mikro-orm/migrations";

/**
 * Events and webhooks (contract §11). `event` is written in the transaction
 * of every change (created_at by clock_timestamp(), so the events of one
 * change list in the order it wrote them)
 * and kept 30 days (purged by a job; BRIN on created_at so
 * the purge finds old rows without a btree to maintain on every insert).
 * Endpoints keep their signing secrets encrypted (AES-256-GCM, see
 * infrastructure/webhook-secrets.ts); a delivery is one event for one
 * endpoint, its attempts are kept with the first 1 KiB of each answer.
 */
export class Migration20261204000000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "event" (
      "id" varchar(40) not null primary key,
      "business_id" varchar(32) not null,
      "type" varchar(40) not null,
      "customer_id" varchar(32) null,
      "created_at" timestamptz not null default clock_timestamp(),
      "data" jsonb not null,
      "request" jsonb not null default '{}'
    );`);
    this.addSql(`create index "event_business_created_idx" on "event" ("business_id", "created_at" desc, "id" desc);`);
    this.addSql(
      `create index "event_business_customer_idx" on "event" ("business_id", "customer_id", "created_at" desc, "id" desc) where "customer_id" is not null;`,
    );
    this.addSql(`create index "event_created_brin" on "event" using brin ("created_at");`);

    this.addSql(`create table "webhook_endpoint" (
      "id" varchar(32) not null primary key,
      "business_id" varchar(32) not null references "business" ("id") on delete cascade,
      "url" varchar(2000) not null,
      "description" varchar(500) not null default '',
      "event_types" text[] not null,
      "secret" text not null,
      "previous_secret" text null,
      "previous_secret_expires_at" timestamptz null,
      "enabled" boolean not null default true,
      "disabled_reason" varchar(20) not null default '',
      "failing_since" timestamptz null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now()
    );`);
    this.addSql(`create index "webhook_endpoint_business_idx" on "webhook_endpoint" ("business_id", "created_at", "id");`);

    this.addSql(`create table "webhook_delivery" (
      "id" varchar(40) not null primary key,
      "business_id" varchar(32) not null,
      "endpoint_id" varchar(32) not null references "webhook_endpoint" ("id") on delete cascade,
      "event_id" varchar(40) not null references "event" ("id") on delete cascade,
      "status" varchar(10) not null default 'PENDING' check ("status" in ('PENDING', 'SUCCEEDED', 'FAILED')),
      "attempt_count" int not null default 0,
      "next_attempt_at" timestamptz null default now(),
      "lease_until" timestamptz null,
      "created_at" timestamptz not null default now(),
      "completed_at" timestamptz null
    );`);
    this.addSql(`create index "webhook_delivery_endpoint_idx" on "webhook_delivery" ("endpoint_id", "created_at" desc, "id" desc);`);
    this.addSql(`create index "webhook_delivery_event_idx" on "webhook_delivery" ("event_id");`);
    this.addSql(`create index "webhook_delivery_pending_idx" on "webhook_delivery" ("created_at") where "status" = 'PENDING';`);

    this.addSql(`create table "webhook_attempt" (
      "id" varchar(32) not null primary key,
      "delivery_id" varchar(40) not null references "webhook_delivery" ("id") on delete cascade,
      "business_id" varchar(32) not null,
      "attempted_at" timestamptz not null default now(),
      "status_code" int not null default 0,
      "latency_ms" int not null default 0,
      "response_body" text not null default '',
      "error" varchar(500) not null default '',
      "next_attempt_at" timestamptz null
    );`);
    this.addSql(`create index "webhook_attempt_delivery_idx" on "webhook_attempt" ("delivery_id", "attempted_at" desc);`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "webhook_attempt";`);
    this.addSql(`drop table if exists "webhook_delivery";`);
    this.addSql(`drop table if exists "webhook_endpoint";`);
    this.addSql(`drop table if exists "event";`);
  }
}
