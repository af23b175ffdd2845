import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { kProtocol } from "./context.js";
import { codeName } from "./errors.js";

/** The Prometheus registry of one service instance. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: "loyalty_rpc_requests_total",
    help: "RPCs handled, by service, method, protocol and code",
    labelNames: ["service", "method", "protocol", "code"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "loyalty_rpc_duration_seconds",
    help: "RPC latency, by service, method and protocol",
    labelNames: ["service", "method", "protocol"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  function protocolOf(contentType: string | null, rest: string | undefined): string {
    if (rest) return rest;
    const ct = contentType ?? "";
    if (ct.startsWith("application/grpc-web")) return "grpc-web";
    if (ct.startsWith("application/grpc")) return "grpc";
    return "connect";
  }

  /** Counts and times every RPC, whatever the protocol. */
  const interceptor: Interceptor = (next) => async (req) => {
    const labels = {
      service: req.service.typeName,
      method: req.method.name,
      protocol: protocolOf(req.header.get("content-type"), req.contextValues.get(kProtocol)),
    };
    const end = duration.startTimer(labels);
    let code = "ok";
    try {
      return await next(req);
    } catch (err) {
      code = codeName(err instanceof ConnectError ? err.code : Code.Unknown);
      throw err;
    } finally {
      end();
      requests.inc({ ...labels, code });
    }
  };

  return { registry, interceptor };
}
