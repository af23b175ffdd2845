/**
 * Builds the bench datasets from scratch:
 *
 * - `loyalty_bench` (BENCH_DB): three businesses registered through the
 *   product's REST API (real owner JWTs and API keys), then bulk-loaded with
 *   140,000 customers (100,000 in the "main" business, which the owner list
 *   and search run against) and 1,000,000 ledger rows;
 * - `loyalty_bench_small`: one business, 2,000 customers, 10,000 ledger rows,
 *   to compare check-in latency at a small ledger.
 *
 * Rows are generated inside PostgreSQL (generate_series + a window sum for
 * balance_after), so every customer's total_points equals the sum of its
 * ledger deltas, and checked afterwards. Run alone with `tsx bench/load-data.ts`;
 * `bench/run.ts` calls it when no dataset exists (or BENCH_RELOAD=1).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { createOrm, migrate } from "../src/persistence/orm.js";
import {
  databaseUrl,
  portFor,
  productEnv,
  settings,
  sql,
  PRODUCT_ENTRY,
  startServer,
  STATE_FILE,
  type BenchBusiness,
  type BenchDataset,
  type BenchState,
} from "./lib.js";

const FIRST = [
  "Aoife", "Sean", "Ciara", "Conor", "Niamh", "Darragh", "Saoirse", "Cian", "Roisin", "Eoin", "Siobhan", "Oisin",
  "Aisling", "Padraig", "Orla", "Fionn", "Grainne", "Liam", "Emma", "Jack", "Sophie", "James", "Chloe", "Daniel",
  "Grace", "Adam", "Sarah", "Luke", "Hannah", "Michael", "Ella", "Ryan", "Lucy", "Patrick", "Amy", "Mark", "Kate",
  "David", "Laura", "John", "Anna", "Paul", "Mary", "Tom", "Rachel", "Kevin", "Maeve", "Brian",
];
const LAST = [
  "Murphy", "Kelly", "Byrne", "Ryan", "O'Sullivan", "Walsh", "O'Brien", "Smith", "O'Connor", "McCarthy", "Doyle",
  "Lynch", "Murray", "Quinn", "Moore", "McLoughlin", "O'Neill", "Brennan", "Burke", "Collins", "Campbell", "Clarke",
  "Johnston", "Hughes", "Farrell", "Fitzgerald", "Brown", "Martin", "Maguire", "Nolan", "Flynn", "Thompson",
  "Callaghan", "O'Donnell", "Duffy", "Mahony", "Boyle", "Healy", "Shea", "White", "Sweeney", "Hayes", "Kavanagh",
  "Power", "McGrath", "Moran", "Brady", "Stewart", "Casey", "Foley", "Fitzpatrick", "Leary", "McDonnell", "MacMahon",
  "Donnelly", "Regan", "Donovan", "Burns", "Flanagan", "Mullan", "Barry", "Kane", "Robinson", "Cunningham",
];

/** The points a redeem-business customer starts with: room for 1,000 redemptions of 100. */
export const REDEEM_INITIAL_POINTS = 100_000;

interface Plan {
  role: BenchBusiness["role"];
  name: string;
  customers: number;
  ledgerPerCustomer: number;
  phonePrefix: string;
  idPrefix: string;
}

const scaled = (n: number) => Math.max(10, Math.round(n * settings.scale));

const BIG_PLAN: Plan[] = [
  { role: "main", name: "Bench Café Main", customers: scaled(100_000), ledgerPerCustomer: 8, phonePrefix: "+35385", idPrefix: "cmain" },
  { role: "redeem", name: "Bench Café Rewards", customers: scaled(20_000), ledgerPerCustomer: 5, phonePrefix: "+35386", idPrefix: "credm" },
  { role: "other", name: "Bench Bakery", customers: scaled(20_000), ledgerPerCustomer: 5, phonePrefix: "+35387", idPrefix: "cothr" },
];
const SMALL_PLAN: Plan[] = [
  { role: "small", name: "Bench Kiosk", customers: 2_000, ledgerPerCustomer: 5, phonePrefix: "+35388", idPrefix: "csmal" },
];

type Log = (msg: string) => void;

async function recreateDatabase(name: string) {
  await sql(settings.pgAdminUrl, `drop database if exists ${name} with (force)`);
  await sql(settings.pgAdminUrl, `create database ${name}`);
  const orm = await createOrm(databaseUrl(name), 2);
  try {
    await migrate(orm);
  } finally {
    await orm.close(true);
  }
}

async function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${path} → ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, any>;
}

/** Registers the businesses of a plan through a product instance's REST API. */
async function registerAll(database: string, port: number, plans: Plan[]): Promise<BenchBusiness[]> {
  const server = await startServer({
    name: `product (loader, ${database})`,
    script: PRODUCT_ENTRY,
    port,
    env: productEnv(database, port),
  });
  try {
    const out: BenchBusiness[] = [];
    for (const p of plans) {
      const email = `bench-${p.role}@example.com`;
      const password = "bench-password-correct-horse";
      const reg = await post(server.url, "/v1/auth/register", { businessName: p.name, email, password });
      const auth = { authorization: `Bearer ${reg.token}` };
      const key = await post(server.url, "/v1/owner/api-keys", { name: "till 1" }, auth);
      out.push({
        role: p.role,
        businessId: reg.businessId,
        ownerId: reg.ownerId,
        email,
        password,
        token: reg.token,
        apiKey: key.apiKey,
        apiKeyId: key.id,
        customers: p.customers,
        ledgerPerCustomer: p.ledgerPerCustomer,
        phonePrefix: p.phonePrefix,
        idPrefix: p.idPrefix,
      });
    }
    return out;
  } finally {
    const code = await server.stop();
    if (code !== 0) console.warn(`loader product exited with ${code}:\n${server.output()}`);
  }
}

/**
 * The points of ledger row j (1-based) of customer i: the redeem business
 * starts every customer with REDEEM_INITIAL_POINTS, then visits of 5–100.
 */
function deltaSql(role: BenchBusiness["role"]): string {
  const visit = `(5 + ((i * 7 + j * 3) % 20) * 5)`;
  return role === "redeem" ? `(case when j = 1 then ${REDEEM_INITIAL_POINTS} else ${visit} end)` : visit;
}

/** Inserts one business's customers and their ledger, consistent by construction. */
async function bulkLoad(client: pg.Client, b: BenchBusiness, base: Date, end: Date) {
  const delta = deltaSql(b.role);
  const initial = b.role === "redeem";
  const stepSeconds = (end.getTime() - base.getTime()) / 1000 / b.customers;
  // created_at of customer i; its ledger rows follow at even steps up to `end`.
  const cts = `($3::timestamptz + i * ($4::float8 * interval '1 second'))`;
  const first = `(array[${FIRST.map((n) => `'${n}'`).join(",")}])`;
  const last = `(array[${LAST.map((n) => `'${n.replace(/'/g, "''")}'`).join(",")}])`;
  const k = b.ledgerPerCustomer;
  await client.query(
    `insert into customer (id, business_id, name, phone, status, notes, total_points, created_at, updated_at, last_visit_at)
     select $1 || lpad(i::text, 8, '0'), $2,
            ${first}[1 + i % ${FIRST.length}] || ' ' || ${last}[1 + (i / ${FIRST.length}) % ${LAST.length}],
            $6 || lpad(i::text, 7, '0'), 'ACTIVE', '',
            (select sum(${delta}) from generate_series(1, ${k}) j),
            ${cts}, ${cts} + ${k} * ($5::timestamptz - ${cts}) / ${k + 1}, ${cts} + ${k} * ($5::timestamptz - ${cts}) / ${k + 1}
     from generate_series(0, ${b.customers - 1}) i`,
    [b.idPrefix, b.businessId, base, stepSeconds, end, b.phonePrefix],
  );
  await client.query(
    `insert into ledger_entry (id, business_id, customer_id, delta, reason, type, store_id, api_key_id, owner_id, redemption_id, balance_after, created_at)
     select 'l' || $1 || lpad(i::text, 8, '0') || 'n' || j, $2, $1 || lpad(i::text, 8, '0'), d,
            case when ${initial} and j = 1 then 'Initial points' else 'Visit' end,
            case when ${initial} and j = 1 then 'INITIAL' else 'CHECKIN' end,
            null,
            case when ${initial} and j = 1 then null else $6 end,
            case when ${initial} and j = 1 then $7 else null end,
            null,
            sum(d) over (partition by i order by j),
            ${cts} + j * ($5::timestamptz - ${cts}) / ${k + 1}
     from generate_series(0, ${b.customers - 1}) i
     cross join generate_series(1, ${k}) j
     cross join lateral (select ${delta} as d) x`,
    [b.idPrefix, b.businessId, base, stepSeconds, end, b.apiKeyId, b.ownerId],
  );
}

async function loadDataset(database: string, businesses: BenchBusiness[], log: Log): Promise<BenchDataset> {
  const url = databaseUrl(database);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Consistent by construction: skip per-row FK triggers; nothing to wait for on commit.
    await client.query("set session_replication_role = replica");
    await client.query("set synchronous_commit = off");
    await client.query("set work_mem = '256MB'");
    await client.query("set maintenance_work_mem = '256MB'");
    const end = new Date();
    const base = new Date(end.getTime() - 400 * 86_400_000);
    for (const b of businesses) {
      const t = Date.now();
      await bulkLoad(client, b, base, end);
      log(`  ${database}: ${b.role} — ${b.customers.toLocaleString()} customers, ${(b.customers * b.ledgerPerCustomer).toLocaleString()} ledger rows in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
    await client.query("set session_replication_role = origin");
    const t = Date.now();
    await client.query("vacuum (analyze) customer");
    await client.query("vacuum (analyze) ledger_entry");
    await client.query("analyze");
    log(`  ${database}: vacuum/analyze ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const [counts] = (
      await client.query(`select (select count(*) from customer)::int as customers, (select count(*) from ledger_entry)::int as ledger`)
    ).rows as { customers: number; ledger: number }[];
    const [bad] = (
      await client.query(
        `select count(*)::int as n from customer c
         left join (select customer_id, sum(delta) as s from ledger_entry group by customer_id) l on l.customer_id = c.id
         where c.total_points <> coalesce(l.s, 0)`,
      )
    ).rows as { n: number }[];
    if (bad!.n !== 0) throw new Error(`${database}: ${bad!.n} customers whose total differs from their ledger`);
    return { database, url, customers: counts!.customers, ledgerRows: counts!.ledger, businesses };
  } finally {
    await client.end();
  }
}

/** Drops, recreates, migrates, registers and bulk-loads both datasets; writes the state file. */
export async function loadData(log: Log = console.log): Promise<BenchState> {
  const started = Date.now();
  const bigDb = settings.database;
  const smallDb = `${settings.database}_small`;
  log(`loading datasets ${bigDb} and ${smallDb} …`);
  await Promise.all([recreateDatabase(bigDb), recreateDatabase(smallDb)]);
  log(`  migrated (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  const [bigBiz, smallBiz] = await Promise.all([
    registerAll(bigDb, await portFor("loader"), BIG_PLAN),
    registerAll(smallDb, await portFor("loader2"), SMALL_PLAN),
  ]);
  log(`  businesses registered through the REST API (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  const [big, small] = await Promise.all([loadDataset(bigDb, bigBiz, log), loadDataset(smallDb, smallBiz, log)]);
  // Get the load's checkpoint out of the way before anything is timed.
  await sql(settings.pgAdminUrl, "checkpoint");
  const state: BenchState = {
    createdAt: new Date().toISOString(),
    loadSeconds: (Date.now() - started) / 1000,
    big,
    small,
  };
  mkdirSync(settings.stateDir, { recursive: true });
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
  log(
    `loaded in ${state.loadSeconds.toFixed(1)} s: ${big.customers.toLocaleString()} customers / ${big.ledgerRows.toLocaleString()} ledger rows; ` +
      `small: ${small.customers.toLocaleString()} / ${small.ledgerRows.toLocaleString()} (state: ${STATE_FILE})`,
  );
  return state;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  loadData().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
