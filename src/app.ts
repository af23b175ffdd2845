import type { MikroORM } from "@mikro-orm/postgresql";
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { kClientAddress } from "./services/principal.js";
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from "fastify";
import { randomUUID } from "node:crypto";
import type { Config } from "./config/config.js";
import type { KvStore } from "./infrastructure/kv-store.js";
import { createChangeInterceptor } from "./transport/change-interceptor.js";
import { createRateCounter } from "./infrastructure/rate-counter.js";
import { createTokenService } from "./infrastructure/secrets.js";
import { createAccountRepository } from "./persistence/account-repository.js";
import { createCustomerRepository } from "./persistence/customer-repository.js";
import { createLifecycleRepository } from "./persistence/lifecycle-repository.js";
import { createCatalogueRepository } from "./persistence/catalogue-repository.js";
import { createLotRepository } from "./persistence/lot-repository.js";
import { createDb } from "./persistence/db.js";
import type { ServiceDeps } from "./services/deps.js";
import { createCachedReads } from "./services/cached-reads.js";
import { createAuthInterceptor } from "./transport/auth-interceptor.js";
import { createErrorInterceptor } from "./transport/error-interceptor.js";
import { HTTP_STATUS_HEADER } from "./transport/errors.js";
import { fixConnectErrors } from "./transport/upstream-workarounds.js";
import { createIdempotencyInterceptor } from "./transport/idempotency-interceptor.js";
import { createMetrics } from "./transport/metrics.js";
import { createOnePortServer, setStreamLane, type ServerLimits } from "./transport/one-port-server.js";
import { createGrpcUnaryLane } from "./transport/grpc-unary-lane.js";
import { jsonBytes, registerRestGateway, sendError } from "./transport/rest-gateway.js";
import { createRegistry } from "./transport/registry.js";
import { registerHttpHooks } from "./transport/http-hooks.js";
import { createCredentialGate, registerCredentialGate } from "./transport/credential-gate.js";
import { registerGrpcWebText } from "./transport/grpc-web-text.js";
import { earlyAnswer, sendEarlyAnswer, wireProtocolOf } from "./transport/early-answer.js";
import { OWNER_FILE_OPENAPI_PATHS, registerOwnerFiles } from "./transport/owner-files.js";
import { registerDocs, registerOpenApi } from "./transport/docs-page.js";
import { registerPortal } from "./portal/serve-portal.js";
import { registerJobs, type AppJobsOptions } from "./jobs/register-jobs.js";

/** What `createApp` is built from: configuration and connected stores. */
export interface AppOptions {
  config: Config;
  orm: MikroORM;
  kv: KvStore;
  /** pino options override (tests pass `false` to silence logs). */
  logger?: boolean | object;
  /** Connection limits other than the defaults (tests shorten the timeouts). */
  serverLimits?: Partial<ServerLimits>;
  /** How the jobs run (tests: a TestClock, extra jobs); whether they run at all is `config.jobs`. */
  jobs?: AppJobsOptions;
}

/**
 * Builds the Fastify application: Connect, gRPC and gRPC-Web handlers, the
 * REST gateway, health, readiness and metrics — all on the one-port server.
 * The caller listens and closes.
 */
export async function createApp(opts: AppOptions): Promise<FastifyInstance> {
  const { config, orm, kv } = opts;
  const app = Fastify({
    serverFactory: ((handler: Parameters<typeof createOnePortServer>[0]) => createOnePortServer(handler, opts.serverLimits)) as never,
    logger:
      opts.logger === false
        ? false
        : {
            level: config.logLevel,
            redact: ["req.headers.authorization", 'req.headers["x-api-key"]', "password", "*.password", "token"],
            ...(typeof opts.logger === "object" ? opts.logger : {}),
          },
    bodyLimit: config.bodyLimitBytes,
    requestIdHeader: "x-request-id",
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    // Two log lines per request cost a tenth of a POS call's CPU at info
    // level; requests are logged by the onResponse hook below instead:
    // failures always, everything at debug.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: "idle",
    routerOptions: { maxParamLength: 200 },
    // Malformed percent-encoding or an overlong path parameter, refused by the
    // router itself: answered in the contract's error shape, not Fastify's.
    frameworkErrors: (err: { code?: string }, _req: unknown, reply: unknown) => {
      const message =
        err.code === "FST_ERR_MAX_PARAM_LENGTH" ? "a path parameter is too long" : err.code === "FST_ERR_BAD_URL" ? "malformed URL" : "bad request";
      sendError(reply as unknown as FastifyReply, new ConnectError(message, Code.InvalidArgument));
    },
  }) as unknown as FastifyInstance;

  const db = createDb(orm);
  const accounts = createAccountRepository(db);
  const tokens = createTokenService({
    secret: config.jwtSecret,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    ttlSeconds: config.jwtTtlSeconds,
  });
  const reads = createCachedReads({
    kv,
    db,
    accounts,
    tokens,
    log: app.log,
    listTtlMs: config.listCacheTtlMs,
    apiKeyTtlMs: config.apiKeyCacheTtlSeconds * 1000,
  });
  app.addHook("onClose", async () => db.close());
  const deps: ServiceDeps = {
    config,
    db,
    kv,
    reads,
    tokens,
    customers: createCustomerRepository(db),
    lifecycle: createLifecycleRepository(db),
    catalogue: createCatalogueRepository(db),
    lots: createLotRepository(db),
    accounts,
    log: app.log,
  };

  // Aborted when the app starts closing: open health Watches are told
  // NOT_SERVING and ended, so the drain does not wait for them.
  const draining = new AbortController();
  app.addHook("preClose", (done) => {
    draining.abort();
    done();
  });
  // The one list of services; refuses to start when a method's proto lacks a rule.
  const registry = createRegistry(deps, { draining: draining.signal });

  const http = registerHttpHooks(app, config, registry.services);
  // Credentials checked from the headers, before any body is read (REST,
  // Connect, gRPC-Web here; the gRPC unary lane checks them the same way).
  registerGrpcWebText(app);
  const gate = createCredentialGate({ reads });
  const metrics = createMetrics();
  registerCredentialGate(app, gate, registry.services, metrics.refused);
  app.addHook("onResponse", (req, reply, done) => {
    const status = reply.statusCode;
    if (status >= 500) req.log.error({ method: req.method, url: req.routeOptions.url, status, ms: reply.elapsedTime }, "request failed");
    else if (req.log.level === "debug" || req.log.level === "trace") req.log.debug({ method: req.method, url: req.routeOptions.url, status, ms: reply.elapsedTime }, "request completed");
    done();
  });

  // Set before any route or plugin is registered: a route takes the error
  // handler in force when it is built, and `await`ing a plugin builds the
  // routes declared so far (JSON parse errors would get Fastify's own body).
  app.setErrorHandler((err: { statusCode?: number; code?: string; message?: string }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status === 413) {
      return sendError(reply, new ConnectError(`request body exceeds ${config.bodyLimitBytes} bytes`, Code.InvalidArgument, { [HTTP_STATUS_HEADER]: "413" }));
    }
    if (status === 415) {
      return sendError(reply, new ConnectError("unsupported Content-Type: send application/json", Code.InvalidArgument, { [HTTP_STATUS_HEADER]: "415" }));
    }
    if (status >= 400 && status < 500) {
      const message = err.code?.startsWith("FST_ERR_CTP") ? "malformed JSON body" : "bad request";
      return sendError(reply, new ConnectError(message, Code.InvalidArgument));
    }
    req.log.error({ err }, "unhandled error");
    return sendError(reply, new ConnectError("internal error", Code.Internal));
  });

  const auth = createAuthInterceptor({ config, reads, accounts, rates: createRateCounter(kv), log: app.log });
  const interceptors = [
    metrics.interceptor,
    createErrorInterceptor(app.log),
    auth,
    createChangeInterceptor(reads),
    createIdempotencyInterceptor({ db }),
  ];
  const { impls } = registry;

  await app.register(fastifyConnectPlugin, {
    routes: (router) => {
      registry.routes(router);
      fixConnectErrors(router.handlers, app.log);
    },
    interceptors,
    // The socket's address, for the login and register throttles.
    contextValues: (req) => createContextValues().set(kClientAddress, req.socket.remoteAddress),
    readMaxBytes: config.bodyLimitBytes,
    // Zero values and false are emitted (contract §1), as the REST layer does.
    // Unknown fields are refused over Connect JSON as over REST.
    jsonOptions: { alwaysEmitImplicit: true, ignoreUnknownFields: false },
    grpc: true,
    grpcWeb: true,
    connect: true,
  });

  // Registered outside the Connect plugin's scope: the plugin replaces the
  // JSON body parser inside its own scope. Same implementations, same
  // interceptors as the Connect handlers.
  registerRestGateway(app, { services: registry.services, impls, interceptors });
  // Plain gRPC unary calls (POS stubs) straight from the HTTP/2 stream; the
  // rest of gRPC goes through the Connect plugin above.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  setStreamLane(
    app.server,
    createGrpcUnaryLane({ services: registry.services, impls, interceptors, readMaxBytes: config.bodyLimitBytes, isClosing: () => closing, log: app.log, gate, onRefused: metrics.refused }),
  );
  // CSV import and exports: plain HTTP routes behind the same owner auth.
  await registerOwnerFiles(app, { auth, deps });
  registerOpenApi(app, { extraPaths: OWNER_FILE_OPENAPI_PATHS });
  registerDocs(app);
  await registerPortal(app);

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
  app.get("/metrics", async (_req, reply) =>
    reply.header("content-type", metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  app.setNotFoundHandler((req, reply) => {
    const contentType = req.headers["content-type"];
    const protocol = wireProtocolOf(req.url, contentType);
    const path = req.url.split("?")[0]!.slice(0, 200);
    // A gRPC or gRPC-Web client calling a method this server does not have:
    // UNIMPLEMENTED in its protocol (HTTP 200, grpc-status 12), not a REST 404.
    if (protocol === "grpc" || protocol === "grpc-web") {
      return sendEarlyAnswer(req, reply, earlyAnswer(protocol, contentType, Code.Unimplemented, `unknown method ${path}`));
    }
    // A known path with another method: 405 and the methods it takes.
    const allowed = http.allowedMethods(req.url);
    if (allowed.length > 0) {
      reply.header("allow", allowed.join(", "));
      return sendError(reply, new ConnectError(`HTTP method ${req.method} is not allowed on ${path}: use ${allowed.join(", ")}`, Code.Unimplemented, { [HTTP_STATUS_HEADER]: "405" }));
    }
    return sendError(reply, new ConnectError("route not found", Code.NotFound));
  });

  // Last: nothing after it can fail and leave its workers running.
  await registerJobs(app, { enabled: config.jobs, db, jobs: opts.jobs });

  return app;
}
