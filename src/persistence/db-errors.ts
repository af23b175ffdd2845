import { DomainError } from "../domain/errors.js";

const UNAVAILABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "57P01", // admin_shutdown (pg_terminate_backend, restart)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "40001", // serialization_failure: safe to retry
  "40P01", // deadlock_detected: safe to retry
  "57014", // query_canceled (statement timeout)
]);

/**
 * Classifies an error thrown by the database driver: a DomainError for the
 * constraint violations the model relies on, "unavailable" for connection
 * and transient failures, or null when it is a bug.
 */
export function classifyDbError(err: unknown): DomainError | "unavailable" | null {
  if (typeof err !== "object" || err === null) return null;
  const e = err as { code?: string; constraint?: string; message?: string; name?: string };
  const code = e.code ?? "";
  if (code === "23505") {
    if (e.constraint === "customer_business_phone_unique") {
      return new DomainError("already_exists", "a customer with this phone already exists");
    }
    if (e.constraint === "store_business_name_unique") {
      return new DomainError("already_exists", "a store with this name already exists");
    }
    if (e.constraint === "owner_email_unique") {
      return new DomainError("already_exists", "an account with this email already exists");
    }
    return new DomainError("already_exists", "the resource already exists");
  }
  if (code === "23514" && e.constraint === "customer_total_points_non_negative") {
    return new DomainError("failed_precondition", "insufficient points");
  }
  if (code === "22003") return new DomainError("invalid_argument", "the balance would exceed the largest allowed value");
  if (code === "22P02" || code === "22001") return new DomainError("invalid_argument", "a value has the wrong form or is too long");
  if (UNAVAILABLE_CODES.has(code) || code.startsWith("08")) return "unavailable";
  const msg = e.message ?? "";
  if (
    e.name === "KnexTimeoutError" ||
    // "Transaction query already complete": knex ends a transaction whose
    // connection died, and the next statement of it (savepoint, query) says so.
    /Connection terminated|Client has encountered a connection error|Client was closed and is not queryable|connect ECONNREFUSED|read ECONNRESET|write EPIPE|timeout exceeded when trying to connect|Timeout acquiring a connection|terminating connection|Transaction query already complete/i.test(msg)
  ) {
    return "unavailable";
  }
  return null;
}
