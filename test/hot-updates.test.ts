import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { posAuth, registerBusiness, rest } from "./support/rest.js";

// A check-in must stay a heap-only (HOT) update of the customer row: no
// index may cover the columns it changes (total_points, last_visit_at,
// updated_at), and pages keep room for the new row version (fillfactor 85).
// Otherwise every check-in writes into all of customer's indexes, two of
// them trigram GIN indexes (Migration20261125202000, bench/README.md).
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});

afterAll(async () => {
  await t?.close();
});

/** Updates and HOT updates of customer so far (statistics reach the view within about a second). */
async function updates() {
  const [row] = await t.sql<{ upd: string; hot: string }>(
    "select n_tup_upd as upd, n_tup_hot_upd as hot from pg_stat_user_tables where relname = 'customer'",
  );
  return { upd: Number(row!.upd), hot: Number(row!.hot) };
}

test("no index of customer covers a column a check-in changes, and its pages keep room", async () => {
  const indexes = await t.sql<{ indexdef: string }>("select indexdef from pg_indexes where tablename = 'customer'");
  expect(indexes.length).toBe(6);
  for (const { indexdef } of indexes) expect(indexdef).not.toMatch(/total_points|last_visit_at|updated_at/);
  const [rel] = await t.sql<{ reloptions: string[] }>("select reloptions from pg_class where relname = 'customer'");
  expect(rel!.reloptions).toEqual(["fillfactor=85"]);
});

test("check-ins of existing customers are HOT updates", async () => {
  const biz = await registerBusiness(t.url);
  const phones = Array.from({ length: 20 }, (_, i) => `+3538700000${String(i).padStart(2, "0")}`);
  for (const phone of phones) {
    const res = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone, amount: 5 }, headers: posAuth(biz) });
    expect(res.status).toBe(200);
  }
  await t.sql("select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state = 'idle'");
  await new Promise((r) => setTimeout(r, 300));
  const before = await updates();
  for (const phone of phones) {
    const res = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone, amount: 5 }, headers: posAuth(biz) });
    expect(res.status).toBe(200);
    expect(res.body.totalPoints).toBe(10);
  }
  // A backend reports its statistics when it exits (else within ~10 s of idling).
  await t.sql("select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state = 'idle'");
  let after = await updates();
  for (let i = 0; i < 50 && after.upd - before.upd < phones.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = await updates();
  }
  expect(after.upd - before.upd).toBe(phones.length);
  expect(after.hot - before.hot).toBe(phones.length);
});
