import { invalidArgument } from "../domain/errors.js";
import { createExportRepository } from "../persistence/export-repository.js";
import type { ServiceDeps } from "./deps.js";
import { toDate } from "./mappers.js";

/**
 * The customer export's columns: the import's (phone, name, notes, points,
 * status; `points` is the balance, so the file imports as it is into
 * another business), then the id, the balance again as `total_points`,
 * `lifetime_points` (points ever added: the sum of positive ledger entries)
 * and the timestamps (RFC 3339, UTC; empty when it never happened).
 */
export const CUSTOMER_EXPORT_COLUMNS = [
  "phone",
  "name",
  "notes",
  "points",
  "status",
  "id",
  "total_points",
  "lifetime_points",
  "created_at",
  "updated_at",
  "last_visit_at",
] as const;

/** The ledger export's columns, one row per entry, oldest first. */
export const LEDGER_EXPORT_COLUMNS = [
  "id",
  "created_at",
  "customer_id",
  "phone",
  "type",
  "delta",
  "balance_after",
  "reason",
  "store_id",
  "api_key_id",
  "owner_id",
  "redemption_id",
] as const;

const iso = (d: Date | string | null) => (d === null ? "" : toDate(d).toISOString());

/** A date (YYYY-MM-DD: the whole UTC day) or an RFC 3339 time. */
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

const FORMS = "use YYYY-MM-DD or an RFC 3339 time such as 2026-11-02T09:30:00Z";

/** The instant a query bound names (a date: its first instant, UTC). */
function instant(value: string | undefined, field: string): { at: Date; date: boolean } | undefined {
  if (value === undefined || value === "") return undefined;
  const text = value.trim();
  if (DATE.test(text)) {
    const at = new Date(`${text}T00:00:00Z`);
    // new Date() rolls 2026-02-30 over to March: refused instead.
    if (Number.isNaN(at.getTime()) || at.toISOString().slice(0, 10) !== text) throw invalidArgument(`${field} is not a valid date: ${FORMS}`);
    return { at, date: true };
  }
  if (TIME.test(text)) {
    const at = new Date(text);
    if (Number.isNaN(at.getTime())) throw invalidArgument(`${field} is not a valid time: ${FORMS}`);
    return { at, date: false };
  }
  throw invalidArgument(`${field} must be a date or a time: ${FORMS}`);
}

/**
 * The ledger export's range from the query: `from` inclusive; `to`
 * inclusive for a date (that whole UTC day) and exclusive for a time;
 * either may be left out (from the first entry, up to now). `from` after
 * `to` is INVALID_ARGUMENT. Returns from <= created_at < to.
 */
export function ledgerRange(from: string | undefined, to: string | undefined, now = new Date()): { from: Date; to: Date } {
  const start = instant(from, "from")?.at ?? new Date(0);
  const until = instant(to, "to");
  if (until !== undefined && start.getTime() > until.at.getTime()) throw invalidArgument("from must not be after to");
  const end = until === undefined ? new Date(now.getTime() + 1) : until.date ? new Date(until.at.getTime() + 86_400_000) : until.at;
  return { from: start, to: end };
}

/**
 * Streams a business's customers and ledger as CSV records (arrays of
 * cells), a page at a time: the caller writes them out (csv-stringify) as
 * the client reads, in constant memory at any size.
 */
export function createCustomerExporter(deps: ServiceDeps) {
  const repo = createExportRepository(deps.db);
  return {
    async *customers(businessId: string): AsyncGenerator<(string | number)[]> {
      for await (const page of repo.customers(businessId)) {
        for (const c of page) {
          yield [c.phone, c.name, c.notes, c.total_points, c.status, c.id, c.total_points, c.lifetime_points, iso(c.created_at), iso(c.updated_at), iso(c.last_visit_at)];
        }
      }
    },
    async *ledger(businessId: string, range: { from: Date; to: Date }): AsyncGenerator<(string | number)[]> {
      for await (const page of repo.ledger(businessId, range.from, range.to)) {
        for (const l of page) {
          yield [l.id, iso(l.created_at), l.customer_id, l.phone, l.type, l.delta, l.balance_after, l.reason, l.store_id ?? "", l.api_key_id ?? "", l.owner_id ?? "", l.redemption_id ?? ""];
        }
      }
    },
  };
}

export type CustomerExporter = ReturnType<typeof createCustomerExporter>;
