import type { AnyJob } from "./jobs.js";
import { expirePoints } from "./expire-points.js";
import { purgeEvents } from "./purge-events.js";
import { purgeIdempotencyRecords } from "./purge-idempotency-records.js";

/**
 * Every job of Loyalty+: what `main` schedules and works on, and what
 * `npm run jobs -- <name>` can run. A new job is a file beside this one
 * exporting a `defineJob({...})`, and one line here.
 */
export const allJobs: readonly AnyJob[] = [purgeIdempotencyRecords, expirePoints, purgeEvents];
