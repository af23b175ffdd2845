import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createRegistry, toJson, type Message } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { BusinessSettings, OwnerAuth, file_loyalty_v1_account } from "../gen/loyalty/v1/account_pb.js";
import { CustomerAdmin, file_loyalty_v1_admin } from "../gen/loyalty/v1/admin_pb.js";
import { LoyaltyPos, file_loyalty_v1_pos } from "../gen/loyalty/v1/pos_pb.js";
import { CustomerStatus, file_loyalty_v1_types } from "../gen/loyalty/v1/types_pb.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { posAuth, registerBusiness, rest, DEFAULT_PROGRAM_JSON } from "./support/rest.js";

/**
 * The admin portal's protocols: Connect and gRPC-Web over HTTP/1.1, with the
 * binary and the JSON codec, through @connectrpc/connect-node clients.
 */

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const registry = createRegistry(file_loyalty_v1_pos, file_loyalty_v1_admin, file_loyalty_v1_account, file_loyalty_v1_types);
/** A response message as proto3 JSON, zero values included: what the wire's JSON names would be. */
function plain(msg: Message): any {
  return toJson(registry.getMessage(msg.$typeName)!, msg as never, { alwaysEmitImplicit: true });
}

const CUID = /^[a-z][a-z0-9]{7,31}$/;
const MISSING_ID = "zzzzzzzzzzzzzzzzzzzzzzzz";

/** Runs `fn`, which must fail; returns its ConnectError. */
async function connectError(fn: () => Promise<unknown>): Promise<{ code: Code; message: string; replayed: string | null }> {
  try {
    await fn();
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage, replayed: e.metadata.get("idempotent-replayed") };
  }
  throw new Error("expected the call to fail");
}

const transports: [string, (baseUrl: string) => Transport][] = [
  ["Connect, binary", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" })],
  ["Connect, JSON", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false })],
  ["gRPC-Web, binary", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
  ["gRPC-Web, JSON", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false })],
];

describe.each(transports)("%s over HTTP/1.1", (_name, makeTransport) => {
  const clients = () => {
    const transport = makeTransport(t.url);
    return {
      pos: createClient(LoyaltyPos, transport),
      admin: createClient(CustomerAdmin, transport),
      auth: createClient(OwnerAuth, transport),
      settings: createClient(BusinessSettings, transport),
    };
  };

  test("POS flow: Checkin by phone → GetCustomer → GetBalance → Redeem", async () => {
    const { pos } = clients();
    const b = await registerBusiness(t.url);
    const headers = posAuth(b);

    const first = await pos.checkin({ phone: "+353123456789", amount: 25.5 }, { headers });
    expect(plain(first)).toEqual({
      success: true,
      customerId: expect.stringMatching(CUID),
      pointsAwarded: 25,
      totalPoints: 25,
      rewardThreshold: 100,
      rewardAvailable: false,
      checkinId: expect.stringMatching(CUID),
      // proto3 JSON with every implicit value: the (empty) list of issue 15's catalogue.
      availableRewards: [],
    });
    const id = first.customerId;
    const second = await pos.checkin({ phone: "+353 12 345 6789", amount: 80 }, { headers });
    expect(plain(second)).toEqual({
      success: true,
      customerId: id,
      pointsAwarded: 80,
      totalPoints: 105,
      rewardThreshold: 100,
      rewardAvailable: true,
      checkinId: expect.stringMatching(CUID),
      availableRewards: [],
    });

    const customer = await pos.getCustomer({ identifier: "+353123456789" }, { headers });
    expect(customer.status).toBe(CustomerStatus.ACTIVE);
    expect(plain(customer)).toEqual({
      customerId: id,
      name: "",
      phone: "+353123456789",
      status: "ACTIVE",
      totalPoints: 105,
      rewardAvailable: true,
      lifetimePoints: 105,
      availableRewards: [],
      expiringPoints: [],
    });
    expect(plain(await pos.getBalance({ identifier: id }, { headers }))).toEqual({ customerId: id, totalPoints: 105, availableRewards: [] });

    expect(plain(await pos.redeem({ phone: "0123456789", points: 100 }, { headers }))).toEqual({
      success: true,
      redemptionId: expect.stringMatching(CUID),
      pointsRedeemed: 100,
      rewardTitle: "Free Reward",
      remainingPoints: 5,
    });
    expect(await connectError(() => pos.redeem({ customerId: id, points: 100 }, { headers }))).toEqual({
      code: Code.FailedPrecondition,
      message: "insufficient points",
      replayed: null,
    });
    expect(plain(await pos.getBalance({ identifier: id }, { headers }))).toEqual({ customerId: id, totalPoints: 5, availableRewards: [] });
  });

  test("owner flow: Register, Login, program, store, API key, customer CRUD", async () => {
    const { auth, admin, settings, pos } = clients();
    const email = `connect-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
    const reg = await auth.register({ businessName: "Connect Café", email, password: "correct horse battery staple" });
    expect(plain(reg)).toEqual({
      success: true,
      token: expect.any(String),
      expiresIn: 43200,
      businessId: expect.stringMatching(CUID),
      ownerId: expect.stringMatching(CUID),
    });
    const login = await auth.login({ email, password: "correct horse battery staple" });
    expect(login.expiresIn).toBe(43200);
    const headers = { authorization: `Bearer ${login.token}` };

    expect(plain(await settings.getProgram({}, { headers }))).toEqual({ program: DEFAULT_PROGRAM_JSON });
    const updated = await settings.updateProgram({ rewardThreshold: 50, rewardTitle: "Free Coffee" }, { headers });
    expect(plain(updated).program).toMatchObject({ mode: "SPEND", rewardThreshold: 50, rewardTitle: "Free Coffee" });

    const store = await settings.createStore({ name: "Quay Street" }, { headers });
    expect(store.store?.name).toBe("Quay Street");
    expect((await settings.listStores({}, { headers })).stores.map((s) => s.id)).toEqual([store.store!.id]);
    const key = await settings.createApiKey({ name: "web till" }, { headers });
    expect(key.apiKey).toMatch(/^loy_[A-Za-z0-9]{32}$/);
    expect(key.prefix).toBe(key.apiKey.slice(0, 8));
    const keys = await settings.listApiKeys({}, { headers });
    expect(keys.apiKeys.map((k) => [k.id, k.name, k.prefix])).toEqual([[key.id, "web till", key.prefix]]);

    const created = await admin.createCustomer({ name: "Niamh Kelly", phone: "087 123 4567", notes: "", initialPoints: 60 }, { headers });
    expect(plain(created.customer!)).toMatchObject({
      name: "Niamh Kelly",
      phone: "+353871234567",
      status: "ACTIVE",
      totalPoints: 60,
      rewardAvailable: true,
      notes: "",
    });
    const id = created.customer!.id;
    const list = await admin.listCustomers({ search: "niamh" }, { headers });
    expect(list.customers.map((c) => c.id)).toEqual([id]);
    expect(plain(list.pagination!)).toEqual({ page: 1, limit: 20, total: 1 });

    const blocked = await admin.updateCustomer({ id, status: CustomerStatus.BLOCKED }, { headers });
    expect(plain(blocked.customer!)).toMatchObject({ id, name: "Niamh Kelly", status: "BLOCKED" });
    expect(await connectError(() => pos.checkin({ customerId: id, amount: 5 }, { headers: { "x-api-key": key.apiKey } }))).toEqual({
      code: Code.PermissionDenied,
      message: "customer is blocked",
      replayed: null,
    });
    expect(plain(await admin.adjustPoints({ id, points: -10, reason: "Correction" }, { headers }))).toEqual({
      success: true,
      newBalance: 50,
      adjustment: -10,
    });
    const got = await admin.getCustomer({ id }, { headers });
    expect(got.totalPoints).toBe(50);
    expect(got.pointsHistory.map((e) => plain(e)).map((e: any) => [e.type, e.delta, e.reason, e.balanceAfter, e.ownerId])).toEqual([
      ["ADJUSTMENT", -10, "Correction", 50, reg.ownerId],
      ["INITIAL", 60, "Initial points", 60, reg.ownerId],
    ]);
    expect(plain(await admin.deleteCustomer({ id }, { headers }))).toEqual({ success: true, message: "Customer deleted permanently" });
    expect(await connectError(() => admin.getCustomer({ id }, { headers }))).toEqual({
      code: Code.NotFound,
      message: "customer not found",
      replayed: null,
    });
  });

  test("auth: each service accepts only its own credential", async () => {
    const { pos, admin, settings } = clients();
    const b = await registerBusiness(t.url);
    const owner = { authorization: `Bearer ${b.token}` };
    const unauth = (message: string) => ({ code: Code.Unauthenticated, message, replayed: null });

    expect(await connectError(() => pos.getBalance({ identifier: "+353123456789" }))).toEqual(
      unauth("missing API key: send it in the X-API-Key header"),
    );
    expect(await connectError(() => pos.getBalance({ identifier: "+353123456789" }, { headers: { "x-api-key": "nope" } }))).toEqual(
      unauth("malformed API key"),
    );
    expect(await connectError(() => pos.getBalance({ identifier: "+353123456789" }, { headers: owner }))).toEqual(
      unauth("missing API key: send it in the X-API-Key header"),
    );
    expect(await connectError(() => admin.listCustomers({}, { headers: posAuth(b) }))).toEqual(
      unauth("missing owner token: send Authorization: Bearer <token>"),
    );
    expect(await connectError(() => settings.listApiKeys({}, { headers: { authorization: "Bearer abc.def.ghi" } }))).toEqual(
      unauth("invalid or expired token"),
    );
    // Accepted: the right credential on each.
    expect(await connectError(() => pos.getBalance({ identifier: "+353123456789" }, { headers: posAuth(b) }))).toEqual({
      code: Code.NotFound,
      message: "customer not found",
      replayed: null,
    });
    expect((await admin.listCustomers({}, { headers: owner })).pagination?.total).toBe(0);
  });

  test("error codes: invalid argument naming the field, not found, already exists, tenancy", async () => {
    const { pos, admin } = clients();
    const a = await registerBusiness(t.url);
    const other = await registerBusiness(t.url);
    const owner = { authorization: `Bearer ${a.token}` };

    expect(await connectError(() => pos.checkin({ phone: "+353123456789" }, { headers: posAuth(a) }))).toEqual({
      code: Code.InvalidArgument,
      message: "amount is required in SPEND mode",
      replayed: null,
    });
    expect(await connectError(() => pos.checkin({ phone: "+353123456789", amount: 1.001 }, { headers: posAuth(a) }))).toEqual({
      code: Code.InvalidArgument,
      message: "amount must have at most 2 decimal places",
      replayed: null,
    });
    expect(await connectError(() => admin.createCustomer({ name: "X", phone: "12" }, { headers: owner }))).toEqual({
      code: Code.InvalidArgument,
      message: "phone is not a valid phone number",
      replayed: null,
    });
    expect(await connectError(() => admin.getCustomer({ id: MISSING_ID }, { headers: owner }))).toEqual({
      code: Code.NotFound,
      message: "customer not found",
      replayed: null,
    });
    const c = await admin.createCustomer({ name: "Seán Ó Briain", phone: "+353861111111" }, { headers: owner });
    expect(c.customer?.name).toBe("Seán Ó Briain");
    expect((await connectError(() => admin.createCustomer({ name: "Dup", phone: "0861111111" }, { headers: owner }))).code).toBe(
      Code.AlreadyExists,
    );
    // Another business's customer is NOT_FOUND, exactly like a missing one.
    const id = c.customer!.id;
    expect(await connectError(() => admin.getCustomer({ id }, { headers: { authorization: `Bearer ${other.token}` } }))).toEqual({
      code: Code.NotFound,
      message: "customer not found",
      replayed: null,
    });
    expect(await connectError(() => pos.getBalance({ identifier: id }, { headers: posAuth(other) }))).toEqual({
      code: Code.NotFound,
      message: "customer not found",
      replayed: null,
    });
    expect((await admin.getCustomer({ id }, { headers: owner })).customer?.name).toBe("Seán Ó Briain");
  });

  test("idempotency-key: the replay is the first response, with idempotent-replayed: true, and one ledger row", async () => {
    const { pos } = clients();
    const b = await registerBusiness(t.url);
    const headers = { ...posAuth(b), "idempotency-key": "connect-checkin-1" };
    const seen: (string | null)[] = [];
    const onHeader = (h: Headers) => seen.push(h.get("idempotent-replayed"));
    const first = await pos.checkin({ phone: "+353123456789", amount: 12.34 }, { headers, onHeader });
    const again = await pos.checkin({ phone: "+353123456789", amount: 12.34 }, { headers, onHeader });
    expect(plain(again)).toEqual(plain(first));
    expect(plain(first)).toMatchObject({ pointsAwarded: 12, totalPoints: 12 });
    expect(seen).toEqual([null, "true"]);
    const [{ n }] = await t.sql<{ n: number }>("select count(*)::int as n from ledger_entry where customer_id = $1", [first.customerId]);
    expect(n).toBe(1);
    // A refusal is replayed as well.
    const redeem = { ...posAuth(b), "idempotency-key": "connect-redeem-1" };
    expect(await connectError(() => pos.redeem({ customerId: first.customerId }, { headers: redeem }))).toEqual({
      code: Code.FailedPrecondition,
      message: "insufficient points",
      replayed: null,
    });
    expect(await connectError(() => pos.redeem({ customerId: first.customerId }, { headers: redeem }))).toEqual({
      code: Code.FailedPrecondition,
      message: "insufficient points",
      replayed: "true",
    });
  });
});

describe("the Connect JSON codec speaks the REST JSON", () => {
  test("a Connect JSON call and the REST route answer the same bytes-for-field JSON, zero values included", async () => {
    const b = await registerBusiness(t.url);
    const checkin = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353123456789", amount: 19.99 }, headers: posAuth(b) });
    expect(checkin.status).toBe(200);

    const res = await fetch(`${t.url}/loyalty.v1.LoyaltyPos/GetCustomer`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-protocol-version": "1", ...posAuth(b) },
      body: JSON.stringify({ identifier: "+353123456789" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const connectJson = await res.json();
    const viaRest = await rest(t.url, "GET", "/v1/pos/customer/%2B353123456789", { headers: posAuth(b) });
    expect(connectJson).toEqual({
      customerId: checkin.body.customerId,
      name: "",
      phone: "+353123456789",
      status: "ACTIVE",
      totalPoints: 19,
      rewardAvailable: false,
      lifetimePoints: 19,
      availableRewards: [],
      expiringPoints: [],
    });
    // REST answers a business without a catalogue or expiry policy in the reference's shape, without the empty
    // lists (src/transport/reference-shape.ts); Connect JSON writes every implicit value.
    expect(connectJson).toEqual({ ...viaRest.body, availableRewards: [], expiringPoints: [] });
  });

  test("a Connect JSON error has the Connect error shape and status", async () => {
    const res = await fetch(`${t.url}/loyalty.v1.LoyaltyPos/GetBalance`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-protocol-version": "1" },
      body: JSON.stringify({ identifier: "+353123456789" }),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ code: "unauthenticated", message: "missing API key: send it in the X-API-Key header" });
  });

  test("binary and JSON codecs give the same results for the same calls", async () => {
    const b = await registerBusiness(t.url);
    const binary = createClient(LoyaltyPos, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }));
    const json = createClient(LoyaltyPos, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1", useBinaryFormat: false }));
    const headers = posAuth(b);
    const viaBinary = await binary.checkin({ phone: "+353123456789", amount: 50 }, { headers });
    const viaJson = await json.checkin({ phone: "+353123456789", amount: 50 }, { headers });
    expect(plain(viaJson)).toEqual({ ...plain(viaBinary), totalPoints: 100, rewardAvailable: true, checkinId: expect.stringMatching(CUID) });
    expect(viaJson.checkinId).not.toBe(viaBinary.checkinId);
    expect(plain(await json.getCustomer({ identifier: viaBinary.customerId }, { headers }))).toEqual(
      plain(await binary.getCustomer({ identifier: viaBinary.customerId }, { headers })),
    );
  });
});
