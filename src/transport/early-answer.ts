import { Code } from "@connectrpc/connect";
import type { FastifyReply, FastifyRequest } from "fastify";
import http2, { type Http2ServerRequest } from "node:http2";
import { codeName, encodeGrpcMessage, HTTP_STATUS_OF_CODE } from "./errors.js";

/**
 * Answers given before a request reaches a handler — a missing credential
 * seen in the headers, a body that stalls, an unknown gRPC method, a wrong
 * HTTP method — in the protocol the caller speaks:
 *
 * - gRPC: HTTP 200, trailers-only (`grpc-status`, `grpc-message` in the one
 *   HEADERS frame), no body;
 * - gRPC-Web (binary and text): HTTP 200, the status in the headers, no body
 *   (grpc-web's trailers-only form);
 * - Connect: the code's HTTP status and `{"code": …, "message": …}`;
 * - REST (everything else): the contract's error body (§6).
 */
export type WireProtocol = "grpc" | "grpc-web" | "connect" | "rest";

export interface EarlyAnswer {
  status: number;
  headers: Record<string, string>;
  /** Absent for gRPC and gRPC-Web. */
  body?: Buffer;
}

/** `/package.Service/Method`: a Connect, gRPC or gRPC-Web procedure path. */
const PROCEDURE_PATH = /^\/[A-Za-z_][\w.]*\.[A-Za-z_]\w*\/[A-Za-z_]\w*$/;

export function wireProtocolOf(path: string, contentType: string | undefined): WireProtocol {
  const type = (contentType ?? "").toLowerCase();
  if (type.startsWith("application/grpc-web")) return "grpc-web";
  if (type.startsWith("application/grpc")) return "grpc";
  const query = path.indexOf("?");
  if (PROCEDURE_PATH.test(query < 0 ? path : path.slice(0, query))) return "connect";
  return "rest";
}

/** The Content-Type a gRPC or gRPC-Web answer carries: the request's own when it names one of the family. */
function grpcContentType(protocol: "grpc" | "grpc-web", contentType: string | undefined): string {
  const type = (contentType ?? "").toLowerCase().split(";")[0]!.trim();
  if (protocol === "grpc") return type === "application/grpc+json" ? type : "application/grpc+proto";
  if (type.startsWith("application/grpc-web-text")) return "application/grpc-web-text+proto";
  return type === "application/grpc-web+json" ? type : "application/grpc-web+proto";
}

export function earlyAnswer(
  protocol: WireProtocol,
  contentType: string | undefined,
  code: Code,
  message: string,
  opts: { httpStatus?: number; headers?: Record<string, string> } = {},
): EarlyAnswer {
  if (protocol === "grpc" || protocol === "grpc-web") {
    return {
      status: 200,
      headers: {
        "content-type": grpcContentType(protocol, contentType),
        "grpc-status": String(code),
        "grpc-message": encodeGrpcMessage(message),
        ...opts.headers,
      },
    };
  }
  const status = opts.httpStatus ?? HTTP_STATUS_OF_CODE[code];
  const body =
    protocol === "connect"
      ? JSON.stringify({ code: codeName(code), message })
      : JSON.stringify({ success: false, error: { code: codeName(code), message } });
  return { status, headers: { "content-type": "application/json", ...opts.headers }, body: Buffer.from(body, "utf8") };
}

/**
 * Sends an early answer through Fastify. Over HTTP/2 an answer without a
 * body (gRPC, gRPC-Web) goes out as one HEADERS frame with END_STREAM — the
 * trailers-only form gRPC clients read the status from; Fastify's send would
 * add an empty DATA frame, and grpc-js then reports "ended without gRPC
 * status". A request whose body is still coming is then reset NO_ERROR
 * (RFC 9113 §8.1), so the client stops sending.
 */
export function sendEarlyAnswer(req: FastifyRequest, reply: FastifyReply, a: EarlyAnswer): void {
  const stream = (req.raw as unknown as Partial<Http2ServerRequest>).stream;
  if (!stream) {
    reply.code(a.status).headers(a.headers).send(a.body ?? "");
    return;
  }
  if (a.body === undefined && !stream.headersSent && !stream.destroyed) {
    reply.hijack();
    const out: http2.OutgoingHttpHeaders = { ":status": a.status };
    for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) out[k] = v as string;
    Object.assign(out, a.headers);
    try {
      stream.respond(out, { endStream: true });
    } catch {
      // the stream went meanwhile
    }
  } else {
    reply.code(a.status).headers(a.headers).send(a.body ?? "");
  }
  if (!req.raw.complete) {
    setImmediate(() => {
      if (!stream.destroyed && !stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    });
  }
}
