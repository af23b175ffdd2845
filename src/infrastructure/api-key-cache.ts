import type { KvStore } from "./kv-store.js";

/** What authentication needs to know of a valid API key. */
export interface CachedApiKey {
  id: string;
  businessId: string;
  storeId: string | null;
}

const CHANNEL = "loyalty:apikey-revoked";
/** The in-process layer holds a key at most this long. */
const LOCAL_TTL_MS = 5_000;

/**
 * Validated API keys, cached in two layers: in process for a few seconds
 * (no round trip on the POS hot path) and in Redis for the configured TTL
 * (≤ 60 s). Revoking evicts both layers on every instance: the Redis entry
 * is deleted and a message on a Redis channel clears each instance's local
 * copy at once. With Redis down, revocation on another instance still takes
 * effect within the local TTL (a key missing from both layers is checked in
 * PostgreSQL).
 */
export function createApiKeyCache(kv: KvStore, opts: { ttlMs: number }) {
  const local = new Map<string, { key: CachedApiKey; expires: number }>();
  const localTtl = Math.min(LOCAL_TTL_MS, opts.ttlMs);
  kv.subscribe(CHANNEL, (keyHash) => local.delete(keyHash));

  return {
    /** The cached key, or undefined when neither layer has it (or Redis fails). */
    async get(keyHash: string): Promise<CachedApiKey | undefined> {
      const hit = local.get(keyHash);
      if (hit && hit.expires > Date.now()) return hit.key;
      try {
        const raw = await kv.get(`apikey:${keyHash}`);
        if (raw) {
          const key = JSON.parse(raw) as CachedApiKey;
          this.remember(keyHash, key);
          return key;
        }
      } catch {
        // Redis unavailable: the caller asks PostgreSQL.
      }
      return undefined;
    },

    /** The key when the in-process layer holds it, without a round trip (the credential gate's check). */
    peek(keyHash: string): CachedApiKey | undefined {
      const hit = local.get(keyHash);
      return hit && hit.expires > Date.now() ? hit.key : undefined;
    },

    /** Caches a key just validated in PostgreSQL, in both layers. */
    async set(keyHash: string, key: CachedApiKey): Promise<void> {
      this.remember(keyHash, key);
      await kv.set(`apikey:${keyHash}`, JSON.stringify(key), opts.ttlMs).catch(() => undefined);
    },

    remember(keyHash: string, key: CachedApiKey) {
      if (local.size >= 10_000) local.clear();
      local.set(keyHash, { key, expires: Date.now() + localTtl });
    },

    /** Evicts a revoked key everywhere; rejects when Redis could not be told. */
    async evict(keyHash: string): Promise<void> {
      local.delete(keyHash);
      await kv.del(`apikey:${keyHash}`);
      await kv.publish(CHANNEL, keyHash);
    },
  };
}

export type ApiKeyCache = ReturnType<typeof createApiKeyCache>;
