import type { KvStore } from "./kv-store.js";

const CHANNEL = "loyalty:owner-tokens-ended";
/** How long an owner's generation is trusted without asking PostgreSQL again (bounds staleness only with Redis down). */
export const OWNER_GENERATION_TTL_MS = 10_000;
/** The generation of an owner who no longer exists: no token matches it. */
const GONE = Number.POSITIVE_INFINITY;

/**
 * Each owner's current token generation, for verifying owner tokens without
 * a database read per call (like API keys, api-key-cache.ts): kept in
 * process for OWNER_GENERATION_TTL_MS, read from PostgreSQL when missing or
 * older. A log-out or password change (`ended`) publishes the owner's new
 * generation on a Redis channel, so every instance refuses the old tokens
 * at once; with Redis down, within the TTL.
 *
 * Generations only grow, so every value learnt — from PostgreSQL or from a
 * message — is merged by taking the larger: a read that started before a
 * log-out committed and returns after its message cannot bring the old
 * generation back. A deleted owner has an infinite generation.
 */
export function createOwnerTokenCache(kv: KvStore, opts: { load: (ownerId: string) => Promise<number | undefined>; now?: () => number }) {
  const now = opts.now ?? (() => Date.now());
  const known = new Map<string, { generation: number; expires: number }>();

  function learn(ownerId: string, generation: number): number {
    const prev = known.get(ownerId);
    const merged = prev === undefined ? generation : Math.max(prev.generation, generation);
    if (known.size >= 50_000 && prev === undefined) known.clear();
    known.set(ownerId, { generation: merged, expires: now() + OWNER_GENERATION_TTL_MS });
    return merged;
  }

  async function fromDatabase(ownerId: string): Promise<number> {
    const generation = await opts.load(ownerId);
    return learn(ownerId, generation ?? GONE);
  }

  kv.subscribe(CHANNEL, (message) => {
    const sep = message.lastIndexOf(":");
    const ownerId = message.slice(0, sep);
    const generation = message.slice(sep + 1) === "gone" ? GONE : Number(message.slice(sep + 1));
    if (ownerId !== "" && !Number.isNaN(generation)) learn(ownerId, generation);
  });

  return {
    /**
     * Whether a token of `generation` is still good for the owner: it must be
     * the owner's current generation. A token newer than what this instance
     * knows (issued elsewhere a moment ago) is checked against PostgreSQL.
     */
    async isCurrent(ownerId: string, generation: number): Promise<boolean> {
      const hit = known.get(ownerId);
      let current = hit !== undefined && hit.expires > now() ? hit.generation : await fromDatabase(ownerId);
      if (generation > current && hit !== undefined && hit.expires > now()) current = await fromDatabase(ownerId);
      return generation === current;
    },

    /**
     * The owner's tokens below `generation` have ended (log-out, password
     * change), or all of them (`"gone"`, a deleted owner): learnt here at once
     * and published to every instance. Call after the change is committed.
     * Rejects when Redis could not be told.
     */
    async ended(ownerId: string, generation: number | "gone"): Promise<void> {
      learn(ownerId, generation === "gone" ? GONE : generation);
      await kv.publish(CHANNEL, `${ownerId}:${generation}`);
    },
  };
}

export type OwnerTokenCache = ReturnType<typeof createOwnerTokenCache>;
