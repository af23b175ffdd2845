import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { BusinessSettings, OwnerAuth } from "../../gen/loyalty/v1/account_pb.js";
import { CustomerAdmin } from "../../gen/loyalty/v1/admin_pb.js";
import { LoyaltyPos } from "../../gen/loyalty/v1/pos_pb.js";
import { createBusinessSettingsService, createOwnerAuthService } from "../services/account-services.js";
import { createCustomerAdminService } from "../services/customer-admin-service.js";
import type { ServiceDeps } from "../services/deps.js";
import { createLoyaltyPosService } from "../services/loyalty-pos-service.js";
import { createHealthService } from "./health-service.js";
import { registerReflection } from "./reflection-service.js";
import { withIdempotentReplay } from "./idempotency-interceptor.js";

/** The Loyalty+ services that carry REST bindings. */
export const apiServices = [LoyaltyPos, CustomerAdmin, OwnerAuth, BusinessSettings];

/**
 * The service implementations, each wrapped for idempotent replays, keyed by
 * service type name. The Connect router (gRPC, gRPC-Web, Connect) and the
 * REST gateway run these same objects through the same interceptors.
 */
export function createServiceImpls(deps: ServiceDeps): Map<string, object> {
  return new Map<string, object>([
    [LoyaltyPos.typeName, withIdempotentReplay(createLoyaltyPosService(deps))],
    [CustomerAdmin.typeName, withIdempotentReplay(createCustomerAdminService(deps))],
    [OwnerAuth.typeName, withIdempotentReplay(createOwnerAuthService(deps))],
    [BusinessSettings.typeName, withIdempotentReplay(createBusinessSettingsService(deps))],
  ]);
}

/** Registers every service on a Connect router, with health and reflection. */
export function createRoutes(deps: ServiceDeps, impls: Map<string, object> = createServiceImpls(deps), draining?: AbortSignal) {
  const health = createHealthService({
    draining,
    serviceNames: apiServices.map((s) => s.typeName),
    dbUp: () => deps.db.ping(),
  });
  return (router: ConnectRouter) => {
    router.service(LoyaltyPos, impls.get(LoyaltyPos.typeName) as ServiceImpl<typeof LoyaltyPos>);
    router.service(CustomerAdmin, impls.get(CustomerAdmin.typeName) as ServiceImpl<typeof CustomerAdmin>);
    router.service(OwnerAuth, impls.get(OwnerAuth.typeName) as ServiceImpl<typeof OwnerAuth>);
    router.service(BusinessSettings, impls.get(BusinessSettings.typeName) as ServiceImpl<typeof BusinessSettings>);
    router.service(Health, health);
    // Server reflection (grpcurl, buf curl without protos): on in development,
    // GRPC_REFLECTION in production.
    if (deps.config.reflection) registerReflection(router);
  };
}
