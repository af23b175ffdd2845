import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { execFile } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, symlink } from "node:fs/promises";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { LoyaltyPos } from "../gen/loyalty/v1/pos_pb.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest } from "./support/rest.js";
import { fails, loadGrpcStubs, ok } from "./support/grpc.js";

/**
 * The platform under every endpoint: health, readiness, metrics, one port
 * for HTTP/1.1, h2c, gRPC and Connect, `buf curl`, graceful shutdown, and
 * the generated code and proto lint.
 */

const run = promisify(execFile);
const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const BIN = join(ROOT, "node_modules/.bin");
const BUF = join(BIN, "buf");

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

/** One HTTP/2 (h2c, prior knowledge) request; resolves status, headers and body. */
function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: string }> {
  return new Promise((resolveReq, reject) => {
    const req = session.request(headers);
    let data = "";
    let head: http2.IncomingHttpHeaders = {};
    req.setEncoding("utf8");
    req.on("response", (h) => (head = h));
    req.on("data", (chunk: string) => (data += chunk));
    req.on("end", () => resolveReq({ status: Number(head[":status"]), headers: head, body: data }));
    req.on("error", reject);
    req.end(body);
  });
}

/** The samples of loyalty_rpc_requests_total, as label sets with their values. */
async function rpcCounters(): Promise<{ labels: Record<string, string>; value: number }[]> {
  const text = await (await fetch(`${t.url}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith("loyalty_rpc_requests_total{"))
    .map((line) => {
      const [, labelText, value] = /^loyalty_rpc_requests_total\{(.*)\} (\S+)$/.exec(line)!;
      const labels = Object.fromEntries([...labelText!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
      return { labels, value: Number(value) };
    });
}

function count(samples: Awaited<ReturnType<typeof rpcCounters>>, labels: Record<string, string>): number {
  return samples
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

describe("health and readiness", () => {
  test("GET /healthz is 200 {status: ok}", async () => {
    const r = await rest(t.url, "GET", "/healthz");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^application\/json(; charset=utf-8)?$/);
    expect(r.body).toEqual({ status: "ok" });
  });

  test("GET /readyz is 200 with the database and Redis up", async () => {
    const r = await rest(t.url, "GET", "/readyz");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: "ready", database: "up", redis: "up" });
  });

  test("grpc.health.v1.Health/Check over grpc-js is SERVING", async () => {
    const stubs = loadGrpcStubs(`127.0.0.1:${t.port}`);
    try {
      expect(await ok(stubs.health, "Check", {})).toEqual({ status: "SERVING" });
    } finally {
      stubs.close();
    }
  });

  test("unknown routes are 404 in the contract's error shape", async () => {
    const r = await rest(t.url, "GET", "/no/such/route");
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ success: false, error: { code: "not_found", message: "route not found" } });
  });
});

describe("with Redis unreachable", () => {
  let degraded: TestApp;
  beforeAll(async () => {
    // Same database as the main app: only the Redis URL differs (nothing listens on port 1).
    degraded = await startTestApp({ redisUrl: "redis://127.0.0.1:1", databaseUrl: t.databaseUrl });
  });
  afterAll(async () => {
    await degraded?.close();
  });

  test("/readyz says degraded (still 200: PostgreSQL is the guarantee)", async () => {
    const r = await rest(degraded.url, "GET", "/readyz");
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: "degraded", database: "up", redis: "down" });
  });

  test("POS and owner calls still work, promptly", async () => {
    const started = Date.now();
    const b = await registerBusiness(degraded.url);
    const checkin = await rest(degraded.url, "POST", "/v1/pos/checkin", {
      body: { phone: "+353123456789", amount: 120 },
      headers: posAuth(b),
    });
    expect(checkin.status).toBe(200);
    expect(checkin.body).toMatchObject({ success: true, pointsAwarded: 120, totalPoints: 120, rewardAvailable: true });
    const redeem = await rest(degraded.url, "POST", "/v1/pos/redeem", {
      body: { customerId: checkin.body.customerId, points: 100 },
      headers: posAuth(b),
    });
    expect(redeem.status).toBe(200);
    expect(redeem.body).toMatchObject({ success: true, pointsRedeemed: 100, remainingPoints: 20 });
    const list = await rest(degraded.url, "GET", "/v1/owner/customers", { headers: ownerAuth(b) });
    expect(list.status).toBe(200);
    expect(list.body.pagination).toEqual({ page: 1, limit: 20, total: 1 });
    const login = await rest(degraded.url, "POST", "/v1/auth/login", { body: { email: b.email, password: b.password } });
    expect(login.status).toBe(200);
    // The key revoked on this instance is refused at once (no stale cache to fall back on).
    expect((await rest(degraded.url, "DELETE", `/v1/owner/api-keys/${b.apiKeyId}`, { headers: ownerAuth(b) })).status).toBe(200);
    expect((await rest(degraded.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: posAuth(b) })).status).toBe(401);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  test("grpc.health.v1.Health/Check is still SERVING", async () => {
    const stubs = loadGrpcStubs(`127.0.0.1:${degraded.port}`);
    try {
      expect(await ok(stubs.health, "Check", {})).toEqual({ status: "SERVING" });
    } finally {
      stubs.close();
    }
  });
});

describe("metrics", () => {
  test("loyalty_rpc_requests_total counts one call each over REST, gRPC and Connect, by protocol", async () => {
    const b = await registerBusiness(t.url);
    await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353123456789", amount: 10 }, headers: posAuth(b) });
    const before = await rpcCounters();
    const labels = { service: "loyalty.v1.LoyaltyPos", method: "GetBalance", code: "ok" };

    const r = await rest(t.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: posAuth(b) });
    expect(r.status).toBe(200);
    const stubs = loadGrpcStubs(`127.0.0.1:${t.port}`);
    try {
      expect(await ok(stubs.pos, "GetBalance", { identifier: "+353123456789" }, posAuth(b))).toMatchObject({ totalPoints: 10 });
      expect((await fails(stubs.pos, "GetBalance", { identifier: "+353123456789" })).code).toBe(16);
    } finally {
      stubs.close();
    }
    const connect = createClient(LoyaltyPos, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }));
    expect((await connect.getBalance({ identifier: "+353123456789" }, { headers: posAuth(b) })).totalPoints).toBe(10);

    const after = await rpcCounters();
    for (const protocol of ["rest", "grpc", "connect"]) {
      expect(count(after, { ...labels, protocol }) - count(before, { ...labels, protocol }), protocol).toBe(1);
    }
    const refused = { service: "loyalty.v1.LoyaltyPos", method: "GetBalance", protocol: "grpc", code: "unauthenticated" };
    expect(count(after, refused) - count(before, refused)).toBe(1);

    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain("# TYPE loyalty_rpc_requests_total counter");
    expect(text).toContain("# TYPE loyalty_rpc_duration_seconds histogram");
    expect(text).toMatch(/loyalty_rpc_duration_seconds_count\{service="loyalty\.v1\.LoyaltyPos",method="GetBalance",protocol="grpc"\} \d+/);
  });
});

describe("one port", () => {
  test("HTTP/1.1, h2c with prior knowledge, gRPC and Connect all answer on the same port", async () => {
    const b = await registerBusiness(t.url);
    await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353123456789", amount: 7 }, headers: posAuth(b) });

    // HTTP/1.1
    const h1 = await new Promise<{ status: number; version: string; body: string }>((done, reject) => {
      http
        .get({ host: "127.0.0.1", port: t.port, path: "/healthz" }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (body += c));
          res.on("end", () => done({ status: res.statusCode!, version: res.httpVersion, body }));
        })
        .on("error", reject);
    });
    expect(h1).toEqual({ status: 200, version: "1.1", body: '{"status":"ok"}' });

    // h2c, prior knowledge: health and a REST route.
    const session = http2.connect(`http://127.0.0.1:${t.port}`);
    try {
      const health = await h2Request(session, { ":method": "GET", ":path": "/healthz" });
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toEqual({ status: "ok" });
      const balance = await h2Request(session, { ":method": "GET", ":path": "/v1/pos/balance/%2B353123456789", ...posAuth(b) });
      expect(balance.status).toBe(200);
      expect(balance.headers["content-type"]).toMatch(/^application\/json(; charset=utf-8)?$/);
      expect(JSON.parse(balance.body)).toMatchObject({ totalPoints: 7 });
    } finally {
      session.close();
    }

    // gRPC (grpc-js, insecure)
    const stubs = loadGrpcStubs(`127.0.0.1:${t.port}`);
    try {
      expect(await ok(stubs.pos, "GetBalance", { identifier: "+353123456789" }, posAuth(b))).toMatchObject({ totalPoints: 7 });
    } finally {
      stubs.close();
    }

    // Connect over HTTP/1.1 and over HTTP/2
    for (const httpVersion of ["1.1", "2"] as const) {
      const client = createClient(LoyaltyPos, createConnectTransport({ baseUrl: t.url, httpVersion }));
      const res = await client.getBalance({ identifier: "+353123456789" }, { headers: posAuth(b) });
      expect(res.totalPoints, httpVersion).toBe(7);
    }
  });

  test("buf curl --protocol grpc --http2-prior-knowledge calls grpc.health.v1.Health/Check", async () => {
    const { stdout } = await run(
      BUF,
      [
        "curl",
        "--protocol", "grpc",
        "--http2-prior-knowledge",
        "--schema", "proto",
        "--data", "{}",
        `http://127.0.0.1:${t.port}/grpc.health.v1.Health/Check`,
      ],
      { cwd: ROOT, timeout: 30_000 },
    );
    expect(JSON.parse(stdout)).toEqual({ status: "SERVING" });
  });

  test("buf curl calls LoyaltyPos over gRPC and Connect with the API key header", async () => {
    const b = await registerBusiness(t.url);
    await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353123456789", amount: 3 }, headers: posAuth(b) });
    const call = (protocol: string, extra: string[]) =>
      run(
        BUF,
        [
          "curl",
          "--protocol", protocol,
          ...extra,
          "--schema", "proto",
          "-H", `x-api-key: ${b.apiKey}`,
          "--data", '{"identifier":"+353123456789"}',
          `http://127.0.0.1:${t.port}/loyalty.v1.LoyaltyPos/GetBalance`,
        ],
        { cwd: ROOT, timeout: 30_000 },
      );
    const grpcOut = JSON.parse((await call("grpc", ["--http2-prior-knowledge"])).stdout);
    expect(grpcOut).toEqual({ customerId: expect.any(String), totalPoints: 3 });
    const connectOut = JSON.parse((await call("connect", [])).stdout);
    expect(connectOut).toEqual(grpcOut);
  });
});

describe("graceful shutdown", () => {
  test("close() drains requests in flight on HTTP/1.1 and h2, ignores idle keep-alive connections, and is quick", async () => {
    // A second instance on the same database, closed by this test.
    const s = await startTestApp({ databaseUrl: t.databaseUrl });
    const b = await registerBusiness(t.url);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const session = http2.connect(`http://127.0.0.1:${s.port}`);
    try {
      // Idle keep-alive connections on both protocols.
      const idle = await new Promise<number>((done, reject) => {
        http.get({ host: "127.0.0.1", port: s.port, path: "/healthz", agent }, (res) => {
          res.resume();
          res.on("end", () => done(res.statusCode!));
        }).on("error", reject);
      });
      expect(idle).toBe(200);
      expect((await h2Request(session, { ":method": "GET", ":path": "/healthz" })).status).toBe(200);

      // Requests in flight: headers and half of the body sent before close().
      const h1Body = JSON.stringify({ phone: "+353861000001", amount: 11 });
      const h1Done = new Promise<{ status: number; body: string }>((done, reject) => {
        const req = http.request(
          {
            host: "127.0.0.1",
            port: s.port,
            method: "POST",
            path: "/v1/pos/checkin",
            agent: false,
            headers: { "content-type": "application/json", "content-length": Buffer.byteLength(h1Body), ...posAuth(b) },
          },
          (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (body += c));
            res.on("end", () => done({ status: res.statusCode!, body }));
          },
        );
        req.on("error", reject);
        req.write(h1Body.slice(0, 10));
        setTimeout(() => req.end(h1Body.slice(10)), 300);
      });
      const h2Body = JSON.stringify({ phone: "+353861000002", amount: 22 });
      const h2Stream = session.request({ ":method": "POST", ":path": "/v1/pos/checkin", "content-type": "application/json", ...posAuth(b) });
      const h2Done = new Promise<{ status: number; body: string }>((done, reject) => {
        let status = 0;
        let body = "";
        h2Stream.setEncoding("utf8");
        h2Stream.on("response", (h) => (status = Number(h[":status"])));
        h2Stream.on("data", (c: string) => (body += c));
        h2Stream.on("end", () => done({ status, body }));
        h2Stream.on("error", reject);
      });
      h2Stream.write(h2Body.slice(0, 10));
      await new Promise((r) => setTimeout(r, 100)); // let both requests reach the server

      const started = Date.now();
      let closedAt = 0;
      const closing = s.app.close().then(() => {
        closedAt = Date.now();
      });
      setTimeout(() => h2Stream.end(h2Body.slice(10)), 300);

      const [r1, r2] = await Promise.all([h1Done, h2Done]);
      await closing;
      const elapsed = closedAt - started;
      expect(r1.status).toBe(200);
      expect(JSON.parse(r1.body)).toMatchObject({ success: true, pointsAwarded: 11, totalPoints: 11 });
      expect(r2.status).toBe(200);
      expect(JSON.parse(r2.body)).toMatchObject({ success: true, pointsAwarded: 22, totalPoints: 22 });
      // The bodies' second halves were held back 300 ms after close() began.
      console.log(`graceful shutdown: close() resolved after ${elapsed} ms`);
      expect(elapsed).toBeGreaterThanOrEqual(290);
      // Idle keep-alive sockets left open would hold close() for seconds.
      expect(elapsed).toBeLessThan(2000);

      // Closed: new connections are refused.
      const refused = await new Promise<string>((done) => {
        const sock = net.connect(s.port, "127.0.0.1");
        sock.on("connect", () => {
          sock.destroy();
          done("connected");
        });
        sock.on("error", (e: NodeJS.ErrnoException) => done(e.code ?? "error"));
      });
      expect(refused).toBe("ECONNREFUSED");
    } finally {
      agent.destroy();
      session.destroy();
      await s.close();
    }
  });
});

describe("the proto contract", () => {
  test("buf lint passes", async () => {
    const { stdout, stderr } = await run(BUF, ["lint"], { cwd: ROOT, timeout: 60_000 });
    expect(stdout + stderr).toBe("");
  });

  test("gen/ is what buf generate produces from proto/ today, byte for byte", async () => {
    const dir = await mkdtemp(join(tmpdir(), "lp-gen-"));
    try {
      for (const f of ["proto", "buf.yaml", "buf.gen.yaml", "buf.gen.openapi.yaml"]) await cp(join(ROOT, f), join(dir, f), { recursive: true });
      // The OpenAPI step runs this repository's plugin (scripts/protoc-gen-openapi.ts) with its tsx.
      for (const f of ["node_modules", "scripts"]) await symlink(join(ROOT, f), join(dir, f));
      const env = { ...process.env, PATH: `${BIN}:${process.env.PATH}` };
      await run(BUF, ["generate"], { cwd: dir, timeout: 90_000, env });
      await run(BUF, ["generate", "--template", "buf.gen.openapi.yaml"], { cwd: dir, timeout: 90_000, env });
      const files = async (root: string) =>
        (await readdir(root, { recursive: true, withFileTypes: true }))
          .filter((e) => e.isFile())
          .map((e) => relative(root, join(e.parentPath, e.name)))
          .sort();
      const expected = await files(join(dir, "gen"));
      expect(expected).toContain("openapi.ts");
      expect(await files(join(ROOT, "gen"))).toEqual(expected);
      for (const f of expected) {
        const fresh = await readFile(join(dir, "gen", f), "utf8");
        const committed = await readFile(join(ROOT, "gen", f), "utf8");
        expect(committed, `gen/${f} is out of date: run npm run generate`).toBe(fresh);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
