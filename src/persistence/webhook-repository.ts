import { newId } from "../infrastructure/ids.js";
import type { Db } from "./db.js";
import type { EventRow } from "./event-repository.js";

/** An endpoint row (secrets sealed). */
export interface EndpointRow {
  id: string;
  business_id: string;
  url: string;
  description: string;
  event_types: string[];
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: Date | null;
  enabled: boolean;
  disabled_reason: string;
  failing_since: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** A delivery row with its event's type. */
export interface DeliveryRow {
  id: string;
  business_id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  status: "PENDING" | "SUCCEEDED" | "FAILED";
  attempt_count: number;
  next_attempt_at: Date | null;
  created_at: Date;
  /** created_at as PostgreSQL's text, for cursors. */
  created_key: string;
}

export interface AttemptRow {
  id: string;
  delivery_id: string;
  attempted_at: Date;
  status_code: number;
  latency_ms: number;
  response_body: string;
  error: string;
  next_attempt_at: Date | null;
}

export const MAX_ENDPOINTS = 20;

/** The event an attempt sends. */
export type AttemptEvent = Pick<EventRow, "id" | "type" | "business_id" | "created_at" | "data" | "request">;

const ENDPOINT_COLUMNS = `id, business_id, url, description, event_types, secret, previous_secret, previous_secret_expires_at,
  enabled, disabled_reason, failing_since, created_at, updated_at`;
const DELIVERY_COLUMNS = `d.id, d.business_id, d.endpoint_id, d.event_id, e.type as event_type, d.status, d.attempt_count,
  d.next_attempt_at, d.created_at, d.created_at::text as created_key`;

/**
 * Webhook endpoints, deliveries and attempts (contract §11). Every
 * statement of the owner's methods filters by business; the delivery
 * worker's read a delivery by its id (it carries its business).
 */
export function createWebhookRepository(db: Db) {
  return {
    /** Adds an endpoint unless the business has 20 (counted under a per-business lock). Undefined when full. */
    async create(businessId: string, e: { url: string; description: string; eventTypes: string[]; sealedSecret: string }): Promise<EndpointRow | undefined> {
      return db.tx(async () => {
        await db.query(`select pg_advisory_xact_lock(hashtextextended('webhook_endpoint:' || ?, 0))`, [businessId]);
        const rows = await db.query<EndpointRow>(
          `insert into webhook_endpoint (id, business_id, url, description, event_types, secret)
           select ?, ?, ?, ?, ?::text[], ? where (select count(*) from webhook_endpoint where business_id = ?) < ?
           returning ${ENDPOINT_COLUMNS}`,
          [newId(), businessId, e.url, e.description, e.eventTypes, e.sealedSecret, businessId, MAX_ENDPOINTS],
        );
        return rows[0];
      });
    },

    async list(businessId: string): Promise<EndpointRow[]> {
      return db.query<EndpointRow>(`select ${ENDPOINT_COLUMNS} from webhook_endpoint where business_id = ? order by created_at, id`, [businessId]);
    },

    async get(businessId: string, id: string): Promise<EndpointRow | undefined> {
      const rows = await db.query<EndpointRow>(`select ${ENDPOINT_COLUMNS} from webhook_endpoint where business_id = ? and id = ?`, [businessId, id]);
      return rows[0];
    },

    async update(businessId: string, id: string, changes: { url?: string; description?: string; eventTypes?: string[] }): Promise<EndpointRow | undefined> {
      const rows = await db.query<EndpointRow>(
        `update webhook_endpoint set url = coalesce(?, url), description = coalesce(?, description),
           event_types = coalesce(?::text[], event_types), updated_at = now()
         where business_id = ? and id = ? returning ${ENDPOINT_COLUMNS}`,
        [changes.url ?? null, changes.description ?? null, changes.eventTypes ?? null, businessId, id],
      );
      return rows[0];
    },

    /** Enables (reason "") or disables (a reason) an endpoint. */
    async setEnabled(businessId: string, id: string, enabled: boolean, reason: string): Promise<EndpointRow | undefined> {
      const rows = await db.query<EndpointRow>(
        `update webhook_endpoint set enabled = ?, disabled_reason = ?, failing_since = case when ? then null else failing_since end, updated_at = now()
         where business_id = ? and id = ? returning ${ENDPOINT_COLUMNS}`,
        [enabled, enabled ? "" : reason, enabled, businessId, id],
      );
      return rows[0];
    },

    async delete(businessId: string, id: string): Promise<boolean> {
      const rows = await db.query(`delete from webhook_endpoint where business_id = ? and id = ? returning id`, [businessId, id]);
      return rows.length === 1;
    },

    /** A new secret; the current one keeps signing until `graceUntil`. */
    async rotate(businessId: string, id: string, sealedSecret: string, graceUntil: Date): Promise<EndpointRow | undefined> {
      const rows = await db.query<EndpointRow>(
        `update webhook_endpoint set previous_secret = secret, previous_secret_expires_at = ?, secret = ?, updated_at = now()
         where business_id = ? and id = ? returning ${ENDPOINT_COLUMNS}`,
        [graceUntil, sealedSecret, businessId, id],
      );
      return rows[0];
    },

    /** A delivery of an event to one endpoint (test sends, resends of a purged pairing never). */
    async createDelivery(businessId: string, endpointId: string, eventId: string): Promise<string> {
      const rows = await db.query<{ id: string }>(
        `insert into webhook_delivery (id, business_id, endpoint_id, event_id) values ('whd_' || replace(gen_random_uuid()::text, '-', ''), ?, ?, ?) returning id`,
        [businessId, endpointId, eventId],
      );
      return rows[0]!.id;
    },

    async deliveries(businessId: string, endpointId: string, limit: number, after?: { createdKey: string; id: string }): Promise<DeliveryRow[]> {
      return db.query<DeliveryRow>(
        `select ${DELIVERY_COLUMNS} from webhook_delivery d join event e on e.id = d.event_id
         where d.business_id = ? and d.endpoint_id = ? ${after ? "and (d.created_at, d.id) < (?::timestamptz, ?)" : ""}
         order by d.created_at desc, d.id desc limit ?`,
        [businessId, endpointId, ...(after ? [after.createdKey, after.id] : []), limit],
      );
    },

    async delivery(businessId: string, id: string): Promise<DeliveryRow | undefined> {
      const rows = await db.query<DeliveryRow>(
        `select ${DELIVERY_COLUMNS} from webhook_delivery d join event e on e.id = d.event_id where d.business_id = ? and d.id = ?`,
        [businessId, id],
      );
      return rows[0];
    },

    /** The attempts of some deliveries, newest first. */
    async attempts(businessId: string, deliveryIds: string[]): Promise<AttemptRow[]> {
      if (deliveryIds.length === 0) return [];
      return db.query<AttemptRow>(
        `select id, delivery_id, attempted_at, status_code, latency_ms, response_body, error, next_attempt_at
         from webhook_attempt where business_id = ? and delivery_id = any(?::text[]) order by attempted_at desc, id desc`,
        [businessId, deliveryIds],
      );
    },

    /** Pending deliveries that waited while the endpoint was disabled (no attempt due). */
    async waiting(businessId: string, endpointId: string): Promise<{ id: string; attempt_count: number }[]> {
      return db.query(
        `select id, attempt_count from webhook_delivery where business_id = ? and endpoint_id = ? and status = 'PENDING' and next_attempt_at is null`,
        [businessId, endpointId],
      );
    },

    /**
     * Pending deliveries whose attempt is overdue by more than `graceSeconds`
     * and not leased: their job was lost (queued by an instance without
     * jobs, or pg-boss's row deleted). The sweep queues them again.
     */
    async overdue(graceSeconds: number, limit: number): Promise<{ id: string; attempt_count: number }[]> {
      return db.query(
        `select id, attempt_count from webhook_delivery
         where status = 'PENDING' and next_attempt_at < now() - make_interval(secs => ?) and (lease_until is null or lease_until < now())
         order by next_attempt_at limit ?`,
        [graceSeconds, limit],
      );
    },

    /** A resend: the delivery is pending again, due now. */
    async reopen(businessId: string, id: string): Promise<void> {
      await db.query(`update webhook_delivery set status = 'PENDING', next_attempt_at = now(), completed_at = null, lease_until = null where business_id = ? and id = ?`, [businessId, id]);
    },

    // ---- the delivery worker ----

    /**
     * What an attempt needs: the delivery, its endpoint and its event
     * (read after the attempt leased the delivery). Undefined when gone.
     */
    async forAttempt(deliveryId: string): Promise<{ delivery: DeliveryRow; endpoint: EndpointRow; event: AttemptEvent } | undefined> {
      const rows = await db.query<{ d: DeliveryRow; w: EndpointRow; e: AttemptEvent }>(
        `select row_to_json(d) as d, row_to_json(w) as w, json_build_object('id', e.id, 'type', e.type, 'created_at', e.created_at,
                'business_id', e.business_id, 'data', e.data, 'request', e.request) as e
         from webhook_delivery d join webhook_endpoint w on w.id = d.endpoint_id join event e on e.id = d.event_id
         where d.id = ?`,
        [deliveryId],
      );
      const r = rows[0];
      if (!r) return undefined;
      return { delivery: { ...r.d, event_type: r.e.type }, endpoint: r.w, event: r.e };
    },

    /** Records an attempt and the delivery's state after it (its lease released). */
    async recordAttempt(
      d: DeliveryRow,
      a: { status: number; latencyMs: number; body: string; error: string; attemptedAt: Date; nextAttemptAt: Date | null; outcome: "SUCCEEDED" | "FAILED" | "PENDING" },
    ): Promise<void> {
      await db.query(
        `with a as (
           insert into webhook_attempt (id, delivery_id, business_id, attempted_at, status_code, latency_ms, response_body, error, next_attempt_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?)
         )
         update webhook_delivery set status = ?, attempt_count = attempt_count + 1, next_attempt_at = ?, lease_until = null,
           completed_at = case when ? = 'PENDING' then null else ?::timestamptz end
         where id = ?`,
        [newId(), d.id, d.business_id, a.attemptedAt, a.status, a.latencyMs, a.body.replace(/\u0000/g, ""), a.error.slice(0, 500), a.nextAttemptAt,
          a.outcome, a.nextAttemptAt, a.outcome, a.attemptedAt, d.id],
      );
    },

    /** Disables an endpoint from the worker (410, or failing for 3 days); its pending deliveries fail. */
    async disableFromWorker(endpointId: string, reason: "gone" | "failing"): Promise<void> {
      await db.query(`update webhook_endpoint set enabled = false, disabled_reason = ?, updated_at = now() where id = ? and enabled`, [reason, endpointId]);
    },

    /** Figures for /metrics: pending deliveries and the age of the oldest, in seconds. */
    async backlog(): Promise<{ pending: number; oldestSeconds: number }> {
      const rows = await db.query<{ pending: string; oldest: number | null }>(
        `select count(*) as pending, extract(epoch from now() - min(created_at))::float8 as oldest from webhook_delivery where status = 'PENDING'`,
      );
      return { pending: Number(rows[0]?.pending ?? 0), oldestSeconds: rows[0]?.oldest ?? 0 };
    },
  };
}

export type WebhookRepository = ReturnType<typeof createWebhookRepository>;
