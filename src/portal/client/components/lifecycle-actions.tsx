import { useQueryClient } from "@tanstack/react-query";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useState } from "react";
import { BusinessSettings } from "../../../../gen/loyalty/v1/account_pb.js";
import { CustomerAdmin } from "../../../../gen/loyalty/v1/admin_pb.js";
import { LedgerEntryType, type LedgerEntry } from "../../../../gen/loyalty/v1/types_pb.js";
import { amountToMinorUnits, validateUnits } from "../../../domain/points.js";
import { planRefund, type RefundBasis, type RefundPlan } from "../../../domain/refunds.js";
import { formatMoney, formatNumber } from "../format.js";
import { ConfirmDialog, Notice } from "./common.js";

/**
 * The transaction lifecycle in the portal (contract §8): refund a check-in,
 * void a redemption (the counter's redeem is RewardsRedeemPanel). Each asks for
 * confirmation with the points that move and the balance that results,
 * computed with the server's own refund rule (src/domain/refunds.ts).
 */

/** Money as the till sent it, in the program's currency ("€25.50"). */
function useMoney(): (amount: number) => string {
  const program = useQuery(BusinessSettings.method.getProgram, {});
  const currency = program.data?.program?.currency || "EUR";
  return (amount: number) => formatMoney(amount, currency);
}

/** What a check-in's history entry tells about its refunds. */
function refundable(e: LedgerEntry): { basis: RefundBasis; original: number; refunded: number } {
  if (e.amount > 0) return { basis: "SPEND", original: Math.round(e.amount * 100), refunded: Math.round(e.refundedAmount * 100) };
  if (e.units > 0) return { basis: "UNIT", original: e.units, refunded: e.refundedUnits };
  return { basis: "WHOLE", original: 1, refunded: e.fullyRefunded ? 1 : 0 };
}

/** The details a history row shows beside the reason: amount spent, order, refund and void marks. */
export function EntryDetails({ entry: e }: { entry: LedgerEntry }) {
  const money = useMoney();
  const parts: string[] = [];
  if (e.type === LedgerEntryType.CHECKIN || e.type === LedgerEntryType.REFUND) {
    if (e.amount > 0) parts.push(`${e.type === LedgerEntryType.REFUND ? "refunded" : "spent"} ${money(e.amount)}`);
    if (e.units > 0) parts.push(`${formatNumber(e.units)} ${e.units === 1 ? "unit" : "units"}`);
  }
  if (e.orderRef) parts.push(`order ${e.orderRef}`);
  const mark =
    e.type === LedgerEntryType.CHECKIN && e.fullyRefunded
      ? "Refunded"
      : e.type === LedgerEntryType.CHECKIN && (e.refundedAmount > 0 || e.refundedUnits > 0)
        ? `Partly refunded (${e.refundedAmount > 0 ? money(e.refundedAmount) : formatNumber(e.refundedUnits)})`
        : e.type === LedgerEntryType.REDEMPTION && e.voided
          ? "Voided"
          : undefined;
  return (
    <>
      {parts.length ? <span className="entry-details"> · {parts.join(" · ")}</span> : null}
      {mark ? (
        <>
          {" "}
          <span className="badge badge-blocked" data-testid="entry-mark">
            {mark}
          </span>
        </>
      ) : null}
    </>
  );
}

/** "Refund" on a check-in that is not fully refunded: the whole rest, or a part. */
export function RefundAction({
  entry,
  balance,
  bonus = 0,
}: {
  entry: LedgerEntry;
  balance: number;
  /** The check-in's promotion points (its PROMOTION entries): refunds take them back in the same proportion. */
  bonus?: number;
}) {
  const money = useMoney();
  const [open, setOpen] = useState(false);
  const [whole, setWhole] = useState(true);
  const [part, setPart] = useState("");
  const [done, setDone] = useState<string>();
  const queryClient = useQueryClient();
  const refund = useMutation(CustomerAdmin.method.refundCheckin, {
    onSuccess: (res) => {
      setOpen(false);
      setDone(`Refunded: ${formatNumber(res.pointsReversed)} points taken back. New balance: ${formatNumber(res.totalPoints)}.`);
      void queryClient.invalidateQueries();
    },
  });
  if (entry.type !== LedgerEntryType.CHECKIN || entry.fullyRefunded) return null;
  const r = refundable(entry);
  const unit = r.basis === "SPEND" ? "amount" : "units";

  let plan: RefundPlan | undefined;
  let problem: string | undefined;
  let ask: { amount?: number; units?: number } = {};
  try {
    if (!whole && r.basis !== "WHOLE") {
      if (part.trim() === "") throw new Error(`Enter the ${unit} to refund.`);
      ask = r.basis === "SPEND" ? { amount: Number(part) } : { units: Number(part) };
    }
    const quantity = ask.amount !== undefined ? amountToMinorUnits(ask.amount) : ask.units !== undefined ? validateUnits(ask.units) : undefined;
    plan = planRefund(
      { basis: r.basis, original: r.original, earned: entry.delta + bonus, refunded: { quantity: r.refunded, points: entry.refundedPoints } },
      r.basis === "SPEND" ? { amountCents: quantity } : { units: quantity },
    );
  } catch (err) {
    problem = err instanceof Error ? err.message : String(err);
  }
  const left = r.basis === "SPEND" ? money((r.original - r.refunded) / 100) : formatNumber(r.original - r.refunded);

  return (
    <>
      <button
        type="button"
        className="secondary small"
        data-testid="refund-button"
        onClick={() => {
          refund.reset();
          setDone(undefined);
          setOpen(true);
        }}
      >
        Refund
      </button>
      <Notice testId="refund-notice">{done}</Notice>
      <ConfirmDialog
        open={open}
        title="Refund this check-in?"
        confirmLabel={plan ? `Refund and take back ${formatNumber(plan.points)} points` : "Refund"}
        busy={refund.isPending}
        error={refund.error}
        onCancel={() => setOpen(false)}
        onConfirm={() => {
          if (plan) refund.mutate({ checkinId: entry.id, ...ask });
        }}
      >
        {r.basis !== "WHOLE" ? (
          <fieldset className="segmented">
            <legend>What was refunded</legend>
            <label>
              <input type="radio" name={`whole-${entry.id}`} checked={whole} onChange={() => setWhole(true)} /> All that is left ({left})
            </label>
            <label>
              <input type="radio" name={`whole-${entry.id}`} checked={!whole} onChange={() => setWhole(false)} /> Part:{" "}
              <input
                aria-label={r.basis === "SPEND" ? "Amount refunded" : "Units refunded"}
                data-testid="refund-part"
                type="number"
                min={r.basis === "SPEND" ? 0.01 : 1}
                step={r.basis === "SPEND" ? 0.01 : 1}
                value={part}
                onFocus={() => setWhole(false)}
                onChange={(e) => setPart(e.target.value)}
              />
            </label>
          </fieldset>
        ) : (
          <p>A visit check-in is refunded whole.</p>
        )}
        {plan ? (
          <p data-testid="refund-summary">
            Takes back {formatNumber(plan.points)} points. Balance after: {formatNumber(balance - plan.points)}.
          </p>
        ) : (
          <p className="message message-error" role="alert">
            {problem}
          </p>
        )}
      </ConfirmDialog>
    </>
  );
}

/** "Void" on a redemption that is not voided: the points come back. */
export function VoidAction({ entry, balance }: { entry: LedgerEntry; balance: number }) {
  const [open, setOpen] = useState(false);
  const [done, setDone] = useState<string>();
  const queryClient = useQueryClient();
  const cancel = useMutation(CustomerAdmin.method.voidRedemption, {
    onSuccess: (res) => {
      setOpen(false);
      setDone(`Voided: ${formatNumber(res.pointsRestored)} points given back. New balance: ${formatNumber(res.totalPoints)}.`);
      void queryClient.invalidateQueries();
    },
  });
  if (entry.type !== LedgerEntryType.REDEMPTION || entry.voided) return null;
  const points = -entry.delta;
  return (
    <>
      <button
        type="button"
        className="secondary small"
        data-testid="void-button"
        onClick={() => {
          cancel.reset();
          setDone(undefined);
          setOpen(true);
        }}
      >
        Void
      </button>
      <Notice testId="void-notice">{done}</Notice>
      <ConfirmDialog
        open={open}
        title="Void this redemption?"
        confirmLabel={`Void and give back ${formatNumber(points)} points`}
        busy={cancel.isPending}
        error={cancel.error}
        onCancel={() => setOpen(false)}
        onConfirm={() => cancel.mutate({ redemptionId: entry.redemptionId })}
      >
        <p data-testid="void-summary">
          Gives back {formatNumber(points)} points. Balance after: {formatNumber(balance + points)}.
        </p>
      </ConfirmDialog>
    </>
  );
}
