import { Migration } from "@mikro-orm/migrations";

/**
 * Tokens that can end (issue 11, item 6): each owner's token generation.
 * Every owner JWT carries the generation it was issued under (claim `gen`);
 * a log-out or password change adds one, and tokens of an older generation
 * are refused (owner-token-cache.ts). Existing owners and the tokens they
 * hold start at 0.
 */
export class Migration20261202090000 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "owner" add column "token_generation" int not null default 0;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "owner" drop column "token_generation";`);
  }
}
