import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import type { KvStore } from "../infrastructure/kv-store.js";
import type { Db } from "../persistence/db.js";
import { jsonBytes } from "./rest-gateway.js";

/**
 * The operator's routes: `/healthz` (the process answers), `/readyz`
 * (PostgreSQL and Redis: 503 only without PostgreSQL; without Redis the
 * service works, degraded) and `/metrics` (Prometheus).
 */
export function registerOpsRoutes(app: FastifyInstance, deps: { db: Pick<Db, "ping">; kv: Pick<KvStore, "ping" | "mode">; metrics: Registry }): void {
  const { db, kv, metrics } = deps;
  app.get("/healthz", async (_req, reply) => reply.header("content-type", "application/json").send(jsonBytes('{"status":"ok"}')));
  app.get("/readyz", async (_req, reply) => {
    const [database, redis] = await Promise.all([db.ping(), kv.ping()]);
    const status = !database ? "unavailable" : redis ? "ready" : "degraded";
    return reply
      .code(database ? 200 : 503)
      .header("content-type", "application/json")
      .send(
        jsonBytes(
          JSON.stringify({
            status,
            database: database ? "up" : "down",
            redis: kv.mode === "memory" ? "in-process" : redis ? "up" : "down",
          }),
        ),
      );
  });
  app.get("/metrics", async (_req, reply) => reply.header("content-type", metrics.contentType).send(await metrics.metrics()));
}

/**
 * Requests are logged once they are answered: failures (5xx) always,
 * everything at debug. (Fastify's own two lines per request cost a tenth of
 * a POS call's CPU at info level.)
 */
export function registerRequestLog(app: FastifyInstance): void {
  app.addHook("onResponse", (req, reply, done) => {
    const status = reply.statusCode;
    if (status >= 500) req.log.error({ method: req.method, url: req.routeOptions.url, status, ms: reply.elapsedTime }, "request failed");
    else if (req.log.level === "debug" || req.log.level === "trace") req.log.debug({ method: req.method, url: req.routeOptions.url, status, ms: reply.elapsedTime }, "request completed");
    done();
  });
}
