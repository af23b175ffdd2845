import { LRUCache } from "lru-cache";
import type { KvStore } from "./kv-store.js";

const WINDOW_MS = 60_000;
const FLUSH_MS = 100;

interface WindowState {
  window: number;
  /** The shared count last read back from Redis (all instances). */
  shared: number;
  /** Hits of this instance not yet added to the shared count. */
  pending: number;
  lastFlush: number;
}

/**
 * Fixed-window rate counters shared through Redis across instances, without
 * a Redis round trip on every request. Far below the limit, hits are counted
 * in process and added to Redis (INCRBY) at most every 100 ms in the
 * background; once this instance's estimate reaches half the limit, every hit
 * is counted in Redis before it is answered, so the limit itself is exact.
 * With Redis down there is no shared count and no limit.
 */
export function createRateCounter(kv: KvStore) {
  // The subjects seen lately; one pushed out hands its pending hits to Redis first.
  const states: LRUCache<string, WindowState> = new LRUCache<string, WindowState>({
    max: 50_000,
    dispose: (s, subject, reason) => {
      if (reason === "evict") void flush(subject, s);
    },
  });

  async function flush(subject: string, s: WindowState): Promise<void> {
    const n = s.pending;
    if (n === 0) return;
    s.pending = 0;
    s.lastFlush = Date.now();
    try {
      s.shared = await kv.incrBy(`rl:${subject}:${s.window}`, n, WINDOW_MS + 1_000);
    } catch {
      s.shared = 0; // Redis unavailable: no shared counter, no limit.
    }
  }

  return {
    /**
     * Counts one hit; resolves with the seconds until the window ends when
     * the limit is exceeded, or undefined when the hit is allowed.
     */
    async hit(subject: string, limit: number): Promise<number | undefined> {
      const now = Date.now();
      const window = Math.floor(now / WINDOW_MS);
      let s = states.get(subject);
      if (!s || s.window !== window) {
        s = { window, shared: 0, pending: 0, lastFlush: 0 };
        states.set(subject, s);
      }
      s.pending++;
      if ((s.shared + s.pending) * 2 >= limit) {
        await flush(subject, s);
        if (s.shared > limit) return Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - Date.now()) / 1000));
        return undefined;
      }
      if (now - s.lastFlush >= FLUSH_MS) void flush(subject, s);
      return undefined;
    },
  };
}

export type RateCounter = ReturnType<typeof createRateCounter>;
