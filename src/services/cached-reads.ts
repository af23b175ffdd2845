import { LRUCache } from "lru-cache";
import { createApiKeyCache, type CachedApiKey } from "../infrastructure/api-key-cache.js";
import { createBusinessReadCache } from "../infrastructure/business-read-cache.js";
import type { KvStore } from "../infrastructure/kv-store.js";
import { createOwnerTokenCache } from "../infrastructure/owner-token-cache.js";
import { hashApiKey, type OwnerClaims, type TokenService } from "../infrastructure/secrets.js";
import type { FastifyBaseLogger } from "fastify";
import type { AccountRepository } from "../persistence/account-repository.js";
import type { ProgramView } from "../persistence/catalogue-repository.js";
import type { Db } from "../persistence/db.js";

/**
 * What changed in a business, i.e. which cached reads must go:
 *
 * - `"customers"`: its customers, points or ledger (any mutating RPC says
 *   so, through the change interceptor): the owner's cached lists;
 * - `"program"`: its program, rewards or promotions: the program every POS
 *   call reads, and the lists (they show `rewardAvailable`);
 * - `{ apiKeyRevoked }`: that key (by its hash), in both cache layers;
 * - `{ ownerTokensEnded }`: the owner's tokens below that generation (log-out,
 *   password change) or all of them (`"gone"`).
 */
export type BusinessChange =
  | "customers"
  | "program"
  | { apiKeyRevoked: string }
  | { ownerTokensEnded: { ownerId: string; generation: number | "gone" } };

/** The one Redis channel of change messages (every instance, this one included, subscribes). */
const CHANNEL = "loyalty:business-changed";
/** A busy till writes hundreds of times a second: `"customers"` is told to the others at most this often per business. */
const PUBLISH_EVERY_MS = 50;
/** How long a program read is served again on this instance. */
const PROGRAM_TTL_MS = 2_000;

/**
 * Every per-business cached read of an instance, and the one way to say
 * that something changed: `changed(businessId, what)`. It runs once the
 * current transaction has ended (evicted before the commit, a read in
 * between would fill the cache again from the uncommitted past), on this
 * instance at once and, through one Redis channel, on the others within
 * milliseconds (with Redis unreachable, within each read's TTL).
 *
 * A new cached read is one entry here: an LRU (lru-cache, with `fetch` for
 * single flight) filled by its loader, and the changes that drop it in
 * `drop` below.
 */
export interface CachedReads {
  /** The program, its rewards and active promotions (every POS call). `fresh` reads it again. */
  program(businessId: string, opts?: { fresh?: boolean }): Promise<ProgramView>;
  /** An owner's list (a page and its count), served again while the business is unchanged (LIST_CACHE_TTL_MS). */
  list<T>(businessId: string, key: string, load: () => Promise<T>): Promise<T>;
  /** A valid API key: in process, then Redis, then PostgreSQL (which fills both). */
  apiKey(key: string): Promise<CachedApiKey | undefined>;
  /** The key when this instance holds it, without any I/O (the credential gate, before the body). */
  peekApiKey(key: string): CachedApiKey | undefined;
  /** A token's claims, verified once per token until it expires; null for an invalid one. */
  ownerClaims(token: string): Promise<OwnerClaims | null>;
  /** Whether the owner's tokens of `generation` are still good (not ended by a log-out or password change). */
  ownerTokenIsCurrent(ownerId: string, generation: number): Promise<boolean>;
  /**
   * Something changed in the business: run after the commit (deferred by
   * itself inside a transaction), here and on every instance. Never
   * rejects: a revocation or an end of tokens that could not be told
   * through Redis is logged (the other instances then refuse the key or
   * token within their local TTL).
   */
  changed(businessId: string, what: BusinessChange): Promise<void>;
}

type Message = { b: string; w: BusinessChange };

export function createCachedReads(deps: {
  kv: KvStore;
  db: Pick<Db, "afterTransaction">;
  accounts: Pick<AccountRepository, "readProgram" | "findActiveApiKey" | "ownerTokenGeneration">;
  tokens: TokenService;
  log: Pick<FastifyBaseLogger, "warn">;
  listTtlMs: number;
  apiKeyTtlMs: number;
}): CachedReads {
  const { kv, db, accounts, tokens } = deps;

  // Both filed under the business's generation, which a change moves on:
  // a read in flight during the change is never served after it.
  const programs = createBusinessReadCache({ ttlMs: PROGRAM_TTL_MS, maxEntries: 10_000 });
  const lists = createBusinessReadCache({ ttlMs: deps.listTtlMs });
  const apiKeys = createApiKeyCache(kv, { ttlMs: deps.apiKeyTtlMs });
  /** SHA-256 of the keys seen: a till sends its key with every call. */
  const keyHashes = new LRUCache<string, string>({ max: 10_000 });
  const hashOf = (key: string) => {
    let h = keyHashes.get(key);
    if (h === undefined) keyHashes.set(key, (h = hashApiKey(key)));
    return h;
  };
  const ownerGenerations = createOwnerTokenCache({ load: (ownerId) => accounts.ownerTokenGeneration(ownerId) });
  // Each entry lives until its token expires (set below); Date's clock, as the token's `exp`.
  const verifiedTokens = new LRUCache<string, OwnerClaims>({ max: 10_000, ttl: 1, perf: { now: () => Date.now() } });

  /** What a change drops on this instance (its own, or another's through the channel). */
  function drop(businessId: string, what: BusinessChange, fromAnother: boolean) {
    if (what === "customers") {
      lists.changed(businessId);
      // Another instance's write may have been to the catalogue (its stock
      // left, say): its program is read again too.
      if (fromAnother) programs.changed(businessId);
    } else if (what === "program") {
      programs.changed(businessId);
      lists.changed(businessId);
    } else if ("apiKeyRevoked" in what) {
      apiKeys.forget(what.apiKeyRevoked);
    } else {
      ownerGenerations.learn(what.ownerTokensEnded.ownerId, what.ownerTokensEnded.generation);
    }
  }

  kv.subscribe(CHANNEL, (raw) => {
    // A bare business id is a "customers" change (the coalesced message).
    const m: Message = raw.startsWith("{") ? (JSON.parse(raw) as Message) : { b: raw, w: "customers" };
    drop(m.b, m.w, true);
  });

  const lastPublished = new LRUCache<string, number>({ max: 10_000 });
  const pending = new Set<string>();
  /** Tells the other instances of a "customers" change, at most once per PUBLISH_EVERY_MS per business. */
  const publishCoalesced = (businessId: string) => {
    if (pending.has(businessId)) return;
    const wait = (lastPublished.get(businessId) ?? 0) + PUBLISH_EVERY_MS - Date.now();
    const send = () => {
      pending.delete(businessId);
      lastPublished.set(businessId, Date.now());
      kv.publish(CHANNEL, businessId).catch(() => undefined);
    };
    if (wait <= 0) return send();
    pending.add(businessId);
    setTimeout(send, wait).unref();
  };

  async function now(businessId: string, what: BusinessChange): Promise<void> {
    drop(businessId, what, false);
    if (what === "customers") return publishCoalesced(businessId);
    if (typeof what === "object" && "apiKeyRevoked" in what) await apiKeys.evict(what.apiKeyRevoked);
    await kv.publish(CHANNEL, JSON.stringify({ b: businessId, w: what } satisfies Message));
  }

  return {
    program(businessId, opts = {}) {
      if (opts.fresh === true) programs.changed(businessId);
      return programs.get(businessId, "program", () => accounts.readProgram(businessId));
    },
    list: (businessId, key, load) => lists.get(businessId, key, load),
    async apiKey(key) {
      const keyHash = hashOf(key);
      const cached = await apiKeys.get(keyHash);
      if (cached) return cached;
      const found = await accounts.findActiveApiKey(keyHash);
      if (found) await apiKeys.set(keyHash, found);
      return found;
    },
    peekApiKey: (key) => apiKeys.peek(hashOf(key)),
    async ownerClaims(token) {
      const known = verifiedTokens.get(token);
      if (known !== undefined) return known;
      const verified = await tokens.verify(token);
      if (verified === null) return null;
      const { expiresAt, ...claims } = verified;
      // Kept until the token expires: the portal sends one token per owner with every call.
      if (expiresAt > Date.now()) verifiedTokens.set(token, claims, { ttl: expiresAt - Date.now() });
      return claims;
    },
    ownerTokenIsCurrent: (ownerId, generation) => ownerGenerations.isCurrent(ownerId, generation),
    changed: (businessId, what) =>
      db.afterTransaction(() =>
        now(businessId, what).catch((err: Error) => {
          // A program message lost only delays the others by its TTL; a
          // revocation or an end of tokens is worth a warning.
          if (what !== "program") deps.log.warn({ err: err.message, businessId }, "could not tell the other instances of a change");
        }),
      ),
  };
}
