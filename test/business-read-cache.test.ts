import { expect, test } from "vitest";
import { createBusinessReadCache } from "../src/infrastructure/business-read-cache.js";

// The owner-list cache itself (src/infrastructure/business-read-cache.ts),
// as src/services/cached-reads.ts uses it. End-to-end freshness across
// instances is in test/reliability/list-freshness.test.ts.

function counting() {
  const calls: string[] = [];
  const load = (key: string) => () => {
    calls.push(key);
    return new Promise<string>((resolve) => setTimeout(() => resolve(`${key}#${calls.length}`), 5));
  };
  return { calls, load };
}

test("identical reads in flight share one load; a later read within the TTL is served again", async () => {
  const cache = createBusinessReadCache({ ttlMs: 60_000 });
  const { calls, load } = counting();
  const results = await Promise.all(Array.from({ length: 10 }, () => cache.get("b1", "q", load("q"))));
  expect(new Set(results)).toEqual(new Set(["q#1"]));
  expect(await cache.get("b1", "q", load("q"))).toBe("q#1");
  expect(calls).toEqual(["q"]);
});

test("a change to the business drops its reads, not another business's", async () => {
  const cache = createBusinessReadCache({ ttlMs: 60_000 });
  const { calls, load } = counting();
  await cache.get("b1", "q", load("b1"));
  await cache.get("b2", "q", load("b2"));
  cache.changed("b1");
  expect(await cache.get("b1", "q", load("b1"))).toBe("b1#3");
  expect(await cache.get("b2", "q", load("b2"))).toBe("b2#2");
  expect(calls).toEqual(["b1", "b2", "b1"]);
});

test("a change during a load is not hidden by the result of that load", async () => {
  const cache = createBusinessReadCache({ ttlMs: 60_000 });
  const { calls, load } = counting();
  const inFlight = cache.get("b1", "q", load("q"));
  cache.changed("b1");
  expect(await inFlight).toBe("q#1");
  expect(await cache.get("b1", "q", load("q"))).toBe("q#2");
  expect(calls).toEqual(["q", "q"]);
});

test("entries expire after the TTL; a failed load is not kept; the cache holds at most maxEntries", async () => {
  const cache = createBusinessReadCache({ ttlMs: 50, maxEntries: 3 });
  const { calls, load } = counting();
  await cache.get("b1", "q", load("q"));
  await new Promise((r) => setTimeout(r, 60));
  await cache.get("b1", "q", load("q"));
  expect(calls).toEqual(["q", "q"]);

  await expect(cache.get("b1", "bad", () => Promise.reject(new Error("db down")))).rejects.toThrow("db down");
  await new Promise((r) => setImmediate(r));
  expect(await cache.get("b1", "bad", load("bad"))).toBe("bad#3");

  const big = createBusinessReadCache({ ttlMs: 60_000, maxEntries: 3 });
  const c = counting();
  for (const k of ["k1", "k2", "k3", "k4", "k5"]) await big.get("b1", k, c.load(k));
  for (const k of ["k3", "k4", "k5"]) await big.get("b1", k, c.load(k)); // still held
  await big.get("b1", "k1", c.load("k1")); // pushed out: loaded again
  expect(c.calls).toEqual(["k1", "k2", "k3", "k4", "k5", "k1"]);
});
