import { useQueryClient } from "@tanstack/react-query";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { DateTime } from "luxon";
import { useState, type FormEvent } from "react";
import { BusinessSettings } from "../../../../gen/loyalty/v1/account_pb.js";
import { PromotionKind, UsePeriod, Weekday, type Promotion } from "../../../../gen/loyalty/v1/types_pb.js";
import { ErrorMessage, Field, Notice, PageHeading, QueryState } from "../components/common.js";
import { StoreChecklist, useStoreNames } from "../components/store-picker.js";
import { formatDateInZone } from "../format.js";

const DAYS: [Weekday, string][] = [
  [Weekday.MON, "Mon"],
  [Weekday.TUE, "Tue"],
  [Weekday.WED, "Wed"],
  [Weekday.THU, "Thu"],
  [Weekday.FRI, "Fri"],
  [Weekday.SAT, "Sat"],
  [Weekday.SUN, "Sun"],
];

/**
 * Promotions (issue 15): double-points days and bonuses. Each shows the
 * server's plain-language summary ("Double points on Tuesdays 14:00–17:00,
 * Dublin time"); one can be edited (name, window) or ended now. At most 10
 * are active; the newest that qualifies applies to a check-in.
 */
export function PromotionsPage() {
  const list = useQuery(BusinessSettings.method.listPromotions, {});
  const storeNames = useStoreNames();
  const program = useQuery(BusinessSettings.method.getProgram, {});
  const [name, setName] = useState("");
  const [kind, setKind] = useState<"MULTIPLIER" | "BONUS">("MULTIPLIER");
  const [value, setValue] = useState("2");
  const [days, setDays] = useState<Weekday[]>([]);
  const [startTime, setStartTime] = useState("");
  const [endTime, setEndTime] = useState("");
  const [ends, setEnds] = useState("");
  const [minAmount, setMinAmount] = useState("");
  const [maxUses, setMaxUses] = useState("");
  const [per, setPer] = useState<UsePeriod>(UsePeriod.ALL_TIME);
  const [storeIds, setStoreIds] = useState<string[]>([]);
  const [done, setDone] = useState<string>();
  const queryClient = useQueryClient();
  const create = useMutation(BusinessSettings.method.createPromotion, {
    onSuccess: (res) => {
      setDone(`Promotion “${res.promotion?.name}” created: ${res.promotion?.summary}.`);
      setName("");
      setStoreIds([]);
      void queryClient.invalidateQueries();
    },
  });

  function submit(e: FormEvent) {
    e.preventDefault();
    setDone(undefined);
    create.mutate({
      name: name.trim(),
      kind: kind === "MULTIPLIER" ? PromotionKind.MULTIPLIER : PromotionKind.BONUS,
      ...(kind === "MULTIPLIER" ? { multiplier: Number(value) } : { bonusPoints: Number(value) }),
      weekdays: days,
      ...(startTime || endTime ? { startTime, endTime } : {}),
      // The promotion stops at the start of that day in the program's zone (not the browser's), by luxon.
      ...(ends ? { endsAt: timestampFromDate(DateTime.fromISO(`${ends}T00:00:00`, { zone: zone || "UTC" }).toJSDate()) } : {}),
      ...(minAmount ? { minAmount: Number(minAmount) } : {}),
      ...(maxUses ? { maxUsesPerCustomer: Number(maxUses), per } : {}),
      storeIds,
    });
  }

  const zone = program.data?.program?.timezone ?? "";
  const currency = program.data?.program?.currency || "EUR";
  return (
    <>
      <PageHeading>Promotions</PageHeading>
      <p className="lead">
        Extra points for chosen days, hours or spends. Times are the program’s time zone{zone ? ` (${zone})` : ""}. One promotion applies per check-in: the
        newest that qualifies.
      </p>
      <section className="panel" aria-labelledby="new-promotion-title">
        <h2 id="new-promotion-title">Create a promotion</h2>
        <form onSubmit={submit} className="stacked-form" data-testid="promotion-form">
          <Field label="Name">{(p) => <input {...p} name="name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
          <Field label="Kind">
            {(p) => (
              <select {...p} name="kind" value={kind} onChange={(e) => setKind(e.target.value as "MULTIPLIER" | "BONUS")}>
                <option value="MULTIPLIER">Multiply the points</option>
                <option value="BONUS">Bonus points</option>
              </select>
            )}
          </Field>
          <Field label={kind === "MULTIPLIER" ? "Multiplier (1.01–10)" : "Bonus points"}>
            {(p) => <input {...p} name="value" type="number" step={kind === "MULTIPLIER" ? "0.01" : "1"} required value={value} onChange={(e) => setValue(e.target.value)} />}
          </Field>
          <fieldset>
            <legend>Days (none = every day)</legend>
            {DAYS.map(([d, label]) => (
              <label key={d} className="checkbox">
                <input
                  type="checkbox"
                  name={`day-${label}`}
                  checked={days.includes(d)}
                  onChange={(e) => setDays(e.target.checked ? [...days, d] : days.filter((x) => x !== d))}
                />{" "}
                {label}
              </label>
            ))}
          </fieldset>
          <Field label="From (HH:MM, optional)">{(p) => <input {...p} name="startTime" placeholder="14:00" value={startTime} onChange={(e) => setStartTime(e.target.value)} />}</Field>
          <Field label="Until (HH:MM)" hint="Before the start to run overnight (22:00 until 02:00): it counts as the day it starts.">
            {(p) => <input {...p} name="endTime" placeholder="17:00" value={endTime} onChange={(e) => setEndTime(e.target.value)} />}
          </Field>
          <StoreChecklist legend="Stores (none = every store)" value={storeIds} onChange={setStoreIds} />
          <Field label="Ends on (optional; the promotion stops at the start of that day)">{(p) => <input {...p} name="ends" type="date" value={ends} onChange={(e) => setEnds(e.target.value)} />}</Field>
          <Field label={`Minimum spend in ${currency} (optional)`}>{(p) => <input {...p} name="minAmount" type="number" step="0.01" min={0} value={minAmount} onChange={(e) => setMinAmount(e.target.value)} />}</Field>
          <Field label="Uses per customer (optional)">{(p) => <input {...p} name="maxUses" type="number" min={1} value={maxUses} onChange={(e) => setMaxUses(e.target.value)} />}</Field>
          <Field label="Counted">
            {(p) => (
              <select {...p} name="per" value={per} onChange={(e) => setPer(Number(e.target.value) as UsePeriod)}>
                <option value={UsePeriod.ALL_TIME}>in all</option>
                <option value={UsePeriod.DAY}>per day</option>
              </select>
            )}
          </Field>
          <button type="submit" disabled={create.isPending}>
            {create.isPending ? "Creating…" : "Create promotion"}
          </button>
        </form>
        <ErrorMessage error={create.error} testId="promotion-error" />
      </section>
      <section className="panel" aria-labelledby="promotions-title">
        <h2 id="promotions-title" tabIndex={-1}>
          Your promotions
        </h2>
        <Notice testId="promotion-notice">{done}</Notice>
        <QueryState query={list} what="promotions" />
        {list.data && list.data.promotions.length === 0 ? <p className="empty">No promotions yet.</p> : null}
        {list.data && list.data.promotions.length > 0 ? (
          <ul className="promotion-list" data-testid="promotions-list">
            {list.data.promotions.map((p) => (
              <PromotionItem key={p.id} promotion={p} onChanged={setDone} storeNames={storeNames} zone={zone} />
            ))}
          </ul>
        ) : null}
      </section>
    </>
  );
}

function PromotionItem({
  promotion,
  onChanged,
  storeNames,
  zone,
}: {
  promotion: Promotion;
  onChanged: (m: string) => void;
  storeNames: Map<string, string>;
  /** The program's zone: the dates are its days. */
  zone: string;
}) {
  const [editing, setEditing] = useState(false);
  const [storeIds, setStoreIds] = useState(promotion.storeIds);
  const [name, setName] = useState(promotion.name);
  const [startTime, setStartTime] = useState(promotion.startTime);
  const [endTime, setEndTime] = useState(promotion.endTime);
  const queryClient = useQueryClient();
  const update = useMutation(BusinessSettings.method.updatePromotion, {
    onSuccess: (res) => {
      setEditing(false);
      onChanged(`Promotion “${res.promotion?.name}” saved: ${res.promotion?.summary}.`);
      void queryClient.invalidateQueries();
    },
  });
  const end = useMutation(BusinessSettings.method.endPromotion, {
    onSuccess: (res) => {
      onChanged(`Promotion “${res.promotion?.name}” ended.`);
      void queryClient.invalidateQueries();
    },
  });
  return (
    <li data-testid={`promotion-${promotion.id}`}>
      <p>
        <strong>{promotion.name}</strong> — <span data-testid="promotion-summary">{promotion.summary}</span>{" "}
        <span className="badge">{promotion.active ? "Active" : "Ended"}</span>
      </p>
      <p className="hint">
        From {formatDateInZone(promotion.startsAt, zone)}
        {promotion.endsAt ? <span data-testid="promotion-until">{` until ${formatDateInZone(promotion.endsAt, zone)}`}</span> : null}
        {promotion.storeIds.length > 0 ? (
          <span data-testid="promotion-stores">{` · at ${promotion.storeIds.map((id) => storeNames.get(id) ?? "a deleted store").join(", ")}`}</span>
        ) : null}
      </p>
      {editing ? (
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            // An empty list leaves the stores as they are: "every store" is said by clearStoreIds.
            update.mutate({ id: promotion.id, name: name.trim(), startTime, endTime, weekdays: [], storeIds, clearStoreIds: storeIds.length === 0 });
          }}
        >
          <Field label="Name">{(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
          <Field label="From (HH:MM)">{(p) => <input {...p} value={startTime} onChange={(e) => setStartTime(e.target.value)} />}</Field>
          <Field label="Until (HH:MM)">{(p) => <input {...p} value={endTime} onChange={(e) => setEndTime(e.target.value)} />}</Field>
          <StoreChecklist legend="Stores (none = every store)" value={storeIds} onChange={setStoreIds} />
          <button type="submit" disabled={update.isPending}>
            Save
          </button>{" "}
          <button type="button" className="secondary" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      ) : promotion.active ? (
        <p>
          <button type="button" className="secondary" onClick={() => setEditing(true)}>
            Edit
          </button>{" "}
          <button type="button" className="secondary" disabled={end.isPending} onClick={() => end.mutate({ id: promotion.id })}>
            End now
          </button>
        </p>
      ) : null}
      <ErrorMessage error={update.error ?? end.error} />
    </li>
  );
}
