import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { WebhookService, EventService } from "../gen/loyalty/v1/events_pb.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";

// Contract §11, endpoints: create (secret shown once), list, update,
// disable/enable, delete, rotate, test, deliveries, resend; URL rules (SSRF);
// at most 20; tenancy of every method.
let t: TestApp;
let a: Business;
let b: Business;

beforeAll(async () => {
  t = await startTestApp({
    // "hooks.example" resolves to loopback, "rebind.example" to the metadata address: DNS is re-checked.
    webhooks: {
      resolver: async (host) =>
        host === "loopback.example" ? [{ address: "127.0.0.1", family: 4 }] : host === "meta.example" ? [{ address: "169.254.169.254", family: 4 }] : [{ address: "93.184.216.34", family: 4 }],
    },
  });
  a = await registerBusiness(t.url);
  b = await registerBusiness(t.url);
});

afterAll(async () => {
  await t?.close();
});

const create = (biz: Business, body: unknown, headers: Record<string, string> = {}) =>
  rest(t.url, "POST", "/v1/owner/webhooks", { body, headers: { ...ownerAuth(biz), ...headers } });

describe("endpoints", () => {
  test("create shows the secret once; list, update, disable, enable, rotate, delete", async () => {
    const res = await create(a, { url: "https://hooks.example/loyalty", eventTypes: ["checkin.created", "reward.available"], description: "shop" }, { "idempotency-key": "wh-create-1" });
    expect(res.status, res.text).toBe(200);
    expect(res.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32}$/);
    const ep = res.body.endpoint;
    expect(ep).toEqual({
      id: expect.any(String),
      url: "https://hooks.example/loyalty",
      eventTypes: ["checkin.created", "reward.available"],
      description: "shop",
      enabled: true,
      disabledReason: "",
      failingSince: null,
      previousSecretExpiresAt: null,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    // A replay answers the same endpoint without the secret; no table holds the secret in clear.
    const replay = await create(a, { url: "https://hooks.example/loyalty", eventTypes: ["checkin.created", "reward.available"], description: "shop" }, { "idempotency-key": "wh-create-1" });
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body.endpoint.id).toBe(ep.id);
    expect(replay.body.secret).toBe("");
    const holders = await t.sql(`select 1 from webhook_endpoint where secret like '%' || $1 || '%'`, [res.body.secret.slice(6)]);
    expect(holders).toEqual([]);
    const stored = await t.sql<{ n: string }>(`select count(*) as n from idempotency_record where strpos(encode(response, 'escape'), $1) > 0`, [res.body.secret.slice(6)]);
    expect(stored[0]!.n).toBe("0");

    const list = await rest(t.url, "GET", "/v1/owner/webhooks", { headers: ownerAuth(a) });
    expect(list.body.endpoints.map((e: any) => e.id)).toEqual([ep.id]);
    expect(list.text).not.toContain(res.body.secret);

    const up = await rest(t.url, "PATCH", `/v1/owner/webhooks/${ep.id}`, { body: { eventTypes: ["*"], description: "all" }, headers: ownerAuth(a) });
    expect(up.status).toBe(200);
    expect(up.body.endpoint).toMatchObject({ eventTypes: ["*"], description: "all", url: "https://hooks.example/loyalty" });

    const off = await rest(t.url, "POST", `/v1/owner/webhooks/${ep.id}/disable`, { body: {}, headers: ownerAuth(a) });
    expect(off.body.endpoint).toMatchObject({ enabled: false, disabledReason: "manual" });
    const on = await rest(t.url, "POST", `/v1/owner/webhooks/${ep.id}/enable`, { body: {}, headers: ownerAuth(a) });
    expect(on.body.endpoint).toMatchObject({ enabled: true, disabledReason: "" });

    const rot = await rest(t.url, "POST", `/v1/owner/webhooks/${ep.id}/rotate-secret`, { body: {}, headers: ownerAuth(a) });
    expect(rot.status).toBe(200);
    expect(rot.body.secret).toMatch(/^whsec_/);
    expect(rot.body.secret).not.toBe(res.body.secret);
    const grace = Date.parse(rot.body.endpoint.previousSecretExpiresAt) - Date.now();
    expect(grace).toBeGreaterThan(24 * 3600_000 - 60_000);
    expect(grace).toBeLessThanOrEqual(24 * 3600_000);

    expect((await rest(t.url, "DELETE", `/v1/owner/webhooks/${ep.id}`, { headers: ownerAuth(a) })).status).toBe(200);
    expect((await rest(t.url, "GET", "/v1/owner/webhooks", { headers: ownerAuth(a) })).body.endpoints).toEqual([]);
    expect((await rest(t.url, "DELETE", `/v1/owner/webhooks/${ep.id}`, { headers: ownerAuth(a) })).status).toBe(404);
  });

  test("bad input: 400 naming the field, nothing written", async () => {
    const biz = await registerBusiness(t.url);
    const long = `https://hooks.example/${"x".repeat(2000)}`;
    const cases: [unknown, RegExp][] = [
      [{ url: "hooks.example/x", eventTypes: ["*"] }, /url must be an absolute URL/],
      [{ url: "ftp://hooks.example/x", eventTypes: ["*"] }, /url must be an https:\/\/ URL/],
      [{ url: "http://hooks.example/x", eventTypes: ["*"] }, /url must be an https:\/\/ URL \(http:\/\/ only to loopback/],
      [{ url: long, eventTypes: ["*"] }, /url must be at most 2000 characters/],
      [{ url: "", eventTypes: ["*"] }, /url is required/],
      [{ url: "https://user:pw@hooks.example/x", eventTypes: ["*"] }, /url must not carry credentials/],
      [{ url: "http://169.254.169.254/latest/meta-data", eventTypes: ["*"] }, /url aims at a link-local address/],
      [{ url: "http://10.0.0.1/hook", eventTypes: ["*"] }, /url aims at a private address/],
      [{ url: "https://192.168.1.20/hook", eventTypes: ["*"] }, /url aims at a private address/],
      [{ url: "https://[fd00::1]/hook", eventTypes: ["*"] }, /url aims at a private address/],
      [{ url: "https://0.0.0.0/hook", eventTypes: ["*"] }, /url aims at a reserved address/],
      [{ url: "https://meta.example/hook", eventTypes: ["*"] }, /url meta\.example resolves to 169\.254\.169\.254/],
      [{ url: "https://hooks.example/x", eventTypes: [] }, /eventTypes must list at least one/],
      [{ url: "https://hooks.example/x", eventTypes: ["checkin.made"] }, /eventTypes has an unknown event type: checkin\.made/],
      [{ url: "https://hooks.example/x", eventTypes: ["*"], description: "d".repeat(501) }, /description/],
      [{ url: "https://hooks.example/x", eventTypes: "*" }, /eventTypes/],
    ];
    for (const [body, message] of cases) {
      const res = await create(biz, body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.body.error.message, JSON.stringify(body).slice(0, 80)).toMatch(message);
    }
    expect(await t.sql(`select 1 from webhook_endpoint where business_id = $1`, [biz.businessId])).toEqual([]);
  });

  test("loopback: allowed outside production (http:// too), refused by name or address when not allowed", async () => {
    expect((await create(a, { url: "http://127.0.0.1:9/hook", eventTypes: ["*"] })).status).toBe(200);
    expect((await create(a, { url: "http://localhost:9/hook", eventTypes: ["*"] })).status).toBe(200);
    const strict = await startTestApp({
      databaseUrl: t.databaseUrl,
      env: { WEBHOOK_ALLOW_LOOPBACK: "false" },
      webhooks: { resolver: async () => [{ address: "127.0.0.1", family: 4 }] },
    });
    try {
      for (const [url, message] of [
        ["http://127.0.0.1:9/hook", /url aims at a loopback address/],
        ["http://localhost:9/hook", /url aims at a loopback address/],
        ["https://loopback.example/hook", /url loopback\.example resolves to 127\.0\.0\.1, which is a loopback address/],
      ] as const) {
        const res = await rest(strict.url, "POST", "/v1/owner/webhooks", { body: { url, eventTypes: ["*"] }, headers: ownerAuth(b) });
        expect(res.status, url).toBe(400);
        expect(res.body.error.message).toMatch(message);
      }
    } finally {
      await strict.close();
    }
    const allow = await startTestApp({ databaseUrl: t.databaseUrl, env: { WEBHOOK_ALLOW_PRIVATE: "true", WEBHOOK_ALLOW_HTTP: "true" } });
    try {
      const res = await rest(allow.url, "POST", "/v1/owner/webhooks", { body: { url: "http://10.0.0.1/hook", eventTypes: ["*"] }, headers: ownerAuth(b) });
      expect(res.status, res.text).toBe(200);
      await rest(allow.url, "DELETE", `/v1/owner/webhooks/${res.body.endpoint.id}`, { headers: ownerAuth(b) });
    } finally {
      await allow.close();
    }
  });

  test("at most 20 endpoints per business: the 21st is 400, even when sent at once", async () => {
    const biz = await registerBusiness(t.url);
    const all = await Promise.all(Array.from({ length: 24 }, (_, i) => create(biz, { url: `https://hooks.example/${i}`, eventTypes: ["*"] })));
    expect(all.filter((r) => r.status === 200)).toHaveLength(20);
    const refused = all.filter((r) => r.status !== 200);
    expect(refused).toHaveLength(4);
    for (const r of refused) expect(r.body.error.message).toBe("a business has at most 20 webhook endpoints");
    expect((await t.sql(`select 1 from webhook_endpoint where business_id = $1`, [biz.businessId])).length).toBe(20);
  });

  test("tenancy: another business's endpoint is 404 on every method; API keys and no token are 401", async () => {
    const mine = (await create(a, { url: "https://hooks.example/a", eventTypes: ["*"] })).body.endpoint.id;
    await rest(t.url, "POST", `/v1/owner/webhooks/${mine}/test`, { body: {}, headers: ownerAuth(a) });
    const delivery = (await rest(t.url, "GET", `/v1/owner/webhooks/${mine}/deliveries`, { headers: ownerAuth(a) })).body.deliveries[0].id;
    const calls: [string, string, unknown?][] = [
      ["PATCH", `/v1/owner/webhooks/${mine}`, { description: "x" }],
      ["POST", `/v1/owner/webhooks/${mine}/disable`, {}],
      ["POST", `/v1/owner/webhooks/${mine}/enable`, {}],
      ["POST", `/v1/owner/webhooks/${mine}/rotate-secret`, {}],
      ["POST", `/v1/owner/webhooks/${mine}/test`, {}],
      ["GET", `/v1/owner/webhooks/${mine}/deliveries`],
      ["POST", `/v1/owner/webhooks/${mine}/deliveries/${delivery}/resend`, {}],
      ["DELETE", `/v1/owner/webhooks/${mine}`],
    ];
    for (const [method, path, body] of calls) {
      const res = await rest(t.url, method, path, { body, headers: ownerAuth(b) });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toBe("not_found");
      expect((await rest(t.url, method, path, { body, headers: posAuth(a) })).status, `${method} ${path} with an API key`).toBe(401);
      expect((await rest(t.url, method, path, { body })).status).toBe(401);
    }
    expect((await rest(t.url, "GET", "/v1/owner/webhooks", { headers: ownerAuth(b) })).body.endpoints.map((e: any) => e.id)).not.toContain(mine);
    // B's resend of A's delivery under B's own endpoint: not found either.
    const bs = (await create(b, { url: "https://hooks.example/b", eventTypes: ["*"] })).body.endpoint.id;
    expect((await rest(t.url, "POST", `/v1/owner/webhooks/${bs}/deliveries/${delivery}/resend`, { body: {}, headers: ownerAuth(b) })).status).toBe(404);
    // A's endpoint still there, unchanged.
    expect((await rest(t.url, "GET", "/v1/owner/webhooks", { headers: ownerAuth(a) })).body.endpoints.find((e: any) => e.id === mine)).toMatchObject({ enabled: true, description: "" });
  });

  test("gRPC and Connect clients call the same methods", async () => {
    for (const transport of [createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }), createGrpcTransport({ baseUrl: t.url })]) {
      const hooks = createClient(WebhookService, transport);
      const headers = ownerAuth(a);
      const made = await hooks.createWebhookEndpoint({ url: "https://hooks.example/rpc", eventTypes: ["customer.created"] }, { headers });
      expect(made.secret).toMatch(/^whsec_/);
      const listed = await hooks.listWebhookEndpoints({}, { headers });
      expect(listed.endpoints.some((e) => e.id === made.endpoint!.id)).toBe(true);
      await hooks.deleteWebhookEndpoint({ id: made.endpoint!.id }, { headers });
      const ev = await createClient(EventService, transport).listEvents({ limit: 1 }, { headers });
      expect(ev.events.length).toBeLessThanOrEqual(1);
    }
  });
});
