import { useQueryClient } from "@tanstack/react-query";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { BusinessSettings, type CreateApiKeyResponse } from "../../../../gen/loyalty/v1/account_pb.js";
import type { ApiKey } from "../../../../gen/loyalty/v1/types_pb.js";
import { ConfirmDialog, ErrorMessage, Field, Notice, PageHeading, QueryState } from "../components/common.js";
import { StoreSelect, useStoreNames } from "../components/store-picker.js";
import { copyText } from "../components/copy.js";
import { formatDateTime } from "../format.js";

/**
 * API keys: the keys tills and web shops send in `X-API-Key`. A new key is
 * shown once (only its hash is stored); the list shows each key by its name
 * (and prefix), with its last use, renames and revokes it; revoked keys are
 * folded away below.
 */
export function ApiKeysPage() {
  const [created, setCreated] = useState<CreateApiKeyResponse>();
  // After "I have copied the key" the focus goes back to where the owner started.
  const [returned, setReturned] = useState(false);
  return (
    <>
      <PageHeading>API keys</PageHeading>
      <p className="lead">
        Your till, web shop or integration sends an API key in the <code>X-API-Key</code> header of every call to the POS API. Create one key
        per till or integration, so that you can revoke one without stopping the others.
      </p>
      {created ? (
        <NewKey
          created={created}
          onDone={() => {
            setReturned(true);
            setCreated(undefined);
          }}
        />
      ) : (
        <CreateKey onCreated={setCreated} focusOnMount={returned} />
      )}
      <KeyList createdId={created?.id} />
    </>
  );
}

function CreateKey({ onCreated, focusOnMount }: { onCreated: (res: CreateApiKeyResponse) => void; focusOnMount: boolean }) {
  const [name, setName] = useState("");
  const submitRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (focusOnMount) submitRef.current?.focus();
  }, [focusOnMount]);
  const [storeId, setStoreId] = useState("");
  const queryClient = useQueryClient();
  const create = useMutation(BusinessSettings.method.createApiKey, {
    onSuccess: (res) => {
      setName("");
      onCreated(res);
      void queryClient.invalidateQueries();
    },
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ ...(name.trim() ? { name: name.trim() } : {}), ...(storeId ? { storeId } : {}) });
  }

  return (
    <section className="panel" aria-labelledby="create-key-title">
      <h2 id="create-key-title">Create an API key</h2>
      <form onSubmit={submit} className="grid-form" data-testid="create-key-form">
        <Field label="Key name (optional)" hint="To recognise it later, e.g. “Front till”.">
          {(p) => <input {...p} name="name" maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />}
        </Field>
        <StoreSelect label="Store (optional)" hint="Check-ins made with the key are recorded at this store." none="No store" value={storeId} onChange={setStoreId} />
        <div className="form-footer">
          <ErrorMessage error={create.error} testId="create-key-error" />
          {/* aria-disabled, not disabled: a disabled button drops the keyboard focus to the page. */}
          <button type="submit" ref={submitRef} aria-disabled={create.isPending} onClick={(e) => create.isPending && e.preventDefault()}>
            {create.isPending ? "Creating…" : "Create API key"}
          </button>
        </div>
      </form>
    </section>
  );
}

function NewKey({ created, onDone }: { created: CreateApiKeyResponse; onDone: () => void }) {
  const inputRef = useRef<HTMLInputElement>(null);
  // The form (and its button) gave way to the key: the focus moves to the key, selected, ready to copy.
  useEffect(() => inputRef.current?.focus(), []);
  const [copy, setCopy] = useState<"idle" | "copied" | "failed">("idle");
  const origin = window.location.origin;
  const curl = `curl -X POST ${origin}/v1/pos/checkin \\
  -H "Content-Type: application/json" \\
  -H "X-API-Key: ${created.apiKey}" \\
  -d '{"phone": "+353123456789", "amount": 25.50}'`;

  return (
    <section className="panel panel-highlight" aria-labelledby="new-key-title" data-testid="new-key-panel">
      <h2 id="new-key-title">Your new API key</h2>
      <p className="message message-warning" role="alert">
        <strong>Copy this key now: it is shown only once.</strong> Loyalty+ keeps only a fingerprint of it and cannot show it again. Keep it
        secret, like a password; if it leaks, revoke it below and create another.
      </p>
      <div className="field">
        <label htmlFor="new-api-key">API key</label>
        <div className="copy-row">
          <input
            id="new-api-key"
            ref={inputRef}
            className="mono"
            readOnly
            value={created.apiKey}
            data-testid="new-api-key"
            onFocus={(e) => e.currentTarget.select()}
          />
          <button
            type="button"
            onClick={async () => setCopy((await copyText(created.apiKey, inputRef.current)) ? "copied" : "failed")}
          >
            Copy
          </button>
        </div>
      </div>
      {copy === "copied" ? <Notice testId="copy-notice">Copied to the clipboard.</Notice> : null}
      {copy === "failed" ? (
        <p className="message message-error" role="alert">
          The browser did not allow copying. The key is selected: press Ctrl+C (⌘C on a Mac) to copy it.
        </p>
      ) : null}
      <details>
        <summary>Try it with curl</summary>
        <pre className="code" data-testid="curl-example">
          <code>{curl}</code>
        </pre>
      </details>
      <button type="button" className="secondary" onClick={onDone}>
        I have copied the key
      </button>
    </section>
  );
}

/** The name an owner gave the key, or its prefix when it has none. */
export function keyLabel(k: { name: string; prefix: string }): string {
  return k.name.trim() || `${k.prefix}…`;
}

function KeyList({ createdId }: { createdId?: string }) {
  const keys = useQuery(BusinessSettings.method.listApiKeys, {});
  const storeName = useStoreNames();
  const [revoking, setRevoking] = useState<ApiKey>();
  const [done, setDone] = useState<string>();
  // A note about an earlier revoke or rename is stale once a new key is made.
  useEffect(() => {
    if (createdId) setDone(undefined);
  }, [createdId]);
  const queryClient = useQueryClient();
  const revoke = useMutation(BusinessSettings.method.revokeApiKey, {
    onSuccess: () => {
      setDone(`Key “${revoking ? keyLabel(revoking) : ""}” revoked. Calls made with it are refused from now on.`);
      setRevoking(undefined);
      void queryClient.invalidateQueries();
      // Its row (and the button) left the list: the list's heading takes the focus.
      document.getElementById("keys-title")?.focus();
    },
  });
  const all = keys.data?.apiKeys ?? [];
  const active = all.filter((k) => !k.revokedAt);
  const revoked = all.filter((k) => k.revokedAt);
  const store = (k: ApiKey) => (k.storeId ? (storeName.get(k.storeId) ?? "Unknown store") : "—");

  return (
    <section className="panel" aria-labelledby="keys-title">
      <h2 id="keys-title" tabIndex={-1}>
        Your API keys
      </h2>
      <Notice testId="revoke-notice">{done}</Notice>
      <QueryState query={keys} what="API keys" />
      {keys.data && active.length === 0 ? <p className="empty">{revoked.length ? "No active API keys." : "No API keys yet."}</p> : null}
      {active.length > 0 ? (
        <div className="table-wrap">
          <table data-testid="api-keys-table" className="cards">
            <caption className="visually-hidden">Active API keys, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Store</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {active.map((k) => (
                <KeyRow
                  key={k.id}
                  apiKey={k}
                  store={store(k)}
                  onRenamed={(label) => setDone(`Key renamed to “${label}”.`)}
                  onRevoke={() => {
                    setDone(undefined);
                    revoke.reset();
                    setRevoking(k);
                  }}
                />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {revoked.length > 0 ? (
        <details className="revoked-keys" data-testid="revoked-keys">
          <summary>
            Revoked keys ({revoked.length})
          </summary>
          <ul className="plain-list">
            {revoked.map((k) => (
              <li key={k.id} data-testid="revoked-key" data-prefix={k.prefix}>
                <strong>{keyLabel(k)}</strong> <span className="subtle mono">{k.prefix}…</span>
                <span className="subtle">
                  Revoked {formatDateTime(k.revokedAt)} · last used {formatDateTime(k.lastUsedAt, "never")}
                </span>
              </li>
            ))}
          </ul>
        </details>
      ) : null}
      <ConfirmDialog
        open={revoking !== undefined}
        title={`Revoke “${revoking ? keyLabel(revoking) : ""}”?`}
        confirmLabel="Revoke key"
        busy={revoke.isPending}
        error={revoke.error}
        onCancel={() => setRevoking(undefined)}
        onConfirm={() => revoking && revoke.mutate({ id: revoking.id })}
      >
        <p>
          The key <span className="mono">{revoking?.prefix}…</span>
          {revoking?.storeId ? ` (${store(revoking)})` : ""} stops working at once on every till or integration using it. This cannot be
          undone; create a new key to replace it.
        </p>
      </ConfirmDialog>
    </section>
  );
}

function KeyRow({ apiKey: k, store, onRenamed, onRevoke }: { apiKey: ApiKey; store: string; onRenamed: (label: string) => void; onRevoke: () => void }) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(k.name);
  const input = useRef<HTMLInputElement>(null);
  const renameButton = useRef<HTMLButtonElement>(null);
  const wasEditing = useRef(false);
  const queryClient = useQueryClient();
  const rename = useMutation(BusinessSettings.method.updateApiKey, {
    onSuccess: (res) => {
      setEditing(false);
      onRenamed(res.apiKey ? keyLabel(res.apiKey) : name);
      void queryClient.invalidateQueries();
    },
  });
  useEffect(() => {
    if (editing) input.current?.focus();
    else if (wasEditing.current) renameButton.current?.focus();
    wasEditing.current = editing;
  }, [editing]);

  return (
    <tr data-testid="api-key-row" data-prefix={k.prefix}>
      <td className="card-title">
        {editing ? (
          <form
            aria-label={`Rename key ${keyLabel(k)}`}
            onSubmit={(e) => {
              e.preventDefault();
              rename.mutate({ id: k.id, name: name.trim() });
            }}
          >
            <Field label="Key name">{(p) => <input {...p} ref={input} name="keyName" maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
            <ErrorMessage error={rename.error} testId="rename-key-error" />
            <div className="actions">
              <button
                type="button"
                className="secondary small"
                onClick={() => {
                  setEditing(false);
                  rename.reset();
                }}
              >
                Cancel
              </button>
              <button type="submit" className="small" aria-disabled={rename.isPending}>
                {rename.isPending ? "Saving…" : "Save name"}
              </button>
            </div>
          </form>
        ) : (
          <>
            <span data-testid="api-key-name">{keyLabel(k)}</span>{" "}
            <span className="badge badge-active" data-testid="api-key-status">
              Active
            </span>
            <span className="subtle mono">{k.prefix}…</span>
          </>
        )}
      </td>
      <td data-label="Store">{store}</td>
      <td data-label="Created">{formatDateTime(k.createdAt)}</td>
      <td data-label="Last used" data-testid="api-key-last-used">
        {formatDateTime(k.lastUsedAt, "Never")}
      </td>
      <td className="row-actions">
        {editing ? null : (
          <button
            type="button"
            ref={renameButton}
            className="secondary small"
            aria-label={`Rename key “${keyLabel(k)}”`}
            onClick={() => {
              setName(k.name);
              setEditing(true);
            }}
          >
            Rename
          </button>
        )}{" "}
        <button type="button" className="danger small" aria-label={`Revoke key “${keyLabel(k)}”`} onClick={onRevoke}>
          Revoke
        </button>
      </td>
    </tr>
  );
}
