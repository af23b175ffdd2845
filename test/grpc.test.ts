import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { status } from "@grpc/grpc-js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { call, fails, loadGrpcStubs, ok } from "./support/grpc.js";
import { DEFAULT_PROGRAM_JSON } from "./support/rest.js";

/**
 * The gRPC face of Loyalty+, called the way a POS vendor calls it: grpc-js
 * stubs compiled from proto/ at run time, insecure credentials, h2c on the
 * service's one port.
 */

let t: TestApp;
let stubs: ReturnType<typeof loadGrpcStubs>;

const CUID = /^[a-z][a-z0-9]{7,31}$/;
const API_KEY = /^loy_[A-Za-z0-9]{32}$/;
const TOKEN_TTL = 12 * 3600;
let seq = 0;

/** A business registered over gRPC, with an owner token and a POS key. */
async function newBusiness() {
  const email = `grpc-${process.pid}-${Date.now()}-${seq++}@example.com`;
  const password = "correct horse battery staple";
  const reg = await ok(stubs.auth, "Register", { businessName: "gRPC Café", email, password });
  const owner = { authorization: `Bearer ${reg.token}` };
  const key = await ok(stubs.settings, "CreateApiKey", { name: "till 1" }, owner);
  return { ...reg, email, password, owner, pos: { "x-api-key": key.apiKey as string }, apiKeyId: key.id as string };
}

beforeAll(async () => {
  t = await startTestApp();
  stubs = loadGrpcStubs(`127.0.0.1:${t.port}`);
});

afterAll(async () => {
  stubs?.close();
  await t?.close();
});

describe("grpc.health.v1.Health", () => {
  test("Check answers SERVING for the server and for a named service", async () => {
    expect(await ok(stubs.health, "Check", { service: "" })).toEqual({ status: "SERVING" });
    expect(await ok(stubs.health, "Check", { service: "loyalty.v1.LoyaltyPos" })).toEqual({ status: "SERVING" });
  });

  test("Check of an unknown service is NOT_FOUND, the message intact through percent-encoding", async () => {
    expect(await fails(stubs.health, "Check", { service: "no.such.Service" })).toEqual({
      code: status.NOT_FOUND,
      details: 'unknown service "no.such.Service"',
    });
    expect(await fails(stubs.health, "Check", { service: "café: 100%, ok/no?" })).toEqual({
      code: status.NOT_FOUND,
      details: 'unknown service "café: 100%, ok/no?"',
    });
  });
});

describe("POS flow over gRPC", () => {
  test("Checkin by phone → GetCustomer → GetBalance → Redeem, with exact values", async () => {
    const b = await newBusiness();

    const first = await ok(stubs.pos, "Checkin", { phone: "+353123456789", amount: 25.5 }, b.pos);
    expect(first).toEqual({
      success: true,
      customerId: expect.stringMatching(CUID),
      pointsAwarded: 25,
      totalPoints: 25,
      rewardThreshold: 100,
      rewardAvailable: false,
      checkinId: expect.stringMatching(CUID),
      availableRewards: [],
    });
    const id = first.customerId as string;

    // The same customer typed in national form; 79.99 earns 79 (floor, exact decimal).
    const second = await ok(stubs.pos, "Checkin", { phone: "0123456789", amount: 79.99 }, b.pos);
    expect(second).toEqual({
      success: true,
      customerId: id,
      pointsAwarded: 79,
      totalPoints: 104,
      rewardThreshold: 100,
      rewardAvailable: true,
      checkinId: expect.stringMatching(CUID),
      availableRewards: [],
    });

    expect(await ok(stubs.pos, "GetCustomer", { identifier: "+353123456789" }, b.pos)).toEqual({
      customerId: id,
      name: "",
      phone: "+353123456789",
      status: "ACTIVE",
      totalPoints: 104,
      rewardAvailable: true,
      lifetimePoints: 104,
      availableRewards: [], expiringPoints: [],
    });
    expect(await ok(stubs.pos, "GetCustomer", { identifier: id }, b.pos)).toMatchObject({ customerId: id, totalPoints: 104 });
    expect(await ok(stubs.pos, "GetBalance", { identifier: id }, b.pos)).toEqual({ customerId: id, totalPoints: 104, availableRewards: [], nextExpiry: null });
    expect(await ok(stubs.pos, "GetBalance", { identifier: "00353123456789" }, b.pos)).toEqual({ customerId: id, totalPoints: 104, availableRewards: [], nextExpiry: null });

    const redeemed = await ok(stubs.pos, "Redeem", { customerId: id, points: 100 }, b.pos);
    expect(redeemed).toEqual({
      success: true,
      redemptionId: expect.stringMatching(CUID),
      pointsRedeemed: 100,
      rewardTitle: "Free Reward",
      remainingPoints: 4,
    });
    expect(await ok(stubs.pos, "GetBalance", { identifier: id }, b.pos)).toEqual({ customerId: id, totalPoints: 4, availableRewards: [], nextExpiry: null });

    const ledger = await t.sql<{ type: string; delta: number; balance_after: number; api_key_id: string; reason: string }>(
      "select type, delta, balance_after, api_key_id, reason from ledger_entry where customer_id = $1 order by created_at",
      [id],
    );
    expect(ledger).toEqual([
      { type: "CHECKIN", delta: 25, balance_after: 25, api_key_id: b.apiKeyId, reason: "Visit" },
      { type: "CHECKIN", delta: 79, balance_after: 104, api_key_id: b.apiKeyId, reason: "Visit" },
      { type: "REDEMPTION", delta: -100, balance_after: 4, api_key_id: b.apiKeyId, reason: "Redemption: Free Reward" },
    ]);
  });

  test("Redeem short of points is FAILED_PRECONDITION \"insufficient points\" and changes nothing", async () => {
    const b = await newBusiness();
    const c = await ok(stubs.pos, "Checkin", { phone: "+353987654321", amount: 60 }, b.pos);
    const e = await fails(stubs.pos, "Redeem", { phone: "+353987654321", points: 100 }, b.pos);
    expect(e).toEqual({ code: status.FAILED_PRECONDITION, details: "insufficient points" });
    expect(await ok(stubs.pos, "GetBalance", { identifier: c.customerId }, b.pos)).toEqual({ customerId: c.customerId, totalPoints: 60, availableRewards: [], nextExpiry: null });
    const [{ n }] = await t.sql<{ n: number }>("select count(*)::int as n from ledger_entry where customer_id = $1", [c.customerId]);
    expect(n).toBe(1);
  });

  test("invalid arguments are INVALID_ARGUMENT with a message naming the field", async () => {
    const b = await newBusiness();
    expect(await fails(stubs.pos, "Checkin", { phone: "+353123456789" }, b.pos)).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "amount is required in SPEND mode",
    });
    expect(await fails(stubs.pos, "Checkin", { phone: "not a phone", amount: 5 }, b.pos)).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "phone is not a valid phone number",
    });
    expect(await fails(stubs.pos, "Checkin", { phone: "+353123456789", amount: 5.555 }, b.pos)).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "amount must have at most 2 decimal places",
    });
    expect(await fails(stubs.pos, "Redeem", { phone: "+353123456789", points: 150 }, b.pos)).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "points must be the reward cost (100) or a whole multiple of it",
    });
    const [{ n }] = await t.sql<{ n: number }>("select count(*)::int as n from customer where business_id = $1", [b.businessId]);
    expect(n).toBe(0);
  });

  test("unknown customer id is NOT_FOUND on every POS method", async () => {
    const b = await newBusiness();
    const missing = "zzzzzzzzzzzzzzzzzzzzzzzz";
    for (const [method, req] of [
      ["GetCustomer", { identifier: missing }],
      ["GetBalance", { identifier: missing }],
      ["GetBalance", { identifier: "+353111111111" }],
      ["Checkin", { customerId: missing, amount: 10 }],
      ["Redeem", { customerId: missing, points: 100 }],
    ] as const) {
      expect(await fails(stubs.pos, method, req, b.pos), method).toEqual({ code: status.NOT_FOUND, details: "customer not found" });
    }
  });
});

describe("owner flow over gRPC", () => {
  test("Register and Login give tokens; a wrong password is UNAUTHENTICATED", async () => {
    const email = `grpc-login-${process.pid}-${Date.now()}@example.com`;
    const reg = await ok(stubs.auth, "Register", { businessName: "Login Café", email, password: "s3cret-password" });
    expect(reg).toEqual({
      success: true,
      token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      expiresIn: TOKEN_TTL,
      businessId: expect.stringMatching(CUID),
      ownerId: expect.stringMatching(CUID),
    });
    const login = await ok(stubs.auth, "Login", { email: email.toUpperCase(), password: "s3cret-password" });
    expect(login).toEqual({ success: true, token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/), expiresIn: TOKEN_TTL });
    // The login token works on an owner method.
    const program = await ok(stubs.settings, "GetProgram", {}, { authorization: `Bearer ${login.token}` });
    expect(program.program.rewardThreshold).toBe(100);

    expect(await fails(stubs.auth, "Login", { email, password: "wrong-password" })).toEqual({
      code: status.UNAUTHENTICATED,
      details: "invalid email or password",
    });
    expect(await fails(stubs.auth, "Login", { email: `nobody-${email}`, password: "wrong-password" })).toEqual({
      code: status.UNAUTHENTICATED,
      details: "invalid email or password",
    });
    expect(await fails(stubs.auth, "Register", { businessName: "Again", email, password: "s3cret-password" })).toMatchObject({
      code: status.ALREADY_EXISTS,
    });
    expect(await fails(stubs.auth, "Register", { businessName: "Short", email: `x${email}`, password: "short" })).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "password must be at least 8 characters",
    });
  });

  test("BusinessSettings: program defaults and update, stores, API keys (create, list, revoke)", async () => {
    const b = await newBusiness();
    expect(await ok(stubs.settings, "GetProgram", {}, b.owner)).toEqual({ program: DEFAULT_PROGRAM_JSON });
    expect(await ok(stubs.settings, "UpdateProgram", { mode: "UNIT", pointsPerUnit: 5, rewardTitle: "Free Coffee" }, b.owner)).toEqual({
      success: true,
      program: {
        mode: "UNIT",
        pointsPerCurrencyUnit: 1,
        pointsPerUnit: 5,
        pointsPerVisit: 1,
        rewardThreshold: 100,
        rewardTitle: "Free Coffee",
        defaultCountry: "IE",
        currency: "EUR",
        timezone: "Europe/Dublin",
        // The default reward is the one rewardTitle names.
        rewards: [expect.objectContaining({ title: "Free Coffee", cost: 100, isDefault: true })],
        defaultRewardId: expect.any(String),
        pointsExpireAfterMonths: 0,
        expiryWarningDays: 14,
      },
    });
    expect(await fails(stubs.settings, "UpdateProgram", { rewardThreshold: 0 }, b.owner)).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "rewardThreshold must be a whole number from 1 to 1000000",
    });

    const store = await ok(stubs.settings, "CreateStore", { name: "Main Street" }, b.owner);
    expect(store).toEqual({
      success: true,
      store: { id: expect.stringMatching(CUID), name: "Main Street", createdAt: { seconds: expect.any(String), nanos: expect.any(Number) }, archivedAt: null },
    });
    const stores = await ok(stubs.settings, "ListStores", {}, b.owner);
    expect(stores.stores.map((s: any) => [s.id, s.name])).toEqual([[store.store.id, "Main Street"]]);

    const key = await ok(stubs.settings, "CreateApiKey", { name: "till 2", storeId: store.store.id }, b.owner);
    expect(key).toEqual({
      success: true,
      apiKey: expect.stringMatching(API_KEY),
      id: expect.stringMatching(CUID),
      prefix: key.apiKey.slice(0, 8),
      createdAt: { seconds: expect.any(String), nanos: expect.any(Number) },
    });
    expect(Math.abs(Number(key.createdAt.seconds) - Date.now() / 1000)).toBeLessThan(60);

    // UNIT mode: 3 units x 5; the key's store is recorded on the ledger entry.
    const pos = { "x-api-key": key.apiKey };
    const c = await ok(stubs.pos, "Checkin", { phone: "+353861234567", units: 3 }, pos);
    expect(c).toMatchObject({ pointsAwarded: 15, totalPoints: 15 });
    const [entry] = await t.sql<{ store_id: string }>("select store_id from ledger_entry where customer_id = $1", [c.customerId]);
    expect(entry!.store_id).toBe(store.store.id);

    const list = await ok(stubs.settings, "ListApiKeys", {}, b.owner);
    expect(list.apiKeys).toHaveLength(2);
    const listed = list.apiKeys.find((k: any) => k.id === key.id);
    expect(listed).toMatchObject({ id: key.id, name: "till 2", prefix: key.prefix, storeId: store.store.id, revokedAt: null });
    expect(JSON.stringify(list)).not.toContain(key.apiKey);

    expect(await ok(stubs.settings, "RevokeApiKey", { id: key.id }, b.owner)).toEqual({ success: true });
    expect(await fails(stubs.pos, "GetBalance", { identifier: c.customerId }, pos)).toEqual({
      code: status.UNAUTHENTICATED,
      details: "invalid or revoked API key",
    });
    const after = await ok(stubs.settings, "ListApiKeys", {}, b.owner);
    expect(after.apiKeys.find((k: any) => k.id === key.id).revokedAt).toEqual({ seconds: expect.any(String), nanos: expect.any(Number) });
    expect(await fails(stubs.settings, "RevokeApiKey", { id: "zzzzzzzzzzzzzzzzzzzzzzzz" }, b.owner)).toEqual({
      code: status.NOT_FOUND,
      details: "API key not found",
    });
  });

  test("CustomerAdmin: Create, List, Get, Update, AdjustPoints, Delete with exact values", async () => {
    const b = await newBusiness();
    const created = await ok(
      stubs.admin,
      "CreateCustomer",
      { name: "Alice Murphy", phone: "+353 87 123 4567", notes: "VIP", initialPoints: 50 },
      b.owner,
    );
    expect(created).toEqual({
      success: true,
      customer: {
        id: expect.stringMatching(CUID),
        name: "Alice Murphy",
        phone: "+353871234567",
        status: "ACTIVE",
        totalPoints: 50,
        rewardAvailable: false,
        notes: "VIP",
        createdAt: { seconds: expect.any(String), nanos: expect.any(Number) },
        updatedAt: { seconds: expect.any(String), nanos: expect.any(Number) },
        lastVisitAt: null,
        lifetimePoints: 50,
      },
    });
    const id = created.customer.id as string;

    // The same phone in another typed form is ALREADY_EXISTS.
    expect(await fails(stubs.admin, "CreateCustomer", { name: "Dup", phone: "00353871234567" }, b.owner)).toMatchObject({
      code: status.ALREADY_EXISTS,
    });
    expect(await fails(stubs.admin, "CreateCustomer", { name: "Neg", phone: "+353871111111", initialPoints: -1 }, b.owner)).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "initialPoints must be a whole number from 0 to 10000000",
    });
    await ok(stubs.admin, "CreateCustomer", { name: "Bob Byrne", phone: "+353872222222" }, b.owner);

    const all = await ok(stubs.admin, "ListCustomers", { sortBy: "name", sortOrder: "asc" }, b.owner);
    expect(all.customers.map((c: any) => c.name)).toEqual(["Alice Murphy", "Bob Byrne"]);
    expect(all.pagination).toEqual({ page: 1, limit: 20, total: 2 });
    const search = await ok(stubs.admin, "ListCustomers", { search: "alice", limit: 5 }, b.owner);
    expect(search.customers.map((c: any) => c.id)).toEqual([id]);
    expect(search.pagination).toEqual({ page: 1, limit: 5, total: 1 });
    // Punctuation arrives as written (no "%2C" or "%3A" left by percent-encoding).
    expect(await fails(stubs.admin, "ListCustomers", { sortBy: "age" }, b.owner)).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "sortBy must be one of createdAt, name, totalPoints, lastVisitAt",
    });
    expect(await fails(stubs.admin, "ListCustomers", { limit: 101 }, b.owner)).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "limit must be a whole number from 1 to 100",
    });

    const got = await ok(stubs.admin, "GetCustomer", { id }, b.owner);
    expect(got.totalPoints).toBe(50);
    expect(got.customer).toEqual(created.customer);
    expect(got.pointsHistory).toEqual([
      {
        id: expect.stringMatching(CUID),
        delta: 50,
        reason: "Initial points",
        type: "INITIAL",
        storeId: "",
        createdAt: { seconds: expect.any(String), nanos: expect.any(Number) },
        balanceAfter: 50,
        apiKeyId: "",
        ownerId: b.ownerId,
        redemptionId: "",
        // Added by contract §8 (and the portal's history).
        checkinId: "",
        orderRef: "",
        amount: 0,
        units: 0,
        storeName: "",
        apiKeyName: "",
        refundedPoints: 0,
        refundedAmount: 0,
        refundedUnits: 0,
        fullyRefunded: false,
        voided: false,
      },
    ]);

    // Partial update: only the name changes.
    const renamed = await ok(stubs.admin, "UpdateCustomer", { id, name: "Alice B. Murphy" }, b.owner);
    expect(renamed.success).toBe(true);
    expect(renamed.customer).toMatchObject({ id, name: "Alice B. Murphy", phone: "+353871234567", notes: "VIP", status: "ACTIVE", totalPoints: 50 });

    const adjusted = await ok(stubs.admin, "AdjustPoints", { id, points: 30, reason: "Goodwill" }, b.owner);
    expect(adjusted).toEqual({ success: true, newBalance: 80, adjustment: 30 });
    expect(await fails(stubs.admin, "AdjustPoints", { id, points: -81, reason: "Too much" }, b.owner)).toEqual({
      code: status.FAILED_PRECONDITION,
      details: "insufficient points",
    });
    expect(await fails(stubs.admin, "AdjustPoints", { id, points: 5, reason: "  " }, b.owner)).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "reason is required",
    });
    expect(await ok(stubs.admin, "AdjustPoints", { id, points: -20, reason: "Correction" }, b.owner)).toEqual({
      success: true,
      newBalance: 60,
      adjustment: -20,
    });
    const history = await ok(stubs.admin, "GetCustomer", { id }, b.owner);
    expect(history.pointsHistory.map((e: any) => [e.type, e.delta, e.reason, e.balanceAfter])).toEqual([
      ["ADJUSTMENT", -20, "Correction", 60],
      ["ADJUSTMENT", 30, "Goodwill", 80],
      ["INITIAL", 50, "Initial points", 50],
    ]);

    // BLOCKED: look-ups answer and show it; check-in and redeem are PERMISSION_DENIED.
    const blocked = await ok(stubs.admin, "UpdateCustomer", { id, status: "BLOCKED" }, b.owner);
    expect(blocked.customer).toMatchObject({ status: "BLOCKED", name: "Alice B. Murphy", totalPoints: 60 });
    expect(await ok(stubs.pos, "GetCustomer", { identifier: "+353871234567" }, b.pos)).toMatchObject({ customerId: id, status: "BLOCKED" });
    expect(await fails(stubs.pos, "Checkin", { phone: "+353871234567", amount: 10 }, b.pos)).toEqual({
      code: status.PERMISSION_DENIED,
      details: "customer is blocked",
    });
    await ok(stubs.admin, "AdjustPoints", { id, points: 40, reason: "Owner top-up" }, b.owner);
    expect(await fails(stubs.pos, "Redeem", { customerId: id, points: 100 }, b.pos)).toEqual({
      code: status.PERMISSION_DENIED,
      details: "customer is blocked",
    });
    const unblocked = await ok(stubs.admin, "UpdateCustomer", { id, status: "ACTIVE" }, b.owner);
    expect(unblocked.customer).toMatchObject({ status: "ACTIVE", totalPoints: 100, rewardAvailable: true });

    // Changing the phone to one in use is ALREADY_EXISTS.
    expect(await fails(stubs.admin, "UpdateCustomer", { id, phone: "+353 87 222 2222" }, b.owner)).toMatchObject({
      code: status.ALREADY_EXISTS,
    });

    expect(await ok(stubs.admin, "DeleteCustomer", { id }, b.owner)).toEqual({ success: true, message: "Customer deleted permanently" });
    expect(await fails(stubs.admin, "GetCustomer", { id }, b.owner)).toEqual({ code: status.NOT_FOUND, details: "customer not found" });
    expect(await fails(stubs.admin, "DeleteCustomer", { id }, b.owner)).toEqual({ code: status.NOT_FOUND, details: "customer not found" });
    const [{ n }] = await t.sql<{ n: number }>("select count(*)::int as n from ledger_entry where customer_id = $1", [id]);
    expect(n).toBe(0);
  });

  test("missing customer ids are NOT_FOUND and bad ids INVALID_ARGUMENT on every CustomerAdmin method", async () => {
    const b = await newBusiness();
    const missing = "zzzzzzzzzzzzzzzzzzzzzzzz";
    for (const [method, req] of [
      ["GetCustomer", { id: missing }],
      ["UpdateCustomer", { id: missing, name: "X" }],
      ["AdjustPoints", { id: missing, points: 5, reason: "r" }],
      ["DeleteCustomer", { id: missing }],
    ] as const) {
      expect(await fails(stubs.admin, method, req, b.owner), method).toEqual({ code: status.NOT_FOUND, details: "customer not found" });
    }
    expect(await fails(stubs.admin, "GetCustomer", { id: "" }, b.owner)).toEqual({ code: status.INVALID_ARGUMENT, details: "id is required" });
    expect(await fails(stubs.admin, "GetCustomer", { id: "no/such id" }, b.owner)).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "id is not a valid id",
    });
  });
});

describe("authentication over metadata", () => {
  test("POS methods take only a valid x-api-key", async () => {
    const b = await newBusiness();
    const c = await ok(stubs.pos, "Checkin", { phone: "+353123456789", amount: 1 }, b.pos);
    const req = { identifier: c.customerId };
    expect(await fails(stubs.pos, "GetBalance", req)).toEqual({
      code: status.UNAUTHENTICATED,
      details: "missing API key: send it in the X-API-Key header",
    });
    expect(await fails(stubs.pos, "GetBalance", req, { "x-api-key": "loy_short" })).toEqual({
      code: status.UNAUTHENTICATED,
      details: "malformed API key",
    });
    expect(await fails(stubs.pos, "GetBalance", req, { "x-api-key": `loy_${"A".repeat(32)}` })).toEqual({
      code: status.UNAUTHENTICATED,
      details: "invalid or revoked API key",
    });
    // An owner JWT is not a POS credential.
    expect((await fails(stubs.pos, "GetBalance", req, b.owner)).code).toBe(status.UNAUTHENTICATED);
    expect((await fails(stubs.pos, "Checkin", { phone: "+353123456789", amount: 1 }, b.owner)).code).toBe(status.UNAUTHENTICATED);
    expect(await ok(stubs.pos, "GetBalance", req, b.pos)).toEqual({ customerId: c.customerId, totalPoints: 1, availableRewards: [], nextExpiry: null });
  });

  test("owner methods take only a valid Bearer token", async () => {
    const b = await newBusiness();
    expect(await fails(stubs.admin, "ListCustomers", {})).toEqual({
      code: status.UNAUTHENTICATED,
      details: "missing owner token: send Authorization: Bearer <token>",
    });
    expect(await fails(stubs.admin, "ListCustomers", {}, { authorization: "Bearer not.a.jwt" })).toEqual({
      code: status.UNAUTHENTICATED,
      details: "invalid or expired token",
    });
    expect((await fails(stubs.admin, "ListCustomers", {}, { authorization: b.token })).code).toBe(status.UNAUTHENTICATED);
    // A token signed with another secret.
    const [h, p] = (b.token as string).split(".");
    expect((await fails(stubs.admin, "ListCustomers", {}, { authorization: `Bearer ${h}.${p}.AAAA` })).code).toBe(status.UNAUTHENTICATED);
    // A POS API key is not an owner credential, neither alone nor as a Bearer token.
    expect((await fails(stubs.admin, "ListCustomers", {}, b.pos)).code).toBe(status.UNAUTHENTICATED);
    expect((await fails(stubs.admin, "ListCustomers", {}, { authorization: `Bearer ${b.pos["x-api-key"]}` })).code).toBe(
      status.UNAUTHENTICATED,
    );
    expect((await fails(stubs.settings, "CreateApiKey", { name: "sneaky" }, b.pos)).code).toBe(status.UNAUTHENTICATED);
    expect((await fails(stubs.admin, "CreateCustomer", { name: "X", phone: "+353871234567" }, b.pos)).code).toBe(status.UNAUTHENTICATED);
    const [{ n }] = await t.sql<{ n: number }>("select count(*)::int as n from customer where business_id = $1", [b.businessId]);
    expect(n).toBe(0);
    expect(await ok(stubs.admin, "ListCustomers", {}, { authorization: `Bearer ${b.token}` })).toEqual({
      customers: [],
      pagination: { page: 1, limit: 20, total: 0 },
    });
  });
});

describe("idempotency over gRPC metadata", () => {
  test("the same idempotency-key twice gives the same response, one ledger row, and idempotent-replayed: true", async () => {
    const b = await newBusiness();
    const md = { ...b.pos, "idempotency-key": "grpc-checkin-1" };
    const req = { phone: "+353123456789", amount: 42 };
    const first = await call(stubs.pos, "Checkin", req, md);
    expect(first.error).toBeUndefined();
    expect(first.headers.get("idempotent-replayed")).toEqual([]);
    const again = await call(stubs.pos, "Checkin", req, md);
    expect(again.error).toBeUndefined();
    expect(again.response).toEqual(first.response);
    expect(again.headers.get("idempotent-replayed")).toEqual(["true"]);
    expect(first.response).toMatchObject({ pointsAwarded: 42, totalPoints: 42 });

    const [{ n }] = await t.sql<{ n: number }>("select count(*)::int as n from ledger_entry where customer_id = $1", [
      first.response.customerId,
    ]);
    expect(n).toBe(1);

    // The same key with another request is refused; without a key, a retry is a new check-in.
    expect(await fails(stubs.pos, "Checkin", { phone: "+353123456789", amount: 43 }, md)).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "this Idempotency-Key was already used with a different request",
    });
    expect(await ok(stubs.pos, "Checkin", req, b.pos)).toMatchObject({ totalPoints: 84 });
  });

  test("an owner AdjustPoints replayed by key changes the balance once", async () => {
    const b = await newBusiness();
    const created = await ok(stubs.admin, "CreateCustomer", { name: "Idem", phone: "+353871234567" }, b.owner);
    const md = { ...b.owner, "idempotency-key": "adjust-1" };
    const req = { id: created.customer.id, points: 10, reason: "Welcome" };
    const first = await call(stubs.admin, "AdjustPoints", req, md);
    const again = await call(stubs.admin, "AdjustPoints", req, md);
    expect(first.response).toEqual({ success: true, newBalance: 10, adjustment: 10 });
    expect(again.response).toEqual(first.response);
    expect(again.headers.get("idempotent-replayed")).toEqual(["true"]);
    const got = await ok(stubs.admin, "GetCustomer", { id: created.customer.id }, b.owner);
    expect(got.totalPoints).toBe(10);
    expect(got.pointsHistory).toHaveLength(1);
  });
});

describe("tenancy", () => {
  test("another business's customers are NOT_FOUND over POS and owner methods, and nothing changes", async () => {
    const a = await newBusiness();
    const other = await newBusiness();
    const c = await ok(stubs.pos, "Checkin", { phone: "+353123456789", amount: 150 }, a.pos);
    const id = c.customerId as string;

    for (const [method, req] of [
      ["GetCustomer", { identifier: id }],
      ["GetBalance", { identifier: id }],
      ["Checkin", { customerId: id, amount: 10 }],
      ["Redeem", { customerId: id, points: 100 }],
    ] as const) {
      expect(await fails(stubs.pos, method, req, other.pos), method).toEqual({ code: status.NOT_FOUND, details: "customer not found" });
    }
    for (const [method, req] of [
      ["GetCustomer", { id }],
      ["UpdateCustomer", { id, status: "BLOCKED" }],
      ["AdjustPoints", { id, points: -150, reason: "steal" }],
      ["DeleteCustomer", { id }],
    ] as const) {
      expect(await fails(stubs.admin, method, req, other.owner), method).toEqual({ code: status.NOT_FOUND, details: "customer not found" });
    }
    // The same phone in the other business is a different customer.
    const theirs = await ok(stubs.pos, "Checkin", { phone: "+353123456789", amount: 1 }, other.pos);
    expect(theirs.customerId).not.toBe(id);
    expect(theirs.totalPoints).toBe(1);
    expect(await ok(stubs.admin, "ListCustomers", {}, other.owner)).toMatchObject({ pagination: { page: 1, limit: 20, total: 1 } });

    expect(await ok(stubs.pos, "GetCustomer", { identifier: id }, a.pos)).toEqual({
      customerId: id,
      name: "",
      phone: "+353123456789",
      status: "ACTIVE",
      totalPoints: 150,
      rewardAvailable: true,
      lifetimePoints: 150,
      availableRewards: [], expiringPoints: [],
    });
  });
});
