import type { FastifyInstance } from "fastify";
import type { Clock } from "pg-boss";
import type { Db } from "../persistence/db.js";
import { allJobs } from "./all-jobs.js";
import { createJobs, type AnyJob, type Jobs } from "./jobs.js";

declare module "fastify" {
  interface FastifyInstance {
    /** The instance's background work (undefined with `JOBS=false`). */
    jobs: Jobs | undefined;
  }
}

/** How an app runs its jobs (tests: a TestClock, extra jobs of their own). */
export interface AppJobsOptions {
  clock?: Clock;
  /** Jobs beside `allJobs` (a test's slow job, say). */
  extra?: readonly AnyJob[];
}

/**
 * Starts the jobs of `allJobs` on this instance (pg-boss's schema is
 * installed or migrated first) and stops them when the app closes: before
 * the HTTP drain, so a job in flight finishes while the database is still
 * open; one that cannot finish within the stop timeout is given back to the
 * queue and runs again.
 */
export async function registerJobs(
  app: FastifyInstance,
  opts: {
    enabled: boolean;
    db: Db;
    jobs?: AppJobsOptions;
    /** Jobs built from the app's own parts (webhook deliveries need its config and signing keys); not in the CLI. */
    appJobs?: readonly AnyJob[];
  },
): Promise<void> {
  app.decorate("jobs", undefined);
  if (!opts.enabled) return;
  const jobs = createJobs({
    url: opts.db.orm.config.get("clientUrl")!,
    db: opts.db,
    log: app.log,
    jobs: [...allJobs, ...(opts.appJobs ?? []), ...(opts.jobs?.extra ?? [])],
    clock: opts.jobs?.clock,
  });
  const started = Date.now();
  try {
    await jobs.start();
  } catch (err) {
    await jobs.stop().catch(() => undefined);
    throw err;
  }
  app.log.info({ ms: Date.now() - started, jobs: jobs.definitions.map((j) => j.name) }, "jobs started");
  app.jobs = jobs;
  app.addHook("preClose", async () => {
    await jobs.stop();
  });
}
