/** What the portal keeps of a signed-in owner, in localStorage. */
export interface Session {
  /** The owner JWT sent as `Authorization: Bearer`. */
  token: string;
  /** The token's `exp` claim, in seconds since the epoch. */
  exp: number;
  /** The email the owner signed in with. */
  email: string;
  /** The business name (from sign-up, or GetAccount after a log-in). */
  businessName?: string;
}

const STORAGE_KEY = "loyalty-plus.portal.session";

/**
 * Reads the `exp` claim of a JWT without verifying it: the server verifies;
 * the portal only needs to know when to stop using the token.
 */
export function tokenExpiry(token: string): number | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const payload = JSON.parse(atob(base64)) as { exp?: unknown };
    return typeof payload.exp === "number" && Number.isFinite(payload.exp) ? payload.exp : undefined;
  } catch {
    return undefined;
  }
}

/** Builds a session from a fresh token; undefined when the token has no usable expiry. */
export function sessionFromToken(token: string, email: string, businessName?: string): Session | undefined {
  const exp = tokenExpiry(token);
  if (exp === undefined) return undefined;
  return { token, exp, email, ...(businessName ? { businessName } : {}) };
}

/** True while the session's token has not expired. */
export function isLive(session: Session, now = Date.now()): boolean {
  return session.exp * 1000 > now;
}

/** The stored session, or why there is none. */
export function loadSession(): { session?: Session; expired: boolean } {
  let raw: string | null = null;
  try {
    raw = localStorage.getItem(STORAGE_KEY);
  } catch {
    return { expired: false };
  }
  if (!raw) return { expired: false };
  try {
    const parsed = JSON.parse(raw) as Partial<Session>;
    if (typeof parsed.token !== "string" || typeof parsed.email !== "string") throw new Error("malformed");
    const session = sessionFromToken(parsed.token, parsed.email, parsed.businessName);
    if (!session) throw new Error("malformed");
    if (!isLive(session)) {
      clearSession();
      return { expired: true };
    }
    return { session, expired: false };
  } catch {
    clearSession();
    return { expired: false };
  }
}

export function saveSession(session: Session): void {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  } catch {
    // Private mode or full storage: the session lasts until the tab closes.
  }
}

export function clearSession(): void {
  try {
    localStorage.removeItem(STORAGE_KEY);
  } catch {
    // Nothing stored, nothing to clear.
  }
}

/** The storage key, for cross-tab `storage` events. */
export const SESSION_STORAGE_KEY = STORAGE_KEY;
