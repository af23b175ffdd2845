import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { CustomerStatus, LedgerEntryType, ProgramMode } from "../../../gen/loyalty/v1/types_pb.js";

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const number = new Intl.NumberFormat();

/** A timestamp as local date and time; `fallback` when absent. */
export function formatDateTime(ts: Timestamp | undefined, fallback = "—"): string {
  return ts ? dateTime.format(timestampDate(ts)) : fallback;
}

/** A timestamp as a local date; `fallback` when absent. */
export function formatDate(ts: Timestamp | undefined, fallback = "—"): string {
  return ts ? dateOnly.format(timestampDate(ts)) : fallback;
}

export function formatNumber(n: number): string {
  return number.format(n);
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
