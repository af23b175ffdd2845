import { spawn } from "node:child_process";
import net from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root, and tsx in it (the TypeScript sources run as they are). */
export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const TSX = join(ROOT, "node_modules/.bin/tsx");
/** The tests' JWT secret (≥ 32 bytes, as production requires). */
export const TEST_JWT_SECRET = "test-secret-that-is-at-least-32-bytes-long!!";

/** A port free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((done) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => done(port));
    });
  });
}

/** A minimal environment for a spawned entry point: PATH, HOME, the tests' JWT secret, and `env`. */
export const processEnv = (env: Record<string, string>): Record<string, string> => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: process.env.HOME ?? "/root",
  JWT_SECRET: TEST_JWT_SECRET,
  ...env,
});

/** Runs `tsx <args>` in the root to its end (a CLI: `main.ts jobs …`); its exit code and output. */
export function runTsx(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(TSX, args, { cwd: ROOT, env: processEnv({ LOG_LEVEL: "warn", ...env }), stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("exit", (code) => done({ code, out, err }));
  });
}
