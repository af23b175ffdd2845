import { newId as createId } from "../infrastructure/ids.js";
import type { Db } from "./db.js";

/**
 * Point lots (contract §10): points earned while an expiry policy was set,
 * what is left of them and when they stop counting. Points earned under
 * "never" have no lot: they are the balance minus the lots. A debt (a
 * negative balance) exists only while every lot is empty, and new points
 * pay it before they make a lot, so at any time
 *
 *     balance = Σ remaining of the lots + never-expiring points − debt.
 *
 * Every statement here runs after the customer's row was locked in the same
 * transaction (by the change of its balance), so lots of one customer
 * change one transaction at a time; in READ COMMITTED each statement takes
 * its snapshot after that lock, so it reads the lots as last committed.
 */

/** A lot as the portal lists it. */
export interface LotRow {
  id: string;
  points: number;
  remaining: number;
  expired_points: number;
  earned_at: Date;
  expires_at: Date;
  checkin_id: string | null;
}

/** Points that stop counting at one instant. */
export interface ExpiringRow {
  points: number;
  expiresAt: Date;
}

/** What a credit of points under a policy records: when they were earned and stop counting. */
export interface LotTerms {
  earnedAt: Date;
  expiresAt: Date;
}

/**
 * The lot of a credit, as a CTE of the credit's own statement: `from` names
 * the CTE that returned the customer's `id` and new `total_points`, `ledger`
 * the one that returned the ledger row's `id`. Of the credit, what pays a
 * debt makes no lot: the lot holds least(points, max(balance after, 0)).
 * Parameters, in order: lot id, business id, checkin id (or null), earned
 * at, expires at, points.
 */
export function lotInsertCte(from: { customer: string; total: string; ledger: string; tables: string }): string {
  return `lot as (
     insert into point_lot (id, business_id, customer_id, ledger_entry_id, checkin_id, points, remaining, earned_at, expires_at)
     select ?, ?, ${from.customer}, ${from.ledger}, ?, x.p, x.p, ?, ? from ${from.tables},
       lateral (select least(?::int, greatest(${from.total}, 0)) as p) x
     where x.p > 0
   )`;
}

/** The lot CTE's parameters (see lotInsertCte). */
export function lotParams(businessId: string, checkinId: string | null, terms: LotTerms, points: number): unknown[] {
  return [createId(), businessId, checkinId, terms.earnedAt, terms.expiresAt, points];
}

/**
 * Takes `points` from a customer's lots, soonest expiry first. With
 * `checkinId` (a refund): that check-in's own lots first; and when the
 * check-in made no lot (earned under "never"), the never-expiring points
 * first. With `redemptionId`, records what it took from each lot (a void
 * gives it back). What the lots do not cover is taken from the
 * never-expiring points (or becomes the refund's debt).
 */
const SPEND = (opts: { refund: boolean; record: boolean }) => `with p as (
     select ?::text as b, ?::text as c, ?::int as pts, ?::int as before, ?::text as k, ?::text as r
   ), s as (
     select coalesce(sum(l.remaining), 0)::int as lots from point_lot l, p where l.business_id = p.b and l.customer_id = p.c and l.remaining > 0
   ), need as (
     select greatest(0, p.pts - ${
       opts.refund
         ? `case when not exists (select 1 from point_lot x where x.business_id = p.b and x.checkin_id = p.k)
                 then greatest(0, least(p.pts, p.before - s.lots)) else 0 end`
         : "0"
     }) as n from p, s
   ), o as (
     select l.id, l.remaining,
            coalesce(sum(l.remaining) over (order by ${opts.refund ? "(l.checkin_id = p.k) is true desc, " : ""}l.expires_at, l.id
                                            rows between unbounded preceding and 1 preceding), 0) as taken_before
     from point_lot l, p where l.business_id = p.b and l.customer_id = p.c and l.remaining > 0
   ), t as (
     update point_lot l set remaining = l.remaining - least(o.remaining, need.n - o.taken_before)
     from o, need where l.id = o.id and o.taken_before < need.n
     returning l.id, least(o.remaining, need.n - o.taken_before) as taken
   )
   ${opts.record ? `insert into point_lot_use (redemption_id, lot_id, business_id, points) select p.r, t.id, p.b, t.taken from t, p returning points as taken` : "select taken from t"}`;
const SPEND_REDEEM = SPEND({ refund: false, record: true });
const SPEND_DEDUCT = SPEND({ refund: false, record: false });
const SPEND_REFUND = SPEND({ refund: true, record: false });

/**
 * A void gives a redemption's points back to the lots they were taken from
 * (their original expiry, even when already past: the next run takes them).
 * New points pay a debt first: of the points given back, the never-expiring
 * part pays it first, then the lots soonest expiry first.
 */
const RESTORE = `with p as (
     select ?::text as b, ?::text as r, ?::int as pts, ?::int as after
   ), u as (
     select u.lot_id, u.points, l.expires_at from point_lot_use u join point_lot l on l.id = u.lot_id, p
     where u.redemption_id = p.r and u.business_id = p.b
   ), d as (
     -- The debt before the void, less what the never-expiring part of it paid.
     select greatest(0, greatest(0, p.pts - p.after) - (p.pts - coalesce((select sum(points) from u), 0))) as n from p
   ), o as (
     select u.lot_id, u.points,
            coalesce(sum(u.points) over (order by u.expires_at, u.lot_id rows between unbounded preceding and 1 preceding), 0) as before
     from u
   ), t as (
     update point_lot l set remaining = l.remaining + (o.points - least(o.points, greatest(0, d.n - o.before)))
     from o, d where l.id = o.lot_id and o.points - least(o.points, greatest(0, d.n - o.before)) > 0
     returning l.id
   )
   select count(*) as n from t`;

/**
 * The run of a day for a batch of customers (their rows locked by the
 * caller): every lot past its instant is emptied into `expired_points`, and
 * each customer loses what their lots lost, with one EXPIRY ledger row.
 * Parameters: business id, customer ids, cutoff, run instant, ledger ids
 * (one per customer, by position), reason.
 */
const EXPIRE_BATCH = `with p as (
     select ?::text as b, ?::text[] as cs, ?::timestamptz as cutoff, ?::timestamptz as at, ?::text[] as ids, ?::text as reason
   ), due as (
     select l.id, l.customer_id, l.remaining from point_lot l, p
     where l.business_id = p.b and l.customer_id = any(p.cs) and l.remaining > 0 and l.expires_at <= p.cutoff
   ), emptied as (
     update point_lot l set expired_points = l.expired_points + due.remaining, remaining = 0, expired_at = p.at
     from due, p where l.id = due.id
     returning l.id
   ), per as (
     select customer_id, sum(remaining)::int as pts, row_number() over (order by customer_id) as n from due group by customer_id
   ), c as (
     update customer set total_points = customer.total_points - per.pts, updated_at = now()
     from per, p where customer.business_id = p.b and customer.id = per.customer_id
     returning customer.id, customer.total_points, per.pts, per.n
   ), led as (
     insert into ledger_entry (id, business_id, customer_id, delta, reason, type, balance_after, created_at)
     select p.ids[c.n], p.b, c.id, -c.pts, p.reason, 'EXPIRY', c.total_points, p.at from c, p
     returning id, customer_id, delta, balance_after
   )
   select led.id, led.customer_id, -led.delta as points, led.balance_after, (select count(*) from emptied)::int as lots from led`;

/**
 * The warnings of a run for a batch of customers (their rows locked by the
 * caller): every live lot not warned yet that stops counting after the
 * run's cutoff and by `until` is marked warned at the run instant, and
 * returned with the customer's total of points that stop counting by the
 * lot's instant (its own included). Parameters: business id, customer ids,
 * cutoff, until, run instant.
 */
const WARN_BATCH = `with p as (
     select ?::text as b, ?::text[] as cs, ?::timestamptz as cutoff, ?::timestamptz as until, ?::timestamptz as at
   ), w as (
     update point_lot l set warned_at = p.at from p
     where l.business_id = p.b and l.customer_id = any(p.cs) and l.remaining > 0 and l.warned_at is null
       and l.expires_at > p.cutoff and l.expires_at <= p.until
     returning l.id, l.customer_id, l.remaining, l.expires_at
   )
   select w.id, w.customer_id, w.remaining, w.expires_at,
          (select coalesce(sum(x.remaining), 0)::int from point_lot x, p
           where x.business_id = p.b and x.customer_id = w.customer_id and x.remaining > 0 and x.expires_at <= w.expires_at) as total
   from w order by w.customer_id, w.expires_at, w.id`;

/** A lot the run warned about: what is left of it, when it stops counting, and the customer's total stopping by then. */
export interface WarnedLot {
  lotId: string;
  customerId: string;
  points: number;
  expiresAt: Date;
  totalExpiring: number;
}

export function createLotRepository(db: Db) {
  return {
    /** A redemption's debit from the lots (after its customer update, in its transaction). */
    async spendForRedemption(businessId: string, customerId: string, points: number, redemptionId: string): Promise<void> {
      await db.query(SPEND_REDEEM, [businessId, customerId, points, 0, null, redemptionId]);
    },

    /** An owner's deduction from the lots (after its customer update, in its transaction). */
    async spendForDeduction(businessId: string, customerId: string, points: number): Promise<void> {
      await db.query(SPEND_DEDUCT, [businessId, customerId, points, 0, null, null]);
    },

    /** A refund's debit (after its customer update): the check-in's own points first. `before` = the balance before the refund. */
    async spendForRefund(businessId: string, customerId: string, points: number, checkinId: string, before: number): Promise<void> {
      await db.query(SPEND_REFUND, [businessId, customerId, points, before, checkinId, null]);
    },

    /** A void's points back to their lots (after its customer update). `after` = the balance after the void. */
    async restoreForVoid(businessId: string, redemptionId: string, points: number, after: number): Promise<void> {
      await db.query(RESTORE, [businessId, redemptionId, points, after]);
    },

    /** Points that will expire, grouped by the instant they stop counting, soonest first. */
    async expiring(businessId: string, customerId: string): Promise<ExpiringRow[]> {
      const rows = await db.query<{ expires_at: Date; points: number }>(
        `select expires_at, sum(remaining)::int as points from point_lot
         where business_id = ? and customer_id = ? and remaining > 0 group by expires_at order by expires_at`,
        [businessId, customerId],
      );
      return rows.map((r) => ({ points: r.points, expiresAt: r.expires_at }));
    },

    /** A customer's lots, soonest expiry first (the portal's list; at most the 200 latest-expiring). */
    async lots(businessId: string, customerId: string): Promise<LotRow[]> {
      return db.query<LotRow>(
        `select * from (select id, points, remaining, expired_points, earned_at, expires_at, checkin_id from point_lot
           where business_id = ? and customer_id = ? order by expires_at desc, earned_at desc, id desc limit 200) x order by expires_at, earned_at, id`,
        [businessId, customerId],
      );
    },

    /** Points of a business that stop counting before `until` (the dashboard's figure). */
    async expiringBefore(businessId: string, until: Date): Promise<number> {
      const rows = await db.query<{ n: string }>(
        `select coalesce(sum(remaining), 0) as n from point_lot where business_id = ? and remaining > 0 and expires_at <= ?`,
        [businessId, until],
      );
      return Number(rows[0]!.n);
    },

    /**
     * The next customers (by id, after `afterId`) with points past `cutoff`:
     * the run's keyed batches. Reads no lock.
     */
    async dueCustomers(businessId: string, cutoff: Date, afterId: string, limit: number): Promise<string[]> {
      const rows = await db.query<{ customer_id: string }>(
        `select distinct customer_id from point_lot
         where business_id = ? and remaining > 0 and expires_at <= ? and customer_id > ?
         order by customer_id limit ?`,
        [businessId, cutoff, afterId, limit],
      );
      return rows.map((r) => r.customer_id);
    },

    /**
     * The next customers (by id, after `afterId`) with a live lot not warned
     * yet that stops counting after `cutoff` and by `until`: the run's
     * keyed warning batches. Reads no lock.
     */
    async warnCustomers(businessId: string, cutoff: Date, until: Date, afterId: string, limit: number): Promise<string[]> {
      const rows = await db.query<{ customer_id: string }>(
        `select distinct customer_id from point_lot
         where business_id = ? and remaining > 0 and warned_at is null and expires_at > ? and expires_at <= ? and customer_id > ?
         order by customer_id limit ?`,
        [businessId, cutoff, until, afterId, limit],
      );
      return rows.map((r) => r.customer_id);
    },

    /** Marks a locked batch's lots warned (see WARN_BATCH): the lots warned now, by customer, soonest first. */
    async warnBatch(businessId: string, customerIds: string[], cutoff: Date, until: Date, at: Date): Promise<WarnedLot[]> {
      const rows = await db.query<{ id: string; customer_id: string; remaining: number; expires_at: Date; total: number }>(WARN_BATCH, [
        businessId, customerIds, cutoff, until, at,
      ]);
      return rows.map((r) => ({ lotId: r.id, customerId: r.customer_id, points: r.remaining, expiresAt: r.expires_at, totalExpiring: r.total }));
    },

    /** Locks the customers' rows (in id order, as every batch does: no deadlock between runs) until the transaction ends. */
    async lockCustomers(businessId: string, customerIds: string[]): Promise<void> {
      await db.query(`select id from customer where business_id = ? and id = any(?::text[]) order by id for update`, [businessId, customerIds]);
    },

    /** Expires a locked batch (see EXPIRE_BATCH): the EXPIRY rows written (one per customer) and how many lots were emptied. */
    async expireBatch(
      businessId: string,
      customerIds: string[],
      cutoff: Date,
      at: Date,
    ): Promise<{ rows: { id: string; customerId: string; points: number; balanceAfter: number }[]; lots: number }> {
      const ids = customerIds.map(() => createId());
      const rows = await db.query<{ id: string; customer_id: string; points: number; balance_after: number; lots: number }>(EXPIRE_BATCH, [
        businessId, customerIds, cutoff, at, ids, "Points expired",
      ]);
      return {
        rows: rows.map((r) => ({ id: r.id, customerId: r.customer_id, points: r.points, balanceAfter: r.balance_after })),
        lots: rows[0]?.lots ?? 0,
      };
    },
  };
}

export type LotRepository = ReturnType<typeof createLotRepository>;
