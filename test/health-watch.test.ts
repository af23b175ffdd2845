import { afterAll, beforeAll, expect, test } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import http2 from "node:http2";
import { resolve } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus as Status } from "../gen/grpc/health/v1/health_pb.js";
import { createTestDatabase, TEST_REDIS_URL } from "./support/test-app.js";
import { ROOT, TSX, freePort, processEnv } from "./support/processes.js";

/**
 * grpc.health.v1.Health/Watch as health.proto says, on a spawned service
 * (`src/main.ts`, as `npm start` runs it) and a raw HTTP/2 client: an
 * unknown service gets SERVICE_UNKNOWN and the stream stays open; on
 * SIGTERM every open Watch receives NOT_SERVING and is ended with status
 * OK, and the process finishes its drain at once and exits 0 (it used to
 * wait for its 25 s guard and exit 1).
 */


let child: ChildProcess;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let url: string;
let output = "";
let exited: Promise<{ code: number | null; at: number }>;

beforeAll(async () => {
  db = await createTestDatabase();
  const port = await freePort();
  child = spawn(TSX, ["src/main.ts"], {
    cwd: ROOT,
    env: processEnv({
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      PORT: String(port),
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
    }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  exited = new Promise((resolve) => child.on("exit", (code) => resolve({ code, at: Date.now() })));
  url = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited before it was healthy:\n${output}`);
    if (Date.now() - started > 150_000) throw new Error(`not healthy within 150 s:\n${output}`);
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}, 180_000);

afterAll(async () => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  await db?.drop();
});

interface Watch {
  statuses: Status[];
  trailers?: http2.IncomingHttpHeaders;
  ended: Promise<void>;
  next(count: number): Promise<void>;
}

function envelope(bytes: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.byteLength, 1);
  return Buffer.concat([head, bytes]);
}

function watch(session: http2.ClientHttp2Session, service: string): Watch {
  const req = session.request({ ":method": "POST", ":path": "/grpc.health.v1.Health/Watch", "content-type": "application/grpc", te: "trailers" });
  const w: Watch = { statuses: [], ended: Promise.resolve(), next: async () => undefined };
  let buf = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  req.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
      const len = buf.readUInt32BE(1);
      w.statuses.push(fromBinary(HealthCheckResponseSchema, buf.subarray(5, 5 + len)).status);
      buf = buf.subarray(5 + len);
    }
    wake?.();
  });
  req.on("trailers", (t) => (w.trailers = t));
  w.ended = new Promise((resolve) => req.on("close", () => resolve()));
  w.next = (count) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no status ${count} for "${service}": ${w.statuses}`)), 10_000);
      const check = () => {
        if (w.statuses.length >= count) {
          clearTimeout(timer);
          resolve();
        } else wake = check;
      };
      check();
    });
  req.end(envelope(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service }))));
  return w;
}

test("Watch: SERVICE_UNKNOWN for an unknown service and the stream stays open; SIGTERM sends NOT_SERVING to every Watch, ends them, and the process exits 0 at once", async () => {
  const session = http2.connect(url);
  const unknown = watch(session, "no.such.Service");
  const whole = watch(session, "");
  const pos = watch(session, "loyalty.v1.LoyaltyPos");
  await Promise.all([unknown.next(1), whole.next(1), pos.next(1)]);
  expect(unknown.statuses).toEqual([Status.SERVICE_UNKNOWN]);
  expect(whole.statuses).toEqual([Status.SERVING]);
  expect(pos.statuses).toEqual([Status.SERVING]);
  // Still open: no trailers, no end.
  await new Promise((r) => setTimeout(r, 300));
  expect(unknown.trailers).toBeUndefined();

  const signalled = Date.now();
  child.kill("SIGTERM");
  await Promise.all([unknown.ended, whole.ended, pos.ended]);
  for (const w of [unknown, whole, pos]) {
    expect(w.statuses.at(-1)).toBe(Status.NOT_SERVING);
    expect(w.trailers?.["grpc-status"]).toBe("0");
  }
  const { code, at } = await exited;
  session.destroy();
  expect(code, output).toBe(0);
  expect(at - signalled).toBeLessThan(3_000);
  expect(output).not.toContain("drain timed out");
}, 60_000);
