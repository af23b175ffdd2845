/**
 * What the bench loads: the requests (one builder per POS path, fresh
 * values per call) and the comparisons of the product with its yardsticks,
 * each with issue 19's target (as product / yardstick; lower CPU is better).
 */
import { business, idOf, phoneOf, settings, sql, type BenchBusiness, type BenchState, type ServerProc } from "./lib.js";
import { runConnectCheckin, runGrpc, type HttpRequest, type RunResult } from "./load.js";
import { httpSide, type Comparison, type Side } from "./measure.js";
import { fmt, type Target } from "./report.js";

const rnd = (n: number) => Math.floor(Math.random() * n);
const AMOUNTS = [3.5, 4.2, 7.8, 12.5, 25.5, 9.99];
/** Owner searches: name fragments and phone digits, as typed in the portal. */
export const SEARCHES = ["murphy", "walsh", "aoife", "ciara byrne", "kel", "o'brien", "sean", "85012"];
/** The hot-customer redeem: this many customers of the redeem business, all connections on them. */
export const HOT_CUSTOMERS = 5;

export const checkinBody = (b: BenchBusiness) => ({ phone: phoneOf(b, rnd(b.customers)), amount: AMOUNTS[rnd(AMOUNTS.length)]! });
export const checkinReq = (b: BenchBusiness) => (): HttpRequest => ({
  method: "POST",
  path: "/v1/pos/checkin",
  headers: { "x-api-key": b.apiKey },
  body: JSON.stringify(checkinBody(b)),
});
/** A till that retries safely: a fresh Idempotency-Key on every check-in (contract §5). */
let idemSeq = 0;
const runId = `${process.pid}-${Date.now().toString(36)}`;
export const checkinIdemReq = (b: BenchBusiness) => (): HttpRequest => ({
  method: "POST",
  path: "/v1/pos/checkin",
  headers: { "x-api-key": b.apiKey, "idempotency-key": `bench-${runId}-${++idemSeq}` },
  body: JSON.stringify(checkinBody(b)),
});
/** A till that sends its receipt number (contract §8): one more insert (the orderRef's claim) per check-in. */
let orderSeq = 0;
const checkinOrderRefReq = (b: BenchBusiness) => (): HttpRequest => ({
  ...checkinReq(b)(),
  body: JSON.stringify({ ...checkinBody(b), orderRef: `bench-${runId}-${++orderSeq}` }),
});
/** The baseline's check-in as a BEGIN … COMMIT transaction of five statements. */
const checkinTxReq = (b: BenchBusiness) => (): HttpRequest => ({ ...checkinReq(b)(), path: "/v1/pos/checkin-tx" });
const balancePhone = (b: BenchBusiness) => phoneOf(b, rnd(b.customers));
export const balanceReq = (b: BenchBusiness) => (): HttpRequest => ({
  method: "GET",
  path: `/v1/pos/balance/${encodeURIComponent(balancePhone(b))}`,
  headers: { "x-api-key": b.apiKey },
});
const customerReq = (b: BenchBusiness) => (): HttpRequest => ({
  method: "GET",
  path: `/v1/pos/customer/${idOf(b, rnd(b.customers))}`,
  headers: { "x-api-key": b.apiKey },
});
/** Customers of the redeem business from `first` on (the hot ones are the first HOT_CUSTOMERS). */
export const redeemReq = (b: BenchBusiness, among: number, first = 0) => (): HttpRequest => ({
  method: "POST",
  path: "/v1/pos/redeem",
  headers: { "x-api-key": b.apiKey },
  body: JSON.stringify({ phone: phoneOf(b, first + rnd(among)), points: 100 }),
});
export const listReq = (token: () => string) => (): HttpRequest => ({
  method: "GET",
  path: `/v1/owner/customers?search=${encodeURIComponent(SEARCHES[rnd(SEARCHES.length)]!)}&limit=20`,
  headers: { authorization: `Bearer ${token()}` },
});

/**
 * Gives the hot customers room for the whole scenario: each is topped up to
 * 2,000,000 points by an ADJUSTMENT ledger row and the balance together (one
 * statement), so the ledger invariant holds and no redeem is refused.
 */
async function topUpHotCustomers(state: BenchState, b: BenchBusiness) {
  const phones = Array.from({ length: HOT_CUSTOMERS }, (_, i) => phoneOf(b, i));
  await sql(
    state.big.url,
    `with old as (
       select id, total_points from customer
       where business_id = $1 and phone = any($2) and total_points < 2000000 for update
     ), c as (
       update customer set total_points = 2000000, lifetime_points = lifetime_points + (2000000 - old.total_points), updated_at = now()
       from old where customer.id = old.id
       returning customer.id, customer.business_id, 2000000 - old.total_points as added
     )
     insert into ledger_entry (id, business_id, customer_id, delta, reason, type, balance_after)
     select 'bt' || substr(md5(random()::text || c.id), 1, 24), c.business_id, c.id, c.added, 'bench top-up', 'ADJUSTMENT', 2000000 from c`,
    [b.businessId, phones],
  );
}

export interface Servers {
  product: ServerProc;
  baseline: ServerProc;
  baselineGrpc: ServerProc;
  token: () => string;
}

/** Issue 19's targets (CPU per call and throughput against the yardstick, p99 ≤ 1.2× its p99). */
const target = (cpu: number): Target => ({ cpu, rps: 1.0, p99: 1.2 });

export function comparisons(state: BenchState, s: Servers): Comparison[] {
  const main = business(state.big, "main");
  const redeem = business(state.big, "redeem");
  const conns = settings.connections;
  const P = () => s.product;
  const B = () => s.baseline;
  const grpcSide = (name: string, server: () => ServerProc, method: Parameters<typeof runGrpc>[2], build: () => Record<string, unknown>): Side => ({
    name,
    pids: () => [server().pid],
    run: (d): Promise<RunResult> => runGrpc(server().port, main.apiKey, method, build, d, conns),
  });
  const baselineCheckin = httpSide("baseline REST", B, checkinReq(main));
  const baselineTxCheckin = httpSide("baseline 5-stmt tx", B, checkinTxReq(main));
  const productGrpcCheckin = grpcSide("product gRPC", P, "Checkin", () => checkinBody(main));
  const baselineGrpcCheckin = grpcSide("baseline grpc-js", () => s.baselineGrpc, "Checkin", () => checkinBody(main));
  const balanceBody = () => ({ identifier: balancePhone(main) });
  /** The product's REST path against the REST yardstick's, the same requests to both. */
  const rest = (key: string, label: string, build: () => HttpRequest, t: Target, before?: () => Promise<void>): Comparison => ({
    key,
    label,
    a: httpSide("product REST", P, build),
    b: httpSide("baseline REST", B, build),
    target: t,
    before,
  });
  return [
    { key: "checkin-rest", label: "POS check-in · REST", a: httpSide("product REST", P, checkinReq(main)), b: baselineCheckin, target: target(1.25) },
    { key: "checkin-grpc", label: "POS check-in · gRPC (1 channel)", a: productGrpcCheckin, b: baselineGrpcCheckin, target: target(1.0) },
    { key: "checkin-tx", label: "check-in REST vs BEGIN…COMMIT", a: httpSide("product REST", P, checkinReq(main)), b: baselineTxCheckin },
    { key: "checkin-grpc-tx", label: "check-in gRPC vs BEGIN…COMMIT", a: productGrpcCheckin, b: baselineTxCheckin },
    {
      key: "checkin-idem",
      label: "POS check-in · REST + Idem-Key",
      a: httpSide("product REST+key", P, checkinIdemReq(main)),
      b: baselineCheckin,
      target: target(2.0),
    },
    { key: "checkin-orderref", label: "POS check-in · REST + orderRef", a: httpSide("product REST", P, checkinOrderRefReq(main)), b: baselineCheckin },
    {
      key: "checkin-connect",
      label: "POS check-in · Connect (JSON/h1)",
      a: {
        name: "product Connect",
        pids: () => [s.product.pid],
        run: (d) => runConnectCheckin(s.product.url, main.apiKey, () => checkinBody(main), d, conns),
      },
      b: baselineCheckin,
    },
    rest("balance", "POS balance look-up · REST", balanceReq(main), target(1.4)),
    {
      key: "balance-grpc",
      label: "POS balance look-up · gRPC",
      a: grpcSide("product gRPC", P, "GetBalance", balanceBody),
      b: grpcSide("baseline grpc-js", () => s.baselineGrpc, "GetBalance", balanceBody),
      target: target(1.4),
    },
    rest("customer", "POS customer look-up · REST", customerReq(main), target(1.4)),
    // The hot customers are left out here: their balances are the hot scenario's.
    rest("redeem", "POS redeem · REST", redeemReq(redeem, redeem.customers - HOT_CUSTOMERS, HOT_CUSTOMERS), target(1.4)),
    rest("redeem-hot", `redeem · ${conns} conns on ${HOT_CUSTOMERS} customers`, redeemReq(redeem, HOT_CUSTOMERS), target(1.4), () =>
      topUpHotCustomers(state, redeem),
    ),
    {
      key: "owner-list",
      label: `owner list+search @${fmt(main.customers)} · REST`,
      a: httpSide("product (JWT)", P, listReq(s.token)),
      b: httpSide("baseline (no auth)", B, listReq(s.token)),
      target: { p99Ms: 50 },
    },
  ];
}
