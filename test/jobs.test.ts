import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { spawn } from "node:child_process";
import { TestClock } from "pg-boss";
import { defineJob } from "../src/jobs/jobs.js";
import { createTestDatabase, startTestApp, TEST_REDIS_URL, type TestApp } from "./support/test-app.js";
import { freePort, processEnv, ROOT, runTsx, TSX } from "./support/processes.js";

/**
 * The jobs seam (src/jobs/, pg-boss): the idempotency purge runs on its
 * schedule, driven by pg-boss's TestClock (no sleeping); a scheduled job
 * runs once per occurrence with two instances on one database; closing the
 * app (what SIGTERM does) lets a job in flight finish; the spawned service
 * stops its jobs on SIGTERM and exits 0; `npm run jobs` runs a job now.
 */

const PURGE = "purge-idempotency-records";

interface JobRow {
  state: string;
  n: number;
}
const jobsOf = (t: TestApp, name: string) =>
  t.sql<JobRow>(`select state, count(*)::int as n from pgboss.job where name = $1 group by state order by state`, [name]);

describe("the idempotency purge, on its schedule", () => {
  let t: TestApp;
  // 10:08 UTC: the next occurrence of */10 is 10:10. (Every timer the
  // clock passes fires, polls included: short spans keep the test quick.)
  const clock = new TestClock("2026-12-01T10:08:00Z");
  beforeAll(async () => {
    t = await startTestApp({ jobs: { clock } });
  }, 60_000);
  afterAll(async () => t?.close());

  test("expired records are deleted at the next ten-minute mark, live ones kept", async () => {
    const biz = "biz_purge_test_000000000000";
    for (const [key, expires] of [
      ["expired-1", "now() - interval '1 hour'"],
      ["expired-2", "now() - interval '1 second'"],
      ["live", "now() + interval '1 hour'"],
    ]) {
      await t.sql(`insert into idempotency_record (business_id, key, request_hash, outcome, expires_at) values ($1, $2, 'x', 'ok', ${expires})`, [biz, key]);
    }
    const keys = async () => (await t.sql<{ key: string }>(`select key from idempotency_record where business_id = $1 order by key`, [biz])).map((r) => r.key);

    // 10:09: no occurrence yet, so no job was sent and nothing was deleted.
    await clock.tick(60_000);
    expect(await jobsOf(t, PURGE)).toEqual([]);
    expect(await keys()).toEqual(["expired-1", "expired-2", "live"]);

    // 10:11: the 10:10 occurrence was sent once and a worker ran it.
    await clock.tick(2 * 60_000);
    await vi.waitFor(async () => expect(await jobsOf(t, PURGE)).toEqual([{ state: "completed", n: 1 }]), { timeout: 20_000, interval: 100 });
    expect(await keys()).toEqual(["live"]);
  }, 120_000);

  test("runNow runs the same job at once and answers how many it deleted", async () => {
    await t.sql(`insert into idempotency_record (business_id, key, request_hash, outcome, expires_at) values ('biz_purge_now', 'old', 'x', 'ok', now() - interval '2 hours')`);
    expect(await t.app.jobs!.runNow(PURGE)).toEqual({ purged: 1 });
    expect(await t.app.jobs!.runNow(PURGE)).toEqual({ purged: 0 });
  });

  test("sending a job that is not defined is refused, naming it", async () => {
    await expect(t.app.jobs!.send("no-such-job", {})).rejects.toThrow('unknown job "no-such-job"');
  });
});

describe("two instances on one database", () => {
  let a: TestApp;
  let b: TestApp;
  const clock = new TestClock("2026-12-01T10:08:00Z");
  const runs: string[] = [];
  const tick = (instance: string) =>
    defineJob({
      name: "count-occurrences",
      description: "a test job: records which instance ran it",
      schedule: { cron: "*/10 * * * *" },
      async run(_data, ctx) {
        runs.push(`${instance} ${ctx.now().toISOString()}`);
      },
    });
  beforeAll(async () => {
    a = await startTestApp({ jobs: { clock, extra: [tick("a")] } });
    b = await startTestApp({ databaseUrl: a.databaseUrl, jobs: { clock, extra: [tick("b")] } });
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  test("both schedule it; each occurrence runs once, on one of them", async () => {
    // 10:08 → 10:21: occurrences 10:10 and 10:20.
    await clock.tick(13 * 60_000);
    await vi.waitFor(async () => expect(await jobsOf(a, "count-occurrences")).toEqual([{ state: "completed", n: 2 }]), { timeout: 20_000, interval: 100 });
    expect(runs).toHaveLength(2);
    // Both instances' purge schedules too: two occurrences, two jobs.
    await vi.waitFor(async () => expect(await jobsOf(a, PURGE)).toEqual([{ state: "completed", n: 2 }]), { timeout: 20_000, interval: 100 });
  }, 120_000);
});

describe("stopping", () => {
  let t: TestApp;
  const events: string[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const slow = defineJob({
    name: "slow-test-job",
    description: "a test job that waits to be released",
    pollingIntervalSeconds: 0.5,
    async run() {
      events.push("job started");
      await released;
      events.push("job finished");
      return { ok: true };
    },
  });
  beforeAll(async () => {
    t = await startTestApp({ jobs: { extra: [slow] } });
  }, 60_000);
  afterAll(async () => {
    release();
    await t?.close().catch(() => undefined);
  });

  test("closing the app (SIGTERM's path) waits for the job in flight, which completes", async () => {
    const sql = t.sql.bind(t);
    await t.app.jobs!.send("slow-test-job", {});
    await vi.waitFor(() => expect(events).toEqual(["job started"]), { timeout: 20_000, interval: 50 });
    const closed = t.app.close().then(() => events.push("app closed"));
    // The close is under way and must not end before the job does.
    await new Promise((r) => setTimeout(r, 300));
    events.push("released");
    release();
    await closed;
    expect(events).toEqual(["job started", "released", "job finished", "app closed"]);
    expect(await sql<JobRow>(`select state, count(*)::int as n from pgboss.job where name = 'slow-test-job' group by state`)).toEqual([
      { state: "completed", n: 1 },
    ]);
  });
});

describe("the service and the CLI", () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  test("the spawned service starts its jobs, and on SIGTERM stops them (pg-boss records the stop) and exits 0", async () => {
    const port = await freePort();
    const child = spawn(TSX, ["src/main.ts"], {
      cwd: ROOT,
      env: processEnv({ DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "info" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      await vi.waitFor(() => expect(output).toContain('"msg":"Loyalty+ ready"'), { timeout: 120_000, interval: 100 });
      // The jobs start beside the listen (register-jobs.ts): their line may come after the ready one.
      await vi.waitFor(
        () => expect(output).toContain('"jobs":["purge-idempotency-records","expire-points","purge-events","deliver-webhook","sweep-webhooks"],"msg":"jobs started"'),
        { timeout: 30_000, interval: 100 },
      );
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    const pg = await import("pg");
    const c = new pg.default.Client({ connectionString: db.url });
    await c.connect();
    try {
      const { rows } = await c.query<{ stopped: boolean }>(`select stopped_on is not null as stopped from pgboss.instance`);
      expect(rows).toEqual([{ stopped: true }]);
      const { rows: schedules } = await c.query<{ name: string; cron: string }>(`select name, cron from pgboss.schedule order by name`);
      expect(schedules).toEqual([
        { name: "expire-points", cron: "0 * * * *" },
        { name: "purge-events", cron: "17 * * * *" },
        { name: PURGE, cron: "*/10 * * * *" },
        { name: "sweep-webhooks", cron: "* * * * *" },
      ]);
    } finally {
      await c.end();
    }
  }, 180_000);

  test("npm run jobs -- <job> runs it once now and prints its result; an unknown job or option exits 2", async () => {
    const pg = await import("pg");
    const c = new pg.default.Client({ connectionString: db.url });
    await c.connect();
    await c.query(`insert into idempotency_record (business_id, key, request_hash, outcome, expires_at) values ('biz_cli', 'a', 'x', 'ok', now() - interval '1 hour'), ('biz_cli', 'b', 'x', 'ok', now() + interval '1 hour')`);
    await c.end();
    const env = { DATABASE_URL: db.url };
    const ok = await runTsx(["main.ts", "jobs", PURGE], env);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out.trim()).toBe('{"purged":1}');
    const unknown = await runTsx(["main.ts", "jobs", "expire-everything"], env);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unknown job "expire-everything"');
    expect(unknown.err).toContain(PURGE);
    const badOption = await runTsx(["main.ts", "jobs", PURGE, "--as-of", "2026-01-01"], env);
    expect(badOption.code).toBe(2);
    expect(badOption.err).toContain("--as-of");
  }, 120_000);
});
