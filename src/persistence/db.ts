import type { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";

/**
 * SQL access. Inside a transaction (`tx`, or the idempotency interceptor's)
 * statements run on MikroORM's transactional connection, which it keeps in
 * AsyncLocalStorage, and a nested `tx` becomes a savepoint. Outside one, they
 * run on a plain `pg` pool: the POS hot path is single statements, and knex's
 * and MikroORM's per-statement cost was a sixth of a check-in's CPU (see
 * bench/README.md). Placeholders are `?` in both cases.
 */
export interface Db {
  readonly orm: MikroORM;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  tx<T>(fn: () => Promise<T>): Promise<T>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

const converted = new Map<string, string>();

/** `?` placeholders (knex style) to `$1…` (pg); memoised per statement text. */
function toPgPlaceholders(sql: string): string {
  let out = converted.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    if (converted.size < 1_000) converted.set(sql, out);
  }
  return out;
}

export function createDb(orm: MikroORM, opts: { poolMax?: number } = {}): Db {
  const pool = new pg.Pool({
    connectionString: orm.config.get("clientUrl"),
    max: opts.poolMax ?? 16,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 3_000,
    statement_timeout: 15_000,
  });
  // A connection killed while idle (restart, pg_terminate_backend) is
  // reported here; the pool drops it and opens a new one when needed.
  pool.on("error", () => undefined);

  return {
    orm,
    async query<T>(sql: string, params: unknown[] = []) {
      const em = orm.em.getContext(false);
      if (em.isInTransaction()) return (await em.execute(sql, params as never[], "all")) as T[];
      return (await pool.query(toPgPlaceholders(sql), params)).rows as T[];
    },
    async tx<T>(fn: () => Promise<T>) {
      return orm.em.getContext(false).transactional(() => fn());
    },
    async ping() {
      try {
        await pool.query("select 1");
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await pool.end();
    },
  };
}
