import type { FastifyInstance } from "fastify";
import { createId } from "@paralleldrive/cuid2";
import pg from "pg";
import type { AddressInfo } from "node:net";
import type { MikroORM } from "@mikro-orm/postgresql";
import { createApp, type AppOptions } from "../../src/app.js";
import { loadConfig, type Config } from "../../src/config/config.js";
import { createMemoryKvStore, createRedisKvStore, type KvStore } from "../../src/infrastructure/kv-store.js";
import { createOrm, migrate } from "../../src/persistence/orm.js";

/** The PostgreSQL server the tests use (CI starts it; trust auth). */
export const PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
/** The Redis server the tests use. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** A database of its own for one test file, migrated. */
export async function createTestDatabase(): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `lp_test_${createId().slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** A running Loyalty+ instance on a real port, for one test file. */
export interface TestApp {
  url: string;
  port: number;
  app: FastifyInstance;
  orm: MikroORM;
  kv: KvStore;
  config: Config;
  databaseUrl: string;
  /** Runs SQL against the instance's database (for assertions only). */
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * Builds the real application (as `npm start` does) on a fresh database and
 * real Redis, listening on 127.0.0.1, port 0. `env` overrides configuration
 * variables; `redisUrl: null` uses the in-process store; `databaseUrl`
 * shares an existing database (two instances on one database).
 */
export async function startTestApp(opts: {
  env?: Record<string, string>;
  redisUrl?: string | null;
  databaseUrl?: string;
  /** Listen on this port instead of a free one. */
  port?: number;
  /** Connection limits other than the defaults (createApp's serverLimits). */
  serverLimits?: AppOptions["serverLimits"];
  /**
   * Run the background jobs (src/jobs/, pg-boss): off unless asked for, so a
   * test file that does not test jobs pays no pg-boss schema install.
   * `true`, or how they run (a TestClock, extra jobs).
   */
  jobs?: boolean | AppOptions["jobs"];
  /** Webhook deliveries' host resolution and jitter (createApp's webhooks). */
  webhooks?: AppOptions["webhooks"];
} = {}): Promise<TestApp> {
  const db = opts.databaseUrl ? undefined : await createTestDatabase();
  const databaseUrl = opts.databaseUrl ?? db!.url;
  const redisUrl = opts.redisUrl === undefined ? TEST_REDIS_URL : opts.redisUrl;
  const config = loadConfig({
    NODE_ENV: "test",
    JWT_SECRET: "test-secret-that-is-at-least-32-bytes-long!!",
    DATABASE_URL: databaseUrl,
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    PORT: String(opts.port ?? 0),
    HOST: "127.0.0.1",
    LOG_LEVEL: "silent",
    // Every test file registers and logs in from 127.0.0.1 against one Redis:
    // the per-address throttles (login-throttle.ts) would count them all
    // together. test/login-throttle.test.ts sets them low and uses addresses of its own.
    LOGIN_ATTEMPTS_PER_ADDRESS: "100000000",
    REGISTRATIONS_PER_ADDRESS: "100000000",
    JOBS: opts.jobs ? "true" : "false",
    ...opts.env,
  });
  const orm = await createOrm(databaseUrl);
  await migrate(orm);
  const kv = redisUrl ? createRedisKvStore(redisUrl, () => undefined) : createMemoryKvStore();
  const app = await createApp({ config, orm, kv, logger: false, serverLimits: opts.serverLimits, jobs: typeof opts.jobs === "object" ? opts.jobs : undefined, webhooks: opts.webhooks });
  await app.listen({ port: opts.port ?? 0, host: "127.0.0.1" });
  // Jobs start beside the listen (register-jobs.ts); a test that asked for them gets them running.
  await app.jobs?.ready();
  const port = (app.server.address() as AddressInfo).port;
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  // An idle assertion connection whose backend is terminated (a test that
  // kills backends, the database dropped) is dropped from the pool; without a
  // listener the pool's 'error' event would crash the test run.
  pool.on("error", () => undefined);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    app,
    orm,
    kv,
    config,
    databaseUrl,
    async sql<T>(text: string, params: unknown[] = []) {
      return (await pool.query(text, params)).rows as T[];
    },
    async close() {
      await app.close();
      await orm.close();
      await kv.close();
      await pool.end();
      await db?.drop();
    },
  };
}
