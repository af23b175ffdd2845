import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as Status,
  HealthListResponseSchema,
} from "../../gen/grpc/health/v1/health_pb.js";

/** How often an open Watch asks PostgreSQL again. */
const WATCH_POLL_MS = 5_000;

/**
 * grpc.health.v1.Health: SERVING when PostgreSQL answers (Redis is optional:
 * without it the service is degraded, not down). `service` may be empty
 * (the whole server) or one of `serviceNames`.
 *
 * As health.proto says: Check on an unknown service is NOT_FOUND; Watch on
 * an unknown service sends SERVICE_UNKNOWN and keeps the stream open. When
 * the process drains (`draining` aborted, SIGTERM), every open Watch is sent
 * NOT_SERVING and ended, so clients move elsewhere and the drain does not
 * wait for them.
 */
export function createHealthService(opts: { serviceNames: string[]; dbUp: () => Promise<boolean>; draining?: AbortSignal }): ServiceImpl<typeof Health> {
  const known = (service: string) => service === "" || opts.serviceNames.includes(service);
  async function status(service: string) {
    if (!known(service)) {
      throw new ConnectError(`unknown service "${service.slice(0, 100)}"`, Code.NotFound);
    }
    if (opts.draining?.aborted) return Status.NOT_SERVING;
    return (await opts.dbUp()) ? Status.SERVING : Status.NOT_SERVING;
  }
  /** Resolves after `ms`, or at once when the call ends or the process drains. */
  function pause(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        opts.draining?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done);
      opts.draining?.addEventListener("abort", done);
    });
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
        if (opts.draining?.aborted) {
          yield create(HealthCheckResponseSchema, { status: Status.NOT_SERVING });
          return;
        }
        const s = known(req.service) ? await status(req.service) : Status.SERVICE_UNKNOWN;
        if (s !== last && !opts.draining?.aborted) yield create(HealthCheckResponseSchema, { status: s });
        last = s;
        await pause(WATCH_POLL_MS, ctx.signal);
      }
    },
  };
}
