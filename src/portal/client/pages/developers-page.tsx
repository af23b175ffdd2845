import { useQueryClient } from "@tanstack/react-query";
import { useInfiniteQuery, useMutation, useQuery } from "@connectrpc/connect-query";
import { useEffect, useRef, useState, type FormEvent } from "react";
import {
  EventService,
  WebhookService,
  type Event,
  type WebhookDelivery,
  type WebhookEndpoint,
} from "../../../../gen/loyalty/v1/events_pb.js";
import { EVENT_TYPES, TEST_EVENT_TYPE } from "../../../domain/events.js";
import { copyText } from "../components/copy.js";
import { ConfirmDialog, ErrorMessage, Field, Notice, PageHeading, QueryState } from "../components/common.js";
import { errorField } from "../errors.js";
import { formatDateTime, formatNumber } from "../format.js";

/**
 * Developers (issue 17, item 4): the business's webhook endpoints (add,
 * enable/disable, rotate the secret, send a test, delete), each endpoint's
 * recent deliveries with their attempts and a Resend button, and the event
 * list with filters. A new secret is shown once, after create or rotate.
 */
export function DevelopersPage() {
  const [secret, setSecret] = useState<{ url: string; secret: string; rotated: boolean }>();
  return (
    <>
      <PageHeading>Developers</PageHeading>
      <p className="lead">
        Webhooks tell your systems about every change as it happens: a check-in, a redemption, a new customer. Loyalty+ sends each event as a
        signed POST to your URL and retries for 3 days until your server answers with a 2xx status.
      </p>
      {secret ? <NewSecret {...secret} onDone={() => setSecret(undefined)} /> : <AddEndpoint onCreated={(url, s) => setSecret({ url, secret: s, rotated: false })} />}
      <EndpointList onRotated={(url, s) => setSecret({ url, secret: s, rotated: true })} />
      <EventList />
    </>
  );
}

/** "All events" or the chosen types, as the endpoint lists them. */
const typesText = (types: string[]) => (types.includes("*") ? "All events" : types.join(", "));

function AddEndpoint({ onCreated }: { onCreated: (url: string, secret: string) => void }) {
  const queryClient = useQueryClient();
  const create = useMutation(WebhookService.method.createWebhookEndpoint, {
    onSuccess: (res) => {
      onCreated(res.endpoint?.url ?? "", res.secret);
      void queryClient.invalidateQueries();
    },
  });
  return (
    <section className="panel" aria-labelledby="add-endpoint-title">
      <h2 id="add-endpoint-title">Add an endpoint</h2>
      <EndpointForm testId="endpoint-form" submitLabel="Add endpoint" busyLabel="Adding…" mutation={create} onSubmit={(values) => create.mutate(values)} />
    </section>
  );
}

interface EndpointValues {
  url: string;
  description: string;
  eventTypes: string[];
}

/**
 * The fields of an endpoint (URL, description, all events or chosen types),
 * for adding one and for editing one; a refusal naming a field is shown
 * next to it.
 */
function EndpointForm({
  initial,
  testId,
  submitLabel,
  busyLabel,
  mutation,
  onSubmit,
  onCancel,
}: {
  initial?: WebhookEndpoint;
  testId: string;
  submitLabel: string;
  busyLabel: string;
  mutation: { isPending: boolean; error: unknown };
  onSubmit: (values: EndpointValues) => void;
  onCancel?: () => void;
}) {
  const [url, setUrl] = useState(initial?.url ?? "");
  const [description, setDescription] = useState(initial?.description ?? "");
  const [all, setAll] = useState(initial ? initial.eventTypes.includes("*") : true);
  const [types, setTypes] = useState<string[]>(initial && !initial.eventTypes.includes("*") ? initial.eventTypes : []);
  const field = errorField(mutation.error);
  const at = (name: string) => (field === name ? mutation.error : undefined);
  const elsewhere = field === "url" || field === "eventTypes" || field === "description" ? undefined : mutation.error;

  function submit(e: FormEvent) {
    e.preventDefault();
    if (mutation.isPending) return;
    onSubmit({ url: url.trim(), description: description.trim(), eventTypes: all ? ["*"] : types });
  }

  return (
    <form onSubmit={submit} className="grid-form" data-testid={testId}>
      <Field label="URL" hint="Where Loyalty+ sends events: an https:// address of your server.">
        {(p) => (
          <input {...p} name="url" type="url" inputMode="url" required maxLength={2000} placeholder="https://example.com/webhooks/loyalty" value={url} onChange={(e) => setUrl(e.target.value)} />
        )}
      </Field>
      <ErrorMessage error={at("url")} testId="endpoint-url-error" />
      <Field label="Description (optional)" hint="To recognise it later, e.g. “CRM sync”.">
        {(p) => <input {...p} name="description" maxLength={500} value={description} onChange={(e) => setDescription(e.target.value)} />}
      </Field>
      <ErrorMessage error={at("description")} testId="endpoint-description-error" />
      <fieldset className="event-types">
        <legend>Events to send</legend>
        <label className="check">
          <input type="checkbox" name="allEvents" checked={all} onChange={(e) => setAll(e.target.checked)} /> All events, including types added later
        </label>
        {all ? null : (
          <div className="check-grid" data-testid="event-type-boxes">
            {EVENT_TYPES.map((t) => (
              <label key={t} className="check">
                <input
                  type="checkbox"
                  value={t}
                  checked={types.includes(t)}
                  onChange={(e) => setTypes((ts) => (e.target.checked ? [...ts, t] : ts.filter((x) => x !== t)))}
                />{" "}
                <span className="mono">{t}</span>
              </label>
            ))}
          </div>
        )}
      </fieldset>
      <ErrorMessage error={at("eventTypes")} testId="endpoint-types-error" />
      <div className="form-footer">
        <ErrorMessage error={elsewhere} testId="endpoint-error" />
        <div className="actions">
          {onCancel ? (
            <button type="button" className="secondary" onClick={onCancel}>
              Cancel
            </button>
          ) : null}
          <button type="submit" aria-disabled={mutation.isPending}>
            {mutation.isPending ? busyLabel : submitLabel}
          </button>
        </div>
      </div>
    </form>
  );
}

/** The signing secret, shown this once, with a copy button and how to verify a delivery with it. */
function NewSecret({ url, secret, rotated, onDone }: { url: string; secret: string; rotated: boolean; onDone: () => void }) {
  const inputRef = useRef<HTMLInputElement>(null);
  useEffect(() => inputRef.current?.focus(), []);
  const [copy, setCopy] = useState<"idle" | "copied" | "failed">("idle");
  const snippet = `// npm install standardwebhooks
import { Webhook } from "standardwebhooks";

// secret: ${secret.slice(0, 10)}… (keep it in
// an environment variable, not in code)
// body: the raw request body, a string
const event = new Webhook(secret)
  .verify(body, headers);
// verify throws if the signature is wrong
console.log(event.type, event.data);`;
  return (
    <section className="panel panel-highlight" aria-labelledby="new-secret-title" data-testid="new-secret-panel">
      <h2 id="new-secret-title">{rotated ? "Your new signing secret" : "Endpoint added: its signing secret"}</h2>
      <p className="subtle mono url">{url}</p>
      <p className="message message-warning" role="alert">
        <strong>Copy this secret now: it is shown only once.</strong> Your server uses it to check that a request really comes from Loyalty+.
        {rotated ? " The old secret keeps signing beside it for 24 hours, so you have time to switch." : ""}
      </p>
      <div className="field">
        <label htmlFor="new-webhook-secret">Signing secret</label>
        <div className="copy-row">
          <input id="new-webhook-secret" ref={inputRef} className="mono" readOnly value={secret} data-testid="new-webhook-secret" onFocus={(e) => e.currentTarget.select()} />
          <button type="button" onClick={async () => setCopy((await copyText(secret, inputRef.current)) ? "copied" : "failed")}>
            Copy
          </button>
        </div>
      </div>
      {copy === "copied" ? <Notice testId="secret-copy-notice">Copied to the clipboard.</Notice> : null}
      {copy === "failed" ? <p className="message message-error" role="alert">Copying did not work: select the secret and copy it by hand.</p> : null}
      <h3>Check the signature (Node)</h3>
      <pre className="code snippet" data-testid="verify-snippet">{snippet}</pre>
      <div className="actions">
        <button type="button" onClick={onDone} data-testid="secret-done">
          I have copied the secret
        </button>
      </div>
    </section>
  );
}

function EndpointList({ onRotated }: { onRotated: (url: string, secret: string) => void }) {
  const endpoints = useQuery(WebhookService.method.listWebhookEndpoints, {});
  const [notice, setNotice] = useState<string>();
  const [deleting, setDeleting] = useState<WebhookEndpoint>();
  const queryClient = useQueryClient();
  const remove = useMutation(WebhookService.method.deleteWebhookEndpoint, {
    onSuccess: () => {
      setNotice(`Endpoint ${deleting?.url ?? ""} deleted.`);
      setDeleting(undefined);
      void queryClient.invalidateQueries();
    },
  });
  return (
    <section className="panel" aria-labelledby="endpoints-title">
      <h2 id="endpoints-title">Endpoints</h2>
      <Notice testId="endpoint-notice">{notice}</Notice>
      <QueryState query={endpoints} what="endpoints" />
      {endpoints.data && endpoints.data.endpoints.length === 0 ? <p className="empty">No endpoint yet. Add one above to receive events.</p> : null}
      {endpoints.data ? (
        <ul className="plain-list endpoint-list" data-testid="endpoint-list">
          {endpoints.data.endpoints.map((e) => (
            <EndpointItem
              key={e.id}
              endpoint={e}
              onNotice={setNotice}
              onRotated={onRotated}
              onDelete={() => {
                remove.reset();
                setDeleting(e);
              }}
            />
          ))}
        </ul>
      ) : null}
      <ConfirmDialog
        open={deleting !== undefined}
        title="Delete this endpoint?"
        confirmLabel="Delete endpoint"
        busy={remove.isPending}
        error={remove.error}
        onCancel={() => setDeleting(undefined)}
        onConfirm={() => deleting && remove.mutate({ id: deleting.id })}
      >
        <p>
          <span className="mono url">{deleting?.url}</span> stops receiving events at once, and its delivery history is deleted. This cannot be undone.
        </p>
      </ConfirmDialog>
    </section>
  );
}

/** The endpoint's state in words: enabled, or why it is disabled. */
function stateOf(e: WebhookEndpoint): { label: string; badge: string; note?: string } {
  if (e.enabled) {
    return e.failingSince
      ? { label: "Failing", badge: "badge-warning", note: `Every attempt has failed since ${formatDateTime(e.failingSince)}; it is disabled after 3 days of failures.` }
      : { label: "Enabled", badge: "badge-active" };
  }
  if (e.disabledReason === "gone") return { label: "Disabled", badge: "badge-blocked", note: "Disabled because your server answered 410 Gone." };
  if (e.disabledReason === "failing") return { label: "Disabled", badge: "badge-blocked", note: "Disabled after 3 days of failed attempts." };
  return { label: "Disabled", badge: "badge-blocked", note: "Disabled by you." };
}

function EndpointItem({
  endpoint: e,
  onNotice,
  onRotated,
  onDelete,
}: {
  endpoint: WebhookEndpoint;
  onNotice: (message: string) => void;
  onRotated: (url: string, secret: string) => void;
  onDelete: () => void;
}) {
  const [showDeliveries, setShowDeliveries] = useState(false);
  const [editing, setEditing] = useState(false);
  const queryClient = useQueryClient();
  const refresh = () => void queryClient.invalidateQueries();
  const update = useMutation(WebhookService.method.updateWebhookEndpoint, {
    onSuccess: (res) => {
      setEditing(false);
      onNotice(`Endpoint ${res.endpoint?.url ?? e.url} saved.`);
      refresh();
    },
  });
  const disable = useMutation(WebhookService.method.disableWebhookEndpoint, { onSuccess: () => (onNotice(`Endpoint ${e.url} disabled.`), refresh()) });
  const enable = useMutation(WebhookService.method.enableWebhookEndpoint, { onSuccess: () => (onNotice(`Endpoint ${e.url} enabled.`), refresh()) });
  const rotate = useMutation(WebhookService.method.rotateWebhookSecret, {
    onSuccess: (res) => {
      onRotated(e.url, res.secret);
      refresh();
      window.scrollTo({ top: 0 });
    },
  });
  const test = useMutation(WebhookService.method.sendTestWebhook, {
    onSuccess: () => {
      onNotice(`Test event sent to ${e.url}.`);
      setShowDeliveries(true);
      refresh();
    },
  });
  const state = stateOf(e);
  const busy = disable.isPending || enable.isPending || rotate.isPending || test.isPending;
  return (
    <li className="endpoint" data-testid="endpoint" data-endpoint-id={e.id}>
      <div className="endpoint-head">
        <span className="mono url" data-testid="endpoint-url">
          {e.url}
        </span>{" "}
        <span className={`badge ${state.badge}`} data-testid="endpoint-state">
          {state.label}
        </span>
      </div>
      {e.description ? <p className="endpoint-description">{e.description}</p> : null}
      <p className="subtle">
        Sends: <span data-testid="endpoint-types">{typesText(e.eventTypes)}</span> · added {formatDateTime(e.createdAt)}
        {e.previousSecretExpiresAt ? ` · the old secret signs too until ${formatDateTime(e.previousSecretExpiresAt)}` : ""}
      </p>
      {state.note ? (
        <p className="subtle" data-testid="endpoint-state-note">
          {state.note}
        </p>
      ) : null}
      {editing ? (
        <EndpointForm
          initial={e}
          testId="endpoint-edit-form"
          submitLabel="Save endpoint"
          busyLabel="Saving…"
          mutation={update}
          onCancel={() => {
            setEditing(false);
            update.reset();
          }}
          onSubmit={(values) => update.mutate({ id: e.id, ...values })}
        />
      ) : null}
      <div className="actions">
        <button type="button" className="small" aria-disabled={busy} onClick={() => !busy && test.mutate({ id: e.id })}>
          Send test event
        </button>
        <button type="button" className="secondary small" aria-expanded={showDeliveries} onClick={() => setShowDeliveries((s) => !s)}>
          {showDeliveries ? "Hide deliveries" : "Show deliveries"}
        </button>
        {editing ? null : (
          <button type="button" className="secondary small" onClick={() => setEditing(true)}>
            Edit
          </button>
        )}
        {e.enabled ? (
          <button type="button" className="secondary small" aria-disabled={busy} onClick={() => !busy && disable.mutate({ id: e.id })}>
            Disable
          </button>
        ) : (
          <button type="button" className="secondary small" aria-disabled={busy} onClick={() => !busy && enable.mutate({ id: e.id })}>
            Enable
          </button>
        )}
        <button type="button" className="secondary small" aria-disabled={busy} onClick={() => !busy && rotate.mutate({ id: e.id })}>
          Rotate secret
        </button>
        <button type="button" className="danger small" onClick={onDelete}>
          Delete
        </button>
      </div>
      <ErrorMessage error={test.error ?? disable.error ?? enable.error ?? rotate.error} testId="endpoint-action-error" />
      {showDeliveries ? <Deliveries endpointId={e.id} /> : null}
    </li>
  );
}

/** "200 OK in 12 ms" or what went wrong without an answer. */
function attemptText(a: WebhookDelivery["attempts"][number]): string {
  const status = a.statusCode > 0 ? `HTTP ${a.statusCode}` : a.error || "No answer";
  return `${status} · ${formatNumber(a.latencyMs)} ms · ${formatDateTime(a.attemptedAt)}`;
}

const STATUS_WORDS: Record<string, { label: string; badge: string }> = {
  SUCCEEDED: { label: "Delivered", badge: "badge-active" },
  PENDING: { label: "Pending", badge: "badge-warning" },
  FAILED: { label: "Failed", badge: "badge-blocked" },
};

function Deliveries({ endpointId }: { endpointId: string }) {
  // Refreshed every 2 s while a delivery is still pending.
  const deliveries = useQuery(
    WebhookService.method.listWebhookDeliveries,
    { id: endpointId, limit: 10 },
    { refetchInterval: (q) => (q.state.data?.deliveries.some((d) => d.status === "PENDING") ? 2_000 : false) },
  );
  return (
    <div className="deliveries" data-testid="deliveries">
      <h3>Recent deliveries</h3>
      <QueryState query={deliveries} what="deliveries" />
      {deliveries.data && deliveries.data.deliveries.length === 0 ? <p className="empty">Nothing sent yet. Send a test event to try the endpoint.</p> : null}
      {deliveries.data ? (
        <ul className="plain-list">
          {deliveries.data.deliveries.map((d) => (
            <DeliveryItem key={d.id} endpointId={endpointId} delivery={d} />
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function DeliveryItem({ endpointId, delivery: d }: { endpointId: string; delivery: WebhookDelivery }) {
  const queryClient = useQueryClient();
  const [resent, setResent] = useState(false);
  const resend = useMutation(WebhookService.method.resendWebhookDelivery, {
    onSuccess: () => {
      setResent(true);
      void queryClient.invalidateQueries();
    },
  });
  const status = STATUS_WORDS[d.status] ?? { label: d.status, badge: "" };
  return (
    <li className="delivery" data-testid="delivery" data-event-type={d.eventType}>
      <div className="endpoint-head">
        <span className="mono">{d.eventType}</span>{" "}
        <span className={`badge ${status.badge}`} data-testid="delivery-status">
          {status.label}
        </span>
      </div>
      <p className="subtle">
        <span className="mono">{d.eventId}</span> · {d.attemptCount === 1 ? "1 attempt" : `${formatNumber(d.attemptCount)} attempts`}
        {d.nextAttemptAt ? ` · next attempt ${formatDateTime(d.nextAttemptAt)}` : ""}
      </p>
      {d.attempts.length > 0 ? (
        <ol className="attempts" reversed data-testid="attempts">
          {d.attempts.map((a) => (
            <li key={a.id} data-testid="attempt">
              <span data-testid="attempt-status">{attemptText(a)}</span>
              {a.responseBody ? (
                <pre className="answer" data-testid="attempt-answer" aria-label="The answer's first bytes">
                  {a.responseBody.slice(0, 300)}
                  {a.responseBody.length > 300 ? "…" : ""}
                </pre>
              ) : null}
            </li>
          ))}
        </ol>
      ) : null}
      <div className="actions">
        <button type="button" className="secondary small" aria-disabled={resend.isPending} onClick={() => !resend.isPending && resend.mutate({ id: endpointId, deliveryId: d.id })}>
          Resend
        </button>
      </div>
      {resent && !resend.isPending ? <Notice testId="resend-notice">Sent again with the same webhook-id.</Notice> : null}
      <ErrorMessage error={resend.error} testId="resend-error" />
    </li>
  );
}

/** The customer an event is about, when its object names one (a customer.* event's object is the customer). */
function customerOf(e: Event): string | undefined {
  const id = e.data?.object?.[e.type.startsWith("customer.") ? "id" : "customerId"];
  return typeof id === "string" ? id : undefined;
}

function EventList() {
  const [type, setType] = useState("");
  const [customer, setCustomer] = useState("");
  const [filters, setFilters] = useState({ type: "", customerId: "" });
  const events = useInfiniteQuery(
    EventService.method.listEvents,
    { ...filters, limit: 20, cursor: "" },
    { pageParamKey: "cursor", getNextPageParam: (last) => last.nextCursor || undefined },
  );
  const field = errorField(events.error);
  const list = events.data?.pages.flatMap((p) => p.events) ?? [];

  function apply(e: FormEvent) {
    e.preventDefault();
    setFilters({ type, customerId: customer.trim() });
  }

  return (
    <section className="panel" aria-labelledby="events-title">
      <h2 id="events-title">Events</h2>
      <p className="subtle">Every change of the last 30 days, newest first: what your endpoints were (or would be) sent.</p>
      <form onSubmit={apply} className="inline-form" data-testid="event-filters">
        <Field label="Type">
          {(p) => (
            <select {...p} name="type" value={type} onChange={(e) => setType(e.target.value)}>
              <option value="">All types</option>
              {[...EVENT_TYPES, TEST_EVENT_TYPE].map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Customer ID (optional)">
          {(p) => <input {...p} name="customerId" className="mono" value={customer} onChange={(e) => setCustomer(e.target.value)} />}
        </Field>
        <button type="submit">Filter</button>
      </form>
      {field === "customerId" || field === "type" ? (
        <ErrorMessage error={events.error} testId="event-filter-error" />
      ) : (
        <QueryState query={events} what="events" />
      )}
      {events.data && list.length === 0 ? (
        <p className="empty" data-testid="no-events">
          No event {filters.type || filters.customerId ? "matches these filters" : "yet"}.
        </p>
      ) : null}
      {list.length > 0 ? (
        <ul className="plain-list event-list" data-testid="event-list">
          {list.map((e) => (
            <li key={e.id} data-testid="event" data-event-type={e.type}>
              <div className="endpoint-head">
                <strong className="mono">{e.type}</strong> <span className="subtle">{formatDateTime(e.createdAt)}</span>
              </div>
              <p className="subtle">
                <span className="mono">{e.id}</span>
                {customerOf(e) ? (
                  <>
                    {" "}
                    · customer <span className="mono">{customerOf(e)}</span>
                  </>
                ) : null}
              </p>
              <details>
                <summary>Data</summary>
                <pre className="answer">{JSON.stringify(e.data?.object ?? {}, null, 2)}</pre>
              </details>
            </li>
          ))}
        </ul>
      ) : null}
      {events.hasNextPage ? (
        <div className="actions">
          <button type="button" className="secondary" aria-disabled={events.isFetchingNextPage} onClick={() => !events.isFetchingNextPage && void events.fetchNextPage()}>
            {events.isFetchingNextPage ? "Loading…" : "Load more"}
          </button>
        </div>
      ) : null}
      {events.isFetchNextPageError ? <ErrorMessage error={events.error} /> : null}
    </section>
  );
}
