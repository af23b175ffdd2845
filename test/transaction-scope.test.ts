/**
 * Transactions on the pg pool (db.ts): an idempotent call's transaction runs
 * on its own connection, known to its statements through an
 * AsyncLocalStorage, beside plain calls, and commits whole. On Node 24 the
 * store costs the rest of the process nothing (AsyncContextFrame, no promise
 * hook), MikroORM's flush included: Node 20 needed the store disabled
 * outside transactions and MikroORM kept from flushing.
 */
import { executionAsyncResource } from "node:async_hooks";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { StoreSchema } from "../src/persistence/entities/store.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";

let t: TestApp;
let biz: Business;

beforeAll(async () => {
  t = await startTestApp();
  biz = await registerBusiness(t.url);
});
afterAll(async () => {
  await t?.close();
});

test("Node 24: no hook runs on promises after a MikroORM flush and after transactional (idempotent) calls", async () => {
  // With a promise hook on (Node 20, any AsyncLocalStorage enabled), a
  // continuation runs with its promise as the execution resource.
  const hooksOn = async () => {
    await null;
    return executionAsyncResource() instanceof Promise;
  };
  expect(await hooksOn()).toBe(false);
  // A MikroORM flush (its UnitOfWork keeps an AsyncLocalStorage) of a real entity…
  const em = t.orm.em.fork();
  const store = em.create(StoreSchema, { id: `st${Date.now()}`, businessId: biz.businessId, name: "Flushed St", createdAt: new Date() });
  await em.flush();
  expect(await hooksOn()).toBe(false);
  const [row] = await t.sql<{ name: string }>("select name from store where id = $1", [store.id]);
  expect(row?.name).toBe("Flushed St");
  // …and POS calls after it, one of them inside the idempotency transaction.
  const plain = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353871110001", amount: 3 }, headers: posAuth(biz) });
  const guarded = await rest(t.url, "POST", "/v1/pos/checkin", {
    body: { phone: "+353871110001", amount: 4 },
    headers: { ...posAuth(biz), "idempotency-key": "scope-1" },
  });
  expect([plain.status, guarded.status, guarded.body.totalPoints]).toEqual([200, 200, 7]);
  expect(await hooksOn()).toBe(false);
});

test("while an idempotent check-in waits on a row lock, plain calls run beside it; it commits whole when the lock goes", async () => {
  const phone = "+353871110002";
  const first = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone, amount: 10 }, headers: posAuth(biz) });
  const customerId = first.body.customerId as string;
  const locker = new pg.Client({ connectionString: t.databaseUrl });
  await locker.connect();
  try {
    await locker.query("begin");
    await locker.query("select id from customer where id = $1 for update", [customerId]);
    // Waits inside its transaction, on its own connection.
    const pending = rest(t.url, "POST", "/v1/pos/checkin", {
      body: { customerId, amount: 5 },
      headers: { ...posAuth(biz), "idempotency-key": "scope-3" },
    });
    await new Promise((r) => setTimeout(r, 300));
    // A plain call meanwhile: outside the transaction, answered at once.
    const other = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353871110003", amount: 7 }, headers: posAuth(biz) });
    expect(other.body.totalPoints).toBe(7);
    const balance = await rest(t.url, "GET", `/v1/pos/balance/${encodeURIComponent(phone)}`, { headers: posAuth(biz) });
    expect(balance.body.totalPoints).toBe(10);
    await locker.query("commit");
    const done = await pending;
    expect(done.status).toBe(200);
    expect(done.body.totalPoints).toBe(15);
  } finally {
    await locker.end();
  }
  const [row] = await t.sql<{ total: number; ledger: number; records: number }>(
    `select c.total_points as total,
            (select sum(delta)::int from ledger_entry l where l.customer_id = c.id) as ledger,
            (select count(*)::int from idempotency_record r where r.business_id = c.business_id and r.key = 'scope-3') as records
     from customer c where c.id = $1`,
    [customerId],
  );
  expect(row).toEqual({ total: 15, ledger: 15, records: 1 });
});

test("60 concurrent calls, idempotent and plain mixed, on 20 customers: every total equals its ledger, every key stored once", async () => {
  const phones = Array.from({ length: 20 }, (_, i) => `+3538722${String(i).padStart(5, "0")}`);
  const responses = await Promise.all(
    Array.from({ length: 60 }, (_, i) =>
      rest(t.url, "POST", "/v1/pos/checkin", {
        body: { phone: phones[i % 20], amount: 1 + (i % 5) },
        headers: i % 2 ? { ...posAuth(biz), "idempotency-key": `mix-${i}` } : posAuth(biz),
      }),
    ),
  );
  expect(responses.map((r) => r.status)).toEqual(Array(60).fill(200));
  const mismatched = await t.sql(
    `select c.id from customer c left join ledger_entry l on l.customer_id = c.id
     where c.business_id = $1 group by c.id having c.total_points <> coalesce(sum(l.delta), 0)`,
    [biz.businessId],
  );
  expect(mismatched).toEqual([]);
  const expected = phones.map((_, p) => [0, 1, 2].reduce((s, k) => s + 1 + ((p + 20 * k) % 5), 0));
  const totals = await t.sql<{ phone: string; total_points: number }>(
    `select phone, total_points from customer where business_id = $1 and phone = any($2) order by phone`,
    [biz.businessId, phones],
  );
  expect(totals.map((r) => r.total_points)).toEqual(expected);
  const [keys] = await t.sql<{ n: number }>(`select count(*)::int as n from idempotency_record where business_id = $1 and key like 'mix-%'`, [
    biz.businessId,
  ]);
  expect(keys!.n).toBe(30);
});
