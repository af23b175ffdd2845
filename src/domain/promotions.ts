import { invalidArgument } from "./errors.js";
import type { LocalTime } from "./locale.js";

/**
 * Promotions (contract §9) as the domain sees them: their conditions,
 * which one applies to a check-in, its bonus, and a plain-language summary.
 * Local conditions (weekday, window, per-day uses) are read from the
 * check-in's local time in the program's zone (locale.ts, by Intl).
 */
export interface PromotionRule {
  id: string;
  name: string;
  kind: "MULTIPLIER" | "BONUS";
  /** MULTIPLIER: × 100 (2 = 200). */
  multiplierHundredths: number | null;
  bonusPoints: number | null;
  startsAt: Date;
  endsAt: Date | null;
  /** 1 = Monday … 7 = Sunday; empty = every day. */
  weekdays: number[];
  /**
   * Minutes since local midnight; start inclusive, end exclusive; null = all
   * day. A start after the end is an overnight window (22:00–02:00): it runs
   * into the next day, and belongs to the day it starts on (weekdays, per-DAY uses).
   */
  startMinute: number | null;
  endMinute: number | null;
  minAmountCents: number | null;
  /** Empty = every store (and check-ins without a store). */
  storeIds: string[];
  /** Null = unlimited. */
  maxUsesPerCustomer: number | null;
  per: "DAY" | "ALL_TIME";
  active: boolean;
  createdAt: Date;
}

/** A check-in, as promotions look at it. */
export interface CheckinFacts {
  at: Date;
  local: LocalTime;
  basePoints: number;
  /** SPEND check-ins; undefined in the other modes (a minAmount is then never met). */
  amountCents?: number;
  storeId: string | null;
}

export const MAX_ACTIVE_PROMOTIONS = 10;

/**
 * Where a local minute falls in the promotion's daily window: "today" (all
 * day, or in a window that started on this local day), "yesterday" (in the
 * small hours of an overnight window that started the day before), or
 * undefined (outside the window).
 */
export function windowDay(p: PromotionRule, minute: number): "today" | "yesterday" | undefined {
  if (p.startMinute === null || p.endMinute === null) return "today";
  if (p.startMinute < p.endMinute) return minute >= p.startMinute && minute < p.endMinute ? "today" : undefined;
  if (minute >= p.startMinute) return "today";
  return minute < p.endMinute ? "yesterday" : undefined;
}

/** The weekday before (1 = Monday … 7 = Sunday). */
const dayBefore = (weekday: number) => ((weekday + 5) % 7) + 1;

/** The calendar date before a "YYYY-MM-DD" (calendar arithmetic on the date alone: no zone, no offset). */
function dateBefore(date: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - 1);
  return d.toISOString().slice(0, 10);
}

/** Every condition but the per-customer uses (those need the customer's counter). */
export function qualifies(p: PromotionRule, c: CheckinFacts): boolean {
  if (!p.active || c.basePoints <= 0) return false;
  const t = c.at.getTime();
  if (t < p.startsAt.getTime()) return false;
  if (p.endsAt !== null && t >= p.endsAt.getTime()) return false;
  const day = windowDay(p, c.local.minute);
  if (day === undefined) return false;
  // An overnight window's small hours belong to the day it started on.
  if (p.weekdays.length > 0 && !p.weekdays.includes(day === "yesterday" ? dayBefore(c.local.weekday) : c.local.weekday)) return false;
  if (p.minAmountCents !== null && (c.amountCents === undefined || c.amountCents < p.minAmountCents)) return false;
  if (p.storeIds.length > 0 && (c.storeId === null || !p.storeIds.includes(c.storeId))) return false;
  return true;
}

/** The qualifying promotions, the one to apply first (newest created first). */
export function candidates(promotions: readonly PromotionRule[], c: CheckinFacts): PromotionRule[] {
  const out = promotions.filter((p) => qualifies(p, c));
  out.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
  return out;
}

/** Bonus = floor(base × multiplier) − base, or bonusPoints (exact integers). */
export function bonusOf(p: PromotionRule, basePoints: number): number {
  if (p.kind === "BONUS") return p.bonusPoints!;
  return Math.floor((basePoints * p.multiplierHundredths!) / 100) - basePoints;
}

/**
 * The counter period of a use: the local date (DAY) or "ALL". An overnight
 * window's small hours count on the day the window started, so a limit of
 * once a day is once a night (22:00 and 01:00 are one use, not two).
 */
export function usePeriod(p: PromotionRule, local: LocalTime): string {
  if (p.per !== "DAY") return "ALL";
  return windowDay(p, local.minute) === "yesterday" ? dateBefore(local.date) : local.date;
}

// ---- validation ----

/** A multiplier 1.01–10 with at most 2 decimals, as hundredths. */
export function multiplierToHundredths(value: number): number {
  if (!Number.isFinite(value) || value < 1.01 || value > 10) throw invalidArgument("multiplier must be from 1.01 to 10");
  const m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(value.toString());
  if (!m) throw invalidArgument("multiplier must have at most 2 decimal places");
  return Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
}

/** "HH:MM" (00:00–23:59) → minutes. */
export function clockMinute(value: string, field: string): number {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(value);
  if (!m) throw invalidArgument(`${field} must be a time "HH:MM" (00:00-23:59)`);
  return Number(m[1]) * 60 + Number(m[2]);
}

export const minuteToClock = (m: number) => `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;

/** Checks the fields that depend on each other (after a create or an update). */
export function checkRule(p: PromotionRule): void {
  if ((p.startMinute === null) !== (p.endMinute === null)) throw invalidArgument("startTime and endTime go together");
  // An end before the start is an overnight window (22:00–02:00); an equal one is no window at all.
  if (p.startMinute !== null && p.endMinute === p.startMinute) throw invalidArgument("endTime must differ from startTime");
  if (p.endsAt !== null && p.endsAt.getTime() <= p.startsAt.getTime()) throw invalidArgument("endsAt must be after startsAt");
  if (p.kind === "MULTIPLIER" && p.multiplierHundredths === null) throw invalidArgument("multiplier is required for a MULTIPLIER promotion");
  if (p.kind === "BONUS" && p.bonusPoints === null) throw invalidArgument("bonusPoints is required for a BONUS promotion");
}

// ---- summary ----

const DAY_NAMES = ["", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"];
const MULTIPLE_NAMES: Record<number, string> = { 200: "Double", 300: "Triple", 400: "Quadruple" };

function list(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

/**
 * A plain-language summary: "Double points on Tuesdays 14:00–17:00, Dublin
 * time", "200 bonus points on spends of 10.00 or more, once per customer".
 */
export function summary(p: PromotionRule, zone: string, currency = "EUR"): string {
  const parts: string[] = [];
  if (p.kind === "MULTIPLIER") {
    const h = p.multiplierHundredths!;
    parts.push(MULTIPLE_NAMES[h] ? `${MULTIPLE_NAMES[h]} points` : `${(h / 100).toString()}× points`);
  } else {
    parts.push(`${p.bonusPoints} bonus point${p.bonusPoints === 1 ? "" : "s"}`);
  }
  if (p.weekdays.length > 0 && p.weekdays.length < 7) parts.push(`on ${list([...p.weekdays].sort().map((d) => DAY_NAMES[d]!))}`);
  if (p.startMinute !== null) {
    const city = (zone.split("/").at(-1) ?? zone).replace(/_/g, " ");
    const overnight = p.endMinute! < p.startMinute && p.endMinute! > 0 ? " (overnight)" : "";
    parts.push(`${minuteToClock(p.startMinute)}–${minuteToClock(p.endMinute!)}${overnight}, ${city} time`);
  }
  const extra: string[] = [];
  if (p.minAmountCents !== null) {
    const amount = new Intl.NumberFormat("en-IE", { style: "currency", currency }).format(p.minAmountCents / 100);
    extra.push(`on spends of ${amount} or more`);
  }
  if (p.storeIds.length > 0) extra.push(`in ${p.storeIds.length === 1 ? "1 store" : `${p.storeIds.length} stores`}`);
  if (p.maxUsesPerCustomer !== null) {
    const times = p.maxUsesPerCustomer === 1 ? "once" : p.maxUsesPerCustomer === 2 ? "twice" : `${p.maxUsesPerCustomer} times`;
    extra.push(`${times} per customer${p.per === "DAY" ? " a day" : ""}`);
  }
  const head = parts[0]! + (parts.length > 1 ? ` ${parts.slice(1).join(" ").replace(/ (\d\d:\d\d–)/, " $1")}` : "");
  return [head, ...extra].join(", ");
}
