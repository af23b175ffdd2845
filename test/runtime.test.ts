import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, test } from "vitest";

/**
 * The runtime the project runs on: Node 24 LTS, installed by `npm ci` from
 * the lock file (node_modules/.bin/node, first on every npm script's PATH),
 * and the compiled entry that refuses anything older before importing.
 */

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const run = promisify(execFile);
const SYSTEM_NODE = "/usr/bin/node";

test("the suite runs on Node 24 or later (npm test runs vitest on node_modules/.bin/node)", () => {
  const major = Number(process.versions.node.split(".")[0]);
  expect(major, `vitest runs on ${process.version} (${process.execPath})`).toBeGreaterThanOrEqual(24);
});

test("the pinned runtime in node_modules/.bin is the one in package.json and .nvmrc", async () => {
  const pkg = (await import("../package.json", { with: { type: "json" } })).default as {
    dependencies: Record<string, string>;
    engines: { node: string };
  };
  const { stdout } = await run(join(ROOT, "node_modules/.bin/node"), ["--version"]);
  expect(stdout.trim()).toBe(`v${pkg.dependencies.node}`);
  expect(pkg.engines.node).toBe(">=24");
  expect(readFileSync(join(ROOT, ".nvmrc"), "utf8").trim()).toBe(pkg.dependencies.node);
});

test("node dist/main.js on an older Node stops at once, naming the version needed, before importing anything", async () => {
  // The system's Node (20 on these machines); without one older than 24 there is nothing to try.
  const { stdout: version } = await run(SYSTEM_NODE, ["--version"]);
  expect(Number(version.trim().slice(1).split(".")[0]), `${SYSTEM_NODE} is ${version.trim()}`).toBeLessThan(24);
  await run(join(ROOT, "node_modules/.bin/node"), ["scripts/build.ts", "--if-stale", "--server-only"], { cwd: ROOT });
  expect(existsSync(join(ROOT, "dist/main.js"))).toBe(true);
  const result = await run(SYSTEM_NODE, ["dist/main.js"], { cwd: ROOT, env: { PATH: "/usr/bin:/bin" } }).then(
    () => ({ code: 0, stdout: "", stderr: "" }),
    (err: { code: number; stdout: string; stderr: string }) => err,
  );
  expect(result.code).toBe(1);
  expect(result.stderr).toContain(`Loyalty+ needs Node.js 24 or later; this is ${version.trim()} (${SYSTEM_NODE})`);
  expect(result.stderr).not.toContain("Error"); // a message, not a stack trace
  expect(result.stdout).toBe(""); // nothing of the service was imported: no "Loyalty+ starting" line
});
