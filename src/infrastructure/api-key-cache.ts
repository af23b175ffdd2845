import { LRUCache } from "lru-cache";
import type { KvStore } from "./kv-store.js";

/** What authentication needs to know of a valid API key. */
export interface CachedApiKey {
  id: string;
  businessId: string;
  storeId: string | null;
}

/** The in-process layer holds a key at most this long. */
const LOCAL_TTL_MS = 5_000;

/**
 * Validated API keys, cached in two layers: in process for a few seconds
 * (no round trip on the POS hot path; an LRU of 10,000 keys) and in Redis
 * for the configured TTL (≤ 60 s). Revocation is `forget` here and `evict`
 * in Redis, told to every instance by the cached reads' change channel
 * (src/services/cached-reads.ts). With Redis down, revocation on another
 * instance still takes effect within the local TTL (a key missing from
 * both layers is checked in PostgreSQL).
 */
export function createApiKeyCache(kv: KvStore, opts: { ttlMs: number }) {
  const local = new LRUCache<string, CachedApiKey>({ max: 10_000, ttl: Math.min(LOCAL_TTL_MS, opts.ttlMs) });

  return {
    /** The cached key, or undefined when neither layer has it (or Redis fails). */
    async get(keyHash: string): Promise<CachedApiKey | undefined> {
      const hit = local.get(keyHash);
      if (hit) return hit;
      try {
        const raw = await kv.get(`apikey:${keyHash}`);
        if (raw) {
          const key = JSON.parse(raw) as CachedApiKey;
          local.set(keyHash, key);
          return key;
        }
      } catch {
        // Redis unavailable: the caller asks PostgreSQL.
      }
      return undefined;
    },

    /** The key when the in-process layer holds it, without a round trip (the credential gate's check). */
    peek(keyHash: string): CachedApiKey | undefined {
      return local.get(keyHash);
    },

    /** Caches a key just validated in PostgreSQL, in both layers. */
    async set(keyHash: string, key: CachedApiKey): Promise<void> {
      local.set(keyHash, key);
      await kv.set(`apikey:${keyHash}`, JSON.stringify(key), opts.ttlMs).catch(() => undefined);
    },

    /** Drops a key from this instance's layer. */
    forget(keyHash: string): void {
      local.delete(keyHash);
    },

    /** Drops a revoked key from both layers; rejects when Redis could not be told. */
    async evict(keyHash: string): Promise<void> {
      local.delete(keyHash);
      await kv.del(`apikey:${keyHash}`);
    },
  };
}

export type ApiKeyCache = ReturnType<typeof createApiKeyCache>;
