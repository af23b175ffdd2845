import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { CustomerStatus, LedgerEntryType, ProgramMode } from "../../../gen/loyalty/v1/types_pb.js";

/**
 * One date format everywhere in the portal: day, short month, year ("2 Nov
 * 2026" in English), with the time where it matters ("2 Nov 2026, 17:05").
 * The words follow the browser's language; the shape is the same on every page.
 */
const DATE_PARTS = { day: "numeric", month: "short", year: "numeric" } as const;
const dateTime = new Intl.DateTimeFormat(undefined, { ...DATE_PARTS, hour: "2-digit", minute: "2-digit" });
const dateOnly = new Intl.DateTimeFormat(undefined, DATE_PARTS);
const dayMonth = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
const calendarDay = new Intl.DateTimeFormat(undefined, { ...DATE_PARTS, timeZone: "UTC" });
const number = new Intl.NumberFormat();

/** A timestamp as local date and time; `fallback` when absent. */
export function formatDateTime(ts: Timestamp | undefined, fallback = "—"): string {
  return ts ? dateTime.format(timestampDate(ts)) : fallback;
}

/** A timestamp as a local date; `fallback` when absent. */
export function formatDate(ts: Timestamp | undefined, fallback = "—"): string {
  return ts ? dateOnly.format(timestampDate(ts)) : fallback;
}

const zoneFormats = new Map<string, Intl.DateTimeFormat>();
const LONG_DATE_PARTS = { day: "numeric", month: "long", year: "numeric" } as const;

/** A date format in a time zone (UTC when the zone is unknown), made once per shape and zone. */
function inZone(parts: typeof DATE_PARTS | typeof LONG_DATE_PARTS, zone: string): Intl.DateTimeFormat {
  const key = `${parts.month} ${zone}`;
  let f = zoneFormats.get(key);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat(undefined, { ...parts, timeZone: zone || "UTC" });
    } catch {
      f = new Intl.DateTimeFormat(undefined, { ...parts, timeZone: "UTC" });
    }
    zoneFormats.set(key, f);
  }
  return f;
}

/** A timestamp as a date in a time zone (the program's), in the one format ("1 Jul 2027"); `fallback` when absent. */
export function formatDateInZone(ts: Timestamp | undefined, zone: string, fallback = "—"): string {
  if (!ts) return fallback;
  return inZone(DATE_PARTS, zone).format(timestampDate(ts));
}

/**
 * The last day points count, in the program's zone, as "31 March 2027"
 * (day, the month's name, year, in the browser's language): the day before
 * `expiresAt`, the instant they stop counting (contract §10).
 */
export function formatLastValidDay(expiresAt: Timestamp | undefined, zone: string): string {
  if (!expiresAt) return "—";
  const parts: Record<string, string> = {};
  for (const p of inZone(LONG_DATE_PARTS, zone).formatToParts(new Date(timestampDate(expiresAt).getTime() - 1))) parts[p.type] = p.value;
  return `${parts.day} ${parts.month} ${parts.year}`;
}

/** A calendar day sent as YYYY-MM-DD (the dashboard's UTC days), as "2 Nov 2026"; `short` leaves out the year. */
export function formatDay(iso: string, opts: { short?: boolean } = {}): string {
  const d = new Date(`${iso}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return iso;
  return (opts.short ? dayMonth : calendarDay).format(d);
}

export function formatNumber(n: number): string {
  return number.format(n);
}

const plurals = new Intl.PluralRules("en");

/** "1 point", "0 points", "1,500 points": a count with its noun in the right number. */
export function countOf(n: number, one: string, other: string): string {
  return `${number.format(n)} ${plurals.select(n) === "one" ? one : other}`;
}

/** An amount in the program's currency: formatMoney(25.5, "EUR") → "€25.50". */
export function formatMoney(amount: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(amount);
  } catch {
    return `${number.format(amount)} ${currency}`;
  }
}

/** "1 point", "25 points". */
export function formatPoints(n: number): string {
  return countOf(n, "point", "points");
}

/** A signed points change: "+25", "−10". */
export function formatDelta(n: number): string {
  if (n === 0) return "0"; // a refund too small to take a point back
  return n > 0 ? `+${number.format(n)}` : `−${number.format(Math.abs(n))}`;
}

export function statusLabel(s: CustomerStatus): string {
  return s === CustomerStatus.BLOCKED ? "Blocked" : s === CustomerStatus.ACTIVE ? "Active" : "Unknown";
}

export function ledgerTypeLabel(t: LedgerEntryType): string {
  switch (t) {
    case LedgerEntryType.CHECKIN:
      return "Check-in";
    case LedgerEntryType.REDEMPTION:
      return "Redemption";
    case LedgerEntryType.ADJUSTMENT:
      return "Adjustment";
    case LedgerEntryType.INITIAL:
      return "Opening balance";
    case LedgerEntryType.REFUND:
      return "Refund";
    case LedgerEntryType.REDEMPTION_VOID:
      return "Voided redemption";
    case LedgerEntryType.PROMOTION:
      return "Promotion";
    case LedgerEntryType.IMPORT:
      return "Import";
    case LedgerEntryType.EXPIRY:
      return "Expired";
    default:
      return "Other";
  }
}

export function modeLabel(m: ProgramMode): string {
  switch (m) {
    case ProgramMode.SPEND:
      return "Spend";
    case ProgramMode.UNIT:
      return "Unit";
    case ProgramMode.VISIT:
      return "Visit";
    default:
      return "Not set";
  }
}

/** A customer's display name: the POS enrols customers without one. */
export function customerName(c: { name: string; phone: string }): string {
  return c.name.trim() || c.phone || "Unnamed customer";
}
