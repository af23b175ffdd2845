import pino from "pino";
import { loadConfig } from "./config/config.js";
import { createApp } from "./app.js";
import { createMemoryKvStore, createRedisKvStore } from "./infrastructure/kv-store.js";
import { openDatabase } from "./persistence/open-database.js";

/**
 * Starts one Loyalty+ instance: configuration, PostgreSQL (external or
 * embedded), migrations, Redis (or the in-process substitute), the server on
 * one port; SIGTERM drains in-flight requests and exits 0.
 */
async function main() {
  const started = Date.now();
  const config = loadConfig();
  const log = pino({ level: config.logLevel });
  // The runtime in use (npm scripts run node_modules/.bin/node, Node 24 from
  // the lock file; main.ts at the root refused anything older).
  log.info({ node: process.version, execPath: process.execPath }, "Loyalty+ starting");

  const database = await openDatabase(config, (msg) => log.info(msg));
  const { orm } = database;
  if (database.applied.length) log.info({ migrations: database.applied }, "migrations applied");

  const kv = config.redisUrl
    ? createRedisKvStore(config.redisUrl, (err) => log.warn({ err: err.message }, "redis unavailable: continuing without it"))
    : createMemoryKvStore();
  if (!config.redisUrl) log.warn("REDIS_URL not set: in-process cache and locks (single-instance mode)");

  const app = await createApp({ config, orm, kv });
  await app.listen({ port: config.port, host: config.host });
  log.info({ port: config.port, ms: Date.now() - started }, "Loyalty+ ready");

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "draining in-flight requests");
    const force = setTimeout(() => {
      log.error("drain timed out, exiting");
      process.exit(1);
    }, 25_000);
    force.unref();
    try {
      await app.close();
      await kv.close();
      await database.close();
      log.info("stopped");
      process.exit(0);
    } catch (err) {
      log.error({ err }, "error while stopping");
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((err: unknown) => {
  console.error("Loyalty+ failed to start:", err instanceof Error ? err.message : err);
  process.exit(1);
});
