import { useQueryClient } from "@tanstack/react-query";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useState, type FormEvent } from "react";
import { BusinessSettings } from "../../../../gen/loyalty/v1/account_pb.js";
import { ErrorMessage, Field, Notice, PageHeading, QueryState } from "../components/common.js";
import { formatDate } from "../format.js";

/** The business's shops and tills: an API key or a check-in names one by its id. */
export function StoresPage() {
  const stores = useQuery(BusinessSettings.method.listStores, {});
  const [name, setName] = useState("");
  const [done, setDone] = useState<string>();
  const queryClient = useQueryClient();
  const create = useMutation(BusinessSettings.method.createStore, {
    onSuccess: (res) => {
      setDone(`Store “${res.store?.name ?? name}” created.`);
      setName("");
      void queryClient.invalidateQueries();
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
            {(p) => <input {...p} name="storeName" required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />}
          </Field>
          <button type="submit" disabled={create.isPending}>
            {create.isPending ? "Adding…" : "Add store"}
          </button>
        </form>
        <ErrorMessage error={create.error} testId="store-error" />
        <Notice testId="store-notice">{done}</Notice>
      </section>
      <section className="panel" aria-labelledby="stores-title">
        <h2 id="stores-title">Your stores</h2>
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
                </tr>
              </thead>
              <tbody>
                {stores.data.stores.map((s) => (
                  <tr key={s.id} data-testid="store-row">
                    <td className="card-title">{s.name}</td>
                    <td className="mono" data-label="Store id">
                      {s.id}
                    </td>
                    <td data-label="Created">{formatDate(s.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </section>
    </>
  );
}
