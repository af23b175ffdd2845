import { afterAll, beforeAll, describe, expect, test } from "vitest";
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { chromium } from "playwright-core";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { PROTO_DIR } from "./support/grpc.js";
import { posAuth, registerBusiness, type Business } from "./support/rest.js";
import { DOCS_CSP } from "../src/transport/http-hooks.js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { GetBalanceRequestSchema, GetBalanceResponseSchema } from "../gen/loyalty/v1/pos_pb.js";

/**
 * gRPC and HTTP edges as the specs say (issue 11, item 7): an unknown gRPC
 * method or service is UNIMPLEMENTED (HTTP 200, application/grpc,
 * grpc-status 12) for grpc-js and a raw HTTP/2 client; a 405 carries Allow;
 * Connect and gRPC-Web answers carry REST's security headers; /docs has a
 * CSP that allows only itself and Swagger UI still renders under it.
 */

let t: TestApp;
let b: Business;

beforeAll(async () => {
  t = await startTestApp();
  b = await registerBusiness(t.url);
});

afterAll(async () => {
  await t?.close();
});

const SECURITY = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "strict-transport-security": "max-age=31536000; includeSubDomains",
};

describe("unknown gRPC methods", () => {
  test("grpc-js: an unknown method of a known service and an unknown service are UNIMPLEMENTED (12)", async () => {
    const client = new grpc.Client(`127.0.0.1:${t.port}`, grpc.credentials.createInsecure());
    const unary = (path: string) =>
      new Promise<grpc.ServiceError>((resolve) => {
        client.makeUnaryRequest(path, (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err) => resolve(err!));
      });
    const [method, service] = await Promise.all([unary("/loyalty.v1.LoyaltyPos/NoSuchMethod"), unary("/no.such.Service/Method")]);
    client.close();
    expect(method.code, method.details).toBe(grpc.status.UNIMPLEMENTED);
    expect(method.details).toBe("unknown method /loyalty.v1.LoyaltyPos/NoSuchMethod");
    expect(service.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(service.details).toBe("unknown method /no.such.Service/Method");
    expect(PROTO_DIR.length).toBeGreaterThan(0);
  });

  test("raw HTTP/2: HTTP 200, application/grpc, grpc-status 12, no JSON body; gRPC-Web the same in its headers", async () => {
    const session = http2.connect(t.url);
    const ask = (contentType: string) =>
      new Promise<{ headers: http2.IncomingHttpHeaders; body: string }>((resolve) => {
        const s = session.request({ ":method": "POST", ":path": "/loyalty.v1.LoyaltyPos/Nope", "content-type": contentType, te: "trailers" });
        let headers: http2.IncomingHttpHeaders = {};
        let body = "";
        s.on("response", (h) => (headers = h));
        s.on("data", (d: Buffer) => (body += d.toString()));
        s.on("close", () => resolve({ headers, body }));
        s.end(Buffer.alloc(5));
      });
    const [g, web] = await Promise.all([ask("application/grpc"), ask("application/grpc-web+proto")]);
    session.close();
    expect(g.headers[":status"]).toBe(200);
    expect(g.headers["content-type"]).toBe("application/grpc+proto");
    expect(g.headers["grpc-status"]).toBe("12");
    expect(g.body).toBe("");
    expect(web.headers[":status"]).toBe(200);
    expect(web.headers["content-type"]).toBe("application/grpc-web+proto");
    expect(web.headers["grpc-status"]).toBe("12");
  });
});

describe("405 and Allow", () => {
  test("a procedure called with GET: 405, Allow: POST", async () => {
    const r = await fetch(`${t.url}/loyalty.v1.LoyaltyPos/Checkin`);
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("POST");
  });

  test("a REST path with another method: 405, Allow lists its methods, the contract's error body", async () => {
    const r = await fetch(`${t.url}/v1/pos/checkin`, { method: "DELETE", headers: posAuth(b) });
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("POST");
    expect(await r.json()).toEqual({ success: false, error: { code: "unimplemented", message: "HTTP method DELETE is not allowed on /v1/pos/checkin: use POST" } });
    const c = await fetch(`${t.url}/v1/owner/customers/abc`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(c.status).toBe(405);
    expect(c.headers.get("allow")).toBe("DELETE, GET, HEAD, PATCH, PUT");
    const unknown = await fetch(`${t.url}/v1/no/such`, { method: "DELETE" });
    expect(unknown.status).toBe(404);
  });
});

describe("security headers", () => {
  test("Connect and gRPC-Web answers carry the same security headers as REST", async () => {
    const restAnswer = await fetch(`${t.url}/v1/pos/balance/%2B353861234567`, { headers: posAuth(b) });
    const connect = await fetch(`${t.url}/loyalty.v1.LoyaltyPos/GetBalance`, { method: "POST", headers: { "content-type": "application/json", ...posAuth(b) }, body: JSON.stringify({ identifier: "+353861234567" }) });
    const web = await fetch(`${t.url}/loyalty.v1.LoyaltyPos/GetBalance`, { method: "POST", headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...posAuth(b) }, body: new Uint8Array(5) });
    for (const r of [restAnswer, connect, web]) {
      for (const [name, value] of Object.entries(SECURITY)) expect(r.headers.get(name), `${r.url} ${name}`).toBe(value);
      expect(r.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
    }
    expect(connect.status).toBe(404); // no such customer: a real Connect answer
    expect(web.status).toBe(200);
  });

  test("/docs: a CSP that allows only itself, and Swagger UI renders under it with no violation", async () => {
    const page = await fetch(`${t.url}/docs`);
    expect(page.headers.get("content-security-policy")).toBe(DOCS_CSP);
    expect(DOCS_CSP).not.toMatch(/unsafe|https?:|\*/);
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
    try {
      const tab = await browser.newPage();
      const violations: string[] = [];
      tab.on("console", (m) => {
        if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
      });
      await tab.goto(`${t.url}/docs`);
      await tab.locator(".opblock-summary-path", { hasText: "/v1/pos/checkin" }).first().waitFor({ timeout: 45_000 });
      expect(violations).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 90_000);
});

describe("gRPC-Web text mode", () => {
  /** gRPC-Web frames of a body: data messages and the trailer block. */
  function frames(body: Buffer) {
    const out: { trailer: boolean; bytes: Buffer }[] = [];
    for (let o = 0; o + 5 <= body.length; ) {
      const len = body.readUInt32BE(o + 1);
      out.push({ trailer: (body[o]! & 0x80) !== 0, bytes: body.subarray(o + 5, o + 5 + len) });
      o += 5 + len;
    }
    return out;
  }
  const request = (identifier = "+353861239000") => {
    const msg = Buffer.from(toBinary(GetBalanceRequestSchema, create(GetBalanceRequestSchema, { identifier })));
    const head = Buffer.alloc(5);
    head.writeUInt32BE(msg.length, 1);
    return Buffer.concat([head, msg]);
  };

  test("application/grpc-web-text: base64 in, base64 out, the same answer as binary gRPC-Web", async () => {
    const checkin = await fetch(`${t.url}/v1/pos/checkin`, { method: "POST", headers: { "content-type": "application/json", ...posAuth(b) }, body: JSON.stringify({ phone: "+353861239000", amount: 7 }) });
    expect(checkin.status).toBe(200);
    const url = `${t.url}/loyalty.v1.LoyaltyPos/GetBalance`;
    const binary = await fetch(url, { method: "POST", headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...posAuth(b) }, body: new Uint8Array(request()) });
    const text = await fetch(url, { method: "POST", headers: { "content-type": "application/grpc-web-text", accept: "application/grpc-web-text", "x-grpc-web": "1", ...posAuth(b) }, body: request().toString("base64") });
    expect(text.status).toBe(200);
    expect(text.headers.get("content-type")).toBe("application/grpc-web-text+proto");
    const body = await text.text();
    expect(body).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const decoded = Buffer.from(body, "base64");
    const binaryBody = Buffer.from(await binary.arrayBuffer());
    expect(decoded.equals(binaryBody)).toBe(true);
    const [data, trailer] = frames(decoded);
    expect(fromBinary(GetBalanceResponseSchema, data!.bytes).totalPoints).toBe(7);
    expect(trailer!.trailer).toBe(true);
    expect(trailer!.bytes.toString()).toMatch(/grpc-status: ?0/);
  });

  test("a request body in several padded base64 pieces is read whole; an error comes back in text mode too", async () => {
    const bytes = request();
    const pieces = bytes.subarray(0, 4).toString("base64") + bytes.subarray(4).toString("base64");
    const r = await fetch(`${t.url}/loyalty.v1.LoyaltyPos/GetBalance`, { method: "POST", headers: { "content-type": "application/grpc-web-text", "x-grpc-web": "1", ...posAuth(b) }, body: pieces });
    const [data] = frames(Buffer.from(await r.text(), "base64"));
    expect(fromBinary(GetBalanceResponseSchema, data!.bytes).totalPoints).toBe(7);
    const missing = await fetch(`${t.url}/loyalty.v1.LoyaltyPos/GetBalance`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web-text", "x-grpc-web": "1", ...posAuth(b) },
      body: request("+353861239001").toString("base64"),
    });
    expect(missing.headers.get("content-type")).toBe("application/grpc-web-text+proto");
    const out = frames(Buffer.from(await missing.text(), "base64"));
    expect(out.map((f) => f.trailer)).toEqual([true]);
    expect(out[0]!.bytes.toString()).toMatch(/grpc-status: ?5/);
  });
});
