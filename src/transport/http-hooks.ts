import type { FastifyInstance } from "fastify";
import type { Http2ServerResponse } from "node:http2";
import type { Config } from "../config/config.js";
import { encodeGrpcMessage } from "./errors.js";

const SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "strict-transport-security": "max-age=31536000; includeSubDomains",
};

const ALLOWED_HEADERS =
  "content-type, authorization, x-api-key, idempotency-key, x-request-id, connect-protocol-version, connect-timeout-ms, x-grpc-web, x-user-agent, grpc-timeout";
const EXPOSED_HEADERS = "idempotent-replayed, retry-after, grpc-status, grpc-message, grpc-status-details-bin";

/**
 * HTTP-level cross-cutting behaviour: security headers on every response,
 * and CORS for exactly the configured origins (the admin portal's). Same-
 * origin calls need no CORS; other origins get no CORS headers, so browsers
 * refuse them.
 */
export function registerHttpHooks(app: FastifyInstance, config: Config) {
  const origins = new Set(config.corsOrigins);
  // Callback-style hooks: an async hook costs a promise per request and hook.
  app.addHook("onRequest", (req, reply, done) => {
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
    if (req.raw.httpVersionMajor === 2 && (req.headers["content-type"] ?? "").startsWith("application/grpc")) {
      minimalGrpcMessageEncoding(reply.raw as unknown as Http2ServerResponse);
    }
    done();
  });
  app.addHook("onSend", (req, reply, payload, done) => {
    reply.headers(SECURITY_HEADERS);
    if (req.url.startsWith("/v1/")) reply.header("cache-control", "no-store");
    done(null, payload);
  });
}

/**
 * Connect percent-encodes gRPC status messages with encodeURIComponent, but
 * grpc-js decodes them with decodeURI, which leaves %3A, %2C, %2F… in place
 * (a grpc-js stub would read "missing API key%3A send it…"). The gRPC spec
 * lets printable ASCII except "%" go unencoded, and every gRPC client decodes
 * that form, so `grpc-message` is re-encoded that way on its way out.
 */
function minimalGrpcMessageEncoding(res: Http2ServerResponse) {
  const addTrailers = res.addTrailers.bind(res);
  res.addTrailers = (headers) => {
    const message = headers["grpc-message"];
    if (typeof message === "string") {
      let text = message;
      try {
        text = decodeURIComponent(message);
      } catch {
        // not percent-encoded by us: re-encode as it is
      }
      headers["grpc-message"] = encodeGrpcMessage(text);
    }
    addTrailers(headers);
  };
}
