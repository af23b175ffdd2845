import { defineJob } from "./jobs.js";
import type { WebhookDelivery } from "../services/webhook-delivery.js";

/** The queue of webhook delivery attempts (one job per attempt). */
export const DELIVER_WEBHOOK = "deliver-webhook";

/**
 * One attempt of a webhook delivery (contract §11), on every instance's
 * worker. Safe to run twice: the attempt leases its delivery and checks it
 * is the attempt the job was queued for. A job whose instance died is
 * handed to another worker by pg-boss (heartbeat lost, or expired), and
 * retried; the delivery's own schedule is its queue of further jobs.
 */
export function deliverWebhookJob(delivery: WebhookDelivery) {
  return defineJob<{ deliveryId: string; seq: number }>({
    name: DELIVER_WEBHOOK,
    description: "make one attempt of a webhook delivery",
    // pg-boss's retries cover a job that failed outright (the database was
    // down) or whose instance died; an attempt's own failures are recorded
    // and its next attempt queued by the schedule, not thrown.
    queue: { retryLimit: 10, retryDelay: 5, retryBackoff: true, retryDelayMax: 300, expireInSeconds: 60, heartbeatSeconds: 10 },
    // Attempts wait on receivers (up to 15 s), not on CPU: two workers per
    // instance, each taking batches of 10 (a backlog is fetched again at
    // once while batches are full), woken by NOTIFY when an attempt is
    // queued; a retry queued for later is picked up by the 5 s poll after
    // its time (10 s while NOTIFY is up).
    concurrency: 2,
    batchSize: 10,
    notify: { pollingIntervalSeconds: 10 },
    pollingIntervalSeconds: 5,
    async run(data, ctx) {
      return delivery.attempt(data.deliveryId, data.seq, ctx.now());
    },
  });
}
