/**
 * Issue 16 at scale: 100,000 customers with expiring lots (seeded with SQL,
 * dated in the past) are expired in one run, in batches, while a till keeps
 * checking in customers of those batches: every check-in goes through, none
 * waits for more than its batch. The run's duration and the check-ins'
 * longest wait are printed (the machine is shared: figures, not
 * assertions). Afterwards one EXPIRY row per customer, and every balance
 * equals its ledger.
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { posAuth, registerBusiness, rest, type Business } from "../support/rest.js";
import { runExpiry } from "../../src/services/expiry-run.js";
import { createDb } from "../../src/persistence/db.js";
import { createLotRepository } from "../../src/persistence/lot-repository.js";

const N = 100_000;
let t: TestApp;
let b: Business;
beforeAll(async () => {
  t = await startTestApp({ env: { POS_RATE_LIMIT_PER_MINUTE: "100000000" } });
  b = await registerBusiness(t.url, { pointsExpireAfterMonths: 1 });
  const started = performance.now();
  await t.sql(
    `insert into customer (id, business_id, phone, status, total_points, lifetime_points, created_at, updated_at)
     select 'c' || lpad(g::text, 24, '0'), $1, '+35380' || lpad(g::text, 7, '0'), 'ACTIVE', 50, 50, now(), now() from generate_series(1, $2) g`,
    [b.businessId, N],
  );
  await t.sql(
    `insert into ledger_entry (id, business_id, customer_id, delta, reason, type, balance_after, created_at)
     select 'l' || lpad(g::text, 24, '0'), $1, 'c' || lpad(g::text, 24, '0'), 50, 'seed', 'ADJUSTMENT', 50, '2026-01-15T12:00:00Z' from generate_series(1, $2) g`,
    [b.businessId, N],
  );
  await t.sql(
    `insert into point_lot (id, business_id, customer_id, ledger_entry_id, points, remaining, earned_at, expires_at)
     select 'p' || lpad(g::text, 24, '0'), $1, 'c' || lpad(g::text, 24, '0'), 'l' || lpad(g::text, 24, '0'), 50, 50,
            '2026-01-15T12:00:00Z', '2026-03-01T00:00:00Z' from generate_series(1, $2) g`,
    [b.businessId, N],
  );
  await t.sql(`analyze customer; analyze point_lot; analyze ledger_entry`);
  process.stderr.write(`[expiry-scale] seeded ${N} customers with a lot each in ${Math.round(performance.now() - started)} ms\n`);
}, 300_000);
afterAll(async () => t?.close());

test(`${N} customers expired in one run, in batches, while check-ins of the same customers go through`, async () => {
  const db = createDb(t.orm);
  let stop = false;
  const waits: number[] = [];
  const till = (async () => {
    let i = 0;
    while (!stop) {
      // Customers spread over the whole run: their batches are locked at some point of it.
      const id = `c${String(1 + ((i++ * 7919) % N)).padStart(24, "0")}`;
      const s = performance.now();
      const r = await rest(t.url, "POST", "/v1/pos/checkin", { body: { customerId: id, amount: 3 }, headers: posAuth(b) });
      waits.push(performance.now() - s);
      expect(r.status, r.text).toBe(200);
    }
  })();
  const result = await runExpiry({ db, lots: createLotRepository(db) }, { asOf: "2026-03-01", businessIds: [b.businessId] });
  stop = true;
  await till;
  waits.sort((x, y) => x - y);
  const p = (q: number) => Math.round(waits[Math.min(waits.length - 1, Math.floor(q * waits.length))]!);
  process.stderr.write(
    `[expiry-scale] run: ${result.customers} customers, ${result.points} points, ${result.batches} batches in ${result.durationMs} ms; ` +
      `${waits.length} check-ins meanwhile: median ${p(0.5)} ms, p99 ${p(0.99)} ms, longest ${Math.round(waits[waits.length - 1]!)} ms\n`,
  );
  expect(result.customers).toBe(N);
  expect(result.points).toBe(N * 50);
  const [rows] = await t.sql<{ expiry: number; off: number; left: number }>(
    `select (select count(*)::int from ledger_entry where business_id = $1 and type = 'EXPIRY') as expiry,
            (select count(*)::int from customer c
               join (select customer_id, sum(delta) as s from ledger_entry where business_id = $1 group by customer_id) l on l.customer_id = c.id
               where c.business_id = $1 and c.total_points <> l.s) as off,
            (select count(*)::int from point_lot where business_id = $1 and remaining > 0 and expires_at <= '2026-03-01T00:00:00Z') as left`,
    [b.businessId],
  );
  expect(rows).toEqual({ expiry: N, off: 0, left: 0 });
  // A second run of the day changes nothing.
  expect(await runExpiry({ db, lots: createLotRepository(db) }, { asOf: "2026-03-01", businessIds: [b.businessId] })).toMatchObject({ customers: 0 });
}, 600_000);
