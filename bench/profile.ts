/**
 * `npm run bench -- --profile` (or BENCH_PROFILE=1): each server under
 * `node --cpu-prof` through the POS loads (BENCH_ONLY picks some of them by
 * their comparison keys), stopped so that the profile is written at exit,
 * then summarised per load's time window (start-up and warm-up left out).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { business, percentile, settings, type BenchState, type ServerProc } from "./lib.js";
import { runGrpc, runHttp, type RunResult } from "./load.js";
import type { Log } from "./measure.js";
import { fmt } from "./report.js";
import { balanceReq, checkinBody, checkinIdemReq, checkinReq, HOT_CUSTOMERS, listReq, redeemReq } from "./scenarios.js";
import { mainThreadProfile, summariseProfile } from "./summarise-profile.js";

export interface ProfileHooks {
  ensureData: () => Promise<BenchState>;
  startProduct: (args: string[]) => Promise<ServerProc>;
  startBaseline: (state: BenchState, args: string[]) => Promise<ServerProc>;
  login: (server: ServerProc) => Promise<string>;
  log: Log;
}

async function profileOne(state: BenchState, which: "product" | "baseline", hooks: ProfileHooks): Promise<string> {
  const main = business(state.big, "main");
  const redeem = business(state.big, "redeem");
  const dir = join(settings.stateDir, "prof", `${which}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  const args = ["--cpu-prof", `--cpu-prof-dir=${dir}`];
  const spawnedAt = Date.now();
  const server = which === "product" ? await hooks.startProduct(args) : await hooks.startBaseline(state, args);
  // Time windows of the measured runs, in ms since the process started.
  const windows: { name: string; fromMs: number; toMs: number; result: string }[] = [];
  try {
    const conns = settings.connections;
    const token = which === "product" ? await hooks.login(server) : main.token;
    const loads: [string, string, (d: number) => Promise<RunResult>][] = [
      ["checkin-rest", "check-in REST", (d) => runHttp(server.url, checkinReq(main), d, conns)],
      ["checkin-grpc", "check-in gRPC", (d) => runGrpc(server.port, main.apiKey, "Checkin", () => checkinBody(main), d, conns)],
      ["checkin-idem", "check-in REST + Idempotency-Key", (d) => runHttp(server.url, checkinIdemReq(main), d, conns)],
      ["balance", "balance REST", (d) => runHttp(server.url, balanceReq(main), d, conns)],
      ["redeem", "redeem REST", (d) => runHttp(server.url, redeemReq(redeem, redeem.customers - HOT_CUSTOMERS, HOT_CUSTOMERS), d, conns)],
      ["owner-list", "owner list+search REST", (d) => runHttp(server.url, listReq(() => token), d, conns)],
    ];
    // The baseline's REST server has no gRPC side.
    const runs = loads.filter(([key]) => (settings.only.length === 0 || settings.only.includes(key)) && !(which === "baseline" && key === "checkin-grpc"));
    for (const [, , run] of runs) await run(settings.warmup);
    for (const [, name, run] of runs) {
      const fromMs = Date.now() - spawnedAt;
      const r = await run(settings.duration);
      const toMs = Date.now() - spawnedAt;
      const sorted = r.lat.sorted();
      const result = `${fmt(r.ok / r.elapsedS)} req/s, p50 ${fmt(percentile(sorted, 50), 1)} ms, p99 ${fmt(percentile(sorted, 99), 1)} ms, failures ${r.failed + r.errors}`;
      windows.push({ name, fromMs, toMs, result });
      hooks.log(`  ${which} profiled · ${name}: ${result}`);
    }
  } finally {
    await server.stop();
  }
  const file = mainThreadProfile(dir);
  const parts = [`${which}: ${file} (start-up and warm-up excluded; one summary per load)`];
  for (const w of windows) {
    parts.push("", `=== ${which} · ${w.name} (${w.result} under the profiler)`, summariseProfile(file, { fromMs: w.fromMs, toMs: w.toMs }));
  }
  const text = parts.join("\n");
  writeFileSync(join(dir, "summary.txt"), text);
  return text;
}

export async function profile(hooks: ProfileHooks) {
  const state = await hooks.ensureData();
  const sides = (process.env.BENCH_PROFILE_SIDES ?? "product,baseline").split(",") as ("product" | "baseline")[];
  for (const which of sides) {
    hooks.log(`profiling the ${which} …`);
    console.log("\n" + (await profileOne(state, which, hooks)) + "\n");
  }
}
