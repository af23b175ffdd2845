import { createIdempotencyRepository } from "../persistence/idempotency-repository.js";
import { defineJob } from "./jobs.js";

/**
 * Deletes the Idempotency-Key records older than their 24 hours (a replay
 * reads only unexpired ones, so this only keeps the table small). Every
 * ten minutes, on one instance.
 */
export const purgeIdempotencyRecords = defineJob({
  name: "purge-idempotency-records",
  description: "delete the Idempotency-Key records whose 24 hours are over",
  schedule: { cron: "*/10 * * * *" },
  // A missed run is caught up by the next one: no retries piling up.
  queue: { retryLimit: 0, expireInSeconds: 600 },
  cli: { options: {}, data: () => ({}) },
  async run(_data, ctx) {
    const purged = await createIdempotencyRepository(ctx.db).purgeExpired(ctx.signal);
    if (purged > 0) ctx.log.info({ purged }, "expired idempotency records purged");
    return { purged };
  },
});
