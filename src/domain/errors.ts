/**
 * The kinds of failure the domain knows. Exactly one place
 * (transport/error-interceptor.ts) turns them into Connect codes.
 */
export type DomainErrorKind =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "permission_denied"
  | "failed_precondition"
  | "unauthenticated"
  | "resource_exhausted"
  | "aborted";

/**
 * A typed, expected failure of a business rule. Its message is safe to show
 * to the caller: it never holds secrets, SQL or stack traces.
 */
export class DomainError extends Error {
  override name = "DomainError";
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    /** Extra HTTP-only detail, e.g. seconds for Retry-After. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** A request field failed validation; the message names the field. */
export function invalidArgument(message: string): DomainError {
  return new DomainError("invalid_argument", message);
}

/** The addressed resource does not exist in the caller's business. */
export function notFound(message: string): DomainError {
  return new DomainError("not_found", message);
}
