import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "../support/rest.js";
import { loadGrpcStubs, ok } from "../support/grpc.js";

// The owner's customer list is served from a short-lived read cache
// (src/infrastructure/business-read-cache.ts). It must never show an owner
// or a till a result older than their own write, on the same instance at
// once and on another instance within moments. The TTL is set to a minute
// here, so only invalidation — not expiry — can make these tests pass.
let a: TestApp;
let b: TestApp;
let biz: Business;

beforeAll(async () => {
  a = await startTestApp({ env: { LIST_CACHE_TTL_MS: "60000" } });
  b = await startTestApp({ databaseUrl: a.databaseUrl, env: { LIST_CACHE_TTL_MS: "60000" } });
  biz = await registerBusiness(a.url, { rewardThreshold: 100 });
});

afterAll(async () => {
  await b?.close();
  await a?.close();
});

const LIST = "/v1/owner/customers?search=walsh&limit=20";

async function list(app: TestApp) {
  const res = await rest(app.url, "GET", LIST, { headers: ownerAuth(biz) });
  expect(res.status).toBe(200);
  return res.body as { customers: { id: string; name: string; totalPoints: number; rewardAvailable: boolean }[]; pagination: { total: number } };
}

/** Lists on `app` until `accept` holds; returns how long that took (ms). */
async function until(app: TestApp, accept: (body: Awaited<ReturnType<typeof list>>) => boolean, withinMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const body = await list(app);
    if (accept(body)) return performance.now() - started;
    if (performance.now() - started > withinMs) throw new Error(`still stale after ${withinMs} ms: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("on one instance, every write shows in the very next list: REST and gRPC check-ins, redeem, adjust, edit, program, create, delete", async () => {
  const created = await rest(a.url, "POST", "/v1/owner/customers", { body: { name: "Aoife Walsh", phone: "+353861110001" }, headers: ownerAuth(biz) });
  expect(created.status).toBe(200);
  const id = created.body.customer.id as string;
  let body = await list(a);
  expect(body.pagination.total).toBe(1);
  expect(body.customers[0]).toMatchObject({ id, totalPoints: 0, rewardAvailable: false });
  expect((await list(a)).customers[0]!.totalPoints).toBe(0); // served again while unchanged

  const checkin = await rest(a.url, "POST", "/v1/pos/checkin", { body: { phone: "+353861110001", amount: 12.5 }, headers: posAuth(biz) });
  expect(checkin.status).toBe(200);
  expect((await list(a)).customers[0]).toMatchObject({ id, totalPoints: 12 });

  const grpc = loadGrpcStubs(`127.0.0.1:${a.port}`);
  try {
    const res = await ok(grpc.pos, "Checkin", { phone: "+353861110001", amount: 100 }, { "x-api-key": biz.apiKey });
    expect(res.totalPoints).toBe(112);
  } finally {
    grpc.close();
  }
  expect((await list(a)).customers[0]).toMatchObject({ id, totalPoints: 112, rewardAvailable: true });

  const redeem = await rest(a.url, "POST", "/v1/pos/redeem", { body: { phone: "+353861110001" }, headers: posAuth(biz) });
  expect(redeem.status).toBe(200);
  expect((await list(a)).customers[0]).toMatchObject({ totalPoints: 12, rewardAvailable: false });

  const adjust = await rest(a.url, "POST", `/v1/owner/customers/${id}/points`, { body: { points: 88, reason: "goodwill" }, headers: ownerAuth(biz) });
  expect(adjust.status).toBe(200);
  expect((await list(a)).customers[0]).toMatchObject({ totalPoints: 100, rewardAvailable: true });

  const program = await rest(a.url, "PATCH", "/v1/owner/program", { body: { rewardThreshold: 150 }, headers: ownerAuth(biz) });
  expect(program.status).toBe(200);
  expect((await list(a)).customers[0]).toMatchObject({ totalPoints: 100, rewardAvailable: false });

  const edit = await rest(a.url, "PUT", `/v1/owner/customers/${id}`, { body: { name: "Aoife Walsh-Byrne" }, headers: ownerAuth(biz) });
  expect(edit.status).toBe(200);
  expect((await list(a)).customers[0]!.name).toBe("Aoife Walsh-Byrne");

  const second = await rest(a.url, "POST", "/v1/owner/customers", { body: { name: "Ciara Walsh", phone: "+353861110002" }, headers: ownerAuth(biz) });
  expect(second.status).toBe(200);
  body = await list(a);
  expect(body.pagination.total).toBe(2);

  const deleted = await rest(a.url, "DELETE", `/v1/owner/customers/${id}`, { headers: ownerAuth(biz) });
  expect(deleted.status).toBe(200);
  body = await list(a);
  expect(body.pagination.total).toBe(1);
  expect(body.customers.map((c) => c.name)).toEqual(["Ciara Walsh"]);
});

test("a write on another instance shows on this one within a second (Redis channel), long before the cache's TTL", async () => {
  const before = await list(a);
  const target = before.customers.find((c) => c.name === "Ciara Walsh")!;
  expect((await list(a)).customers.find((c) => c.id === target.id)!.totalPoints).toBe(target.totalPoints);
  const checkin = await rest(b.url, "POST", "/v1/pos/checkin", { body: { phone: "+353861110002", amount: 30 }, headers: posAuth(biz) });
  expect(checkin.status).toBe(200);
  const ms = await until(a, (body) => body.customers.find((c) => c.id === target.id)?.totalPoints === target.totalPoints + 30, 1_000);
  const created = await rest(b.url, "POST", "/v1/owner/customers", { body: { name: "Sean Walsh", phone: "+353861110003" }, headers: ownerAuth(biz) });
  expect(created.status).toBe(200);
  const ms2 = await until(a, (body) => body.pagination.total === before.pagination.total + 1, 1_000);
  console.log(`list on instance A fresh ${ms.toFixed(0)} ms after a check-in on B, ${ms2.toFixed(0)} ms after a create on B`);
});

test("a program change on another instance reaches this one's check-ins and lists within a second", async () => {
  const own = await registerBusiness(a.url, { rewardThreshold: 100, pointsPerCurrencyUnit: 1 });
  const first = await rest(a.url, "POST", "/v1/pos/checkin", { body: { phone: "+353861119001", amount: 60 }, headers: posAuth(own) });
  expect(first.body).toMatchObject({ pointsAwarded: 60, totalPoints: 60, rewardThreshold: 100, rewardAvailable: false });
  const patched = await rest(b.url, "PATCH", "/v1/owner/program", { body: { rewardThreshold: 50, pointsPerCurrencyUnit: 2 }, headers: ownerAuth(own) });
  expect(patched.status).toBe(200);
  const started = performance.now();
  for (;;) {
    const res = await rest(a.url, "GET", "/v1/owner/customers?limit=5", { headers: ownerAuth(own) });
    if (res.body.customers[0].rewardAvailable === true) break;
    if (performance.now() - started > 1_000) throw new Error(`instance A still on the old program: ${res.text}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const second = await rest(a.url, "POST", "/v1/pos/checkin", { body: { phone: "+353861119001", amount: 10 }, headers: posAuth(own) });
  expect(second.body).toMatchObject({ pointsAwarded: 20, totalPoints: 80, rewardThreshold: 50, rewardAvailable: true });
});

test("identical lists in flight share one result and all answer correctly", async () => {
  const bodies = await Promise.all(Array.from({ length: 24 }, () => list(a)));
  const expected = JSON.stringify(bodies[0]);
  expect(bodies.every((x) => JSON.stringify(x) === expected)).toBe(true);
  expect(bodies[0]!.pagination.total).toBe(2);
});
