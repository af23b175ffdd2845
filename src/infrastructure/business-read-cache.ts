import { LRUCache } from "lru-cache";

/**
 * Short-lived results of expensive reads of one business's data (the
 * owner's customer list: a page and an exact count over up to 100,000
 * customers), shared by every caller of this instance:
 *
 * - identical reads in flight share one database query (single flight:
 *   lru-cache's `fetch`);
 * - a result is served again for at most `ttlMs`, and only while the
 *   business is unchanged: `changed` moves the business to a new
 *   generation, and a result is filed under the generation it was read in,
 *   so every earlier result (one still loading included) is never served
 *   again and ages out of the LRU;
 * - who calls `changed`, on this instance and through Redis on the others,
 *   is src/services/cached-reads.ts.
 */
export interface BusinessReadCache {
  get<T>(businessId: string, key: string, load: () => Promise<T>): Promise<T>;
  /** The business's data changed (called after the change committed). */
  changed(businessId: string): void;
}

export function createBusinessReadCache(opts: { ttlMs: number; maxEntries?: number }): BusinessReadCache {
  // A cached list page holds up to 100 customers (≈ 70 KB with its JSON):
  // 500 entries bound the cache near 35 MB, and expired ones leave early.
  const entries = new LRUCache<string, {}, () => Promise<unknown>>({
    max: opts.maxEntries ?? 500,
    ttl: Math.max(opts.ttlMs, 1),
    fetchMethod: async (_id, _stale, { context }) => (await context()) as {},
  });
  // A business's generation; one pushed out of the LRU starts again at a
  // number never used for it (the clock), so no old entry matches.
  const gens = new LRUCache<string, number>({ max: 100_000 });
  let next = Date.now();
  const gen = (businessId: string) => {
    let g = gens.get(businessId);
    if (g === undefined) gens.set(businessId, (g = next++));
    return g;
  };

  return {
    async get<T>(businessId: string, key: string, load: () => Promise<T>): Promise<T> {
      if (opts.ttlMs === 0) return load();
      return (await entries.fetch(`${businessId}\n${gen(businessId)}\n${key}`, { context: load })) as T;
    },
    changed(businessId: string) {
      gens.set(businessId, next++);
    },
  };
}
