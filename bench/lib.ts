/**
 * Shared plumbing of the benchmark: settings read from the environment, the
 * dataset description written by `load-data.ts`, child-process servers with
 * readiness polling and clean shutdown, and RSS sampling from /proc.
 *
 * Nothing here imports the product's code: the bench drives the product as
 * an integrator does (a process, a port, HTTP/gRPC), so it keeps working
 * while src/ changes underneath it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(BENCH_DIR, "..");

const env = process.env;

function num(name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return v;
}

export const QUICK = /^(1|true|yes)$/i.test(env.BENCH_QUICK ?? "");

/** Every knob of the bench, read once. */
export const settings = {
  quick: QUICK,
  /** Seconds per measured run. */
  duration: num("BENCH_DURATION", QUICK ? 2 : 10),
  /** ABBA rounds per comparison (round 1: product then baseline; round 2: baseline then product). */
  rounds: Math.round(num("BENCH_ROUNDS", QUICK ? 1 : 2)),
  /** Seconds of warm-up per server before measuring. */
  warmup: num("BENCH_WARMUP", QUICK ? 1 : 3),
  connections: Math.round(num("BENCH_CONNECTIONS", 32)),
  pgAdminUrl: env.BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
  database: env.BENCH_DB ?? "loyalty_bench",
  redisUrl: env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379/11",
  stateDir: env.BENCH_STATE_DIR ?? join(tmpdir(), "loyalty-bench"),
  /** Fixed ports from BENCH_PORT_BASE (offsets in PORT_OFFSETS); unset = free ports picked at start. */
  portBase: env.BENCH_PORT_BASE ? Math.round(num("BENCH_PORT_BASE", 18080)) : undefined,
  /** Keep the product's default POS/owner rate limits (6,000 and 600 per minute). */
  reload: /^(1|true|yes)$/i.test(env.BENCH_RELOAD ?? ""),
  /** Only these comparisons (comma-separated keys, e.g. "checkin-rest,balance"); empty = all. */
  only: (env.BENCH_ONLY ?? "").split(",").map((s) => s.trim()).filter(Boolean),
  /** Customers per business and ledger rows per customer (scale with BENCH_SCALE for experiments). */
  scale: num("BENCH_SCALE", 1),
};

/** The one JWT secret of every bench instance, so tokens stay valid across restarts. */
export const JWT_SECRET = "loyalty-plus-bench-secret-0123456789abcdefghij";

const PORT_OFFSETS = {
  product: 0,
  product2: 1,
  productSmall: 2,
  loader: 5,
  loader2: 6,
  profile: 7,
  profileBaseline: 8,
  baseline: 10,
  /** The gRPC yardstick, and its plain-HTTP /healthz. */
  baselineGrpc: 12,
  baselineGrpcHealth: 13,
  /** The other checkout's product (BENCH_VERSUS_DIR). */
  versus: 15,
};

/** A port for one of the bench's servers: BENCH_PORT_BASE + offset, or a free one. */
export async function portFor(role: keyof typeof PORT_OFFSETS): Promise<number> {
  if (settings.portBase !== undefined) return settings.portBase + PORT_OFFSETS[role];
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => res(port));
    });
  });
}

/** Is something already accepting connections on 127.0.0.1:port? */
function portBusy(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = net.connect({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      res(true);
    });
    s.once("error", () => res(false));
  });
}

/**
 * Does process `pid` own the listening socket on `port`? (/proc/net/tcp gives
 * the socket's inode; the process's fds name it.) Guards against measuring
 * some other server that happens to listen on the port.
 */
function ownsPort(pid: number, port: number): boolean {
  const inodes = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== "0A") continue;
      if (parseInt(cols[1]!.split(":")[1]!, 16) === port) inodes.add(cols[9]!);
    }
  }
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1]!)) return true;
      } catch {
        // fd closed meanwhile
      }
    }
  } catch {
    return false;
  }
  return false;
}

export function databaseUrl(name: string): string {
  const url = new URL(settings.pgAdminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export const STATE_FILE = join(settings.stateDir, "state.json");

/** One registered business and how its synthetic customers are named. */
export interface BenchBusiness {
  role: "main" | "redeem" | "other" | "small";
  businessId: string;
  ownerId: string;
  email: string;
  password: string;
  token: string;
  apiKey: string;
  apiKeyId: string;
  customers: number;
  ledgerPerCustomer: number;
  /** Phone of customer i: phonePrefix + i padded to 7 digits (E.164, IE mobile). */
  phonePrefix: string;
  /** Id of customer i: idPrefix + i padded to 8 digits. */
  idPrefix: string;
}

export interface BenchDataset {
  database: string;
  url: string;
  customers: number;
  ledgerRows: number;
  businesses: BenchBusiness[];
}

export interface BenchState {
  createdAt: string;
  loadSeconds: number;
  big: BenchDataset;
  small: BenchDataset;
}

export function readState(): BenchState | undefined {
  if (!existsSync(STATE_FILE)) return undefined;
  try {
    return JSON.parse(readFileSync(STATE_FILE, "utf8")) as BenchState;
  } catch {
    return undefined;
  }
}

export const phoneOf = (b: BenchBusiness, i: number) => b.phonePrefix + String(i).padStart(7, "0");
export const idOf = (b: BenchBusiness, i: number) => b.idPrefix + String(i).padStart(8, "0");

export function business(ds: BenchDataset, role: BenchBusiness["role"]): BenchBusiness {
  const b = ds.businesses.find((x) => x.role === role);
  if (!b) throw new Error(`dataset ${ds.database} has no "${role}" business`);
  return b;
}

/** Runs one SQL statement on a short-lived connection. */
export async function sql<T = Record<string, unknown>>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------- processes

/** A server started by the bench as a child process. */
export interface ServerProc {
  name: string;
  pid: number;
  port: number;
  url: string;
  child: ChildProcess;
  /** The last lines it printed (shown when it fails). */
  output(): string;
  stop(): Promise<number | null>;
}

const children = new Set<ChildProcess>();

function killChildren() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }
}
process.on("exit", killChildren);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    killChildren();
    process.exit(130);
  });
}

/** The environment a product instance runs with in the bench. */
export function productEnv(database: string, port: number): Record<string, string> {
  const e: Record<string, string> = {
    NODE_ENV: "production",
    DATABASE_URL: databaseUrl(database),
    REDIS_URL: settings.redisUrl,
    PORT: String(port),
    HOST: "127.0.0.1",
    LOG_LEVEL: "warn",
    JWT_SECRET,
    DATA_DIR: join(settings.stateDir, "data"),
  };
  return e;
}

/**
 * Starts a server and waits until GET /healthz answers: compiled JavaScript
 * (`dist/main.js`, the product as `npm start` runs it) with plain `node`, a
 * TypeScript entry (the baseline) with `node --import tsx`; one process
 * either way, so its pid is the server's and /proc/<pid>/status its memory.
 */
/** The product's entry as `npm start` runs it (`npm run bench` builds it first when stale). */
export const PRODUCT_ENTRY = "dist/main.js";

export async function startServer(opts: {
  name: string;
  script: string;
  port: number;
  env: Record<string, string>;
  nodeArgs?: string[];
  readyTimeoutMs?: number;
  /** Where GET /healthz answers, if not on `port` (the gRPC yardstick's plain HTTP side). */
  healthPort?: number;
  /** Another checkout to run it from (BENCH_VERSUS_DIR), and the node to run it with. */
  cwd?: string;
  node?: string;
}): Promise<ServerProc> {
  if (await portBusy(opts.port)) {
    throw new Error(`${opts.name}: port ${opts.port} is already in use by another process (set BENCH_PORT_BASE or leave it unset for free ports)`);
  }
  const loader = opts.script.endsWith(".ts") ? ["--import", "tsx"] : [];
  const child = spawn(opts.node ?? process.execPath, [...(opts.nodeArgs ?? []), ...loader, opts.script], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let tail: string[] = [];
  const keep = (chunk: Buffer) => {
    tail.push(...chunk.toString().split("\n").filter(Boolean));
    if (tail.length > 40) tail = tail.slice(-40);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));
  const url = `http://127.0.0.1:${opts.port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`${opts.name} exited with ${child.exitCode} before it was ready:\n${tail.join("\n")}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${opts.healthPort ?? opts.port}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok && ownsPort(child.pid!, opts.port)) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${opts.name} not ready after ${opts.readyTimeoutMs ?? 90_000} ms:\n${tail.join("\n")}`);
    }
    await sleep(150);
  }
  return {
    name: opts.name,
    pid: child.pid!,
    port: opts.port,
    url,
    child,
    output: () => tail.join("\n"),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        const code = await exited;
        clearTimeout(timer);
        children.delete(child);
        return code;
      }
      children.delete(child);
      return child.exitCode;
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- memory

function statusField(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * CPU time (user + system) the processes have used so far, in ms, from
 * /proc/<pid>/stat (clock ticks of 10 ms). Divided by the requests served,
 * it is a cost per request that machine load does not distort much.
 */
export function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // process gone
    }
  }
  return ticks * 10;
}

/** Peak resident set size since the process started (VmHWM), in MB. */
export const peakRssMb = (pid: number) => statusField(pid, "VmHWM");

/** Polls VmRSS every 100 ms; `stop()` gives the highest value any one of the processes reached, in MB. */
export function sampleRss(pids: number[]): { stop(): number } {
  let peak = 0;
  const read = () => {
    for (const p of pids) peak = Math.max(peak, statusField(p, "VmRSS"));
  };
  read();
  const timer = setInterval(read, 100);
  return {
    stop() {
      clearInterval(timer);
      read();
      return peak;
    },
  };
}

// ---------------------------------------------------------------- statistics

/** Percentile of an ascending-sorted array (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Latencies in ms, appended cheaply and merged across runs. */
export class Latencies {
  private chunks: Float64Array[] = [];
  private cur = new Float64Array(65_536);
  private n = 0;
  add(ms: number) {
    if (this.n === this.cur.length) {
      this.chunks.push(this.cur);
      this.cur = new Float64Array(65_536);
      this.n = 0;
    }
    this.cur[this.n++] = ms;
  }
  merge(other: Latencies) {
    for (const v of other.values()) this.add(v);
  }
  values(): Float64Array {
    const total = this.chunks.length * 65_536 + this.n;
    const out = new Float64Array(total);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    out.set(this.cur.subarray(0, this.n), o);
    return out;
  }
  sorted(): Float64Array {
    return this.values().sort();
  }
}
