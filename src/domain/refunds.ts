import { DomainError, invalidArgument } from "./errors.js";
import { amountToMinorUnits, validateUnits } from "./points.js";

/**
 * What a check-in's refunds are measured in, from what the check-in recorded
 * (not from today's program, which may have changed mode since): the amount
 * in cents (SPEND), the units (UNIT), or the check-in as one whole (VISIT,
 * and check-ins credited before amounts were recorded).
 */
export type RefundBasis = "SPEND" | "UNIT" | "WHOLE";

/** A check-in as its refunds see it. */
export interface RefundableCheckin {
  basis: RefundBasis;
  /** The check-in's amount in cents (SPEND), its units (UNIT), or 1 (WHOLE). */
  original: number;
  /** Points it earned in total: its own and its promotion's. */
  earned: number;
  /** What its refunds took so far: in the basis's measure, and in points. */
  refunded: { quantity: number; points: number };
}

/** What a refund asks for, validated: cents or units, or neither (all that is left). */
export interface RefundAsk {
  amountCents?: number;
  units?: number;
}

/** One refund, planned. */
export interface RefundPlan {
  /** Cents (SPEND), units (UNIT) or 1 (WHOLE) refunded by this refund. */
  quantity: number;
  /** Points it takes back (≥ 0). */
  points: number;
  /** Nothing is left of the check-in after it. */
  completes: boolean;
}

/** Checks the amount/units fields of a refund request before anything is read. */
export function refundAsk(amount: number | undefined, units: number | undefined): RefundAsk {
  if (amount !== undefined && units !== undefined) throw invalidArgument("give amount or units, not both");
  if (amount !== undefined) return { amountCents: amountToMinorUnits(amount) };
  if (units !== undefined) return { units: validateUnits(units) };
  return {};
}

const cents = (n: number) => (n / 100).toFixed(2);

/**
 * Plans a refund (contract §8). Once refunds of a check-in total R of its
 * original quantity A, the points taken back in all are floor(earned × R ÷ A)
 * (in exact integers), so each refund takes that minus what earlier refunds
 * took, and refunding everything in parts takes back exactly `earned`.
 */
export function planRefund(c: RefundableCheckin, ask: RefundAsk): RefundPlan {
  const left = c.original - c.refunded.quantity;
  if (left <= 0) throw new DomainError("failed_precondition", "the check-in is already fully refunded");
  let quantity: number;
  switch (c.basis) {
    case "SPEND":
      if (ask.units !== undefined) throw invalidArgument("units cannot be refunded on a SPEND check-in: give amount");
      quantity = ask.amountCents ?? left;
      if (quantity > left) {
        throw new DomainError("failed_precondition", `amount is more than is left to refund of the check-in (${cents(left)})`);
      }
      break;
    case "UNIT":
      if (ask.amountCents !== undefined) throw invalidArgument("amount cannot be refunded on a UNIT check-in: give units");
      quantity = ask.units ?? left;
      if (quantity > left) {
        throw new DomainError("failed_precondition", `units is more than is left to refund of the check-in (${left})`);
      }
      break;
    case "WHOLE":
      if (ask.amountCents !== undefined || ask.units !== undefined) {
        throw new DomainError("failed_precondition", "a visit check-in is refunded whole only: give neither amount nor units");
      }
      quantity = left;
      break;
  }
  const after = c.refunded.quantity + quantity;
  // earned × R can pass 2^53 (points up to 1e9, amounts up to 1e8 cents).
  const takenAfter = Number((BigInt(c.earned) * BigInt(after)) / BigInt(c.original));
  const points = Math.min(Math.max(takenAfter - c.refunded.points, 0), Math.max(c.earned - c.refunded.points, 0));
  return { quantity, points, completes: after === c.original };
}

/** The refund state of a check-in as shown on its ledger entry. */
export function refundProgress(c: RefundableCheckin): { fullyRefunded: boolean } {
  return { fullyRefunded: c.refunded.quantity >= c.original };
}

/** Checks an orderRef: 1–100 printable characters (no control characters). */
export function orderRef(value: string | undefined, field = "orderRef"): string | undefined {
  if (value === undefined) return undefined;
  if (value.length === 0) throw invalidArgument(`${field} must not be empty`);
  if ([...value].length > 100) throw invalidArgument(`${field} must be at most 100 characters`);
  if (!/^[^\p{C}\p{Zl}\p{Zp}]+$/u.test(value) || value.trim() !== value) {
    throw invalidArgument(`${field} must be printable characters without leading or trailing spaces`);
  }
  return value;
}
