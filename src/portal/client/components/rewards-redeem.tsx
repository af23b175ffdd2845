import { useQueryClient } from "@tanstack/react-query";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useState } from "react";
import { BusinessSettings } from "../../../../gen/loyalty/v1/account_pb.js";
import { CustomerAdmin } from "../../../../gen/loyalty/v1/admin_pb.js";
import type { Customer, Reward } from "../../../../gen/loyalty/v1/types_pb.js";
import { formatNumber } from "../format.js";
import { ConfirmDialog, ErrorMessage, Notice } from "./common.js";
import { StoreSelect } from "./store-picker.js";

/**
 * "Redeem a reward" at the counter (issue 15): every active reward of the
 * catalogue that the balance affords (and is in stock), cheapest first, each
 * with its Redeem button; the server applies the till's rules (stock,
 * per-customer limits) and its refusal is shown in words.
 */
export function RewardsRedeemPanel({ customer, balance }: { customer: Customer; balance: number }) {
  const program = useQuery(BusinessSettings.method.getProgram, {});
  const [chosen, setChosen] = useState<Reward>();
  const [storeId, setStoreId] = useState("");
  const [done, setDone] = useState<string>();
  const queryClient = useQueryClient();
  const redeem = useMutation(CustomerAdmin.method.redeemReward, {
    onSuccess: (res) => {
      setChosen(undefined);
      setDone(`Redeemed ${res.rewardTitle} for ${formatNumber(res.pointsRedeemed)} points. New balance: ${formatNumber(res.remainingPoints)}.`);
      void queryClient.invalidateQueries();
    },
  });
  const p = program.data?.program;
  if (!p) return null;
  const active = p.rewards.filter((r) => r.active && (r.stock === undefined || r.stock > 0));
  const affordable = active.filter((r) => r.cost <= balance).sort((a, b) => a.cost - b.cost);
  const cheapestOut = active.filter((r) => r.cost > balance).sort((a, b) => a.cost - b.cost)[0];
  return (
    <section className="panel" aria-labelledby="redeem-title">
      <h2 id="redeem-title">Redeem a reward</h2>
      <Notice testId="redeem-notice">{done}</Notice>
      <ErrorMessage error={chosen ? undefined : redeem.error} testId="redeem-error" />
      <StoreSelect label="At store" hint="Recorded on the redemption." none="No store" value={storeId} onChange={setStoreId} hideWhenNone />
      {affordable.length === 0 ? (
        <p data-testid="no-affordable-reward">
          No reward is affordable yet.
          {cheapestOut ? ` ${cheapestOut.title} needs ${formatNumber(cheapestOut.cost - balance)} more points.` : ""}
        </p>
      ) : (
        <ul className="reward-list" data-testid="affordable-rewards">
          {affordable.map((r) => (
            <li key={r.id}>
              <span>
                <strong>{r.title}</strong> — {formatNumber(r.cost)} points
                {r.stock !== undefined ? ` (${formatNumber(r.stock)} left)` : ""}
              </span>{" "}
              <button
                type="button"
                data-testid={`redeem-${r.id}`}
                onClick={() => {
                  redeem.reset();
                  setDone(undefined);
                  setChosen(r);
                }}
              >
                Redeem {r.title}
              </button>
            </li>
          ))}
        </ul>
      )}
      <ConfirmDialog
        open={chosen !== undefined}
        title={`Redeem ${chosen?.title ?? ""}?`}
        confirmLabel={`Redeem for ${formatNumber(chosen?.cost ?? 0)} points`}
        busy={redeem.isPending}
        error={redeem.error}
        onCancel={() => setChosen(undefined)}
        onConfirm={() => chosen && redeem.mutate({ id: customer.id, rewardId: chosen.id, quantity: 1, ...(storeId ? { storeId } : {}) })}
      >
        <p data-testid="redeem-summary">
          Takes {formatNumber(chosen?.cost ?? 0)} points. Balance after: {formatNumber(balance - (chosen?.cost ?? 0))}.
        </p>
      </ConfirmDialog>
    </section>
  );
}
