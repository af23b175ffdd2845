import { toJson } from "@bufbuild/protobuf";
import { Webhook } from "standardwebhooks";
import { EventSchema } from "../../gen/loyalty/v1/events_pb.js";
import type { WebhookConfig } from "../config/config.js";
import { TEST_EVENT_TYPE } from "../domain/events.js";
import type { SecretBox } from "../infrastructure/webhook-secrets.js";
import { postWebhook, resolveTarget, systemResolver, type AttemptResult, type Resolver } from "../infrastructure/webhook-sender.js";
import type { Db } from "../persistence/db.js";
import type { EndpointRow, WebhookRepository } from "../persistence/webhook-repository.js";
import { eventToProto } from "./events.js";
import { toDate } from "./mappers.js";

/**
 * Webhook deliveries (contract §11, Standard Webhooks): one attempt per job
 * of the `deliver-webhook` queue, on any instance. An attempt leases its
 * delivery (a conditional update, so two jobs of one delivery never send at
 * once), sends without holding a database connection, then records the
 * attempt and queues the next one in one transaction. A job whose instance
 * died mid-attempt is given to another worker by pg-boss; the lease has
 * lapsed by then, so the attempt is made again with the same webhook-id.
 */

/** Seconds after attempt n (1-based) fails: about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h; then it gives up. */
export const RETRY_SCHEDULE_SECONDS = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400] as const;

/** An endpoint whose attempts have all failed for this long is disabled. */
export const FAILING_DISABLE_MS = 3 * 24 * 3600 * 1000;

/** How long an attempt holds its delivery (past the 15 s deadline): after a crash it is free again. */
const LEASE_SECONDS = 30;

/**
 * When the attempt after attempt `n` (1-based) is due, in seconds, or
 * undefined when there is none. Jitter ±10 % spreads a receiver's recovery
 * traffic; a Retry-After longer than the schedule's wait is honoured (up to
 * 24 h).
 */
export function retryDelaySeconds(n: number, retryAfter: number | undefined, jitter: () => number = Math.random): number | undefined {
  const base = RETRY_SCHEDULE_SECONDS[n - 1];
  if (base === undefined) return undefined;
  const jittered = base * (0.9 + 0.2 * jitter());
  return Math.min(Math.max(jittered, retryAfter ?? 0), 86_400);
}

/** The webhook-signature header: one `v1,<base64>` per active secret, space-separated. */
export function signatureHeader(secrets: string[], msgId: string, at: Date, body: string): string {
  return secrets.map((s) => new Webhook(s).sign(msgId, at, body)).join(" ");
}

/** What the attempt-making side is built from. */
export interface DeliveryDeps {
  db: Db;
  webhooks: WebhookRepository;
  secrets: SecretBox;
  config: WebhookConfig;
  /** Queues the next attempt (in the caller's transaction). */
  queueNext(deliveryId: string, seq: number, at: Date): Promise<void>;
  resolver?: Resolver;
  jitter?: () => number;
  log: { warn(obj: object, msg: string): void };
  /** Counts an attempt's outcome (metrics). */
  onOutcome?(outcome: "succeeded" | "retry" | "failed" | "gone" | "disabled"): void;
}

/** The secrets that sign now: the current one and, within its 24 h, the previous. */
function activeSecrets(d: DeliveryDeps, endpoint: EndpointRow, now: Date): string[] {
  const out = [d.secrets.open(endpoint.secret)];
  if (endpoint.previous_secret && endpoint.previous_secret_expires_at && toDate(endpoint.previous_secret_expires_at) > now) {
    out.push(d.secrets.open(endpoint.previous_secret));
  }
  return out;
}

export function createWebhookDelivery(d: DeliveryDeps) {
  const resolver = d.resolver ?? systemResolver;

  return {
    /**
     * Makes attempt `seq + 1` of a delivery (`seq`: the attempts made when
     * the job was queued). A job of another round (a resend overtook it),
     * of a finished delivery, or of one leased by a live attempt does
     * nothing. Returns what happened, for logs and tests.
     */
    async attempt(deliveryId: string, seq: number, now: Date): Promise<string> {
      const leased = await d.db.query<{ id: string }>(
        `update webhook_delivery set lease_until = ?::timestamptz + make_interval(secs => ?)
         where id = ? and status = 'PENDING' and attempt_count = ? and (lease_until is null or lease_until < ?)
         returning id`,
        [now, LEASE_SECONDS, deliveryId, seq, now],
      );
      if (leased.length === 0) {
        const [row] = await d.db.query<{ status: string; attempt_count: number }>(`select status, attempt_count from webhook_delivery where id = ?`, [deliveryId]);
        // This very attempt is leased by another worker: one that is still
        // sending, or one whose instance died. Thrown, so the job engine
        // runs this job again later (its retry), by when the lease has
        // either been released with the attempt recorded or lapsed.
        if (row && row.status === "PENDING" && row.attempt_count === seq) throw new Error("the attempt is leased by another worker; retried later");
        return "skipped";
      }
      const found = await d.webhooks.forAttempt(deliveryId);
      if (!found) return "skipped";
      const { delivery, endpoint, event } = found;
      if (!endpoint.enabled && event.type !== TEST_EVENT_TYPE) {
        // Waits for the endpoint to be enabled again (EnableWebhookEndpoint queues it).
        await d.db.query(`update webhook_delivery set lease_until = null, next_attempt_at = null where id = ?`, [deliveryId]);
        return "endpoint disabled";
      }
      const body = JSON.stringify(toJson(EventSchema, eventToProto(event), { alwaysEmitImplicit: true }));
      const url = new URL(endpoint.url);
      let result: AttemptResult;
      const target = await resolveTarget(url, d.config, resolver);
      if ("refused" in target) {
        result = { status: 0, latencyMs: 0, body: "", error: `refused: ${target.refused}` };
      } else {
        const headers = {
          "webhook-id": event.id,
          "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
          "webhook-signature": signatureHeader(activeSecrets(d, endpoint, now), event.id, now, body),
        };
        result = await postWebhook(url, target, headers, body, d.config.timeoutMs);
      }
      const attemptNo = delivery.attempt_count + 1;
      const ok = result.status >= 200 && result.status < 300;
      const gone = result.status === 410;
      return d.db.tx(async () => {
        const failingSince = ok || gone ? null : await markFailing(endpoint.id, now);
        if (ok) await d.db.query(`update webhook_endpoint set failing_since = null where id = ?`, [endpoint.id]);
        const failingTooLong = failingSince !== null && now.getTime() - failingSince.getTime() >= FAILING_DISABLE_MS;
        const delay = ok || gone || failingTooLong ? undefined : retryDelaySeconds(attemptNo, result.retryAfterSeconds, d.jitter);
        const next = delay === undefined ? null : new Date(now.getTime() + delay * 1000);
        const outcome = ok ? "SUCCEEDED" : next ? "PENDING" : "FAILED";
        await d.webhooks.recordAttempt(delivery, { ...result, attemptedAt: now, nextAttemptAt: next, outcome });
        if (gone) await d.webhooks.disableFromWorker(endpoint.id, "gone");
        if (failingTooLong) await d.webhooks.disableFromWorker(endpoint.id, "failing");
        if (next) await d.queueNext(delivery.id, attemptNo, next);
        const label = ok ? "succeeded" : gone ? "gone" : failingTooLong ? "disabled" : next ? "retry" : "failed";
        d.onOutcome?.(label);
        return label;
      });
    },
  };

  /** Starts the endpoint's failing streak (if not started) and returns since when it fails. */
  async function markFailing(endpointId: string, now: Date): Promise<Date> {
    const rows = await d.db.query<{ failing_since: Date }>(
      `update webhook_endpoint set failing_since = coalesce(failing_since, ?) where id = ? returning failing_since`,
      [now, endpointId],
    );
    return rows[0] ? toDate(rows[0].failing_since) : now;
  }
}

export type WebhookDelivery = ReturnType<typeof createWebhookDelivery>;
