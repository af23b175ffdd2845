/**
 * The bench's yardstick: a minimal hand-written Fastify + `pg` server doing
 * the POS work of Loyalty+ with the same SQL statements as the product's
 * repository (one statement per check-in/redeem: upsert or conditional
 * update with the row lock, balance update and ledger insert together), on
 * the same schema — and nothing else: no ORM, no auth, no validation, no
 * Redis, no program look-up (SPEND, 1 point per currency unit, threshold 100).
 *
 * The business comes from a static map of API key → business id
 * (BASELINE_KEYS, JSON), so the load generator sends identical requests to
 * both servers; owner routes use BASELINE_OWNER_BUSINESS. Run as a separate
 * process: `PORT=… DATABASE_URL=… node --import tsx bench/baseline-server.ts`.
 * `/v1/pos/checkin-tx` is the same check-in as a five-statement transaction.
 */
import Fastify from "fastify";
import { randomBytes } from "node:crypto";
import pg from "pg";

const port = Number(process.env.PORT ?? 18090);
const pool = new pg.Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.BASELINE_POOL_MAX ?? 20),
});
// BASELINE_PREPARED=1: named statements, prepared once per connection, as the
// product's db.ts does — to see how much of a ratio that alone explains.
if (process.env.BASELINE_PREPARED === "1") {
  const query = pool.query.bind(pool) as (config: pg.QueryConfig) => Promise<pg.QueryResult>;
  const names = new Map<string, string>();
  (pool as unknown as { query: unknown }).query = (text: string, values?: unknown[]) => {
    let name = names.get(text);
    if (name === undefined) names.set(text, (name = `b${names.size}`));
    return query({ text, values, name });
  };
}
const keys = new Map<string, string>(Object.entries(JSON.parse(process.env.BASELINE_KEYS ?? "{}") as Record<string, string>));
const ownerBusiness = process.env.BASELINE_OWNER_BUSINESS ?? "";

const REWARD_THRESHOLD = 100;
const REWARD_TITLE = "Free Reward";
const CUSTOMER_COLUMNS = `id, name, phone, status, notes, total_points, created_at, updated_at, last_visit_at`;

/** A cheap unique id (a letter, then 24 hex digits). */
const newId = () => "b" + randomBytes(12).toString("hex");
const isId = (s: string) => /^[a-z][a-z0-9]{7,39}$/.test(s);

const app = Fastify({ logger: false });

function businessOf(headers: Record<string, unknown>): string {
  return keys.get(String(headers["x-api-key"] ?? "")) ?? "";
}

function fail(reply: any, status: number, code: string, message: string) {
  return reply.code(status).send({ success: false, error: { code, message } });
}

app.get("/healthz", async () => ({ status: "ok" }));

app.post("/v1/pos/checkin", async (req, reply) => {
  const businessId = businessOf(req.headers);
  const body = req.body as { phone?: string; customerId?: string; amount?: number; storeId?: string };
  const points = Math.floor(body.amount ?? 0);
  const ledger = `insert into ledger_entry (id, business_id, customer_id, delta, reason, type, store_id, api_key_id, owner_id, balance_after)
      select $L1, $L2, up.id, $L3, 'Visit', 'CHECKIN', $L4, null, null, up.total_points from up
      returning customer_id, balance_after`;
  let text: string;
  let params: unknown[];
  if (body.customerId) {
    text = `with up as (
        update customer set total_points = total_points + $1, last_visit_at = now(), updated_at = now()
        where business_id = $2 and id = $3 and status = 'ACTIVE'
        returning id, total_points
      ), led as (${ledger.replace("$L1", "$4").replace("$L2", "$5").replace("$L3", "$6").replace("$L4", "$7")})
      select customer_id, balance_after from led`;
    params = [points, businessId, body.customerId, newId(), businessId, points, body.storeId ?? null];
  } else {
    text = `with up as (
        insert into customer (id, business_id, phone, status, total_points, last_visit_at)
        values ($1, $2, $3, 'ACTIVE', $4, now())
        on conflict (business_id, phone) do update
          set total_points = customer.total_points + excluded.total_points,
              last_visit_at = now(), updated_at = now()
          where customer.status = 'ACTIVE'
        returning id, total_points
      ), led as (${ledger.replace("$L1", "$5").replace("$L2", "$6").replace("$L3", "$7").replace("$L4", "$8")})
      select customer_id, balance_after from led`;
    params = [newId(), businessId, body.phone, points, newId(), businessId, points, body.storeId ?? null];
  }
  const { rows } = await pool.query(text, params);
  const row = rows[0];
  if (!row) return fail(reply, 404, "not_found", "customer not found");
  return {
    success: true,
    customerId: row.customer_id,
    pointsAwarded: points,
    totalPoints: row.balance_after,
    rewardThreshold: REWARD_THRESHOLD,
    rewardAvailable: row.balance_after >= REWARD_THRESHOLD,
  };
});

/**
 * The same check-in written as the textbook transaction the issue describes
 * (BEGIN; SELECT … FOR UPDATE; UPDATE; INSERT; COMMIT: five round trips on
 * one connection), the way a hand-written server often does it. The bench
 * compares the product with it too (`checkin-tx`), to show where it stands
 * against that kind of baseline as well as against the one-statement one.
 */
app.post("/v1/pos/checkin-tx", async (req, reply) => {
  const businessId = businessOf(req.headers);
  const body = req.body as { phone?: string; customerId?: string; amount?: number; storeId?: string };
  const points = Math.floor(body.amount ?? 0);
  const [column, value] = body.customerId ? ["id", body.customerId] : ["phone", body.phone];
  const client = await pool.connect();
  try {
    await client.query("begin");
    let { rows } = await client.query(
      `select id, status from customer where business_id = $1 and ${column} = $2 for update`,
      [businessId, value],
    );
    if (!rows[0] && !body.customerId) {
      await client.query(
        `insert into customer (id, business_id, phone, status, total_points) values ($1, $2, $3, 'ACTIVE', 0)
         on conflict (business_id, phone) do nothing`,
        [newId(), businessId, value],
      );
      ({ rows } = await client.query(`select id, status from customer where business_id = $1 and phone = $2 for update`, [businessId, value]));
    }
    const customer = rows[0] as { id: string; status: string } | undefined;
    if (!customer || customer.status !== "ACTIVE") {
      await client.query("rollback");
      return fail(reply, 404, "not_found", "customer not found");
    }
    const updated = await client.query(
      `update customer set total_points = total_points + $1, last_visit_at = now(), updated_at = now() where id = $2 returning total_points`,
      [points, customer.id],
    );
    const total = updated.rows[0].total_points as number;
    await client.query(
      `insert into ledger_entry (id, business_id, customer_id, delta, reason, type, store_id, balance_after)
       values ($1, $2, $3, $4, 'Visit', 'CHECKIN', $5, $6)`,
      [newId(), businessId, customer.id, points, body.storeId ?? null, total],
    );
    await client.query("commit");
    return {
      success: true,
      customerId: customer.id,
      pointsAwarded: points,
      totalPoints: total,
      rewardThreshold: REWARD_THRESHOLD,
      rewardAvailable: total >= REWARD_THRESHOLD,
    };
  } catch (err) {
    await client.query("rollback").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
});

async function findCustomer(businessId: string, identifier: string) {
  const column = isId(identifier) ? "id" : "phone";
  const { rows } = await pool.query(`select ${CUSTOMER_COLUMNS} from customer where business_id = $1 and ${column} = $2`, [
    businessId,
    identifier,
  ]);
  return rows[0];
}

app.get("/v1/pos/balance/:identifier", async (req, reply) => {
  const { identifier } = req.params as { identifier: string };
  const businessId = businessOf(req.headers);
  const column = isId(identifier) ? "id" : "phone";
  const { rows } = await pool.query(`select id, total_points from customer where business_id = $1 and ${column} = $2`, [
    businessId,
    identifier,
  ]);
  const c = rows[0];
  if (!c) return fail(reply, 404, "not_found", "customer not found");
  return { customerId: c.id, totalPoints: c.total_points };
});

app.get("/v1/pos/customer/:identifier", async (req, reply) => {
  const { identifier } = req.params as { identifier: string };
  const c = await findCustomer(businessOf(req.headers), identifier);
  if (!c) return fail(reply, 404, "not_found", "customer not found");
  return {
    customerId: c.id,
    name: c.name,
    phone: c.phone,
    status: c.status,
    totalPoints: c.total_points,
    rewardAvailable: c.total_points >= REWARD_THRESHOLD,
  };
});

app.post("/v1/pos/redeem", async (req, reply) => {
  const businessId = businessOf(req.headers);
  const body = req.body as { phone?: string; customerId?: string; points?: number; storeId?: string };
  const points = body.points ?? REWARD_THRESHOLD;
  const [column, value] = body.customerId ? ["id", body.customerId] : ["phone", body.phone];
  const redemptionId = newId();
  const storeId = body.storeId ?? null;
  const { rows } = await pool.query(
    `with c as (
       update customer set total_points = total_points - $1, updated_at = now()
       where business_id = $2 and ${column} = $3 and status = 'ACTIVE' and total_points >= $1
       returning id, total_points
     ), r as (
       insert into redemption (id, business_id, customer_id, points, reward_title, store_id, api_key_id)
       select $4, $2, c.id, $1, $5, $6, null from c returning id
     ), l as (
       insert into ledger_entry (id, business_id, customer_id, delta, reason, type, store_id, api_key_id, owner_id, redemption_id, balance_after)
       select $7, $2, c.id, $8, $9, 'REDEMPTION', $6, null, null, $4, c.total_points from c returning id
     )
     select c.id, c.total_points from c`,
    [points, businessId, value, redemptionId, REWARD_TITLE, storeId, newId(), -points, `Redemption: ${REWARD_TITLE}`],
  );
  const row = rows[0];
  if (!row) return fail(reply, 400, "failed_precondition", "insufficient points");
  return { success: true, redemptionId, pointsRedeemed: points, rewardTitle: REWARD_TITLE, remainingPoints: row.total_points };
});

const SORTS: Record<string, string> = {
  createdAt: "created_at",
  name: "lower(name)",
  totalPoints: "total_points",
  lastVisitAt: "last_visit_at",
};

app.get("/v1/owner/customers", async (req) => {
  const q = req.query as Record<string, string | undefined>;
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
    pool.query(
      `select ${CUSTOMER_COLUMNS} from customer where ${whereSql}
       order by ${SORTS[sortBy]} ${dir}${nulls}, id ${dir} limit $${n + 1} offset $${n + 2}`,
      [...params, limit, (page - 1) * limit],
    ),
    pool.query(`select count(*) as total from customer where ${whereSql}`, params),
  ]);
  return {
    customers: list.rows.map((c) => ({
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
    pagination: { page, limit, total: Number(count.rows[0].total) },
  };
});

const shutdown = async () => {
  await app.close();
  await pool.end();
  process.exit(0);
};
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());

await app.listen({ port, host: "127.0.0.1" });
