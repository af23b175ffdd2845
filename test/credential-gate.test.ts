import { afterAll, beforeAll, describe, expect, test } from "vitest";
import http2 from "node:http2";
import net from "node:net";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, type Business } from "./support/rest.js";

/**
 * Credentials are checked when the headers arrive (src/transport/credential-gate.ts):
 * a call with no, a malformed or an unknown API key, or no / a malformed
 * owner token, is answered at once — while its body is still open — over
 * the gRPC lane, REST (HTTP/2 and HTTP/1), Connect and gRPC-Web, and the
 * HTTP/2 stream is reset so the client stops sending. A valid credential
 * is left to send its body and is served.
 */

let t: TestApp;
let b: Business;
let session: http2.ClientHttp2Session;

beforeAll(async () => {
  t = await startTestApp();
  b = await registerBusiness(t.url);
  session = http2.connect(t.url);
});

afterAll(async () => {
  session?.destroy();
  await t?.close();
});

interface Early {
  headers: http2.IncomingHttpHeaders;
  body: string;
  ms: number;
  rst: number | undefined;
}

/** Sends headers and the start of a body, never ends it; resolves on the first answer (or after `wait` ms with none). */
function openBody(path: string, headers: Record<string, string>, wait = 1_500): Promise<Early | undefined> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = session.request({ ":method": "POST", ":path": path, ...headers });
    let head: http2.IncomingHttpHeaders | undefined;
    let body = "";
    s.on("response", (h) => (head = h));
    s.on("data", (d: Buffer) => (body += d.toString()));
    s.on("error", () => undefined);
    const timer = setTimeout(() => {
      s.close(http2.constants.NGHTTP2_CANCEL);
      resolve(undefined);
    }, wait);
    // The answer is complete at its END_STREAM; over the lane the stream is
    // also reset at once (rst), over Fastify the reset may follow.
    const done = () => {
      clearTimeout(timer);
      if (head) resolve({ headers: head, body, ms: Date.now() - started, rst: s.closed ? s.rstCode : undefined });
    };
    s.on("end", () => setImmediate(done));
    s.on("close", done);
    s.write(Buffer.alloc(64 * 1024, 0x20));
  });
}

const GRPC = { "content-type": "application/grpc", te: "trailers" };
const UNKNOWN_KEY = "loy_" + "Z".repeat(32);

describe("the gRPC lane", () => {
  const cases: [string, Record<string, string>, string][] = [
    ["no API key", {}, "missing API key: send it in the X-API-Key header"],
    ["a malformed API key", { "x-api-key": "loy_short" }, "malformed API key"],
    ["an unknown API key", { "x-api-key": UNKNOWN_KEY }, "invalid or revoked API key"],
  ];
  test.each(cases)("%s: UNAUTHENTICATED while the body is open, stream reset NO_ERROR", async (_name, creds, message) => {
    const r = await openBody("/loyalty.v1.LoyaltyPos/Checkin", { ...GRPC, ...creds });
    expect(r).toBeDefined();
    expect(r!.headers[":status"]).toBe(200);
    expect(r!.headers["content-type"]).toBe("application/grpc+proto");
    expect(r!.headers["grpc-status"]).toBe("16");
    expect(decodeURIComponent(String(r!.headers["grpc-message"]))).toBe(message);
    expect(r!.rst).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(r!.ms).toBeLessThan(1_000);
  });

  test("an owner method without a token: UNAUTHENTICATED at once", async () => {
    const r = await openBody("/loyalty.v1.CustomerAdmin/ListCustomers", { ...GRPC });
    expect(r!.headers["grpc-status"]).toBe("16");
    expect(decodeURIComponent(String(r!.headers["grpc-message"]))).toBe("missing owner token: send Authorization: Bearer <token>");
  });

  test("control: a valid key is not answered before its body ends", async () => {
    expect(await openBody("/loyalty.v1.LoyaltyPos/Checkin", { ...GRPC, ...posAuth(b) }, 700)).toBeUndefined();
  });
});

describe("REST, Connect and gRPC-Web (Fastify's onRequest, before the body)", () => {
  test("REST over HTTP/2: no key, a malformed key, an unknown key → 401 JSON at once", async () => {
    for (const [creds, message] of [
      [{}, "missing API key: send it in the X-API-Key header"],
      [{ "x-api-key": "nope" }, "malformed API key"],
      [{ "x-api-key": UNKNOWN_KEY }, "invalid or revoked API key"],
    ] as [Record<string, string>, string][]) {
      const r = await openBody("/v1/pos/checkin", { "content-type": "application/json", ...creds });
      expect(r!.headers[":status"]).toBe(401);
      expect(JSON.parse(r!.body)).toEqual({ success: false, error: { code: "unauthenticated", message } });
      expect(r!.ms).toBeLessThan(1_000);
    }
  });

  test("REST owner route: no token, a token that is not a JWT → 401 at once", async () => {
    const none = await openBody("/v1/owner/customers", { "content-type": "application/json" });
    expect(none!.headers[":status"]).toBe(401);
    expect(JSON.parse(none!.body).error.message).toBe("missing owner token: send Authorization: Bearer <token>");
    const bad = await openBody("/v1/owner/customers", { "content-type": "application/json", authorization: "Bearer not-a-jwt" });
    expect(bad!.headers[":status"]).toBe(401);
    expect(JSON.parse(bad!.body).error.message).toBe("invalid or expired token");
  });

  test("Connect: 401 with Connect's error body; gRPC-Web: status 16 in the headers", async () => {
    const connect = await openBody("/loyalty.v1.LoyaltyPos/Checkin", { "content-type": "application/json" });
    expect(connect!.headers[":status"]).toBe(401);
    expect(JSON.parse(connect!.body)).toEqual({ code: "unauthenticated", message: "missing API key: send it in the X-API-Key header" });
    const web = await openBody("/loyalty.v1.LoyaltyPos/Checkin", { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", "x-api-key": UNKNOWN_KEY });
    expect(web!.headers[":status"]).toBe(200);
    expect(web!.headers["grpc-status"]).toBe("16");
  });

  test("REST over HTTP/1: 401 before the promised body has come", async () => {
    const socket = net.connect(t.port, "127.0.0.1");
    let text = "";
    const answered = new Promise<void>((resolve) =>
      socket.on("data", (d) => {
        text += d.toString();
        if (text.includes("\r\n\r\n{")) resolve();
      }),
    );
    socket.write("POST /v1/pos/checkin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{");
    await answered;
    socket.destroy();
    expect(text).toMatch(/^HTTP\/1\.1 401 /);
    expect(text).toContain('{"success":false,"error":{"code":"unauthenticated","message":"missing API key: send it in the X-API-Key header"}}');
  });

  test("control: valid credentials are served as before", async () => {
    const r = await fetch(`${t.url}/v1/pos/checkin`, { method: "POST", headers: { "content-type": "application/json", ...posAuth(b) }, body: JSON.stringify({ phone: "+353861234500", amount: 3 }) });
    expect(r.status).toBe(200);
    expect((await r.json()).pointsAwarded).toBe(3);
    const list = await fetch(`${t.url}/v1/owner/customers`, { headers: ownerAuth(b) });
    expect(list.status).toBe(200);
  });
});
