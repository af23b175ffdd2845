import type { MikroORM } from "@mikro-orm/postgresql";
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import { createContextValues } from "@connectrpc/connect";
import { kClientAddress } from "./services/principal.js";
import type { FastifyInstance } from "fastify";
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
import { fixConnectErrors } from "./transport/upstream-workarounds.js";
import { createIdempotencyInterceptor } from "./transport/idempotency-interceptor.js";
import { createMetrics } from "./transport/metrics.js";
import { setStreamLane, type ServerLimits } from "./transport/one-port-server.js";
import { createHttpApp } from "./transport/http-app.js";
import { registerErrorHandler, registerNotFound } from "./transport/http-errors.js";
import { registerOpsRoutes, registerRequestLog } from "./transport/ops-routes.js";
import { createGrpcUnaryLane } from "./transport/grpc-unary-lane.js";
import { registerRestGateway } from "./transport/rest-gateway.js";
import { createRegistry } from "./transport/registry.js";
import { registerHttpHooks } from "./transport/http-hooks.js";
import { createCredentialGate, registerCredentialGate } from "./transport/credential-gate.js";
import { registerGrpcWebText } from "./transport/grpc-web-text.js";
import { OWNER_FILE_OPENAPI_PATHS, registerOwnerFiles } from "./transport/owner-files.js";
import { registerDocs, registerOpenApi } from "./transport/docs-page.js";
import { registerPortal } from "./portal/serve-portal.js";
import { registerJobs, type AppJobsOptions } from "./jobs/register-jobs.js";
import { DELIVER_WEBHOOK, deliverWebhookJob } from "./jobs/deliver-webhook.js";
import { sweepWebhooksJob } from "./jobs/sweep-webhooks.js";
import { createEventRepository } from "./persistence/event-repository.js";
import { createWebhookRepository } from "./persistence/webhook-repository.js";
import { createSecretBox } from "./infrastructure/webhook-secrets.js";
import type { Resolver } from "./infrastructure/webhook-sender.js";
import { createWebhookDelivery, type WebhookDelivery } from "./services/webhook-delivery.js";
import { registerWebhookMetrics } from "./transport/metrics.js";

declare module "fastify" {
  interface FastifyInstance {
    /** Webhook attempts (the deliver-webhook job's work; tests run attempts by hand). */
    webhookDelivery: WebhookDelivery;
  }
}

/** What `createApp` is built from: configuration and connected stores. */
export interface AppOptions {
  config: Config;
  orm: MikroORM;
  kv: KvStore;
  /** pino options override (tests pass `false` to silence logs). */
  logger?: boolean | object;
  /** Connection limits other than the defaults (tests shorten the timeouts). */
  serverLimits?: Partial<ServerLimits>;
  /** Webhook deliveries: tests map host names to loopback and take the jitter out. */
  webhooks?: { resolver?: Resolver; jitter?: () => number };
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
  const app = createHttpApp(config, { logger: opts.logger, serverLimits: opts.serverLimits });

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
    events: createEventRepository(db),
    webhooks: createWebhookRepository(db),
    secretBox: createSecretBox(config.webhooks.secretKey),
    // Delivery attempts are jobs, queued in the change's own transaction;
    // an instance running without jobs leaves them to the sweep of one that runs them.
    deliveryQueue: {
      async enqueue(ids) {
        await app.jobs?.sendMany(DELIVER_WEBHOOK, ids.map((deliveryId) => ({ data: { deliveryId, seq: 0 } })), { inTransaction: true });
      },
      async enqueueAttempt(deliveryId, seq, at) {
        await app.jobs?.sendMany(DELIVER_WEBHOOK, [{ data: { deliveryId, seq }, startAfter: at }], { inTransaction: true });
      },
    },
    webhookResolver: opts.webhooks?.resolver,
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
  const webhookMetrics = registerWebhookMetrics(metrics.registry, deps.webhooks);
  registerCredentialGate(app, gate, registry.services, metrics.refused);
  registerRequestLog(app);

  // Before any route or plugin is registered (http-errors.ts says why).
  registerErrorHandler(app, { bodyLimitBytes: config.bodyLimitBytes });

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

  registerOpsRoutes(app, { db, kv, metrics: metrics.registry });
  registerNotFound(app, http.allowedMethods);

  // Last: nothing after it can fail and leave its workers running.
  const delivery = createWebhookDelivery({
    db,
    webhooks: deps.webhooks,
    secrets: deps.secretBox,
    config: config.webhooks,
    queueNext: (id, seq, at) => deps.deliveryQueue.enqueueAttempt(id, seq, at),
    resolver: opts.webhooks?.resolver,
    jitter: opts.webhooks?.jitter,
    log: app.log,
    onOutcome: webhookMetrics.outcome,
  });
  app.decorate("webhookDelivery", delivery);
  registerJobs(app, {
    enabled: config.jobs,
    db,
    jobs: opts.jobs,
    appJobs: [deliverWebhookJob(delivery), sweepWebhooksJob(deps.webhooks, deps.deliveryQueue)],
  });

  return app;
}
