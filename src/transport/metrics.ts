import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { expiryTotals } from "../services/expiry-run.js";
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
  // The expiry runs of this instance (contract §10), read from their totals when scraped.
  const totalOf = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  totalOf("loyalty_expiry_runs_total", "expiry runs finished on this instance", () => expiryTotals.runs);
  totalOf("loyalty_expiry_customers_total", "customers whose points expiry runs on this instance expired", () => expiryTotals.customers);
  totalOf("loyalty_expiry_points_total", "points expiry runs on this instance expired", () => expiryTotals.points);
  totalOf("loyalty_expiry_lots_total", "lots expiry runs on this instance emptied", () => expiryTotals.lots);
  const lastOf = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  lastOf("loyalty_expiry_last_run_duration_seconds", "how long the last expiry run on this instance took", () => expiryTotals.lastDurationSeconds);
  lastOf("loyalty_expiry_last_run_customers", "customers the last expiry run on this instance expired points of", () => expiryTotals.lastCustomers);
  lastOf("loyalty_expiry_last_run_points", "points the last expiry run on this instance expired", () => expiryTotals.lastPoints);
  const duration = new Histogram({
    name: "loyalty_rpc_duration_seconds",
    help: "RPC latency, by service, method and protocol",
    labelNames: ["service", "method", "protocol"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  /** The protocol of a call through Connect's router, from its content type. */
  function protocolOf(contentType: string | null): string {
    const ct = contentType ?? "";
    if (ct.startsWith("application/grpc-web")) return "grpc-web";
    if (ct.startsWith("application/grpc")) return "grpc";
    return "connect";
  }

  /** Labelled children, found once per service, method and protocol (label hashing is a tenth of the interceptor's cost). */
  interface Children {
    timer: ReturnType<typeof duration.labels>;
    labels: { service: string; method: string; protocol: string };
    byCode: Map<string, ReturnType<typeof requests.labels>>;
  }
  const children = new WeakMap<object, Map<string, Children>>();
  function childrenOf(method: { name: string; parent: { typeName: string } }, protocol: string): Children {
    let byProtocol = children.get(method);
    if (!byProtocol) children.set(method, (byProtocol = new Map()));
    let c = byProtocol.get(protocol);
    if (!c) {
      const labels = { service: method.parent.typeName, method: method.name, protocol };
      c = { timer: duration.labels(labels), labels, byCode: new Map() };
      byProtocol.set(protocol, c);
    }
    return c;
  }

  /** Counts and times every RPC, whatever the protocol. */
  const interceptor: Interceptor = (next) => async (req) => {
    const c = childrenOf(req.method, req.contextValues.get(kProtocol) ?? protocolOf(req.header.get("content-type")));
    const started = performance.now();
    let code = "ok";
    try {
      return await next(req);
    } catch (err) {
      code = codeName(err instanceof ConnectError ? err.code : Code.Unknown);
      throw err;
    } finally {
      c.timer.observe((performance.now() - started) / 1000);
      let counter = c.byCode.get(code);
      if (!counter) {
        counter = requests.labels({ ...c.labels, code });
        c.byCode.set(code, counter);
      }
      counter.inc();
    }
  };

  /** A call refused before the interceptors ran (credential-gate.ts): counted like one they refused. */
  function refused(method: { name: string; parent: { typeName: string } }, protocol: string, code: Code): void {
    const c = childrenOf(method, protocol);
    const name = codeName(code);
    let counter = c.byCode.get(name);
    if (!counter) {
      counter = requests.labels({ ...c.labels, code: name });
      c.byCode.set(name, counter);
    }
    counter.inc();
  }
  return { registry, interceptor, refused };
}

/**
 * Webhook metrics (contract §11): attempts by outcome, and at scrape time
 * the pending deliveries and the age of the oldest undelivered one (one
 * indexed query over pending deliveries).
 */
export function registerWebhookMetrics(registry: Registry, webhooks: { backlog(): Promise<{ pending: number; oldestSeconds: number }> }) {
  const attempts = new Counter({
    name: "loyalty_webhook_attempts_total",
    help: "Webhook delivery attempts by outcome (succeeded, retry, failed, gone, disabled)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  let last: Promise<{ pending: number; oldestSeconds: number }> | undefined;
  const backlog = () => (last ??= webhooks.backlog().finally(() => setTimeout(() => (last = undefined), 0)));
  new Gauge({
    name: "loyalty_webhook_queue_depth",
    help: "Webhook deliveries not yet delivered nor given up",
    registers: [registry],
    async collect() {
      this.set((await backlog().catch(() => ({ pending: 0, oldestSeconds: 0 }))).pending);
    },
  });
  new Gauge({
    name: "loyalty_webhook_oldest_undelivered_seconds",
    help: "Age of the oldest webhook delivery not yet delivered nor given up, in seconds (0 when none)",
    registers: [registry],
    async collect() {
      this.set((await backlog().catch(() => ({ pending: 0, oldestSeconds: 0 }))).oldestSeconds);
    },
  });
  return { outcome: (label: string) => attempts.labels({ outcome: label }).inc() };
}
