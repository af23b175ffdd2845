import { useQueryClient } from "@tanstack/react-query";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { BusinessSettings, type UpdateProgramRequest } from "../../../../gen/loyalty/v1/account_pb.js";
import { ProgramMode, type Program } from "../../../../gen/loyalty/v1/types_pb.js";
import { ErrorMessage, Field, Notice, PageHeading, QueryState } from "../components/common.js";
import { CountrySelect } from "../components/country-select.js";
import { formatMoney, formatPoints } from "../format.js";

const MODES = [
  [ProgramMode.SPEND, "Spend", (currency: string) => `Points for every ${formatMoney(1, currency)} spent (the check-in’s amount).`],
  [ProgramMode.UNIT, "Unit", () => "Points for every item bought (the check-in’s units)."],
  [ProgramMode.VISIT, "Visit", () => "The same points for every check-in."],
] as const;

/** Every ISO 4217 currency the browser can name, by name. */
function currencyOptions(current: string): { code: string; name: string }[] {
  const names = new Intl.DisplayNames(undefined, { type: "currency", fallback: "code" });
  const codes = new Set(Intl.supportedValuesOf("currency"));
  codes.add(current);
  return [...codes].map((code) => ({ code, name: `${names.of(code) ?? code} (${code})` })).sort((a, b) => a.name.localeCompare(b.name));
}

/** The loyalty program: how check-ins earn points and what a reward costs. */
export function ProgramPage() {
  const program = useQuery(BusinessSettings.method.getProgram, {});
  return (
    <>
      <PageHeading>Program</PageHeading>
      <QueryState query={program} what="the program" />
      {program.data?.program ? <ProgramForm program={program.data.program} /> : null}
    </>
  );
}

interface Draft {
  mode: ProgramMode;
  pointsPerCurrencyUnit: string;
  pointsPerUnit: string;
  pointsPerVisit: string;
  rewardThreshold: string;
  rewardTitle: string;
  defaultCountry: string;
  currency: string;
  pointsExpireAfterMonths: string;
  expiryWarningDays: string;
}

function draftOf(p: Program): Draft {
  return {
    mode: p.mode,
    pointsPerCurrencyUnit: String(p.pointsPerCurrencyUnit),
    pointsPerUnit: String(p.pointsPerUnit),
    pointsPerVisit: String(p.pointsPerVisit),
    rewardThreshold: String(p.rewardThreshold),
    rewardTitle: p.rewardTitle,
    defaultCountry: p.defaultCountry,
    currency: p.currency || "EUR",
    pointsExpireAfterMonths: String(p.pointsExpireAfterMonths),
    expiryWarningDays: String(p.expiryWarningDays),
  };
}

/** What a check-in of 25.50 (or 3 units, or one visit) would earn with the draft. */
function example(d: Draft): string {
  if (d.mode === ProgramMode.SPEND) {
    const hundredths = Math.round(Number(d.pointsPerCurrencyUnit) * 100);
    if (!Number.isFinite(hundredths) || hundredths <= 0) return "";
    return `A purchase of ${formatMoney(25.5, d.currency)} earns ${formatPoints(Math.floor((2550 * hundredths) / 10_000))}.`;
  }
  if (d.mode === ProgramMode.UNIT) {
    const n = Number(d.pointsPerUnit);
    return Number.isInteger(n) && n > 0 ? `Buying 3 items earns ${formatPoints(3 * n)}.` : "";
  }
  const n = Number(d.pointsPerVisit);
  return Number.isInteger(n) && n > 0 ? `Every check-in earns ${formatPoints(n)}.` : "";
}

function ProgramForm({ program }: { program: Program }) {
  const [draft, setDraft] = useState(() => draftOf(program));
  const currencies = useMemo(() => currencyOptions(program.currency || "EUR"), [program.currency]);
  const [done, setDone] = useState<string>();
  const queryClient = useQueryClient();
  useEffect(() => setDraft(draftOf(program)), [program]);
  const update = useMutation(BusinessSettings.method.updateProgram, {
    onSuccess: () => {
      setDone("Program saved. New check-ins use these settings.");
      void queryClient.invalidateQueries();
    },
  });
  const set = (changes: Partial<Draft>) => {
    setDone(undefined);
    setDraft((d) => ({ ...d, ...changes }));
  };

  function submit(e: FormEvent) {
    e.preventDefault();
    const req: Partial<UpdateProgramRequest> = {};
    const before = draftOf(program);
    if (draft.mode !== before.mode) req.mode = draft.mode;
    if (draft.pointsPerCurrencyUnit !== before.pointsPerCurrencyUnit) req.pointsPerCurrencyUnit = Number(draft.pointsPerCurrencyUnit);
    if (draft.pointsPerUnit !== before.pointsPerUnit) req.pointsPerUnit = Number(draft.pointsPerUnit);
    if (draft.pointsPerVisit !== before.pointsPerVisit) req.pointsPerVisit = Number(draft.pointsPerVisit);
    if (draft.rewardThreshold !== before.rewardThreshold) req.rewardThreshold = Number(draft.rewardThreshold);
    if (draft.rewardTitle !== before.rewardTitle) req.rewardTitle = draft.rewardTitle.trim();
    if (draft.defaultCountry !== before.defaultCountry) req.defaultCountry = draft.defaultCountry;
    if (draft.currency !== before.currency) req.currency = draft.currency;
    if (draft.pointsExpireAfterMonths !== before.pointsExpireAfterMonths) req.pointsExpireAfterMonths = Number(draft.pointsExpireAfterMonths);
    if (draft.expiryWarningDays !== before.expiryWarningDays) req.expiryWarningDays = Number(draft.expiryWarningDays);
    if (Object.keys(req).length === 0) {
      setDone("Nothing to save: no setting changed.");
      return;
    }
    update.mutate(req);
  }

  return (
    <form onSubmit={submit} className="panel" data-testid="program-form" aria-label="Program settings">
      <fieldset className="modes">
        <legend>How customers earn points</legend>
        {MODES.map(([mode, label, description]) => (
          <label key={mode} className="mode-option">
            <input type="radio" name="mode" value={label.toUpperCase()} checked={draft.mode === mode} onChange={() => set({ mode })} />
            <span>
              <strong>{label}</strong>
              <span className="hint">{description(draft.currency)}</span>
            </span>
          </label>
        ))}
      </fieldset>
      <div className="grid-form">
        {draft.mode === ProgramMode.SPEND ? (
          <Field label={`Points per ${formatMoney(1, draft.currency)} spent`} hint="More than 0, up to 1,000, at most 2 decimals.">
            {(p) => (
              <input
                {...p}
                type="number"
                name="pointsPerCurrencyUnit"
                required
                min={0.01}
                max={1000}
                step={0.01}
                inputMode="decimal"
                value={draft.pointsPerCurrencyUnit}
                onChange={(e) => set({ pointsPerCurrencyUnit: e.target.value })}
              />
            )}
          </Field>
        ) : null}
        {draft.mode === ProgramMode.UNIT ? (
          <Field label="Points per unit" hint="1 to 10,000.">
            {(p) => (
              <input {...p} type="number" name="pointsPerUnit" required min={1} max={10000} step={1} value={draft.pointsPerUnit} onChange={(e) => set({ pointsPerUnit: e.target.value })} />
            )}
          </Field>
        ) : null}
        {draft.mode === ProgramMode.VISIT ? (
          <Field label="Points per visit" hint="1 to 10,000.">
            {(p) => (
              <input {...p} type="number" name="pointsPerVisit" required min={1} max={10000} step={1} value={draft.pointsPerVisit} onChange={(e) => set({ pointsPerVisit: e.target.value })} />
            )}
          </Field>
        ) : null}
        <Field label="Reward threshold" hint="Points one reward costs (1 to 1,000,000).">
          {(p) => (
            <input {...p} type="number" name="rewardThreshold" required min={1} max={1000000} step={1} value={draft.rewardThreshold} onChange={(e) => set({ rewardThreshold: e.target.value })} />
          )}
        </Field>
        <Field label="Reward title" hint="What the customer gets, e.g. “Free Coffee”.">
          {(p) => <input {...p} name="rewardTitle" required maxLength={100} value={draft.rewardTitle} onChange={(e) => set({ rewardTitle: e.target.value })} />}
        </Field>
        <Field label="Currency" hint="The currency of the amounts your till sends.">
          {(p) => (
            <select {...p} name="currency" value={draft.currency} onChange={(e) => set({ currency: e.target.value })}>
              {currencies.map((c) => (
                <option key={c.code} value={c.code}>
                  {c.name}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Country for local phone numbers" hint="Numbers typed without a country code are read as numbers of this country.">
          {(p) => <CountrySelect {...p} name="defaultCountry" value={draft.defaultCountry} onChange={(defaultCountry) => set({ defaultCountry })} />}
        </Field>
        <Field
          label="Points expire after (months)"
          hint="0 = never. Otherwise points count until the end of the month this many months after they were earned (0 to 60). A change applies to points earned from then on."
        >
          {(p) => (
            <input {...p} type="number" name="pointsExpireAfterMonths" required min={0} max={60} step={1} value={draft.pointsExpireAfterMonths} onChange={(e) => set({ pointsExpireAfterMonths: e.target.value })} />
          )}
        </Field>
        <Field label="Expiry warning (days)" hint="Points this close to their last day show as expiring soon (0 to 90).">
          {(p) => (
            <input {...p} type="number" name="expiryWarningDays" required min={0} max={90} step={1} value={draft.expiryWarningDays} onChange={(e) => set({ expiryWarningDays: e.target.value })} />
          )}
        </Field>
      </div>
      <p className="hint" data-testid="program-example">
        {example(draft)}
      </p>
      <ErrorMessage error={update.error} testId="program-error" />
      <Notice testId="program-notice">{done}</Notice>
      <button type="submit" disabled={update.isPending}>
        {update.isPending ? "Saving…" : "Save program"}
      </button>
    </form>
  );
}
