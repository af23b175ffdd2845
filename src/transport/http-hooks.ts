import type { DescService } from "@bufbuild/protobuf";
import type { FastifyInstance } from "fastify";
import type { Http2ServerResponse } from "node:http2";
import type { Config } from "../config/config.js";
import { Code } from "@connectrpc/connect";
import { earlyAnswer, wireProtocolOf } from "./early-answer.js";
import { isMutating } from "./method-rules.js";
import { minimalGrpcMessageEncoding } from "./upstream-workarounds.js";

const SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "strict-transport-security": "max-age=31536000; includeSubDomains",
};

/**
 * Content-Security-Policy: API answers (JSON, gRPC-Web, Connect) allow
 * nothing at all; the API reference at /docs allows only its own origin —
 * Swagger UI and the page's script and styles are served from /docs/assets,
 * no inline script; `data:` images are the SVG icons in Swagger UI's CSS. The
 * portal sets its own (src/portal/serve-portal.ts).
 */
const API_CSP = "default-src 'none'; frame-ancestors 'none'";
export const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** `/package.Service/Method`: the route of a Connect / gRPC / gRPC-Web procedure. */
const PROCEDURE_ROUTE = /^\/[A-Za-z_][\w.]*\.[A-Za-z_]\w*\/[A-Za-z_]\w*$/;

const ALLOWED_HEADERS =
  "content-type, authorization, x-api-key, idempotency-key, x-request-id, connect-protocol-version, connect-timeout-ms, x-grpc-web, x-user-agent, grpc-timeout";
const EXPOSED_HEADERS = "idempotent-replayed, retry-after, grpc-status, grpc-message, grpc-status-details-bin";

/**
 * HTTP-level cross-cutting behaviour: security headers on every response,
 * and CORS for exactly the configured origins (the admin portal's). Same-
 * origin calls need no CORS; other origins get no CORS headers, so browsers
 * refuse them.
 */
export function registerHttpHooks(app: FastifyInstance, config: Config, services: readonly DescService[]) {
  const origins = new Set(config.corsOrigins);
  // Procedures marked NO_SIDE_EFFECTS: Connect serves them over GET as well.
  const readOnly = new Set(services.flatMap((s) => s.methods.filter((m) => !isMutating(m)).map((m) => `/${s.typeName}/${m.name}`)));
  // Every route's pattern and methods, for the Allow header of a 405.
  const patterns: { test: RegExp; methods: Set<string> }[] = [];
  app.addHook("onRoute", (route) => {
    if (route.url.includes("*")) return;
    // `:name` is a parameter; `::` a literal colon (an AIP-136 verb: `/v1/things::batchGet`).
    const source =
      "^" +
      route.url
        .split("/")
        .map((seg) => (seg.startsWith(":") && !seg.startsWith("::") ? "[^/]+" : seg.replace(/::/g, ":").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
        .join("/") +
      "$";
    let entry = patterns.find((p) => p.test.source === source);
    if (!entry) patterns.push((entry = { test: new RegExp(source), methods: new Set() }));
    for (const m of Array.isArray(route.method) ? route.method : [route.method]) entry.methods.add(m);
  });
  // Callback-style hooks: an async hook costs a promise per request and hook.
  app.addHook("onRequest", (req, reply, done) => {
    // Set here, not in onSend: the Connect plugin (Connect, gRPC-Web) writes
    // its answers itself and only copies the headers set so far.
    reply.headers(SECURITY_HEADERS);
    const url = req.url;
    reply.header("content-security-policy", url === "/docs" || url.startsWith("/docs/") || url.startsWith("/docs?") ? DOCS_CSP : API_CSP);
    const origin = req.headers.origin;
    if (origin && origins.has(origin)) {
      reply.header("access-control-allow-origin", origin);
      reply.header("vary", "origin");
      reply.header("access-control-expose-headers", EXPOSED_HEADERS);
      if (req.method === "OPTIONS") {
        reply
          .header("access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
          .header("access-control-allow-headers", ALLOWED_HEADERS)
          .header("access-control-max-age", "600")
          .code(204)
          .send();
        return;
      }
    }
    // Procedures take POST, and GET too when marked NO_SIDE_EFFECTS (Connect's
    // GET requests): a 405 names what is allowed (RFC 9110 §15.5.6).
    const route = req.routeOptions.url;
    if (route !== undefined && req.method !== "POST" && req.method !== "OPTIONS" && PROCEDURE_ROUTE.test(route)) {
      const getToo = readOnly.has(route);
      if (!getToo || req.method !== "GET") {
        const allow = getToo ? "GET, POST" : "POST";
        const contentType = req.headers["content-type"];
        const a = earlyAnswer(wireProtocolOf(route, contentType), contentType, Code.Unimplemented, `HTTP method ${req.method} is not allowed: use ${allow.replace(", ", " or ")}`, {
          httpStatus: 405,
          headers: { allow },
        });
        reply.code(405).headers(a.headers).send(a.body ?? "");
        return;
      }
      // A Connect GET answer may be kept by the caller, never by a shared cache
      // (it is one business's data, chosen by a credential header).
      reply.header("cache-control", "private").header("vary", "authorization, x-api-key");
    }
    if (req.raw.httpVersionMajor === 2 && (req.headers["content-type"] ?? "").startsWith("application/grpc")) {
      minimalGrpcMessageEncoding(reply.raw as unknown as Http2ServerResponse);
    }
    done();
  });
  app.addHook("onSend", (req, reply, payload, done) => {
    if (req.url.startsWith("/v1/")) reply.header("cache-control", "no-store");
    done(null, payload);
  });
  return {
    /** The methods some route takes at this path (none: the path is unknown). */
    allowedMethods(url: string): string[] {
      const q = url.indexOf("?");
      const path = q < 0 ? url : url.slice(0, q);
      const methods = new Set<string>();
      for (const p of patterns) if (p.test.test(path)) for (const m of p.methods) methods.add(m);
      return [...methods].sort();
    },
  };
}
