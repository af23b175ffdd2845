/**
 * AsyncLocalStorage only while a transaction is open (db.ts): Node 20 runs a
 * hook for every promise while any store is enabled, so the pg transaction
 * store is disabled whenever no transaction is open, and MikroORM (whose
 * flush would enable a store of its own for good) opens no transaction at
 * run time. Against the real app, PostgreSQL and Redis: no hook is on after
 * any kind of write; the store is on (and transactions atomic and isolated
 * from plain calls) while one is open.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { transactionStore } from "../src/persistence/db.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";

let t: TestApp;
let biz: Business;
const closed = { open: 0, enabled: false };

beforeAll(async () => {
  t = await startTestApp();
  biz = await registerBusiness(t.url);
});
afterAll(async () => {
  await t?.close();
});

test("in a process of its own: no async hook is on after start-up, register, settings, idempotent and db.tx writes, log-in", async () => {
  const probe = fileURLToPath(new URL("./support/hooks-probe.ts", import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", probe], { timeout: 60_000 });
  const lines = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  expect(lines.map((l) => l.phase)).toEqual([
    "migrated and started",
    "registered, API key created",
    "store created",
    "program changed with a key",
    "idempotent check-in",
    "customer created (db.tx)",
    "logged in, keys listed (MikroORM reads)",
  ]);
  for (const l of lines) {
    expect(l, l.phase).toEqual({ phase: l.phase, status: l.status, hooks: false, ...closed });
    if (l.status !== undefined) expect(l.status, l.phase).toBe(200);
  }
}, 90_000);

test("while an idempotent check-in waits on a row lock, plain calls run beside it; it commits whole when the lock goes", async () => {
  const phone = "+353871110002";
  const first = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone, amount: 10 }, headers: posAuth(biz) });
  const customerId = first.body.customerId as string;
  const locker = new pg.Client({ connectionString: t.databaseUrl });
  await locker.connect();
  try {
    await locker.query("begin");
    await locker.query("select id from customer where id = $1 for update", [customerId]);
    // Waits inside its transaction (pg store enabled, hook on).
    const pending = rest(t.url, "POST", "/v1/pos/checkin", {
      body: { customerId, amount: 5 },
      headers: { ...posAuth(biz), "idempotency-key": "scope-3" },
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(transactionStore()).toEqual({ open: 1, enabled: true });
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
  expect(transactionStore()).toEqual(closed);
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
  expect(transactionStore()).toEqual(closed);
});
