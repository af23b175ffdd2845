/**
 * Issue 16 on the jobs seam: the expiry run on its hourly schedule (driven
 * by pg-boss's TestClock: each business once, in the first hour after its
 * local midnight), `npm run jobs -- expire-points [--as-of YYYY-MM-DD]`
 * (a malformed date exits 2 and changes nothing), and the run's metrics.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { TestClock } from "pg-boss";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { posAuth, registerBusiness, rest, type Business } from "./support/rest.js";
import { runTsx } from "./support/processes.js";

let t: TestApp;
// 00:58 UTC on 1 March 2026 (Dublin: GMT): the next hourly occurrence is 01:00.
const clock = new TestClock("2026-03-01T00:58:00Z");
beforeAll(async () => {
  t = await startTestApp({ jobs: { clock } });
}, 60_000);
afterAll(async () => t?.close());
afterEach(() => vi.useRealTimers());

let seq = 0;
const phone = () => `+35385${String(4_000_000 + seq++).padStart(7, "0")}`;

/** A check-in earned at `when` (this process's Date: the in-process server reads it). */
async function earn(b: Business, p: string, amount: number, when: string) {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(new Date(when));
  const r = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount }, headers: posAuth(b) });
  vi.useRealTimers();
  expect(r.status, r.text).toBe(200);
  return r.body;
}

const expiryRows = (b: Business) =>
  t.sql<{ delta: number }>(`select delta from ledger_entry where business_id = $1 and type = 'EXPIRY'`, [b.businessId]);
const jobStates = () =>
  t.sql<{ state: string; n: number }>(`select state, count(*)::int as n from pgboss.job where name = 'expire-points' group by state order by state`);

const cli = (args: string[]) => runTsx(["main.ts", "jobs", "expire-points", ...args], { DATABASE_URL: t.databaseUrl });

describe("expire-points", () => {
  test("the hourly schedule runs each business once after its local midnight", async () => {
    const b = await registerBusiness(t.url, { pointsExpireAfterMonths: 1 });
    await earn(b, phone(), 25, "2026-01-15T12:00:00Z"); // counts through 28 February
    await clock.tick(3 * 60_000); // 01:00: the first hourly run of 1 March in Dublin
    await vi.waitFor(async () => expect(await jobStates()).toEqual([{ state: "completed", n: 1 }]), { timeout: 30_000, interval: 100 });
    expect(await expiryRows(b)).toEqual([{ delta: -25 }]);
    await clock.setTime("2026-03-01T01:58:00Z");
    await clock.tick(3 * 60_000); // 02:00: the day is done for this business
    await vi.waitFor(async () => expect(await jobStates()).toEqual([{ state: "completed", n: 2 }]), { timeout: 30_000, interval: 100 });
    expect(await expiryRows(b)).toHaveLength(1);
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/^loyalty_expiry_runs_total 2$/m);
    expect(metrics).toMatch(/^loyalty_expiry_points_total 25$/m);
    expect(metrics).toMatch(/^loyalty_expiry_last_run_duration_seconds \d/m);
  }, 90_000);

  test("npm run jobs -- expire-points --as-of runs that day now; a malformed date exits 2 and changes nothing", async () => {
    const b = await registerBusiness(t.url, { pointsExpireAfterMonths: 12 });
    const p = phone();
    await earn(b, p, 40, "2026-03-10T12:00:00Z"); // counts through 2027-03-31
    for (const bad of [["--as-of", "2027-02-30"], ["--as-of"]]) {
      const r = await cli(bad);
      expect(r.code, `${bad.join(" ")}: ${r.err}`).toBe(2);
      expect(r.err).toContain("--as-of");
    }
    expect(await expiryRows(b)).toEqual([]);
    const early = await cli(["--as-of", "2027-03-31"]);
    expect(early.code, early.err).toBe(0);
    expect(await expiryRows(b)).toEqual([]);
    const due = await cli(["--as-of", "2027-04-01"]);
    expect(due.code, due.err).toBe(0);
    expect(JSON.parse(due.out)).toMatchObject({ points: 40 });
    expect(await expiryRows(b)).toEqual([{ delta: -40 }]);
    const bal = await rest(t.url, "GET", `/v1/pos/balance/${encodeURIComponent(p)}`, { headers: posAuth(b) });
    expect(bal.body).toMatchObject({ totalPoints: 0, nextExpiry: null });
  }, 180_000);
});
