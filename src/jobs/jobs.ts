import { PgBoss, type Clock, type QueueOptions } from "pg-boss";
import type { ParseArgsOptionsConfig } from "node:util";
import type { BaseLogger } from "pino";
import type { Db } from "../persistence/db.js";

/** The log a job writes to (the app's pino logger, or the CLI's). */
export type JobLog = Pick<BaseLogger, "debug" | "info" | "warn" | "error">;

/** What a job's `run` is given. */
export interface JobContext {
  db: Db;
  log: JobLog;
  /** The jobs' clock (a test's `TestClock`, else the system's). */
  now(): Date;
  /** Aborted when the job's time is up (`expireInSeconds`, or the stop's timeout): stop early, the job runs again. */
  signal: AbortSignal;
}

/**
 * One kind of background work. Every job is safe to run twice and on any
 * number of instances (house style 12): pg-boss sends a scheduled
 * occurrence once across all instances, and gives a job whose instance died
 * to another after `expireInSeconds`.
 */
export interface JobDefinition<Data extends object = Record<string, unknown>> {
  /** kebab-case: the pg-boss queue, the log field and the `npm run jobs -- <name>` argument. */
  name: string;
  /** One line for `npm run jobs` without arguments. */
  description: string;
  /** A cron expression (UTC unless `tz`): one job per occurrence across all instances. */
  schedule?: { cron: string; tz?: string; data?: Data };
  /** Retries, backoff, expiry of the queue (pg-boss's own options; its defaults otherwise). */
  queue?: Pick<QueueOptions, "retryLimit" | "retryDelay" | "retryBackoff" | "retryDelayMax" | "expireInSeconds" | "deleteAfterSeconds" | "retentionSeconds" | "heartbeatSeconds">;
  /** Jobs of this queue run at once on one instance (default 1). */
  concurrency?: number;
  /**
   * Jobs fetched per poll and run together by each of the `concurrency`
   * workers (default 1). With more than 1 a worker fetches again at once
   * while batches come back full, so a backlog drains without waiting for
   * polls; a job of the batch that throws is failed (retried) alone.
   */
  batchSize?: number;
  /**
   * Wake this queue's workers by LISTEN/NOTIFY when a job is queued; they
   * then poll only every `notify.pollingIntervalSeconds` (the backstop, and
   * what picks up jobs queued for later).
   */
  notify?: { pollingIntervalSeconds: number };
  /** How often an idle worker looks for jobs, in seconds (default 5; ≥ 0.5). */
  pollingIntervalSeconds?: number;
  /** The command-line options of `npm run jobs -- <name>`, and the job data they make. */
  cli?: { options: ParseArgsOptionsConfig; data(values: Record<string, string | boolean | undefined>): Data };
  run(data: Data, ctx: JobContext): Promise<unknown>;
}

/** A job of any data type (the lists of jobs). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyJob = JobDefinition<any>;

/** Declares a job (keeps its data type). */
export const defineJob = <Data extends object>(job: JobDefinition<Data>): JobDefinition<Data> => job;

/** The options of `Jobs.send`: pg-boss's, for a queue with a worker (webhook deliveries). */
export interface SendOptions {
  /** At most one queued or active job with this key (e.g. one delivery per event and endpoint). */
  singletonKey?: string;
  /** Not before this time (a `Date`) or this many seconds from now. */
  startAfter?: Date | number;
  /**
   * Queue the job in the caller's open `Db` transaction (pg-boss's `db`
   * option): it exists if and only if that transaction commits — a change
   * and the work it causes (its webhook deliveries) are never split.
   */
  inTransaction?: boolean;
}

/** One job of `Jobs.sendMany`. */
export interface JobItem {
  data: object;
  /** Not before this time (a `Date`) or this many seconds from now. */
  startAfter?: Date | number;
}

/** The background work of one instance: scheduled jobs and queues with workers, on pg-boss. */
export interface Jobs {
  readonly definitions: readonly AnyJob[];
  /** Installs or migrates pg-boss's schema, creates the queues and schedules, starts the workers (once). */
  start(): Promise<void>;
  /** Resolves once `start` has (rejects if it failed). */
  ready(): Promise<void>;
  /** Stops taking jobs, lets the ones in flight finish (or gives them back after `stopTimeoutMs`), closes the pool. */
  stop(): Promise<void>;
  /** Queues a job for a worker on any instance. */
  send(name: string, data: object, opts?: SendOptions): Promise<string | null>;
  /** Queues several jobs of one queue in one statement (in the caller's transaction with `inTransaction`). */
  sendMany(name: string, items: JobItem[], opts?: { inTransaction?: boolean }): Promise<void>;
  /** Runs a job here and now, outside the queue (the CLI; tests). */
  runNow(name: string, data?: object): Promise<unknown>;
}

export interface JobsOptions {
  /** PostgreSQL URL (pg-boss keeps its tables in the schema `pgboss` of this database). */
  url: string;
  db: Db;
  log: JobLog;
  jobs: readonly AnyJob[];
  /** pg-boss's clock: `new TestClock()` in tests drives schedules and polls by hand. */
  clock?: Clock;
  /** pg-boss's own pool (its polls, schedules and maintenance): small, apart from the request path. */
  poolMax?: number;
  /** How long `stop` waits for jobs in flight before giving them back (default 15 s, under main's 25 s drain). */
  stopTimeoutMs?: number;
  /**
   * How often pg-boss looks for jobs whose instance died (expired active
   * jobs, given to another worker), in seconds (default 10; pg-boss's own
   * default of 60 would leave a killed instance's webhook delivery waiting
   * a minute more).
   */
  monitorIntervalSeconds?: number;
}

const SCHEMA = "pgboss";

/**
 * Background work on pg-boss (PostgreSQL's `SKIP LOCKED` queue, in the
 * database the service already has): a job is a queue; a scheduled job is
 * a queue with a cron schedule, which pg-boss turns into one job per
 * occurrence however many instances run the schedule; a worker on every
 * instance takes jobs of its queues. Retries, backoff, singleton keys and
 * the hand-over of jobs of a dead instance are pg-boss's.
 */
export function createJobs(opts: JobsOptions): Jobs {
  const byName = new Map<string, AnyJob>();
  for (const job of opts.jobs) {
    if (!/^[a-z][a-z0-9-]*$/.test(job.name)) throw new Error(`job name "${job.name}" must be kebab-case`);
    if (byName.has(job.name)) throw new Error(`job "${job.name}" is defined twice`);
    byName.set(job.name, job);
  }
  const clock = opts.clock;
  const now = () => new Date(clock ? clock.now() : Date.now());
  let boss: PgBoss | undefined;
  let starting: Promise<void> | undefined;
  /** pg-boss's statements on the caller's open transaction (Db.raw joins it). */
  const inCallerTransaction = { executeSql: (text: string, values?: unknown[]) => opts.db.raw(text, values) };

  const definition = (name: string) => {
    const job = byName.get(name);
    if (job === undefined) throw new Error(`unknown job "${name}" (jobs: ${[...byName.keys()].join(", ")})`);
    return job as JobDefinition<object>;
  };
  const context = (signal: AbortSignal): JobContext => ({ db: opts.db, log: opts.log, now, signal });

  return {
    definitions: opts.jobs,
    start() {
      starting ??= begin();
      return starting;
    },
    ready: () => starting ?? Promise.reject(new Error("jobs were not started")),
    async stop() {
      await starting?.catch(() => undefined);
      const b = boss;
      boss = undefined;
      await b?.stop({ graceful: true, close: true, timeout: opts.stopTimeoutMs ?? 15_000 });
    },
    async send(name, data, sendOpts = {}) {
      definition(name);
      await starting?.catch(() => undefined);
      if (boss === undefined) throw new Error(`jobs are not running on this instance: cannot queue "${name}"`);
      return boss.send(name, data, {
        singletonKey: sendOpts.singletonKey,
        startAfter: sendOpts.startAfter,
        ...(sendOpts.inTransaction ? { db: inCallerTransaction } : {}),
      });
    },
    async sendMany(name, items, sendOpts = {}) {
      definition(name);
      await starting?.catch(() => undefined);
      if (boss === undefined) throw new Error(`jobs are not running on this instance: cannot queue "${name}"`);
      if (items.length === 0) return;
      await boss.insert(
        name,
        items.map((i) => ({ data: i.data, ...(i.startAfter !== undefined ? { startAfter: i.startAfter } : {}) })),
        sendOpts.inTransaction ? { db: inCallerTransaction } : {},
      );
    },
    async runNow(name, data = {}) {
      const def = definition(name);
      return def.run(data, context(new AbortController().signal));
    },
  };

  async function begin(): Promise<void> {
    const b = new PgBoss({
      connectionString: opts.url,
      schema: SCHEMA,
      max: opts.poolMax ?? 2,
      application_name: "loyalty-plus-jobs",
      ...(clock ? { clock } : {}),
      // Schedules are claimed in the database, so every instance may run them.
      schedule: true,
      supervise: true,
      migrate: true,
      // Nothing reads pg-boss's statistics; their table would only grow.
      persistQueueStats: false,
      // Workers of a queue marked `notify` wake when a job is queued.
      useListenNotify: opts.jobs.some((j) => j.notify),
      monitorIntervalSeconds: opts.monitorIntervalSeconds ?? 10,
      openTelemetry: { enabled: false },
    });
    // pg-boss reports failures of its own polls and maintenance here (a
    // database restart, say); it retries by itself. Without a listener an
    // 'error' event would end the process.
    b.on("error", (err) => opts.log.warn({ err: err.message }, "jobs: pg-boss error"));
    boss = b; // stop() closes it, even after a failed start
    await b.start();
    for (const job of byName.values()) {
      const def = job as JobDefinition<object>;
      await b.createQueue(def.name, { ...def.queue, ...(def.notify ? { notify: true } : {}) });
      if (def.schedule) await b.schedule(def.name, def.schedule.cron, def.schedule.data ?? {}, { tz: def.schedule.tz ?? "UTC" });
      else await b.unschedule(def.name);
      const batchSize = def.batchSize ?? 1;
      await b.work<object>(
        def.name,
        {
          localConcurrency: def.concurrency ?? 1,
          pollingIntervalSeconds: def.pollingIntervalSeconds ?? 5,
          ...(def.notify ? { notifyPollingIntervalSeconds: def.notify.pollingIntervalSeconds } : {}),
          ...(batchSize > 1 ? { batchSize, burstWhenBatchFull: true } : {}),
        },
        async (batch) => {
          if (batchSize === 1) {
            const j = batch[0]!;
            const started = Date.now();
            const result = await def.run(j.data ?? {}, context(j.signal));
            opts.log.info({ job: def.name, id: j.id, ms: Date.now() - started }, "job done");
            return result;
          }
          const settled = await Promise.allSettled(batch.map((j) => def.run(j.data ?? {}, context(j.signal))));
          // A job that threw goes back for its retry alone; the rest of the batch completes.
          for (const [i, r] of settled.entries()) {
            if (r.status === "rejected") {
              const j = batch[i]!;
              opts.log.warn({ job: def.name, id: j.id, err: (r.reason as Error)?.message }, "job failed");
              await b.fail(def.name, { id: j.id, retryCount: j.retryCount }, { message: String((r.reason as Error)?.message ?? r.reason) });
            }
          }
          opts.log.debug({ job: def.name, jobs: batch.length }, "job batch done");
          return undefined;
        },
      );
    }
}
}
