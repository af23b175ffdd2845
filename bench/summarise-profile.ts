/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): where the busy
 * time went, by package and by function.
 *
 *   tsx bench/summarise-profile.ts <file.cpuprofile | folder> [top=25] [from s] [to s]
 *
 * - self time by package (node_modules package, src/<folder>, node core,
 *   GC, …);
 * - inclusive time by package: samples whose stack contains the package
 *   anywhere (e.g. everything under MikroORM, including pg below it);
 * - the top functions by self time;
 * - the product's own functions (src/) by inclusive time.
 *
 * Percentages are of busy time (idle samples excluded).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Which package (or part of the product) a frame belongs to. */
export function packageOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === "(garbage collector)") return "(garbage collector)";
    if (functionName === "(idle)") return "(idle)";
    if (functionName === "(program)") return "(program)";
    if (functionName === "(root)") return "(root)";
    return "(native)";
  }
  if (url.startsWith("node:")) return "node core";
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "/node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const src = /\/(src|gen|bench|test)\/(?:([^/]+)\/)?/.exec(url);
  if (src) {
    if (src[1] === "src") return src[2] && !src[2].includes(".") ? `app src/${src[2]}` : "app src";
    return `app ${src[1]}`;
  }
  return "(other)";
}

function shortUrl(url: string): string {
  if (!url) return "";
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) return url.slice(nm + "/node_modules/".length);
  const i = url.search(/\/(src|gen|bench|test)\//);
  if (i >= 0) return url.slice(i + 1);
  return url.replace(/^file:\/\//, "");
}

const ms = (us: number) => (us / 1000).toFixed(0).padStart(7) + " ms";
const pct = (part: number, whole: number) => ((100 * part) / whole).toFixed(1).padStart(5) + "%";

/** What to summarise: the top N, and a time window in ms from the profile's start (process start). */
export interface SummaryOptions {
  top?: number;
  fromMs?: number;
  toMs?: number;
}

export function summariseProfile(file: string, opts: SummaryOptions = {}): string {
  const top = opts.top ?? 25;
  const fromUs = (opts.fromMs ?? 0) * 1000;
  const toUs = (opts.toMs ?? Infinity) * 1000;
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  let at = 0;
  let counted = 0;
  for (let i = 0; i < samples.length; i++) {
    at += timeDeltas[i] ?? 0;
    if (at < fromUs || at > toUs) continue;
    const dt = timeDeltas[i + 1] ?? 0;
    self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + dt);
    counted++;
  }

  let total = 0;
  let idle = 0;
  const selfByPkg = new Map<string, number>();
  const selfByFn = new Map<string, { us: number; pkg: string }>();
  const inclByPkg = new Map<string, number>();
  const inclByAppFn = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const pkg = packageOf(node.callFrame);
    total += us;
    if (pkg === "(idle)") {
      idle += us;
      continue;
    }
    selfByPkg.set(pkg, (selfByPkg.get(pkg) ?? 0) + us);
    const f = node.callFrame;
    const key = `${f.functionName || "(anonymous)"}  ${shortUrl(f.url)}${f.url ? `:${f.lineNumber + 1}` : ""}`;
    const entry = selfByFn.get(key) ?? { us: 0, pkg };
    entry.us += us;
    selfByFn.set(key, entry);
    // Inclusive: every package / app function on this sample's stack, once.
    const pkgs = new Set<string>();
    const fns = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      const p = packageOf(cf);
      pkgs.add(p);
      if (p.startsWith("app src")) fns.add(`${cf.functionName || "(anonymous)"}  ${shortUrl(cf.url)}:${cf.lineNumber + 1}`);
    }
    for (const p of pkgs) inclByPkg.set(p, (inclByPkg.get(p) ?? 0) + us);
    for (const fn of fns) inclByAppFn.set(fn, (inclByAppFn.get(fn) ?? 0) + us);
  }
  const busy = total - idle;
  const out: string[] = [];
  const window =
    opts.fromMs !== undefined || opts.toMs !== undefined
      ? ` — window ${((opts.fromMs ?? 0) / 1000).toFixed(1)}–${opts.toMs === undefined ? "end" : (opts.toMs / 1000).toFixed(1)} s`
      : "";
  out.push(
    `profile: ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s wall${window}, ${(total / 1e6).toFixed(1)} s sampled, ` +
      `${(busy / 1e6).toFixed(1)} s busy (${pct(busy, total).trim()}), ${counted.toLocaleString()} samples`,
  );
  out.push("", "self time by package (% of busy):");
  for (const [p, us] of [...selfByPkg].sort((a, b) => b[1] - a[1]).slice(0, 18)) {
    out.push(`  ${pct(us, busy)} ${ms(us)}  ${p}`);
  }
  out.push("", "inclusive time by package — samples with the package anywhere on the stack (% of busy):");
  for (const [p, us] of [...inclByPkg]
    .filter(([p]) => !p.startsWith("(root") && p !== "(program)")
    .sort((a, b) => b[1] - a[1])
    .slice(0, 18)) {
    out.push(`  ${pct(us, busy)} ${ms(us)}  ${p}`);
  }
  out.push("", `top ${top} functions by self time (% of busy):`);
  for (const [k, v] of [...selfByFn].sort((a, b) => b[1].us - a[1].us).slice(0, top)) {
    out.push(`  ${pct(v.us, busy)} ${ms(v.us)}  [${v.pkg}] ${k}`);
  }
  out.push("", "the product's own functions by inclusive time (% of busy):");
  for (const [k, us] of [...inclByAppFn].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    out.push(`  ${pct(us, busy)} ${ms(us)}  ${k}`);
  }
  return out.join("\n");
}

/**
 * The newest main-thread profile in a folder. `--cpu-prof` writes one file
 * per thread, `CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile`; with
 * `--import tsx` thread 1 is the module-loader worker, not the server.
 */
export function mainThreadProfile(path: string): string {
  if (!statSync(path).isDirectory()) return path;
  const files = readdirSync(path)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => ({ file: join(path, f), thread: f.split(".")[4], mtime: statSync(join(path, f)).mtimeMs }))
    .sort((a, b) => Number(a.thread !== "0") - Number(b.thread !== "0") || b.mtime - a.mtime);
  if (!files.length) throw new Error(`no .cpuprofile in ${path}`);
  return files[0]!.file;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const target = process.argv[2];
  if (!target) {
    console.error("usage: tsx bench/summarise-profile.ts <file.cpuprofile | folder> [top=25] [from s] [to s]");
    process.exit(2);
  }
  const file = mainThreadProfile(target);
  console.log(file);
  const [top, fromS, toS] = process.argv.slice(3).map(Number);
  console.log(
    summariseProfile(file, {
      top: top || 25,
      fromMs: fromS ? fromS * 1000 : undefined,
      toMs: toS ? toS * 1000 : undefined,
    }),
  );
}
