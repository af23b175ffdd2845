import { LRUCache } from "lru-cache";

/** How long an owner's generation is trusted without asking PostgreSQL again (bounds staleness only with Redis down). */
export const OWNER_GENERATION_TTL_MS = 10_000;
/** The generation of an owner who no longer exists: no token matches it. */
const GONE = Number.POSITIVE_INFINITY;

/**
 * Each owner's current token generation, for verifying owner tokens without
 * a database read per call (like API keys, api-key-cache.ts): kept in
 * process for OWNER_GENERATION_TTL_MS (an LRU of 50,000 owners), read from
 * PostgreSQL when missing or older. A log-out or password change (`learn`,
 * from the cached reads' change channel on every instance) refuses the old
 * tokens at once; with Redis down, on other instances within the TTL.
 *
 * Generations only grow, so every value learnt — from PostgreSQL or from a
 * message — is merged by taking the larger: a read that started before a
 * log-out committed and returns after its message cannot bring the old
 * generation back. A deleted owner has an infinite generation.
 */
export function createOwnerTokenCache(opts: { load: (ownerId: string) => Promise<number | undefined>; now?: () => number }) {
  const now = opts.now ?? (() => Date.now());
  // A stale entry is kept on read: `learn` still merges with it.
  const known = new LRUCache<string, number>({ max: 50_000, ttl: OWNER_GENERATION_TTL_MS, noDeleteOnStaleGet: true, perf: { now } });

  function learn(ownerId: string, generation: number | "gone"): number {
    const g = generation === "gone" ? GONE : generation;
    // An expired entry still holds the largest generation seen: merged too.
    const prev = known.get(ownerId, { allowStale: true });
    const merged = prev === undefined ? g : Math.max(prev, g);
    known.set(ownerId, merged);
    return merged;
  }

  async function fromDatabase(ownerId: string): Promise<number> {
    const generation = await opts.load(ownerId);
    return learn(ownerId, generation ?? "gone");
  }

  return {
    /**
     * Whether a token of `generation` is still good for the owner: it must be
     * the owner's current generation. A token newer than what this instance
     * knows (issued elsewhere a moment ago) is checked against PostgreSQL.
     */
    async isCurrent(ownerId: string, generation: number): Promise<boolean> {
      const hit = known.get(ownerId);
      let current = hit !== undefined ? hit : await fromDatabase(ownerId);
      if (generation > current && hit !== undefined) current = await fromDatabase(ownerId);
      return generation === current;
    },

    /** The owner's tokens below `generation` have ended (log-out, password change), or all of them (`"gone"`). */
    learn,
  };
}

export type OwnerTokenCache = ReturnType<typeof createOwnerTokenCache>;
