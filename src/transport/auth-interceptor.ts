import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { FastifyBaseLogger } from "fastify";
import type { Config } from "../config/config.js";
import type { KvStore } from "../infrastructure/kv-store.js";
import { API_KEY_PATTERN, hashApiKey, type TokenService } from "../infrastructure/secrets.js";
import type { AccountRepository, ApiKeyPrincipal } from "../persistence/account-repository.js";
import { kPrincipal, type Principal } from "./context.js";

/** Which credential each service takes (contract §3); absent = none. */
export const AUTH_OF_SERVICE: Readonly<Record<string, "api_key" | "owner">> = {
  "loyalty.v1.LoyaltyPos": "api_key",
  "loyalty.v1.CustomerAdmin": "owner",
  "loyalty.v1.BusinessSettings": "owner",
};

/**
 * Authenticates every call, over every protocol, and rate-limits per API key
 * and per owner. POS methods accept only an API key, owner methods only a
 * JWT. Validated keys are cached in Redis (evicted on revoke); with Redis
 * down, keys are checked in PostgreSQL and rate limits are skipped.
 */
export function createAuthInterceptor(deps: {
  config: Config;
  kv: KvStore;
  tokens: TokenService;
  accounts: AccountRepository;
  log: FastifyBaseLogger;
}): Interceptor {
  const { config, kv, tokens, accounts, log } = deps;
  const ttlMs = config.apiKeyCacheTtlSeconds * 1000;
  const lastTouched = new Map<string, number>();

  /**
   * Resolves an API key: the Redis cache look-up and the key's rate-limit
   * counter travel in one round trip; on a miss PostgreSQL answers and the
   * cache is filled. With Redis down, PostgreSQL answers and no limit applies.
   */
  async function apiKeyPrincipal(key: string): Promise<ApiKeyPrincipal | undefined> {
    const keyHash = hashApiKey(key);
    const cacheKey = `apikey:${keyHash}`;
    const window = Math.floor(Date.now() / 60_000);
    let cached: string | null = null;
    let count = 0;
    try {
      ({ value: cached, count } = await kv.getAndIncr(cacheKey, `rl:key:${keyHash}:${window}`, 61_000));
    } catch {
      // Redis unavailable: PostgreSQL answers instead.
    }
    const found = cached ? (JSON.parse(cached) as ApiKeyPrincipal) : await accounts.findActiveApiKey(keyHash);
    if (!found) return undefined;
    if (!cached) kv.set(cacheKey, JSON.stringify(found), ttlMs).catch(() => undefined);
    if (count > config.posRateLimitPerMinute) throw rateLimited(window);
    return found;
  }

  function rateLimited(window: number): ConnectError {
    const retryAfter = Math.max(1, Math.ceil(((window + 1) * 60_000 - Date.now()) / 1000));
    return new ConnectError("rate limit exceeded, retry later", Code.ResourceExhausted, { "retry-after": String(retryAfter) });
  }

  /** last_used_at is advisory: written at most once a minute per key. */
  function touch(id: string) {
    const now = Date.now();
    if ((lastTouched.get(id) ?? 0) > now - 60_000) return;
    lastTouched.set(id, now);
    if (lastTouched.size > 10_000) lastTouched.clear();
    accounts.touchApiKey(id).catch((err: Error) => log.debug({ err: err.message }, "could not record API key use"));
  }

  async function rateLimit(subject: string, limit: number) {
    const windowMs = 60_000;
    const window = Math.floor(Date.now() / windowMs);
    let count: number;
    try {
      ({ count } = await kv.incr(`rl:${subject}:${window}`, windowMs + 1000));
    } catch {
      return; // Redis unavailable: no shared counter, no limit.
    }
    if (count > limit) throw rateLimited(window);
  }

  return (next) => async (req) => {
    const kind = AUTH_OF_SERVICE[req.service.typeName];
    let principal: Principal = { kind: "anonymous" };
    if (kind === "api_key") {
      const key = req.header.get("x-api-key");
      if (!key) throw new ConnectError("missing API key: send it in the X-API-Key header", Code.Unauthenticated);
      if (!API_KEY_PATTERN.test(key)) throw new ConnectError("malformed API key", Code.Unauthenticated);
      const found = await apiKeyPrincipal(key);
      if (!found) throw new ConnectError("invalid or revoked API key", Code.Unauthenticated);
      principal = { kind: "api_key", businessId: found.businessId, apiKeyId: found.id, storeId: found.storeId };
      touch(found.id);
    } else if (kind === "owner") {
      const header = req.header.get("authorization") ?? "";
      const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
      if (!match) throw new ConnectError("missing owner token: send Authorization: Bearer <token>", Code.Unauthenticated);
      const claims = await tokens.verify(match[1]!);
      if (!claims) throw new ConnectError("invalid or expired token", Code.Unauthenticated);
      principal = { kind: "owner", businessId: claims.businessId, ownerId: claims.ownerId };
      await rateLimit(`owner:${claims.ownerId}`, config.ownerRateLimitPerMinute);
    }
    req.contextValues.set(kPrincipal, principal);
    return next(req);
  };
}
