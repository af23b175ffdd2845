import type { Db } from "./db.js";

/** How long a key's record is kept (contract §5). */
export const IDEMPOTENCY_TTL_HOURS = 24;
/** How many expired records one purge statement deletes: short statements, short locks. */
const PURGE_BATCH = 5_000;

/** A key's record as stored. */
export interface StoredIdempotencyRecord {
  requestHash: string;
  /** "ok", or the Connect code (as text) of a stored business error. */
  outcome: string;
  response: Buffer | null;
  errorMessage: string | null;
}

/**
 * The claim of a key, as one script (simple protocol; its values are SQL
 * literals: `sqlLiteral`): BEGIN; the transaction-scoped advisory lock of
 * (business, key); the unexpired record; a savepoint for the handler. The
 * lock and the read are separate statements, so the read's snapshot is
 * taken once the lock is held (a holder that just committed is seen).
 * Its results: `[begin, [{ ok }], [record?], savepoint]`.
 */
export const claimKeyScript = (scopeL: string, keyL: string, lockL: string) => `begin;
  select pg_try_advisory_xact_lock(hashtextextended(${lockL}, 0)) as ok;
  select request_hash as "requestHash", outcome, response, error_message as "errorMessage" from idempotency_record
    where business_id = ${scopeL} and key = ${keyL} and expires_at > now();
  savepoint idem`;

/**
 * The statement that stores a key's outcome for IDEMPOTENCY_TTL_HOURS; an
 * expired record of the key is replaced. Its values are SQL text: literals
 * (`sqlLiteral`, in a script) or `?` placeholders (`Db.query`).
 */
export const recordKeySql = (scope: string, key: string, hash: string, outcome: string, response: string, message: string) =>
  `insert into idempotency_record (business_id, key, request_hash, outcome, response, error_message, expires_at)
  values (${scope}, ${key}, ${hash}, ${outcome}, ${response}, ${message}, now() + interval '${IDEMPOTENCY_TTL_HOURS} hours')
  on conflict (business_id, key) do update
    set request_hash = excluded.request_hash, outcome = excluded.outcome, response = excluded.response,
        error_message = excluded.error_message, created_at = now(), expires_at = excluded.expires_at
    where idempotency_record.expires_at <= now()`;

/**
 * The Idempotency-Key records (contract §5; table `idempotency_record`):
 * a key is kept 24 hours, then purged by the `purge-idempotency-records`
 * job (src/jobs/).
 */
export function createIdempotencyRepository(db: Db) {
  return {
    /** A key's unexpired record (on the caller's transaction, if any). */
    async find(businessId: string, key: string): Promise<StoredIdempotencyRecord | undefined> {
      const [row] = await db.query<StoredIdempotencyRecord>(
        `select request_hash as "requestHash", outcome, response, error_message as "errorMessage" from idempotency_record
         where business_id = ? and key = ? and expires_at > now()`,
        [businessId, key],
      );
      return row;
    },

    /** Stores a successful outcome's response under the key. */
    async storeOk(businessId: string, key: string, requestHash: string, response: Buffer): Promise<void> {
      await db.query(recordKeySql("?", "?", "?", "'ok'", "?", "null"), [businessId, key, requestHash, response]);
    },

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
