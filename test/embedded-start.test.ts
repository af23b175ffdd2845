import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { rest } from "./support/rest.js";

/**
 * The quick start as a new user meets it: `tsx src/main.ts` with no
 * DATABASE_URL and no REDIS_URL starts an embedded PostgreSQL in DATA_DIR and
 * in-process cache and locks; SIGTERM stops it with exit code 0; a second
 * start on the same folder finds the data again.
 */

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const TSX = join(ROOT, "node_modules/.bin/tsx");
const TIMEOUT = 120_000;

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
async function startService(): Promise<Service & { msToHealthy: number }> {
  const port = await freePort();
  const started = Date.now();
  const child = spawn(TSX, ["src/main.ts"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", DATA_DIR: dataDir, PORT: String(port) },
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

/**
 * The service process itself: `tsx` runs the script in a child node process.
 * Signals go to it directly, as they would to `node --import tsx src/main.ts`:
 * the tsx wrapper relays a SIGTERM it receives, but when the child does not
 * acknowledge within 30 ms (a busy event loop, or just a loaded machine) it
 * SIGKILLs the child and exits 143, with no drain.
 */
function servicePid(tsxPid: number): number {
  const children = readFileSync(`/proc/${tsxPid}/task/${tsxPid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  if (children.length !== 1) throw new Error(`expected one child of tsx (${tsxPid}), found [${children.join(", ")}]`);
  return Number(children[0]);
}

/** Sends SIGTERM to the service and resolves the exit code of `tsx` (or throws after 30 s). */
async function stopService(s: Service): Promise<number | null> {
  process.kill(servicePid(s.child.pid!), "SIGTERM");
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
});

afterAll(async () => {
  // Only after a failure: stop what this file started, PostgreSQL included.
  if (running && running.child.exitCode === null) {
    try {
      process.kill(servicePid(running.child.pid!), "SIGTERM");
    } catch {
      running.child.kill("SIGTERM");
    }
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
