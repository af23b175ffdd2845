import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { brotliCompress, constants as zlib, gzip } from "node:zlib";

const PORTAL_DIR = fileURLToPath(new URL(".", import.meta.url));
const GEN_DIR = fileURLToPath(new URL("../../gen/", import.meta.url));
const DIST_DIR = fileURLToPath(new URL("./dist/", import.meta.url));
const DIST_INDEX = join(DIST_DIR, "index.html");
const COMPRESSIBLE = new Set([".js", ".css", ".html", ".svg", ".json"]);
/** Files of src/portal that are not part of the browser bundle. */
const SERVER_ONLY = new Set(["serve-portal.ts", "build.ts"]);

/**
 * Builds the admin portal into src/portal/dist with Vite's JS API and the
 * portal's own vite.config.ts, then writes Brotli and gzip copies of the
 * text files, which the server sends to browsers that accept them.
 */
export async function buildPortal(opts: { quiet?: boolean } = {}): Promise<void> {
  const { build } = await import("vite");
  const { default: config } = await import("./vite.config.ts");
  await build({ ...config, configFile: false, logLevel: opts.quiet ? "warn" : "info" });
  await precompress(DIST_DIR);
}

async function precompress(dir: string): Promise<void> {
  const brotli = promisify(brotliCompress);
  const gz = promisify(gzip);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      await precompress(path);
      continue;
    }
    if (!COMPRESSIBLE.has(extname(e.name))) continue;
    const data = await readFile(path);
    if (data.length < 1024) continue;
    await writeFile(`${path}.br`, await brotli(data, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: data.length } }));
    await writeFile(`${path}.gz`, await gz(data, { level: 9 }));
  }
}

async function newestMtime(dir: string, skip: (name: string, depth: number) => boolean, depth = 0): Promise<number> {
  let newest = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (skip(e.name, depth)) continue;
    const path = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? await newestMtime(path, skip, depth + 1) : (await stat(path)).mtimeMs);
  }
  return newest;
}

/**
 * True when src/portal/dist is missing or older than a source it is built
 * from (the portal's files, the generated service descriptors, the lock file).
 */
export async function portalIsStale(): Promise<boolean> {
  let built: number;
  try {
    built = (await stat(DIST_INDEX)).mtimeMs;
  } catch {
    return true;
  }
  const sources = Math.max(
    await newestMtime(PORTAL_DIR, (name, depth) => depth === 0 && (name === "dist" || SERVER_ONLY.has(name))),
    await newestMtime(GEN_DIR, () => false),
    await stat(fileURLToPath(new URL("../../package-lock.json", import.meta.url))).then((s) => s.mtimeMs, () => 0),
  );
  return sources > built;
}

/** Builds when stale (or always, with --force); returns whether it built. */
export async function buildPortalIfStale(opts: { force?: boolean; quiet?: boolean } = {}): Promise<boolean> {
  if (!opts.force && !(await portalIsStale())) return false;
  await buildPortal({ quiet: opts.quiet });
  return true;
}

// CLI: `node src/portal/build.ts` builds; `--if-stale` skips an up-to-date build
// (`npm run build` builds the server and the portal: scripts/build.ts).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const ifStale = process.argv.includes("--if-stale");
  buildPortalIfStale({ force: !ifStale })
    .then((built) => {
      if (!built) console.log("admin portal is up to date (src/portal/dist)");
    })
    .catch((err: unknown) => {
      console.error("admin portal build failed:", err instanceof Error ? err.message : err);
      process.exit(1);
    });
}
