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

interface Statement {
  text: string;
  /** Set for the first 1,000 distinct statements: prepared once per connection. */
  name?: string;
}

const statements = new Map<string, Statement>();

/**
 * `?` placeholders (knex style) to `$1…` (pg), memoised per statement text,
 * with a name: pg then prepares each statement once per connection and
 * PostgreSQL skips parsing and planning it on every call (a fifth of a
 * check-in's server time in PostgreSQL). The application's statements are a
 * small fixed set; past 1,000 distinct texts they run unnamed.
 */
function statement(sql: string): Statement {
  let out = statements.get(sql);
  if (out === undefined) {
    let n = 0;
    const text = sql.replace(/\?/g, () => `$${++n}`);
    if (statements.size < 1_000) {
      out = { text, name: `lp${statements.size.toString(36)}` };
      statements.set(sql, out);
    } else {
      out = { text };
    }
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
      const { text, name } = statement(sql);
      return (await pool.query({ text, name, values: params })).rows as T[];
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
