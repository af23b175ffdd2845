import { afterAll, beforeAll, describe, expect, test } from "vitest";
import http2 from "node:http2";
import net from "node:net";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { call, loadGrpcStubs } from "./support/grpc.js";
import { posAuth, registerBusiness, rest, type Business } from "./support/rest.js";
import { Flag, frame, FrameType, goaway, headersFrames, PREFACE, RawH2 } from "./support/h2-frames.js";

/**
 * What one connection can hold (src/transport/one-port-server.ts), on a real
 * server and real sockets: at most 100 concurrent streams, a bounded amount
 * of unfinished request bodies, a deadline for a body that stalls, a few
 * seconds for a new socket to say which protocol it speaks, a closed TCP
 * connection after a GOAWAY for a connection error, and an answer to
 * metadata beyond the header limit. The timeouts are shortened for the test
 * (the server's own figures are in DEFAULT_SERVER_LIMITS); each test asserts
 * the outcome and the kind of answer, and a control that a well-behaved
 * connection is left alone.
 */

const LIMITS = { requestTimeoutMs: 5_000, firstBytesTimeoutMs: 500, quietProbeMs: 300, sessionBodyBytes: 2 * 1024 * 1024 };
const ERR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 };

let t: TestApp;
let b: Business;

beforeAll(async () => {
  t = await startTestApp({ serverLimits: LIMITS });
  b = await registerBusiness(t.url);
});

afterAll(async () => {
  await t?.close();
});

/** Request headers of a REST check-in over h2 (prior knowledge) with a valid API key. */
const restCheckin = (): [string, string][] => [
  [":method", "POST"],
  [":path", "/v1/pos/checkin"],
  [":scheme", "http"],
  [":authority", "localhost"],
  ["content-type", "application/json"],
  ["x-api-key", b.apiKey],
];

async function healthy() {
  const r = await rest(t.url, "GET", "/healthz");
  expect(r.status).toBe(200);
}

describe("streams and headers", () => {
  test("the server advertises 100 concurrent streams and a 16 KiB header list", async () => {
    const session = http2.connect(t.url);
    const settings = await new Promise<http2.Settings>((resolve) => session.once("remoteSettings", resolve));
    session.close();
    expect(settings.maxConcurrentStreams).toBe(100);
    expect(settings.maxHeaderListSize).toBe(16 * 1024);
  });

  test("100 open streams are served; a 101st is a protocol error that ends the connection (GOAWAY, TCP closed)", async () => {
    const c = await RawH2.connect(t.port);
    c.handshake();
    await c.until(() => c.frames.some((f) => f.type === FrameType.SETTINGS && f.flags & Flag.ACK), 2_000, "SETTINGS ACK");
    for (let i = 0; i < 100; i++) c.write(headersFrames(1 + 2 * i, restCheckin(), false));
    await new Promise((r) => setTimeout(r, 300));
    expect(c.frames.filter((f) => f.type === FrameType.RST_STREAM || f.type === FrameType.GOAWAY)).toEqual([]);
    // RFC 9113 §5.1.2 allows a stream error; Node's nghttp2 binding makes it a
    // connection error. Either way the 101st is never served.
    c.write(headersFrames(201, restCheckin(), false));
    await c.until(() => c.closedAfterMs !== undefined, 3_000, "the server closing the connection");
    expect(goaway(c.find(FrameType.GOAWAY)!).lastStream).toBe(199);
    expect(c.frames.some((f) => f.stream === 201)).toBe(false);
    await healthy();
  });

  test("metadata beyond 16 KiB gets RST_STREAM ENHANCE_YOUR_CALM at once (gRPC: RESOURCE_EXHAUSTED), over HTTP/1 a 431", async () => {
    const c = await RawH2.connect(t.port);
    c.handshake();
    await c.until(() => c.frames.some((f) => f.type === FrameType.SETTINGS && f.flags & Flag.ACK), 2_000, "SETTINGS ACK");
    c.write(headersFrames(1, [...restCheckin(), ["x-big", "a".repeat(20_000)]], true));
    await c.until(() => c.find(FrameType.RST_STREAM, 1) !== undefined, 2_000, "RST_STREAM");
    expect(c.find(FrameType.RST_STREAM, 1)!.payload.readUInt32BE(0)).toBe(ERR.ENHANCE_YOUR_CALM);
    c.close();

    const stubs = loadGrpcStubs(`127.0.0.1:${t.port}`);
    const started = Date.now();
    const r = await call(stubs.pos, "GetBalance", { identifier: "+353861234567" }, { ...posAuth(b), "x-big": "b".repeat(20_000) });
    stubs.close();
    expect(r.error?.code).toBe(8); // RESOURCE_EXHAUSTED
    expect(Date.now() - started).toBeLessThan(5_000); // the call's deadline is 15 s

    const h1 = await fetch(`${t.url}/healthz`, { headers: { "x-big": "c".repeat(20_000) } });
    expect(h1.status).toBe(431);
    await healthy();
  });

  test("a header block beyond HPACK's 64 KiB: GOAWAY COMPRESSION_ERROR, then the connection is closed (no hang)", async () => {
    const c = await RawH2.connect(t.port);
    c.handshake();
    c.write(headersFrames(1, [...restCheckin(), ["x-big", "a".repeat(70_000)]], true));
    await c.until(() => c.closedAfterMs !== undefined, 4_000, "the server closing the connection");
    expect(goaway(c.find(FrameType.GOAWAY)!).code).toBe(ERR.COMPRESSION_ERROR);
    await healthy();
  });
});

describe("request bodies", () => {
  test("counting a body does not take it from its reader: Connect and REST over HTTP/2 get every byte", async () => {
    const session = http2.connect(t.url);
    const post = (path: string, body: string) =>
      new Promise<{ status: number; body: string }>((resolve) => {
        const s = session.request({ ":method": "POST", ":path": path, "content-type": "application/json", ...posAuth(b) });
        let text = "";
        let status = 0;
        s.on("response", (h) => (status = Number(h[":status"])));
        s.on("data", (d: Buffer) => (text += d.toString()));
        s.on("close", () => resolve({ status, body: text }));
        s.end(body);
      });
    const connect = await post("/loyalty.v1.LoyaltyPos/Checkin", `{"phone": "+353861230101", "amount": 4}`);
    const restAnswer = await post("/v1/pos/checkin", `{"phone": "+353861230102", "amount": 5}`);
    session.close();
    expect(connect.status).toBe(200);
    expect(JSON.parse(connect.body).pointsAwarded).toBe(4);
    expect(restAnswer.status).toBe(200);
    expect(JSON.parse(restAnswer.body).pointsAwarded).toBe(5);
  });

  test("a connection's unfinished bodies are bounded: the gRPC stream that passes 2 MiB is reset ENHANCE_YOUR_CALM, the others are still served", async () => {
    const session = http2.connect(t.url);
    const part = Buffer.alloc(900 * 1024, 0x20);
    const streams = [0, 1, 2].map(() => session.request({ ":method": "POST", ":path": "/loyalty.v1.LoyaltyPos/Checkin", "content-type": "application/grpc", te: "trailers", ...posAuth(b) }));
    const closed = streams.map((s) => new Promise<number>((resolve) => s.on("close", () => resolve(s.rstCode ?? -1))));
    const statuses = streams.map(
      (s) =>
        new Promise<string | undefined>((resolve) => {
          let status: string | undefined;
          s.on("response", (h) => (status ??= h["grpc-status"] as string | undefined));
          s.on("trailers", (h) => (status = h["grpc-status"] as string));
          s.on("close", () => resolve(status));
        }),
    );
    for (const s of streams) {
      s.on("error", () => undefined);
      s.resume();
    }
    // A message that promises 3 MB: the body is never a valid call.
    streams[0]!.write(Buffer.concat([Buffer.from([0, 0, 0x30, 0, 0]), part]));
    streams[1]!.write(Buffer.concat([Buffer.from([0, 0, 0x30, 0, 0]), part]));
    await new Promise((r) => setTimeout(r, 200));
    streams[2]!.write(Buffer.concat([Buffer.from([0, 0, 0x30, 0, 0]), part]));
    expect(await closed[2]).toBe(ERR.ENHANCE_YOUR_CALM);
    // The first two were kept; ended, they are answered (INVALID_ARGUMENT: the envelope promised more).
    streams[0]!.end();
    streams[1]!.end();
    expect(await Promise.all([statuses[0], statuses[1]])).toEqual(["3", "3"]);
    expect(await Promise.all([closed[0], closed[1]])).toEqual([ERR.NO_ERROR, ERR.NO_ERROR]);
    session.close();
    await healthy();
  });

  test("a body that stalls is answered 408 (REST, Connect) or DEADLINE_EXCEEDED (gRPC) at its deadline, and nothing is written", async () => {
    const session = http2.connect(t.url);
    const stalled = (path: string, contentType: string, body: Buffer | string) =>
      new Promise<{ headers: http2.IncomingHttpHeaders; body: string; rst: number; ms: number }>((resolve) => {
        const started = Date.now();
        const s = session.request({ ":method": "POST", ":path": path, "content-type": contentType, ...posAuth(b) });
        let headers: http2.IncomingHttpHeaders = {};
        let text = "";
        s.on("response", (h) => (headers = h));
        s.on("data", (d: Buffer) => (text += d.toString()));
        s.on("error", () => undefined);
        s.on("close", () => resolve({ headers, body: text, rst: s.rstCode ?? -1, ms: Date.now() - started }));
        s.write(body);
      });
    const prefix = `{"phone": "+353861239999", "amount": 2`; // valid JSON once cut here: it must never be taken as the body
    const [restAnswer, connectAnswer, grpcAnswer] = await Promise.all([
      stalled("/v1/pos/checkin", "application/json", prefix),
      stalled("/loyalty.v1.LoyaltyPos/Checkin", "application/json", prefix),
      stalled("/loyalty.v1.LoyaltyPos/Checkin", "application/grpc", Buffer.from([0, 0, 0, 0, 40, 1, 2])),
    ]);
    session.close();
    expect(restAnswer.headers[":status"]).toBe(408);
    expect(JSON.parse(restAnswer.body)).toEqual({ success: false, error: { code: "deadline_exceeded", message: "request body not received within 5 s" } });
    expect(connectAnswer.headers[":status"]).toBe(408);
    expect(JSON.parse(connectAnswer.body)).toEqual({ code: "deadline_exceeded", message: "request body not received within 5 s" });
    expect(grpcAnswer.headers[":status"]).toBe(200);
    expect(grpcAnswer.headers["grpc-status"]).toBe("4");
    expect(grpcAnswer.headers["grpc-message"]).toBe("request body not received within 5 s");
    for (const a of [restAnswer, connectAnswer, grpcAnswer]) {
      expect(a.rst).toBe(ERR.NO_ERROR);
      expect(a.ms).toBeGreaterThanOrEqual(4_900);
      expect(a.ms).toBeLessThan(8_000);
    }
    expect(await t.sql("select 1 from customer where phone = '+353861239999'")).toEqual([]);
    await healthy();
  });

  test("HTTP/1: a request whose body stalls gets 408 and its connection is closed", async () => {
    const socket = net.connect(t.port, "127.0.0.1");
    let text = "";
    socket.on("data", (d) => (text += d.toString()));
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.write(`POST /v1/pos/checkin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: ${b.apiKey}\r\nContent-Length: 100\r\n\r\n{"phone": "+353861239998", "amount": 2`);
    await closed;
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(await t.sql("select 1 from customer where phone = '+353861239998'")).toEqual([]);
  });
});

describe("sockets that do not say what they speak", () => {
  async function openFor(write: (s: net.Socket) => void) {
    const started = Date.now();
    const socket = net.connect(t.port, "127.0.0.1");
    socket.on("error", () => undefined);
    socket.resume(); // read what the server sends (a 408, its SETTINGS), so its FIN is seen
    await new Promise((r) => socket.once("connect", r));
    write(socket);
    await new Promise<void>((resolve) => socket.on("close", () => resolve()));
    return Date.now() - started;
  }

  const silent: [string, (s: net.Socket) => void][] = [
    ["nothing", () => undefined],
    ["a lone 'P'", (s) => s.write("P")],
    ["the HTTP/2 preface without SETTINGS", (s) => s.write(PREFACE)],
    ["half an HTTP/1 request line", (s) => s.write("GET /healthz HT")],
  ];
  test.each(silent)("%s: closed after the first-bytes timeout", async (_name, write) => {
    const ms = await openFor(write);
    expect(ms).toBeGreaterThanOrEqual(LIMITS.firstBytesTimeoutMs - 50);
    expect(ms).toBeLessThan(LIMITS.firstBytesTimeoutMs + 2_500);
  });

  test("control: an HTTP/2 client that sent its SETTINGS and answers PINGs stays connected", async () => {
    const session = http2.connect(t.url);
    await new Promise((r) => session.once("remoteSettings", r));
    await new Promise((r) => setTimeout(r, 4 * Math.max(LIMITS.firstBytesTimeoutMs, LIMITS.quietProbeMs)));
    expect(session.closed || session.destroyed).toBe(false);
    const status = await new Promise<number>((resolve) => {
      const s = session.request({ ":path": "/healthz" });
      s.on("response", (h) => resolve(Number(h[":status"])));
      s.resume();
      s.end();
    });
    expect(status).toBe(200);
    session.close();
  });
});

describe("GOAWAY for a connection error closes the TCP connection", () => {
  const cases: [string, Buffer, number][] = [
    ["bad HPACK", frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff])), ERR.COMPRESSION_ERROR],
    ["DATA on stream 0", frame(FrameType.DATA, 0, 0, Buffer.from("hello")), ERR.PROTOCOL_ERROR],
    ["a frame larger than SETTINGS_MAX_FRAME_SIZE", frame(FrameType.DATA, 0, 1, Buffer.alloc(20_000)), ERR.FRAME_SIZE_ERROR],
  ];
  test.each(cases)("%s", async (_name, bytes, code) => {
    const c = await RawH2.connect(t.port);
    c.handshake().write(bytes);
    await c.until(() => c.closedAfterMs !== undefined, 4_000, "the server closing the connection");
    expect(goaway(c.find(FrameType.GOAWAY)!).code).toBe(code);
    expect(c.closedAfterMs!).toBeLessThan(4 * LIMITS.quietProbeMs + 1_000);
    await healthy();
  });
});
