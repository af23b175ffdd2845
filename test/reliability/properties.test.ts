/**
 * Property-based tests (fast-check) of the points rules and phone
 * normalisation (contract §4), and a stateful model test of the ledger:
 * random sequences of create / check-in / redeem / adjust / block / delete
 * against the real API, compared step by step with an in-memory model.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import fc from "fast-check";
import { parsePhoneNumberFromString, type CountryCode } from "libphonenumber-js";
import { DomainError } from "../../src/domain/errors.js";
import {
  amountToMinorUnits,
  isRewardAvailable,
  MAX_AMOUNT_MINOR,
  pointsForCheckin,
  rewardsForRedemption,
  spendRateToHundredths,
  validateUnits,
  type ProgramRules,
} from "../../src/domain/points.js";
import { isCustomerId, normalizePhone } from "../../src/domain/phone.js";
import { planRefund, type RefundableCheckin } from "../../src/domain/refunds.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "../support/rest.js";

const SEED = 4242;

const spend = (rate: number): ProgramRules => ({
  mode: "SPEND",
  spendRateHundredths: rate,
  pointsPerUnit: 1,
  pointsPerVisit: 1,
  rewardThreshold: 100,
  rewardTitle: "Free Reward",
});

/** The decimal text a client would write for `cents`, e.g. 1999 → "19.99". */
const centsText = (cents: number) => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`;
/** The amount as a JSON client sends it: the text parsed as a JSON number. */
const amountOf = (cents: number) => JSON.parse(centsText(cents)) as number;

function rejects(fn: () => unknown, fragment?: string): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    return err instanceof DomainError && err.kind === "invalid_argument" && (fragment === undefined || err.message.includes(fragment));
  }
}

describe("points rules (src/domain/points.ts)", () => {
  test("every 2-decimal amount 0.01–1,000,000.00 converts to its exact cents and earns floor(cents × rate / 10000)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_AMOUNT_MINOR }), fc.integer({ min: 1, max: 100_000 }), (cents, rate) => {
        const amount = amountOf(cents);
        expect(amountToMinorUnits(amount)).toBe(cents);
        const expected = Number((BigInt(cents) * BigInt(rate)) / 10_000n);
        expect(pointsForCheckin(spend(rate), { amount })).toBe(expected);
      }),
      { seed: SEED, numRuns: 10_000 },
    );
  });

  test("exhaustively: every cents value up to 1,000.00 and the last 50,000 below the cap", () => {
    const check = (cents: number) => {
      const amount = amountOf(cents);
      if (amountToMinorUnits(amount) !== cents) throw new Error(`${centsText(cents)} → ${amountToMinorUnits(amount)}`);
      if (pointsForCheckin(spend(100), { amount }) !== Math.floor(cents / 100)) throw new Error(`points of ${centsText(cents)}`);
      if (pointsForCheckin(spend(150), { amount }) !== Math.floor((cents * 150) / 10_000)) throw new Error(`points ×1.5 of ${centsText(cents)}`);
    };
    for (let c = 1; c <= 100_000; c++) check(c);
    for (let c = MAX_AMOUNT_MINOR - 50_000; c <= MAX_AMOUNT_MINOR; c++) check(c);
    // The contract's own examples.
    expect(pointsForCheckin(spend(100), { amount: 25.5 })).toBe(25);
    expect(pointsForCheckin(spend(100), { amount: 19.99 })).toBe(19);
    expect(pointsForCheckin(spend(100), { amount: 0.29 })).toBe(0);
    expect(pointsForCheckin(spend(100), { amount: 1_000_000 })).toBe(1_000_000);
  });

  test("amounts with a third decimal place are rejected", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000_000 }).filter((m) => m % 10 !== 0), (millis) => {
        const amount = JSON.parse(`${Math.floor(millis / 1000)}.${String(millis % 1000).padStart(3, "0")}`) as number;
        expect(rejects(() => amountToMinorUnits(amount), "2 decimal places")).toBe(true);
        expect(rejects(() => pointsForCheckin(spend(100), { amount }))).toBe(true);
      }),
      { seed: SEED, numRuns: 5_000 },
    );
  });

  test("amounts above 1,000,000, zero, negative or not finite are rejected", () => {
    fc.assert(
      fc.property(fc.integer({ min: MAX_AMOUNT_MINOR + 1, max: 100_000_000_000 }), (cents) => {
        expect(rejects(() => amountToMinorUnits(amountOf(cents)), "at most 1000000")).toBe(true);
      }),
      { seed: SEED, numRuns: 2_000 },
    );
    fc.assert(
      fc.property(fc.double({ max: 0, noNaN: true }), (amount) => {
        expect(rejects(() => amountToMinorUnits(amount))).toBe(true);
      }),
      { seed: SEED, numRuns: 2_000 },
    );
    for (const bad of [NaN, Infinity, -Infinity, 1e21, 1e-7, Number.MIN_VALUE, Number.MAX_VALUE]) {
      expect(rejects(() => amountToMinorUnits(bad)), String(bad)).toBe(true);
    }
  });

  test("any double is either rejected or converted to cents that print back to the same number", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: false }), (amount) => {
        let cents: number;
        try {
          cents = amountToMinorUnits(amount);
        } catch (err) {
          expect(err).toBeInstanceOf(DomainError);
          return;
        }
        expect(Number.isInteger(cents)).toBe(true);
        expect(cents).toBeGreaterThanOrEqual(1);
        expect(cents).toBeLessThanOrEqual(MAX_AMOUNT_MINOR);
        expect(amountOf(cents)).toBe(amount);
      }),
      { seed: SEED, numRuns: 5_000 },
    );
  });

  test("UNIT mode: units × pointsPerUnit for whole units 1–10,000; anything else rejected", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 10_000 }), (units, perUnit) => {
        const rules: ProgramRules = { ...spend(100), mode: "UNIT", pointsPerUnit: perUnit };
        expect(validateUnits(units)).toBe(units);
        expect(pointsForCheckin(rules, { units, amount: 0.001 })).toBe(units * perUnit); // amount is ignored
      }),
      { seed: SEED, numRuns: 5_000 },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ max: 0 }),
          fc.integer({ min: 10_001 }),
          fc.double({ noNaN: false }).filter((d) => !Number.isInteger(d)),
        ),
        (units) => {
          expect(rejects(() => validateUnits(units), "units")).toBe(true);
          expect(rejects(() => pointsForCheckin({ ...spend(100), mode: "UNIT" }, { units }))).toBe(true);
        },
      ),
      { seed: SEED, numRuns: 5_000 },
    );
  });

  test("the field the mode needs is required; VISIT earns pointsPerVisit whatever is sent", () => {
    expect(rejects(() => pointsForCheckin(spend(100), { units: 3 }), "amount is required")).toBe(true);
    expect(rejects(() => pointsForCheckin({ ...spend(100), mode: "UNIT" }, { amount: 3 }), "units is required")).toBe(true);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.option(fc.double()), fc.option(fc.integer()), (perVisit, amount, units) => {
        const rules: ProgramRules = { ...spend(100), mode: "VISIT", pointsPerVisit: perVisit };
        expect(pointsForCheckin(rules, { amount: amount ?? undefined, units: units ?? undefined })).toBe(perVisit);
      }),
      { seed: SEED, numRuns: 2_000 },
    );
  });

  test("redeem points must be a positive whole multiple of the reward cost", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 1_000 }), (threshold, k) => {
        const rules = { ...spend(100), rewardThreshold: threshold };
        expect(rewardsForRedemption(rules, threshold * k)).toBe(k);
        if (threshold > 1) expect(rejects(() => rewardsForRedemption(rules, threshold * k + 1), "multiple")).toBe(true);
        expect(rejects(() => rewardsForRedemption(rules, -threshold * k))).toBe(true);
        expect(rejects(() => rewardsForRedemption(rules, 0))).toBe(true);
        expect(isRewardAvailable(threshold * k, threshold)).toBe(true);
        expect(isRewardAvailable(threshold - 1, threshold)).toBe(false);
      }),
      { seed: SEED, numRuns: 5_000 },
    );
  });

  test("SPEND rates with up to 2 decimals in (0, 1000] parse to exact hundredths; others are rejected", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100_000 }), (hundredths) => {
        expect(spendRateToHundredths(amountOf(hundredths))).toBe(hundredths);
      }),
      { seed: SEED, numRuns: 5_000 },
    );
    for (const bad of [0, -1, 1000.01, 1.234, NaN, Infinity]) expect(rejects(() => spendRateToHundredths(bad)), String(bad)).toBe(true);
  });
});

describe("refund proration (src/domain/refunds.ts)", () => {
  test("any split of a SPEND check-in into partial refunds takes back exactly what it earned, each step floor(earned × R ÷ A) in all", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000_000 }),
        fc.integer({ min: 0, max: 1_000_000_000 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 8 }),
        (original, earned, cuts) => {
          const c: RefundableCheckin = { basis: "SPEND", original, earned, refunded: { quantity: 0, points: 0 } };
          for (const cut of cuts) {
            const left = original - c.refunded.quantity;
            if (left === 0) break;
            const part = Math.max(1, Math.floor(left * cut));
            const plan = planRefund(c, { amountCents: part });
            c.refunded = { quantity: c.refunded.quantity + part, points: c.refunded.points + plan.points };
            expect(plan.points).toBeGreaterThanOrEqual(0);
            // Exact integer arithmetic (the product can pass 2^53).
            expect(BigInt(c.refunded.points)).toBe((BigInt(earned) * BigInt(c.refunded.quantity)) / BigInt(original));
            expect(plan.completes).toBe(c.refunded.quantity === original);
          }
          if (c.refunded.quantity < original) {
            const rest = planRefund(c, {});
            expect(rest.completes).toBe(true);
            c.refunded.points += rest.points;
          }
          expect(c.refunded.points).toBe(earned);
          expect(() => planRefund({ ...c, refunded: { quantity: original, points: earned } }, {})).toThrow("already fully refunded");
        },
      ),
      { seed: SEED, numRuns: 3_000 },
    );
  });

  test("more than is left is refused, whatever was refunded before", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 1_000_000 }), fc.integer({ min: 0, max: 1_000_000 }), fc.double({ min: 0, max: 0.999, noNaN: true }), (original, earned, done) => {
        const quantity = Math.floor((original - 1) * done);
        const c: RefundableCheckin = { basis: "UNIT", original, earned, refunded: { quantity, points: 0 } };
        expect(() => planRefund(c, { units: original - quantity + 1 })).toThrow("units is more than is left");
      }),
      { seed: SEED, numRuns: 1_000 },
    );
  });
});

describe("phone normalisation (src/domain/phone.ts)", () => {
  /** A 9-digit Irish national significant number (like the reference's 123456789). */
  const irishNsn = fc.tuple(fc.integer({ min: 1, max: 9 }), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 8, maxLength: 8 })).map(
    ([first, rest]) => `${first}${rest.join("")}`,
  );

  test("+353 …, 00353…, 0… and spaced/punctuated forms are one IE number", () => {
    fc.assert(
      fc.property(irishNsn, fc.constantFrom(" ", "-", ".", ""), (nsn, sep) => {
        const e164 = `+353${nsn}`;
        const forms = [
          `+353${nsn}`,
          `+353 ${nsn.slice(0, 2)} ${nsn.slice(2, 5)} ${nsn.slice(5)}`,
          `00353${nsn}`,
          `0${nsn}`,
          `0${nsn.slice(0, 2)}${sep}${nsn.slice(2, 5)}${sep}${nsn.slice(5)}`,
          `(0${nsn.slice(0, 2)}) ${nsn.slice(2)}`,
          `  +353${sep}${nsn}  `,
        ];
        for (const f of forms) expect(normalizePhone(f, "IE"), f).toBe(e164);
        // Written internationally, the default country does not matter.
        expect(normalizePhone(`+353${nsn}`, "GB")).toBe(e164);
        expect(normalizePhone(`+353${nsn}`, "US")).toBe(e164);
      }),
      { seed: SEED, numRuns: 3_000 },
    );
    expect(normalizePhone("+353 12 345 6789", "IE")).toBe("+353123456789");
    expect(normalizePhone("00353123456789", "IE")).toBe("+353123456789");
    expect(normalizePhone("0123456789", "IE")).toBe("+353123456789");
    expect(normalizePhone("+353987654321", "IE")).toBe("+353987654321");
  });

  test("the memo never changes an answer: 110,000 numbers (past two generations), early ones again, one text under two countries", () => {
    const reference = (text: string, cc: string) => parsePhoneNumberFromString(text, { defaultCountry: cc as CountryCode })!.number;
    const local = (i: number) => `085${String(i).padStart(7, "0")}`;
    for (let i = 0; i < 110_000; i++) {
      const text = local(i);
      expect(normalizePhone(text, "IE")).toBe(`+35385${String(i).padStart(7, "0")}`);
      if (i % 1_000 === 0) {
        // Numbers from before the last rotation, still right, kept or parsed again.
        const early = local(i >> 1);
        expect(normalizePhone(early, "IE")).toBe(reference(early, "IE"));
        // The same digits under another default country are another number.
        expect(normalizePhone(text, "GB")).toBe(reference(text, "GB"));
        expect(normalizePhone(text, "GB")).not.toBe(normalizePhone(text, "IE"));
      }
    }
    expect(() => normalizePhone("12", "IE")).toThrow(DomainError);
  });

  test("normalisation is idempotent and yields E.164 for whatever it accepts", () => {
    const phoneish = fc.string({ unit: fc.constantFrom(..."0123456789+ -.()/".split("")), minLength: 1, maxLength: 24 });
    const country = fc.constantFrom("IE", "GB", "US", "DE", "FR", "IN", "BR", "JP");
    fc.assert(
      fc.property(fc.oneof(phoneish, irishNsn.map((n) => `0${n}`)), country, (input, cc) => {
        let once: string;
        try {
          once = normalizePhone(input, cc);
        } catch (err) {
          expect(err).toBeInstanceOf(DomainError);
          return;
        }
        expect(once).toMatch(/^\+[1-9]\d{3,14}$/);
        expect(normalizePhone(once, cc)).toBe(once);
        // And from any other default country, the E.164 form stays itself.
        expect(normalizePhone(once, cc === "IE" ? "US" : "IE")).toBe(once);
        // A normalised phone is never mistaken for a customer id.
        expect(isCustomerId(once)).toBe(false);
      }),
      { seed: SEED, numRuns: 5_000 },
    );
  });

  test("garbage is rejected with invalid_argument naming the field", () => {
    const letter = fc.constantFrom(..."abcxyzABCXYZéß漢😀".split(""));
    const withLetter = fc.tuple(fc.string({ maxLength: 15 }), letter, fc.string({ maxLength: 15 })).map(([a, l, b]) => `${a}${l}${b}`);
    const control = fc.tuple(fc.stringMatching(/^[0-9]{3,8}$/), fc.constantFrom("\u0000", "\n", "\t\u0001", "\u007f", "\u202e")).map(([d, c]) => `+353${d}${c}1`);
    const tooShort = fc.stringMatching(/^\+?[0-9]{1,3}$/);
    const tooLong = fc.stringMatching(/^[0-9]{41,60}$/);
    const blank = fc.constantFrom("", " ", "\t", "   ");
    const onlyPunct = fc.string({ unit: fc.constantFrom("+", "-", ".", "(", ")", " ", "/"), minLength: 1, maxLength: 10 });
    fc.assert(
      fc.property(fc.oneof(withLetter, control, tooShort, tooLong, blank, onlyPunct), fc.constantFrom("phone", "identifier"), (input, field) => {
        expect(rejects(() => normalizePhone(input, "IE", field), field)).toBe(true);
      }),
      { seed: SEED, numRuns: 5_000 },
    );
  });
});

// ---------------------------------------------------------------------------
// Stateful model test of the ledger against the real API
// ---------------------------------------------------------------------------

interface ModelCheckin {
  id: string;
  cents: number;
  earned: number;
  refundedCents: number;
  refundedPoints: number;
}
interface ModelRedemption {
  id: string;
  points: number;
  voided: boolean;
}
interface ModelCustomer {
  id: string;
  phone: string;
  balance: number;
  /** Points earned minus points refunded (contract §8). */
  lifetime: number;
  blocked: boolean;
  deleted: boolean;
  checkins: ModelCheckin[];
  redemptions: ModelRedemption[];
}
interface Model {
  customers: ModelCustomer[];
  rate: number; // hundredths
  threshold: number;
  phones: number;
}
interface Real {
  t: TestApp;
  biz: Business;
  steps: string[];
}
type Cmd = fc.AsyncCommand<Model, Real>;

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ env: { OWNER_RATE_LIMIT_PER_MINUTE: "1000000", POS_RATE_LIMIT_PER_MINUTE: "1000000" } });
});
afterAll(async () => {
  await app?.close();
});

const pick = (m: Model, i: number) => m.customers[i % m.customers.length]!;
const newPhone = (m: Model) => `+3531777${String(m.phones++).padStart(5, "0")}`;

async function expectBalance(r: Real, c: ModelCustomer) {
  const res = await rest(r.t.url, "GET", `/v1/owner/customers/${c.id}`, { headers: ownerAuth(r.biz) });
  if (c.deleted) {
    expect(res.status).toBe(404);
    return;
  }
  expect(res.status).toBe(200);
  expect(res.body.customer.totalPoints).toBe(c.balance);
  expect(res.body.totalPoints).toBe(c.balance);
  expect(res.body.customer.status).toBe(c.blocked ? "BLOCKED" : "ACTIVE");
  expect(res.body.customer.lifetimePoints).toBe(c.lifetime);
  const ledger = (res.body.pointsHistory as { delta: number; balanceAfter: number }[]).reduce((s, e) => s + e.delta, 0);
  expect(ledger).toBe(c.balance);
  if (res.body.pointsHistory.length) expect(res.body.pointsHistory[0].balanceAfter).toBe(c.balance);
}

class CreateCustomer implements Cmd {
  constructor(readonly initial: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const phone = newPhone(m);
    const res = await rest(r.t.url, "POST", "/v1/owner/customers", { body: { name: "Model", phone, initialPoints: this.initial }, headers: ownerAuth(r.biz) });
    expect(res.status, res.text).toBe(200);
    expect(res.body.customer.totalPoints).toBe(this.initial);
    m.customers.push({ id: res.body.customer.id, phone, balance: this.initial, lifetime: this.initial, blocked: false, deleted: false, checkins: [], redemptions: [] });
  }
  toString = () => `create(${this.initial})`;
}

class EnrolByCheckin implements Cmd {
  constructor(readonly cents: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const phone = newPhone(m);
    const res = await rest(r.t.url, "POST", "/v1/pos/checkin", { body: { phone, amount: amountOf(this.cents) }, headers: posAuth(r.biz) });
    expect(res.status, res.text).toBe(200);
    const points = Math.floor((this.cents * m.rate) / 10_000);
    expect(res.body.pointsAwarded).toBe(points);
    m.customers.push({
      id: res.body.customerId, phone, balance: points, lifetime: points, blocked: false, deleted: false,
      checkins: [{ id: res.body.checkinId, cents: this.cents, earned: points, refundedCents: 0, refundedPoints: 0 }], redemptions: [],
    });
  }
  toString = () => `enrol(${centsText(this.cents)})`;
}

class Checkin implements Cmd {
  constructor(readonly who: number, readonly cents: number, readonly byPhone: boolean) {}
  check = (m: Readonly<Model>) => m.customers.length > 0;
  async run(m: Model, r: Real) {
    const c = pick(m, this.who);
    const ref = this.byPhone ? { phone: c.phone } : { customerId: c.id };
    const res = await rest(r.t.url, "POST", "/v1/pos/checkin", { body: { ...ref, amount: amountOf(this.cents) }, headers: posAuth(r.biz) });
    if (c.deleted && this.byPhone) {
      // An unknown phone enrols a new customer: the model follows.
      expect(res.status).toBe(200);
      const points = Math.floor((this.cents * m.rate) / 10_000);
      Object.assign(c, {
        id: res.body.customerId, balance: points, lifetime: points, blocked: false, deleted: false,
        checkins: [{ id: res.body.checkinId, cents: this.cents, earned: points, refundedCents: 0, refundedPoints: 0 }], redemptions: [],
      });
      return;
    }
    if (c.deleted) return void expect(res.status).toBe(404);
    if (c.blocked) {
      expect(res.status).toBe(403);
      return void expect(res.body.error).toEqual({ code: "permission_denied", message: "customer is blocked" });
    }
    expect(res.status, res.text).toBe(200);
    const points = Math.floor((this.cents * m.rate) / 10_000);
    c.balance += points;
    c.lifetime += points;
    expect(res.body).toEqual({
      success: true,
      customerId: c.id,
      pointsAwarded: points,
      totalPoints: c.balance,
      rewardThreshold: m.threshold,
      rewardAvailable: c.balance >= m.threshold,
      checkinId: expect.any(String),
    });
    c.checkins.push({ id: res.body.checkinId, cents: this.cents, earned: points, refundedCents: 0, refundedPoints: 0 });
  }
  toString = () => `checkin(#${this.who}, ${centsText(this.cents)}, ${this.byPhone ? "phone" : "id"})`;
}

class Redeem implements Cmd {
  constructor(readonly who: number, readonly rewards: number) {}
  check = (m: Readonly<Model>) => m.customers.length > 0;
  async run(m: Model, r: Real) {
    const c = pick(m, this.who);
    const points = this.rewards * m.threshold;
    const res = await rest(r.t.url, "POST", "/v1/pos/redeem", { body: { customerId: c.id, points }, headers: posAuth(r.biz) });
    if (c.deleted) return void expect(res.status).toBe(404);
    if (c.blocked) return void expect(res.status).toBe(403);
    if (c.balance < points) {
      expect(res.status).toBe(400);
      return void expect(res.body.error).toEqual({ code: "failed_precondition", message: "insufficient points" });
    }
    expect(res.status, res.text).toBe(200);
    c.balance -= points;
    expect(res.body.pointsRedeemed).toBe(points);
    expect(res.body.remainingPoints).toBe(c.balance);
    c.redemptions.push({ id: res.body.redemptionId, points, voided: false });
  }
  toString = () => `redeem(#${this.who}, ${this.rewards}×)`;
}

class Adjust implements Cmd {
  constructor(readonly who: number, readonly delta: number) {}
  check = (m: Readonly<Model>) => m.customers.length > 0;
  async run(m: Model, r: Real) {
    const c = pick(m, this.who);
    const res = await rest(r.t.url, "POST", `/v1/owner/customers/${c.id}/points`, { body: { points: this.delta, reason: "model" }, headers: ownerAuth(r.biz) });
    if (c.deleted) return void expect(res.status).toBe(404);
    // A deduction stops at zero; a credit is always allowed (also on a refund's debt).
    if (this.delta < 0 && c.balance + this.delta < 0) {
      expect(res.status).toBe(400);
      return void expect(res.body.error.code).toBe("failed_precondition");
    }
    expect(res.status, res.text).toBe(200);
    c.balance += this.delta; // owners may adjust BLOCKED customers too
    if (this.delta > 0) c.lifetime += this.delta;
    expect(res.body).toEqual({ success: true, newBalance: c.balance, adjustment: this.delta });
  }
  toString = () => `adjust(#${this.who}, ${this.delta})`;
}

class SetStatus implements Cmd {
  constructor(readonly who: number, readonly blocked: boolean) {}
  check = (m: Readonly<Model>) => m.customers.length > 0;
  async run(m: Model, r: Real) {
    const c = pick(m, this.who);
    const res = await rest(r.t.url, "PATCH", `/v1/owner/customers/${c.id}`, { body: { status: this.blocked ? "BLOCKED" : "ACTIVE" }, headers: ownerAuth(r.biz) });
    if (c.deleted) return void expect(res.status).toBe(404);
    expect(res.status, res.text).toBe(200);
    c.blocked = this.blocked;
    expect(res.body.customer.totalPoints).toBe(c.balance);
  }
  toString = () => `${this.blocked ? "block" : "unblock"}(#${this.who})`;
}

class Delete implements Cmd {
  constructor(readonly who: number) {}
  check = (m: Readonly<Model>) => m.customers.length > 0;
  async run(m: Model, r: Real) {
    const c = pick(m, this.who);
    const res = await rest(r.t.url, "DELETE", `/v1/owner/customers/${c.id}`, { headers: ownerAuth(r.biz) });
    if (c.deleted) return void expect(res.status).toBe(404);
    expect(res.status).toBe(200);
    c.deleted = true;
  }
  toString = () => `delete(#${this.who})`;
}

/**
 * A refund of one of the customer's check-ins (contract §8): `part` of what is
 * left in cents, or all of it. The model prorates on its own: after refunds
 * totalling R of A, floor(earned × R ÷ A) taken back in all.
 */
class Refund implements Cmd {
  constructor(readonly who: number, readonly which: number, readonly part: number | "all", readonly viaOwner: boolean) {}
  check = (m: Readonly<Model>) => m.customers.some((c) => c.checkins.length > 0);
  async run(m: Model, r: Real) {
    const withCheckins = m.customers.filter((c) => c.checkins.length > 0);
    const c = withCheckins[this.who % withCheckins.length]!;
    const ci = c.checkins[this.which % c.checkins.length]!;
    const left = ci.cents - ci.refundedCents;
    const cents = this.part === "all" ? left : Math.max(1, Math.round(left * this.part));
    const body = this.part === "all" ? {} : { amount: amountOf(cents) };
    const res = this.viaOwner
      ? await rest(r.t.url, "POST", `/v1/owner/checkins/${ci.id}/refund`, { body, headers: ownerAuth(r.biz) })
      : await rest(r.t.url, "POST", "/v1/pos/refund", { body: { checkinId: ci.id, ...body }, headers: posAuth(r.biz) });
    if (c.deleted) return void expect(res.status).toBe(404);
    if (left === 0) {
      expect(res.status).toBe(400);
      return void expect(res.body.error).toEqual({ code: "failed_precondition", message: "the check-in is already fully refunded" });
    }
    expect(res.status, res.text).toBe(200);
    const after = ci.refundedCents + cents;
    const points = Math.floor((ci.earned * after) / ci.cents) - ci.refundedPoints;
    ci.refundedCents = after;
    ci.refundedPoints += points;
    c.balance -= points; // blocked or not; may go negative
    c.lifetime -= points;
    expect(res.body).toEqual({ success: true, refundId: expect.any(String), checkinId: ci.id, pointsReversed: points, totalPoints: c.balance });
  }
  toString = () => `refund(#${this.who}, ci ${this.which}, ${this.part}${this.viaOwner ? ", owner" : ""})`;
}

/** A void of one of the customer's redemptions: the points back once, a second void refused. */
class Void implements Cmd {
  constructor(readonly who: number, readonly which: number, readonly viaOwner: boolean) {}
  check = (m: Readonly<Model>) => m.customers.some((c) => c.redemptions.length > 0);
  async run(m: Model, r: Real) {
    const withRedemptions = m.customers.filter((c) => c.redemptions.length > 0);
    const c = withRedemptions[this.who % withRedemptions.length]!;
    const rd = c.redemptions[this.which % c.redemptions.length]!;
    const res = this.viaOwner
      ? await rest(r.t.url, "POST", `/v1/owner/redemptions/${rd.id}/void`, { body: {}, headers: ownerAuth(r.biz) })
      : await rest(r.t.url, "POST", "/v1/pos/redeem/void", { body: { redemptionId: rd.id }, headers: posAuth(r.biz) });
    if (c.deleted) return void expect(res.status).toBe(404);
    if (rd.voided) {
      expect(res.status).toBe(400);
      return void expect(res.body.error).toEqual({ code: "failed_precondition", message: "the redemption is already voided" });
    }
    expect(res.status, res.text).toBe(200);
    rd.voided = true;
    c.balance += rd.points;
    expect(res.body).toEqual({ success: true, redemptionId: rd.id, pointsRestored: rd.points, totalPoints: c.balance });
  }
  toString = () => `void(#${this.who}, rd ${this.which}${this.viaOwner ? ", owner" : ""})`;
}

class CheckAll implements Cmd {
  check = (m: Readonly<Model>) => m.customers.length > 0;
  async run(m: Model, r: Real) {
    for (const c of m.customers) await expectBalance(r, c);
    const live = m.customers.filter((c) => !c.deleted);
    const list = await rest(r.t.url, "GET", "/v1/owner/customers?limit=100&sortBy=name", { headers: ownerAuth(r.biz) });
    expect(list.body.pagination.total).toBe(live.length);
  }
  toString = () => "checkAll";
}

test("stateful model: random ledger operations against the real API agree with an in-memory model", async () => {
  const who = fc.nat({ max: 50 });
  const cents = fc.oneof(fc.integer({ min: 1, max: 30_000 }), fc.constantFrom(2550, 1999, 100, 29, 9999));
  const commands = [
    fc.integer({ min: 0, max: 400 }).map((n) => new CreateCustomer(n)),
    cents.map((c) => new EnrolByCheckin(c)),
    fc.tuple(who, cents, fc.boolean()).map(([w, c, p]) => new Checkin(w, c, p)),
    fc.tuple(who, cents, fc.boolean()).map(([w, c, p]) => new Checkin(w, c, p)),
    fc.tuple(who, fc.integer({ min: 1, max: 3 })).map(([w, k]) => new Redeem(w, k)),
    fc.tuple(who, fc.integer({ min: 1, max: 3 })).map(([w, k]) => new Redeem(w, k)),
    fc.tuple(who, fc.integer({ min: -300, max: 300 }).filter((d) => d !== 0)).map(([w, d]) => new Adjust(w, d)),
    fc.tuple(who, fc.boolean()).map(([w, b]) => new SetStatus(w, b)),
    who.map((w) => new Delete(w)),
    fc.tuple(who, who, fc.oneof(fc.constant("all" as const), fc.double({ min: 0.001, max: 1, noNaN: true })), fc.boolean()).map(
      ([w, i, part, owner]) => new Refund(w, i, part, owner),
    ),
    fc.tuple(who, who, fc.oneof(fc.constant("all" as const), fc.constantFrom(0.0001, 0.5, 0.34))).map(([w, i, part]) => new Refund(w, i, part, false)),
    fc.tuple(who, who, fc.boolean()).map(([w, i, owner]) => new Void(w, i, owner)),
    fc.constant(new CheckAll()),
  ];
  const program = fc.record({
    rate: fc.constantFrom(100, 50, 125, 300),
    threshold: fc.constantFrom(100, 50, 150),
  });
  let runs = 0;
  let steps = 0;
  await fc.assert(
    fc.asyncProperty(program, fc.commands(commands, { maxCommands: 40, size: "large" }), async (p, cmds) => {
      runs++;
      const biz = await registerBusiness(app.url, { pointsPerCurrencyUnit: p.rate / 100, rewardThreshold: p.threshold });
      const model: Model = { customers: [], rate: p.rate, threshold: p.threshold, phones: runs * 1000 };
      const real: Real = { t: app, biz, steps: [] };
      // Two customers to start with, so that every command has someone to act on.
      await new CreateCustomer(120).run(model, real);
      await new EnrolByCheckin(4550).run(model, real);
      await fc.asyncModelRun(() => ({ model, real }), cmds);
      steps += [...cmds].length;
      // Finally: the database agrees with the model and with its own ledger.
      const rows = await app.sql<{ id: string; total_points: number; ledger: string }>(
        `select c.id, c.total_points, (select coalesce(sum(delta), 0) from ledger_entry l where l.customer_id = c.id) as ledger
         from customer c where c.business_id = $1`,
        [biz.businessId],
      );
      const live = model.customers.filter((c) => !c.deleted);
      expect(rows.length).toBe(live.length);
      for (const c of live) {
        const row = rows.find((x) => x.id === c.id);
        expect(row?.total_points).toBe(c.balance);
        expect(Number(row?.ledger)).toBe(c.balance);
      }
    }),
    { seed: SEED, numRuns: 15, endOnFailure: true },
  );
  console.log(`[properties] stateful model: ${runs} runs, ${steps} commands, 0 divergences`);
}, 90_000);
