import pg from "pg";
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

test("with an Idempotency-Key, the key is evicted after the commit: a till's call while the revoke commits cannot cache it again", async () => {
  const biz = await registerBusiness(a.url);
  const idemKey = `revoke-${Date.now()}`;
  // Another session holds an uncommitted record under the same key, so the
  // revoke's own record (inserted with its COMMIT) waits on it: the revoke
  // is then done but not committed, for as long as this session says.
  const blocker = new pg.Client({ connectionString: a.databaseUrl });
  await blocker.connect();
  try {
    await blocker.query("begin");
    await blocker.query(
      `insert into idempotency_record (business_id, key, request_hash, outcome, expires_at) values ($1, $2, 'x', 'ok', now() + interval '1 hour')`,
      [biz.businessId, idemKey],
    );
    const revoking = rest(a.url, "DELETE", `/v1/owner/api-keys/${biz.apiKeyId}`, { headers: { ...ownerAuth(biz), "idempotency-key": idemKey } });
    // Wait until the revoke waits on the record (its UPDATE is done).
    let waiting = 0;
    for (let i = 0; i < 200 && waiting === 0; i++) {
      const [w] = await a.sql<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%insert into idempotency_record%'`,
      );
      waiting = w!.n;
      if (waiting === 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(waiting).toBe(1);
    // Meanwhile the till calls: the key is still valid (the revoke is not
    // committed), and is cached again on both instances.
    for (const inst of [a, b]) {
      const during = await rest(inst.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: posAuth(biz) });
      expect(during.status).toBe(404);
    }
    await blocker.query("rollback");
    const revoked = await revoking;
    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({ success: true });
  } finally {
    await blocker.end();
  }
  // Committed: refused at once on both instances, not after a cache's TTL.
  for (const inst of [a, b]) {
    const after = await rest(inst.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: posAuth(biz) });
    expect(after.status).toBe(401);
  }
});
