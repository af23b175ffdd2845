import { invalidArgument } from "./errors.js";

/** The program modes of contract §4. */
export type ProgramMode = "SPEND" | "UNIT" | "VISIT";

/**
 * A loyalty program as the domain sees it. Rates are integers: the SPEND rate
 * is kept in hundredths of a point per currency unit so that points are
 * computed without floating point.
 */
export interface ProgramRules {
  mode: ProgramMode;
  /** SPEND: points per currency unit x 100 (1 point per euro = 100). */
  spendRateHundredths: number;
  pointsPerUnit: number;
  pointsPerVisit: number;
  rewardThreshold: number;
  rewardTitle: string;
}

/** The defaults of a new business (contract §4). */
export const DEFAULT_PROGRAM: ProgramRules = {
  mode: "SPEND",
  spendRateHundredths: 100,
  pointsPerUnit: 1,
  pointsPerVisit: 1,
  rewardThreshold: 100,
  rewardTitle: "Free Reward",
};

export const MAX_AMOUNT_MINOR = 100_000_000; // 1,000,000.00
export const MAX_UNITS = 10_000;

/**
 * Converts a JSON amount to minor units (cents), exactly. The double is
 * printed by JavaScript's shortest round-trip algorithm, which gives back the
 * decimal the client wrote (25.5 → "25.5", 19.99 → "19.99"); that text is then
 * read digit by digit, so no binary rounding can move a cent.
 */
export function amountToMinorUnits(amount: number): number {
  if (!Number.isFinite(amount)) throw invalidArgument("amount must be a finite number");
  if (amount <= 0) throw invalidArgument("amount must be greater than 0");
  const text = amount.toString();
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) throw invalidArgument("amount must have at most 2 decimal places and be at most 1000000");
  const [, whole, fraction = ""] = match;
  if (fraction.length > 2) throw invalidArgument("amount must have at most 2 decimal places");
  const minor = Number(whole) * 100 + Number(fraction.padEnd(2, "0"));
  if (minor > MAX_AMOUNT_MINOR) throw invalidArgument("amount must be at most 1000000");
  return minor;
}

/** Checks a UNIT-mode `units` value: a whole number 1–10,000. */
export function validateUnits(units: number): number {
  if (!Number.isInteger(units) || units < 1 || units > MAX_UNITS) {
    throw invalidArgument("units must be a whole number from 1 to 10000");
  }
  return units;
}

/** What a check-in carries that can earn points. */
export interface CheckinInput {
  amount?: number;
  units?: number;
}

/**
 * The points a check-in earns under a program (contract §4). The field the
 * mode needs is required; the other one is ignored.
 */
export function pointsForCheckin(program: ProgramRules, input: CheckinInput): number {
  switch (program.mode) {
    case "SPEND": {
      if (input.amount === undefined) throw invalidArgument("amount is required in SPEND mode");
      const minor = amountToMinorUnits(input.amount);
      // minor ≤ 1e8 and rate ≤ 1e5 keep the product below 2^53.
      return Math.floor((minor * program.spendRateHundredths) / 10_000);
    }
    case "UNIT": {
      if (input.units === undefined) throw invalidArgument("units is required in UNIT mode");
      return validateUnits(input.units) * program.pointsPerUnit;
    }
    case "VISIT":
      return program.pointsPerVisit;
  }
}

/**
 * Checks a redemption: `points` must be the reward's cost or a whole multiple
 * of it. Returns the number of rewards taken.
 */
export function rewardsForRedemption(program: ProgramRules, points: number): number {
  if (!Number.isInteger(points) || points <= 0) throw invalidArgument("points must be a positive whole number");
  if (points % program.rewardThreshold !== 0) {
    throw invalidArgument(
      `points must be the reward cost (${program.rewardThreshold}) or a whole multiple of it`,
    );
  }
  return points / program.rewardThreshold;
}

/** contract §4: rewardAvailable = totalPoints ≥ rewardThreshold. */
export function isRewardAvailable(totalPoints: number, rewardThreshold: number): boolean {
  return totalPoints >= rewardThreshold;
}

/**
 * Parses a SPEND rate given as a JSON number (e.g. 1.5 points per euro) into
 * hundredths, exactly; at most 2 decimals, > 0 and ≤ 1,000.
 */
export function spendRateToHundredths(rate: number): number {
  if (!Number.isFinite(rate) || rate <= 0 || rate > 1000) {
    throw invalidArgument("pointsPerCurrencyUnit must be greater than 0 and at most 1000");
  }
  const match = /^(\d+)(?:\.(\d{1,2}))?$/.exec(rate.toString());
  if (!match) throw invalidArgument("pointsPerCurrencyUnit must have at most 2 decimal places");
  return Number(match[1]) * 100 + Number((match[2] ?? "").padEnd(2, "0"));
}
