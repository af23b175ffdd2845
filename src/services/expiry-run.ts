import { lastValidDay, localDate, startOfLocalDay, warningUntil } from "../domain/expiry.js";
import type { Db } from "../persistence/db.js";
import type { LotRepository } from "../persistence/lot-repository.js";
import { createEventRepository } from "../persistence/event-repository.js";

/**
 * The expiry run (contract §10): for each business that keeps lots, the
 * points whose last valid day is before the run's day D (the local day of
 * the scheduled run, or `--as-of D`) leave the balance, as one EXPIRY ledger
 * row per customer.
 *
 * Exactly once in effect, on any number of instances and after a kill: a
 * lot is emptied in the same transaction as its customer's balance and
 * EXPIRY row, under the customer's row lock, so a second run (or a second
 * instance running at once) finds nothing left to expire for it. Batches of
 * customers, keyed by id, each its own short transaction: a check-in of a
 * customer in the batch waits for that batch only (milliseconds), and a run
 * killed mid-way has committed whole batches, which the next run skips.
 * Then, the same way, the warnings: one points.expiring_soon event per live
 * lot that stops counting within the program's `expiryWarningDays` of D,
 * written with the lot's `warned_at` in one transaction (once per lot).
 */

export interface ExpiryRunOptions {
  /** The run's day (YYYY-MM-DD), the same date in every business's zone; default: each business's local today. */
  asOf?: string;
  /** The clock (tests). */
  now?: Date;
  /** Customers per transaction (default 1,000). */
  batchSize?: number;
  /** Only these businesses (tests). */
  businessIds?: string[];
  /** Scheduled runs skip a business whose run of its local today has finished. */
  skipFinished?: boolean;
  /** Called after each batch committed (tests stop a run there). */
  afterBatch?: (done: { businessId: string; customers: number; points: number }) => Promise<void> | void;
  /** Aborted: stop after the batch in flight (the next run carries on where the lots say). */
  signal?: AbortSignal;
  /** A business's balances changed (after the commit): its cached reads go. */
  changed?: (businessId: string) => void;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export interface ExpiryRunResult {
  businesses: number;
  customers: number;
  points: number;
  lots: number;
  /** Lots warned about (one points.expiring_soon event each). */
  warned: number;
  batches: number;
  durationMs: number;
}

/** What the runs of this process did (exported as Prometheus metrics, transport/metrics.ts). */
export const expiryTotals = {
  runs: 0,
  customers: 0,
  points: 0,
  lots: 0,
  lastDurationSeconds: 0,
  lastCustomers: 0,
  lastPoints: 0,
};

/** A deadlock or serialization failure: the batch is tried again. */
const isRetryable = (err: unknown) => ["40P01", "40001"].includes((err as { code?: string } | null)?.code ?? "");

/**
 * Keyed batches of customers, each its own transaction (retried on a
 * deadlock or serialization failure): `next(afterId)` reads the next ids
 * (no lock), `work(ids)` runs in the batch's transaction, `after` sees what
 * each committed batch did. Stops when `next` finds none or on `signal`.
 */
async function keyedBatches<T>(
  db: Db,
  signal: AbortSignal | undefined,
  next: (afterId: string) => Promise<string[]>,
  work: (ids: string[]) => Promise<T>,
  after: (done: T) => Promise<void> | void,
): Promise<void> {
  let afterId = "";
  for (;;) {
    if (signal?.aborted) return;
    const ids = await next(afterId);
    if (ids.length === 0) return;
    let done: { value: T } | undefined;
    for (let attempt = 0; !done; attempt++) {
      try {
        done = { value: await db.tx(() => work(ids)) };
      } catch (err) {
        if (!isRetryable(err) || attempt === 4) throw err;
      }
    }
    afterId = ids[ids.length - 1]!;
    await after(done.value);
  }
}

export async function runExpiry(deps: { db: Db; lots: LotRepository }, opts: ExpiryRunOptions = {}): Promise<ExpiryRunResult> {
  const { db, lots } = deps;
  const events = createEventRepository(db);
  const started = performance.now();
  const now = opts.now ?? new Date();
  const batchSize = opts.batchSize ?? 1000;
  const businesses = await db.query<{ business_id: string; timezone: string; warning_days: number }>(
    `select business_id, timezone, expiry_warning_days as warning_days from program where expiry_since is not null${opts.businessIds ? " and business_id = any(?::text[])" : ""} order by business_id`,
    opts.businessIds ? [opts.businessIds] : [],
  );
  const total: ExpiryRunResult = { businesses: 0, customers: 0, points: 0, lots: 0, warned: 0, batches: 0, durationMs: 0 };
  for (const b of businesses) {
    const runDate = opts.asOf ?? localDate(now, b.timezone);
    if (opts.skipFinished) {
      const done = await db.query(`select 1 from expiry_run where business_id = ? and run_date = ? and finished_at is not null`, [b.business_id, runDate]);
      if (done.length > 0) continue;
    }
    const t0 = performance.now();
    const cutoff = startOfLocalDay(runDate, b.timezone);
    await db.query(
      `insert into expiry_run (business_id, run_date, runs) values (?, ?, 1)
       on conflict (business_id, run_date) do update set runs = expiry_run.runs + 1, started_at = now(), finished_at = null`,
      [b.business_id, runDate],
    );
    const mine = { customers: 0, points: 0, lots: 0, warned: 0 };
    await keyedBatches(
      db,
      opts.signal,
      (afterId) => lots.dueCustomers(b.business_id, cutoff, afterId, batchSize),
      async (ids) => {
        await lots.lockCustomers(b.business_id, ids);
        const at = new Date();
        const out = await lots.expireBatch(b.business_id, ids, cutoff, at);
        const sum = { customers: out.rows.length, points: out.rows.reduce((n, r) => n + r.points, 0), lots: out.lots };
        await db.query(`update expiry_run set customers = customers + ?, points = points + ? where business_id = ? and run_date = ?`, [
          sum.customers, sum.points, b.business_id, runDate,
        ]);
        // One points.expired event per EXPIRY row, in its transaction (contract §11), with a
        // delivery row for each subscribed endpoint: the run has no delivery queue of its own
        // (the CLI runs without jobs), so the sweep-webhooks job queues their attempts.
        await events.record(
          b.business_id,
          out.rows.map((r) => ({
            type: "points.expired" as const,
            customerId: r.customerId,
            object: { customerId: r.customerId, ledgerEntryId: r.id, pointsExpired: r.points, newBalance: r.balanceAfter, runDate, createdAt: at.toISOString() },
          })),
          {},
          true,
        );
        return sum;
      },
      async (done) => {
        total.batches++;
        mine.customers += done.customers;
        mine.points += done.points;
        mine.lots += done.lots;
        if (done.customers > 0) opts.changed?.(b.business_id);
        await opts.afterBatch?.({ businessId: b.business_id, customers: done.customers, points: done.points });
      },
    );
    // Then the warnings (contract §11, points.expiring_soon): once per live lot that stops
    // counting within the warning days of the run's day, in the same keyed batches and
    // under the same row locks; the lot's warned_at is set in its event's transaction,
    // so a second run, a second instance or a run after a killed one never warns twice.
    // Nothing when the business's warning days are 0.
    if (b.warning_days > 0 && !opts.signal?.aborted) {
      const until = warningUntil(runDate, b.warning_days, b.timezone);
      await keyedBatches(
        db,
        opts.signal,
        (afterId) => lots.warnCustomers(b.business_id, cutoff, until, afterId, batchSize),
        async (ids) => {
          await lots.lockCustomers(b.business_id, ids);
          const at = new Date();
          const warned = await lots.warnBatch(b.business_id, ids, cutoff, until, at);
          await events.record(
            b.business_id,
            warned.map((w) => ({
              type: "points.expiring_soon" as const,
              customerId: w.customerId,
              object: {
                customerId: w.customerId,
                lotId: w.lotId,
                pointsExpiring: w.points,
                expiresAt: w.expiresAt.toISOString(),
                lastValidDay: lastValidDay(w.expiresAt, b.timezone),
                totalPointsExpiring: w.totalExpiring,
                runDate,
                createdAt: at.toISOString(),
              },
            })),
            {},
            true,
          );
          return warned.length;
        },
        (n) => {
          total.batches++;
          mine.warned += n;
        },
      );
    }
    if (opts.signal?.aborted) {
      opts.log?.warn({ businessId: b.business_id, runDate, ...mine }, "expiry run stopped before the end (it carries on at the next run)");
      break;
    }
    await db.query(`update expiry_run set finished_at = now() where business_id = ? and run_date = ?`, [b.business_id, runDate]);
    total.businesses++;
    total.customers += mine.customers;
    total.points += mine.points;
    total.lots += mine.lots;
    total.warned += mine.warned;
    opts.log?.info({ businessId: b.business_id, runDate, ...mine, ms: Math.round(performance.now() - t0) }, "points expired");
  }
  total.durationMs = Math.round(performance.now() - started);
  expiryTotals.runs++;
  expiryTotals.customers += total.customers;
  expiryTotals.points += total.points;
  expiryTotals.lots += total.lots;
  expiryTotals.lastDurationSeconds = total.durationMs / 1000;
  expiryTotals.lastCustomers = total.customers;
  expiryTotals.lastPoints = total.points;
  opts.log?.info({ ...total, asOf: opts.asOf ?? null }, "expiry run finished");
  return total;
}
