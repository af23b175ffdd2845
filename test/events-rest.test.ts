import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";

// Contract §11, events: one event per change, written in the change's own
// transaction, listed newest first with filters and cursors, 30 days.
let t: TestApp;
let a: Business;
let b: Business;

beforeAll(async () => {
  t = await startTestApp();
  a = await registerBusiness(t.url);
  b = await registerBusiness(t.url);
});

afterAll(async () => {
  await t?.close();
});

const events = (biz: Business, query = "") => rest(t.url, "GET", `/v1/owner/events${query}`, { headers: ownerAuth(biz) });

describe("events written with every change", () => {
  test("a check-in that enrols a customer and reaches the reward: checkin.created, customer.created, reward.available", async () => {
    const phone = "+353870000001";
    const res = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone, amount: 120.5 }, headers: { ...posAuth(a), "idempotency-key": "evt-checkin-1" } });
    expect(res.status).toBe(200);
    const list = await events(a, `?customerId=${res.body.customerId}`);
    expect(list.status).toBe(200);
    const byType = Object.fromEntries(list.body.events.map((e: any) => [e.type, e]));
    expect(Object.keys(byType).sort()).toEqual(["checkin.created", "customer.created", "reward.available"]);
    const ev = byType["checkin.created"];
    expect(ev.id).toMatch(/^evt_[a-z0-9]{25}$/);
    expect(ev.businessId).toBe(a.businessId);
    expect(Date.parse(ev.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(ev.data.object).toEqual({
      checkinId: res.body.checkinId,
      customerId: res.body.customerId,
      pointsAwarded: 120,
      totalPoints: 120,
      rewardAvailable: true,
      storeId: "",
      apiKeyId: a.apiKeyId,
      orderRef: "",
      amount: 120.5,
      units: null,
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    expect(ev.request).toEqual({ idempotencyKey: "evt-checkin-1", apiKeyId: a.apiKeyId });
    expect(byType["customer.created"].data.object).toMatchObject({ id: res.body.customerId, phone, status: "ACTIVE", totalPoints: 120, lifetimePoints: 120 });
    expect(byType["reward.available"].data.object).toEqual({ customerId: res.body.customerId, totalPoints: 120, rewardThreshold: 100, rewardTitle: "Free Reward" });

    // A second check-in of the same customer: one event, no enrolment, no crossing.
    await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone, amount: 5 }, headers: posAuth(a) });
    const after = await events(a, `?customerId=${res.body.customerId}`);
    expect(after.body.events.map((e: any) => e.type)[0]).toBe("checkin.created");
    expect(after.body.events).toHaveLength(4);
    expect(after.body.events[0].request).toEqual({ apiKeyId: a.apiKeyId });
  });

  test("redeem, refund, void, adjust, update, block, unblock, delete and program changes each write their event", async () => {
    const own = ownerAuth(a);
    const c = await rest(t.url, "POST", "/v1/owner/customers", { body: { phone: "+353870000002", name: "Aoife", initialPoints: 50 }, headers: own });
    expect(c.status).toBe(200);
    const id = c.body.customer.id;
    const ci = await rest(t.url, "POST", "/v1/pos/checkin", { body: { customerId: id, amount: 80 }, headers: posAuth(a) });
    const rd = await rest(t.url, "POST", "/v1/pos/redeem", { body: { customerId: id, points: 100 }, headers: posAuth(a) });
    expect(rd.status).toBe(200);
    expect((await rest(t.url, "POST", "/v1/pos/refund", { body: { checkinId: ci.body.checkinId, amount: 10 }, headers: posAuth(a) })).status).toBe(200);
    expect((await rest(t.url, "POST", `/v1/owner/redemptions/${rd.body.redemptionId}/void`, { body: {}, headers: own })).status).toBe(200);
    expect((await rest(t.url, "POST", `/v1/owner/customers/${id}/points`, { body: { points: -5, reason: "goodwill back" }, headers: own })).status).toBe(200);
    expect((await rest(t.url, "PATCH", `/v1/owner/customers/${id}`, { body: { name: "Aoife B" }, headers: own })).status).toBe(200);
    expect((await rest(t.url, "PATCH", `/v1/owner/customers/${id}`, { body: { status: "BLOCKED" }, headers: own })).status).toBe(200);
    expect((await rest(t.url, "PATCH", `/v1/owner/customers/${id}`, { body: { status: "ACTIVE" }, headers: own })).status).toBe(200);
    expect((await rest(t.url, "DELETE", `/v1/owner/customers/${id}`, { headers: own })).status).toBe(200);
    const list = await events(a, `?customerId=${id}&limit=100`);
    // Events of one change share its transaction: compared as a set, the order of changes by their first event.
    expect(list.body.events.map((e: any) => e.type).sort()).toEqual([
      "customer.created",
      "checkin.created",
      "reward.available",
      "redemption.created",
      "checkin.refunded",
      "redemption.voided",
      "reward.available",
      "points.adjusted",
      "customer.updated",
      "customer.blocked",
      "customer.unblocked",
      "customer.deleted",
    ].sort());
    const byType = (type: string) => list.body.events.find((e: any) => e.type === type);
    expect(byType("redemption.created").data.object).toMatchObject({ redemptionId: rd.body.redemptionId, customerId: id, pointsRedeemed: 100, remainingPoints: 30 });
    expect(byType("checkin.refunded").data.object).toMatchObject({ checkinId: ci.body.checkinId, pointsReversed: 10, totalPoints: 20, amount: 10 });
    expect(byType("redemption.voided").data.object).toMatchObject({ redemptionId: rd.body.redemptionId, pointsRestored: 100, totalPoints: 120 });
    expect(byType("points.adjusted").data.object).toMatchObject({ customerId: id, adjustment: -5, newBalance: 115, reason: "goodwill back" });
    expect(byType("points.adjusted").request).toEqual({ ownerId: a.ownerId });
    expect(byType("customer.updated").data.previous).toEqual({ name: "Aoife" });
    expect(byType("customer.blocked").data.previous).toEqual({ status: "ACTIVE" });
    expect(byType("customer.blocked").data.object.status).toBe("BLOCKED");
    // A deleted customer: ids and figures only.
    expect(byType("customer.deleted").data.object).toEqual({ id, deleted: true, pointsAtDeletion: 115 });

    expect((await rest(t.url, "PATCH", "/v1/owner/program", { body: { rewardTitle: "Free Coffee" }, headers: own })).status).toBe(200);
    const prog = await events(a, "?type=program.updated");
    expect(prog.body.events).toHaveLength(1);
    expect(prog.body.events[0].data.previous).toEqual({ rewardTitle: "Free Reward" });
    expect(prog.body.events[0].data.object.rewardTitle).toBe("Free Coffee");
  });

  test("a change that rolls back leaves no event", async () => {
    const biz = await registerBusiness(t.url);
    const own = ownerAuth(biz);
    const c = await rest(t.url, "POST", "/v1/owner/customers", { body: { phone: "+353870000003" }, headers: own });
    const id = c.body.customer.id;
    await rest(t.url, "POST", "/v1/owner/customers", { body: { phone: "+353870000004" }, headers: own });
    const count = async () => Number((await t.sql<{ n: string }>(`select count(*) as n from event where business_id = $1`, [biz.businessId]))[0]!.n);
    const before = await count();
    // Refused before anything was written.
    expect((await rest(t.url, "POST", `/v1/owner/customers/${id}/points`, { body: { points: -5, reason: "x" }, headers: own })).status).toBe(400);
    expect((await rest(t.url, "POST", "/v1/pos/redeem", { body: { customerId: id, points: 100 }, headers: posAuth(biz) })).status).toBe(400);
    // Refused inside the transaction, after its first statement ran: the row is locked and read, the update hits the unique phone (409).
    expect((await rest(t.url, "PATCH", `/v1/owner/customers/${id}`, { body: { phone: "+353870000004" }, headers: own })).status).toBe(409);
    // A check-in statement whose orderRef claim fails: its ledger row and event are in the same statement, and roll back together.
    expect((await rest(t.url, "POST", "/v1/pos/checkin", { body: { customerId: id, amount: 5, orderRef: "R-1" }, headers: posAuth(biz) })).status).toBe(200);
    expect((await rest(t.url, "POST", "/v1/pos/checkin", { body: { customerId: id, amount: 5, orderRef: "R-1" }, headers: posAuth(biz) })).status).toBe(409);
    expect(await count()).toBe(before + 1);
    const types = await t.sql<{ type: string }>(`select type from event where business_id = $1 order by created_at`, [biz.businessId]);
    expect(types.map((e) => e.type)).toEqual(["customer.created", "customer.created", "checkin.created"]);
  });
});

describe("ListEvents", () => {
  test("filters by type, customer and time; pages by cursor, newest first; 400 naming the field", async () => {
    const biz = await registerBusiness(t.url);
    for (let i = 0; i < 5; i++) {
      await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: `+35387100000${i}`, amount: 1 }, headers: posAuth(biz) });
    }
    const all = await events(biz, "?type=checkin.created&limit=2");
    expect(all.body.events).toHaveLength(2);
    expect(all.body.nextCursor).not.toBe("");
    const seen = [...all.body.events];
    let cursor = all.body.nextCursor;
    while (cursor) {
      const page = await events(biz, `?type=checkin.created&limit=2&cursor=${encodeURIComponent(cursor)}`);
      seen.push(...page.body.events);
      cursor = page.body.nextCursor;
    }
    expect(seen).toHaveLength(5);
    expect(new Set(seen.map((e) => e.id)).size).toBe(5);
    const times = seen.map((e) => Date.parse(e.createdAt));
    expect([...times].sort((x, y) => y - x)).toEqual(times);
    // Time filters: since after everything → none; until before everything → none.
    expect((await events(biz, `?since=${new Date(Date.now() + 60_000).toISOString()}`)).body.events).toEqual([]);
    expect((await events(biz, `?until=2026-01-01T00:00:00Z`)).body.events).toEqual([]);
    expect((await events(biz, `?since=2026-01-01T00:00:00Z&type=customer.created`)).body.events).toHaveLength(5);
    // An event older than 30 days is not listed (and the purge deletes it).
    await t.sql(`update event set created_at = now() - interval '31 days' where id = $1`, [seen[4].id]);
    expect((await events(biz, "?type=checkin.created&limit=100")).body.events).toHaveLength(4);
    // The purge job's own run, on the test's connection (its statements are `?`-placeholdered).
    const { purgeEvents } = await import("../src/jobs/purge-events.js");
    const db = { query: (sql: string, params: unknown[] = []) => { let n = 0; return t.sql(sql.replace(/\?/g, () => `$${++n}`), params); } };
    const out = (await purgeEvents.run({}, { db: db as never, log: console, now: () => new Date(), signal: new AbortController().signal })) as { purged: number };
    expect(out.purged).toBe(1);
    expect(await t.sql(`select 1 from event where id = $1`, [seen[4].id])).toEqual([]);

    for (const [query, message] of [
      ["?type=checkin.made", /type is not an event type/],
      ["?limit=0", /limit/],
      ["?limit=101", /limit/],
      ["?since=yesterday", /since must be an RFC 3339 time/],
      ["?until=2026-13-01T00:00:00Z", /until must be an RFC 3339 time/],
      ["?cursor=garbage", /cursor is not a cursor/],
      ["?customerId=%F0%9F%92%A5", /customerId/],
    ] as const) {
      const res = await events(biz, query);
      expect(res.status, query).toBe(400);
      expect(res.body.error.message, query).toMatch(message);
    }
  });

  test("tenancy: a business sees only its own events; another's customer id is 404, exactly as one that names nobody; no token is 401", async () => {
    const ci = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353870000099", amount: 3 }, headers: posAuth(b) });
    const mine = await events(b, "?limit=100");
    expect(mine.body.events.every((e: any) => e.businessId === b.businessId)).toBe(true);
    const theirs = await events(a, `?customerId=${ci.body.customerId}`);
    const nobody = await events(a, "?customerId=cnobody000000000000000000");
    expect([theirs.status, theirs.body]).toEqual([404, nobody.body]);
    expect(nobody.status).toBe(404);
    expect(nobody.body.error.message).toBe("customer not found");
    expect((await rest(t.url, "GET", "/v1/owner/events")).status).toBe(401);
    expect((await rest(t.url, "GET", "/v1/owner/events", { headers: posAuth(b) })).status).toBe(401);
  });
});
