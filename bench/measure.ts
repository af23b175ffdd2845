/**
 * How one comparison is measured: both sides warmed up, then ABBA rounds
 * (product, yardstick, yardstick, product, …) within one run, so machine
 * drift cancels; each run's server CPU time (/proc/<pid>/stat) and RSS are
 * sampled around it, and a side's figures are all its rounds together.
 */
import { cpuMs, Latencies, percentile, sampleRss, settings, sleep, type ServerProc } from "./lib.js";
import { runHttp, type HttpRequest, type RunResult } from "./load.js";
import { figuresOf, fmt, judge, ratiosOf, type Outcome, type Target } from "./report.js";

/** One side of a comparison: what is loaded and whose CPU and memory are watched. */
export interface Side {
  name: string;
  pids: () => number[];
  run: (duration: number) => Promise<RunResult>;
  /** One request through fetch before measuring, to show a failure's body. */
  probe?: () => Promise<string | undefined>;
}

export interface Comparison {
  key: string;
  label: string;
  a: Side;
  b: Side;
  target?: Target;
  /** Runs before the comparison (a top-up of the hot customers' points). */
  before?: () => Promise<void>;
}

export type Log = (msg: string) => void;

/** A REST side: autocannon against one server, with a fetch probe. */
export function httpSide(name: string, server: () => ServerProc, build: () => HttpRequest, connections = settings.connections): Side {
  return {
    name,
    pids: () => [server().pid],
    run: (d) => runHttp(server().url, build, d, connections),
    async probe() {
      const r = build();
      const res = await fetch(server().url + r.path, {
        method: r.method,
        headers: { ...(r.body ? { "content-type": "application/json" } : {}), ...r.headers },
        body: r.body,
      });
      if (res.ok) return undefined;
      return `${name}: ${r.method} ${r.path} → ${res.status} ${(await res.text()).slice(0, 300)}`;
    },
  };
}

async function measure(side: Side, duration: number) {
  const pids = side.pids();
  const rss = sampleRss(pids);
  const cpu0 = cpuMs(pids);
  const load0 = process.cpuUsage();
  const res = await side.run(duration);
  const load = process.cpuUsage(load0);
  return { res, rss: rss.stop(), cpu: cpuMs(pids) - cpu0, loadCpu: (load.user + load.system) / 1000 };
}

export async function compare(c: Comparison, log: Log): Promise<Outcome> {
  await c.before?.();
  for (const side of [c.a, c.b]) {
    const problem = await side.probe?.().catch((err: Error) => `${side.name}: probe failed: ${err.message}`);
    if (problem) log(`  ! ${c.label}: ${problem}`);
  }
  // Warm-up, untimed: JIT, connection pools, caches.
  for (const side of [c.a, c.b]) await side.run(settings.warmup);
  const aggs = new Map(
    [c.a, c.b].map((s) => [s, { ok: 0, failed: 0, errors: 0, elapsedS: 0, lat: new Latencies(), rssMb: 0, cpuMs: 0, samples: new Set<string>() }]),
  );
  for (let round = 0; round < settings.rounds; round++) {
    const order = round % 2 === 0 ? [c.a, c.b] : [c.b, c.a];
    for (const side of order) {
      await sleep(300);
      const { res, rss, cpu, loadCpu } = await measure(side, settings.duration);
      const agg = aggs.get(side)!;
      agg.ok += res.ok;
      agg.failed += res.failed;
      agg.errors += res.errors;
      agg.elapsedS += res.elapsedS;
      agg.lat.merge(res.lat);
      agg.rssMb = Math.max(agg.rssMb, rss);
      agg.cpuMs += cpu;
      for (const s of res.samples) agg.samples.add(s);
      const sorted = res.lat.sorted();
      const calls = Math.max(1, res.ok + res.failed);
      log(
        `  ${c.label} · ${side.name} · round ${round + 1}: ${fmt(res.ok / res.elapsedS)} req/s, ` +
          `p50 ${fmt(percentile(sorted, 50), 1)} ms, p99 ${fmt(percentile(sorted, 99), 1)} ms, ` +
          `failures ${res.failed + res.errors}${res.samples.length ? ` (${res.samples.join("; ")})` : ""}, ` +
          `server CPU ${fmt(cpu / calls, 3)} ms/req, load generator ${fmt(loadCpu / calls, 2)} ms/req, RSS ≤ ${fmt(rss)} MB`,
      );
    }
  }
  const a = figuresOf(aggs.get(c.a)!);
  const b = figuresOf(aggs.get(c.b)!);
  return {
    key: c.key,
    label: c.label,
    a: { name: c.a.name, ...a },
    b: { name: c.b.name, ...b },
    ratios: ratiosOf(a, b),
    verdict: c.target && judge(c.target, a, b),
  };
}
