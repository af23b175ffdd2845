import { newId as createId } from "../infrastructure/ids.js";
import type { PromotionRule } from "../domain/promotions.js";
import type { Db } from "./db.js";
import { lotInsertCte, lotParams, type LotTerms } from "./lot-repository.js";
import type { Program } from "./entities/program.js";

/** A reward as the hot path holds it (cached with the program). */
export interface RewardRow {
  id: string;
  title: string;
  cost: number;
  active: boolean;
  stock: number | null;
  perCustomerLimit: number | null;
  isDefault: boolean;
  createdAt: Date;
}

/** What the program read carries beside the program (contract §9). */
export interface Catalogue {
  /** The default reward first, then oldest first. */
  rewards: RewardRow[];
  /** Active promotions, newest first. */
  promotions: PromotionRule[];
  /**
   * The business has an enabled webhook endpoint (contract §11): its changes
   * write delivery rows and enqueue them. Without one, nothing of webhooks
   * is written or enqueued.
   */
  webhooks: boolean;
}

export type ProgramView = Program & Catalogue;

const REWARD_JSON = `json_build_object('id', id, 'title', title, 'cost', cost, 'active', active, 'stock', stock,
  'perCustomerLimit', per_customer_limit, 'isDefault', is_default, 'createdAt', created_at)`;
const PROMOTION_JSON = `json_build_object('id', id, 'name', name, 'kind', kind, 'multiplierHundredths', multiplier_hundredths,
  'bonusPoints', bonus_points, 'startsAt', starts_at, 'endsAt', ends_at, 'weekdays', weekdays, 'startMinute', start_minute,
  'endMinute', end_minute, 'minAmountCents', min_amount_cents, 'storeIds', store_ids, 'maxUsesPerCustomer', max_uses_per_customer,
  'per', per, 'active', active, 'createdAt', created_at)`;

/**
 * The rewards and active promotions of the program's business, as one JSON
 * column of the program's own read (so the hot path pays one query).
 */
export const CATALOGUE_SELECT = `json_build_object(
  'rewards', (select coalesce(json_agg(${REWARD_JSON} order by is_default desc, created_at, id), '[]') from reward r where r.business_id = program.business_id),
  'promotions', (select coalesce(json_agg(${PROMOTION_JSON} order by created_at desc, id desc), '[]') from promotion x where x.business_id = program.business_id and x.active),
  'webhooks', exists (select 1 from webhook_endpoint w where w.business_id = program.business_id and w.enabled))`;

type Json = Record<string, unknown>;

function rewardFromJson(r: Json): RewardRow {
  return {
    id: r.id as string,
    title: r.title as string,
    cost: r.cost as number,
    active: r.active as boolean,
    stock: (r.stock as number | null) ?? null,
    perCustomerLimit: (r.perCustomerLimit as number | null) ?? null,
    isDefault: r.isDefault as boolean,
    createdAt: new Date(r.createdAt as string),
  };
}

export function promotionFromJson(x: Json): PromotionRule {
  return {
    id: x.id as string,
    name: x.name as string,
    kind: x.kind as PromotionRule["kind"],
    multiplierHundredths: (x.multiplierHundredths as number | null) ?? null,
    bonusPoints: (x.bonusPoints as number | null) ?? null,
    startsAt: new Date(x.startsAt as string),
    endsAt: x.endsAt ? new Date(x.endsAt as string) : null,
    weekdays: (x.weekdays as number[] | null) ?? [],
    startMinute: (x.startMinute as number | null) ?? null,
    endMinute: (x.endMinute as number | null) ?? null,
    minAmountCents: (x.minAmountCents as number | null) ?? null,
    storeIds: (x.storeIds as string[] | null) ?? [],
    maxUsesPerCustomer: (x.maxUsesPerCustomer as number | null) ?? null,
    per: x.per as PromotionRule["per"],
    active: x.active as boolean,
    createdAt: new Date(x.createdAt as string),
  };
}

export function catalogueFromJson(value: unknown): Catalogue {
  const v = (typeof value === "string" ? JSON.parse(value) : value) as { rewards: Json[]; promotions: Json[]; webhooks?: boolean };
  return { rewards: v.rewards.map(rewardFromJson), promotions: v.promotions.map(promotionFromJson), webhooks: v.webhooks === true };
}

/** Why a reward's conditional write touched nothing. */
export type RewardRefusal = "inactive" | "out_of_stock" | "limit";

/**
 * Rewards and promotions (contract §9): the owner's catalogue and the
 * conditional writes that keep stock, per-customer limits and promotion
 * uses under any concurrency (each a single conditional statement, in the
 * caller's transaction). Every statement filters by business.
 */
export function createCatalogueRepository(db: Db) {
  return {
    /** The catalogue with redeemed counts (owner reads; not the hot path). */
    async listRewards(businessId: string): Promise<(RewardRow & { redeemedCount: number })[]> {
      const rows = await db.query<{ r: Json; redeemed: string }>(
        `select ${REWARD_JSON} as r,
                (select coalesce(sum(d.quantity), 0) from redemption d
                  where d.business_id = reward.business_id and d.voided_at is null
                    and (d.reward_id = reward.id or (reward.is_default and d.reward_id is null))) as redeemed
         from reward where business_id = ? order by is_default desc, created_at, id`,
        [businessId],
      );
      return rows.map((x) => ({ ...rewardFromJson(x.r), redeemedCount: Number(x.redeemed) }));
    },

    async countRewards(businessId: string): Promise<number> {
      const rows = await db.query<{ n: string }>(`select count(*) as n from reward where business_id = ?`, [businessId]);
      return Number(rows[0]!.n);
    },

    async createReward(
      businessId: string,
      f: { title: string; cost: number; stock: number | null; perCustomerLimit: number | null },
    ): Promise<string> {
      const id = createId();
      await db.query(`insert into reward (id, business_id, title, cost, stock, per_customer_limit) values (?, ?, ?, ?, ?, ?)`, [
        id, businessId, f.title, f.cost, f.stock, f.perCustomerLimit,
      ]);
      return id;
    },

    /** Sets the given columns; false when there is no such reward. */
    async updateReward(
      businessId: string,
      id: string,
      f: { title?: string; cost?: number; active?: boolean; stock?: number | null; perCustomerLimit?: number | null },
    ): Promise<{ isDefault: boolean; title: string; cost: number } | undefined> {
      const sets: string[] = [];
      const params: unknown[] = [];
      const cols = { title: "title", cost: "cost", active: "active", stock: "stock", perCustomerLimit: "per_customer_limit" } as const;
      for (const k of Object.keys(cols) as (keyof typeof cols)[]) {
        if (f[k] !== undefined) {
          sets.push(`${cols[k]} = ?`);
          params.push(f[k]);
        }
      }
      const rows = await db.query<{ is_default: boolean; title: string; cost: number }>(
        `update reward set ${sets.length ? sets.join(", ") : "id = id"} where business_id = ? and id = ? returning is_default, title, cost`,
        [...params, businessId, id],
      );
      return rows[0] && { isDefault: rows[0].is_default, title: rows[0].title, cost: rows[0].cost };
    },

    /**
     * Takes `quantity` units of a reward for a customer, or says why not:
     * stock (a conditional update of the reward row) and the customer's
     * units (a conditional upsert), each refusing in the statement itself,
     * so two tills on any instances can never both take the last unit.
     * Call in the redemption's transaction: a later refusal rolls it back.
     */
    async take(
      businessId: string,
      reward: { id: string; stock: number | null; perCustomerLimit: number | null },
      customerId: string,
      quantity: number,
    ): Promise<RewardRefusal | undefined> {
      const rows = await db.query<{ active: boolean; stock: number | null; per_customer_limit: number | null }>(
        `update reward set stock = case when stock is null then null else stock - ? end
         where business_id = ? and id = ? and active and (stock is null or stock >= ?)
         returning active, stock, per_customer_limit`,
        [quantity, businessId, reward.id, quantity],
      );
      if (!rows[0]) {
        const now = await db.query<{ active: boolean }>(`select active from reward where business_id = ? and id = ?`, [businessId, reward.id]);
        return now[0]?.active === false ? "inactive" : "out_of_stock";
      }
      const limit = rows[0].per_customer_limit;
      if (limit === null) return undefined;
      const counted = await db.query(
        `insert into reward_customer_count as c (business_id, reward_id, customer_id, units) select ?, ?, ?, ? where ? <= ?
         on conflict (business_id, reward_id, customer_id) do update set units = c.units + excluded.units
         where c.units + excluded.units <= ?
         returning units`,
        [businessId, reward.id, customerId, quantity, quantity, limit, limit],
      );
      return counted.length === 1 ? undefined : "limit";
    },

    /** Gives a voided redemption's units back: stock and the customer's count. */
    async giveBack(businessId: string, redemptionId: string): Promise<void> {
      await db.query(
        `with d as (select reward_id, customer_id, quantity from redemption where business_id = ? and id = ? and reward_id is not null),
              s as (update reward set stock = stock + d.quantity from d where reward.business_id = ? and reward.id = d.reward_id and reward.stock is not null)
         update reward_customer_count c set units = greatest(c.units - d.quantity, 0) from d
         where c.business_id = ? and c.reward_id = d.reward_id and c.customer_id = d.customer_id`,
        [businessId, redemptionId, businessId, businessId],
      );
    },

    // ---- promotions ----

    async listPromotions(businessId: string): Promise<PromotionRule[]> {
      const rows = await db.query<{ p: Json }>(
        `select ${PROMOTION_JSON} as p from promotion where business_id = ? order by created_at desc, id desc`,
        [businessId],
      );
      return rows.map((r) => promotionFromJson(r.p));
    },

    async findPromotion(businessId: string, id: string, forUpdate = false): Promise<PromotionRule | undefined> {
      const rows = await db.query<{ p: Json }>(
        `select ${PROMOTION_JSON} as p from promotion where business_id = ? and id = ?${forUpdate ? " for update" : ""}`,
        [businessId, id],
      );
      return rows[0] && promotionFromJson(rows[0].p);
    },

    /** Serialises changes to a business's active promotions (the limit of 10) until the transaction ends. */
    async lockPromotions(businessId: string): Promise<number> {
      await db.query(`select pg_advisory_xact_lock(hashtext('promotions:' || ?))`, [businessId]);
      const rows = await db.query<{ n: string }>(`select count(*) as n from promotion where business_id = ? and active`, [businessId]);
      return Number(rows[0]!.n);
    },

    async savePromotion(businessId: string, p: PromotionRule, isNew: boolean): Promise<void> {
      const values = [
        p.name, p.kind, p.multiplierHundredths, p.bonusPoints, p.startsAt, p.endsAt, p.weekdays, p.startMinute, p.endMinute,
        p.minAmountCents, p.storeIds, p.maxUsesPerCustomer, p.per, p.active,
      ];
      if (isNew) {
        await db.query(
          `insert into promotion (id, business_id, name, kind, multiplier_hundredths, bonus_points, starts_at, ends_at, weekdays,
             start_minute, end_minute, min_amount_cents, store_ids, max_uses_per_customer, per, active)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?::smallint[], ?, ?, ?, ?::text[], ?, ?, ?)`,
          [p.id, businessId, ...values],
        );
      } else {
        await db.query(
          `update promotion set name = ?, kind = ?, multiplier_hundredths = ?, bonus_points = ?, starts_at = ?, ends_at = ?,
             weekdays = ?::smallint[], start_minute = ?, end_minute = ?, min_amount_cents = ?, store_ids = ?::text[],
             max_uses_per_customer = ?, per = ?, active = ?
           where business_id = ? and id = ?`,
          [...values, businessId, p.id],
        );
      }
    },

    /** Counts a use of a limited promotion by a customer in a period; false when the limit is reached. */
    async usePromotion(businessId: string, p: PromotionRule, customerId: string, period: string): Promise<boolean> {
      const rows = await db.query(
        `insert into promotion_use as u (business_id, promotion_id, customer_id, period, uses) values (?, ?, ?, ?, 1)
         on conflict (business_id, promotion_id, customer_id, period) do update set uses = u.uses + 1 where u.uses < ?
         returning uses`,
        [businessId, p.id, customerId, period, p.maxUsesPerCustomer],
      );
      return rows.length === 1;
    },

    /**
     * Gives back the promotion use a check-in counted (its PROMOTION row
     * records the period), once its refunds are complete: the customer may
     * use the promotion again, as if the check-in had not happened. Run in
     * the refund's transaction, under the customer's row lock.
     */
    async giveUseBack(businessId: string, checkinId: string): Promise<void> {
      await db.query(
        `update promotion_use u set uses = u.uses - 1
         from ledger_entry l
         where l.business_id = ? and l.checkin_id = ? and l.type = 'PROMOTION' and l.promotion_period is not null
           and u.business_id = l.business_id and u.promotion_id = l.promotion_id and u.customer_id = l.customer_id
           and u.period = l.promotion_period and u.uses > 0`,
        [businessId, checkinId],
      );
    },

    /** A customer's uses of promotions in their periods (for a preview). */
    async uses(businessId: string, customerId: string, keys: { promotionId: string; period: string }[]): Promise<Map<string, number>> {
      const out = new Map<string, number>();
      if (keys.length === 0) return out;
      const rows = await db.query<{ promotion_id: string; period: string; uses: number }>(
        `select promotion_id, period, uses from promotion_use where business_id = ? and customer_id = ? and promotion_id = any(?::text[])`,
        [businessId, customerId, keys.map((k) => k.promotionId)],
      );
      for (const r of rows) out.set(`${r.promotion_id}\n${r.period}`, r.uses);
      return out;
    },

    /** The promotion's bonus on a check-in: the credit and its PROMOTION ledger row, in one statement. */
    async creditPromotion(
      businessId: string,
      customerId: string,
      f: {
        promotionId: string;
        promotionName: string;
        checkinId: string;
        points: number;
        storeId: string | null;
        apiKeyId: string | null;
        ownerId: string | null;
        orderRef: string | null;
        /** The period a use was counted in (a limited promotion), so a full refund gives it back there. */
        usePeriod: string | null;
      },
      /** Under an expiry policy: the bonus's lot, with the check-in's terms (contract §10). */
      lot?: LotTerms,
    ): Promise<number> {
      const rows = await db.query<{ total_points: number }>(
        `with c as (
           update customer set total_points = total_points + ?, lifetime_points = lifetime_points + ?, updated_at = now()
           where business_id = ? and id = ? returning id, total_points
         ), l as (
           insert into ledger_entry (id, business_id, customer_id, delta, reason, type, store_id, api_key_id, owner_id, checkin_id, promotion_id, promotion_period, order_ref, balance_after)
           select ?, ?, c.id, ?, ?, 'PROMOTION', ?, ?, ?, ?, ?, ?, ?, c.total_points from c returning id
         )${lot ? `, ${lotInsertCte({ customer: "c.id", total: "c.total_points", ledger: "l.id", tables: "c, l" })}` : ""}
         select total_points from c`,
        [
          f.points, f.points, businessId, customerId,
          createId(), businessId, f.points, `Promotion: ${f.promotionName}`.slice(0, 500), f.storeId, f.apiKeyId, f.ownerId, f.checkinId, f.promotionId, f.usePeriod, f.orderRef,
          ...(lot ? lotParams(businessId, f.checkinId, lot, f.points) : []),
        ],
      );
      if (!rows[0]) throw new Error("the checked-in customer is gone within the check-in's transaction");
      return rows[0].total_points;
    },
  };
}

export type CatalogueRepository = ReturnType<typeof createCatalogueRepository>;
