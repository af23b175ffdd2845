import type { Db } from "./db.js";

/** Rows read per statement: memory stays at one page whatever the size of the business. */
export const EXPORT_PAGE = 1_000;

/** A customer row of the export. */
export interface CustomerExportRow {
  id: string;
  phone: string;
  name: string;
  notes: string;
  status: string;
  total_points: number;
  /** Points ever added (the sum of positive ledger entries), as text: a bigint. */
  lifetime_points: string;
  created_at: Date;
  updated_at: Date;
  last_visit_at: Date | null;
  /** The keyset cursor: created_at with PostgreSQL's microseconds (a JS Date keeps milliseconds). */
  k: string;
}

/** A ledger row of the export. */
export interface LedgerExportRow {
  id: string;
  created_at: Date;
  customer_id: string;
  phone: string;
  type: string;
  delta: number;
  balance_after: number;
  reason: string;
  store_id: string | null;
  api_key_id: string | null;
  owner_id: string | null;
  redemption_id: string | null;
  k: string;
}

/**
 * Exports read in pages by keyset (created_at, id) on the business's
 * created-at indexes: no cursor holds a connection while a slow client
 * downloads, and each page is one short statement.
 */
export function createExportRepository(db: Db) {
  return {
    async *customers(businessId: string): AsyncGenerator<CustomerExportRow[]> {
      let after: [string, string] | undefined;
      for (;;) {
        const rows = await db.query<CustomerExportRow>(
          `select c.id, c.phone, c.name, c.notes, c.status, c.total_points, c.created_at, c.updated_at, c.last_visit_at,
                  c.created_at::text as k,
                  coalesce((select sum(l.delta) from ledger_entry l
                            where l.business_id = c.business_id and l.customer_id = c.id and l.delta > 0), 0)::text as lifetime_points
           from customer c
           where c.business_id = ? and (c.created_at, c.id) > (?::timestamptz, ?)
           order by c.created_at, c.id limit ?`,
          [businessId, after?.[0] ?? "-infinity", after?.[1] ?? "", EXPORT_PAGE],
        );
        if (rows.length > 0) yield rows;
        if (rows.length < EXPORT_PAGE) return;
        const last = rows[rows.length - 1]!;
        after = [last.k, last.id];
      }
    },

    /** Ledger entries with from <= created_at < to. */
    async *ledger(businessId: string, from: Date, to: Date): AsyncGenerator<LedgerExportRow[]> {
      let after: [string, string] | undefined;
      for (;;) {
        const rows = await db.query<LedgerExportRow>(
          `select l.id, l.created_at, l.customer_id, c.phone, l.type, l.delta, l.balance_after, l.reason,
                  l.store_id, l.api_key_id, l.owner_id, l.redemption_id, l.created_at::text as k
           from ledger_entry l join customer c on c.id = l.customer_id
           where l.business_id = ? and l.created_at >= ? and l.created_at < ?
             and (l.created_at, l.id) > (?::timestamptz, ?)
           order by l.created_at, l.id limit ?`,
          [businessId, from, to, after?.[0] ?? "-infinity", after?.[1] ?? "", EXPORT_PAGE],
        );
        if (rows.length > 0) yield rows;
        if (rows.length < EXPORT_PAGE) return;
        const last = rows[rows.length - 1]!;
        after = [last.k, last.id];
      }
    },
  };
}

export type ExportRepository = ReturnType<typeof createExportRepository>;
