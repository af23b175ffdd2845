import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

/**
 * Imports point downwards only (README, Layout): the entry points over
 * transport and jobs, over services, over persistence and infrastructure,
 * over domain and config. An upward arrow (a service importing transport, a
 * repository importing a service) fails here, naming the file and the import.
 */

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../src");

/** Layer of each top-level part of src/ (higher may import lower or equal-and-same-part, never higher). */
const LAYER: Record<string, number> = {
  domain: 0,
  config: 0,
  infrastructure: 1,
  // Local development only (the embedded PostgreSQL that persistence/open-database.ts starts).
  dev: 1,
  persistence: 2,
  services: 3,
  jobs: 4,
  transport: 5,
  portal: 5,
  // src/app.ts, src/main.ts, src/migrate-cli.ts: the entry points.
  "": 6,
};

/** The part of src/ a file belongs to: its first folder, "" for files at the top. */
function partOf(file: string): string {
  const rel = relative(SRC, file).split("/");
  return rel.length === 1 ? "" : rel[0]!;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?\sfrom\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** Every arrow that goes up, as "from → to (specifier)". */
export function upwardImports(files: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [file, source] of files) {
    const from = partOf(file);
    for (const m of source.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!;
      if (!spec.startsWith(".")) continue;
      const target = resolve(dirname(file), spec);
      if (relative(SRC, target).startsWith("..")) continue; // gen/, package.json: below everything
      const to = partOf(target);
      if (to !== from && (LAYER[to] ?? 99) >= (LAYER[from] ?? 99)) out.push(`${relative(SRC, file)} → ${relative(SRC, target)} (${spec})`);
    }
  }
  return out;
}

function sources(dir: string, out = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      // The portal's browser code and its build output are not the server's graph.
      if (path === join(SRC, "portal/client") || path === join(SRC, "portal/dist")) continue;
      sources(path, out);
    } else if (/\.tsx?$/.test(entry.name)) {
      out.set(path, readFileSync(path, "utf8"));
    }
  }
  return out;
}

describe("the import graph", () => {
  test("the checker sees an upward arrow (a service importing transport) and lets downward ones pass", () => {
    const files = new Map([
      [join(SRC, "services/x.ts"), 'import { kPrincipal } from "../transport/context.js";\nimport { parsePhone } from "../domain/phone.js";'],
      [join(SRC, "persistence/y.ts"), 'export { a } from "../services/a.js";\nconst m = await import("../app.js");'],
      [join(SRC, "transport/z.ts"), 'import type { ServiceDeps } from "../services/deps.js";\nimport { x } from "./x.js";\nimport { http } from "../../gen/google/api/annotations_pb.js";'],
    ]);
    expect(upwardImports(files)).toEqual([
      "services/x.ts → transport/context.js (../transport/context.js)",
      "persistence/y.ts → services/a.js (../services/a.js)",
      "persistence/y.ts → app.js (../app.js)",
    ]);
  });

  test("src/ has no upward arrow", () => {
    const files = sources(SRC);
    expect(files.size).toBeGreaterThan(50);
    expect(upwardImports(files)).toEqual([]);
  });
});
