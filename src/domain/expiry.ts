import { DateTime } from "luxon";
import { invalidArgument } from "./errors.js";
import { wholeNumber } from "./validation.js";

/**
 * Point expiry's rules (contract §10), pure: the instant a lot stops
 * counting and the instant a run of a day expires up to. Calendar and
 * time-zone arithmetic is luxon's (months of any length, DST changes,
 * zones ahead of and behind UTC), never hand-added offsets.
 */

export const MAX_EXPIRY_MONTHS = 60;
export const MAX_WARNING_DAYS = 90;

/** `pointsExpireAfterMonths`: 0 (never) to 60, whole. */
export const expiryMonths = (value: number) => wholeNumber(value, "pointsExpireAfterMonths", 0, MAX_EXPIRY_MONTHS);
/** `expiryWarningDays`: 0 to 90, whole. */
export const warningDays = (value: number) => wholeNumber(value, "expiryWarningDays", 0, MAX_WARNING_DAYS);

/**
 * When points earned at `earnedAt` under an N-month policy stop counting:
 * they count through the last day of the month N months after the month
 * they were earned in (local), so they stop at the start of the month after
 * that, local midnight (or the first instant of that day where a DST change
 * skips midnight). Earned 2026-03-10 with 12 → count through 2027-03-31,
 * stop at 2027-04-01 00:00 local.
 */
export function lotExpiresAt(earnedAt: Date, months: number, zone: string): Date {
  return DateTime.fromJSDate(earnedAt, { zone }).startOf("month").plus({ months: months + 1 }).startOf("day").toJSDate();
}

/** The start of a local day ("YYYY-MM-DD") in a zone: a run of that day expires the points that stopped counting by then. */
export function startOfLocalDay(date: string, zone: string): Date {
  return DateTime.fromISO(date, { zone }).startOf("day").toJSDate();
}

/**
 * The end of a run's warning window: the start of the local day `days`
 * after the run's day. A lot that stops counting by then is "expiring
 * soon" (contract §11, `expiryWarningDays`): a lot whose last valid day is
 * 31 March (it stops at 1 April 00:00) is warned by the run of 18 March
 * with 14 days, not by the run of 17 March.
 */
export function warningUntil(date: string, days: number, zone: string): Date {
  return DateTime.fromISO(date, { zone }).plus({ days }).startOf("day").toJSDate();
}

/** The local date ("YYYY-MM-DD") of an instant in a zone. */
export function localDate(at: Date, zone: string): string {
  return DateTime.fromJSDate(at, { zone }).toISODate()!;
}

/** The last day the points count ("YYYY-MM-DD", local): the day before they stop counting. */
export function lastValidDay(expiresAt: Date, zone: string): string {
  return DateTime.fromJSDate(expiresAt, { zone }).minus({ days: 1 }).toISODate()!;
}

/** An `--as-of` date: exactly YYYY-MM-DD and a real day (2027-02-30 is refused). */
export function asOfDate(value: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m || !DateTime.fromISO(value, { zone: "UTC" }).isValid) throw invalidArgument(`--as-of must be a date YYYY-MM-DD, got "${value}"`);
  return value;
}
