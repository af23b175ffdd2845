/**
 * `BENCH_VERSUS_DIR=<another checkout> npm run bench`: this checkout's
 * product against another checkout's (an earlier commit: the last Node 20
 * one for issue 12), alternating ABBA within one run on the same
 * PostgreSQL and Redis — each on its own dataset of the same shape, loaded
 * by that checkout's own `bench/load-data.ts` (its schema is its own):
 *
 *   (cd <dir> && BENCH_DB=<db> BENCH_STATE_DIR=<dir2> npx tsx bench/load-data.ts)
 *   BENCH_VERSUS_DIR=<dir> BENCH_VERSUS_STATE=<dir2>/state.json npm run bench
 *
 * The other product runs as that checkout's `npm start` runs it (node flags
 * and entry read from its package.json), with its own node_modules' `node`
 * if it pins one, else BENCH_VERSUS_NODE (default /usr/bin/node, the
 * system Node). Ratios are this product / the other.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { business, peakRssMb, portFor, productEnv, settings, startServer, type BenchState, type ServerProc } from "./lib.js";
import { runGrpc } from "./load.js";
import { compare, httpSide, type Comparison, type Log } from "./measure.js";
import { mkdirSync, writeFileSync } from "node:fs";
import { fmt, markdownTable, table, type Outcome } from "./report.js";
import { balanceReq, checkinBody, checkinIdemReq, checkinReq, HOT_CUSTOMERS, listReq, redeemReq } from "./scenarios.js";

/** How a checkout's `npm start` runs its product: node flags and the entry. */
export function startCommand(dir: string): { nodeArgs: string[]; script: string } {
  const start: string = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).scripts.start;
  const words = start.split(/\s+/).filter(Boolean);
  const script = words[words.length - 1]!;
  const nodeArgs: string[] = [];
  for (let i = words.indexOf("node") + 1; i < words.length - 1; i++) {
    if (words[i] === "--import") i++; // the loader startServer adds for a .ts entry
    else if (words[i]!.startsWith("--")) nodeArgs.push(words[i]!);
  }
  return { nodeArgs, script };
}

export interface VersusHooks {
  ensureData: () => Promise<BenchState>;
  startProduct: () => Promise<ServerProc>;
  login: (server: ServerProc, state: BenchState) => Promise<string>;
  productNodeArgs: string[];
  log: Log;
}

export async function versus(dir: string, hooks: VersusHooks) {
  const statePath = process.env.BENCH_VERSUS_STATE;
  if (!statePath || !existsSync(statePath)) throw new Error("BENCH_VERSUS_STATE must name the other checkout's bench state.json (see bench/versus.ts)");
  const theirs = JSON.parse(readFileSync(statePath, "utf8")) as BenchState;
  const ours = await hooks.ensureData();
  const { nodeArgs, script } = startCommand(dir);
  const pinned = join(dir, "node_modules", "node", "bin", "node");
  const node = process.env.BENCH_VERSUS_NODE ?? (existsSync(pinned) ? pinned : "/usr/bin/node");
  const commit = execFileSync("git", ["-C", dir, "rev-parse", "--short", "HEAD"]).toString().trim();
  const servers: ServerProc[] = [];
  try {
    hooks.log(`starting this product and ${dir}'s (${node} ${nodeArgs.join(" ")} ${script}) …`);
    const port = await portFor("versus");
    const [mine, other] = await Promise.all([
      hooks.startProduct(),
      startServer({ name: "other product", script, port, env: productEnv(theirs.big.database, port), nodeArgs, cwd: dir, node }),
    ]);
    servers.push(mine, other);
    const [myToken, theirToken] = await Promise.all([hooks.login(mine, ours), hooks.login(other, theirs)]);
    const otherVersion = execFileSync(node, ["--version"]).toString().trim();
    const A = `this (${process.version})`;
    const B = `other (${otherVersion})`;
    const side = (state: BenchState) => ({ main: business(state.big, "main"), redeem: business(state.big, "redeem") });
    const a = side(ours);
    const b = side(theirs);
    const conns = settings.connections;
    const grpc = (name: string, server: () => ServerProc, key: string, body: () => Record<string, unknown>) => ({
      name,
      pids: () => [server().pid],
      run: (d: number) => runGrpc(server().port, key, "Checkin", body, d, conns),
    });
    const redeemOf = (x: typeof a) => redeemReq(x.redeem, x.redeem.customers - HOT_CUSTOMERS, HOT_CUSTOMERS);
    const list: Comparison[] = [
      { key: "checkin-rest", label: "check-in · REST", a: httpSide(A, () => mine, checkinReq(a.main)), b: httpSide(B, () => other, checkinReq(b.main)) },
      {
        key: "checkin-grpc",
        label: "check-in · gRPC",
        a: grpc(A, () => mine, a.main.apiKey, () => checkinBody(a.main)),
        b: grpc(B, () => other, b.main.apiKey, () => checkinBody(b.main)),
      },
      { key: "checkin-idem", label: "check-in · REST + Idem-Key", a: httpSide(A, () => mine, checkinIdemReq(a.main)), b: httpSide(B, () => other, checkinIdemReq(b.main)) },
      { key: "balance", label: "balance · REST", a: httpSide(A, () => mine, balanceReq(a.main)), b: httpSide(B, () => other, balanceReq(b.main)) },
      { key: "redeem", label: "redeem · REST", a: httpSide(A, () => mine, redeemOf(a)), b: httpSide(B, () => other, redeemOf(b)) },
      {
        key: "owner-list",
        label: "owner list+search · REST",
        a: httpSide(A, () => mine, listReq(() => myToken)),
        b: httpSide(B, () => other, listReq(() => theirToken)),
      },
    ];
    const outcomes: Outcome[] = [];
    for (const c of list.filter((x) => settings.only.length === 0 || settings.only.includes(x.key))) {
      hooks.log(`${c.label}: ${c.a.name} vs ${c.b.name}`);
      outcomes.push(await compare({ ...c, target: { cpu: 1.0, rps: 1.0 } }, hooks.log));
    }
    const hwm = [peakRssMb(mine.pid), peakRssMb(other.pid)];
    for (const s of servers) await s.stop();
    const header = [
      `Loyalty+ bench, versus — ${new Date().toISOString()} — ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`,
      `this checkout: node ${process.version} ${hooks.productNodeArgs.join(" ")}; other: ${dir} (${commit}), ${otherVersion} ${nodeArgs.join(" ")} ${script}`,
      `${conns} connections; ${settings.duration} s per run, ${settings.rounds} round(s) per side (ABBA), ${settings.warmup} s warm-up; ratios ×: this / other; target: no slower (CPU per call ≤ 1.0×, req/s ≥ 1.0×)`,
      "",
    ];
    const report =
      header.join("\n") + table(outcomes, [`peak RSS (VmHWM): this ${fmt(hwm[0]!)} MB, other ${fmt(hwm[1]!)} MB`]);
    console.log("\n" + report + "\n");
    mkdirSync(settings.stateDir, { recursive: true });
    const file = join(settings.stateDir, `versus-${new Date().toISOString().replace(/[:.]/g, "-")}.md`);
    writeFileSync(file, header.slice(0, 3).join("\n\n") + "\n\n" + markdownTable(outcomes) + `\n\npeak RSS (VmHWM): this ${fmt(hwm[0]!)} MB, other ${fmt(hwm[1]!)} MB\n`);
    hooks.log(`written to ${file}`);
  } finally {
    for (const s of servers) await s.stop().catch(() => undefined);
  }
}
