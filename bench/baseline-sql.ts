/**
 * The work of the bench's yardstick, shared by its two front ends (the
 * Fastify REST server `baseline-server.ts` and the plain grpc-js server
 * `baseline-grpc.ts`): the product repository's statements, one per call,
 * on a plain `pg` pool with **named prepared statements** (parsed and
 * planned once per connection, as the product's db.ts does) — the best a
 * hand-written server does on the same schema. `BASELINE_PREPARED=0` sends
 * them unnamed instead, to see what preparation alone is worth.
 *
 * What it leaves out is what the ratios measure: API-key check (a static map
 * BASELINE_KEYS of key → business id), rate limits, the program read (SPEND,
 * 1 point per currency unit, threshold 100), phone normalisation, validation,
 * protobuf/Connect, metrics.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.BASELINE_POOL_MAX ?? 20),
});
const prepared = process.env.BASELINE_PREPARED !== "0";
const names = new Map<string, string>();

/** A statement's config: named (prepared once per connection) unless BASELINE_PREPARED=0. */
function stmt(text: string, values: unknown[]): pg.QueryConfig {
  if (!prepared) return { text, values };
  let name = names.get(text);
  if (name === undefined) names.set(text, (name = `b${names.size}`));
  return { text, values, name };
}

async function query<T = any>(text: string, values: unknown[]): Promise<T[]> {
  return (await pool.query(stmt(text, values))).rows as T[];
}

const keys = new Map<string, string>(Object.entries(JSON.parse(process.env.BASELINE_KEYS ?? "{}") as Record<string, string>));
/** The business of an API key ("" for none: its queries then find nothing). */
export const businessOfKey = (key: unknown) => keys.get(String(key ?? "")) ?? "";
export const ownerBusiness = process.env.BASELINE_OWNER_BUSINESS ?? "";

export const REWARD_THRESHOLD = 100;
export const REWARD_TITLE = "Free Reward";
const CUSTOMER_COLUMNS = `id, name, phone, status, notes, total_points, lifetime_points, created_at, updated_at, last_visit_at`;

/** A cheap unique id (a letter, then 24 hex digits). */
const newId = () => "b" + randomBytes(12).toString("hex");
const isId = (s: string) => /^[a-z][a-z0-9]{7,39}$/.test(s);

export interface CheckinInput {
  phone?: string;
  customerId?: string;
  amount?: number;
  storeId?: string;
}

export interface CheckinOutput {
  success: true;
  customerId: string;
  pointsAwarded: number;
  totalPoints: number;
  rewardThreshold: number;
  rewardAvailable: boolean;
  checkinId: string;
}

// The product's check-in statements (persistence/customer-repository.ts), written once.
const LEDGER = (first: number) => `led as (
     insert into ledger_entry (id, business_id, customer_id, delta, reason, type, store_id, api_key_id, owner_id, amount_cents, units, order_ref, balance_after)
     select $${first}, $${first + 1}, up.id, $${first + 2}, 'Visit', 'CHECKIN', $${first + 3}, null, null, $${first + 4}, null, null, up.total_points from up
     returning id, customer_id, balance_after
   )
   select id, customer_id, balance_after from led`;
const CHECKIN_BY_PHONE = `with up as (
     insert into customer (id, business_id, phone, status, total_points, lifetime_points, last_visit_at)
     values ($1, $2, $3, 'ACTIVE', $4::int, $4::int, now())
     on conflict (business_id, phone) do update
       set total_points = customer.total_points + excluded.total_points,
           lifetime_points = customer.lifetime_points + excluded.lifetime_points,
           last_visit_at = now(), updated_at = now()
       where customer.status = 'ACTIVE'
     returning id, total_points
   ), ${LEDGER(5)}`;
const CHECKIN_BY_ID = `with up as (
     update customer set total_points = total_points + $1::int, lifetime_points = lifetime_points + $1::int, last_visit_at = now(), updated_at = now()
     where business_id = $2 and id = $3 and status = 'ACTIVE'
     returning id, total_points
   ), ${LEDGER(4)}`;

/** A check-in in one statement; undefined when no ACTIVE customer was credited. */
export async function checkin(businessId: string, body: CheckinInput): Promise<CheckinOutput | undefined> {
  const points = Math.floor(body.amount ?? 0);
  const cents = Math.round((body.amount ?? 0) * 100);
  const store = body.storeId || null;
  const rows = body.customerId
    ? await query(CHECKIN_BY_ID, [points, businessId, body.customerId, newId(), businessId, points, store, cents])
    : await query(CHECKIN_BY_PHONE, [newId(), businessId, body.phone, points, newId(), businessId, points, store, cents]);
  const row = rows[0];
  return row && answer(row.id, row.customer_id, points, row.balance_after);
}

const answer = (checkinId: string, customerId: string, points: number, total: number): CheckinOutput => ({
  success: true,
  customerId,
  pointsAwarded: points,
  totalPoints: total,
  rewardThreshold: REWARD_THRESHOLD,
  rewardAvailable: total >= REWARD_THRESHOLD,
  checkinId,
});

/**
 * The same check-in written as the textbook transaction (BEGIN; SELECT …
 * FOR UPDATE; UPDATE; INSERT; COMMIT: five round trips on one connection),
 * the way a hand-written server often does it (`checkin-tx`).
 */
export async function checkinTx(businessId: string, body: CheckinInput): Promise<CheckinOutput | undefined> {
  const points = Math.floor(body.amount ?? 0);
  const [column, value] = body.customerId ? ["id", body.customerId] : ["phone", body.phone];
  const client = await pool.connect();
  const q = (text: string, values: unknown[] = []) => client.query(values.length ? stmt(text, values) : text);
  try {
    await q("begin");
    let { rows } = await q(`select id, status from customer where business_id = $1 and ${column} = $2 for update`, [businessId, value]);
    if (!rows[0] && !body.customerId) {
      await q(
        `insert into customer (id, business_id, phone, status, total_points, lifetime_points) values ($1, $2, $3, 'ACTIVE', 0, 0)
         on conflict (business_id, phone) do nothing`,
        [newId(), businessId, value],
      );
      ({ rows } = await q(`select id, status from customer where business_id = $1 and ${column} = $2 for update`, [businessId, value]));
    }
    const customer = rows[0] as { id: string; status: string } | undefined;
    if (!customer || customer.status !== "ACTIVE") {
      await q("rollback");
      return undefined;
    }
    const updated = await q(
      `update customer set total_points = total_points + $1::int, lifetime_points = lifetime_points + $1::int, last_visit_at = now(), updated_at = now()
       where id = $2 returning total_points`,
      [points, customer.id],
    );
    const total = updated.rows[0].total_points as number;
    const id = newId();
    await q(
      `insert into ledger_entry (id, business_id, customer_id, delta, reason, type, store_id, amount_cents, balance_after)
       values ($1, $2, $3, $4, 'Visit', 'CHECKIN', $5, $6, $7)`,
      [id, businessId, customer.id, points, body.storeId || null, Math.round((body.amount ?? 0) * 100), total],
    );
    await q("commit");
    return answer(id, customer.id, points, total);
  } catch (err) {
    await client.query("rollback").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

export interface CustomerRow {
  id: string;
  name: string;
  phone: string;
  status: string;
  notes: string;
  total_points: number;
  lifetime_points: string;
  created_at: Date;
  updated_at: Date;
  last_visit_at: Date | null;
}

const FIND = {
  id: `select ${CUSTOMER_COLUMNS} from customer where business_id = $1 and id = $2`,
  phone: `select ${CUSTOMER_COLUMNS} from customer where business_id = $1 and phone = $2`,
};

/** The product's look-up statement (by id when the identifier looks like one, else by phone). */
export async function findCustomer(businessId: string, identifier: string): Promise<CustomerRow | undefined> {
  return (await query<CustomerRow>(FIND[isId(identifier) ? "id" : "phone"], [businessId, identifier]))[0];
}

const BALANCE = {
  id: `select id, total_points from customer where business_id = $1 and id = $2`,
  phone: `select id, total_points from customer where business_id = $1 and phone = $2`,
};

/** A balance: only the two columns the answer needs. */
export async function balance(businessId: string, identifier: string) {
  const row = (await query<{ id: string; total_points: number }>(BALANCE[isId(identifier) ? "id" : "phone"], [businessId, identifier]))[0];
  return row && { customerId: row.id, totalPoints: row.total_points };
}

export interface RedeemInput {
  phone?: string;
  customerId?: string;
  points?: number;
  storeId?: string;
}

const redeemSql = (column: "id" | "phone") => `with c as (
     update customer set total_points = total_points - $1, updated_at = now()
     where business_id = $2 and ${column} = $3 and status = 'ACTIVE' and total_points >= $1
     returning id, total_points
   ), r as (
     insert into redemption (id, business_id, customer_id, points, reward_title, store_id, api_key_id, order_ref, reward_id, quantity)
     select $4, $2, c.id, $1, $5, $6, null, null, null, 1 from c returning id
   ), l as (
     insert into ledger_entry (id, business_id, customer_id, delta, reason, type, store_id, api_key_id, owner_id, redemption_id, order_ref, balance_after)
     select $7, $2, c.id, $8, $9, 'REDEMPTION', $6, null, null, $4, null, c.total_points from c returning id
   )
   select c.id, c.total_points from c`;
const REDEEM = { id: redeemSql("id"), phone: redeemSql("phone") };

/** The product's conditional debit in one statement; undefined when nothing was debited. */
export async function redeem(businessId: string, body: RedeemInput) {
  const points = body.points ?? REWARD_THRESHOLD;
  const [column, value] = body.customerId ? (["id", body.customerId] as const) : (["phone", body.phone] as const);
  const redemptionId = newId();
  const rows = await query(REDEEM[column], [
    points, businessId, value, redemptionId, REWARD_TITLE, body.storeId || null, newId(), -points, `Redemption: ${REWARD_TITLE}`,
  ]);
  const row = rows[0];
  return row && { success: true, redemptionId, pointsRedeemed: points, rewardTitle: REWARD_TITLE, remainingPoints: row.total_points as number };
}

const SORTS: Record<string, string> = {
  createdAt: "created_at",
  name: "lower(name)",
  totalPoints: "total_points",
  lastVisitAt: "last_visit_at",
};

/** The owner's list: page and count in parallel. */
export async function ownerList(q: Record<string, string | undefined>) {
  const page = Number(q.page ?? 1) || 1;
  const limit = Number(q.limit ?? 20) || 20;
  const sortBy = SORTS[q.sortBy ?? "createdAt"] ? (q.sortBy ?? "createdAt") : "createdAt";
  const dir = q.sortOrder === "asc" ? "asc" : "desc";
  const where = ["business_id = $1"];
  const params: unknown[] = [ownerBusiness];
  const term = (q.search ?? "").trim().toLowerCase();
  if (term) {
    const like = `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const digits = term.replace(/[\s()+\-.]/g, "");
    if (/^\d+$/.test(digits)) {
      params.push(like, `%${digits}%`);
      where.push(`(lower(name) like $2 or phone like $3)`);
    } else {
      params.push(like);
      where.push(`lower(name) like $2`);
    }
  }
  const whereSql = where.join(" and ");
  const nulls = sortBy === "lastVisitAt" ? " nulls last" : "";
  const n = params.length;
  const [list, count] = await Promise.all([
    query<CustomerRow>(
      `select ${CUSTOMER_COLUMNS} from customer where ${whereSql}
       order by ${SORTS[sortBy]} ${dir}${nulls}, id ${dir} limit $${n + 1} offset $${n + 2}`,
      [...params, limit, (page - 1) * limit],
    ),
    query<{ total: string }>(`select count(*) as total from customer where ${whereSql}`, params),
  ]);
  return {
    customers: list.map((c) => ({
      id: c.id,
      name: c.name,
      phone: c.phone,
      status: c.status,
      totalPoints: c.total_points,
      rewardAvailable: c.total_points >= REWARD_THRESHOLD,
      notes: c.notes,
      createdAt: c.created_at,
      updatedAt: c.updated_at,
      lastVisitAt: c.last_visit_at,
    })),
    pagination: { page, limit, total: Number(count[0]!.total) },
  };
}

export const closePool = () => pool.end();
