import type { KvStore } from "../infrastructure/kv-store.js";

/**
 * Serialises debits of one customer across instances with a Redis lock
 * (SET NX PX + compare-and-delete). It only reduces contention on the row:
 * PostgreSQL's conditional update is the guarantee, so when Redis is down or
 * the lock stays busy the work goes ahead without it.
 */
export async function withCustomerLock<T>(kv: KvStore, key: string, fn: () => Promise<T>): Promise<T> {
  const lockKey = `lock:customer:${key}`;
  let token: string | null = null;
  try {
    for (let attempt = 0; attempt < 5 && token === null; attempt++) {
      token = await kv.acquireLock(lockKey, 2_000);
      if (token === null) await new Promise((r) => setTimeout(r, 5 + attempt * 10));
    }
  } catch {
    token = null; // Redis unavailable: go on without the optimisation.
  }
  try {
    return await fn();
  } finally {
    if (token !== null) kv.releaseLock(lockKey, token).catch(() => undefined);
  }
}
