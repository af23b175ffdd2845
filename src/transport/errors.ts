import { Code, ConnectError } from "@connectrpc/connect";
import { encodeEnvelope, type UniversalHandler, type UniversalServerRequest, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import type { FastifyBaseLogger } from "fastify";
import { DomainError, type DomainErrorKind } from "../domain/errors.js";
import { classifyDbError } from "../persistence/db-errors.js";

/**
 * The one table from Connect codes to HTTP statuses (contract §6, the
 * Connect protocol's own mapping), used by the REST gateway.
 */
export const HTTP_STATUS_OF_CODE: Record<Code, number> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

/** The snake_case names of the Connect codes, as the REST error body shows them. */
export function codeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

const CODE_OF_KIND: Record<DomainErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  permission_denied: Code.PermissionDenied,
  failed_precondition: Code.FailedPrecondition,
  unauthenticated: Code.Unauthenticated,
  resource_exhausted: Code.ResourceExhausted,
  aborted: Code.Aborted,
};

/** The message of every INTERNAL status the service answers: never a detail of the bug. */
const INTERNAL_MESSAGE = "internal error";

/** Response header that overrides the REST status of an error (422 for a reused Idempotency-Key). */
export const HTTP_STATUS_HEADER = "x-loyalty-http-status";

/**
 * Turns anything thrown below the transport into a ConnectError: the one
 * place that maps domain errors to Connect codes. Unknown errors become
 * INTERNAL with a generic message (`onBug` logs the original), so no stack
 * trace, SQL or secret reaches a caller.
 */
export function toConnectError(err: unknown, onBug?: (err: unknown) => void): ConnectError {
  if (err instanceof ConnectError) return err;
  const domain = err instanceof DomainError ? err : classifyDbError(err);
  if (domain instanceof DomainError) {
    const headers = new Headers();
    if (domain.retryAfterSeconds !== undefined) headers.set("retry-after", String(domain.retryAfterSeconds));
    return new ConnectError(domain.message, CODE_OF_KIND[domain.kind], headers);
  }
  if (domain === "unavailable") {
    return new ConnectError("service temporarily unavailable, retry shortly", Code.Unavailable);
  }
  onBug?.(err);
  return new ConnectError(INTERNAL_MESSAGE, Code.Internal);
}

const PARSE_BINARY = /^parse binary: /;

/** Where the handlers of the Connect plugin report a call that failed after its handler. */
export type FailureLog = Pick<FastifyBaseLogger, "error">;

/**
 * Corrects two answers connect-es makes itself, outside every interceptor,
 * over Connect, gRPC and gRPC-Web alike:
 *
 * - a request body that is not valid protobuf is INTERNAL ("parse binary: …",
 *   HTTP 500 / grpc-status 13). It is the caller's mistake (contract §6:
 *   malformed input is a 400, never a 500), so it becomes INVALID_ARGUMENT;
 * - a response that cannot be encoded (a value its field cannot hold) is
 *   INTERNAL with the encoder's text ("serialize binary: … invalid int32:
 *   2147483648"). It is logged (without the text, which may hold data) and
 *   answered as every other INTERNAL is: "internal error".
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
 * `grpc-message` as the gRPC spec writes it: printable ASCII except "%" as
 * is, every other byte of the UTF-8 text percent-encoded. Every gRPC client
 * decodes this form (grpc-js's `decodeURI` does not undo
 * `encodeURIComponent`'s %3A, %2C…; see http-hooks.ts for the Connect path).
 */
export function encodeGrpcMessage(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
