/**
 * The load generators of the bench, one per protocol, all with the same
 * result shape: successful responses, failures, elapsed time and every
 * response's latency.
 *
 * - REST: autocannon (programmatic), a fresh request per call via
 *   `setupRequest`, latencies taken from its `response` events;
 * - gRPC: one grpc-js channel (one HTTP/2 connection) with `concurrency`
 *   calls in flight, each loop issuing its next call when the last returns;
 * - Connect: `@connectrpc/connect-node` over HTTP/1.1 with JSON (what the
 *   admin portal speaks), `concurrency` calls in flight on a keep-alive agent.
 */
import http from "node:http";
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import * as grpc from "@grpc/grpc-js";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { LoyaltyPos } from "../gen/loyalty/v1/pos_pb.js";
import { Latencies } from "./lib.js";
import { loyaltyPos } from "./pos-proto.js";

export interface RunResult {
  ok: number;
  /** Answers that were not a success (HTTP non-2xx, gRPC/Connect error status). */
  failed: number;
  /** Transport errors and timeouts. */
  errors: number;
  elapsedS: number;
  lat: Latencies;
  /** A few failure descriptions, for diagnosis. */
  samples: string[];
}

export interface HttpRequest {
  method: "GET" | "POST";
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** Runs autocannon against `baseUrl` for `duration` seconds. */
export async function runHttp(
  baseUrl: string,
  build: () => HttpRequest,
  duration: number,
  connections: number,
): Promise<RunResult> {
  const lat = new Latencies();
  let ok = 0;
  let failed = 0;
  const statuses = new Map<number, number>();
  const started = performance.now();
  const instance = autocannon({
    url: baseUrl,
    connections,
    duration,
    pipelining: 1,
    timeout: 10,
    requests: [
      {
        setupRequest: (req: Record<string, unknown>) => {
          const r = build();
          return {
            ...req,
            method: r.method,
            path: r.path,
            headers: { ...(r.body !== undefined ? { "content-type": "application/json" } : {}), ...r.headers },
            body: r.body,
          };
        },
      },
    ],
  });
  instance.on("response", (_client: unknown, status: number, _bytes: number, ms: number) => {
    lat.add(ms);
    if (status >= 200 && status < 300) ok++;
    else {
      failed++;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  });
  const result = (await instance) as { errors: number; timeouts: number; duration: number };
  const elapsedS = (performance.now() - started) / 1000;
  return {
    ok,
    failed,
    errors: result.errors + result.timeouts,
    elapsedS,
    lat,
    samples: [...statuses].map(([s, n]) => `HTTP ${s} ×${n}`),
  };
}

/** Runs several HTTP loads at once (one per server) and adds them up. */
export async function runHttpParallel(
  loads: { baseUrl: string; build: () => HttpRequest; connections: number }[],
  duration: number,
): Promise<RunResult> {
  const results = await Promise.all(loads.map((l) => runHttp(l.baseUrl, l.build, duration, l.connections)));
  const lat = new Latencies();
  for (const r of results) lat.merge(r.lat);
  return {
    ok: results.reduce((s, r) => s + r.ok, 0),
    failed: results.reduce((s, r) => s + r.failed, 0),
    errors: results.reduce((s, r) => s + r.errors, 0),
    elapsedS: Math.max(...results.map((r) => r.elapsedS)),
    lat,
    samples: results.flatMap((r) => r.samples),
  };
}

/** Keeps `concurrency` async calls in flight until `duration` seconds have passed. */
async function closedLoop(
  concurrency: number,
  duration: number,
  call: () => Promise<void>,
  describe: (err: unknown) => string,
): Promise<RunResult> {
  const lat = new Latencies();
  let ok = 0;
  let failed = 0;
  const kinds = new Map<string, number>();
  const started = performance.now();
  const end = started + duration * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      try {
        await call();
        ok++;
      } catch (err) {
        failed++;
        const k = describe(err);
        kinds.set(k, (kinds.get(k) ?? 0) + 1);
      }
      lat.add(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return {
    ok,
    failed,
    errors: 0,
    elapsedS: (performance.now() - started) / 1000,
    lat,
    samples: [...kinds].map(([k, n]) => `${k} ×${n}`),
  };
}

/** A gRPC unary method of LoyaltyPos, called with many calls in flight on one channel. */
export async function runGrpc(
  port: number,
  apiKey: string,
  method: "Checkin" | "GetBalance" | "GetCustomer" | "Redeem",
  build: () => Record<string, unknown>,
  duration: number,
  concurrency: number,
): Promise<RunResult> {
  const Client = loyaltyPos();
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.keepalive_time_ms": 60_000,
  }) as any;
  await new Promise<void>((res, rej) => client.waitForReady(Date.now() + 5000, (err?: Error) => (err ? rej(err) : res())));
  const md = new grpc.Metadata();
  md.set("x-api-key", apiKey);
  try {
    return await closedLoop(
      concurrency,
      duration,
      () =>
        new Promise<void>((res, rej) => {
          client[method](build(), md, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null) =>
            err ? rej(err) : res(),
          );
        }),
      (err) => {
        const e = err as grpc.ServiceError;
        return `gRPC ${grpc.status[e.code] ?? e.code}: ${String(e.details ?? e.message).slice(0, 80)}`;
      },
    );
  } finally {
    client.close();
  }
}

/** LoyaltyPos.Checkin over the Connect protocol (JSON, HTTP/1.1 keep-alive). */
export async function runConnectCheckin(
  baseUrl: string,
  apiKey: string,
  build: () => { phone: string; amount: number },
  duration: number,
  concurrency: number,
): Promise<RunResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const client = createClient(
    LoyaltyPos,
    createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, nodeOptions: { agent } }),
  );
  const headers = { "x-api-key": apiKey };
  try {
    return await closedLoop(
      concurrency,
      duration,
      async () => {
        await client.checkin(build(), { headers, timeoutMs: 10_000 });
      },
      (err) => `Connect ${String((err as Error).message).slice(0, 80)}`,
    );
  } finally {
    agent.destroy();
  }
}
