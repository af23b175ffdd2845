import type { ConnectRouter } from "@connectrpc/connect";
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
 * Registers every service implementation on a Connect router; used for the
 * Connect/gRPC/gRPC-Web handlers and for the REST gateway's in-process
 * transport alike, so both run the same code and interceptors.
 */
export function createRoutes(deps: ServiceDeps) {
  const pos = createLoyaltyPosService(deps);
  const admin = createCustomerAdminService(deps);
  const auth = createOwnerAuthService(deps);
  const settings = createBusinessSettingsService(deps);
  const health = createHealthService({
    serviceNames: apiServices.map((s) => s.typeName),
    dbUp: () => deps.db.ping(),
  });
  return (router: ConnectRouter) => {
    router.service(LoyaltyPos, withIdempotentReplay(pos));
    router.service(CustomerAdmin, withIdempotentReplay(admin));
    router.service(OwnerAuth, withIdempotentReplay(auth));
    router.service(BusinessSettings, withIdempotentReplay(settings));
    router.service(Health, health);
    // Server reflection (grpcurl, buf curl without protos): on in development,
    // GRPC_REFLECTION in production.
    if (deps.config.reflection) registerReflection(router);
  };
}
