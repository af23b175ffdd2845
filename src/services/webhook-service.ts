import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  CreateWebhookEndpointResponseSchema,
  DeleteWebhookEndpointResponseSchema,
  DisableWebhookEndpointResponseSchema,
  EnableWebhookEndpointResponseSchema,
  ListWebhookDeliveriesResponseSchema,
  ListWebhookEndpointsResponseSchema,
  ResendWebhookDeliveryResponseSchema,
  RotateWebhookSecretResponseSchema,
  SendTestWebhookResponseSchema,
  UpdateWebhookEndpointResponseSchema,
  WebhookAttemptSchema,
  WebhookDeliverySchema,
  WebhookEndpointSchema,
  WebhookService,
  type WebhookDelivery,
  type WebhookEndpoint,
} from "../../gen/loyalty/v1/events_pb.js";
import { DomainError, invalidArgument, notFound } from "../domain/errors.js";
import { isEventType, TEST_EVENT_TYPE } from "../domain/events.js";
import * as v from "../domain/validation.js";
import { checkWebhookUrl } from "../domain/webhook-url.js";
import { generateWebhookSecret } from "../infrastructure/webhook-secrets.js";
import { resolveTarget, systemResolver, type Resolver } from "../infrastructure/webhook-sender.js";
import type { AttemptRow, DeliveryRow, EndpointRow } from "../persistence/webhook-repository.js";
import { MAX_ENDPOINTS } from "../persistence/webhook-repository.js";
import { ownerPrincipal } from "./principal.js";
import type { ServiceDeps } from "./deps.js";
import { decodeCursor, encodeCursor, eventRequest } from "./events.js";
import { toDate } from "./mappers.js";

/** How long a rotated-out secret keeps signing beside the new one. */
export const ROTATION_GRACE_MS = 24 * 3600 * 1000;

const ts = (value: Date | string | null) => (value === null ? undefined : timestampFromDate(toDate(value)));

export function endpointToProto(row: EndpointRow): WebhookEndpoint {
  const graceUntil = row.previous_secret_expires_at && toDate(row.previous_secret_expires_at) > new Date() ? row.previous_secret_expires_at : null;
  return create(WebhookEndpointSchema, {
    id: row.id,
    url: row.url,
    eventTypes: row.event_types,
    description: row.description,
    enabled: row.enabled,
    disabledReason: row.enabled ? "" : row.disabled_reason,
    failingSince: ts(row.failing_since),
    previousSecretExpiresAt: ts(graceUntil),
    createdAt: ts(row.created_at),
    updatedAt: ts(row.updated_at),
  });
}

function deliveryToProto(row: DeliveryRow, attempts: AttemptRow[]): WebhookDelivery {
  return create(WebhookDeliverySchema, {
    id: row.id,
    endpointId: row.endpoint_id,
    eventId: row.event_id,
    eventType: row.event_type,
    status: row.status,
    attemptCount: row.attempt_count,
    nextAttemptAt: row.status === "PENDING" ? ts(row.next_attempt_at) : undefined,
    createdAt: ts(row.created_at),
    attempts: attempts.map((a) =>
      create(WebhookAttemptSchema, {
        id: a.id,
        attemptedAt: ts(a.attempted_at),
        statusCode: a.status_code,
        latencyMs: a.latency_ms,
        responseBody: a.response_body,
        error: a.error,
        nextAttemptAt: ts(a.next_attempt_at),
      }),
    ),
  });
}

/** The event types of a request: known types or "*", at least one, each once. */
function eventTypesField(values: string[], field = "eventTypes"): string[] {
  if (values.length === 0) throw invalidArgument(`${field} must list at least one event type (or "*")`);
  if (values.length > 50) throw invalidArgument(`${field} lists too many event types`);
  const out: string[] = [];
  for (const raw of values) {
    const t = raw.trim();
    if (t !== "*" && (!isEventType(t) || t === TEST_EVENT_TYPE)) throw invalidArgument(`${field} has an unknown event type: ${t.slice(0, 60)}`);
    if (!out.includes(t)) out.push(t);
  }
  return out.includes("*") ? ["*"] : out;
}

/** WebhookService: the owner's endpoints and their deliveries (JWT; contract §11). */
export function createWebhookService(deps: ServiceDeps): ServiceImpl<typeof WebhookService> {
  const { webhooks, secretBox, config, db, accounts } = deps;
  const resolver: Resolver = deps.webhookResolver ?? systemResolver;

  /** The URL's form, and where its host resolves now (a name that resolves to a refused address is refused). */
  async function urlField(raw: string): Promise<string> {
    const url = checkWebhookUrl(raw.trim(), config.webhooks);
    const target = await resolveTarget(url, config.webhooks, async (host) => {
      try {
        return await resolver(host);
      } catch {
        // Not resolvable now: accepted, and checked again at every delivery.
        return [{ address: "93.184.216.34", family: 4 }];
      }
    });
    if ("refused" in target) throw invalidArgument(`url ${target.refused}`);
    return url.toString();
  }

  async function endpointOf(businessId: string, id: string): Promise<EndpointRow> {
    const row = await webhooks.get(businessId, v.id(id, "id"));
    if (!row) throw notFound("webhook endpoint not found");
    return row;
  }

  /** The program's "has an enabled endpoint" flag changed: dropped once committed (other instances: the change interceptor). */
  const endpointsChanged = (businessId: string) => deps.reads.changed(businessId, "program");

  async function withAttempts(businessId: string, rows: DeliveryRow[]): Promise<WebhookDelivery[]> {
    const attempts = await webhooks.attempts(businessId, rows.map((r) => r.id));
    return rows.map((r) => deliveryToProto(r, attempts.filter((a) => a.delivery_id === r.id)));
  }

  /** Queues a delivery's next attempt now, in the current transaction. */
  async function queueNow(row: { id: string; attempt_count: number }) {
    await deps.deliveryQueue.enqueueAttempt(row.id, row.attempt_count, new Date());
  }

  return {
    async createWebhookEndpoint(req, ctx) {
      const p = ownerPrincipal(ctx);
      const eventTypes = eventTypesField(req.eventTypes);
      const description = v.text(req.description, "description", { max: 500 });
      const url = await urlField(req.url);
      const secret = generateWebhookSecret();
      const row = await webhooks.create(p.businessId, { url, description, eventTypes, sealedSecret: secretBox.seal(secret) });
      if (!row) throw invalidArgument(`a business has at most ${MAX_ENDPOINTS} webhook endpoints`);
      await endpointsChanged(p.businessId);
      return create(CreateWebhookEndpointResponseSchema, { success: true, endpoint: endpointToProto(row), secret });
    },

    async listWebhookEndpoints(_req, ctx) {
      const p = ownerPrincipal(ctx);
      return create(ListWebhookEndpointsResponseSchema, { endpoints: (await webhooks.list(p.businessId)).map(endpointToProto) });
    },

    async updateWebhookEndpoint(req, ctx) {
      const p = ownerPrincipal(ctx);
      const id = v.id(req.id, "id");
      const changes: { url?: string; description?: string; eventTypes?: string[] } = {};
      if (req.url !== undefined) changes.url = await urlField(req.url);
      if (req.description !== undefined) changes.description = v.text(req.description, "description", { max: 500 });
      if (req.eventTypes.length > 0) changes.eventTypes = eventTypesField(req.eventTypes);
      const row = await webhooks.update(p.businessId, id, changes);
      if (!row) throw notFound("webhook endpoint not found");
      return create(UpdateWebhookEndpointResponseSchema, { success: true, endpoint: endpointToProto(row) });
    },

    async disableWebhookEndpoint(req, ctx) {
      const p = ownerPrincipal(ctx);
      const row = await webhooks.setEnabled(p.businessId, v.id(req.id, "id"), false, "manual");
      if (!row) throw notFound("webhook endpoint not found");
      await endpointsChanged(p.businessId);
      return create(DisableWebhookEndpointResponseSchema, { success: true, endpoint: endpointToProto(row) });
    },

    async enableWebhookEndpoint(req, ctx) {
      const p = ownerPrincipal(ctx);
      const row = await db.tx(async () => {
        const out = await webhooks.setEnabled(p.businessId, v.id(req.id, "id"), true, "");
        if (!out) throw notFound("webhook endpoint not found");
        // Deliveries that waited while it was disabled go out now.
        for (const waiting of await webhooks.waiting(p.businessId, out.id)) await queueNow(waiting);
        return out;
      });
      await endpointsChanged(p.businessId);
      return create(EnableWebhookEndpointResponseSchema, { success: true, endpoint: endpointToProto(row) });
    },

    async deleteWebhookEndpoint(req, ctx) {
      const p = ownerPrincipal(ctx);
      if (!(await webhooks.delete(p.businessId, v.id(req.id, "id")))) throw notFound("webhook endpoint not found");
      await endpointsChanged(p.businessId);
      return create(DeleteWebhookEndpointResponseSchema, { success: true });
    },

    async rotateWebhookSecret(req, ctx) {
      const p = ownerPrincipal(ctx);
      const secret = generateWebhookSecret();
      const row = await webhooks.rotate(p.businessId, v.id(req.id, "id"), secretBox.seal(secret), new Date(Date.now() + ROTATION_GRACE_MS));
      if (!row) throw notFound("webhook endpoint not found");
      return create(RotateWebhookSecretResponseSchema, { success: true, endpoint: endpointToProto(row), secret });
    },

    async sendTestWebhook(req, ctx) {
      const p = ownerPrincipal(ctx);
      const endpoint = await endpointOf(p.businessId, req.id);
      const delivery = await db.tx(async () => {
        const [eventId] = await deps.events.recordTest(p.businessId, { endpointId: endpoint.id, message: "A test event from Loyalty+" }, eventRequest(ctx));
        const deliveryId = await webhooks.createDelivery(p.businessId, endpoint.id, eventId!);
        await queueNow({ id: deliveryId, attempt_count: 0 });
        return (await webhooks.delivery(p.businessId, deliveryId))!;
      });
      return create(SendTestWebhookResponseSchema, { success: true, delivery: deliveryToProto(delivery, []) });
    },

    async listWebhookDeliveries(req, ctx) {
      const p = ownerPrincipal(ctx);
      const endpoint = await endpointOf(p.businessId, req.id);
      const limit = req.limit === undefined ? 20 : v.wholeNumber(req.limit, "limit", 1, 100);
      const after = req.cursor === "" ? undefined : decodeCursor(req.cursor);
      const rows = await webhooks.deliveries(p.businessId, endpoint.id, limit + 1, after);
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return create(ListWebhookDeliveriesResponseSchema, {
        deliveries: await withAttempts(p.businessId, page),
        nextCursor: rows.length > limit && last ? encodeCursor(last.created_key, last.id) : "",
      });
    },

    async resendWebhookDelivery(req, ctx) {
      const p = ownerPrincipal(ctx);
      const endpoint = await endpointOf(p.businessId, req.id);
      const deliveryId = v.text(req.deliveryId, "deliveryId", { max: 40, required: true });
      const row = await webhooks.delivery(p.businessId, deliveryId);
      if (!row || row.endpoint_id !== endpoint.id) throw notFound("webhook delivery not found");
      if (!endpoint.enabled && row.event_type !== TEST_EVENT_TYPE) throw new DomainError("failed_precondition", "the webhook endpoint is disabled: enable it first");
      const after = await db.tx(async () => {
        await webhooks.reopen(p.businessId, row.id);
        await queueNow(row);
        return (await webhooks.delivery(p.businessId, row.id))!;
      });
      return create(ResendWebhookDeliveryResponseSchema, { success: true, delivery: (await withAttempts(p.businessId, [after]))[0]! });
    },
  };
}
