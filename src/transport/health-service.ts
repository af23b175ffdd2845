import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as Status,
  HealthListResponseSchema,
} from "../../gen/grpc/health/v1/health_pb.js";

/**
 * grpc.health.v1.Health: SERVING when PostgreSQL answers (Redis is optional:
 * without it the service is degraded, not down). `service` may be empty
 * (the whole server) or one of `serviceNames`.
 */
export function createHealthService(opts: { serviceNames: string[]; dbUp: () => Promise<boolean> }): ServiceImpl<typeof Health> {
  async function status(service: string) {
    if (service !== "" && !opts.serviceNames.includes(service)) {
      throw new ConnectError(`unknown service "${service.slice(0, 100)}"`, Code.NotFound);
    }
    return (await opts.dbUp()) ? Status.SERVING : Status.NOT_SERVING;
  }
  return {
    async check(req) {
      return create(HealthCheckResponseSchema, { status: await status(req.service) });
    },
    async list() {
      const s = await status("");
      const statuses: Record<string, ReturnType<typeof create<typeof HealthCheckResponseSchema>>> = {
        "": create(HealthCheckResponseSchema, { status: s }),
      };
      for (const name of opts.serviceNames) statuses[name] = create(HealthCheckResponseSchema, { status: s });
      return create(HealthListResponseSchema, { statuses });
    },
    async *watch(req, ctx) {
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const s = await status(req.service);
        if (s !== last) yield create(HealthCheckResponseSchema, { status: s });
        last = s;
        await new Promise((r) => setTimeout(r, 5_000));
      }
    },
  };
}
