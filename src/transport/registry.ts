import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { BusinessSettings, OwnerAuth } from "../../gen/loyalty/v1/account_pb.js";
import { CustomerAdmin } from "../../gen/loyalty/v1/admin_pb.js";
import { LoyaltyPos } from "../../gen/loyalty/v1/pos_pb.js";
import { EventService, WebhookService } from "../../gen/loyalty/v1/events_pb.js";
import { createEventService } from "../services/events.js";
import { createWebhookService } from "../services/webhook-service.js";
import { createBusinessSettingsService, createOwnerAuthService } from "../services/account-services.js";
import { createCustomerAdminService } from "../services/customer-admin-service.js";
import type { ServiceDeps } from "../services/deps.js";
import { createLoyaltyPosService } from "../services/loyalty-pos-service.js";
import { createHealthService } from "./health-service.js";
import { withIdempotentReplay } from "./idempotency-interceptor.js";
import { checkMethodRules } from "./method-rules.js";
import { registerReflection } from "./reflection-service.js";

/** An API service and the factory of its implementation. */
export interface ApiEntry<S extends DescService = DescService> {
  service: S;
  create: (deps: ServiceDeps) => ServiceImpl<S>;
}

export const api = <S extends DescService>(service: S, create: (deps: ServiceDeps) => ServiceImpl<S>): ApiEntry => ({ service, create }) as unknown as ApiEntry;

/**
 * The one list of the Loyalty+ API services. Everything else is read from
 * their descriptors: the Connect router (Connect, gRPC, gRPC-Web), the gRPC
 * unary lane, the REST gateway (`google.api.http`), the credential gate and
 * the auth interceptor (`(loyalty.v1.auth)`), idempotency and cache eviction
 * (`idempotency_level`), OpenAPI, health and reflection. A new RPC of one of
 * these services needs no line here; a new service is one line.
 */
export const API: readonly ApiEntry[] = [
  api(LoyaltyPos, createLoyaltyPosService),
  api(CustomerAdmin, createCustomerAdminService),
  api(OwnerAuth, createOwnerAuthService),
  api(BusinessSettings, createBusinessSettingsService),
  api(EventService, createEventService),
  api(WebhookService, createWebhookService),
];

/** The API services, in registration order. */
export const apiServices: readonly DescService[] = API.map((e) => e.service);

/** What every transport serves, built once per app from the one list above. */
export interface Registry {
  /** The API services (REST, gRPC lane, credential gate, OpenAPI, health names). */
  services: readonly DescService[];
  /** Each service's implementation, wrapped for idempotent replays, by type name. */
  impls: ReadonlyMap<string, object>;
  /** Registers the API services, health and (when configured) reflection on a Connect router. */
  routes(router: ConnectRouter): void;
}

/**
 * Builds the implementations and the router registration; `createApp` calls
 * it first, so a method whose proto states no auth rule (or a GET binding on
 * a method not marked NO_SIDE_EFFECTS) stops the start with a message naming
 * it, before anything listens. The Connect router and the REST gateway and
 * gRPC lane run these same objects through the same interceptors.
 */
export function createRegistry(deps: ServiceDeps, opts: { draining?: AbortSignal; entries?: readonly ApiEntry[] } = {}): Registry {
  const entries = opts.entries ?? API;
  const services = entries.map((e) => e.service);
  checkMethodRules(services);
  const impls = new Map<string, object>(entries.map((e) => [e.service.typeName, withIdempotentReplay(e.create(deps) as object)]));
  const health = createHealthService({
    draining: opts.draining,
    serviceNames: services.map((s) => s.typeName),
    dbUp: () => deps.db.ping(),
  });
  return {
    services,
    impls,
    routes(router) {
      for (const { service } of entries) router.service(service, impls.get(service.typeName) as ServiceImpl<typeof service>);
      router.service(Health, health);
      // Server reflection (grpcurl, buf curl without protos): on in development,
      // GRPC_REFLECTION in production. It lists what the router holds.
      if (deps.config.reflection) registerReflection(router);
      // Whatever else was put on this router must state its rules too.
      checkMethodRules(new Set(router.handlers.map((h) => h.service)));
    },
  };
}
