import { newId } from "../infrastructure/ids.js";
import type { EventInput, EventRequest } from "../domain/events.js";
import type { Db } from "./db.js";

/** An event row as the list reads it. */
export interface EventRow {
  id: string;
  type: string;
  business_id: string;
  customer_id: string | null;
  created_at: Date;
  /** created_at as PostgreSQL's text (microseconds), for cursors. */
  created_key: string;
  data: { object: Record<string, unknown>; previous?: Record<string, unknown> };
  request: EventRequest;
}

/** A new event id: "evt_" and an opaque id. */
export const newEventId = (): string => `evt_${newId()}`;

/**
 * The endpoints subscribed to the events of `ev` (a CTE of the new events'
 * `id, type`), each given a delivery row: the SQL a change's statement
 * appends when its business has an enabled endpoint (the cached program
 * says so), and nothing otherwise. `?` is the business id.
 */
export const FANOUT_CTE = `dl as (
     insert into webhook_delivery (id, business_id, endpoint_id, event_id)
     select 'whd_' || replace(gen_random_uuid()::text, '-', ''), w.business_id, w.id, ev.id
     from ev join webhook_endpoint w on w.business_id = ? and w.enabled and (w.event_types && array[ev.type::text, '*'])
     returning id
   )`;

/** A JSON timestamp as the API writes it (RFC 3339, UTC, milliseconds). */
export const sqlJsonTime = (expr: string) => `to_char(${expr} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** Only what is set, so an event's request has no empty keys. */
export function requestJson(request: EventRequest): string {
  const out: EventRequest = {};
  if (request.idempotencyKey) out.idempotencyKey = request.idempotencyKey;
  if (request.apiKeyId) out.apiKeyId = request.apiKeyId;
  if (request.ownerId) out.ownerId = request.ownerId;
  return JSON.stringify(out);
}

/** What a list of events asks for (validated). */
export interface EventQuery {
  type?: string;
  includeTests: boolean;
  customerId?: string;
  since?: Date;
  until?: Date;
  after?: { createdKey: string; id: string };
  limit: number;
}

/**
 * Events (contract §11): written in the transaction of their change, listed
 * newest first by keyset pages, purged after 30 days.
 */
export function createEventRepository(db: Db) {
  return {
    /**
     * Writes events in the current transaction (or as one statement) and,
     * with `fanout`, a delivery row for each subscribed enabled endpoint.
     * Returns the delivery ids (to enqueue in the same transaction).
     */
    async record(businessId: string, events: EventInput[], request: EventRequest, fanout: boolean): Promise<string[]> {
      if (events.length === 0) return [];
      const params: unknown[] = [];
      const values = events.map((e) => {
        params.push(newEventId(), businessId, e.type, e.customerId, JSON.stringify(e.previous ? { object: e.object, previous: e.previous } : { object: e.object }), requestJson(request));
        return "(?, ?, ?, ?, ?::jsonb, ?::jsonb)";
      });
      const insert = `insert into event (id, business_id, type, customer_id, data, request) values ${values.join(", ")} returning id, type`;
      if (!fanout) {
        await db.query(insert, params);
        return [];
      }
      const rows = await db.query<{ id: string }>(`with ev as (${insert}), ${FANOUT_CTE} select id from dl`, [...params, businessId]);
      return rows.map((r) => r.id);
    },

    /** A webhook endpoint's test event (type webhook.test). Returns its id. */
    async recordTest(businessId: string, object: Record<string, unknown>, request: EventRequest): Promise<string[]> {
      const id = newEventId();
      await db.query(`insert into event (id, business_id, type, customer_id, data, request) values (?, ?, 'webhook.test', null, ?::jsonb, ?::jsonb)`, [
        id, businessId, JSON.stringify({ object }), requestJson(request),
      ]);
      return [id];
    },

    async list(businessId: string, q: EventQuery): Promise<EventRow[]> {
      const where = ["business_id = ?"];
      const params: unknown[] = [businessId];
      if (q.customerId !== undefined) {
        where.push("customer_id = ?");
        params.push(q.customerId);
      }
      if (q.type !== undefined) {
        where.push("type = ?");
        params.push(q.type);
      } else if (!q.includeTests) {
        where.push("type <> 'webhook.test'");
      }
      // Thirty days, whatever the purge has reached yet.
      where.push("created_at >= now() - interval '30 days'");
      if (q.since !== undefined) {
        where.push("created_at >= ?");
        params.push(q.since);
      }
      if (q.until !== undefined) {
        where.push("created_at < ?");
        params.push(q.until);
      }
      if (q.after !== undefined) {
        where.push("(created_at, id) < (?::timestamptz, ?)");
        params.push(q.after.createdKey, q.after.id);
      }
      params.push(q.limit);
      return db.query<EventRow>(
        `select id, type, business_id, customer_id, created_at, created_at::text as created_key, data, request
         from event where ${where.join(" and ")} order by created_at desc, id desc limit ?`,
        params,
      );
    },

    /** Deletes events older than the retention (deliveries and attempts go by cascade). Returns how many. */
    async purge(days: number): Promise<number> {
      const rows = await db.query<{ n: string }>(
        `with d as (delete from event where created_at < now() - make_interval(days => ?::int) returning 1) select count(*) as n from d`,
        [days],
      );
      return Number(rows[0]?.n ?? 0);
    },
  };
}

export type EventRepository = ReturnType<typeof createEventRepository>;
