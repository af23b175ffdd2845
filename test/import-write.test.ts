/**
 * Issue 18, item 5: the import's writes (src/persistence/import-repository.ts)
 * on the paths a whole-file import rarely takes — a phone a till enrolled
 * between the import's look-up and its insert (the plain insert's unique
 * violation, its savepoint, the batch again with `on conflict`), rows that
 * change nothing (not written at all) — and imported points counted as
 * lifetime points, against the real PostgreSQL of a running instance.
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { newId } from "../src/infrastructure/ids.js";
import { createDb, type Db } from "../src/persistence/db.js";
import { createImportRepository, type ImportBatch } from "../src/persistence/import-repository.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest } from "./support/rest.js";

let t: TestApp;
let db: Db;
beforeAll(async () => {
  t = await startTestApp();
  db = createDb(t.orm);
});
afterAll(async () => {
  await db?.close();
  await t?.close();
});

const batch = (rows: { phone: string; name?: string; notes?: string; points?: number; status?: string }[]): ImportBatch => ({
  ids: rows.map(() => newId()),
  ledgerIds: rows.map(() => newId()),
  phones: rows.map((r) => r.phone),
  names: rows.map((r) => r.name ?? null),
  notes: rows.map((r) => r.notes ?? null),
  points: rows.map((r) => r.points ?? 0),
  statuses: rows.map((r) => r.status ?? null),
});

const customerRows = (businessId: string) =>
  t.sql<{ phone: string; name: string; total_points: number; lifetime_points: string; ledger: string }>(
    `select phone, name, total_points, lifetime_points::text,
            (select coalesce(sum(delta), 0)::text from ledger_entry l where l.customer_id = c.id) as ledger
     from customer c where business_id = $1 order by phone`,
    [businessId],
  );

test("a phone enrolled after the look-up: the plain insert's conflict rolls back to its savepoint, the batch goes in again without it, and the update takes that row", async () => {
  const b = await registerBusiness(t.url);
  const repo = createImportRepository(db);
  // A till enrols +353860000001 (as if after the import looked the file's phones up).
  const till = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353860000001", amount: 12 }, headers: posAuth(b) });
  expect(till.status, till.text).toBe(200);
  const rows = [
    { phone: "+353860000001", name: "Enrolled", points: 5 },
    { phone: "+353860000002", name: "New", points: 7 },
  ];
  const out = await db.tx(async () => {
    const inserted = await repo.insertNew(b.businessId, b.ownerId, batch(rows));
    // The transaction is still usable after the conflict, and the other row is in.
    const updated = await repo.updateExisting(b.businessId, b.ownerId, batch(rows.filter((r) => !inserted.has(r.phone))));
    return { inserted: [...inserted], updated: [...updated] };
  });
  expect(out).toEqual({ inserted: ["+353860000002"], updated: [["+353860000001", true]] });
  expect(await customerRows(b.businessId)).toEqual([
    { phone: "+353860000001", name: "Enrolled", total_points: 17, lifetime_points: "17", ledger: "17" },
    { phone: "+353860000002", name: "New", total_points: 7, lifetime_points: "7", ledger: "7" },
  ]);
});

test("rows that change nothing are not written; imported points are lifetime points, on the POS look-up too", async () => {
  const b = await registerBusiness(t.url);
  const csv = (body: string) =>
    fetch(`${t.url}/v1/owner/customers/import`, { method: "POST", headers: { ...ownerAuth(b), "content-type": "text/csv" }, body }).then(
      async (r) => ({ status: r.status, body: await r.json() }),
    );
  const first = await csv("phone,name,points\n+353860000011,Ann,40\n+353860000012,Bob,0\n");
  expect(first.status).toBe(200);
  expect(first.body).toMatchObject({ created: 2, updated: 0, unchanged: 0, pointsAdded: 40 });
  const [before] = await t.sql<{ ctid: string; updated_at: Date }>(`select ctid::text, updated_at from customer where business_id = $1 and phone = '+353860000012'`, [b.businessId]);
  // Bob again with nothing new: unchanged, and his row is not rewritten (same tuple, same updated_at); Ann gets 10 more.
  const second = await csv("phone,name,points\n+353860000011,,10\n+353860000012,Bob,\n");
  expect(second.status).toBe(200);
  expect(second.body).toMatchObject({ created: 0, updated: 1, unchanged: 1, pointsAdded: 10 });
  const [after] = await t.sql<{ ctid: string; updated_at: Date }>(`select ctid::text, updated_at from customer where business_id = $1 and phone = '+353860000012'`, [b.businessId]);
  expect(after).toEqual(before);
  expect(await customerRows(b.businessId)).toEqual([
    { phone: "+353860000011", name: "Ann", total_points: 50, lifetime_points: "50", ledger: "50" },
    { phone: "+353860000012", name: "Bob", total_points: 0, lifetime_points: "0", ledger: "0" },
  ]);
  const look = await rest(t.url, "GET", "/v1/pos/customer/%2B353860000011", { headers: posAuth(b) });
  expect(look.body).toMatchObject({ totalPoints: 50, lifetimePoints: 50 });
});
