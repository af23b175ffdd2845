import type { ConnectError } from "@connectrpc/connect";
import { useQueryClient } from "@tanstack/react-query";
import { createConnectQueryKey, useMutation, useQuery, useTransport } from "@connectrpc/connect-query";
import { useEffect, useState, type FormEvent } from "react";
import { BusinessSettings } from "../../../../gen/loyalty/v1/account_pb.js";
import { CustomerAdmin, type GetCustomerResponse } from "../../../../gen/loyalty/v1/admin_pb.js";
import { CustomerStatus, LedgerEntryType, type Customer, type ExpiringPoints, type LedgerEntry, type PointLot } from "../../../../gen/loyalty/v1/types_pb.js";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ConfirmDialog, ErrorMessage, Field, Notice, PageHeading, QueryState } from "../components/common.js";
import { EntryDetails, RefundAction, VoidAction } from "../components/lifecycle-actions.js";
import { useStoreNames } from "../components/store-picker.js";
import { RewardsRedeemPanel } from "../components/rewards-redeem.js";
import { customerName, formatDate, formatDateTime, formatDelta, formatLastValidDay, formatNumber, formatPoints, ledgerTypeLabel, statusLabel } from "../format.js";
import { href, navigate } from "../router.js";

/** One customer: balance, history, adjustments, details, block and delete. */
/** How often the open customer page asks for the balance and history again (a till may check them in meanwhile). */
const REFRESH_MS = 5_000;

export function CustomerPage({ id }: { id: string }) {
  // Polled while the tab is visible (TanStack Query pauses the interval in the background).
  const detail = useQuery(CustomerAdmin.method.getCustomer, { id }, { refetchInterval: REFRESH_MS, refetchIntervalInBackground: false });
  const customer = detail.data?.customer;

  return (
    <>
      <p className="breadcrumb">
        <a href={href("customers")}>← All customers</a>
      </p>
      {customer ? (
        <PageHeading>
          <span data-testid="customer-title">{customerName(customer)}</span>{" "}
          <span className={`badge badge-${statusLabel(customer.status).toLowerCase()}`} data-testid="customer-status">
            {statusLabel(customer.status)}
          </span>
        </PageHeading>
      ) : (
        <PageHeading>Customer</PageHeading>
      )}
      <QueryState query={detail} what="the customer" />
      {customer && detail.data ? (
        <>
          <section className="stats" aria-label="Balance">
            <div className="stat" data-testid="customer-balance">
              <p className="stat-label">Points balance</p>
              <p className="stat-value" data-testid="customer-balance-value">
                {formatNumber(detail.data.totalPoints)}
              </p>
              <p className="stat-note">{customer.rewardAvailable ? "A reward is available" : "No reward available yet"}</p>
            </div>
            <div className="stat">
              <p className="stat-label">Phone</p>
              <p className="stat-value stat-value-small mono">{customer.phone}</p>
              <p className="stat-note">Last visit: {formatDateTime(customer.lastVisitAt, "never")}</p>
            </div>
          </section>
          <div className="columns">
            <RewardsRedeemPanel customer={customer} balance={detail.data.totalPoints} />
            <AdjustPoints customer={customer} />
            <EditCustomer customer={customer} />
          </div>
          <Expiry expiring={detail.data.expiringPoints} lots={detail.data.lots} />
          <History entries={detail.data.pointsHistory} balance={detail.data.totalPoints} />
          <div className="columns">
            <BlockCustomer customer={customer} />
            <DeleteCustomer customer={customer} />
          </div>
        </>
      ) : null}
    </>
  );
}

/**
 * Points that will expire (contract §10): the soonest as a sentence ("120
 * points expire on 31 March 2027", marked when within the program's warning
 * days), then every lot. Shown only for a business with an expiry policy.
 */
function Expiry({ expiring, lots }: { expiring: ExpiringPoints[]; lots: PointLot[] }) {
  const program = useQuery(BusinessSettings.method.getProgram, {});
  const p = program.data?.program;
  if (lots.length === 0 && expiring.length === 0) return null;
  const zone = p?.timezone ?? "UTC";
  const warnMs = (p?.expiryWarningDays ?? 14) * 86_400_000;
  const soon = (e: ExpiringPoints) => e.expiresAt !== undefined && timestampDate(e.expiresAt).getTime() - Date.now() <= warnMs;
  const next = expiring[0];
  const lotStatus = (l: PointLot) => (l.remaining > 0 ? "Counting" : l.expired > 0 ? "Expired" : "Spent");
  return (
    <section className="panel" aria-labelledby="expiry-title" data-testid="expiry-panel">
      <h2 id="expiry-title">Expiring points</h2>
      {next ? (
        <p className={`expiry-next${soon(next) ? " expiry-soon" : ""}`} data-testid="next-expiry">
          {soon(next) ? <span className="badge badge-warning">Expiring soon</span> : null} {formatPoints(next.points)}{" "}
          {next.points === 1 ? "expires" : "expire"} on {formatLastValidDay(next.expiresAt, zone)}
        </p>
      ) : (
        <p className="empty" data-testid="next-expiry">No points will expire.</p>
      )}
      {expiring.length > 1 ? (
        <ul className="expiry-list" data-testid="expiry-list">
          {expiring.slice(1).map((e) => (
            <li key={String(e.expiresAt?.seconds)}>
              {formatPoints(e.points)} on {formatLastValidDay(e.expiresAt, zone)}
            </li>
          ))}
        </ul>
      ) : null}
      <p className="hint">
        {p && p.pointsExpireAfterMonths > 0
          ? `Points earned now count until the end of the month ${p.pointsExpireAfterMonths} ${p.pointsExpireAfterMonths === 1 ? "month" : "months"} later. Spending uses the points that expire soonest first.`
          : "Points earned now never expire. Spending uses the points that expire soonest first."}
      </p>
      {lots.length > 0 ? (
        <div className="table-wrap">
          <table data-testid="lots-table" className="cards">
            <caption className="visually-hidden">Points by the date they were earned, soonest expiry first</caption>
            <thead>
              <tr>
                <th scope="col">Earned</th>
                <th scope="col" className="num">
                  Points
                </th>
                <th scope="col" className="num">
                  Left
                </th>
                <th scope="col">Last day</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {lots.map((l) => (
                <tr key={l.id} data-testid="lot-row">
                  <td data-label="Earned">{formatDate(l.earnedAt)}</td>
                  <td className="num" data-label="Points">
                    {formatNumber(l.points)}
                  </td>
                  <td className="num" data-label="Left">
                    {formatNumber(l.remaining)}
                  </td>
                  <td data-label="Last day">{formatLastValidDay(l.expiresAt, zone)}</td>
                  <td data-label="State">{lotStatus(l)}{l.expired > 0 ? ` (${formatNumber(l.expired)} expired)` : ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

/** The largest change one adjustment may make (the API's bound). */
const MAX_ADJUSTMENT = 10_000_000;

function AdjustPoints({ customer }: { customer: Customer }) {
  const [direction, setDirection] = useState<"add" | "deduct">("add");
  const [points, setPoints] = useState("");
  const [reason, setReason] = useState("");
  const [done, setDone] = useState<string>();
  const [invalid, setInvalid] = useState<string>();
  const queryClient = useQueryClient();
  const adjust = useMutation(CustomerAdmin.method.adjustPoints, {
    onSuccess: (res) => {
      setDone(`${res.adjustment > 0 ? "Added" : "Deducted"} ${formatPoints(Math.abs(res.adjustment))}. New balance: ${formatPoints(res.newBalance)}.`);
      setPoints("");
      setReason("");
      void queryClient.invalidateQueries();
    },
  });
  // What was said about the last attempt goes as soon as the owner changes the form.
  const edit = <T,>(setter: (v: T) => void) => (v: T) => {
    setter(v);
    setDone(undefined);
    setInvalid(undefined);
    adjust.reset();
  };

  function submit(e: FormEvent) {
    e.preventDefault();
    setDone(undefined);
    adjust.reset();
    const n = Number(points.trim());
    if (points.trim() === "" || !Number.isInteger(n) || n < 1 || n > MAX_ADJUSTMENT) {
      setInvalid(`Points must be a whole number from 1 to ${formatNumber(MAX_ADJUSTMENT)}.`);
      return;
    }
    if (reason.trim() === "") {
      setInvalid("Give a reason: it is kept in the customer’s history.");
      return;
    }
    setInvalid(undefined);
    adjust.mutate({ id: customer.id, points: direction === "add" ? n : -n, reason: reason.trim() });
  }

  const describe = (err: ConnectError) =>
    err.rawMessage === "insufficient points"
      ? `${customerName(customer)} has ${formatPoints(customer.totalPoints)}, so you can deduct at most ${formatNumber(Math.max(0, customer.totalPoints))}.`
      : undefined;

  return (
    <section className="panel" aria-labelledby="adjust-title">
      <h2 id="adjust-title">Add or deduct points</h2>
      <form onSubmit={submit} data-testid="adjust-form" noValidate>
        <fieldset className="segmented">
          <legend>Change</legend>
          <label>
            <input type="radio" name="direction" value="add" checked={direction === "add"} onChange={() => edit(setDirection)("add")} /> Add points
          </label>
          <label>
            <input type="radio" name="direction" value="deduct" checked={direction === "deduct"} onChange={() => edit(setDirection)("deduct")} /> Deduct
            points
          </label>
        </fieldset>
        <Field label="Points" hint={direction === "add" ? "How many points to add." : `How many points to take away (at most ${formatNumber(Math.max(0, customer.totalPoints))}).`}>
          {(p) => (
            <input
              {...p}
              type="number"
              name="points"
              required
              min={1}
              max={direction === "add" ? MAX_ADJUSTMENT : Math.max(1, Math.min(MAX_ADJUSTMENT, customer.totalPoints))}
              step={1}
              inputMode="numeric"
              value={points}
              onChange={(e) => edit(setPoints)(e.target.value.replace(/^-+/, ""))}
            />
          )}
        </Field>
        <Field label="Reason" hint="Kept in the customer’s history, e.g. “Refund for cancelled order”.">
          {(p) => <input {...p} name="reason" required maxLength={500} value={reason} onChange={(e) => edit(setReason)(e.target.value)} />}
        </Field>
        {invalid ? (
          <p className="message message-error" role="alert" data-testid="adjust-error">
            {invalid}
          </p>
        ) : (
          <ErrorMessage error={adjust.error} testId="adjust-error" describe={describe} />
        )}
        <Notice testId="adjust-notice">{done}</Notice>
        <button type="submit" disabled={adjust.isPending}>
          {adjust.isPending ? "Saving…" : direction === "add" ? "Add points" : "Deduct points"}
        </button>
      </form>
    </section>
  );
}

function EditCustomer({ customer }: { customer: Customer }) {
  const [name, setName] = useState(customer.name);
  const [phone, setPhone] = useState(customer.phone);
  const [notes, setNotes] = useState(customer.notes);
  const [done, setDone] = useState<string>();
  const queryClient = useQueryClient();
  // A fresh copy from the server (another tab, a check-in) resets the form.
  useEffect(() => {
    setName(customer.name);
    setPhone(customer.phone);
    setNotes(customer.notes);
  }, [customer.name, customer.phone, customer.notes]);
  const update = useMutation(CustomerAdmin.method.updateCustomer, {
    onSuccess: () => {
      setDone("Details saved.");
      void queryClient.invalidateQueries();
    },
  });
  // "Details saved." and an old refusal go as soon as the owner edits again.
  const edit = (setter: (v: string) => void) => (v: string) => {
    setter(v);
    setDone(undefined);
    update.reset();
  };
  const changes = {
    ...(name.trim() !== customer.name ? { name: name.trim() } : {}),
    ...(phone.trim() !== customer.phone ? { phone: phone.trim() } : {}),
    ...(notes !== customer.notes ? { notes } : {}),
  };
  const dirty = Object.keys(changes).length > 0;

  function submit(e: FormEvent) {
    e.preventDefault();
    setDone(undefined);
    update.mutate({ id: customer.id, ...changes });
  }

  return (
    <section className="panel" aria-labelledby="edit-title">
      <h2 id="edit-title">Details</h2>
      <form onSubmit={submit} data-testid="edit-form">
        <Field label="Name">{(p) => <input {...p} name="name" maxLength={200} value={name} onChange={(e) => edit(setName)(e.target.value)} />}</Field>
        <Field label="Phone">{(p) => <input {...p} name="phone" type="tel" required value={phone} onChange={(e) => edit(setPhone)(e.target.value)} />}</Field>
        <Field label="Notes">
          {(p) => <textarea {...p} name="notes" rows={3} maxLength={2000} value={notes} onChange={(e) => edit(setNotes)(e.target.value)} />}
        </Field>
        <ErrorMessage error={update.error} testId="edit-error" />
        <Notice testId="edit-notice">{done}</Notice>
        <button type="submit" disabled={update.isPending || !dirty}>
          {update.isPending ? "Saving…" : "Save details"}
        </button>
      </form>
    </section>
  );
}

function History({ entries, balance }: { entries: LedgerEntry[]; balance: number }) {
  const keys = useQuery(BusinessSettings.method.listApiKeys, {});
  // Archived stores too: old history keeps their names.
  const storeName = useStoreNames();
  const keyById = new Map(keys.data?.apiKeys.map((k) => [k.id, k]) ?? []);

  // A check-in's promotion points (its PROMOTION entry names it): its refunds take them back in proportion too.
  const bonusOf = new Map<string, number>();
  for (const e of entries) if (e.type === LedgerEntryType.PROMOTION && e.checkinId) bonusOf.set(e.checkinId, (bonusOf.get(e.checkinId) ?? 0) + e.delta);

  function source(e: LedgerEntry): string {
    const parts: string[] = [];
    if (e.apiKeyId) {
      const key = keyById.get(e.apiKeyId);
      parts.push(key ? (key.name.trim() ? `Till “${key.name.trim()}” (${key.prefix}…)` : `Till (key ${key.prefix}…)`) : "Till");
    }
    else if (e.ownerId) parts.push("Owner");
    if (e.storeId) parts.push(e.storeName || storeName.get(e.storeId) || "Store");
    return parts.join(", ") || "—";
  }

  return (
    <section className="panel" aria-labelledby="history-title">
      <h2 id="history-title">Points history</h2>
      {entries.length === 0 ? (
        <p className="empty">No points yet.</p>
      ) : (
        <div className="table-wrap">
          <table data-testid="history-table" className="cards">
            <caption className="visually-hidden">Points history, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Type</th>
                <th scope="col">Reason</th>
                <th scope="col" className="num">
                  Points
                </th>
                <th scope="col" className="num">
                  Balance
                </th>
                <th scope="col">By</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id} data-testid="history-row">
                  <td data-label="When">{formatDateTime(e.createdAt)}</td>
                  <td data-label="Type">{ledgerTypeLabel(e.type)}</td>
                  <td data-label="Reason">
                    {/* One flex item on a phone's card: the reason, its details and its mark wrap as one text. */}
                    <span>
                      {e.reason}
                      <EntryDetails entry={e} />
                    </span>
                  </td>
                  <td className={`num ${e.delta < 0 ? "negative" : "positive"}`} data-label="Points" data-testid="history-delta">
                    {formatDelta(e.delta)}
                  </td>
                  <td className="num" data-label="Balance">
                    {formatNumber(e.balanceAfter)}
                  </td>
                  <td data-label="By">{source(e)}</td>
                  <td data-label="Actions">
                    <RefundAction entry={e} balance={balance} bonus={bonusOf.get(e.id) ?? 0} />
                    <VoidAction entry={e} balance={balance} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function BlockCustomer({ customer }: { customer: Customer }) {
  const blocked = customer.status === CustomerStatus.BLOCKED;
  const [done, setDone] = useState<string>();
  const queryClient = useQueryClient();
  const transport = useTransport();
  const update = useMutation(CustomerAdmin.method.updateCustomer, {
    onSuccess: (res) => {
      setDone(res.customer?.status === CustomerStatus.BLOCKED ? "Customer blocked." : "Customer unblocked.");
      // The badge changes with the answer, before any list is fetched again.
      if (res.customer) {
        const changed = res.customer;
        queryClient.setQueryData(
          createConnectQueryKey({ schema: CustomerAdmin.method.getCustomer, input: { id: customer.id }, transport, cardinality: "finite" }),
          (old: GetCustomerResponse | undefined) => (old?.customer ? { ...old, customer: { ...old.customer, status: changed.status } } : old),
        );
      }
      void queryClient.invalidateQueries();
    },
  });
  return (
    <section className="panel" aria-labelledby="status-title">
      <h2 id="status-title">Status</h2>
      <p>
        {blocked
          ? "This customer is blocked: the till refuses their check-ins and redemptions. You can still adjust their points."
          : "Blocking stops this customer from earning and redeeming points at the till until you unblock them."}
      </p>
      <ErrorMessage error={update.error} testId="status-error" />
      <Notice testId="status-notice">{done}</Notice>
      {/* One button whose label changes, never disabled (that would drop the focus): the focus stays on it. */}
      <button
        type="button"
        className={blocked ? "secondary" : "warning"}
        aria-disabled={update.isPending}
        data-testid="block-button"
        onClick={() => {
          if (update.isPending) return;
          setDone(undefined);
          update.mutate({ id: customer.id, status: blocked ? CustomerStatus.ACTIVE : CustomerStatus.BLOCKED });
        }}
      >
        {blocked ? "Unblock customer" : "Block customer"}
      </button>
    </section>
  );
}

function DeleteCustomer({ customer }: { customer: Customer }) {
  const [confirming, setConfirming] = useState(false);
  const queryClient = useQueryClient();
  const remove = useMutation(CustomerAdmin.method.deleteCustomer, {
    onSuccess: () => {
      setConfirming(false);
      queryClient.removeQueries();
      navigate("#/customers?deleted=1");
    },
  });
  return (
    <section className="panel" aria-labelledby="delete-title">
      <h2 id="delete-title">Delete customer</h2>
      <p>Deletes the customer and their points history permanently. This cannot be undone.</p>
      <ErrorMessage error={confirming ? undefined : remove.error} testId="delete-error" />
      <button
        type="button"
        className="danger"
        onClick={() => {
          remove.reset();
          setConfirming(true);
        }}
      >
        Delete customer…
      </button>
      <ConfirmDialog
        open={confirming}
        title={`Delete ${customerName(customer)}?`}
        confirmLabel="Delete permanently"
        busy={remove.isPending}
        error={remove.error}
        onCancel={() => setConfirming(false)}
        onConfirm={() => remove.mutate({ id: customer.id })}
      >
        <p>
          {customerName(customer)} ({customer.phone}) and their {formatPoints(customer.totalPoints)} will be deleted permanently. A new
          check-in with this phone number would enrol them again with no points.
        </p>
      </ConfirmDialog>
    </section>
  );
}
