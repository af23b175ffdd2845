import { createHash } from "node:crypto";
import ipaddr from "ipaddr.js";
import { DomainError } from "../domain/errors.js";
import { createMemoryKvStore, type KvStore } from "../infrastructure/kv-store.js";

/** Log-in windows: fixed, 15 minutes, aligned to the clock (a failure never extends one). */
export const LOGIN_WINDOW_MS = 15 * 60_000;
/** Registration windows: fixed, one hour. */
export const REGISTER_WINDOW_MS = 60 * 60_000;

export interface ThrottleLimits {
  /** Attempts per (email, client address) per log-in window; a success resets it. */
  loginPerAccount: number;
  /** Failed attempts per client address per log-in window, whatever the email. */
  loginPerAddress: number;
  /** Registrations per client address per registration window. */
  registerPerAddress: number;
}

/** What a caller of `beginLogin` reports once the password has been checked. */
export interface LoginAttempt {
  /** The password was right: the (email, address) count starts again, the address keeps no failure. */
  succeeded(): Promise<void>;
}

/**
 * The subject a client address is counted under: IPv4 as is (IPv4-mapped
 * IPv6 too), IPv6 by its /64 — one subscriber's whole allocation, which a
 * client can rotate through at will. Anything unparsable is one subject.
 */
export function addressSubject(address: string | undefined): string {
  if (address === undefined || !ipaddr.isValid(address)) return "unknown";
  const ip = ipaddr.process(address);
  if (ip.kind() === "ipv4") return ip.toString();
  const parts = (ip as ipaddr.IPv6).parts.slice(0, 4);
  return `${parts.map((p) => p.toString(16)).join(":")}::/64`;
}

/**
 * The client address of a call: the socket's remote address; with a trusted
 * proxy in front (`TRUST_PROXY`), the last X-Forwarded-For entry — the one
 * that proxy appended; entries before it are the client's own claims.
 */
export function clientAddressOf(socketAddress: string | undefined, forwardedFor: string | null, trustProxy: boolean): string | undefined {
  if (!trustProxy || forwardedFor === null) return socketAddress;
  const last = forwardedFor.split(",").pop()!.trim();
  return ipaddr.isValid(last) ? last : socketAddress;
}

const digest = (text: string) => createHash("sha256").update(text).digest("base64url").slice(0, 22);

/**
 * Log-in and registration throttling in the manner of OWASP's Authentication
 * Cheat Sheet, shared across instances through Redis (the in-process store
 * without REDIS_URL):
 *
 * - every log-in attempt is counted — atomically (INCRBY), before the
 *   password is verified — per (email, client address) and per client
 *   address, in fixed 15-minute windows aligned to the clock; an attempt
 *   over either limit is refused with 429 and a Retry-After that says when
 *   the window ends, the right password included;
 * - a success resets its (email, address) count and takes its own attempt
 *   back from the address count, so the address count holds failures only;
 * - there is no count per email alone: an attacker elsewhere cannot lock a
 *   real owner out, and failures never push a window's end further away;
 * - registration (an argon2 hash each) is counted per client address per hour.
 *
 * Emails are counted under a digest (no address book in Redis). When Redis
 * fails, counting goes on in this instance's memory instead of stopping.
 */
export function createAuthThrottle(kv: KvStore, limits: ThrottleLimits, now: () => number = () => Date.now()) {
  const local = kv.mode === "memory" ? kv : createMemoryKvStore();

  async function count(key: string, n: number, ttlMs: number): Promise<number> {
    try {
      return await kv.incrBy(key, n, ttlMs);
    } catch {
      return local.incrBy(key, n, ttlMs);
    }
  }

  async function forget(key: string): Promise<void> {
    await kv.del(key).catch(() => local.del(key));
  }

  /** The window an instant falls in and the seconds until it ends (≥ 1). */
  function windowOf(windowMs: number) {
    const t = now();
    const index = Math.floor(t / windowMs);
    return { index, retryAfter: Math.max(1, Math.ceil(((index + 1) * windowMs - t) / 1000)) };
  }

  return {
    /**
     * Counts a log-in attempt before its password is checked; throws
     * RESOURCE_EXHAUSTED (429, Retry-After) when it is over a limit.
     */
    async beginLogin(email: string, address: string | undefined): Promise<LoginAttempt> {
      const w = windowOf(LOGIN_WINDOW_MS);
      const subject = addressSubject(address);
      const accountKey = `throttle:login:acct:${digest(email)}:${subject}:${w.index}`;
      const addressKey = `throttle:login:addr:${subject}:${w.index}`;
      // Kept a little past the window's end, which no clock skew between instances then outlives.
      const ttl = LOGIN_WINDOW_MS + 60_000;
      const [perAccount, perAddress] = await Promise.all([count(accountKey, 1, ttl), count(addressKey, 1, ttl)]);
      if (perAccount > limits.loginPerAccount || perAddress > limits.loginPerAddress) {
        throw new DomainError("resource_exhausted", "too many failed logins, retry later", w.retryAfter);
      }
      return {
        async succeeded() {
          await Promise.all([forget(accountKey), count(addressKey, -1, ttl)]);
        },
      };
    },

    /** Counts a registration before its password is hashed; throws RESOURCE_EXHAUSTED over the limit. */
    async beginRegister(address: string | undefined): Promise<void> {
      const w = windowOf(REGISTER_WINDOW_MS);
      const n = await count(`throttle:register:${addressSubject(address)}:${w.index}`, 1, REGISTER_WINDOW_MS + 60_000);
      if (n > limits.registerPerAddress) {
        throw new DomainError("resource_exhausted", "too many registrations from this address, retry later", w.retryAfter);
      }
    },
  };
}

export type AuthThrottle = ReturnType<typeof createAuthThrottle>;
