import { Code, ConnectError } from "@connectrpc/connect";
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
export const INTERNAL_MESSAGE = "internal error";

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

/**
 * `grpc-message` as the gRPC spec writes it: printable ASCII except "%" as
 * is, every other byte of the UTF-8 text percent-encoded. Every gRPC client
 * decodes this form (grpc-js's `decodeURI` does not undo
 * `encodeURIComponent`'s %3A, %2C…; see upstream-workarounds.ts).
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
