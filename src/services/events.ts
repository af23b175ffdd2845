import { create, toJson, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { CustomerSchema } from "../../gen/loyalty/v1/types_pb.js";
import { EventSchema, EventService, ListEventsResponseSchema, type Event } from "../../gen/loyalty/v1/events_pb.js";
import { EVENT_RETENTION_DAYS, isEventType, TEST_EVENT_TYPE, type EventInput, type EventRequest } from "../domain/events.js";
import { invalidArgument, notFound } from "../domain/errors.js";
import * as v from "../domain/validation.js";
import type { CustomerRow } from "../persistence/customer-repository.js";
import type { EventRow, EventQuery } from "../persistence/event-repository.js";
import { kPrincipal, ownerPrincipal } from "./principal.js";
import type { ServiceDeps } from "./deps.js";
import { customerToProto, toDate } from "./mappers.js";

/**
 * Events (contract §11): what a change records beside itself, in its own
 * transaction, and the owner's list of them.
 */

/** Queues delivery attempts in the current transaction (on the job engine: jobs/deliver-webhook.ts). */
export interface DeliveryQueue {
  /** First attempts of new deliveries, due now. */
  enqueue(deliveryIds: string[]): Promise<void>;
  /** Attempt `seq + 1` of a delivery, due at `at`. */
  enqueueAttempt(deliveryId: string, seq: number, at: Date): Promise<void>;
}

/** Who made the change: the call's credential and its Idempotency-Key. */
export function eventRequest(ctx: HandlerContext): EventRequest {
  const p = ctx.values.get(kPrincipal);
  const key = ctx.requestHeader.get("idempotency-key");
  return {
    ...(key ? { idempotencyKey: key } : {}),
    ...(p.kind === "api_key" ? { apiKeyId: p.apiKeyId } : {}),
    ...(p.kind === "owner" ? { ownerId: p.ownerId } : {}),
  };
}

/**
 * Writes events in the caller's transaction (which must be open when the
 * change is more than this statement) and, when the business has an enabled
 * endpoint, their deliveries and jobs, in the same transaction.
 */
export async function emit(deps: ServiceDeps, businessId: string, events: EventInput[], request: EventRequest): Promise<void> {
  const fanout = (await deps.reads.program(businessId)).webhooks;
  if (!fanout) {
    await deps.events.record(businessId, events, request, false);
    return;
  }
  await deps.db.tx(async () => {
    const deliveries = await deps.events.record(businessId, events, request, true);
    if (deliveries.length > 0) await deps.deliveryQueue.enqueue(deliveries);
  });
}

/**
 * Runs a change that writes its own events in its statement (check-in,
 * redeem): with fanout, in a transaction that also enqueues the deliveries
 * its statement wrote; without, as it is (one statement, no job).
 */
export async function withDeliveries<T extends { deliveries: string[] } | undefined>(deps: ServiceDeps, fanout: boolean, change: () => Promise<T>): Promise<T> {
  if (!fanout) return change();
  return deps.db.tx(async () => {
    const out = await change();
    if (out && out.deliveries.length > 0) await deps.deliveryQueue.enqueue(out.deliveries);
    return out;
  });
}

/** A customer as the API shows it, for an event's object. */
export function customerObject(row: CustomerRow, rewardThreshold: number): Record<string, unknown> {
  return toJson(CustomerSchema, customerToProto(row, rewardThreshold), { alwaysEmitImplicit: true }) as Record<string, unknown>;
}

/** reward.available: the balance reached the default reward's cost (contract §11). */
export function rewardAvailable(program: { rewardThreshold: number; rewardTitle: string }, customerId: string, totalPoints: number): EventInput {
  return {
    type: "reward.available",
    customerId,
    object: { customerId, totalPoints, rewardThreshold: program.rewardThreshold, rewardTitle: program.rewardTitle },
  };
}

/** An event row as the API shows it. */
export function eventToProto(row: Pick<EventRow, "id" | "type" | "business_id" | "created_at" | "data" | "request">): Event {
  const data = typeof row.data === "string" ? JSON.parse(row.data) : row.data;
  const request = (typeof row.request === "string" ? JSON.parse(row.request) : row.request) as EventRequest;
  return create(EventSchema, {
    id: row.id,
    type: row.type,
    createdAt: timestampFromDate(toDate(row.created_at)),
    businessId: row.business_id,
    data: { object: data.object as JsonObject, ...(data.previous ? { previous: data.previous as JsonObject } : {}) },
    request: {
      ...(request.idempotencyKey ? { idempotencyKey: request.idempotencyKey } : {}),
      ...(request.apiKeyId ? { apiKeyId: request.apiKeyId } : {}),
      ...(request.ownerId ? { ownerId: request.ownerId } : {}),
    },
  });
}

/** A keyset cursor: base64url of the last row's created_at (PostgreSQL text) and id. */
export function encodeCursor(createdKey: string, id: string): string {
  return Buffer.from(JSON.stringify([createdKey, id])).toString("base64url");
}

export function decodeCursor(cursor: string, field = "cursor"): { createdKey: string; id: string } {
  try {
    const [createdKey, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown[];
    if (typeof createdKey === "string" && typeof id === "string" && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d)?$/.test(createdKey)) return { createdKey, id };
  } catch {
    // answered below
  }
  throw invalidArgument(`${field} is not a cursor of this list`);
}

/** An RFC 3339 time of a query, or undefined when empty. */
function timeField(value: string, field: string): Date | undefined {
  if (value === "") return undefined;
  const at = Date.parse(value);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/i.test(value) || Number.isNaN(at)) {
    throw invalidArgument(`${field} must be an RFC 3339 time, like 2026-12-01T00:00:00Z`);
  }
  return new Date(at);
}

/** EventService: the owner's list of events (JWT). */
export function createEventService(deps: ServiceDeps): ServiceImpl<typeof EventService> {
  return {
    async listEvents(req, ctx) {
      const p = ownerPrincipal(ctx);
      const limit = req.limit === undefined ? 20 : v.wholeNumber(req.limit, "limit", 1, 100);
      const type = req.type.trim();
      if (type !== "" && !isEventType(type)) throw invalidArgument(`type is not an event type: ${type.slice(0, 60)}`);
      const q: EventQuery = {
        limit: limit + 1,
        includeTests: type === TEST_EVENT_TYPE,
        ...(type !== "" ? { type } : {}),
        ...(req.customerId.trim() !== "" ? { customerId: v.id(req.customerId.trim(), "customerId") } : {}),
      };
      const since = timeField(req.since.trim(), "since");
      const until = timeField(req.until.trim(), "until");
      if (since) q.since = since;
      if (until) q.until = until;
      if (since && until && since > until) throw invalidArgument("since must not be after until");
      if (req.cursor !== "") q.after = decodeCursor(req.cursor);
      const rows = await deps.events.list(p.businessId, q);
      // A customerId that names nobody is 404, as everywhere else; checked
      // only when its first page is empty, so a deleted customer's events
      // (customer.deleted and before) stay listable by its id.
      if (q.customerId !== undefined && rows.length === 0 && req.cursor === "" && !(await deps.customers.find(p.businessId, { id: q.customerId }))) {
        throw notFound("customer not found");
      }
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return create(ListEventsResponseSchema, {
        events: page.map(eventToProto),
        nextCursor: rows.length > limit && last ? encodeCursor(last.created_key, last.id) : "",
      });
    },
  };
}

/** How many days events are kept (the purge job's retention). */
export const RETENTION_DAYS = EVENT_RETENTION_DAYS;
