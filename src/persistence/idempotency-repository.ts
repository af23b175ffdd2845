import type { Db } from "./db.js";

/** How many expired records one purge statement deletes: short statements, short locks. */
const PURGE_BATCH = 5_000;

/**
 * The Idempotency-Key records (contract §5; table `idempotency_record`):
 * a key is kept 24 hours, then purged by the `purge-idempotency-records`
 * job (src/jobs/).
 */
export function createIdempotencyRepository(db: Db) {
  return {
    /**
     * Deletes the records whose 24 hours are over, in batches (each its own
     * statement, on the `expires_at` index), and answers how many. Safe to
     * run on several instances at once: a row two runs both pick is deleted
     * by one and skipped by the other.
     */
    async purgeExpired(signal?: AbortSignal): Promise<number> {
      let total = 0;
      for (;;) {
        const [row] = await db.query<{ n: number }>(
          `with gone as (
             delete from idempotency_record where ctid = any(array(
               select ctid from idempotency_record where expires_at < now() limit ${PURGE_BATCH} for update skip locked))
             returning 1)
           select count(*)::int as n from gone`,
        );
        total += row!.n;
        if (row!.n < PURGE_BATCH || signal?.aborted) return total;
      }
    },
  };
}

export type IdempotencyRepository = ReturnType<typeof createIdempotencyRepository>;
