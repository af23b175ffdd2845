/**
 * Fault tolerance (issue 4 §3): a steady POS + owner load while
 *  - a PRIVATE Redis (spawned here on a free port; the shared one on 6379 is
 *    never touched) is killed, restarted, and hung (SIGSTOP/SIGCONT);
 *  - PostgreSQL backends of this test's database are killed with
 *    pg_terminate_backend.
 * Requests keep working through Redis faults (no 5xx), fail fast with 503
 * `unavailable` (never 500, never > 5 s) during PostgreSQL faults, and the
 * app recovers by itself. After each fault every operation that got no
 * definite answer is retried with its Idempotency-Key, and the balances must
 * then equal exactly what the answered operations imply.
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import net from "node:net";
import { promisify } from "node:util";
import pg from "pg";
import { PG_ADMIN_URL, startTestApp, type TestApp } from "../support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "../support/rest.js";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redisPort = 0;
let redis: ChildProcess | undefined;
let t: TestApp;
let biz: Business;
/** Our own pool for assertions (t.sql's pool has no error listener, and its backends get terminated here). */
let check: pg.Pool;
let admin: pg.Client;
const CACHE_TTL_S = 3;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function redisCli(...args: string[]): Promise<string> {
  const { stdout } = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(redisPort), ...args], { timeout: 3000 });
  return stdout.trim();
}

/** Starts the private redis-server on `redisPort` and waits until it answers. */
async function startRedis(): Promise<void> {
  if (redisPort === 6379) throw new Error("refusing to manage the shared Redis");
  const proc = spawn("redis-server", ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"], {
    stdio: "ignore",
  });
  redis = proc;
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`);
    try {
      if ((await redisCli("ping")) === "PONG") return;
    } catch {
      // not up yet
    }
    await sleep(50);
  }
  throw new Error("private redis-server did not start");
}

/** Kills the private redis-server (a crash, not a clean shutdown). */
async function killRedis(): Promise<void> {
  const proc = redis;
  if (!proc || proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGCONT"); // in case it was stopped
  proc.kill("SIGKILL");
  await exited;
  redis = undefined;
}

beforeAll(async () => {
  redisPort = await freePort();
  await startRedis();
  t = await startTestApp({
    redisUrl: `redis://127.0.0.1:${redisPort}`,
    env: { OWNER_RATE_LIMIT_PER_MINUTE: "1000000", POS_RATE_LIMIT_PER_MINUTE: "1000000", API_KEY_CACHE_TTL_SECONDS: String(CACHE_TTL_S) },
  });
  check = new pg.Pool({ connectionString: t.databaseUrl, max: 2 });
  check.on("error", () => undefined);
  admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  admin.on("error", () => undefined);
  await admin.connect();
  biz = await registerBusiness(t.url);
});

afterAll(async () => {
  await t?.close();
  await check?.end();
  await admin?.end();
  await killRedis();
});

// ---------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------

type Kind = "checkin" | "redeem" | "adjust" | "balance" | "owner-get";
interface Op {
  kind: Kind;
  customer: number;
  phase: string;
  startedAt: number;
  ms: number;
  status: number; // 0 = network error / timeout
  code?: string;
  points: number;
  key?: string;
  path: string;
  body?: unknown;
  auth: Record<string, string>;
  /** Set when a retry with the same key settled the outcome. */
  retried?: boolean;
}

interface Customer {
  id: string;
  phone: string;
  initial: number;
}
let customers: Customer[] = [];
const ops: Op[] = [];
let phase = "setup";
let opSeq = 0;

async function send(op: Op): Promise<void> {
  const started = Date.now();
  try {
    const headers = { ...op.auth, ...(op.key ? { "idempotency-key": op.key } : {}) };
    const res = await fetch(t.url + op.path, {
      method: op.body === undefined ? "GET" : "POST",
      headers: op.body === undefined ? headers : { ...headers, "content-type": "application/json" },
      body: op.body === undefined ? undefined : JSON.stringify(op.body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    op.status = res.status;
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    op.code = res.status === 200 ? undefined : body?.error?.code;
    if (res.status === 200 && op.kind === "checkin") op.points = body.pointsAwarded;
  } catch {
    op.status = 0;
  }
  op.ms = Date.now() - started;
}

function makeOp(): Op {
  const ci = Math.floor(Math.random() * customers.length);
  const c = customers[ci]!;
  const r = Math.random();
  const key = `load-${opSeq++}`;
  const base = { customer: ci, phase, startedAt: Date.now(), ms: 0, status: -1, points: 0 };
  if (r < 0.35) {
    const amount = (100 + Math.floor(Math.random() * 3000)) / 100;
    return { ...base, kind: "checkin", key, path: "/v1/pos/checkin", body: Math.random() < 0.5 ? { phone: c.phone, amount } : { customerId: c.id, amount }, auth: posAuth(biz) };
  }
  if (r < 0.6) {
    return { ...base, kind: "redeem", key, points: 100, path: "/v1/pos/redeem", body: { customerId: c.id, points: 100 }, auth: posAuth(biz) };
  }
  if (r < 0.75) {
    const points = Math.random() < 0.6 ? 1 + Math.floor(Math.random() * 80) : -(1 + Math.floor(Math.random() * 80));
    return { ...base, kind: "adjust", key, points, path: `/v1/owner/customers/${c.id}/points`, body: { points, reason: "fault load" }, auth: ownerAuth(biz) };
  }
  if (r < 0.9) return { ...base, kind: "balance", path: `/v1/pos/balance/${encodeURIComponent(c.phone)}`, auth: posAuth(biz) };
  return { ...base, kind: "owner-get", path: `/v1/owner/customers/${c.id}`, auth: ownerAuth(biz) };
}

/** Runs `workers` loops of requests until stop() is called. */
function startLoad(workers = 8) {
  let stopped = false;
  const loops = Array.from({ length: workers }, async () => {
    while (!stopped) {
      const op = makeOp();
      ops.push(op);
      await send(op);
    }
  });
  return {
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

const in5xx = (o: Op) => o.status >= 500 || o.status === 0;
const phaseOps = (p: string) => ops.filter((o) => o.phase === p);

/**
 * Settles every mutating operation that got no definite answer (5xx or no
 * response) by retrying it with the same Idempotency-Key: a committed change
 * replays, an uncommitted one runs now. Returns how many were retried.
 */
async function settle(): Promise<number> {
  const open = ops.filter((o) => o.key && (in5xx(o) || (o.status === 409 && o.code === "aborted" && o.kind !== "redeem")));
  for (const o of open) {
    for (let attempt = 0; attempt < 20; attempt++) {
      await send(o);
      if (!in5xx(o) && !(o.status === 409 && o.code === "aborted" && o.kind !== "redeem")) break;
      await sleep(100);
    }
    o.retried = true;
  }
  return open.length;
}

/** Compares the database with what the answered operations imply; returns the violations. */
async function invariantViolations(): Promise<string[]> {
  const violations: string[] = [];
  const expected = customers.map((c) => c.initial);
  const counts = customers.map(() => ({ CHECKIN: 0, REDEMPTION: 0, ADJUSTMENT: 0 }));
  for (const o of ops) {
    if (o.status !== 200) {
      if (o.key && in5xx(o)) violations.push(`unsettled ${o.kind} ${o.key}: ${o.status}`);
      continue;
    }
    if (o.kind === "checkin") (expected[o.customer]! += o.points), counts[o.customer]!.CHECKIN++;
    if (o.kind === "redeem") (expected[o.customer]! -= o.points), counts[o.customer]!.REDEMPTION++;
    if (o.kind === "adjust") (expected[o.customer]! += o.points), counts[o.customer]!.ADJUSTMENT++;
  }
  const rows = (
    await check.query<{ id: string; total_points: number }>(`select id, total_points from customer where business_id = $1`, [biz.businessId])
  ).rows;
  const ledger = (
    await check.query<{ customer_id: string; delta: number; balance_after: number; type: string }>(
      `select customer_id, delta, balance_after, type from ledger_entry where business_id = $1 order by customer_id, created_at, id`,
      [biz.businessId],
    )
  ).rows;
  customers.forEach((c, i) => {
    const row = rows.find((r) => r.id === c.id);
    if (!row) return void violations.push(`${c.id} missing`);
    const entries = ledger.filter((l) => l.customer_id === c.id);
    let running = 0;
    for (const e of entries) {
      running += e.delta;
      if (e.balance_after !== running) violations.push(`${c.id}: broken ledger chain at ${e.balance_after} != ${running}`);
      if (e.balance_after < 0) violations.push(`${c.id}: negative balance in the ledger`);
    }
    if (running !== row.total_points) violations.push(`${c.id}: total ${row.total_points} != ledger ${running}`);
    if (row.total_points < 0) violations.push(`${c.id}: negative total`);
    if (row.total_points !== expected[i]) violations.push(`${c.id}: total ${row.total_points} != answered operations ${expected[i]}`);
    for (const type of ["CHECKIN", "REDEMPTION", "ADJUSTMENT"] as const) {
      const n = entries.filter((e) => e.type === type).length;
      if (n !== counts[i]![type]) violations.push(`${c.id}: ${n} ${type} rows for ${counts[i]![type]} successes`);
    }
  });
  return violations;
}

async function readyz(): Promise<{ status: number; body: any }> {
  const r = await rest(t.url, "GET", "/readyz");
  return { status: r.status, body: r.body };
}

async function newApiKey(name: string): Promise<{ id: string; apiKey: string }> {
  const r = await rest(t.url, "POST", "/v1/owner/api-keys", { body: { name }, headers: ownerAuth(biz) });
  expect(r.status).toBe(200);
  return { id: r.body.id, apiKey: r.body.apiKey };
}

const keyWorks = async (apiKey: string) =>
  (await rest(t.url, "GET", `/v1/pos/balance/${encodeURIComponent(customers[0]!.phone)}`, { headers: { "x-api-key": apiKey } })).status;

function summary(p: string) {
  const list = phaseOps(p);
  const byStatus: Record<string, number> = {};
  for (const o of list) byStatus[o.status] = (byStatus[o.status] ?? 0) + 1;
  return {
    operations: list.length,
    fiveXX: list.filter((o) => o.status >= 500).length,
    noResponse: list.filter((o) => o.status === 0).length,
    maxMs: Math.max(0, ...list.map((o) => o.ms)),
    byStatus,
  };
}
const report: string[] = [];

test("Redis killed, restarted and hung mid-load; PostgreSQL backends terminated mid-load", async () => {
  // Six customers with 300 points each.
  for (let i = 0; i < 6; i++) {
    const phone = `+3531888${String(i).padStart(5, "0")}`;
    const r = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: `Fault ${i}`, phone, initialPoints: 300 }, headers: ownerAuth(biz) });
    expect(r.status).toBe(200);
    customers.push({ id: r.body.customer.id, phone, initial: 300 });
  }
  expect((await readyz()).body).toEqual({ status: "ready", database: "up", redis: "up" });

  // --- baseline -----------------------------------------------------------
  phase = "baseline";
  let load = startLoad();
  await sleep(1500);
  const cachedKey = await newApiKey("cached then revoked while Redis is down");
  expect(await keyWorks(cachedKey.apiKey)).toBe(200);

  // --- Redis killed ---------------------------------------------------------
  phase = "redis-down";
  await killRedis();
  const downAt = Date.now();
  await sleep(300);
  const degraded = await readyz();
  expect(degraded).toEqual({ status: 200, body: { status: "degraded", database: "up", redis: "down" } });
  // Keys are checked in PostgreSQL; revocation takes effect at once.
  expect(await keyWorks(biz.apiKey)).toBe(200);
  const revoked = await rest(t.url, "DELETE", `/v1/owner/api-keys/${cachedKey.id}`, { headers: ownerAuth(biz) });
  expect(revoked.status).toBe(200);
  expect(await keyWorks(cachedKey.apiKey)).toBe(401);
  // Owners can still log in (no throttle state, no lock).
  const login = await rest(t.url, "POST", "/v1/auth/login", { body: { email: biz.email, password: biz.password } });
  expect(login.status).toBe(200);
  await sleep(2000);
  expect(Date.now() - downAt).toBeGreaterThan(2000);

  // --- Redis back on the same port, app not restarted -----------------------
  phase = "redis-back";
  const restartAt = Date.now();
  await startRedis();
  let redisRecoveryMs = -1;
  for (let i = 0; i < 200; i++) {
    if ((await readyz()).body.status === "ready") {
      redisRecoveryMs = Date.now() - restartAt;
      break;
    }
    await sleep(50);
  }
  expect(redisRecoveryMs).toBeGreaterThanOrEqual(0);
  expect(redisRecoveryMs).toBeLessThan(5000);
  // Redis is used again: validated keys are cached and rate-limit counters counted there.
  const freshKey = await newApiKey("cached after the restart");
  expect(await keyWorks(freshKey.apiKey)).toBe(200);
  const cacheKey = `apikey:${createHash("sha256").update(freshKey.apiKey).digest("hex")}`;
  expect(await redisCli("exists", cacheKey)).toBe("1");
  expect(Number(await redisCli("eval", "return #redis.call('keys', 'rl:*')", "0"))).toBeGreaterThan(0);
  // A revoked key takes effect at once: evicted from the shared cache.
  expect((await rest(t.url, "DELETE", `/v1/owner/api-keys/${freshKey.id}`, { headers: ownerAuth(biz) })).status).toBe(200);
  expect(await redisCli("exists", cacheKey)).toBe("0");
  expect(await keyWorks(freshKey.apiKey)).toBe(401);
  // The revoked-while-down key stays revoked.
  expect(await keyWorks(cachedKey.apiKey)).toBe(401);
  await sleep(1000);

  // --- Redis hung (SIGSTOP): commands time out instead of failing ------------
  phase = "redis-hung";
  const hungKey = await newApiKey("cached then revoked while Redis hangs");
  expect(await keyWorks(hungKey.apiKey)).toBe(200);
  redis!.kill("SIGSTOP");
  const hungAt = Date.now();
  const revokedHung = await rest(t.url, "DELETE", `/v1/owner/api-keys/${hungKey.id}`, { headers: ownerAuth(biz) });
  expect(revokedHung.status).toBe(200);
  await sleep(2000);
  redis!.kill("SIGCONT");
  const resumedAt = Date.now();
  // Revocation while Redis could not be reached takes effect within the cache TTL.
  let revokedAfterMs = -1;
  for (let i = 0; i < 100; i++) {
    if ((await keyWorks(hungKey.apiKey)) === 401) {
      revokedAfterMs = Date.now() - hungAt;
      break;
    }
    await sleep(100);
  }
  expect(revokedAfterMs).toBeGreaterThanOrEqual(0);
  expect(revokedAfterMs).toBeLessThanOrEqual((CACHE_TTL_S + 3) * 1000);
  let hungRecoveryMs = -1;
  for (let i = 0; i < 100; i++) {
    if ((await readyz()).body.status === "ready") {
      hungRecoveryMs = Date.now() - resumedAt;
      break;
    }
    await sleep(50);
  }
  expect(hungRecoveryMs).toBeGreaterThanOrEqual(0);
  phase = "redis-settled";
  await sleep(2000);
  await load.stop();

  for (const p of ["baseline", "redis-down", "redis-back", "redis-hung", "redis-settled"]) {
    const s = summary(p);
    report.push(`${p}: ${s.operations} ops, ${s.fiveXX} 5xx, ${s.noResponse} without response, max ${s.maxMs} ms`);
    expect(s.fiveXX, `${p} ${JSON.stringify(s.byStatus)}`).toBe(0);
    expect(s.noResponse, p).toBe(0);
    expect(s.maxMs, p).toBeLessThan(5000);
    // Each phase ran under load (however slow the shared machine is).
    expect(s.operations, p).toBeGreaterThanOrEqual(5);
  }
  report.push(`redis recovery after restart: ${redisRecoveryMs} ms; after SIGCONT: ${hungRecoveryMs} ms; key revoked while hung refused after ${revokedAfterMs} ms`);
  const retriedRedis = await settle();
  const redisViolations = await invariantViolations();
  report.push(`after the Redis faults: ${retriedRedis} retried, ${redisViolations.length} invariant violations`);
  expect(redisViolations).toEqual([]);

  // --- PostgreSQL backends terminated mid-load -----------------------------
  phase = "pg-kill";
  load = startLoad();
  await sleep(800);
  let terminated = 0;
  let lastKillAt = 0;
  const dbName = new URL(t.databaseUrl).pathname.slice(1);
  for (let i = 0; i < 4; i++) {
    const r = await admin.query(
      `select pg_terminate_backend(pid) as ok from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`,
      [dbName],
    );
    terminated += r.rows.filter((x: { ok: boolean }) => x.ok).length;
    lastKillAt = Date.now();
    await sleep(600);
  }
  phase = "pg-after";
  await sleep(2000);
  await load.stop();
  const firstOkAfterKill = ops
    .filter((o) => o.startedAt >= lastKillAt && o.status === 200)
    .reduce((min, o) => Math.min(min, o.startedAt + o.ms), Infinity);
  const pgRecoveryMs = firstOkAfterKill - lastKillAt;
  const kill = summary("pg-kill");
  const after = summary("pg-after");
  report.push(
    `pg-kill: ${kill.operations} ops, ${terminated} backends terminated in 4 rounds, ${kill.fiveXX} 5xx (${kill.byStatus["503"] ?? 0} × 503, ${kill.byStatus["500"] ?? 0} × 500), max ${kill.maxMs} ms`,
  );
  report.push(`pg-after: ${after.operations} ops, ${after.fiveXX} 5xx, max ${after.maxMs} ms; first success ${pgRecoveryMs} ms after the last kill`);
  expect(terminated).toBeGreaterThan(0);
  // During the fault: 503 unavailable or success — never 500, never a hang.
  const wrong = phaseOps("pg-kill").filter((o) => (o.status >= 500 && !(o.status === 503 && o.code === "unavailable")) || o.status === 0);
  expect(wrong.map((o) => `${o.kind} ${o.status} ${o.code}`)).toEqual([]);
  expect(kill.maxMs).toBeLessThan(5000);
  // Afterwards: everything works, without a restart.
  expect(after.fiveXX, JSON.stringify(after.byStatus)).toBe(0);
  expect(after.noResponse).toBe(0);
  expect(after.operations).toBeGreaterThanOrEqual(5);
  expect(pgRecoveryMs).toBeLessThan(5000);
  expect((await readyz()).body).toEqual({ status: "ready", database: "up", redis: "up" });
  const retriedPg = await settle();
  const pgViolations = await invariantViolations();
  report.push(`after the PostgreSQL faults: ${retriedPg} retried with their Idempotency-Key, ${pgViolations.length} invariant violations`);
  report.push(`total: ${ops.length} operations`);
  console.log(`[faults]\n  ${report.join("\n  ")}`);
  expect(pgViolations).toEqual([]);
}, 90_000);
