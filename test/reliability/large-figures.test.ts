/**
 * Issue 11 §1: one request never ends the process. The reproduction: a
 * program with pointsPerCurrencyUnit 1000, three check-ins of amount
 * 1,000,000 (1,000,000,000 points each), then the owner's dashboard for one
 * day. Its sums (3,000,000,000) do not fit an int32: the gRPC lane used to
 * encode the response in a `.then` without a catch, the rejection was
 * unhandled and Node exited for every tenant.
 *
 * The service runs as a process of its own (as `npm start` runs it), so an
 * unhandled rejection would end it; every protocol asks for the dashboard and
 * gets the exact figures, and /healthz answers after each.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { BusinessSettings } from "../../gen/loyalty/v1/account_pb.js";
import { call, loadGrpcStubs } from "../support/grpc.js";
import { createTestDatabase, TEST_REDIS_URL } from "../support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "../support/rest.js";
import { ROOT, TSX, freePort, processEnv } from "../support/processes.js";

const BILLION = 1_000_000_000;
const PHONES = ["+353861000001", "+353861000002", "+353861000003"];

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let child: ChildProcess;
let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
let output = "";
let url: string;
let address: string;
let b: Business;

beforeAll(async () => {
  db = await createTestDatabase();
  const port = await freePort();
  child = spawn(TSX, ["src/main.ts"], {
    cwd: ROOT,
    env: processEnv({
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      PORT: String(port),
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      // The throttles count per client address in the Redis every test file shares: this suite's
      // other files register and log in from 127.0.0.1 too (test-app.ts lifts the same limits).
      REGISTRATIONS_PER_ADDRESS: "100000000",
      LOGIN_ATTEMPTS_PER_ADDRESS: "100000000",
    }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (output += c.toString()));
  child.on("exit", (code, signal) => (exited = { code, signal }));
  url = `http://127.0.0.1:${port}`;
  address = `127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (exited) throw new Error(`the service exited before it was healthy:\n${output}`);
    // A cold start (tsx, migrations) on a loaded 2-core machine can take a while.
    if (Date.now() - started > 150_000) throw new Error(`not healthy within 150 s:\n${output}`);
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  b = await registerBusiness(url, { pointsPerCurrencyUnit: 1000 });
  for (const phone of PHONES) {
    const c = await rest(url, "POST", "/v1/pos/checkin", { body: { phone, amount: 1_000_000 }, headers: posAuth(b) });
    expect(c.status, c.text).toBe(200);
    expect(c.body.pointsAwarded).toBe(BILLION);
    expect(c.body.totalPoints).toBe(BILLION);
  }
}, 200_000);

afterAll(async () => {
  if (child && !exited) {
    const gone = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await gone;
  }
  await db?.drop();
});

/** The process is still there and answers. */
async function expectAlive(): Promise<void> {
  expect(exited, output).toBeUndefined();
  const h = await fetch(`${url}/healthz`);
  expect(h.status).toBe(200);
  expect(await h.json()).toEqual({ status: "ok" });
}

const today = () => new Date().toISOString().slice(0, 10);

/** The figures every protocol must give, in proto3 JSON names. */
function expected() {
  return {
    totalCustomers: 3,
    activeCustomers: 3,
    blockedCustomers: 0,
    rewardsAvailable: 3,
    pointsIssued: 3 * BILLION,
    pointsRedeemed: 0,
    daily: [{ date: today(), issued: 3 * BILLION, redeemed: 0 }],
    // What issued sums (issue 18 item 1): here check-ins only.
    pointsEarned: 3 * BILLION,
    pointsBonus: 0,
    pointsDeducted: 0,
    pointsImported: 0,
    pointsOpening: 0,
    pointsPromotion: 0,
    // Point expiry's figures (contract §10): no policy, nothing expires.
    pointsExpired: 0,
    pointsExpiring30Days: 0,
  };
}

describe("a dashboard whose sums pass 2^31 (3,000,000,000 points issued)", () => {
  test("gRPC (grpc-js stub, the POS vendors' toolchain) answers the exact figures and the process lives", async () => {
    const stubs = loadGrpcStubs(address);
    try {
      const r = await call(stubs.settings, "GetDashboard", { days: 1 }, ownerAuth(b));
      expect(r.error).toBeUndefined();
      // proto-loader's camelCase of points_expiring_30_days keeps the underscore before the digits.
      const { pointsExpiring_30Days, ...figures } = r.response as Record<string, unknown>;
      expect({ ...figures, pointsExpiring30Days: pointsExpiring_30Days }).toEqual(expected());
    } finally {
      stubs.close();
    }
    await expectAlive();
  });

  test("REST GET /v1/owner/dashboard?days=1 answers the figures as JSON numbers", async () => {
    const r = await rest(url, "GET", "/v1/owner/dashboard?days=1", { headers: ownerAuth(b) });
    expect(r.status, r.text).toBe(200);
    expect(r.body).toEqual(expected());
    expect(r.text).toContain('"pointsIssued":3000000000');
    await expectAlive();
  });

  const transports = [
    ["Connect, binary", () => createConnectTransport({ baseUrl: url, httpVersion: "1.1" })],
    ["Connect, JSON", () => createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: false })],
    ["gRPC-Web, binary", () => createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" })],
    ["gRPC through connect-node (HTTP/2)", () => createGrpcTransport({ baseUrl: url })],
  ] as const;
  test.each(transports)("%s answers the exact figures and the process lives", async (_name, transport) => {
    const settings = createClient(BusinessSettings, transport());
    const d = await settings.getDashboard({ days: 1 }, { headers: ownerAuth(b) });
    expect({
      totalCustomers: d.totalCustomers,
      activeCustomers: d.activeCustomers,
      blockedCustomers: d.blockedCustomers,
      rewardsAvailable: d.rewardsAvailable,
      pointsIssued: d.pointsIssued,
      pointsRedeemed: d.pointsRedeemed,
      daily: d.daily.map((x) => ({ date: x.date, issued: x.issued, redeemed: x.redeemed })),
      pointsEarned: d.pointsEarned,
      pointsBonus: d.pointsBonus,
      pointsDeducted: d.pointsDeducted,
      pointsImported: d.pointsImported,
      pointsOpening: d.pointsOpening,
      pointsPromotion: d.pointsPromotion,
      pointsExpired: d.pointsExpired,
      pointsExpiring30Days: d.pointsExpiring30Days,
    }).toEqual(expected());
    await expectAlive();
  });

  test("a balance beyond the largest allowed value is a 400 and changes nothing", async () => {
    // A fourth and a fifth billion on one customer: 2,000,000,000 fits, 3,000,000,000 does not.
    const phone = PHONES[0]!;
    const second = await rest(url, "POST", "/v1/pos/checkin", { body: { phone, amount: 1_000_000 }, headers: posAuth(b) });
    expect(second.status, second.text).toBe(200);
    expect(second.body.totalPoints).toBe(2 * BILLION);
    const third = await rest(url, "POST", "/v1/pos/checkin", { body: { phone, amount: 1_000_000 }, headers: posAuth(b) });
    expect(third.status, third.text).toBe(400);
    expect(third.body).toEqual({ success: false, error: { code: "invalid_argument", message: "the balance would exceed the largest allowed value" } });
    const balance = await rest(url, "GET", `/v1/pos/balance/${encodeURIComponent(phone)}`, { headers: posAuth(b) });
    expect(balance.body.totalPoints).toBe(2 * BILLION);
    await expectAlive();
  });
});
