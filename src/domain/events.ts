/**
 * The event types of contract §11: every change of a business produces one
 * event of these (a check-in that enrols a customer, or that brings a
 * balance to the default reward's cost, adds customer.created or
 * reward.available beside its checkin.created).
 */
export const EVENT_TYPES = [
  "checkin.created",
  "checkin.refunded",
  "redemption.created",
  "redemption.voided",
  "points.adjusted",
  "points.expired",
  "points.expiring_soon",
  "reward.available",
  "customer.created",
  "customer.updated",
  "customer.blocked",
  "customer.unblocked",
  "customer.deleted",
  "program.updated",
] as const;

export type EventType = (typeof EVENT_TYPES)[number] | "webhook.test";

/** The type of a webhook endpoint's test send; listed only when asked for. */
export const TEST_EVENT_TYPE = "webhook.test";

const KNOWN = new Set<string>([...EVENT_TYPES, TEST_EVENT_TYPE]);

/** Is this an event type an endpoint may subscribe to or a list filter by? */
export const isEventType = (value: string): boolean => KNOWN.has(value);

/** Who made a change, as an event records it (contract §11). */
export interface EventRequest {
  idempotencyKey?: string;
  apiKeyId?: string;
  ownerId?: string;
}

/** One event to write with a change. */
export interface EventInput {
  type: EventType;
  customerId: string | null;
  object: Record<string, unknown>;
  previous?: Record<string, unknown>;
}

/** Did the balance reach the default reward's cost with this change (reward.available)? */
export const crossedThreshold = (before: number, after: number, threshold: number): boolean => before < threshold && after >= threshold;

/** How long events are kept. */
export const EVENT_RETENTION_DAYS = 30;
