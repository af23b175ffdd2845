import { AsyncLocalStorage } from "node:async_hooks";
import type { MikroORM } from "@mikro-orm/postgresql";
import pg from "pg";

/**
 * SQL access, straight on `pg`: knex's and MikroORM's per-statement cost
 * was a sixth of a check-in's CPU (see bench/README.md). Placeholders are `?`.
 * The connections are MikroORM's own pool (one pool per instance, sized in
 * orm.ts); rows are parsed by pg's default types (timestamps as `Date`),
 * not by the raw-string parsers MikroORM installs on that pool.
 *
 * A transaction (`tx`, or `connection` for the idempotency interceptor) is one
 * pooled connection, known to the statements run inside through an
 * AsyncLocalStorage; a nested `tx` is a savepoint. MikroORM keeps the schema
 * (entities, migrations) and reads entities; it opens no transaction at run
 * time (see account-repository.ts for why).
 */
export interface Db {
  readonly orm: MikroORM;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /**
   * A statement on a pooled connection of its own, never on the current
   * transaction's: it sees what other transactions committed even after a
   * statement of the current one failed (which leaves it unable to run more
   * until it rolls back). For reading the winner of a unique violation.
   */
  queryOutsideTransaction<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  tx<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * A statement already in pg's `$1` form (another library's SQL: pg-boss's
   * transactional send), on the current transaction's connection if any.
   */
  raw(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  /**
   * One pooled connection for `fn`, which opens and ends its transaction
   * itself (see Connection). If `fn` throws, whatever it left open is
   * rolled back before the connection goes back to the pool.
   */
  connection<T>(fn: (c: Connection) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` once the current transaction has ended (committed or rolled
   * back; before the call that opened it returns), or at once outside one.
   * For effects that must not run ahead of a commit: evicting a cache entry
   * early lets another request fill it again from the uncommitted past.
   * Errors of `fn` are its own to handle.
   */
  afterTransaction(fn: () => Promise<void>): Promise<void>;
  ping(): Promise<boolean>;
  /** Nothing to end: the pool is MikroORM's, ended by `orm.close()`. */
  close(): Promise<void>;
}

/** A connection of `Db.connection`. */
export interface Connection {
  /**
   * Several statements in one round trip (PostgreSQL's simple protocol: no
   * parameters, so values go in through `sqlLiteral`/`sqlBytes`). In READ
   * COMMITTED each statement still takes its own snapshot. Returns each
   * statement's rows.
   */
  script(sql: string): Promise<Record<string, unknown>[][]>;
  /**
   * `statements` (if any) and COMMIT, in one round trip. Throws if
   * PostgreSQL rolled back instead (a statement of the transaction had
   * failed), so a lost change is never reported as done.
   */
  commit(statements?: string): Promise<void>;
  /** Runs `fn` with every `Db.query` and `Db.tx` of it on this connection. */
  within<T>(fn: () => Promise<T>): Promise<T>;
}

/** A quoted SQL string literal (for `Connection.script`). */
export const sqlLiteral = (value: string): string => pg.escapeLiteral(value);
/** A bytea SQL literal (for `Connection.script`). */
export const sqlBytes = (value: Uint8Array): string => `decode('${Buffer.from(value).toString("hex")}', 'hex')`;

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

/** The connection a `tx`/`connection` body runs on, and its savepoint depth. */
interface Bound {
  client: pg.PoolClient;
  savepoints: number;
  /** `afterTransaction` callbacks, run once the connection is released. */
  after: (() => Promise<void>)[];
}

/**
 * The open transaction of the current call, if any. On Node 24 an
 * AsyncLocalStorage costs nothing where it is not used: it is carried by
 * AsyncContextFrame, not by a hook on every promise of the process (Node 20
 * needed a scope counter that disabled the store whenever no transaction was
 * open), so the store simply stays on.
 */
const bound = new AsyncLocalStorage<Bound>();

/** pg's own parsers, per statement: the pool's are MikroORM's (timestamps as strings). */
const types = pg.types;

export function createDb(orm: MikroORM): Db {
  // MikroORM's pool (its connection is open once `MikroORM.init` resolved):
  // resolved once, then used directly. A connection killed while idle
  // (restart, pg_terminate_backend) is dropped by the pool, which MikroORM
  // listens to, and another is opened when needed.
  const ready = (orm.em.getConnection() as unknown as { getNativeClient(): Promise<pg.Pool> }).getNativeClient();
  let resolved: pg.Pool | undefined;
  void ready.then((p) => (resolved = p), () => undefined);
  const poolOf = async (): Promise<pg.Pool> => resolved ?? (await ready);

  async function connection<T>(fn: (c: Connection) => Promise<T>): Promise<T> {
    const client = await (await poolOf()).connect();
    // A checked-out client reports a lost backend as an 'error' event (the
    // pool listens only while it is idle); the query in flight fails with
    // it, and the client is dropped on release.
    let broken: Error | undefined;
    const lost = (err: Error) => (broken = err);
    client.on("error", lost);
    const b: Bound = { client, savepoints: 0, after: [] };
    const run = async (sql: string) => {
      const res = (await client.query({ text: sql, types })) as unknown as pg.QueryResult | pg.QueryResult[];
      return Array.isArray(res) ? res : [res];
    };
    const c: Connection = {
      script: async (sql) => (await run(sql)).map((r) => r.rows),
      async commit(statements) {
        const res = await run(statements ? `${statements};\ncommit` : "commit");
        if (res[res.length - 1]!.command !== "COMMIT") throw new Error("the transaction was rolled back, not committed");
      },
      within: (f) => bound.run(b, f),
    };
    try {
      return await fn(c);
    } catch (err) {
      // Outside a transaction this only warns; a failing ROLLBACK means the
      // connection itself is gone, and the pool must not hand it out again.
      if (broken === undefined) await client.query({ text: "rollback", types }).catch(lost);
      throw err;
    } finally {
      client.off("error", lost);
      client.release(broken);
      for (const after of b.after) await after().catch(() => undefined);
    }
  }

  async function savepoint<T>(b: Bound, fn: () => Promise<T>): Promise<T> {
    const name = `sp${++b.savepoints}`;
    await b.client.query(`savepoint ${name}`);
    try {
      const out = await fn();
      await b.client.query(`release savepoint ${name}`);
      return out;
    } catch (err) {
      await b.client.query(`rollback to savepoint ${name}; release savepoint ${name}`);
      throw err;
    }
  }

  return {
    orm,
    async query<T>(sql: string, params: unknown[] = []) {
      const { text, name } = statement(sql);
      const b = bound.getStore();
      if (b !== undefined) return (await b.client.query({ text, name, values: params, types })).rows as T[];
      return (await (resolved ?? (await ready)).query({ text, name, values: params, types })).rows as T[];
    },
    async queryOutsideTransaction<T>(sql: string, params: unknown[] = []) {
      const { text, name } = statement(sql);
      return (await (await poolOf()).query({ text, name, values: params, types })).rows as T[];
    },
    async raw(text: string, values: unknown[] = []) {
      const b = bound.getStore();
      const res = b !== undefined ? await b.client.query(text, values) : await (await poolOf()).query(text, values);
      return { rows: res.rows as Record<string, unknown>[] };
    },
    async tx<T>(fn: () => Promise<T>) {
      const b = bound.getStore();
      if (b !== undefined) return savepoint(b, fn);
      return connection(async (c) => {
        await c.script("begin");
        const out = await c.within(fn);
        await c.commit();
        return out;
      });
    },
    connection,
    async afterTransaction(fn) {
      const b = bound.getStore();
      if (b === undefined) return fn();
      b.after.push(fn);
    },
    async ping() {
      try {
        await (await poolOf()).query("select 1");
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      // The pool is MikroORM's: `orm.close()` ends it.
    },
  };
}
