/**
 * Contract §11, `points.expiring_soon` (once per lot, `expiryWarningDays`
 * ahead), written by the daily expiry run (contract §10): exactly at the
 * warning boundary and not the day before, once (a re-run, two instances at
 * once), not for an emptied lot, nothing with 0 warning days, listed by
 * ListEvents, and delivered to a subscribed receiver (a real HTTP server,
 * the signature checked by the independent `standardwebhooks` library).
 * Time is controlled: this process's Date when points are earned, the run's
 * `asOf` day, and a delivery's due time back-dated by SQL.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";
import { runExpiry } from "../src/services/expiry-run.js";
import { createDb } from "../src/persistence/db.js";
import { createLotRepository } from "../src/persistence/lot-repository.js";

let t: TestApp;
let run: (opts: Parameters<typeof runExpiry>[1]) => ReturnType<typeof runExpiry>;
beforeAll(async () => {
  // With the jobs: the sweep-webhooks job queues the run's deliveries, the worker sends them.
  t = await startTestApp({ jobs: true });
  const db = createDb(t.orm);
  run = (opts) => runExpiry({ db, lots: createLotRepository(db) }, opts);
}, 60_000);
afterAll(async () => {
  await t?.close();
});
afterEach(() => {
  vi.useRealTimers();
});

let phoneSeq = 0;
const nextPhone = () => `+35386${String(5_000_000 + phoneSeq++).padStart(7, "0")}`;
const owner = (b: Business, method: string, path: string, body?: unknown) => rest(t.url, method, path, { body, headers: ownerAuth(b) });

async function checkin(b: Business, phone: string, amount: number, when: string) {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(new Date(when));
  const r = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone, amount }, headers: posAuth(b) });
  vi.useRealTimers();
  expect(r.status, r.text).toBe(200);
  return r.body as { customerId: string };
}

interface Ev {
  id: string;
  customer_id: string;
  data: { object: Record<string, unknown> };
}
const warnings = (b: Business) =>
  t.sql<Ev>(
    `select id, customer_id, data from event where business_id = $1 and type = 'points.expiring_soon' order by data->'object'->>'customerId', data->'object'->>'expiresAt', data->'object'->>'lotId'`,
    [b.businessId],
  );
const lotsOf = (customerId: string) =>
  t.sql<{ id: string; points: number; warned_at: Date | null }>(`select id, points, warned_at from point_lot where customer_id = $1 order by expires_at, earned_at`, [customerId]);

describe("points.expiring_soon", () => {
  test("warned once, exactly expiryWarningDays ahead (not the day before), with the lot's and the customer's figures", async () => {
    const b = await registerBusiness(t.url, { pointsExpireAfterMonths: 12 }); // expiryWarningDays: the default 14
    const phone = nextPhone();
    const c = await checkin(b, phone, 10, "2026-03-10T12:00:00Z"); // counts through 2027-03-31 (Dublin)
    await checkin(b, phone, 5, "2026-03-20T12:00:00Z"); // the same
    await checkin(b, phone, 7, "2026-04-02T12:00:00Z"); // through 2027-04-30
    const [l1, l2, l3] = await lotsOf(c.customerId);

    // 17 March: 15 days before the lots stop counting (1 April 00:00 local) — not yet.
    expect(await run({ asOf: "2027-03-17", businessIds: [b.businessId] })).toMatchObject({ points: 0, warned: 0 });
    expect(await warnings(b)).toEqual([]);
    // 18 March: 14 days before — both March lots, one event each, the customer's 15 expiring by then.
    expect(await run({ asOf: "2027-03-18", businessIds: [b.businessId] })).toMatchObject({ points: 0, warned: 2 });
    const march = {
      customerId: c.customerId,
      pointsExpiring: 0,
      expiresAt: "2027-03-31T23:00:00.000Z",
      lastValidDay: "2027-03-31",
      totalPointsExpiring: 15,
      runDate: "2027-03-18",
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    };
    const first = await warnings(b);
    expect(first.map((e) => e.data.object).sort((x, y) => String(x.lotId).localeCompare(String(y.lotId)))).toEqual(
      [
        { ...march, lotId: l1!.id, pointsExpiring: 10 },
        { ...march, lotId: l2!.id, pointsExpiring: 5 },
      ].sort((x, y) => x.lotId.localeCompare(y.lotId)),
    );
    expect(first.every((e) => e.customer_id === c.customerId)).toBe(true);
    const marked = await lotsOf(c.customerId);
    expect(marked.map((l) => l.warned_at !== null)).toEqual([true, true, false]);

    // Again the same day, and later days before the next window: no second warning.
    expect(await run({ asOf: "2027-03-18", businessIds: [b.businessId] })).toMatchObject({ warned: 0 });
    expect(await run({ asOf: "2027-03-25", businessIds: [b.businessId] })).toMatchObject({ warned: 0 });
    // 1 April expires the March lots (15); the April lot is warned on 17 April (14 days before 1 May), not the 16th.
    expect(await run({ asOf: "2027-04-01", businessIds: [b.businessId] })).toMatchObject({ points: 15, warned: 0 });
    expect(await run({ asOf: "2027-04-16", businessIds: [b.businessId] })).toMatchObject({ warned: 0 });
    expect(await run({ asOf: "2027-04-17", businessIds: [b.businessId] })).toMatchObject({ warned: 1 });
    const all = await warnings(b);
    expect(all).toHaveLength(3);
    expect(all.find((e) => e.data.object.lotId === l3!.id)?.data.object).toEqual({
      customerId: c.customerId,
      lotId: l3!.id,
      pointsExpiring: 7,
      expiresAt: "2027-04-30T23:00:00.000Z",
      lastValidDay: "2027-04-30",
      totalPointsExpiring: 7,
      runDate: "2027-04-17",
      createdAt: expect.any(String),
    });
    expect(await run({ asOf: "2027-04-17", businessIds: [b.businessId] })).toMatchObject({ warned: 0 });
    expect(await warnings(b)).toHaveLength(3);

    // ListEvents shows them, newest first, filtered by type.
    const listed = await owner(b, "GET", "/v1/owner/events?type=points.expiring_soon");
    expect(listed.status, listed.text).toBe(200);
    expect(listed.body.events).toHaveLength(3);
    expect(listed.body.events[0]).toMatchObject({
      type: "points.expiring_soon",
      businessId: b.businessId,
      data: { object: { customerId: c.customerId, lotId: l3!.id, pointsExpiring: 7, totalPointsExpiring: 7 } },
    });
    expect(new Set(listed.body.events.map((e: { id: string }) => e.id))).toEqual(new Set(all.map((e) => e.id)));
  });

  test("only what is left of a lot is warned about; a lot spent to 0 is not warned", async () => {
    const b = await registerBusiness(t.url, { pointsExpireAfterMonths: 1, expiryWarningDays: 30 });
    const p1 = nextPhone();
    const p2 = nextPhone();
    const a = await checkin(b, p1, 30, "2026-01-10T12:00:00Z"); // through 2026-02-28
    const e = await checkin(b, p2, 10, "2026-01-10T12:00:00Z");
    // 12 of a's 30 spent, all of e's 10.
    expect((await owner(b, "POST", `/v1/owner/customers/${a.customerId}/points`, { points: -12, reason: "Correction" })).status).toBe(200);
    expect((await owner(b, "POST", `/v1/owner/customers/${e.customerId}/points`, { points: -10, reason: "Correction" })).status).toBe(200);
    // 30 days before 1 March: 30 January.
    expect(await run({ asOf: "2026-01-29", businessIds: [b.businessId] })).toMatchObject({ warned: 0 });
    expect(await run({ asOf: "2026-01-30", businessIds: [b.businessId] })).toMatchObject({ warned: 1 });
    const w = await warnings(b);
    expect(w.map((x) => [x.customer_id, x.data.object.pointsExpiring, x.data.object.totalPointsExpiring])).toEqual([[a.customerId, 18, 18]]);
    expect((await lotsOf(e.customerId))[0]!.warned_at).toBeNull();
  });

  test("expiryWarningDays 0: no warning at all", async () => {
    const b = await registerBusiness(t.url, { pointsExpireAfterMonths: 1, expiryWarningDays: 0 });
    const c = await checkin(b, nextPhone(), 10, "2026-01-10T12:00:00Z");
    for (const day of ["2026-02-01", "2026-02-27", "2026-02-28"]) {
      expect(await run({ asOf: day, businessIds: [b.businessId] })).toMatchObject({ warned: 0 });
    }
    expect(await warnings(b)).toEqual([]);
    expect((await lotsOf(c.customerId))[0]!.warned_at).toBeNull();
    // The lot still expires on its day.
    expect(await run({ asOf: "2026-03-01", businessIds: [b.businessId] })).toMatchObject({ points: 10, warned: 0 });
  });

  test("two runs at once (two instances) warn each lot once; a run after them warns nothing", async () => {
    const b = await registerBusiness(t.url, { pointsExpireAfterMonths: 1 });
    const customers = [];
    for (let i = 0; i < 7; i++) customers.push((await checkin(b, nextPhone(), 10 + i, "2026-01-15T12:00:00Z")).customerId);
    const t2 = await startTestApp({ databaseUrl: t.databaseUrl });
    try {
      const db2 = createDb(t2.orm);
      const [x, y] = await Promise.all([
        run({ asOf: "2026-02-20", businessIds: [b.businessId], batchSize: 2 }),
        runExpiry({ db: db2, lots: createLotRepository(db2) }, { asOf: "2026-02-20", businessIds: [b.businessId], batchSize: 2 }),
      ]);
      expect(x.warned + y.warned).toBe(7);
    } finally {
      await t2.close();
    }
    const w = await warnings(b);
    expect(w).toHaveLength(7);
    expect(new Set(w.map((e) => e.data.object.lotId)).size).toBe(7);
    expect(w.map((e) => e.customer_id).sort()).toEqual([...customers].sort());
    expect(await run({ asOf: "2026-02-21", businessIds: [b.businessId] })).toMatchObject({ warned: 0 });
    expect(await warnings(b)).toHaveLength(7);
  });

  test("a subscribed receiver gets it, signed; an endpoint of other types is owed nothing", { timeout: 150_000 }, async () => {
    const b = await registerBusiness(t.url, { pointsExpireAfterMonths: 12 });
    const got: { headers: http.IncomingHttpHeaders; body: string }[] = [];
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        got.push({ headers: req.headers, body });
        res.writeHead(200).end("ok");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
      const hook = await owner(b, "POST", "/v1/owner/webhooks", { url, eventTypes: ["points.expiring_soon"] });
      expect(hook.status, hook.text).toBe(200);
      const other = await owner(b, "POST", "/v1/owner/webhooks", { url, eventTypes: ["points.expired"] });
      expect(other.status, other.text).toBe(200);
      const c = await checkin(b, nextPhone(), 20, "2026-03-10T12:00:00Z");
      expect(await run({ asOf: "2027-03-18", businessIds: [b.businessId] })).toMatchObject({ warned: 1 });
      const [ev] = await warnings(b);
      const owed = await t.sql<{ endpoint_id: string; event_id: string }>(`select endpoint_id, event_id from webhook_delivery where business_id = $1`, [b.businessId]);
      expect(owed).toEqual([{ endpoint_id: hook.body.endpoint.id, event_id: ev!.id }]);
      // The run wrote the delivery without queueing it (the CLI runs without jobs): the sweep
      // queues what is overdue by two minutes. Two minutes pass, by SQL.
      await t.sql(`update webhook_delivery set next_attempt_at = now() - interval '3 minutes' where business_id = $1`, [b.businessId]);
      await vi.waitFor(() => expect(got).toHaveLength(1), { timeout: 140_000, interval: 200 });
      const payload = new Webhook(hook.body.secret).verify(got[0]!.body, got[0]!.headers as Record<string, string>) as {
        id: string;
        type: string;
        data: { object: Record<string, unknown> };
      };
      expect(payload.id).toBe(ev!.id);
      expect(got[0]!.headers["webhook-id"]).toBe(ev!.id);
      expect(payload.type).toBe("points.expiring_soon");
      expect(payload.data.object).toMatchObject({ customerId: c.customerId, pointsExpiring: 20, totalPointsExpiring: 20, expiresAt: "2027-03-31T23:00:00.000Z" });
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
