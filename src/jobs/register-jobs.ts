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
 * installed or migrated first) beside the listen, not before it: the POS
 * is served while pg-boss starts (≈ 0.2 s warm, ≈ 1 s on a fresh
 * database), and `app.jobs.send` waits for it. A start that fails is
 * logged as an error and the instance serves on without background work.
 * The jobs stop when the app closes: before the HTTP drain, so a job in
 * flight finishes while the database is still open; one that cannot finish
 * within the stop timeout is given back to the queue and runs again.
 */
export function registerJobs(
  app: FastifyInstance,
  opts: {
    enabled: boolean;
    db: Db;
    jobs?: AppJobsOptions;
    /** Jobs built from the app's own parts (webhook deliveries need its config and signing keys); not in the CLI. */
    appJobs?: readonly AnyJob[];
  },
): void {
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
  jobs.start().then(
    () => app.log.info({ ms: Date.now() - started, jobs: jobs.definitions.map((j) => j.name) }, "jobs started"),
    (err: Error) => app.log.error({ err: err.message }, "jobs could not start: no background work on this instance"),
  );
  app.jobs = jobs;
  app.addHook("preClose", async () => {
    await jobs.stop();
  });
}
