import { newId as createId } from "../infrastructure/ids.js";
import type { Actor } from "./customer-repository.js";
import type { Db } from "./db.js";

/** A CHECKIN ledger row, as a refund reads it. */
export interface CheckinRow {
  id: string;
  customer_id: string;
  delta: number;
  amount_cents: number | null;
  units: number | null;
  order_ref: string | null;
  store_id: string | null;
}

/** What the refunds of a check-in took so far, and its promotion points (rows naming it that are not refunds). */
export interface RefundTotals {
  /** How many refunds. */
  count: number;
  points: number;
  cents: number;
  units: number;
  bonus: number;
}

/** A redemption, as a void reads it. */
export interface RedemptionRow {
  id: string;
  order_ref: string | null;
  voided: boolean;
}

const CHECKIN_COLUMNS = `id, customer_id, delta, amount_cents, units, order_ref, store_id`;

/** A refund of a check-in's customer: the debit (it may overdraw) and its REFUND ledger row, in one statement. */
const REFUND = `with c as (
     update customer set total_points = total_points - ?, lifetime_points = lifetime_points - ?, updated_at = now()
     where business_id = ? and id = ?
     returning id, total_points
   )
   insert into ledger_entry (id, business_id, customer_id, delta, reason, type, store_id, api_key_id, owner_id, checkin_id, order_ref, amount_cents, units, balance_after)
   select ?, ?, c.id, ?, ?, 'REFUND', ?, ?, ?, ?, ?, ?, ?, c.total_points from c
   returning id, balance_after`;

/**
 * A void: the redemption marked voided (once: the condition), the points
 * given back and the REDEMPTION_VOID ledger row, in one statement.
 */
const VOID = `with r as (
     update redemption set voided_at = now()
     where business_id = ? and id = ? and voided_at is null
     returning id, customer_id, points, order_ref, store_id
   ), c as (
     update customer set total_points = customer.total_points + r.points, updated_at = now()
     from r where customer.business_id = ? and customer.id = r.customer_id
     returning customer.id, customer.total_points, r.points, r.id as redemption_id, r.order_ref, r.store_id
   ), l as (
     insert into ledger_entry (id, business_id, customer_id, delta, reason, type, store_id, api_key_id, owner_id, redemption_id, order_ref, balance_after)
     select ?, ?, c.id, c.points, ?, 'REDEMPTION_VOID', c.store_id, ?, ?, c.redemption_id, c.order_ref, c.total_points from c
     returning id
   )
   select c.points, c.total_points, c.id as customer_id from c`;

/**
 * Refunds and voids (contract §8): the reads they decide by and their
 * writes. The ledger is append-only: a refund or void is a row of its own,
 * never an edit of an old one; every statement filters by the business id.
 */
export function createLifecycleRepository(db: Db) {
  return {
    async checkinById(businessId: string, id: string): Promise<CheckinRow | undefined> {
      const rows = await db.query<CheckinRow>(
        `select ${CHECKIN_COLUMNS} from ledger_entry where business_id = ? and id = ? and type = 'CHECKIN'`,
        [businessId, id],
      );
      return rows[0];
    },

    /**
     * The check-in of an orderRef: the one holding its claim (not fully
     * refunded), else the newest check-in that had it.
     */
    async checkinByOrderRef(businessId: string, orderRef: string): Promise<CheckinRow | undefined> {
      const rows = await db.query<CheckinRow>(
        `select ${CHECKIN_COLUMNS} from ledger_entry
         where business_id = ? and order_ref = ? and type = 'CHECKIN'
         order by (id = (select checkin_id from order_ref_claim where business_id = ? and order_ref = ?)) is true desc, created_at desc
         limit 1`,
        [businessId, orderRef, businessId, orderRef],
      );
      return rows[0];
    },

    /**
     * The check-in holding an orderRef's claim. Read outside the current
     * transaction by default: after a check-in lost the claim to a unique
     * violation, its own transaction cannot run statements until it rolls
     * back. A preview reads it inside the caller's snapshot (`inTransaction`).
     */
    async claimHolder(businessId: string, orderRef: string, opts: { inTransaction?: boolean } = {}): Promise<string | undefined> {
      const sql = `select checkin_id from order_ref_claim where business_id = ? and order_ref = ?`;
      const rows = opts.inTransaction
        ? await db.query<{ checkin_id: string }>(sql, [businessId, orderRef])
        : await db.queryOutsideTransaction<{ checkin_id: string }>(sql, [businessId, orderRef]);
      return rows[0]?.checkin_id;
    },

    /** Locks the customer's row until the transaction ends: refunds of one customer run one at a time. */
    async lockCustomer(businessId: string, customerId: string): Promise<boolean> {
      const rows = await db.query(`select id from customer where business_id = ? and id = ? for update`, [businessId, customerId]);
      return rows.length === 1;
    },

    /** What the check-in's refunds took so far (read after lockCustomer, so no refund of it is in flight). */
    async refundTotals(businessId: string, checkinId: string): Promise<RefundTotals> {
      const rows = await db.query<{ count: string; points: string; cents: string; units: string; bonus: string }>(
        `select count(*) filter (where type = 'REFUND') as count,
                coalesce(-sum(delta) filter (where type = 'REFUND'), 0) as points,
                coalesce(sum(amount_cents) filter (where type = 'REFUND'), 0) as cents,
                coalesce(sum(units) filter (where type = 'REFUND'), 0) as units,
                coalesce(sum(delta) filter (where type <> 'REFUND'), 0) as bonus
         from ledger_entry where business_id = ? and checkin_id = ?`,
        [businessId, checkinId],
      );
      const r = rows[0]!;
      return { count: Number(r.count), points: Number(r.points), cents: Number(r.cents), units: Number(r.units), bonus: Number(r.bonus) };
    },

    /** Writes a refund: the debit and its REFUND row. Returns the row's id and the balance after. */
    async refund(
      businessId: string,
      checkin: CheckinRow,
      refund: { points: number; reason: string; amountCents: number | null; units: number | null },
      actor: Actor,
    ): Promise<{ refundId: string; totalPoints: number }> {
      const rows = await db.query<{ id: string; balance_after: number }>(REFUND, [
        refund.points, refund.points, businessId, checkin.customer_id,
        createId(), businessId, -refund.points, refund.reason, checkin.store_id, actor.apiKeyId ?? null, actor.ownerId ?? null,
        checkin.id, checkin.order_ref, refund.amountCents, refund.units,
      ]);
      const row = rows[0];
      if (!row) throw new Error("the refunded check-in's customer is gone although its row was locked");
      return { refundId: row.id, totalPoints: row.balance_after };
    },

    /** Frees a fully refunded check-in's orderRef for a new check-in. */
    async releaseClaim(businessId: string, checkinId: string): Promise<void> {
      await db.query(`delete from order_ref_claim where business_id = ? and checkin_id = ?`, [businessId, checkinId]);
    },

    async redemptionById(businessId: string, id: string): Promise<RedemptionRow | undefined> {
      const rows = await db.query<RedemptionRow>(
        `select id, order_ref, voided_at is not null as voided from redemption where business_id = ? and id = ?`,
        [businessId, id],
      );
      return rows[0];
    },

    /** The redemption of an orderRef: the newest not voided, else the newest. */
    async redemptionByOrderRef(businessId: string, orderRef: string): Promise<RedemptionRow | undefined> {
      const rows = await db.query<RedemptionRow>(
        `select id, order_ref, voided_at is not null as voided from redemption
         where business_id = ? and order_ref = ? order by voided_at is null desc, created_at desc, id desc limit 1`,
        [businessId, orderRef],
      );
      return rows[0];
    },

    /** Voids a redemption once. Undefined when it was already voided (or is gone). */
    async voidRedemption(
      businessId: string,
      redemptionId: string,
      reason: string,
      actor: Actor,
    ): Promise<{ pointsRestored: number; totalPoints: number; customerId: string } | undefined> {
      const rows = await db.query<{ points: number; total_points: number; customer_id: string }>(VOID, [
        businessId, redemptionId, businessId,
        createId(), businessId, reason, actor.apiKeyId ?? null, actor.ownerId ?? null,
      ]);
      const row = rows[0];
      return row && { pointsRestored: row.points, totalPoints: row.total_points, customerId: row.customer_id };
    },
  };
}

export type LifecycleRepository = ReturnType<typeof createLifecycleRepository>;

/** True when a check-in lost its orderRef to another check-in's claim (a unique violation). */
export function isOrderRefTaken(err: unknown): boolean {
  const e = err as { code?: string; constraint?: string } | null;
  return e?.code === "23505" && e.constraint === "order_ref_claim_pkey";
}
