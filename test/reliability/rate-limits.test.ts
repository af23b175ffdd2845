import { afterAll, beforeAll, expect, test } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ConnectError, Code } from "@connectrpc/connect";
import { LoyaltyPos } from "../../gen/loyalty/v1/pos_pb.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "../support/rest.js";

// Issue 4: per-API-key and per-owner rate limits, configurable, answered with
// 429 and Retry-After, shared through Redis across instances.
const LIMIT = 6;
let a: TestApp;
let b: TestApp;
let biz: Business;

beforeAll(async () => {
  // Registration itself makes owner calls (API key), so the owner limit is
  // generous enough for that and small enough to reach.
  const env = { POS_RATE_LIMIT_PER_MINUTE: String(LIMIT), OWNER_RATE_LIMIT_PER_MINUTE: String(LIMIT) };
  a = await startTestApp({ env });
  b = await startTestApp({ env, databaseUrl: a.databaseUrl });
  biz = await registerBusiness(a.url);
});

afterAll(async () => {
  await b?.close();
  await a?.close();
});

/** Waits until the next whole minute has room (the window is per minute). */
async function freshWindow() {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 45_000) await new Promise((r) => setTimeout(r, 60_000 - intoMinute + 200));
}

test("the POS limit is per API key and shared by every instance; beyond it 429 with Retry-After", async () => {
  await freshWindow();
  const statuses: number[] = [];
  for (let i = 0; i < LIMIT; i++) {
    const target = i % 2 === 0 ? a : b;
    const res = await rest(target.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: posAuth(biz) });
    statuses.push(res.status);
  }
  // Within the limit: answered normally (the customer does not exist yet).
  expect(statuses).toEqual(Array(LIMIT).fill(404));
  const over = await rest(b.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: posAuth(biz) });
  expect(over.status).toBe(429);
  expect(over.body).toEqual({ success: false, error: { code: "resource_exhausted", message: "rate limit exceeded, retry later" } });
  const retryAfter = Number(over.headers.get("retry-after"));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  // The same key over gRPC is limited too (one counter per key, every protocol).
  const grpc = createClient(LoyaltyPos, createGrpcTransport({ baseUrl: a.url }));
  const err = await grpc.getBalance({ identifier: "+353123456789" }, { headers: posAuth(biz) }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectError);
  expect((err as ConnectError).code).toBe(Code.ResourceExhausted);
  // Another key of the same business has its own budget, and nothing was written.
  const key2 = await rest(a.url, "POST", "/v1/owner/api-keys", { body: { name: "till 2" }, headers: ownerAuth(biz) });
  expect(key2.status).toBe(200);
  const other = await rest(a.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: { "x-api-key": key2.body.apiKey } });
  expect(other.status).toBe(404);
  expect(await a.sql("select count(*)::int as n from customer")).toEqual([{ n: 0 }]);
});

test("the owner limit is per owner token subject; beyond it 429 with Retry-After", async () => {
  await freshWindow();
  const second = await registerBusiness(a.url);
  let last = 0;
  let okCount = 0;
  for (let i = 0; i < LIMIT + 1; i++) {
    const target = i % 2 === 0 ? a : b;
    const res = await rest(target.url, "GET", "/v1/owner/stores", { headers: ownerAuth(second) });
    last = res.status;
    if (res.status === 200) okCount++;
  }
  // registerBusiness used one owner call (the API key) in this window.
  expect(okCount).toBe(LIMIT - 1);
  expect(last).toBe(429);
  const again = await rest(b.url, "GET", "/v1/owner/customers", { headers: ownerAuth(second) });
  expect(again.status).toBe(429);
  expect(Number(again.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
});
