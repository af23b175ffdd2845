import { invalidArgument } from "./errors.js";

// Control characters (including NUL, which PostgreSQL text cannot hold).
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

/**
 * Validates a free-text field: trimmed, at most `max` characters, no control
 * characters, and non-empty when required. Returns the trimmed text.
 */
export function text(value: string | undefined, field: string, opts: { max: number; required?: boolean }): string {
  const v = (value ?? "").trim();
  if (opts.required && v.length === 0) throw invalidArgument(`${field} is required`);
  if (v.length > opts.max) throw invalidArgument(`${field} must be at most ${opts.max} characters`);
  if (CONTROL.test(v)) throw invalidArgument(`${field} must not contain control characters`);
  return v;
}

/** Validates a whole number within bounds; the message names the field. */
export function wholeNumber(value: number, field: string, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(`${field} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** Validates an email address (lower-cased), loosely as RFC 5321 allows. */
export function email(value: string): string {
  const v = value.trim().toLowerCase();
  if (v.length === 0) throw invalidArgument("email is required");
  if (v.length > 320 || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v) || CONTROL.test(v)) {
    throw invalidArgument("email is not a valid email address");
  }
  return v;
}

/** Validates a password: 8–256 characters. */
export function password(value: string): string {
  if (value.length < 8) throw invalidArgument("password must be at least 8 characters");
  if (value.length > 256) throw invalidArgument("password must be at most 256 characters");
  return value;
}

/** Validates an id-shaped string given by a caller. */
export function id(value: string | undefined, field: string): string {
  const v = (value ?? "").trim();
  if (v.length === 0) throw invalidArgument(`${field} is required`);
  if (v.length > 64 || !/^[A-Za-z0-9_-]+$/.test(v)) throw invalidArgument(`${field} is not a valid id`);
  return v;
}
