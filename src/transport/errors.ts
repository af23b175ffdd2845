import { Code, ConnectError } from "@connectrpc/connect";
import { encodeEnvelope, type UniversalHandler, type UniversalServerRequest, type UniversalServerResponse } from "@connectrpc/connect/protocol";
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
  return new ConnectError("internal error", Code.Internal);
}

const PARSE_BINARY = /^parse binary: /;

/**
 * connect-es answers a request body that is not valid protobuf with INTERNAL
 * ("parse binary: …", HTTP 500 / grpc-status 13), before any interceptor
 * runs. It is the caller's mistake (contract §6: malformed input is a 400,
 * never a 500), so the unary handlers are wrapped to answer INVALID_ARGUMENT
 * instead, over Connect, gRPC and gRPC-Web alike.
 */
export function parseErrorsAsInvalidArgument(handlers: UniversalHandler[]): void {
  for (let i = 0; i < handlers.length; i++) {
    const handler = handlers[i]!;
    if (handler.method.methodKind !== "unary") continue;
    handlers[i] = Object.assign(async (req: UniversalServerRequest) => fixParseError(await handler(req)), handler);
  }
}

function isParseError(h: Headers | undefined): boolean {
  const message = h?.get("grpc-message");
  if (h?.get("grpc-status") !== "13" || !message) return false;
  try {
    return PARSE_BINARY.test(decodeURIComponent(message));
  } catch {
    return false;
  }
}

/**
 * Rewrites a parse error to INVALID_ARGUMENT without touching successful
 * responses: gRPC has the status in its trailers as soon as the handler
 * resolves (a parse error happens before any output), and a Connect unary
 * success is not a 500. Only errors, and gRPC-Web (whose trailers travel as
 * the body's last frame), have their body read.
 */
async function fixParseError(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  if (!res.body) return res;
  if (res.trailer) {
    // gRPC: the status is in the trailers (or the headers, trailers-only).
    for (const h of [res.trailer, res.header]) if (isParseError(h)) h!.set("grpc-status", String(Code.InvalidArgument));
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
      if (error.code === "internal" && PARSE_BINARY.test(error.message ?? "")) {
        body = Buffer.from(JSON.stringify({ code: "invalid_argument", message: error.message }));
        res.header.set("content-length", String(body.byteLength));
        return { ...res, status: HTTP_STATUS_OF_CODE[Code.InvalidArgument], body: oneChunk(body) };
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
      if (isParseError(trailer)) {
        const fixed = Buffer.from(text.replace(/grpc-status: ?13\r\n/, `grpc-status: ${Code.InvalidArgument}\r\n`));
        body = Buffer.concat([body.subarray(0, at), encodeEnvelope(body[at]!, fixed), body.subarray(at + 5 + length)]);
      }
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
