import { fileURLToPath } from "node:url";
import { buildPortalIfStale } from "../../src/portal/build.js";
import { startTestApp, type TestApp } from "../support/test-app.js";

/**
 * The real application (createApp serves the admin portal) on a fresh
 * database and real Redis, listening on 127.0.0.1, after building the portal
 * when src/portal/dist is missing or older than its sources.
 */
export async function startAppWithPortal(opts: { env?: Record<string, string>; port?: number; quiet?: boolean; jobs?: boolean } = {}): Promise<TestApp> {
  await buildPortalIfStale({ quiet: opts.quiet ?? true });
  return startTestApp({ env: opts.env, port: opts.port, jobs: opts.jobs });
}

// CLI for trying the portal by hand: `npx tsx test/portal/start-with-portal.ts [port]`.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const port = Number(process.argv[2] ?? 8080);
  startAppWithPortal({ port, quiet: false })
    .then((t) => {
      console.log(`Loyalty+ with the admin portal: ${t.url}/portal/ (database ${t.databaseUrl}); Ctrl+C stops and drops it`);
      const stop = () => void t.close().then(() => process.exit(0));
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
