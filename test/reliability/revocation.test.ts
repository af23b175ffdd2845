import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest } from "../support/rest.js";

// Contract §3: revoking a key removes it from the cache, so revocation takes
// effect immediately across instances — although each instance also keeps
// validated keys in process for a few seconds.
let a: TestApp;
let b: TestApp;

beforeAll(async () => {
  a = await startTestApp();
  b = await startTestApp({ databaseUrl: a.databaseUrl });
});

afterAll(async () => {
  await b?.close();
  await a?.close();
});

test("a key revoked through one instance is refused at once by another that had it cached", async () => {
  const biz = await registerBusiness(a.url);
  // Instance B validates the key and caches it (locally and in Redis).
  for (let i = 0; i < 3; i++) {
    const ok = await rest(b.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: posAuth(biz) });
    expect(ok.status).toBe(404);
  }
  const revoked = await rest(a.url, "DELETE", `/v1/owner/api-keys/${biz.apiKeyId}`, { headers: ownerAuth(biz) });
  expect(revoked.status).toBe(200);
  const refusedB = await rest(b.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: posAuth(biz) });
  expect(refusedB.status).toBe(401);
  expect(refusedB.body).toEqual({ success: false, error: { code: "unauthenticated", message: "invalid or revoked API key" } });
  const refusedA = await rest(a.url, "POST", "/v1/pos/checkin", { body: { phone: "+353123456789", amount: 5 }, headers: posAuth(biz) });
  expect(refusedA.status).toBe(401);
  expect(await a.sql("select count(*)::int as n from customer")).toEqual([{ n: 0 }]);
});
