import { afterAll, beforeAll, expect, test } from "vitest";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import pg from "pg";
import { CheckinRequestSchema, CheckinResponseSchema, type CheckinRequest } from "../gen/loyalty/v1/pos_pb.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { call, fails, loadGrpcStubs, ok } from "./support/grpc.js";
import { posAuth, registerBusiness, type Business } from "./support/rest.js";

/**
 * The gRPC unary lane (src/transport/grpc-unary-lane.ts) on a real server:
 * plain gRPC check-ins answer exactly as before; gzip calls still work (they
 * fall through to Connect); deadlines, bad envelopes, oversized bodies and
 * error metadata follow the gRPC spec; a bad call writes nothing; a client
 * reset does not hurt the server.
 */

let t: TestApp;
let stubs: ReturnType<typeof loadGrpcStubs>;
let session: http2.ClientHttp2Session;

const CUID = /^[a-z][a-z0-9]{7,31}$/;
const CHECKIN = "/loyalty.v1.LoyaltyPos/Checkin";

beforeAll(async () => {
  t = await startTestApp();
  stubs = loadGrpcStubs(`127.0.0.1:${t.port}`);
  session = http2.connect(t.url);
});

afterAll(async () => {
  session?.close();
  stubs?.close();
  await t?.close();
});

const checkinBytes = (req: Partial<CheckinRequest>) => Buffer.from(toBinary(CheckinRequestSchema, create(CheckinRequestSchema, req)));

/** A gRPC length-prefixed message: flag byte, uint32 BE length, bytes. */
function frame(msg: Buffer, opts: { flag?: number; declared?: number } = {}): Buffer {
  const head = Buffer.alloc(5);
  head[0] = opts.flag ?? 0;
  head.writeUInt32BE(opts.declared ?? msg.byteLength, 1);
  return Buffer.concat([head, msg]);
}

interface RawResult {
  status: number;
  message: string | undefined;
  headers: http2.IncomingHttpHeaders;
  trailers?: http2.IncomingHttpHeaders;
  body: Buffer;
  ms: number;
}

/** One gRPC call on the raw HTTP/2 session; the status from the trailers or a trailers-only response. */
function raw(b: Business, headers: Record<string, string>, body: Buffer, path = CHECKIN): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...posAuth(b), ...headers });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    req.on("response", (h) => (head = h));
    req.on("trailers", (h) => (trailers = h));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", reject);
    req.on("end", () => {
      const end = trailers ?? head;
      resolve({ status: Number(end["grpc-status"] ?? -1), message: end["grpc-message"] as string | undefined, headers: head, trailers, body: Buffer.concat(chunks), ms: Date.now() - started });
    });
    req.end(body);
  });
}

/** Rows of the business in customer and ledger_entry. */
async function rowCounts(b: Business) {
  const [c] = await t.sql<{ n: number }>("select count(*)::int as n from customer where business_id = $1", [b.businessId]);
  const [l] = await t.sql<{ n: number }>("select count(*)::int as n from ledger_entry where business_id = $1", [b.businessId]);
  return { customers: c!.n, ledger: l!.n };
}

/**
 * An HTTP/2 proxy in front of the server that records every request (headers
 * and body bytes) and response headers: shows what grpc-js really sent.
 */
async function recordingProxy(target: string) {
  const upstream = http2.connect(target);
  const seen: { headers: http2.IncomingHttpHeaders; body: Buffer; response?: http2.IncomingHttpHeaders }[] = [];
  const server = http2.createServer();
  server.on("stream", (down, headers) => {
    const rec: (typeof seen)[number] = { headers, body: Buffer.alloc(0) };
    seen.push(rec);
    const fwd: http2.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(headers)) if (k !== ":authority" && k !== ":scheme") fwd[k] = v;
    const up = upstream.request(fwd);
    let trailers: http2.OutgoingHttpHeaders = {};
    down.on("data", (c: Buffer) => {
      rec.body = Buffer.concat([rec.body, c]);
      up.write(c);
    });
    down.on("end", () => up.end());
    up.on("response", (h) => {
      rec.response = h;
      const out = { ...h };
      if (h["grpc-status"] !== undefined) return down.respond(out, { endStream: true });
      down.respond(out, { waitForTrailers: true });
      down.once("wantTrailers", () => down.sendTrailers(trailers));
    });
    up.on("data", (c: Buffer) => down.write(c));
    up.on("trailers", (h) => (trailers = { ...h }));
    up.on("end", () => (down.writable ? down.end() : undefined));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => (upstream.close(), server.close(() => resolve()))),
  };
}

/** A grpc-js call with the given deadline; resolves with the status error (or response) and the elapsed time. */
function callWithDeadline(client: grpc.Client, method: string, req: object, md: Record<string, string>, deadlineMs: number) {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  const started = Date.now();
  return new Promise<{ error: grpc.ServiceError | null; response: unknown; ms: number }>((resolve) =>
    (client as any)[method](req, metadata, { deadline: Date.now() + deadlineMs }, (error: grpc.ServiceError | null, response: unknown) =>
      resolve({ error, response, ms: Date.now() - started }),
    ),
  );
}

test("grpc-js Checkin with a deadline: exact response, content-type application/grpc+proto", async () => {
  const b = await registerBusiness(t.url);
  // call() sends a 15 s deadline, so the request carries grpc-timeout.
  const r = await call(stubs.pos, "Checkin", { phone: "+353861234567", amount: 42.99 }, posAuth(b));
  expect(r.error).toBeUndefined();
  expect(r.response).toEqual({ success: true, customerId: expect.stringMatching(CUID), pointsAwarded: 42, totalPoints: 42, rewardThreshold: 100, rewardAvailable: false, checkinId: expect.stringMatching(CUID), availableRewards: [] });
  expect(r.headers.get("content-type")).toEqual(["application/grpc+proto"]);
  const second = await ok(stubs.pos, "Checkin", { customerId: r.response.customerId, amount: 60 }, posAuth(b));
  expect(second).toEqual({ success: true, customerId: r.response.customerId, pointsAwarded: 60, totalPoints: 102, rewardThreshold: 100, rewardAvailable: true, checkinId: expect.stringMatching(CUID), availableRewards: [] });
  // The same on the wire: headers, one message, then trailers with grpc-status 0.
  const wire = await raw(b, {}, frame(checkinBytes({ customerId: r.response.customerId, amount: 1 })));
  expect(Object.fromEntries(Object.entries(wire.headers))).toEqual({ ":status": 200, "content-type": "application/grpc+proto" });
  expect(Object.fromEntries(Object.entries(wire.trailers ?? {}))).toEqual({ "grpc-status": "0" });
  expect(wire.body.readUInt32BE(1)).toBe(wire.body.byteLength - 5);
  expect(fromBinary(CheckinResponseSchema, wire.body.subarray(5))).toMatchObject({ success: true, pointsAwarded: 1, totalPoints: 103, rewardAvailable: true });
  expect(await rowCounts(b)).toEqual({ customers: 1, ledger: 3 });
});

test("grpc-js with gzip compression really sends gzip and is served (by the Connect fallback) with exact values", async () => {
  const b = await registerBusiness(t.url);
  const proxy = await recordingProxy(t.url);
  const Pos = stubs.pos.constructor as new (address: string, creds: grpc.ChannelCredentials, options: object) => grpc.Client;
  // grpc-js compresses every message once an algorithm is set (no size threshold).
  const pos = new Pos(proxy.address, grpc.credentials.createInsecure(), { "grpc.default_compression_algorithm": 2, "grpc.default_compression_level": 2 });
  try {
    const res = await ok(pos, "Checkin", { phone: "+353871234567", amount: 7.5 }, posAuth(b));
    expect(res).toEqual({ success: true, customerId: expect.stringMatching(CUID), pointsAwarded: 7, totalPoints: 7, rewardThreshold: 100, rewardAvailable: false, checkinId: expect.stringMatching(CUID), availableRewards: [] });
    expect(proxy.seen).toHaveLength(1);
    const [sent] = proxy.seen;
    expect(sent!.headers[":path"]).toBe(CHECKIN);
    expect(sent!.headers["grpc-encoding"]).toBe("gzip");
    expect(sent!.body[0]).toBe(1); // compressed-flag set
    expect(sent!.body.readUInt32BE(1)).toBe(sent!.body.byteLength - 5);
    expect(sent!.body.subarray(5, 7)).toEqual(Buffer.from([0x1f, 0x8b])); // gzip magic
    // Connect answered (the lane never sets grpc-encoding on a response).
    expect(sent!.response!["grpc-encoding"]).toBe("gzip");
    expect(await rowCounts(b)).toEqual({ customers: 1, ledger: 1 });
  } finally {
    pos.close();
    await proxy.close();
  }
});

test("deadline: a Checkin stuck on a row lock is DEADLINE_EXCEEDED (4) well under 2 s; grpc-timeout: abc is 3", async () => {
  const b = await registerBusiness(t.url);
  const { customerId } = await ok(stubs.pos, "Checkin", { phone: "+353851234567", amount: 10 }, posAuth(b));
  const lock = new pg.Client({ connectionString: t.databaseUrl });
  await lock.connect();
  try {
    await lock.query("begin");
    expect((await lock.query("select id from customer where id = $1 for update", [customerId])).rows).toEqual([{ id: customerId }]);

    // grpc-js runs its own 300 ms timer too, and it usually fires first.
    const viaStub = await callWithDeadline(stubs.pos, "Checkin", { customerId, amount: 5 }, posAuth(b), 300);
    expect(viaStub.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(viaStub.ms).toBeLessThan(2_000);

    // Raw, without a client-side timer: the server's own deadline answers.
    const viaServer = await raw(b, { "grpc-timeout": "300m" }, frame(checkinBytes({ customerId, amount: 5 })));
    expect({ status: viaServer.status, message: viaServer.message }).toEqual({ status: 4, message: "the operation timed out" });
    expect(viaServer.ms).toBeGreaterThanOrEqual(290);
    expect(viaServer.ms).toBeLessThan(2_000);
  } finally {
    await lock.query("rollback");
    await lock.end();
  }
  // DEADLINE_EXCEEDED does not undo anything: the blocked statements are not
  // cancelled and both check-ins land once the lock is gone (outcome unknown
  // to the client, as gRPC defines it; a retry needs an idempotency-key).
  const ledger = async () => (await t.sql<{ delta: number }>("select delta from ledger_entry where customer_id = $1 order by created_at", [customerId])).map((r) => r.delta);
  for (let i = 0; i < 50 && (await ledger()).length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  expect(await ledger()).toEqual([10, 5, 5]);

  const bad = await raw(b, { "grpc-timeout": "abc" }, frame(checkinBytes({ customerId, amount: 5 })));
  expect({ status: bad.status, message: bad.message }).toEqual({ status: 3, message: "protocol error: invalid grpc timeout value: abc" });

  // Deadlines beyond a timer's range (~24.8 days) are no deadline, as in
  // grpc-js: the call is served, not timed out at once.
  for (const timeout of ["2147483S", "2147484S", "597H", "99999999H"]) {
    const far = await raw(b, { "grpc-timeout": timeout }, frame(checkinBytes({ customerId, amount: 1 })));
    expect({ timeout, status: far.status }).toEqual({ timeout, status: 0 });
  }
  expect((await ledger()).length).toBe(7);
});

test("bad envelopes are INVALID_ARGUMENT (3), an oversized message RESOURCE_EXHAUSTED (8); none writes anything", async () => {
  const b = await registerBusiness(t.url);
  const msg = checkinBytes({ phone: "+353831234567", amount: 12 });
  expect(t.config.bodyLimitBytes).toBe(1_048_576);
  const cases: [string, Buffer, number, string][] = [
    ["two messages", Buffer.concat([frame(msg), frame(msg)]), 3, "protocol error: a unary call carries exactly one message"],
    ["compressed flag, no grpc-encoding", frame(msg, { flag: 1 }), 3, "protocol error: compressed message without grpc-encoding"],
    ["declared length too long", frame(msg, { declared: msg.byteLength + 10 }), 3, `protocol error: promised ${msg.byteLength + 10} bytes in enveloped message, got ${msg.byteLength} bytes`],
    ["4 bytes", Buffer.from([0, 0, 0, 0]), 3, "protocol error: missing or incomplete message"],
    ["1.1 MB phone", frame(checkinBytes({ phone: "1".repeat(1_100_000), amount: 12 })), 8, "message size is larger than configured readMaxBytes 1048576"],
  ];
  for (const [name, body, status, message] of cases) {
    const r = await raw(b, {}, body);
    expect({ name, status: r.status, message: r.message, body: r.body.byteLength }).toEqual({ name, status, message, body: 0 });
  }
  expect(await rowCounts(b)).toEqual({ customers: 0, ledger: 0 });

  // Control: the same message, framed right, is a check-in.
  const good = await raw(b, {}, frame(msg));
  expect(good.status).toBe(0);
  expect(fromBinary(CheckinResponseSchema, good.body.subarray(5))).toMatchObject({ success: true, pointsAwarded: 12, totalPoints: 12 });
  expect(await rowCounts(b)).toEqual({ customers: 1, ledger: 1 });
});

test("errors: missing API key is 16 with the exact message; a reused idempotency-key is 3 without x-loyalty-http-status", async () => {
  const b = await registerBusiness(t.url);
  expect(await fails(stubs.pos, "Checkin", { phone: "+353821234567", amount: 5 })).toEqual({
    code: grpc.status.UNAUTHENTICATED,
    details: "missing API key: send it in the X-API-Key header",
  });

  const md = { ...posAuth(b), "idempotency-key": "lane-key-1" };
  const first = await ok(stubs.pos, "Checkin", { phone: "+353821234567", amount: 5 }, md);
  expect(first).toMatchObject({ pointsAwarded: 5, totalPoints: 5 });
  const reused = await call(stubs.pos, "Checkin", { phone: "+353821234567", amount: 6 }, md);
  expect(reused.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(reused.error?.details).toBe("this Idempotency-Key was already used with a different request");
  expect(reused.error?.metadata.get("x-loyalty-http-status")).toEqual([]);
  // Same on the wire: a trailers-only response without the internal header.
  const wire = await raw(b, { "idempotency-key": "lane-key-1" }, frame(checkinBytes({ phone: "+353821234567", amount: 6 })));
  expect(wire.status).toBe(3);
  expect(wire.trailers).toBeUndefined();
  expect(Object.keys(wire.headers).sort()).toEqual([":status", "content-type", "grpc-message", "grpc-status"]);
  expect(await rowCounts(b)).toEqual({ customers: 1, ledger: 1 });
});

test("grpc-message: '%', ':' and non-ASCII reach the client exactly (percent-encoded per the gRPC spec)", async () => {
  const b = await registerBusiness(t.url);
  // The invalid grpc-timeout error echoes the header. grpc-js lets a call
  // without its own deadline carry grpc-timeout as metadata (printable ASCII only).
  const md = new grpc.Metadata();
  md.set("x-api-key", b.apiKey);
  md.set("grpc-timeout", "100%:x, 50%");
  const err = await new Promise<grpc.ServiceError | null>((resolve) => (stubs.pos as any).Checkin({ phone: "+353811234567", amount: 5 }, md, (e: grpc.ServiceError | null) => resolve(e)));
  expect({ code: err?.code, details: err?.details }).toEqual({ code: 3, details: "protocol error: invalid grpc timeout value: 100%:x, 50%" });

  // Non-ASCII needs a raw header (sent as Latin-1 bytes): UTF-8 percent-encoded, ':' and ' ' as is.
  const r = await raw(b, { "grpc-timeout": "5%é:x" }, frame(checkinBytes({ phone: "+353811234567", amount: 5 })));
  expect(r.message).toBe("protocol error: invalid grpc timeout value: 5%25%C3%A9:x");
  expect(decodeURI(r.message!)).toBe("protocol error: invalid grpc timeout value: 5%é:x"); // what grpc-js does
  expect(await rowCounts(b)).toEqual({ customers: 0, ledger: 0 });
});

test("a stream reset by the client right after sending does not hurt the server", async () => {
  const b = await registerBusiness(t.url);
  for (const [code, timeout] of [[http2.constants.NGHTTP2_CANCEL, undefined], [http2.constants.NGHTTP2_CANCEL, "5S"], [http2.constants.NGHTTP2_INTERNAL_ERROR, "5S"]] as const) {
    const req = session.request({ ":method": "POST", ":path": CHECKIN, "content-type": "application/grpc", te: "trailers", ...posAuth(b), ...(timeout ? { "grpc-timeout": timeout } : {}) });
    req.on("error", () => undefined);
    req.write(frame(checkinBytes({ phone: "+353801234567", amount: 3 })));
    req.close(code);
    await new Promise((resolve) => req.on("close", resolve));
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(session.closed || session.destroyed).toBe(false);
  const after = await ok(stubs.pos, "Checkin", { phone: "+353891234567", amount: 19.99 }, posAuth(b));
  expect(after).toEqual({ success: true, customerId: expect.stringMatching(CUID), pointsAwarded: 19, totalPoints: 19, rewardThreshold: 100, rewardAvailable: false, checkinId: expect.stringMatching(CUID), availableRewards: [] });
  const raw2 = await raw(b, {}, frame(checkinBytes({ customerId: after.customerId, amount: 1 })));
  expect(fromBinary(CheckinResponseSchema, raw2.body.subarray(5))).toMatchObject({ customerId: after.customerId, pointsAwarded: 1, totalPoints: 20 });
});
