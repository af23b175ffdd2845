import { DomainError } from "../domain/errors.js";
import type { KvStore } from "../infrastructure/kv-store.js";

const WINDOW_MS = 15 * 60_000;
const FREE_FAILURES = 5;
const MAX_DELAY_S = 15 * 60;

/**
 * Login throttling per account (OWASP): after 5 failures within 15 minutes
 * each further attempt must wait 1, 2, 4 … seconds, capped at 15 minutes.
 * The counter forgets 15 minutes after the last failure and a success clears
 * it, so an attacker can slow a real owner down but never lock them out for
 * good. With Redis down the throttle is skipped rather than blocking logins.
 */
export function createLoginThrottle(kv: KvStore) {
  const key = (email: string) => `login-fail:${email}`;
  return {
    /**
     * Refuses an attempt that comes too early; otherwise resolves with the
     * account's recent failures, for `failed` (no second read).
     */
    async check(email: string): Promise<number> {
      let raw: string | null = null;
      try {
        raw = await kv.get(key(email));
      } catch {
        return 0;
      }
      if (!raw) return 0;
      const { n, until } = JSON.parse(raw) as { n: number; until: number };
      const wait = Math.ceil((until - Date.now()) / 1000);
      if (wait > 0) {
        throw new DomainError("resource_exhausted", "too many failed logins, retry later", wait);
      }
      return n;
    },
    async failed(email: string, previousFailures: number): Promise<void> {
      const n = previousFailures + 1;
      const delay = n >= FREE_FAILURES ? Math.min(2 ** (n - FREE_FAILURES), MAX_DELAY_S) : 0;
      // Redis unavailable: no throttle rather than no login.
      await kv.set(key(email), JSON.stringify({ n, until: Date.now() + delay * 1000 }), WINDOW_MS).catch(() => undefined);
    },
    async succeeded(email: string): Promise<void> {
      await kv.del(key(email)).catch(() => undefined);
    },
  };
}
