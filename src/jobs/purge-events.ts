import { EVENT_RETENTION_DAYS } from "../domain/events.js";
import { createEventRepository } from "../persistence/event-repository.js";
import { defineJob } from "./jobs.js";

/**
 * Deletes events older than 30 days (contract §11), with their webhook
 * deliveries and attempts. Hourly, on one instance; the list never shows
 * older events even before the purge reaches them.
 */
export const purgeEvents = defineJob({
  name: "purge-events",
  description: "delete events (and their webhook deliveries) older than 30 days",
  schedule: { cron: "17 * * * *" },
  queue: { retryLimit: 0, expireInSeconds: 900 },
  cli: { options: {}, data: () => ({}) },
  async run(_data, ctx) {
    const purged = await createEventRepository(ctx.db).purge(EVENT_RETENTION_DAYS);
    if (purged > 0) ctx.log.info({ purged }, "events older than 30 days purged");
    return { purged };
  },
});
