import { newId as createId } from "../infrastructure/ids.js";
import type { Db } from "./db.js";
import type { EventRequest } from "../domain/events.js";
import { FANOUT_CTE, newEventId, requestJson, sqlJsonTime } from "./event-repository.js";
import { lotInsertCte, lotParams, type LotTerms } from "./lot-repository.js";

/** A customer row as the SQL below returns it. */
export interface CustomerRow {
  id: string;
  name: string;
  phone: string;
  status: "ACTIVE" | "BLOCKED";
  notes: string;
  total_points: number;
  /** bigint, as text. */
  lifetime_points: string;
  created_at: Date;
  updated_at: Date;
  last_visit_at: Date | null;
}

/** A ledger row as the SQL below returns it. */
export interface LedgerRow {
  id: string;
  delta: number;
  reason: string;
  type: string;
  store_id: string | null;
  api_key_id: string | null;
  owner_id: string | null;
  redemption_id: string | null;
  checkin_id: string | null;
  order_ref: string | null;
  amount_cents: number | null;
  units: number | null;
  balance_after: number;
  created_at: Date;
  store_name: string | null;
  api_key_name: string | null;
  /** CHECKIN rows: what their refunds took so far (points, cents, units; bigint sums as text). */
  refunded_points: string | null;
  refunded_cents: string | null;
  refunded_units: string | null;
  /** CHECKIN rows: promotion points of the check-in (rows naming it that are not refunds). */
  bonus_points: string | null;
  refund_count: string | null;
  /** REDEMPTION rows. */
  voided: boolean | null;
  reward_id: string | null;
  quantity: number | null;
  /** REDEMPTION rows: of a reward other than the default one. */
  catalogue_reward: boolean | null;
  /** PROMOTION rows. */
  promotion_id: string | null;
}

/** Who made a change of points, for the ledger. */
export interface Actor {
  apiKeyId?: string;
  ownerId?: string;
}

/** How a POS call names its customer. */
export type CustomerRef = { id: string } | { phone: string };

const CUSTOMER_COLUMNS = `id, name, phone, status, notes, total_points, lifetime_points, created_at, updated_at, last_visit_at`;

export const SORT_COLUMNS = {
  createdAt: "created_at",
  name: "lower(name)",
  totalPoints: "total_points",
  lastVisitAt: "last_visit_at",
} as const;

export type SortBy = keyof typeof SORT_COLUMNS;

// The POS statements, written once: built per call, their text (about 700
// characters for a check-in) was a string to allocate and hash each time.

/** How a POS statement finds its customer, and the value it looks for. */
function refColumn(ref: CustomerRef): ["id" | "phone", string] {
  return "id" in ref ? ["id", ref.id] : ["phone", ref.phone];
}
/** A statement in its two forms, by customer id and by phone. */
const byRef = (sql: (column: "id" | "phone") => string) => ({ id: sql("id"), phone: sql("phone") });

const FIND = byRef((column) => `select ${CUSTOMER_COLUMNS} from customer where business_id = ? and ${column} = ?`);
const BALANCE = byRef((column) => `select id, total_points from customer where business_id = ? and ${column} = ?`);
/**
 * A conditional debit (ACTIVE and enough points) with the redemption and
 * ledger rows, and its redemption.created event (with `fanout`, its
 * deliveries too).
 */
const redeemSql = (events: "none" | "events" | "fanout") => byRef(
  (column) => `with c as (
     update customer set total_points = total_points - ?, updated_at = now()
     where business_id = ? and ${column} = ? and status = 'ACTIVE' and total_points >= ?
     returning id, total_points
   ), r as (
     insert into redemption (id, business_id, customer_id, points, reward_title, store_id, api_key_id, order_ref, reward_id, quantity)
     select ?, ?, c.id, ?, ?, ?, ?, ?, ?, ? from c returning id, customer_id, points, reward_title, store_id, api_key_id, order_ref, reward_id, quantity, created_at
   ), l as (
     insert into ledger_entry (id, business_id, customer_id, delta, reason, type, store_id, api_key_id, owner_id, redemption_id, order_ref, balance_after)
     select ?, ?, c.id, ?, ?, 'REDEMPTION', ?, ?, ?, ?, ?, c.total_points from c returning id
   )${events === "none" ? "" : `, ev as (
     insert into event (id, business_id, type, customer_id, data, request)
     select ?, ?, 'redemption.created', c.id, jsonb_build_object('object', jsonb_build_object('redemptionId', r.id, 'customerId', c.id,
       'pointsRedeemed', r.points, 'rewardTitle', r.reward_title, 'rewardId', coalesce(r.reward_id, ''), 'quantity', r.quantity,
       'remainingPoints', c.total_points, 'storeId', coalesce(r.store_id, ''), 'apiKeyId', coalesce(r.api_key_id, ''),
       'ownerId', coalesce(?::text, ''), 'orderRef', coalesce(r.order_ref, ''), 'createdAt', ${sqlJsonTime("r.created_at")})), ?::jsonb
     from c, r
     returning id, type
   )${events === "fanout" ? `, ${FANOUT_CTE}` : ""}`}
   select c.id, c.total_points${events === "fanout" ? ", (select coalesce(array_agg(dl.id), '{}') from dl) as deliveries" : ""} from c`,
);
const REDEEM = { none: redeemSql("none"), events: redeemSql("events"), fanout: redeemSql("fanout") };

/** The events a change writes in its own statement. */
export interface StatementEvents {
  request: EventRequest;
  /** The business has an enabled webhook endpoint: write the deliveries too. */
  fanout: boolean;
}

/** What the check-in's customer row `up` returns (enough for its events' objects; `inserted`: the upsert enrolled it, told by xmax). */
const UP_COLUMNS = `id, total_points, name, phone, status, notes, lifetime_points, created_at, updated_at, last_visit_at`;

/** The customer of `up` as the API shows it (contract §11: an event's object). */
const UP_CUSTOMER_JSON = `jsonb_build_object('id', up.id, 'name', up.name, 'phone', up.phone, 'status', up.status,
  'totalPoints', up.total_points, 'rewardAvailable', up.total_points >= p.th, 'notes', up.notes,
  'createdAt', ${sqlJsonTime("up.created_at")}, 'updatedAt', ${sqlJsonTime("up.updated_at")},
  'lastVisitAt', ${sqlJsonTime("up.last_visit_at")}, 'lifetimePoints', up.lifetime_points)`;

/** The check-in of `led` as an event's object. */
const LED_CHECKIN_JSON = `jsonb_build_object('checkinId', led.id, 'customerId', led.customer_id, 'pointsAwarded', led.delta,
  'totalPoints', led.balance_after, 'rewardAvailable', led.balance_after >= p.th, 'storeId', coalesce(led.store_id, ''),
  'apiKeyId', coalesce(led.api_key_id, ''), 'orderRef', coalesce(led.order_ref, ''),
  'amount', round(led.amount_cents::numeric / 100, 2), 'units', led.units, 'createdAt', ${sqlJsonTime("led.created_at")})`;

/**
 * A check-in's events in its own statement (contract §11): customer.created
 * when it enrolled the customer, checkin.created, reward.available when the
 * balance reached the default reward's cost; with `fanout`, the deliveries
 * to the business's subscribed endpoints too.
 */
const checkinEvents = (fanout: boolean) => `, ev as (
     insert into event (id, business_id, type, customer_id, data, request)
     select x.id, ?, x.type, up.id, x.data, ?::jsonb
     from up, led, (select ?::int as th, ?::text as title) p, lateral (values
       (?, 'customer.created', jsonb_build_object('object', ${UP_CUSTOMER_JSON}), up.inserted),
       (?, 'checkin.created', jsonb_build_object('object', ${LED_CHECKIN_JSON}), true),
       (?, 'reward.available', jsonb_build_object('object', jsonb_build_object('customerId', up.id, 'totalPoints', up.total_points,
          'rewardThreshold', p.th, 'rewardTitle', p.title)), up.total_points >= p.th and up.total_points - led.delta < p.th)
     ) as x(id, type, data, wanted)
     where x.wanted
     returning id, type
   )${fanout ? `, ${FANOUT_CTE}` : ""}`;

/** Which events a check-in statement writes: none (the caller writes them), its own, or its own and their deliveries. */
type EventsMode = "none" | "events" | "fanout";

/**
 * The ledger row of a check-in, from the customer row `up` returns, and with
 * an orderRef its claim (order_ref_claim: its primary key refuses a second
 * claim of the orderRef as a unique violation, and the whole statement —
 * balance, ledger row, claim — then writes nothing).
 */
const checkinLedger = (claim: boolean, lot: boolean, events: EventsMode) => `led as (
     insert into ledger_entry (id, business_id, customer_id, delta, reason, type, store_id, api_key_id, owner_id, amount_cents, units, order_ref, balance_after)
     select ?, ?, up.id, ?, 'Visit', 'CHECKIN', ?, ?, ?, ?, ?, ?, up.total_points from up
     returning id, customer_id, balance_after, delta, store_id, api_key_id, order_ref, amount_cents, units, created_at
   )${claim ? `, claim as (insert into order_ref_claim (business_id, order_ref, checkin_id) select ?, ?, led.id from led)` : ""}${
     // Under an expiry policy (contract §10), the check-in's lot, in the same statement.
     lot ? `, ${lotInsertCte({ customer: "led.customer_id", total: "led.balance_after", ledger: "led.id", tables: "led" })}` : ""
   }${events === "none" ? "" : checkinEvents(events === "fanout")}
   select led.id, led.customer_id, led.balance_after, (select up.inserted from up) as inserted${events === "fanout" ? ", (select coalesce(array_agg(dl.id), '{}') from dl) as deliveries" : ""} from led`;
/** lifetime_points is in the same UPDATE as total_points and in no index, so a check-in stays a HOT update. */
const checkinSql = (claim: boolean, lot: boolean, events: EventsMode) => ({
  /** By phone, an unknown customer is enrolled in the same statement (upsert); a BLOCKED one is left untouched. */
  phone: `with up as (
     insert into customer (id, business_id, phone, status, total_points, lifetime_points, last_visit_at)
     values (?, ?, ?, 'ACTIVE', ?, ?, now())
     on conflict (business_id, phone) do update
       set total_points = customer.total_points + excluded.total_points,
           lifetime_points = customer.lifetime_points + excluded.lifetime_points,
           last_visit_at = now(), updated_at = now()
       where customer.status = 'ACTIVE'
     returning ${UP_COLUMNS}, (xmax = 0) as inserted
   ), ${checkinLedger(claim, lot, events)}`,
  id: `with up as (
     update customer set total_points = total_points + ?, lifetime_points = lifetime_points + ?, last_visit_at = now(), updated_at = now()
     where business_id = ? and id = ? and status = 'ACTIVE'
     returning ${UP_COLUMNS}, false as inserted
   ), ${checkinLedger(claim, lot, events)}`,
});
/** Every check-in statement, by orderRef claim, lot and events: built once. */
const CHECKINS = new Map<string, ReturnType<typeof checkinSql>>();
for (const claim of [false, true]) {
  for (const lot of [false, true]) {
    for (const events of ["none", "events", "fanout"] as const) CHECKINS.set(`${claim}${lot}${events}`, checkinSql(claim, lot, events));
  }
}

/** The events a check-in writes in its own statement. */
export interface CheckinEvents extends StatementEvents {
  /** The default reward's cost and title (reward.available). */
  rewardThreshold: number;
  rewardTitle: string;
}

/** What a check-in records beside its points: what refunds are prorated by, and the till's order. */
export interface CheckinRecord {
  /** SPEND: the amount in cents. */
  amountCents?: number;
  /** UNIT: the units. */
  units?: number;
  orderRef?: string;
}

/** Escapes LIKE wildcards so a search is taken literally. */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Customers, their ledger and redemptions. Every statement filters by the
 * business id. Every change of points is one statement (or one transaction)
 * that writes the balance and the ledger row together; debits are
 * conditional updates, so concurrent redeems can never overdraw.
 */
export function createCustomerRepository(db: Db) {
  return {
    /** `forUpdate`: the row locked until the transaction ends (an update that reports what it changed). */
    async find(businessId: string, ref: CustomerRef, opts: { forUpdate?: boolean } = {}): Promise<CustomerRow | undefined> {
      const [column, value] = refColumn(ref);
      const rows = await db.query<CustomerRow>(opts.forUpdate ? `${FIND[column]} for update` : FIND[column], [businessId, value]);
      return rows[0];
    },

    /** A balance look-up: the id and the points only. */
    async balance(businessId: string, ref: CustomerRef): Promise<Pick<CustomerRow, "id" | "total_points"> | undefined> {
      const [column, value] = refColumn(ref);
      const rows = await db.query<Pick<CustomerRow, "id" | "total_points">>(BALANCE[column], [businessId, value]);
      return rows[0];
    },

    /**
     * Credits a check-in. By phone, an unknown customer is enrolled in the
     * same statement (upsert); a BLOCKED one is left untouched. Returns
     * undefined when no ACTIVE customer was credited.
     */
    async checkin(
      businessId: string,
      ref: CustomerRef,
      points: number,
      storeId: string | null,
      actor: Actor,
      record: CheckinRecord = {},
      /** Under an expiry policy: the lot's terms (contract §10). */
      lot?: LotTerms,
      /** Absent: the caller writes the check-in's events itself (a promotion's check-in, in its transaction). */
      events?: CheckinEvents,
    ): Promise<{ checkinId: string; customerId: string; totalPoints: number; enrolled: boolean; deliveries: string[] } | undefined> {
      const orderRef = record.orderRef ?? null;
      const checkinId = createId();
      const ledgerParams = [
        checkinId, businessId, points, storeId, actor.apiKeyId ?? null, actor.ownerId ?? null,
        record.amountCents ?? null, record.units ?? null, orderRef,
        ...(orderRef === null ? [] : [businessId, orderRef]),
        ...(lot === undefined ? [] : lotParams(businessId, checkinId, lot, points)),
        ...(events === undefined
          ? []
          : [businessId, requestJson(events.request), events.rewardThreshold, events.rewardTitle, newEventId(), newEventId(), newEventId(), ...(events.fanout ? [businessId] : [])]),
      ];
      const [column, value] = refColumn(ref);
      const mode: EventsMode = events === undefined ? "none" : events.fanout ? "fanout" : "events";
      const sql = CHECKINS.get(`${orderRef !== null}${lot !== undefined}${mode}`)![column];
      const rows = await db.query<{ id: string; customer_id: string; balance_after: number; inserted: boolean; deliveries?: string[] }>(
        sql,
        column === "phone" ? [createId(), businessId, value, points, points, ...ledgerParams] : [points, points, businessId, value, ...ledgerParams],
      );
      const row = rows[0];
      return row && { checkinId: row.id, customerId: row.customer_id, totalPoints: row.balance_after, enrolled: row.inserted === true, deliveries: row.deliveries ?? [] };
    },

    /**
     * Spends points: a conditional debit (ACTIVE and enough points) with the
     * redemption and ledger rows, in one statement. Undefined when nothing
     * was debited.
     */
    async redeem(
      businessId: string,
      ref: CustomerRef,
      points: number,
      rewardTitle: string,
      storeId: string | null,
      actor: Actor,
      orderRef: string | null = null,
      /** The reward of the catalogue and how many units (contract §9). */
      reward: { id: string | null; quantity: number } = { id: null, quantity: 1 },
      /** Absent: the caller writes the redemption's event itself. */
      events?: StatementEvents,
    ): Promise<{ customerId: string; redemptionId: string; remainingPoints: number; deliveries: string[] } | undefined> {
      const [column, value] = refColumn(ref);
      const redemptionId = createId();
      const rows = await db.query<{ id: string; total_points: number; deliveries?: string[] }>(REDEEM[events === undefined ? "none" : events.fanout ? "fanout" : "events"][column], [
        points, businessId, value, points,
        redemptionId, businessId, points, rewardTitle, storeId, actor.apiKeyId ?? null, orderRef, reward.id, reward.quantity,
        createId(), businessId, -points, `Redemption: ${rewardTitle}`, storeId, actor.apiKeyId ?? null, actor.ownerId ?? null, redemptionId, orderRef,
        ...(events === undefined ? [] : [newEventId(), businessId, actor.ownerId ?? null, requestJson(events.request), ...(events.fanout ? [businessId] : [])]),
      ]);
      const row = rows[0];
      return row && { customerId: row.id, redemptionId, remainingPoints: row.total_points, deliveries: row.deliveries ?? [] };
    },

    /**
     * An owner's adjustment (allowed on BLOCKED customers). A deduction past
     * zero is refused by the condition; a credit is always allowed, also on a
     * negative balance (a refund's debt). A credit counts as lifetime points.
     * Undefined when nothing changed.
     */
    async adjust(
      businessId: string,
      customerId: string,
      delta: number,
      reason: string,
      type: "ADJUSTMENT" | "INITIAL",
      actor: Actor,
      /** A credit under an expiry policy: its lot's terms (contract §10). */
      lot?: LotTerms,
    ): Promise<{ totalPoints: number } | undefined> {
      const withLot = lot !== undefined && delta > 0;
      const rows = await db.query<{ total_points: number }>(
        `with c as (
           update customer set total_points = total_points + ?, lifetime_points = lifetime_points + greatest(?::int, 0), updated_at = now()
           where business_id = ? and id = ? and (?::int > 0 or total_points + ? >= 0)
           returning id, total_points
         ), l as (
           insert into ledger_entry (id, business_id, customer_id, delta, reason, type, api_key_id, owner_id, balance_after)
           select ?, ?, c.id, ?, ?, ?, ?, ?, c.total_points from c returning id
         )${withLot ? `, ${lotInsertCte({ customer: "c.id", total: "c.total_points", ledger: "l.id", tables: "c, l" })}` : ""}
         select c.total_points from c`,
        [
          delta, delta, businessId, customerId, delta, delta, createId(), businessId, delta, reason, type, actor.apiKeyId ?? null, actor.ownerId ?? null,
          ...(withLot ? lotParams(businessId, null, lot, delta) : []),
        ],
      );
      return rows[0] && { totalPoints: rows[0].total_points };
    },

    async create(
      businessId: string,
      fields: { name: string; phone: string; notes: string },
    ): Promise<CustomerRow> {
      const rows = await db.query<CustomerRow>(
        `insert into customer (id, business_id, name, phone, notes, status, total_points, lifetime_points)
         values (?, ?, ?, ?, ?, 'ACTIVE', 0, 0) returning ${CUSTOMER_COLUMNS}`,
        [createId(), businessId, fields.name, fields.phone, fields.notes],
      );
      return rows[0]!;
    },

    async update(
      businessId: string,
      id: string,
      fields: { name?: string; phone?: string; status?: string; notes?: string },
    ): Promise<CustomerRow | undefined> {
      const sets: string[] = [];
      const params: unknown[] = [];
      const columns = { name: "name", phone: "phone", status: "status", notes: "notes" } as const;
      for (const key of Object.keys(columns) as (keyof typeof columns)[]) {
        if (fields[key] !== undefined) {
          sets.push(`${columns[key]} = ?`);
          params.push(fields[key]);
        }
      }
      sets.push("updated_at = now()");
      const rows = await db.query<CustomerRow>(
        `update customer set ${sets.join(", ")} where business_id = ? and id = ? returning ${CUSTOMER_COLUMNS}`,
        [...params, businessId, id],
      );
      return rows[0];
    },

    /** Deletes a customer; the ledger and redemptions go by cascade. */
    async delete(businessId: string, id: string): Promise<{ totalPoints: number; ledgerEntries: number } | undefined> {
      const rows = await db.query<{ total_points: number; entries: string }>(
        `with d as (delete from customer where business_id = ? and id = ? returning id, total_points)
         select d.total_points, (select count(*) from ledger_entry l where l.business_id = ? and l.customer_id = d.id) as entries from d`,
        [businessId, id, businessId],
      );
      return rows[0] && { totalPoints: rows[0].total_points, ledgerEntries: Number(rows[0].entries) };
    },

    /**
     * The newest `limit` ledger rows, with the names of their store and API
     * key, a check-in's refunds so far and whether a redemption was voided.
     */
    async history(businessId: string, customerId: string, limit: number): Promise<LedgerRow[]> {
      return db.query<LedgerRow>(
        `select l.id, l.delta, l.reason, l.type, l.store_id, l.api_key_id, l.owner_id, l.redemption_id, l.checkin_id,
                l.order_ref, l.amount_cents, l.units, l.balance_after, l.created_at,
                s.name as store_name, k.name as api_key_name,
                rf.points as refunded_points, rf.cents as refunded_cents, rf.units as refunded_units, rf.bonus as bonus_points, rf.refunds as refund_count,
                (r.voided_at is not null) as voided, r.reward_id, r.quantity, l.promotion_id,
                (rw.is_default is false) as catalogue_reward
         from (select * from ledger_entry where business_id = ? and customer_id = ?
               order by created_at desc, id desc limit ?) l
         left join store s on s.business_id = l.business_id and s.id = l.store_id
         left join api_key k on k.business_id = l.business_id and k.id = l.api_key_id
         left join redemption r on l.type = 'REDEMPTION' and r.business_id = l.business_id and r.id = l.redemption_id
         left join reward rw on r.reward_id is not null and rw.business_id = r.business_id and rw.id = r.reward_id
         left join lateral (
           select coalesce(-sum(x.delta) filter (where x.type = 'REFUND'), 0) as points,
                  coalesce(sum(x.amount_cents) filter (where x.type = 'REFUND'), 0) as cents,
                  coalesce(sum(x.units) filter (where x.type = 'REFUND'), 0) as units,
                  coalesce(sum(x.delta) filter (where x.type <> 'REFUND'), 0) as bonus,
                  count(*) filter (where x.type = 'REFUND') as refunds
           from ledger_entry x where l.type = 'CHECKIN' and x.business_id = l.business_id and x.checkin_id = l.id
         ) rf on l.type = 'CHECKIN'
         order by l.created_at desc, l.id desc`,
        [businessId, customerId, limit],
      );
    },

    async list(businessId: string, q: ListQuery): Promise<{ rows: CustomerRow[]; total: number }> {
      const { page, count } = listQuery(businessId, q);
      const [rows, total] = await Promise.all([
        db.query<CustomerRow>(page.sql, page.params),
        db.query<{ total: string }>(count.sql, count.params),
      ]);
      return { rows, total: Number(total[0]?.total ?? 0) };
    },
  };
}

/** What an owner's customer list asks for. */
export interface ListQuery {
  page: number;
  limit: number;
  search: string;
  status?: string;
  sortBy: SortBy;
  sortOrder: "asc" | "desc";
  /** The digits to look for in phones when the search is a number (E.164 digits when it is a whole number). */
  phoneDigits?: string;
}

/**
 * The SQL of a customer list page and of its total. A name fragment or
 * phone digits are matched with LIKE on trigram-indexed expressions
 * (`lower(name)`, `phone`), so a search never scans every customer.
 */
export function listQuery(businessId: string, q: ListQuery) {
  const where = ["business_id = ?"];
  const params: unknown[] = [businessId];
  if (q.status) {
    where.push("status = ?");
    params.push(q.status);
  }
  const term = q.search.trim().toLowerCase();
  if (term) {
    const digits = term.replace(/[\s()+\-.]/g, "");
    if (/^\d+$/.test(digits)) {
      const alt = q.phoneDigits && q.phoneDigits !== digits ? q.phoneDigits : undefined;
      where.push(alt ? "(lower(name) like ? or phone like ? or phone like ?)" : "(lower(name) like ? or phone like ?)");
      params.push(`%${likeLiteral(term)}%`, `%${digits}%`, ...(alt ? [`%${alt}%`] : []));
    } else {
      where.push("lower(name) like ?");
      params.push(`%${likeLiteral(term)}%`);
    }
  }
  const dir = q.sortOrder === "asc" ? "asc" : "desc";
  const nulls = q.sortBy === "lastVisitAt" ? " nulls last" : "";
  const whereSql = where.join(" and ");
  return {
    page: {
      sql: `select ${CUSTOMER_COLUMNS} from customer where ${whereSql}
            order by ${SORT_COLUMNS[q.sortBy]} ${dir}${nulls}, id ${dir} limit ? offset ?`,
      params: [...params, q.limit, (q.page - 1) * q.limit],
    },
    count: { sql: `select count(*) as total from customer where ${whereSql}`, params },
  };
}

export type CustomerRepository = ReturnType<typeof createCustomerRepository>;
