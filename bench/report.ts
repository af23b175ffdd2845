/**
 * The bench's report: each side's figures, the ratios of the product to its
 * yardstick (throughput, server CPU per call, p99) and the targets of issue
 * 19 marked PASS/FAIL, printed as one table.
 */
import type { Latencies } from "./lib.js";
import { percentile } from "./lib.js";

/** What a side did over all its rounds. */
export interface Figures {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  rssMb: number;
  /** Server CPU time per request served (user + system), ms. */
  cpuPerReq: number;
  samples: string[];
}

/** What a comparison is judged by, each as product / yardstick (all optional). */
export interface Target {
  /** CPU per call ≤ this × the yardstick's. */
  cpu?: number;
  /** Throughput ≥ this × the yardstick's. */
  rps?: number;
  /** p99 ≤ this × the yardstick's. */
  p99?: number;
  /** p99 ≤ this many ms (absolute). */
  p99Ms?: number;
  /** p50 ≤ this × the yardstick's (ledger growth). */
  p50?: number;
  /** The first side serves more than the second (scaling out). */
  more?: boolean;
}

export interface Ratios {
  rps: number;
  cpu: number;
  p99: number;
}

export interface Verdict {
  pass: boolean;
  text: string;
}

export interface Outcome {
  key: string;
  label: string;
  a: Figures & { name: string };
  b: Figures & { name: string };
  ratios: Ratios;
  verdict?: Verdict;
}

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) : "—";

export function figuresOf(a: { ok: number; failed: number; errors: number; elapsedS: number; lat: Latencies; rssMb: number; cpuMs: number; samples: Set<string> }): Figures {
  const sorted = a.lat.sorted();
  return {
    rps: a.elapsedS > 0 ? a.ok / a.elapsedS : 0,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    errors: a.failed + a.errors,
    rssMb: a.rssMb,
    cpuPerReq: a.ok + a.failed > 0 ? a.cpuMs / (a.ok + a.failed) : NaN,
    samples: [...a.samples],
  };
}

export const ratiosOf = (a: Figures, b: Figures): Ratios => ({
  rps: b.rps > 0 ? a.rps / b.rps : NaN,
  cpu: b.cpuPerReq > 0 ? a.cpuPerReq / b.cpuPerReq : NaN,
  p99: b.p99 > 0 ? a.p99 / b.p99 : NaN,
});

/** Every condition of the target, and whether all hold (zero errors always counts). */
export function judge(t: Target, a: Figures, b: Figures): Verdict {
  const r = ratiosOf(a, b);
  const parts: [boolean, string][] = [];
  if (t.cpu !== undefined) parts.push([r.cpu <= t.cpu, `CPU≤${t.cpu.toFixed(2)}×`]);
  if (t.rps !== undefined) parts.push([r.rps >= t.rps, `req/s≥${t.rps.toFixed(2)}×`]);
  if (t.p99 !== undefined) parts.push([r.p99 <= t.p99, `p99≤${t.p99.toFixed(1)}×`]);
  if (t.p99Ms !== undefined) parts.push([a.p99 <= t.p99Ms, `p99≤${t.p99Ms}ms`]);
  if (t.p50 !== undefined) parts.push([a.p50 <= b.p50 * t.p50, `p50≤${t.p50}×`]);
  if (t.more) parts.push([a.rps > b.rps, "more req/s"]);
  parts.push([a.errors + b.errors === 0, "0 err"]);
  const failed = parts.filter(([ok]) => !ok).map(([, text]) => text);
  return {
    pass: failed.length === 0,
    text: parts.map(([, text]) => text).join(" & ") + (failed.length ? ` — missed: ${failed.join(", ")}` : ""),
  };
}

function pad(s: string, n: number, right = false) {
  return right ? s.padStart(n) : s.padEnd(n);
}

/** The table: two rows per comparison (product, yardstick), ratios and verdict on the first. */
export function table(outcomes: Outcome[], extra: string[]): string {
  const cols: [string, number, boolean][] = [
    ["scenario", 34, false],
    ["server", 19, false],
    ["req/s", 7, true],
    ["p50 ms", 7, true],
    ["p99 ms", 8, true],
    ["err", 4, true],
    ["RSS MB", 6, true],
    ["CPU ms", 6, true],
    ["req/s×", 6, true],
    ["CPU×", 5, true],
    ["p99×", 5, true],
  ];
  const head = cols.map(([name, n, right]) => pad(name, n, right)).join(" ") + "  target";
  const lines = [head, "-".repeat(head.length + 40)];
  for (const o of outcomes) {
    const row = (label: string, f: Figures & { name: string }, ratios: string[], verdict: string) =>
      [
        pad(label, 34),
        pad(f.name, 19),
        pad(fmt(f.rps), 7, true),
        pad(fmt(f.p50, 1), 7, true),
        pad(fmt(f.p99, 1), 8, true),
        pad(fmt(f.errors), 4, true),
        pad(fmt(f.rssMb), 6, true),
        pad(fmt(f.cpuPerReq, 2), 6, true),
        pad(ratios[0] ?? "", 6, true),
        pad(ratios[1] ?? "", 5, true),
        pad(ratios[2] ?? "", 5, true),
      ].join(" ") + (verdict ? `  ${verdict}` : "");
    const verdict = o.verdict ? `${o.verdict.pass ? "PASS" : "FAIL"} ${o.verdict.text}` : "(no target)";
    lines.push(row(o.label, o.a, [fmt(o.ratios.rps, 2), fmt(o.ratios.cpu, 2), fmt(o.ratios.p99, 2)], verdict));
    lines.push(row("", o.b, [], ""));
  }
  lines.push("-".repeat(head.length + 40));
  lines.push(...extra);
  return lines.join("\n");
}

/** The same outcomes as one Markdown table (written beside the JSON results, for bench/README.md). */
export function markdownTable(outcomes: Outcome[]): string {
  const lines = [
    "| scenario | product req/s | yardstick req/s | req/s× | product CPU ms/call | yardstick CPU ms/call | CPU× | product p99 ms | p99× | errors | target |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const o of outcomes) {
    const verdict = o.verdict ? `${o.verdict.pass ? "PASS" : "FAIL"} ${o.verdict.text.split(" — ")[0]}` : "—";
    lines.push(
      `| ${o.label} (${o.a.name} / ${o.b.name}) | ${fmt(o.a.rps)} | ${fmt(o.b.rps)} | ${fmt(o.ratios.rps, 2)} | ${fmt(o.a.cpuPerReq, 2)} | ${fmt(o.b.cpuPerReq, 2)} | ${fmt(o.ratios.cpu, 2)} | ${fmt(o.a.p99)} | ${fmt(o.ratios.p99, 2)} | ${o.a.errors + o.b.errors} | ${verdict} |`,
    );
  }
  return lines.join("\n");
}
