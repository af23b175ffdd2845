import type { MikroORM } from "@mikro-orm/postgresql";

/**
 * SQL access through MikroORM's connection. `query` runs inside the ambient
 * transaction when there is one (MikroORM keeps it in AsyncLocalStorage), so
 * a repository call made inside `tx` — or inside the idempotency
 * interceptor's transaction — joins it; a nested `tx` becomes a savepoint.
 * Placeholders are `?` (knex style).
 */
export interface Db {
  readonly orm: MikroORM;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  tx<T>(fn: () => Promise<T>): Promise<T>;
  ping(): Promise<boolean>;
}

export function createDb(orm: MikroORM): Db {
  return {
    orm,
    async query<T>(sql: string, params: unknown[] = []) {
      return (await orm.em.getContext(false).execute(sql, params as never[], "all")) as T[];
    },
    async tx<T>(fn: () => Promise<T>) {
      return orm.em.getContext(false).transactional(() => fn());
    },
    async ping() {
      try {
        await orm.em.getContext(false).execute("select 1");
        return true;
      } catch {
        return false;
      }
    },
  };
}
