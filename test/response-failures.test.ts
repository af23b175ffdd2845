/**
 * Issue 11 §1 (a): every path from a handler to the socket turns a failure
 * into that call's error status and a log line; nothing may become an
 * unhandled rejection (an unhandled rejection fails this vitest run, and
 * ends a real process).
 *
 * The service's own responses always fit their fields now (the dashboard's
 * sums are doubles), so a handler that answers a value its field cannot hold
 * (a bigint in an int32) stands in for the next such bug. It runs behind the real
 * transports — the one-port server, the gRPC unary lane, the Connect plugin
 * (Connect, gRPC-Web, compressed gRPC) and the REST gateway — with the real
 * error interceptor, and is called by real clients on a real port.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Writable } from "node:stream";
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import pino from "pino";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import { compressionGzip, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { BusinessSettings, GetDashboardResponseSchema } from "../gen/loyalty/v1/account_pb.js";
import { createOnePortServer, setStreamLane } from "../src/transport/one-port-server.js";
import { createGrpcUnaryLane } from "../src/transport/grpc-unary-lane.js";
import { registerRestGateway } from "../src/transport/rest-gateway.js";
import { createErrorInterceptor } from "../src/transport/error-interceptor.js";
import { fixConnectErrors } from "../src/transport/upstream-workarounds.js";
import { call, loadGrpcStubs } from "./support/grpc.js";
import { rest } from "./support/rest.js";

const lines: Record<string, unknown>[] = [];
let app: FastifyInstance;
let url: string;
let address: string;

/**
 * Every method of BusinessSettings; getDashboard answers a customer count as
 * a bigint (what node-pg's count(*) would give if parsed as int8 and passed
 * on unconverted), which neither the binary nor the JSON encoder accepts.
 */
function brokenSettings(): ServiceImpl<typeof BusinessSettings> {
  const impl: Record<string, unknown> = {};
  for (const m of BusinessSettings.methods) {
    impl[m.localName] = () => {
      throw new ConnectError("not in this test", Code.Unimplemented);
    };
  }
  impl.getDashboard = () => {
    const res = create(GetDashboardResponseSchema, { pointsIssued: 1 });
    (res as { totalCustomers: unknown }).totalCustomers = 3_000_000_000n;
    return res;
  };
  return impl as unknown as ServiceImpl<typeof BusinessSettings>;
}

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  app = Fastify({ serverFactory: createOnePortServer as never, loggerInstance: pino({ level: "error" }, sink) }) as unknown as FastifyInstance;
  const impl = brokenSettings();
  const impls = new Map<string, object>([[BusinessSettings.typeName, impl]]);
  const interceptors = [createErrorInterceptor(app.log)];
  await app.register(fastifyConnectPlugin, {
    routes: (router: ConnectRouter) => {
      router.service(BusinessSettings, impl);
      fixConnectErrors(router.handlers, app.log);
    },
    interceptors,
    grpc: true,
    grpcWeb: true,
    connect: true,
  });
  registerRestGateway(app, { services: [BusinessSettings], impls, interceptors });
  setStreamLane(app.server, createGrpcUnaryLane({ services: [BusinessSettings], impls, interceptors, readMaxBytes: 1 << 20, isClosing: () => false, log: app.log }));
  app.get("/healthz", async () => ({ status: "ok" }));
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as AddressInfo;
  url = `http://127.0.0.1:${port}`;
  address = `127.0.0.1:${port}`;
});
afterAll(async () => {
  await app?.close();
});

/** The log lines written since `from`, as the operator reads them. */
const linesSince = (from: number) => lines.slice(from);

async function expectAlive() {
  expect((await fetch(`${url}/healthz`)).status).toBe(200);
}

describe("a response its message type cannot hold", () => {
  test("gRPC through the unary lane (grpc-js): INTERNAL, one log line, the process serves on", async () => {
    const from = lines.length;
    const stubs = loadGrpcStubs(address);
    try {
      const r = await call(stubs.settings, "GetDashboard", { days: 1 });
      expect(r.response).toBeUndefined();
      expect(r.error?.code).toBe(13);
      expect(r.error?.details).toBe("internal error");
      // The next call on the same connection is served too.
      const again = await call(stubs.settings, "GetDashboard", { days: 1 });
      expect(again.error?.code).toBe(13);
    } finally {
      stubs.close();
    }
    const logged = linesSince(from).filter((l) => l.msg === "response could not be sent");
    expect(logged).toHaveLength(2);
    expect(logged[0]).toMatchObject({ level: 50, rpc: "loyalty.v1.BusinessSettings/GetDashboard", protocol: "grpc", errType: "Error" });
    // Never the message of the error (it may hold request data) nor a stack.
    expect(JSON.stringify(logged)).not.toContain("3000000000");
    await expectAlive();
  });

  test("REST: 500 in the contract's error shape, one log line", async () => {
    const from = lines.length;
    const r = await rest(url, "GET", "/v1/owner/dashboard?days=1");
    expect(r.status).toBe(500);
    expect(r.body).toEqual({ success: false, error: { code: "internal", message: "internal error" } });
    const logged = linesSince(from).filter((l) => l.msg === "response could not be sent");
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 50, rpc: "loyalty.v1.BusinessSettings/GetDashboard", protocol: "rest", errType: "Error" });
    expect(JSON.stringify(logged)).not.toContain("3000000000");
    await expectAlive();
  });

  const connectTransports = [
    ["Connect, binary", () => createConnectTransport({ baseUrl: url, httpVersion: "1.1" })],
    ["Connect, JSON", () => createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: false })],
    ["gRPC-Web, binary", () => createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" })],
    ["gRPC-Web, JSON", () => createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: false })],
    ["gRPC with gzip (through the Connect plugin)", () => createGrpcTransport({ baseUrl: url, sendCompression: compressionGzip })],
  ] as const;
  test.each(connectTransports)("%s: INTERNAL, a log line, the process serves on", async (_name, transport) => {
    const from = lines.length;
    const settings = createClient(BusinessSettings, transport());
    let err: ConnectError | undefined;
    try {
      await settings.getDashboard({ days: 1 });
    } catch (e) {
      err = ConnectError.from(e);
    }
    expect(err?.code).toBe(Code.Internal);
    expect(err?.rawMessage).toBe("internal error");
    const logged = linesSince(from).filter((l) => l.msg === "response could not be sent");
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 50, rpc: "loyalty.v1.BusinessSettings/GetDashboard" });
    expect(JSON.stringify(logged)).not.toContain("3000000000");
    await expectAlive();
  });
});
