import { Code } from "@connectrpc/connect";
import { encodeEnvelope, type UniversalHandler, type UniversalServerRequest, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import type { FastifyBaseLogger } from "fastify";
import type { Http2ServerResponse } from "node:http2";
import { encodeGrpcMessage, HTTP_STATUS_OF_CODE, INTERNAL_MESSAGE } from "./errors.js";

/**
 * The workarounds for two bugs of connect-es (and grpc-js) that this service
 * corrects at its edge, together so that each can be dropped in one place
 * once fixed upstream. Each comment says the bug precisely enough to file it.
 */

const PARSE_BINARY = /^parse binary: /;

/** Where the handlers of the Connect plugin report a call that failed after its handler. */
export type FailureLog = Pick<FastifyBaseLogger, "error">;

/**
 * Upstream bug 1 — connect-es (@connectrpc/connect 2.2.0,
 * `src/protocol/serialization.ts`, `createBinarySerialization`): a request
 * body that is not valid protobuf makes `parse()` throw
 * `new ConnectError("parse binary: …", Code.Internal)`. The handlers of
 * every protocol (Connect, gRPC, gRPC-Web) answer it as it is: HTTP 500 /
 * grpc-status 13 INTERNAL. It is the client's malformed input, which the
 * gRPC status-code guide and the Connect spec classify as INVALID_ARGUMENT
 * (HTTP 400). Same function, same problem on the way out: a response the
 * encoder refuses ("serialize binary: … invalid int32: 2147483648") is
 * INTERNAL carrying the encoder's text — which may quote data — to the
 * caller. Reproduce: POST `application/proto` bytes `ff ff ff` to any unary
 * method of a connect-node server; expected 400 invalid_argument, actual 500
 * internal "parse binary: …".
 *
 * Workaround: each unary handler of the router is wrapped; an INTERNAL
 * status whose message starts with "parse binary: " becomes
 * INVALID_ARGUMENT, any other INTERNAL that is not our own "internal error"
 * is logged (its reason, not its text) and answered "internal error".
 * Outside every interceptor, so it runs after connect-es made the answer.
 */
export function fixConnectErrors(handlers: UniversalHandler[], log: FailureLog): void {
  for (let i = 0; i < handlers.length; i++) {
    const handler = handlers[i]!;
    if (handler.method.methodKind !== "unary") continue;
    const rpc = `${handler.service.typeName}/${handler.method.name}`;
    const report = (protocol: string, message: string) =>
      log.error({ rpc, protocol, errType: "ConnectError", reason: message.split(":")[0]!.slice(0, 40) }, "response could not be sent");
    handlers[i] = Object.assign(async (req: UniversalServerRequest) => fixErrors(await handler(req), report), handler);
  }
}

/** What an INTERNAL status made by connect-es is: a body that was no protobuf, another failure of its own, or neither. */
function classify(status: string | null | undefined, message: string | null | undefined): "parse" | "failed" | undefined {
  if (status !== "13" || !message) return undefined;
  const text = decoded(message);
  if (PARSE_BINARY.test(text)) return "parse";
  return text === INTERNAL_MESSAGE ? undefined : "failed";
}

/** A grpc-message as text (it is percent-encoded on the wire). */
function decoded(message: string): string {
  try {
    return decodeURIComponent(message);
  } catch {
    return message;
  }
}

/** Rewrites a gRPC status held in headers or trailers; true when it was one of connect-es's own. */
function fixGrpcStatus(h: Headers | undefined, report: (protocol: string, message: string) => void): boolean {
  const verdict = classify(h?.get("grpc-status"), h?.get("grpc-message"));
  if (verdict === "parse") h!.set("grpc-status", String(Code.InvalidArgument));
  if (verdict === "failed") {
    report("grpc", decoded(h!.get("grpc-message")!));
    h!.set("grpc-message", INTERNAL_MESSAGE);
  }
  return verdict !== undefined;
}

/**
 * Rewrites those errors without touching successful responses: gRPC has the
 * status in its trailers as soon as the handler resolves (an encoding failure
 * happens before any output), and a Connect unary success is not a 500. Only
 * errors, and gRPC-Web (whose trailers travel as the body's last frame), have
 * their body read.
 */
async function fixErrors(res: UniversalServerResponse, report: (protocol: string, message: string) => void): Promise<UniversalServerResponse> {
  if (!res.body) return res;
  if (res.trailer) {
    // gRPC: the status is in the trailers (or the headers, trailers-only).
    for (const h of [res.trailer, res.header]) if (fixGrpcStatus(h, report)) break;
    return res;
  }
  const grpcWeb = res.header?.get("content-type")?.startsWith("application/grpc-web") ?? false;
  if (!grpcWeb && res.status !== 500) return res;
  const chunks: Uint8Array[] = [];
  for await (const chunk of res.body) chunks.push(chunk);
  let body = Buffer.concat(chunks);
  if (!grpcWeb) {
    if (res.header?.get("content-type")?.startsWith("application/json")) {
      // Connect unary: the error is the JSON body.
      const error = JSON.parse(body.toString("utf8")) as { code?: string; message?: string };
      const verdict = error.code === "internal" ? classify("13", error.message) : undefined;
      if (verdict === "parse") {
        body = Buffer.from(JSON.stringify({ code: "invalid_argument", message: error.message }));
        res.header.set("content-length", String(body.byteLength));
        return { ...res, status: HTTP_STATUS_OF_CODE[Code.InvalidArgument], body: oneChunk(body) };
      }
      if (verdict === "failed") {
        report("connect", error.message!);
        body = Buffer.from(JSON.stringify({ code: "internal", message: INTERNAL_MESSAGE }));
        res.header.set("content-length", String(body.byteLength));
      }
    }
    return { ...res, body: oneChunk(body) };
  }
  // gRPC-Web: the trailers are the body's last frame (flag 0x80).
  for (let at = 0; at + 5 <= body.byteLength; ) {
    const length = body.readUInt32BE(at + 1);
    if (body[at]! & 0x80) {
      const text = body.subarray(at + 5, at + 5 + length).toString("utf8");
      const trailer = new Headers(text.split("\r\n").filter((l) => l.includes(":")).map((l) => [l.slice(0, l.indexOf(":")).trim(), l.slice(l.indexOf(":") + 1).trim()] as [string, string]));
      const verdict = classify(trailer.get("grpc-status"), trailer.get("grpc-message"));
      let fixed: string | undefined;
      if (verdict === "parse") fixed = text.replace(/grpc-status: ?13\r\n/, `grpc-status: ${Code.InvalidArgument}\r\n`);
      if (verdict === "failed") {
        report("grpc-web", decoded(trailer.get("grpc-message")!));
        fixed = text.replace(/grpc-message:[^\r\n]*\r\n/, `grpc-message: ${INTERNAL_MESSAGE}\r\n`);
      }
      if (fixed !== undefined) body = Buffer.concat([body.subarray(0, at), encodeEnvelope(body[at]!, Buffer.from(fixed)), body.subarray(at + 5 + length)]);
      break;
    }
    at += 5 + length;
  }
  return { ...res, body: oneChunk(body) };
}

async function* oneChunk(bytes: Uint8Array) {
  yield bytes;
}

/**
 * Upstream bug 2 — connect-es (@connectrpc/connect 2.2.0,
 * `src/protocol-grpc/trailer-status.ts`, `setTrailerStatus`) writes
 * `grpc-message` as `encodeURIComponent(error.rawMessage)`, and grpc-js
 * (1.14, `src/subchannel-call.ts`) decodes it with `decodeURI`, which leaves
 * the escapes of reserved characters (%3A ":", %2C ",", %2F "/", %3F "?",
 * %23 "#", %26 "&", %3D "=", %2B "+", %24 "$", %3B ";", %40 "@") in place: a
 * grpc-js stub reads "missing API key%3A send it…". The gRPC spec
 * (PROTOCOL-HTTP2.md, Status-Message) percent-encodes only bytes outside
 * printable ASCII and "%" itself; every client decodes that form. Either
 * side can be fixed upstream (connect-es: encode as the spec says; grpc-js:
 * `decodeURIComponent`). Reproduce: a connect-node gRPC handler throwing
 * `new ConnectError("a: b", Code.InvalidArgument)` called by a grpc-js
 * client; `err.details` is "a%3A b".
 *
 * Workaround: on HTTP/2 gRPC responses served through the Connect plugin,
 * the trailers' `grpc-message` is decoded and written again as the spec
 * does (`encodeGrpcMessage`). The gRPC unary lane and the early answers
 * write that form themselves.
 */
export function minimalGrpcMessageEncoding(res: Http2ServerResponse) {
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
