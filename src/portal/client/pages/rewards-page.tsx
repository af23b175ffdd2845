import { useQueryClient } from "@tanstack/react-query";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useState, type FormEvent } from "react";
import { BusinessSettings } from "../../../../gen/loyalty/v1/account_pb.js";
import type { Reward } from "../../../../gen/loyalty/v1/types_pb.js";
import { ErrorMessage, Field, Notice, PageHeading, QueryState } from "../components/common.js";
import { formatNumber } from "../format.js";

/** Optional whole number from a text field: "" = absent. */
const optionalNumber = (s: string) => (s.trim() === "" ? undefined : Number(s));

/**
 * The rewards catalogue (issue 15): list with stock left and redeemed
 * counts, add, edit, deactivate. The default reward is the program's
 * reward (its title and cost are the Program page's); it cannot be
 * deactivated.
 */
export function RewardsPage() {
  const rewards = useQuery(BusinessSettings.method.listRewards, {});
  const [title, setTitle] = useState("");
  const [cost, setCost] = useState("");
  const [stock, setStock] = useState("");
  const [limit, setLimit] = useState("");
  const [done, setDone] = useState<string>();
  const queryClient = useQueryClient();
  const create = useMutation(BusinessSettings.method.createReward, {
    onSuccess: (res) => {
      setDone(`Reward “${res.reward?.title ?? title}” added.`);
      setTitle("");
      setCost("");
      setStock("");
      setLimit("");
      void queryClient.invalidateQueries();
    },
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    setDone(undefined);
    create.mutate({ title: title.trim(), cost: Number(cost), stock: optionalNumber(stock), perCustomerLimit: optionalNumber(limit) });
  }

  return (
    <>
      <PageHeading>Rewards</PageHeading>
      <p className="lead">What customers can swap their points for. The till redeems one by its id; the cheapest affordable ones are offered first.</p>
      <section className="panel" aria-labelledby="new-reward-title">
        <h2 id="new-reward-title">Add a reward</h2>
        <form onSubmit={submit} className="inline-form" data-testid="reward-form">
          <Field label="Title">{(p) => <input {...p} name="title" required maxLength={100} value={title} onChange={(e) => setTitle(e.target.value)} />}</Field>
          <Field label="Cost in points">
            {(p) => <input {...p} name="cost" type="number" required min={1} max={10000000} value={cost} onChange={(e) => setCost(e.target.value)} />}
          </Field>
          <Field label="Stock (empty = unlimited)">
            {(p) => <input {...p} name="stock" type="number" min={0} value={stock} onChange={(e) => setStock(e.target.value)} />}
          </Field>
          <Field label="Per customer (empty = no limit)">
            {(p) => <input {...p} name="perCustomerLimit" type="number" min={1} value={limit} onChange={(e) => setLimit(e.target.value)} />}
          </Field>
          <button type="submit" disabled={create.isPending}>
            {create.isPending ? "Adding…" : "Add reward"}
          </button>
        </form>
        <ErrorMessage error={create.error} testId="reward-error" />
      </section>
      <section className="panel" aria-labelledby="rewards-title">
        <h2 id="rewards-title" tabIndex={-1}>
          Catalogue
        </h2>
        <Notice testId="reward-notice">{done}</Notice>
        <QueryState query={rewards} what="rewards" />
        {rewards.data ? (
          <div className="table-wrap">
            <table data-testid="rewards-table" className="cards">
              <caption className="visually-hidden">Rewards, the default reward first</caption>
              <thead>
                <tr>
                  <th scope="col">Reward</th>
                  <th scope="col">Cost</th>
                  <th scope="col">Stock left</th>
                  <th scope="col">Per customer</th>
                  <th scope="col">Redeemed</th>
                  <th scope="col">Status</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rewards.data.rewards.map((r) => (
                  <RewardRow key={r.id} reward={r} onChanged={setDone} />
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </section>
    </>
  );
}

function RewardRow({ reward, onChanged }: { reward: Reward; onChanged: (message: string) => void }) {
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState(reward.title);
  const [cost, setCost] = useState(String(reward.cost));
  const [stock, setStock] = useState(reward.stock === undefined ? "" : String(reward.stock));
  const queryClient = useQueryClient();
  const update = useMutation(BusinessSettings.method.updateReward, {
    onSuccess: (res) => {
      setEditing(false);
      onChanged(`Reward “${res.reward?.title}” saved.`);
      void queryClient.invalidateQueries();
    },
  });
  const deactivate = useMutation(BusinessSettings.method.deactivateReward, {
    onSuccess: (res) => {
      onChanged(`Reward “${res.reward?.title}” deactivated: it is no longer offered.`);
      void queryClient.invalidateQueries();
    },
  });
  return (
    <tr data-testid={`reward-${reward.id}`}>
      <td data-label="Reward">
        {editing ? (
          <input aria-label="Title" value={title} maxLength={100} onChange={(e) => setTitle(e.target.value)} />
        ) : (
          <>
            {reward.title}
            {reward.isDefault ? <span className="badge"> default</span> : null}
          </>
        )}
      </td>
      <td data-label="Cost">
        {editing ? <input aria-label="Cost" type="number" min={1} value={cost} onChange={(e) => setCost(e.target.value)} /> : `${formatNumber(reward.cost)} points`}
      </td>
      <td data-label="Stock left">
        {editing ? (
          <input aria-label="Stock" type="number" min={0} placeholder="unlimited" value={stock} onChange={(e) => setStock(e.target.value)} />
        ) : reward.stock === undefined ? (
          "Unlimited"
        ) : (
          formatNumber(reward.stock)
        )}
      </td>
      <td data-label="Per customer">{reward.perCustomerLimit === undefined ? "No limit" : formatNumber(reward.perCustomerLimit)}</td>
      <td data-label="Redeemed">{formatNumber(reward.redeemedCount)}</td>
      <td data-label="Status">{reward.active ? "Active" : "Inactive"}</td>
      <td>
        {editing ? (
          <>
            <button
              type="button"
              disabled={update.isPending}
              onClick={() =>
                update.mutate({
                  id: reward.id,
                  title: title.trim(),
                  cost: Number(cost),
                  ...(stock.trim() === "" ? { clearStock: true } : { stock: Number(stock) }),
                })
              }
            >
              Save
            </button>{" "}
            <button type="button" className="secondary" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </>
        ) : (
          <>
            <button type="button" className="secondary" onClick={() => setEditing(true)}>
              Edit
            </button>{" "}
            {reward.active && !reward.isDefault ? (
              <button type="button" className="secondary" disabled={deactivate.isPending} onClick={() => deactivate.mutate({ id: reward.id })}>
                Deactivate
              </button>
            ) : null}
            {!reward.active ? (
              <button type="button" className="secondary" onClick={() => update.mutate({ id: reward.id, active: true })}>
                Activate
              </button>
            ) : null}
          </>
        )}
        <ErrorMessage error={update.error ?? deactivate.error} />
      </td>
    </tr>
  );
}
