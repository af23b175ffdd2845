import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { FastifyBaseLogger } from "fastify";
import type { Config } from "../config/config.js";
import { LRUCache } from "lru-cache";
import type { RateCounter } from "../infrastructure/rate-counter.js";
import { API_KEY_PATTERN } from "../infrastructure/secrets.js";
import type { AccountRepository } from "../persistence/account-repository.js";
import type { CachedReads } from "../services/cached-reads.js";
import { kPrincipal, type Principal } from "../services/principal.js";
import { authOf } from "./method-rules.js";

/**
 * Authenticates every call, over every protocol, and rate-limits per API key
 * and per owner. Each method takes the credential its proto names
 * (`(loyalty.v1.auth)`, method-rules.ts): an API key only, an owner JWT
 * only, or none; a method whose proto names none is refused (the start
 * refuses it first). Keys, verified tokens and owners' token generations
 * are cached reads (src/services/cached-reads.ts: a revoked key or ended
 * token is dropped on every instance at once); with Redis down, keys
 * missing from the local cache are checked in PostgreSQL and rate limits
 * are skipped.
 */
export function createAuthInterceptor(deps: {
  config: Config;
  reads: CachedReads;
  accounts: Pick<AccountRepository, "touchApiKey">;
  rates: RateCounter;
  log: FastifyBaseLogger;
}): Interceptor {
  const { config, reads, accounts, rates, log } = deps;
  /** When each key's last_used_at was last written (by this instance). */
  const lastTouched = new LRUCache<string, true>({ max: 10_000, ttl: 60_000 });

  async function rateLimit(subject: string, limit: number) {
    const retryAfter = await rates.hit(subject, limit);
    if (retryAfter !== undefined) {
      throw new ConnectError("rate limit exceeded, retry later", Code.ResourceExhausted, { "retry-after": String(retryAfter) });
    }
  }

  /** last_used_at is advisory: written at most once a minute per key. */
  function touch(id: string) {
    if (lastTouched.has(id)) return;
    lastTouched.set(id, true);
    accounts.touchApiKey(id).catch((err: Error) => log.debug({ err: err.message }, "could not record API key use"));
  }

  return (next) => async (req) => {
    const kind = authOf(req.method);
    let principal: Principal = { kind: "anonymous" };
    if (kind === undefined) throw new ConnectError("internal error", Code.Internal);
    if (kind === "api_key") {
      const key = req.header.get("x-api-key");
      if (!key) throw new ConnectError("missing API key: send it in the X-API-Key header", Code.Unauthenticated);
      if (!API_KEY_PATTERN.test(key)) throw new ConnectError("malformed API key", Code.Unauthenticated);
      const found = await reads.apiKey(key);
      if (!found) throw new ConnectError("invalid or revoked API key", Code.Unauthenticated);
      principal = { kind: "api_key", businessId: found.businessId, apiKeyId: found.id, storeId: found.storeId };
      touch(found.id);
      await rateLimit(`key:${found.id}`, config.posRateLimitPerMinute);
    } else if (kind === "owner") {
      const header = req.header.get("authorization") ?? "";
      const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
      if (!match) throw new ConnectError("missing owner token: send Authorization: Bearer <token>", Code.Unauthenticated);
      const claims = await reads.ownerClaims(match[1]!);
      if (!claims) throw new ConnectError("invalid or expired token", Code.Unauthenticated);
      // Ended by a log-out or password change, or the owner is gone: the
      // generation is cached per owner (no database read per call).
      if (!(await reads.ownerTokenIsCurrent(claims.ownerId, claims.generation))) {
        throw new ConnectError("invalid or expired token", Code.Unauthenticated);
      }
      principal = { kind: "owner", businessId: claims.businessId, ownerId: claims.ownerId };
      await rateLimit(`owner:${claims.ownerId}`, config.ownerRateLimitPerMinute);
    }
    req.contextValues.set(kPrincipal, principal);
    return next(req);
  };
}
