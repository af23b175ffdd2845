/**
 * Builds what `npm start` runs: the server, compiled by `tsc` into dist/
 * (tsconfig.build.json), and the admin portal, built by Vite into
 * src/portal/dist. Run by Node itself (Node 24 strips the types of this
 * file), so that a start with nothing to build costs a few milliseconds.
 * The compile only emits (`--noCheck`, 1–2 s instead of about 9): types are
 * checked by `npm run typecheck`.
 *
 *   node scripts/build.ts              build both (npm ci's `prepare`, `npm run build`)
 *   node scripts/build.ts --if-stale   build what is missing or older than its sources (`prestart`)
 *   node scripts/build.ts --if-stale --server-only   (`premigrate`)
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { buildPortalIfStale } from "../src/portal/build.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(ROOT, "dist");
/** Written after a successful compile; its mtime is the build's. */
const STAMP = join(DIST, ".built");
/** What the server build reads (src/portal holds the browser app too: only its server module counts). */
const SERVER_SOURCES = ["main.ts", "src", "gen", "tsconfig.json", "tsconfig.build.json", "package-lock.json"];

function newestMtime(path: string): number {
  const rel = relative(ROOT, path);
  if (rel.startsWith(join("src", "portal")) && rel !== join("src", "portal") && rel !== join("src", "portal", "serve-portal.ts")) return 0;
  let info;
  try {
    info = statSync(path);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = 0;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

function serverIsStale(): boolean {
  if (!existsSync(STAMP)) return true;
  const built = statSync(STAMP).mtimeMs;
  return SERVER_SOURCES.some((source) => newestMtime(join(ROOT, source)) > built);
}

function buildServer(): void {
  const started = performance.now();
  rmSync(DIST, { recursive: true, force: true }); // no compiled leftovers of deleted sources
  const tsc = spawnSync(join(ROOT, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json", "--noCheck"], { cwd: ROOT, stdio: "inherit" });
  if (tsc.status !== 0) {
    console.error(`server build failed (tsc -p tsconfig.build.json --noCheck exited with ${tsc.status ?? tsc.signal})`);
    process.exit(1);
  }
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
  console.log(`server compiled into dist/ in ${Math.round(performance.now() - started)} ms`);
}

const ifStale = process.argv.includes("--if-stale");
if (!ifStale || serverIsStale()) buildServer();
if (!process.argv.includes("--server-only")) {
  try {
    const started = performance.now();
    if (await buildPortalIfStale({ force: !ifStale, quiet: true })) {
      console.log(`admin portal built into src/portal/dist in ${Math.round(performance.now() - started)} ms`);
    }
  } catch (err) {
    console.error("admin portal build failed:", err instanceof Error ? err.message : err);
    process.exit(1);
  }
}
