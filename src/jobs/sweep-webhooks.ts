import { defineJob } from "./jobs.js";
import type { WebhookRepository } from "../persistence/webhook-repository.js";
import type { DeliveryQueue } from "../services/events.js";

/**
 * Queues again the pending webhook deliveries whose attempt is overdue by
 * two minutes with no attempt under way: a safety net for a job that was
 * never queued (written by an instance running without jobs) — every
 * delivery row is an attempt owed. Duplicates are harmless (an attempt
 * leases its delivery). Every minute, on one instance.
 */
export function sweepWebhooksJob(webhooks: WebhookRepository, queue: DeliveryQueue) {
  return defineJob({
    name: "sweep-webhooks",
    description: "queue again webhook deliveries whose attempt is overdue",
    schedule: { cron: "* * * * *" },
    queue: { retryLimit: 0, expireInSeconds: 60 },
    async run() {
      const overdue = await webhooks.overdue(120, 1000);
      for (const d of overdue) await queue.enqueueAttempt(d.id, d.attempt_count, new Date());
      return { requeued: overdue.length };
    },
  });
}
