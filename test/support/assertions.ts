import { expect } from "vitest";
import type { RestResponse } from "./rest.js";

/** The sorted keys of an object, to compare a response's exact shape. */
export const keysOf = (o: object) => Object.keys(o).sort();

/**
 * Asserts a REST error in the contract's shape (§6): the status, exactly
 * `{success: false, error: {code, message}}`, JSON, a non-empty message
 * (exactly `message` when given) and no stack trace or internal detail.
 */
export function expectError(r: RestResponse, status: number, code: string, message?: string | RegExp) {
  expect(r.status, r.text).toBe(status);
  expect(r.headers.get("content-type")).toMatch(/^application\/json/);
  expect(keysOf(r.body)).toEqual(["error", "success"]);
  expect(r.body.success).toBe(false);
  expect(keysOf(r.body.error)).toEqual(["code", "message"]);
  expect(r.body.error.code).toBe(code);
  expect(typeof r.body.error.message).toBe("string");
  expect(r.body.error.message.length).toBeGreaterThan(0);
  expect(r.text).not.toMatch(/\n\s+at |\.ts:\d|\.js:\d|node_modules|SELECT |INSERT |stack/i);
  if (typeof message === "string") expect(r.body.error.message).toBe(message);
  else if (message) expect(r.body.error.message).toMatch(message);
}
