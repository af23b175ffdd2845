import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

/**
 * The few shared-state operations the service needs: a cache with TTL, a
 * counter with TTL (rate limits), publish/subscribe (cache eviction) and a
 * lock with an owner token. Backed by Redis across instances, or by process memory when
 * no REDIS_URL is set (one instance only). Every method may reject when Redis
 * is down; callers degrade (contract: Redis is an optimisation, PostgreSQL is
 * the guarantee).
 */
export interface KvStore {
  readonly mode: "redis" | "memory";
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  del(key: string): Promise<void>;
  /** Adds `n` to a counter that expires `ttlMs` after its first increment. */
  incrBy(key: string, n: number, ttlMs: number): Promise<number>;
  /** Publishes a message to every instance's subscribers (this one's too). */
  publish(channel: string, message: string): Promise<void>;
  /** Calls `handler` for each message published on `channel`. */
  subscribe(channel: string, handler: (message: string) => void): void;
  /** SET NX PX with a random token; null when somebody else holds it. */
  acquireLock(key: string, ttlMs: number): Promise<string | null>;
  /** Compare-and-delete: releases only a lock we still own. */
  releaseLock(key: string, token: string): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

const RELEASE_SCRIPT = `if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end`;
const INCRBY_SCRIPT = `local c = redis.call("incrby", KEYS[1], ARGV[2]) if redis.call("pttl", KEYS[1]) < 0 then redis.call("pexpire", KEYS[1], ARGV[1]) end return c`;

/**
 * A Redis-backed store. ioredis is configured to fail fast during an outage
 * (no offline queue, one retry, short command timeout) and to reconnect in
 * the background, so Redis is used again as soon as it is back.
 */
export function createRedisKvStore(url: string, onError: (err: Error) => void): KvStore {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 500,
    connectTimeout: 1000,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    reconnectOnError: () => true,
  });
  const readyWithin = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        redis.off("ready", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      redis.once("ready", done);
    });
  let subscriber: Redis | undefined;
  const handlers = new Map<string, ((message: string) => void)[]>();
  let lastReported = 0;
  redis.on("error", (err) => {
    const now = Date.now();
    if (now - lastReported > 10_000) {
      lastReported = now;
      onError(err);
    }
  });
  return {
    mode: "redis",
    async get(key) {
      return redis.get(key);
    },
    async set(key, value, ttlMs) {
      await redis.set(key, value, "PX", ttlMs);
    },
    async del(key) {
      await redis.del(key);
    },
    async incrBy(key, n, ttlMs) {
      return (await redis.eval(INCRBY_SCRIPT, 1, key, String(ttlMs), String(n))) as number;
    },
    async publish(channel, message) {
      await redis.publish(channel, message);
    },
    subscribe(channel, handler) {
      // A connection in subscriber mode serves nothing else; ioredis
      // re-subscribes by itself after a reconnect.
      if (!subscriber) {
        subscriber = redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
        subscriber.on("error", () => undefined);
        subscriber.on("message", (ch: string, msg: string) => handlers.get(ch)?.forEach((h) => h(msg)));
      }
      if (!handlers.has(channel)) {
        handlers.set(channel, []);
        subscriber.subscribe(channel).catch(() => undefined);
      }
      handlers.get(channel)!.push(handler);
    },
    async acquireLock(key, ttlMs) {
      const token = randomBytes(16).toString("hex");
      const ok = await redis.set(key, token, "PX", ttlMs, "NX");
      return ok === "OK" ? token : null;
    },
    async releaseLock(key, token) {
      await redis.eval(RELEASE_SCRIPT, 1, key, token);
    },
    async ping() {
      try {
        // Just after start the connection may still be opening: without the
        // offline queue a PING would fail and /readyz report Redis down.
        if (redis.status !== "ready") await readyWithin(500);
        return (await redis.ping()) === "PONG";
      } catch {
        return false;
      }
    },
    async close() {
      subscriber?.disconnect();
      redis.disconnect();
    },
  };
}

/** The single-instance substitute used when REDIS_URL is not set. */
export function createMemoryKvStore(): KvStore {
  const values = new Map<string, { value: string; expiresAt: number }>();
  const live = (key: string) => {
    const entry = values.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      values.delete(key);
      return undefined;
    }
    return entry;
  };
  const handlers = new Map<string, ((message: string) => void)[]>();
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, v] of values) if (v.expiresAt <= now) values.delete(k);
  }, 60_000);
  sweep.unref();
  return {
    mode: "memory",
    async get(key) {
      return live(key)?.value ?? null;
    },
    async set(key, value, ttlMs) {
      values.set(key, { value, expiresAt: Date.now() + ttlMs });
    },
    async del(key) {
      values.delete(key);
    },
    async incrBy(key, n, ttlMs) {
      const entry = live(key);
      if (!entry) {
        values.set(key, { value: String(n), expiresAt: Date.now() + ttlMs });
        return n;
      }
      entry.value = String(Number(entry.value) + n);
      return Number(entry.value);
    },
    async publish(channel, message) {
      handlers.get(channel)?.forEach((h) => h(message));
    },
    subscribe(channel, handler) {
      handlers.set(channel, [...(handlers.get(channel) ?? []), handler]);
    },
    async acquireLock(key, ttlMs) {
      if (live(key)) return null;
      const token = randomBytes(16).toString("hex");
      values.set(key, { value: token, expiresAt: Date.now() + ttlMs });
      return token;
    },
    async releaseLock(key, token) {
      if (live(key)?.value === token) values.delete(key);
    },
    async ping() {
      return true;
    },
    async close() {
      clearInterval(sweep);
      values.clear();
    },
  };
}
