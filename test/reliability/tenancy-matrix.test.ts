/**
 * The tenancy matrix (issue 4 §5–6, contract §3): for EVERY REST binding and
 * every RPC of the API services, business B's credentials aimed at business
 * A's resources get 404 (as a missing id would) or only ever see and change
 * B's own data; POS keys on owner routes and owner tokens on POS routes get
 * 401; nothing of A changes. Then the security rules around it: forged JWTs,
 * mass assignment, CORS, security headers, argon2id parameters and login
 * throttling.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { generateKeyPair, SignJWT } from "jose";
import type { DescMethod } from "@bufbuild/protobuf";
import { apiServices } from "../../src/transport/registry.js";
import { authOf } from "../../src/transport/method-rules.js";
import { restBindings, type RestBinding } from "../../src/transport/http-rules.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business, type RestResponse } from "../support/rest.js";
import { call, loadGrpcStubs } from "../support/grpc.js";

const PORTAL_ORIGIN = "https://portal.loyalty.example";
let t: TestApp;
let a: Business;
let b: Business;
/** A's resources that B aims at. */
const A = { customer: "", phone: "+353123456789", second: "", secondPhone: "+353861000001", store: "", spareKeyId: "", checkin: "", redemption: "", reward: "", promotion: "", webhook: "", delivery: "" };
/** A's orderRefs (contract §8): B using the same text names nothing of A's. */
const A_ORDER = "A-ORDER-1";
const A_REDEEM_ORDER = "A-REDEEM-1";
let bCustomer = "";
/** Owners of their own, one per Logout call of the matrix (a log-out ends every token of its caller). */
const logoutOwners: Business[] = [];

beforeAll(async () => {
  t = await startTestApp({ env: { CORS_ORIGINS: PORTAL_ORIGIN, OWNER_RATE_LIMIT_PER_MINUTE: "100000", POS_RATE_LIMIT_PER_MINUTE: "100000" } });
  a = await registerBusiness(t.url, { rewardTitle: "A's Coffee", rewardThreshold: 100 });
  b = await registerBusiness(t.url, { rewardTitle: "B's Tea", rewardThreshold: 100 });
  const c1 = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "Alice of A", phone: A.phone, notes: "A's secret note", initialPoints: 300 }, headers: ownerAuth(a) });
  const c2 = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "Second of A", phone: A.secondPhone, initialPoints: 50 }, headers: ownerAuth(a) });
  expect([c1.status, c2.status]).toEqual([200, 200]);
  A.customer = c1.body.customer.id;
  A.second = c2.body.customer.id;
  const ci = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: A.phone, amount: 10, orderRef: A_ORDER }, headers: posAuth(a) });
  const rd = await rest(t.url, "POST", "/v1/pos/redeem", { body: { customerId: A.customer, points: 100, orderRef: A_REDEEM_ORDER }, headers: posAuth(a) });
  expect([ci.status, rd.status]).toEqual([200, 200]);
  A.checkin = ci.body.checkinId;
  A.redemption = rd.body.redemptionId;
  A.store = (await rest(t.url, "POST", "/v1/owner/stores", { body: { name: "A's shop" }, headers: ownerAuth(a) })).body.store.id;
  A.spareKeyId = (await rest(t.url, "POST", "/v1/owner/api-keys", { body: { name: "A spare" }, headers: ownerAuth(a) })).body.id;
  bCustomer = (await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "Bob of B", phone: "+353871234567" }, headers: ownerAuth(b) })).body.customer.id;
  // Issue 15: A's catalogue.
  A.reward = (await rest(t.url, "POST", "/v1/owner/rewards", { body: { title: "A's cake", cost: 10, stock: 5 }, headers: ownerAuth(a) })).body.reward.id;
  A.promotion = (await rest(t.url, "POST", "/v1/owner/promotions", { body: { name: "A's double", kind: "MULTIPLIER", multiplier: 2 }, headers: ownerAuth(a) })).body.promotion.id;
  for (let i = 0; i < 3; i++) logoutOwners.push(await registerBusiness(t.url));
  // Issue 17: A's webhook endpoint and a delivery of it (a test send).
  A.webhook = (await rest(t.url, "POST", "/v1/owner/webhooks", { body: { url: "https://hooks.a.example/x", eventTypes: ["*"] }, headers: ownerAuth(a) })).body.endpoint.id;
  A.delivery = (await rest(t.url, "POST", `/v1/owner/webhooks/${A.webhook}/test`, { body: {}, headers: ownerAuth(a) })).body.delivery.id;
});
afterAll(async () => {
  await t?.close();
});

/** Everything business A has, row by row. */
async function stateOfA() {
  const q = (sql: string) => t.sql(sql, [a.businessId]);
  return {
    business: await q("select * from business where id = $1"),
    owners: await q("select * from owner where business_id = $1 order by id"),
    program: await q("select * from program where business_id = $1"),
    stores: await q("select * from store where business_id = $1 order by id"),
    keys: await q("select id, name, prefix, key_hash, store_id, created_at, revoked_at from api_key where business_id = $1 order by id"),
    rewards: await q("select * from reward where business_id = $1 order by id"),
    promotions: await q("select * from promotion where business_id = $1 order by id"),
    customers: await q("select * from customer where business_id = $1 order by id"),
    ledger: await q("select * from ledger_entry where business_id = $1 order by id"),
    redemptions: await q("select * from redemption where business_id = $1 order by id"),
    orderRefClaims: await q("select * from order_ref_claim where business_id = $1 order by order_ref"),
    audit: await q("select * from audit_event where business_id = $1 order by id"),
    events: await q("select * from event where business_id = $1 order by id"),
    webhooks: await q("select * from webhook_endpoint where business_id = $1 order by id"),
    deliveries: await q("select * from webhook_delivery where business_id = $1 order by id"),
  };
}

// ---------------------------------------------------------------------------
// The matrix: one or more cases per RPC; REST requests are derived from the
// bindings, Connect requests from the service descriptors.
// ---------------------------------------------------------------------------

type Via = "rest" | "connect";
interface Case {
  /** What B sends (path fields included), per transport. */
  message: (via: Via) => Record<string, unknown>;
  /** The Connect code B gets, or a check of B's successful, B-scoped answer. */
  expect: string | ((body: any, via: Via) => void);
  why: string;
}
const rpc = (m: DescMethod) => `${m.parent.name}.${m.name}`;
const ids = (list: { id: string }[]) => list.map((x) => x.id);
const noneOfA = (text: string) => {
  for (const secret of [A.customer, A.second, A.store, A.spareKeyId, a.apiKeyId, A.checkin, A.redemption, "Alice of A", "Second of A", "A's secret note", "A's Coffee", "A's shop"]) {
    expect(text).not.toContain(secret);
  }
};

const MATRIX: Record<string, Case[]> = {
  "LoyaltyPos.Checkin": [
    { message: () => ({ customerId: A.customer, amount: 10 }), expect: "not_found", why: "A's customer id" },
    { message: () => ({ customerId: A.customer, amount: 10, storeId: A.store }), expect: "invalid_argument", why: "A's store (checked first)" },
    {
      message: (via) => ({ phone: via === "rest" ? A.secondPhone : "+353861000002", amount: 10 }),
      expect: (body) => {
        // Credential-scoped: a phone is looked up in the caller's business only; B enrols its own customer.
        expect(body.customerId).not.toBe(A.second);
        expect(body.totalPoints).toBe(10);
      },
      why: "A's customer's phone → B's own new customer",
    },
  ],
  "LoyaltyPos.GetCustomer": [
    { message: () => ({ identifier: A.customer }), expect: "not_found", why: "A's customer id" },
    { message: () => ({ identifier: A.phone }), expect: "not_found", why: "A's customer's phone" },
  ],
  "LoyaltyPos.GetBalance": [
    { message: () => ({ identifier: A.customer }), expect: "not_found", why: "A's customer id" },
    { message: () => ({ identifier: "00353123456789" }), expect: "not_found", why: "A's customer's phone, national form" },
  ],
  "LoyaltyPos.Redeem": [
    { message: () => ({ customerId: A.customer, points: 100 }), expect: "not_found", why: "A's customer id" },
    { message: () => ({ phone: A.phone, points: 100 }), expect: "not_found", why: "A's customer's phone" },
    { message: () => ({ customerId: bCustomer, rewardId: A.reward }), expect: "not_found", why: "A's reward id" },
  ],
  "LoyaltyPos.PreviewCheckin": [
    { message: () => ({ customerId: A.customer, amount: 10 }), expect: "not_found", why: "A's customer id" },
    {
      message: () => ({ phone: A.phone, amount: 10, orderRef: A_ORDER }),
      // A's phone and orderRef mean nothing in B: a new customer from 0, the orderRef free.
      expect: (body) => expect(body).toMatchObject({ pointsAwarded: 10, totalPointsAfter: 10, rewardAvailableAfter: false }),
      why: "A's customer's phone and A's orderRef → previewed as B's",
    },
  ],
  "LoyaltyPos.RefundCheckin": [
    { message: () => ({ checkinId: A.checkin }), expect: "not_found", why: "A's checkin id" },
    { message: () => ({ orderRef: A_ORDER, amount: 1 }), expect: "not_found", why: "A's orderRef" },
  ],
  "LoyaltyPos.VoidRedemption": [
    { message: () => ({ redemptionId: A.redemption }), expect: "not_found", why: "A's redemption id" },
    { message: () => ({ orderRef: A_REDEEM_ORDER }), expect: "not_found", why: "A's redemption orderRef" },
  ],
  "CustomerAdmin.RefundCheckin": [{ message: () => ({ checkinId: A.checkin, amount: 1 }), expect: "not_found", why: "A's checkin id" }],
  "CustomerAdmin.VoidRedemption": [{ message: () => ({ redemptionId: A.redemption }), expect: "not_found", why: "A's redemption id" }],
  "CustomerAdmin.RedeemReward": [{ message: () => ({ id: A.customer, points: 100 }), expect: "not_found", why: "A's customer id" }],
  "CustomerAdmin.CreateCustomer": [
    {
      message: (via) => ({ name: "Clone", phone: via === "rest" ? A.phone : "+353861000003", initialPoints: 1 }),
      expect: (body) => {
        // A's phone is free in B: uniqueness is per business, and nothing of A is revealed.
        expect(body.customer.totalPoints).toBe(1);
        expect(body.customer.id).not.toBe(A.customer);
      },
      why: "A's customer's phone → B's own customer",
    },
  ],
  "CustomerAdmin.ListCustomers": [
    { message: () => ({ limit: 100 }), expect: (body) => expect(ids(body.customers)).not.toContain(A.customer), why: "list" },
    { message: () => ({ search: "Alice" }), expect: (body) => expect(body.customers).toEqual([]), why: "search by A's customer's name" },
    { message: () => ({ search: "861000001" }), expect: (body) => expect(ids(body.customers)).not.toContain(A.second), why: "search by A's customer's phone" },
  ],
  "CustomerAdmin.GetCustomer": [{ message: () => ({ id: A.customer }), expect: "not_found", why: "A's customer id" }],
  "CustomerAdmin.UpdateCustomer": [
    { message: () => ({ id: A.customer, status: "BLOCKED", name: "Hijacked" }), expect: "not_found", why: "A's customer id" },
    { message: () => ({ id: A.second, phone: "+353861999999" }), expect: "not_found", why: "A's second customer's phone" },
  ],
  "CustomerAdmin.AdjustPoints": [
    { message: () => ({ id: A.customer, points: -210, reason: "steal" }), expect: "not_found", why: "debit A's customer" },
    { message: () => ({ id: A.customer, points: 1000, reason: "gift" }), expect: "not_found", why: "credit A's customer" },
  ],
  "CustomerAdmin.DeleteCustomer": [{ message: () => ({ id: A.customer }), expect: "not_found", why: "A's customer id" }],
  "OwnerAuth.Register": [
    { message: () => ({ businessName: "Takeover", email: a.email, password: "another long password" }), expect: "already_exists", why: "A's owner email" },
  ],
  "OwnerAuth.Login": [{ message: () => ({ email: a.email, password: "B's own password, not A's" }), expect: "unauthenticated", why: "A's email, another password" }],
  "OwnerAuth.ChangePassword": [
    { message: () => ({ currentPassword: "not B's password at all", newPassword: "B wants in again" }), expect: "invalid_argument", why: "a wrong current password" },
  ],
  // Each call ends every token of its caller: made with throwaway owners (logoutOwners), not B.
  "OwnerAuth.Logout": [{ message: () => ({}), expect: (body) => expect(body).toEqual({ success: true }), why: "credential-scoped: ends the caller's own tokens" }],
  "BusinessSettings.GetAccount": [
    {
      message: () => ({}),
      expect: (body) => {
        expect(body.businessId).not.toBe(a.businessId);
        expect(body.email).not.toBe(a.email);
      },
      why: "credential-scoped: B's own account",
    },
  ],
  "BusinessSettings.GetProgram": [
    { message: () => ({}), expect: (body) => expect(body.program.rewardTitle).toBe("B's Tea"), why: "credential-scoped: B's program" },
  ],
  "BusinessSettings.UpdateProgram": [
    { message: () => ({ rewardTitle: "B's Tea" }), expect: (body) => expect(body.program.rewardTitle).toBe("B's Tea"), why: "credential-scoped: B's program only" },
  ],
  "BusinessSettings.CreateApiKey": [
    { message: () => ({ name: "on A's store", storeId: A.store }), expect: "invalid_argument", why: "A's store id" },
  ],
  "BusinessSettings.ListApiKeys": [
    { message: () => ({}), expect: (body) => expect(ids(body.apiKeys)).not.toContain(a.apiKeyId), why: "credential-scoped: B's keys" },
  ],
  "BusinessSettings.RevokeApiKey": [
    { message: () => ({ id: A.spareKeyId }), expect: "not_found", why: "A's API key id" },
    { message: () => ({ id: a.apiKeyId }), expect: "not_found", why: "A's till key id" },
  ],
  "BusinessSettings.CreateStore": [
    // One name per transport: store names are unique per business.
    { message: (via) => ({ name: `B's shop (${via})` }), expect: (body) => expect(body.store.id).not.toBe(A.store), why: "credential-scoped: B's store" },
  ],
  "BusinessSettings.ListStores": [{ message: () => ({}), expect: (body) => expect(ids(body.stores)).not.toContain(A.store), why: "credential-scoped" }],
  "BusinessSettings.UpdateStore": [{ message: () => ({ id: A.store, name: "B's now" }), expect: "not_found", why: "A's store id" }],
  "BusinessSettings.DeleteStore": [{ message: () => ({ id: A.store }), expect: "not_found", why: "A's store id" }],
  "BusinessSettings.CreateReward": [
    { message: (via) => ({ title: `B's reward (${via})`, cost: 5 }), expect: (body) => expect(body.reward.id).not.toBe(A.reward), why: "credential-scoped: B's reward" },
  ],
  "BusinessSettings.ListRewards": [{ message: () => ({}), expect: (body) => expect(ids(body.rewards)).not.toContain(A.reward), why: "credential-scoped" }],
  "BusinessSettings.UpdateReward": [{ message: () => ({ id: A.reward, cost: 1 }), expect: "not_found", why: "A's reward id" }],
  "BusinessSettings.DeactivateReward": [{ message: () => ({ id: A.reward }), expect: "not_found", why: "A's reward id" }],
  "BusinessSettings.CreatePromotion": [
    { message: () => ({ name: "B's", kind: "BONUS", bonusPoints: 1 }), expect: (body) => expect(body.promotion.id).not.toBe(A.promotion), why: "credential-scoped: B's promotion" },
  ],
  "BusinessSettings.ListPromotions": [{ message: () => ({}), expect: (body) => expect(ids(body.promotions)).not.toContain(A.promotion), why: "credential-scoped" }],
  "BusinessSettings.UpdatePromotion": [{ message: () => ({ id: A.promotion, name: "B's now" }), expect: "not_found", why: "A's promotion id" }],
  "BusinessSettings.EndPromotion": [{ message: () => ({ id: A.promotion }), expect: "not_found", why: "A's promotion id" }],
  "BusinessSettings.UpdateApiKey": [{ message: () => ({ id: A.spareKeyId, name: "B was here" }), expect: "not_found", why: "A's API key id" }],
  "BusinessSettings.GetDashboard": [
    {
      message: () => ({ days: 7 }),
      // B has Bob and the 4 customers the matrix enrolled or created for B above; none of A's.
      expect: (body) => expect(body.totalCustomers).toBe(5),
      why: "credential-scoped: B's figures",
    },
  ],
  "EventService.ListEvents": [
    { message: () => ({}), expect: (body) => expect(body.events.every((e: { businessId: string }) => e.businessId === b.businessId)).toBe(true), why: "credential-scoped" },
    { message: () => ({ customerId: A.customer }), expect: "not_found", why: "A's customer id (404, like one that names nobody)" },
  ],
  "WebhookService.CreateWebhookEndpoint": [
    { message: () => ({ url: "https://hooks.b.example/x", eventTypes: ["*"] }), expect: (body) => expect(body.endpoint.id).not.toBe(A.webhook), why: "credential-scoped: B's own endpoint" },
  ],
  "WebhookService.ListWebhookEndpoints": [{ message: () => ({}), expect: (body) => expect(ids(body.endpoints)).not.toContain(A.webhook), why: "credential-scoped" }],
  "WebhookService.UpdateWebhookEndpoint": [{ message: () => ({ id: A.webhook, description: "B's now" }), expect: "not_found", why: "A's endpoint id" }],
  "WebhookService.DisableWebhookEndpoint": [{ message: () => ({ id: A.webhook }), expect: "not_found", why: "A's endpoint id" }],
  "WebhookService.EnableWebhookEndpoint": [{ message: () => ({ id: A.webhook }), expect: "not_found", why: "A's endpoint id" }],
  "WebhookService.DeleteWebhookEndpoint": [{ message: () => ({ id: A.webhook }), expect: "not_found", why: "A's endpoint id" }],
  "WebhookService.RotateWebhookSecret": [{ message: () => ({ id: A.webhook }), expect: "not_found", why: "A's endpoint id" }],
  "WebhookService.SendTestWebhook": [{ message: () => ({ id: A.webhook }), expect: "not_found", why: "A's endpoint id" }],
  "WebhookService.ListWebhookDeliveries": [{ message: () => ({ id: A.webhook }), expect: "not_found", why: "A's endpoint id" }],
  "WebhookService.ResendWebhookDelivery": [{ message: () => ({ id: A.webhook, deliveryId: A.delivery }), expect: "not_found", why: "A's endpoint and delivery ids" }],
};

const allMethods = apiServices.flatMap((s) => s.methods);
const allBindings: RestBinding[] = apiServices.flatMap((s) => restBindings(s));
const authKind = (m: DescMethod) => authOf(m) ?? "none";

/** The REST request of a binding for a proto-JSON message. */
function restRequest(binding: RestBinding, message: Record<string, unknown>) {
  const rest_: Record<string, unknown> = { ...message };
  const path = binding.path.replace(/:(\w+)/g, (_m, field: string) => {
    const desc = binding.method.input.fields.find((f) => f.name === field)!;
    const value = String(rest_[desc.jsonName] ?? "");
    delete rest_[desc.jsonName];
    return encodeURIComponent(value);
  });
  if (binding.body === "") {
    const qs = new URLSearchParams(Object.entries(rest_).map(([k, v]) => [k, String(v)])).toString();
    return { path: qs ? `${path}?${qs}` : path, body: undefined };
  }
  return { path, body: rest_ };
}

async function callRest(binding: RestBinding, message: Record<string, unknown>, headers: Record<string, string>) {
  const r = restRequest(binding, message);
  return rest(t.url, binding.verb, r.path, { body: r.body, headers });
}

async function callConnect(m: DescMethod, message: Record<string, unknown>, headers: Record<string, string>) {
  const res = await fetch(`${t.url}/${m.parent.typeName}/${m.name}`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify(message),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text };
}

const HTTP_OF: Record<string, number> = { not_found: 404, invalid_argument: 400, unauthenticated: 401, already_exists: 409, permission_denied: 403 };
const credentialsOf = (m: DescMethod, who: Business) =>
  rpc(m) === "OwnerAuth.Logout" ? ownerAuth(logoutOwners.shift()!) : authKind(m) === "api_key" ? posAuth(who) : authKind(m) === "owner" ? ownerAuth(who) : {};

describe("tenancy matrix", () => {
  test("the matrix covers every REST binding and every RPC of the API services", () => {
    expect(Object.keys(MATRIX).sort()).toEqual(allMethods.map(rpc).sort());
    // And the contract's REST routes are all among the bindings.
    const routes = allBindings.map((x) => `${x.verb} ${x.path}`);
    for (const r of ["POST /v1/pos/checkin", "GET /v1/pos/customer/:identifier", "GET /v1/pos/balance/:identifier", "POST /v1/pos/redeem", "POST /v1/owner/customers", "GET /v1/owner/customers", "GET /v1/owner/customers/:id", "PATCH /v1/owner/customers/:id", "PUT /v1/owner/customers/:id", "POST /v1/owner/customers/:id/points", "DELETE /v1/owner/customers/:id", "POST /v1/auth/register", "POST /v1/auth/login", "GET /v1/owner/program", "PATCH /v1/owner/program", "POST /v1/owner/api-keys", "GET /v1/owner/api-keys", "DELETE /v1/owner/api-keys/:id", "POST /v1/owner/stores", "GET /v1/owner/stores"]) {
      expect(routes).toContain(r);
    }
  });

  test("B's credentials on every route and RPC aimed at A: 404 (like a missing id) or B-scoped answers; A unchanged", async () => {
    const before = await stateOfA();
    let calls = 0;
    for (const m of allMethods) {
      const bindings = allBindings.filter((x) => x.method === m);
      for (const c of MATRIX[rpc(m)]!) {
        const label = `${rpc(m)} (${c.why})`;
        const outcomes: { via: string; status: number; body: any; text: string }[] = [];
        for (const binding of bindings) outcomes.push({ via: `${binding.verb} ${binding.path}`, ...(await callRest(binding, c.message("rest"), credentialsOf(m, b))) });
        outcomes.push({ via: "connect", ...(await callConnect(m, c.message("connect"), credentialsOf(m, b))) });
        calls += outcomes.length;
        for (const o of outcomes) {
          const isRest = o.via !== "connect";
          noneOfA(o.text);
          if (typeof c.expect === "string") {
            expect(o.status, `${label} via ${o.via}: ${o.text}`).toBe(HTTP_OF[c.expect]);
            expect(isRest ? o.body.error.code : o.body.code, label).toBe(c.expect);
            if (c.expect === "not_found") {
              // Exactly what a missing id answers.
              const message = isRest ? o.body.error.message : o.body.message;
              expect(["customer not found", "API key not found", "store not found", "check-in not found", "redemption not found", "reward not found", "promotion not found", "webhook endpoint not found"], label).toContain(message);
            }
          } else {
            expect(o.status, `${label} via ${o.via}: ${o.text}`).toBe(200);
            c.expect(o.body, isRest ? "rest" : "connect");
          }
        }
      }
    }
    expect(await stateOfA()).toEqual(before);
    // A still works with its own credentials.
    const own = await rest(t.url, "GET", `/v1/pos/balance/${A.customer}`, { headers: posAuth(a) });
    // A has a catalogue (its cake, 10 points): its balance lists what it affords.
    expect(own.body).toEqual({ customerId: A.customer, totalPoints: 210, availableRewards: [{ id: A.reward, title: "A's cake", cost: 10 }, expect.objectContaining({ cost: 100 })] });
    expect(calls).toBeGreaterThan(40);
  }, 90_000);

  test("over gRPC stubs too: B's metadata on A's ids → NOT_FOUND; wrong kind of credential → UNAUTHENTICATED", async () => {
    const stubs = loadGrpcStubs(`127.0.0.1:${t.port}`);
    const clientOf: Record<string, ReturnType<typeof loadGrpcStubs>["pos"]> = {
      LoyaltyPos: stubs.pos,
      CustomerAdmin: stubs.admin,
      OwnerAuth: stubs.auth,
      BusinessSettings: stubs.settings,
      EventService: stubs.events,
      WebhookService: stubs.webhooks,
    };
    const metadataOf = (m: DescMethod, who: Business): Record<string, string> =>
      authKind(m) === "api_key" ? { "x-api-key": who.apiKey } : authKind(m) === "owner" ? { authorization: `Bearer ${who.token}` } : {};
    try {
      const before = await stateOfA();
      let checked = 0;
      for (const m of allMethods) {
        // By id only: the REST/Connect matrix above gave B customers of its own with A's phone numbers.
        const aIds = [A.customer, A.second, A.spareKeyId, a.apiKeyId, A.reward, A.promotion, A.webhook];
        for (const c of MATRIX[rpc(m)]!.filter((x) => x.expect === "not_found" && Object.values(x.message("connect")).some((v) => aIds.includes(v as string)))) {
          const r = await call(clientOf[m.parent.name]!, m.name, c.message("connect"), metadataOf(m, b));
          expect(r.error?.code, `${rpc(m)} (${c.why})`).toBe(5);
          expect(["customer not found", "API key not found", "store not found", "reward not found", "promotion not found", "webhook endpoint not found"]).toContain(r.error?.details);
          checked++;
        }
        if (authKind(m) !== "none") {
          const wrongKind: Record<string, string> = authKind(m) === "owner" ? { "x-api-key": a.apiKey } : { authorization: `Bearer ${a.token}` };
          const r = await call(clientOf[m.parent.name]!, m.name, {}, wrongKind);
          expect(r.error?.code, rpc(m)).toBe(16);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(25);
      expect(await stateOfA()).toEqual(before);
    } finally {
      stubs.close();
    }
  });

  test("a missing id and another business's id answer byte for byte the same", async () => {
    const missing = "zq0000000000000000000000";
    for (const [verb, path, body] of [
      ["GET", "/v1/owner/customers/%s", undefined],
      ["PATCH", "/v1/owner/customers/%s", { name: "x" }],
      ["PUT", "/v1/owner/customers/%s", { name: "x" }],
      ["POST", "/v1/owner/customers/%s/points", { points: 1, reason: "x" }],
      ["DELETE", "/v1/owner/customers/%s", undefined],
      ["DELETE", "/v1/owner/api-keys/%s", undefined],
    ] as const) {
      const target = path.includes("api-keys") ? A.spareKeyId : A.customer;
      const foreign = await rest(t.url, verb, path.replace("%s", target), { body, headers: ownerAuth(b) });
      const absent = await rest(t.url, verb, path.replace("%s", missing), { body, headers: ownerAuth(b) });
      expect(foreign.status).toBe(404);
      expect(foreign.text).toBe(absent.text);
    }
    for (const path of ["/v1/pos/customer/%s", "/v1/pos/balance/%s"]) {
      const foreign = await rest(t.url, "GET", path.replace("%s", A.customer), { headers: posAuth(b) });
      const absent = await rest(t.url, "GET", path.replace("%s", missing), { headers: posAuth(b) });
      expect(foreign.status).toBe(404);
      expect(foreign.text).toBe(absent.text);
    }
  });

  test("POS keys on owner routes and owner tokens on POS routes → 401 on every binding and RPC; nothing changes", async () => {
    const before = await stateOfA();
    // Requests A itself could make, with the wrong kind of credential.
    const own: Record<string, Record<string, unknown>> = {
      "LoyaltyPos.Checkin": { customerId: A.customer, amount: 50 },
      "LoyaltyPos.GetCustomer": { identifier: A.customer },
      "LoyaltyPos.GetBalance": { identifier: A.customer },
      "LoyaltyPos.Redeem": { customerId: A.customer, points: 100 },
      "CustomerAdmin.CreateCustomer": { name: "Sneaky", phone: "+353861000009" },
      "CustomerAdmin.GetCustomer": { id: A.customer },
      "CustomerAdmin.UpdateCustomer": { id: A.customer, status: "BLOCKED" },
      "CustomerAdmin.AdjustPoints": { id: A.customer, points: -200, reason: "x" },
      "CustomerAdmin.DeleteCustomer": { id: A.customer },
      "BusinessSettings.UpdateProgram": { rewardThreshold: 1 },
      "BusinessSettings.CreateApiKey": { name: "x" },
      "BusinessSettings.RevokeApiKey": { id: A.spareKeyId },
      "BusinessSettings.CreateStore": { name: "x" },
      "BusinessSettings.UpdateStore": { id: A.store, name: "x" },
      "BusinessSettings.DeleteStore": { id: A.store },
      "BusinessSettings.UpdateApiKey": { id: A.spareKeyId, name: "x" },
      "BusinessSettings.CreateReward": { title: "x", cost: 1 },
      "BusinessSettings.UpdateReward": { id: A.reward, cost: 1 },
      "BusinessSettings.DeactivateReward": { id: A.reward },
      "BusinessSettings.CreatePromotion": { name: "x", kind: "BONUS", bonusPoints: 1 },
      "BusinessSettings.UpdatePromotion": { id: A.promotion, name: "x" },
      "BusinessSettings.EndPromotion": { id: A.promotion },
    };
    let refused = 0;
    for (const m of allMethods.filter((x) => authKind(x) !== "none")) {
      const message = own[rpc(m)] ?? {};
      const wrong: [Record<string, string>, string][] =
        authKind(m) === "owner"
          ? [
              [posAuth(a), "missing owner token: send Authorization: Bearer <token>"],
              [{ authorization: `Bearer ${a.apiKey}` }, "invalid or expired token"],
              [{ ...posAuth(a), authorization: "Bearer " }, "missing owner token: send Authorization: Bearer <token>"],
            ]
          : [
              [ownerAuth(a), "missing API key: send it in the X-API-Key header"],
              [{ "x-api-key": a.token }, "malformed API key"],
            ];
      for (const [headers, expected] of wrong) {
        for (const binding of allBindings.filter((x) => x.method === m)) {
          const r = await callRest(binding, message, headers);
          expect(r.status, `${rpc(m)} ${binding.verb} ${binding.path}`).toBe(401);
          expect(r.body).toEqual({ success: false, error: { code: "unauthenticated", message: expected } });
          refused++;
        }
        const c = await callConnect(m, message, headers);
        expect(c.status, rpc(m)).toBe(401);
        expect(c.body).toEqual({ code: "unauthenticated", message: expected });
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(60);
    expect(await stateOfA()).toEqual(before);
  }, 90_000);
});

describe("security", () => {
  test("forged owner tokens → 401: alg none, RS256, HS512, expired, wrong audience, wrong issuer, wrong key", async () => {
    const secret = t.config.jwtSecret;
    const claims = { sub: a.ownerId, bid: a.businessId };
    const good = (j: SignJWT) => j.setIssuer(t.config.jwtIssuer).setAudience(t.config.jwtAudience).setIssuedAt();
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const { privateKey } = await generateKeyPair("RS256");
    const tokens: Record<string, string> = {
      none: `${b64({ alg: "none", typ: "JWT" })}.${b64({ ...claims, iss: t.config.jwtIssuer, aud: t.config.jwtAudience, exp: now + 600 })}.`,
      RS256: await good(new SignJWT(claims).setProtectedHeader({ alg: "RS256" })).setExpirationTime("10m").sign(privateKey),
      HS512: await good(new SignJWT(claims).setProtectedHeader({ alg: "HS512" })).setExpirationTime("10m").sign(secret),
      expired: await good(new SignJWT(claims).setProtectedHeader({ alg: "HS256" })).setExpirationTime(now - 5).sign(secret),
      "wrong aud": await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuer(t.config.jwtIssuer).setAudience("loyalty-plus-pos").setExpirationTime("10m").sign(secret),
      "wrong iss": await new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setIssuer("evil").setAudience(t.config.jwtAudience).setExpirationTime("10m").sign(secret),
      "wrong key": await good(new SignJWT(claims).setProtectedHeader({ alg: "HS256" })).setExpirationTime("10m").sign(new TextEncoder().encode("x".repeat(48))),
      "no exp": await good(new SignJWT(claims).setProtectedHeader({ alg: "HS256" })).sign(secret),
    };
    // The control: the same claims, properly signed, work.
    const control = await good(new SignJWT(claims).setProtectedHeader({ alg: "HS256" })).setExpirationTime("10m").sign(secret);
    expect((await rest(t.url, "GET", "/v1/owner/customers", { headers: { authorization: `Bearer ${control}` } })).status).toBe(200);
    const before = await stateOfA();
    for (const [name, token] of Object.entries(tokens)) {
      for (const [verb, path, body] of [
        ["GET", "/v1/owner/customers", undefined],
        ["POST", `/v1/owner/customers/${A.customer}/points`, { points: 1000, reason: "forged" }],
        ["PATCH", "/v1/owner/program", { rewardThreshold: 1 }],
      ] as const) {
        const r = await rest(t.url, verb, path, { body, headers: { authorization: `Bearer ${token}` } });
        expect(r.status, `${name} ${verb} ${path}`).toBe(401);
        expect(r.body).toEqual({ success: false, error: { code: "unauthenticated", message: "invalid or expired token" } });
      }
    }
    expect(await stateOfA()).toEqual(before);
  });

  test("mass assignment: PATCH/PUT/POST with totalPoints, businessId and other unowned fields → 400 unknown field; nothing changes", async () => {
    const before = await stateOfA();
    const cases: [string, string, Record<string, unknown>, string][] = [
      ["PATCH", `/v1/owner/customers/${A.customer}`, { name: "x", totalPoints: 999999 }, "totalPoints"],
      ["PATCH", `/v1/owner/customers/${A.customer}`, { businessId: b.businessId }, "businessId"],
      ["PUT", `/v1/owner/customers/${A.customer}`, { total_points: 5 }, "total_points"],
      ["PATCH", `/v1/owner/customers/${A.customer}`, { createdAt: "2020-01-01T00:00:00Z" }, "createdAt"],
      ["PATCH", `/v1/owner/customers/${A.customer}`, { rewardAvailable: true }, "rewardAvailable"],
      ["POST", "/v1/owner/customers", { name: "x", phone: "+353861000010", totalPoints: 100000 }, "totalPoints"],
      ["POST", `/v1/owner/customers/${A.customer}/points`, { points: 1, reason: "x", newBalance: 100000 }, "newBalance"],
      ["PATCH", "/v1/owner/program", { businessId: b.businessId }, "businessId"],
      ["POST", "/v1/owner/api-keys", { name: "x", businessId: b.businessId }, "businessId"],
    ];
    for (const [verb, path, body, field] of cases) {
      const r = await rest(t.url, verb, path, { body, headers: ownerAuth(a) });
      expect(r.status, `${verb} ${path} ${field}`).toBe(400);
      expect(r.body).toEqual({ success: false, error: { code: "invalid_argument", message: `unknown field "${field}"` } });
    }
    const pos: [string, Record<string, unknown>, string][] = [
      ["/v1/pos/checkin", { phone: A.phone, amount: 1, pointsAwarded: 5000 }, "pointsAwarded"],
      ["/v1/pos/checkin", { phone: A.phone, amount: 1, businessId: b.businessId }, "businessId"],
      ["/v1/pos/redeem", { phone: A.phone, points: 100, remainingPoints: 1000 }, "remainingPoints"],
    ];
    for (const [path, body, field] of pos) {
      const r = await rest(t.url, "POST", path, { body, headers: posAuth(a) });
      expect(r.status).toBe(400);
      expect(r.body.error).toEqual({ code: "invalid_argument", message: `unknown field "${field}"` });
    }
    expect(await stateOfA()).toEqual(before);
    // The path, not the body, names the customer a PATCH changes.
    const r = await rest(t.url, "PATCH", `/v1/owner/customers/${A.second}`, { body: { id: A.customer, notes: "path wins" }, headers: ownerAuth(a) });
    expect(r.status).toBe(200);
    expect(r.body.customer.id).toBe(A.second);
    const rows = await t.sql<{ id: string; notes: string }>("select id, notes from customer where id in ($1, $2) order by id", [A.customer, A.second]);
    expect(rows.find((x) => x.id === A.customer)!.notes).toBe("A's secret note");
    expect(rows.find((x) => x.id === A.second)!.notes).toBe("path wins");
  });

  test("CORS: only the configured portal origin gets access-control-allow-origin", async () => {
    const evil = await fetch(`${t.url}/v1/owner/customers`, { headers: { origin: "https://evil.example", ...ownerAuth(a) } });
    expect(evil.status).toBe(200);
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
    expect(evil.headers.get("access-control-allow-credentials")).toBeNull();
    const preflight = await fetch(`${t.url}/v1/owner/customers`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    expect(preflight.headers.get("access-control-allow-methods")).toBeNull();
    // Look-alikes of the portal's origin are not it.
    for (const origin of [`${PORTAL_ORIGIN}.evil.example`, PORTAL_ORIGIN.replace("https", "http"), `${PORTAL_ORIGIN}:8443`, "null"]) {
      const r = await fetch(`${t.url}/v1/owner/program`, { headers: { origin, ...ownerAuth(a) } });
      expect(r.headers.get("access-control-allow-origin"), origin).toBeNull();
    }
    // The portal's own origin is allowed, preflight included.
    const ok = await fetch(`${t.url}/v1/owner/customers`, { headers: { origin: PORTAL_ORIGIN, ...ownerAuth(a) } });
    expect(ok.headers.get("access-control-allow-origin")).toBe(PORTAL_ORIGIN);
    expect(ok.headers.get("vary")?.toLowerCase()).toContain("origin");
    const pre = await fetch(`${t.url}/loyalty.v1.CustomerAdmin/ListCustomers`, {
      method: "OPTIONS",
      headers: { origin: PORTAL_ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type, connect-protocol-version" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe(PORTAL_ORIGIN);
    expect(pre.headers.get("access-control-allow-headers")).toContain("authorization");
  });

  test("security headers on REST responses: success, client error, unknown route", async () => {
    const responses: RestResponse[] = [
      await rest(t.url, "GET", `/v1/pos/balance/${A.customer}`, { headers: posAuth(a) }),
      await rest(t.url, "GET", `/v1/owner/customers/${A.customer}`, { headers: ownerAuth(a) }),
      await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "junk", amount: 1 }, headers: posAuth(a) }),
      await rest(t.url, "GET", "/v1/owner/customers", {}),
      await rest(t.url, "GET", "/v1/nope"),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 200, 400, 401, 404]);
    for (const r of responses) {
      expect(r.headers.get("x-content-type-options")).toBe("nosniff");
      expect(r.headers.get("x-frame-options")).toBe("DENY");
      expect(r.headers.get("referrer-policy")).toBe("no-referrer");
      expect(r.headers.get("strict-transport-security")).toMatch(/^max-age=\d+/);
      expect(r.headers.get("content-type")).toMatch(/^application\/json/);
      expect(r.headers.get("x-powered-by")).toBeNull();
      expect(r.headers.get("server")).toBeNull();
    }
    // Personal data is never cached by intermediaries.
    expect(responses[1]!.headers.get("cache-control")).toBe("no-store");
  });

  test("passwords are stored as argon2id with m=19456, t=2, p=1; never in a response", async () => {
    const rows = await t.sql<{ password_hash: string }>("select password_hash from owner where id in ($1, $2)", [a.ownerId, b.ownerId]);
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r.password_hash.startsWith("$argon2id$v=19$m=19456,t=2,p=1$")).toBe(true);
      expect(r.password_hash).not.toContain(a.password);
    }
    // Two owners with the same password get different salts.
    expect(rows[0]!.password_hash).not.toBe(rows[1]!.password_hash);
    const login = await rest(t.url, "POST", "/v1/auth/login", { body: { email: a.email, password: a.password } });
    expect(login.status).toBe(200);
    expect(login.text).not.toContain("argon2");
    expect(Object.keys(login.body).sort()).toEqual(["expiresIn", "success", "token"]);
  });

  test("login throttling: 10 attempts per email and address, then 429 with Retry-After, the right password too (test/login-throttle.test.ts has the rest)", async () => {
    const victim = await registerBusiness(t.url);
    const other = await registerBusiness(t.url);
    const attempt = (password: string, email = victim.email) => rest(t.url, "POST", "/v1/auth/login", { body: { email, password } });
    for (let i = 0; i < 10; i++) {
      const r = await attempt(`wrong password ${i}`);
      expect(r.status, `failure ${i + 1}`).toBe(401);
      expect(r.body).toEqual({ success: false, error: { code: "unauthenticated", message: "invalid email or password" } });
    }
    // Counted before the password is even checked — the right one too.
    for (const password of ["wrong again", victim.password]) {
      const r = await attempt(password);
      expect(r.status).toBe(429);
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(Number(r.headers.get("retry-after"))).toBeLessThanOrEqual(900);
      expect(r.body).toEqual({ success: false, error: { code: "resource_exhausted", message: "too many failed logins, retry later" } });
    }
    // Per account: another owner is not slowed down.
    expect((await attempt(other.password, other.email)).status).toBe(200);
  });
});
