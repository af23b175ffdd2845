import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { createApp } from "../../src/app.js";
import { loadConfig } from "../../src/config/config.js";
import { createMemoryKvStore, createRedisKvStore } from "../../src/infrastructure/kv-store.js";
import { createOrm, migrate } from "../../src/persistence/orm.js";
import { buildPortalIfStale } from "../../src/portal/build.js";
import { registerPortal } from "../../src/portal/serve-portal.js";
import { createTestDatabase, TEST_REDIS_URL, type TestApp } from "../support/test-app.js";

/**
 * The real application with the admin portal, on a fresh database and real
 * Redis, listening on 127.0.0.1: what `startTestApp` builds, plus
 * `registerPortal` before `listen` (Fastify accepts no route once it
 * listens) unless createApp already registered it. The portal is built first when src/portal/dist is missing or
 * older than its sources.
 */
export async function startAppWithPortal(opts: { env?: Record<string, string>; port?: number; quiet?: boolean } = {}): Promise<TestApp> {
  await buildPortalIfStale({ quiet: opts.quiet ?? true });
  const db = await createTestDatabase();
  const config = loadConfig({
    NODE_ENV: "test",
    JWT_SECRET: "test-secret-that-is-at-least-32-bytes-long!!",
    DATABASE_URL: db.url,
    REDIS_URL: TEST_REDIS_URL,
    PORT: String(opts.port ?? 0),
    HOST: "127.0.0.1",
    LOG_LEVEL: "silent",
    ...opts.env,
  });
  const orm = await createOrm(db.url);
  await migrate(orm);
  const kv = config.redisUrl ? createRedisKvStore(config.redisUrl, () => undefined) : createMemoryKvStore();
  const app = await createApp({ config, orm, kv, logger: false });
  // Once createApp registers the portal itself, this is a no-op.
  if (!app.hasRoute({ method: "GET", url: "/portal/*" })) await registerPortal(app);
  await app.listen({ port: opts.port ?? 0, host: "127.0.0.1" });
  const port = (app.server.address() as AddressInfo).port;
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    app,
    orm,
    kv,
    config,
    databaseUrl: db.url,
    async sql<T>(text: string, params: unknown[] = []) {
      return (await pool.query(text, params)).rows as T[];
    },
    async close() {
      await app.close();
      await orm.close();
      await kv.close();
      await pool.end();
      await db.drop();
    },
  };
}

// CLI for trying the portal by hand: `npx tsx test/portal/start-with-portal.ts [port]`.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const port = Number(process.argv[2] ?? 8080);
  startAppWithPortal({ port, quiet: false })
    .then((t) => {
      console.log(`Loyalty+ with the admin portal: ${t.url}/portal/ (database ${t.databaseUrl}); Ctrl+C stops and drops it`);
      const stop = () => void t.close().then(() => process.exit(0));
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
