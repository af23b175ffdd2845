import type { KvStore } from "./kv-store.js";

const CHANNEL = "loyalty:business-changed";

/**
 * Short-lived results of expensive reads of one business's data (the
 * owner's customer list: a page and an exact count over up to 100,000
 * customers), shared by every caller of this instance:
 *
 * - identical reads in flight share one database query (single flight);
 * - a result is served again for at most `ttlMs`, and only while the
 *   business is unchanged: every write to a business (any mutating RPC,
 *   see `createChangeInterceptor`) bumps its generation here at once and, on
 *   the other instances, through a Redis channel within `publishEveryMs`;
 * - so an owner always reads their own writes and a till's check-in is in
 *   the next list on this instance; another instance's write shows within
 *   a few milliseconds, or within `ttlMs` when Redis is unreachable.
 */
export interface BusinessReadCache {
  get<T>(businessId: string, key: string, load: () => Promise<T>): Promise<T>;
  /** The business's data changed (called after the change committed). */
  changed(businessId: string): void;
}

interface Entry {
  gen: number;
  at: number;
  value: Promise<unknown>;
}

export function createBusinessReadCache(
  kv: KvStore,
  opts: {
    ttlMs: number;
    maxEntries?: number;
    publishEveryMs?: number;
    /** Called for each change message from the channel (this instance's own included): per-instance caches to drop. */
    onMessage?: (businessId: string) => void;
  },
): BusinessReadCache {
  // A cached list page holds up to 100 customers (≈ 70 KB with its JSON):
  // 500 entries bound the cache near 35 MB, and expired ones leave early.
  const maxEntries = opts.maxEntries ?? 500;
  const publishEveryMs = opts.publishEveryMs ?? 50;
  const gens = new Map<string, number>();
  const entries = new Map<string, Entry>();
  const lastPublished = new Map<string, number>();
  const pending = new Set<string>();

  const bump = (businessId: string) => {
    gens.set(businessId, (gens.get(businessId) ?? 0) + 1);
    if (gens.size > 100_000) gens.clear(); // every entry then misses once: still correct
  };
  kv.subscribe(CHANNEL, (businessId) => {
    bump(businessId);
    opts.onMessage?.(businessId);
  });

  /** Tells the other instances, at most once per `publishEveryMs` per business (a busy till writes hundreds of times a second). */
  const publish = (businessId: string) => {
    if (pending.has(businessId)) return;
    const wait = (lastPublished.get(businessId) ?? 0) + publishEveryMs - Date.now();
    const send = () => {
      pending.delete(businessId);
      lastPublished.set(businessId, Date.now());
      if (lastPublished.size > 10_000) lastPublished.clear();
      kv.publish(CHANNEL, businessId).catch(() => undefined);
    };
    if (wait <= 0) return send();
    pending.add(businessId);
    setTimeout(send, wait).unref();
  };

  return {
    get<T>(businessId: string, key: string, load: () => Promise<T>): Promise<T> {
      const id = `${businessId}\n${key}`;
      const gen = gens.get(businessId) ?? 0;
      const now = Date.now();
      const hit = entries.get(id);
      if (hit && hit.gen === gen && now - hit.at < opts.ttlMs) return hit.value as Promise<T>;
      const value = load();
      entries.delete(id);
      entries.set(id, { gen, at: now, value });
      // Oldest first (every entry lives ttlMs): drop the expired and the excess.
      for (const [key, entry] of entries) {
        if (entries.size <= maxEntries && now - entry.at < opts.ttlMs) break;
        entries.delete(key);
      }
      value.catch(() => {
        if (entries.get(id)?.value === value) entries.delete(id);
      });
      return value;
    },
    changed(businessId: string) {
      bump(businessId);
      publish(businessId);
    },
  };
}
