import { useQueryClient } from "@tanstack/react-query";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useEffect, useRef, useState, type FormEvent } from "react";
import { BusinessSettings } from "../../../../gen/loyalty/v1/account_pb.js";
import type { Store } from "../../../../gen/loyalty/v1/types_pb.js";
import { ConfirmDialog, ErrorMessage, Field, Notice, PageHeading, QueryState } from "../components/common.js";
import { formatDate } from "../format.js";

/**
 * The business's shops and tills: an API key or a check-in names one by its
 * id. Stores are added, renamed and deleted here; one with history is
 * archived by the server (it stays in old history under its name).
 */
export function StoresPage() {
  const stores = useQuery(BusinessSettings.method.listStores, {});
  const [name, setName] = useState("");
  const [done, setDone] = useState<string>();
  const [deleting, setDeleting] = useState<Store>();
  const queryClient = useQueryClient();
  const create = useMutation(BusinessSettings.method.createStore, {
    onSuccess: (res) => {
      setDone(`Store “${res.store?.name ?? name}” created.`);
      setName("");
      void queryClient.invalidateQueries();
    },
  });
  const remove = useMutation(BusinessSettings.method.deleteStore, {
    onSuccess: (res) => {
      const n = deleting?.name ?? "";
      setDone(res.archived ? `Store “${n}” archived: it has history, which keeps its name.` : `Store “${n}” deleted.`);
      setDeleting(undefined);
      void queryClient.invalidateQueries();
      // The row (and its button) is gone: the list's heading takes the focus.
      document.getElementById("stores-title")?.focus();
    },
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    setDone(undefined);
    create.mutate({ name: name.trim() });
  }

  return (
    <>
      <PageHeading>Stores</PageHeading>
      <p className="lead">
        Stores record where points were earned. Bind an API key to a store, or send its id as <code>storeId</code> in a check-in.
      </p>
      <section className="panel" aria-labelledby="new-store-title">
        <h2 id="new-store-title">Add a store</h2>
        <form onSubmit={submit} className="inline-form" data-testid="store-form">
          <Field label="Store name">
            {(p) => (
              <input
                {...p}
                name="storeName"
                required
                maxLength={200}
                value={name}
                onChange={(e) => {
                  setName(e.target.value);
                  setDone(undefined);
                  create.reset();
                }}
              />
            )}
          </Field>
          <button type="submit" aria-disabled={create.isPending} onClick={(e) => create.isPending && e.preventDefault()}>
            {create.isPending ? "Adding…" : "Add store"}
          </button>
        </form>
        <ErrorMessage error={create.error} testId="store-error" />
      </section>
      <section className="panel" aria-labelledby="stores-title">
        <h2 id="stores-title" tabIndex={-1}>
          Your stores
        </h2>
        <Notice testId="store-notice">{done}</Notice>
        <QueryState query={stores} what="stores" />
        {stores.data && stores.data.stores.length === 0 ? <p className="empty">No stores yet.</p> : null}
        {stores.data && stores.data.stores.length > 0 ? (
          <div className="table-wrap">
            <table data-testid="stores-table" className="cards">
              <caption className="visually-hidden">Stores, oldest first</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Store id</th>
                  <th scope="col">Created</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {stores.data.stores.map((s) => (
                  <StoreRow
                    key={s.id}
                    store={s}
                    onChanged={(message) => setDone(message)}
                    onDelete={() => {
                      setDone(undefined);
                      remove.reset();
                      setDeleting(s);
                    }}
                  />
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        <ConfirmDialog
          open={deleting !== undefined}
          title={`Delete “${deleting?.name ?? ""}”?`}
          confirmLabel="Delete store"
          busy={remove.isPending}
          error={remove.error}
          onCancel={() => setDeleting(undefined)}
          onConfirm={() => deleting && remove.mutate({ id: deleting.id })}
        >
          <p>
            Check-ins and new API keys can no longer name this store. If points were earned there, the store is archived rather than removed, so
            that its history keeps its name.
          </p>
        </ConfirmDialog>
      </section>
    </>
  );
}

function StoreRow({ store, onChanged, onDelete }: { store: Store; onChanged: (message: string) => void; onDelete: () => void }) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(store.name);
  const input = useRef<HTMLInputElement>(null);
  const renameButton = useRef<HTMLButtonElement>(null);
  const queryClient = useQueryClient();
  const rename = useMutation(BusinessSettings.method.updateStore, {
    onSuccess: (res) => {
      setEditing(false);
      onChanged(`Store renamed to “${res.store?.name ?? name}”.`);
      void queryClient.invalidateQueries();
    },
  });
  const wasEditing = useRef(false);
  useEffect(() => {
    if (editing) input.current?.focus();
    else if (wasEditing.current) renameButton.current?.focus();
    wasEditing.current = editing;
  }, [editing]);

  if (editing) {
    return (
      <tr data-testid="store-row" data-store-id={store.id}>
        <td colSpan={4} className="card-title">
          <form
            className="inline-form"
            aria-label={`Rename ${store.name}`}
            onSubmit={(e) => {
              e.preventDefault();
              rename.mutate({ id: store.id, name: name.trim() });
            }}
          >
            <Field label="New name">
              {(p) => <input {...p} ref={input} name="storeName" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />}
            </Field>
            <button type="submit" aria-disabled={rename.isPending}>
              {rename.isPending ? "Saving…" : "Save name"}
            </button>
            <button
              type="button"
              className="secondary"
              onClick={() => {
                setEditing(false);
                setName(store.name);
                rename.reset();
              }}
            >
              Cancel
            </button>
          </form>
          <ErrorMessage error={rename.error} testId="rename-store-error" />
        </td>
      </tr>
    );
  }
  return (
    <tr data-testid="store-row" data-store-id={store.id}>
      <td className="card-title">{store.name}</td>
      <td className="mono" data-label="Store id">
        {store.id}
      </td>
      <td data-label="Created">{formatDate(store.createdAt)}</td>
      <td className="row-actions">
        <button
          type="button"
          ref={renameButton}
          className="secondary small"
          aria-label={`Rename store “${store.name}”`}
          onClick={() => {
            setName(store.name);
            setEditing(true);
          }}
        >
          Rename
        </button>{" "}
        <button type="button" className="danger small" aria-label={`Delete store “${store.name}”`} onClick={onDelete}>
          Delete
        </button>
      </td>
    </tr>
  );
}
