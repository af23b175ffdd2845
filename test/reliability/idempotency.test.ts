/**
 * Idempotency-Key (contract §5, issue 4 §1) against the real app on a fresh
 * database and real Redis: concurrent retries, sequential retries, key reuse
 * with another request, replayed business errors, per-business scope, key
 * validation, and the same behaviour over gRPC metadata and Connect.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createClient, ConnectError } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { LoyaltyPos } from "../../gen/loyalty/v1/pos_pb.js";
import { startTestApp, type TestApp } from "../support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "../support/rest.js";
import { call, loadGrpcStubs } from "../support/grpc.js";

let t: TestApp;
let a: Business;
let b: Business;
let seq = 0;

/** A phone number no other test in this file uses. */
const phone = () => `+35312${String(3000000 + seq++).padStart(7, "0")}`;
const key = (label: string) => `${label}-${process.pid}-${Date.now()}-${seq++}`;

async function ledgerRows(businessId: string, customerId?: string): Promise<number> {
  const rows = await t.sql<{ n: string }>(
    `select count(*) as n from ledger_entry where business_id = $1 ${customerId ? "and customer_id = $2" : ""}`,
    customerId ? [businessId, customerId] : [businessId],
  );
  return Number(rows[0]!.n);
}

beforeAll(async () => {
  t = await startTestApp({ env: { OWNER_RATE_LIMIT_PER_MINUTE: "100000", POS_RATE_LIMIT_PER_MINUTE: "100000" } });
  a = await registerBusiness(t.url);
  b = await registerBusiness(t.url);
});
afterAll(async () => {
  await t?.close();
});

describe("Idempotency-Key over REST", () => {
  test("50 concurrent identical check-ins with one key → one ledger row, 200 (replays flagged) or 409 in flight", async () => {
    const k = key("burst");
    const p = phone();
    const before = await ledgerRows(a.businessId);
    const responses = await Promise.all(
      Array.from({ length: 50 }, () =>
        rest(t.url, "POST", "/v1/pos/checkin", {
          body: { phone: p, amount: 12.34 },
          headers: { ...posAuth(a), "idempotency-key": k },
        }),
      ),
    );
    const ok = responses.filter((r) => r.status === 200);
    const inFlight = responses.filter((r) => r.status === 409);
    expect(ok.length + inFlight.length).toBe(50);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    // Exactly one response is the original; every other 200 is a flagged replay of the same body.
    const originals = ok.filter((r) => r.headers.get("idempotent-replayed") === null);
    expect(originals).toHaveLength(1);
    const original = originals[0]!;
    expect(original.body).toEqual({
      success: true,
      customerId: original.body.customerId,
      pointsAwarded: 12,
      totalPoints: 12,
      rewardThreshold: 100,
      rewardAvailable: false,
      checkinId: expect.any(String),
    });
    for (const r of ok) {
      if (r !== original) expect(r.headers.get("idempotent-replayed")).toBe("true");
      expect(r.text).toBe(original.text);
    }
    for (const r of inFlight) {
      expect(r.body).toEqual({
        success: false,
        error: { code: "aborted", message: "a request with this Idempotency-Key is still in progress" },
      });
    }
    expect((await ledgerRows(a.businessId)) - before).toBe(1);
    const [c] = await t.sql<{ total_points: number }>(`select total_points from customer where business_id = $1 and phone = $2`, [a.businessId, p]);
    expect(c!.total_points).toBe(12);

    // A sequential retry (after all of them finished) replays the same body.
    const retry = await rest(t.url, "POST", "/v1/pos/checkin", {
      body: { amount: 12.34, phone: p },
      headers: { ...posAuth(a), "idempotency-key": k },
    });
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(retry.text).toBe(original.text);
    expect((await ledgerRows(a.businessId)) - before).toBe(1);
  });

  test("same key with a different request → 422, nothing changes", async () => {
    const k = key("diff");
    const p = phone();
    const first = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 10 }, headers: { ...posAuth(a), "idempotency-key": k } });
    expect(first.status).toBe(200);
    const before = await ledgerRows(a.businessId);
    const other = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 11 }, headers: { ...posAuth(a), "idempotency-key": k } });
    expect(other.status).toBe(422);
    expect(other.body).toEqual({
      success: false,
      error: { code: "invalid_argument", message: "this Idempotency-Key was already used with a different request" },
    });
    // Another RPC with the same key is a different request too.
    const redeem = await rest(t.url, "POST", "/v1/pos/redeem", { body: { phone: p, points: 100 }, headers: { ...posAuth(a), "idempotency-key": k } });
    expect(redeem.status).toBe(422);
    expect(await ledgerRows(a.businessId)).toBe(before);
    // The original is still replayable.
    const again = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 10 }, headers: { ...posAuth(a), "idempotency-key": k } });
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.text).toBe(first.text);
  });

  test("business errors replay too: an insufficient-points redeem answers the same 400 twice, then still 400 after a top-up", async () => {
    const p = phone();
    await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 50 }, headers: posAuth(a) });
    const k = key("short");
    const first = await rest(t.url, "POST", "/v1/pos/redeem", { body: { phone: p, points: 100 }, headers: { ...posAuth(a), "idempotency-key": k } });
    expect(first.status).toBe(400);
    expect(first.body).toEqual({ success: false, error: { code: "failed_precondition", message: "insufficient points" } });
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const second = await rest(t.url, "POST", "/v1/pos/redeem", { body: { phone: p, points: 100 }, headers: { ...posAuth(a), "idempotency-key": k } });
    expect(second.status).toBe(400);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(second.text).toBe(first.text);
    // The stored outcome is what a retry gets, even once the balance would allow it.
    await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 80 }, headers: posAuth(a) });
    const third = await rest(t.url, "POST", "/v1/pos/redeem", { body: { phone: p, points: 100 }, headers: { ...posAuth(a), "idempotency-key": k } });
    expect(third.status).toBe(400);
    expect(third.headers.get("idempotent-replayed")).toBe("true");
    const bal = await rest(t.url, "GET", `/v1/pos/balance/${encodeURIComponent(p)}`, { headers: posAuth(a) });
    expect(bal.body.totalPoints).toBe(130);
    const redemptions = await t.sql<{ n: string }>(`select count(*) as n from redemption r join customer c on c.id = r.customer_id where c.phone = $1 and c.business_id = $2`, [p, a.businessId]);
    expect(Number(redemptions[0]!.n)).toBe(0);
  });

  test("a not-found outcome replays as well; a successful redeem replays without debiting twice", async () => {
    const k = key("nf");
    const nf1 = await rest(t.url, "POST", "/v1/pos/checkin", { body: { customerId: "zzzzzzzzzzzzzzzzzzzzzzzz", amount: 5 }, headers: { ...posAuth(a), "idempotency-key": k } });
    const nf2 = await rest(t.url, "POST", "/v1/pos/checkin", { body: { customerId: "zzzzzzzzzzzzzzzzzzzzzzzz", amount: 5 }, headers: { ...posAuth(a), "idempotency-key": k } });
    expect([nf1.status, nf2.status]).toEqual([404, 404]);
    expect(nf2.headers.get("idempotent-replayed")).toBe("true");
    expect(nf2.text).toBe(nf1.text);

    // A constraint violation inside the guarded change (duplicate phone → 409)
    // is rolled back to its savepoint and its outcome stored.
    const dupPhone = phone();
    await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "First", phone: dupPhone }, headers: ownerAuth(a) });
    const ck = key("dup");
    const c1 = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "Second", phone: dupPhone, initialPoints: 5 }, headers: { ...ownerAuth(a), "idempotency-key": ck } });
    const c2 = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "Second", phone: dupPhone, initialPoints: 5 }, headers: { ...ownerAuth(a), "idempotency-key": ck } });
    expect(c1.status).toBe(409);
    expect(c1.body).toEqual({ success: false, error: { code: "already_exists", message: "a customer with this phone already exists" } });
    expect(c2.status).toBe(409);
    expect(c2.headers.get("idempotent-replayed")).toBe("true");
    expect(c2.text).toBe(c1.text);
    const dup = await t.sql<{ name: string; total_points: number }>(`select name, total_points from customer where business_id = $1 and phone = $2`, [a.businessId, dupPhone]);
    expect(dup).toEqual([{ name: "First", total_points: 0 }]);

    const p = phone();
    await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 250 }, headers: posAuth(a) });
    const rk = key("redeem");
    const r1 = await rest(t.url, "POST", "/v1/pos/redeem", { body: { phone: p, points: 100 }, headers: { ...posAuth(a), "idempotency-key": rk } });
    const r2 = await rest(t.url, "POST", "/v1/pos/redeem", { body: { phone: p, points: 100 }, headers: { ...posAuth(a), "idempotency-key": rk } });
    expect(r1.status).toBe(200);
    expect(r1.body.remainingPoints).toBe(150);
    expect(r2.status).toBe(200);
    expect(r2.headers.get("idempotent-replayed")).toBe("true");
    expect(r2.body).toEqual(r1.body);
    const bal = await rest(t.url, "GET", `/v1/pos/balance/${encodeURIComponent(p)}`, { headers: posAuth(a) });
    expect(bal.body.totalPoints).toBe(150);
  });

  test("keys are scoped per business: the same key in two businesses gives two independent results", async () => {
    const k = key("scope");
    const p = phone();
    const ra = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 7 }, headers: { ...posAuth(a), "idempotency-key": k } });
    const rb = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 7 }, headers: { ...posAuth(b), "idempotency-key": k } });
    expect(ra.status).toBe(200);
    expect(rb.status).toBe(200);
    expect(ra.headers.get("idempotent-replayed")).toBeNull();
    expect(rb.headers.get("idempotent-replayed")).toBeNull();
    expect(rb.body.customerId).not.toBe(ra.body.customerId);
    const rows = await t.sql<{ business_id: string; total_points: number }>(
      `select business_id, total_points from customer where phone = $1 and business_id in ($2, $3) order by business_id`,
      [p, a.businessId, b.businessId],
    );
    expect(rows.map((r) => r.total_points)).toEqual([7, 7]);
    // A different request under that key in business B is judged against B's record only.
    const rb2 = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 8 }, headers: { ...posAuth(b), "idempotency-key": k } });
    expect(rb2.status).toBe(422);
  });

  test("invalid keys → 400: 256 characters, a tab, an empty value, non-ASCII", async () => {
    const p = phone();
    const before = await ledgerRows(a.businessId);
    const bad = ["k".repeat(256), "abc\tdef", "", "café"];
    for (const k of bad) {
      const r = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 3 }, headers: { ...posAuth(a), "idempotency-key": k } });
      expect(r.status, JSON.stringify(k)).toBe(400);
      expect(r.body).toEqual({
        success: false,
        error: { code: "invalid_argument", message: "Idempotency-Key must be 1-255 printable ASCII characters" },
      });
    }
    expect(await ledgerRows(a.businessId)).toBe(before);
    // 255 printable characters are fine.
    const max = "~".repeat(200) + key("x").padEnd(55, "!").slice(0, 55);
    expect(max).toHaveLength(255);
    const ok = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 3 }, headers: { ...posAuth(a), "idempotency-key": max } });
    expect(ok.status).toBe(200);
    expect(await ledgerRows(a.businessId)).toBe(before + 1);
  });

  test("keys with quotes, backslashes and SQL are stored and replayed exactly as sent", async () => {
    const p = phone();
    for (const k of [`o'brien-${seq++}`, `back\\slash\\'-${seq++}`, `'); delete from ledger_entry; --${seq++}`, `$1 ? %s ${seq++}`]) {
      const first = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 2 }, headers: { ...posAuth(a), "idempotency-key": k } });
      const again = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 2 }, headers: { ...posAuth(a), "idempotency-key": k } });
      expect(first.status, k).toBe(200);
      expect(again.headers.get("idempotent-replayed"), k).toBe("true");
      expect(again.text).toBe(first.text);
      const stored = await t.sql<{ key: string }>(`select key from idempotency_record where business_id = $1 and key = $2`, [a.businessId, k]);
      expect(stored, k).toEqual([{ key: k }]);
    }
    const bal = await rest(t.url, "GET", `/v1/pos/balance/${encodeURIComponent(p)}`, { headers: posAuth(a) });
    expect(bal.body.totalPoints).toBe(8);
    expect(await ledgerRows(a.businessId)).toBeGreaterThan(0);
  });

  test("a control character in the key never reaches the ledger (raw HTTP/1.1)", async () => {
    const net = await import("node:net");
    const body = JSON.stringify({ phone: phone(), amount: 3 });
    const before = await ledgerRows(a.businessId);
    const raw = await new Promise<string>((resolve, reject) => {
      const s = net.connect(t.port, "127.0.0.1", () => {
        s.write(
          `POST /v1/pos/checkin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-API-Key: ${a.apiKey}\r\n` +
            `Idempotency-Key: ab\x01cd\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
      let out = "";
      s.on("data", (d) => (out += d.toString("latin1")));
      s.on("end", () => resolve(out));
      s.on("error", reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(await ledgerRows(a.businessId)).toBe(before);
  });

  test("PATCH, PUT and DELETE accept a key and replay", async () => {
    const created = await rest(t.url, "POST", "/v1/owner/customers", {
      body: { name: "Replay Me", phone: phone(), notes: "", initialPoints: 10 },
      headers: { ...ownerAuth(a), "idempotency-key": key("create") },
    });
    expect(created.status).toBe(200);
    const id = created.body.customer.id as string;

    const pk = key("patch");
    const p1 = await rest(t.url, "PATCH", `/v1/owner/customers/${id}`, { body: { name: "Patched" }, headers: { ...ownerAuth(a), "idempotency-key": pk } });
    expect(p1.status).toBe(200);
    expect(p1.body.customer.name).toBe("Patched");
    // Changed in between: a replay still answers what the first PATCH answered.
    await rest(t.url, "PATCH", `/v1/owner/customers/${id}`, { body: { name: "Changed in between" }, headers: ownerAuth(a) });
    const p2 = await rest(t.url, "PATCH", `/v1/owner/customers/${id}`, { body: { name: "Patched" }, headers: { ...ownerAuth(a), "idempotency-key": pk } });
    expect(p2.status).toBe(200);
    expect(p2.headers.get("idempotent-replayed")).toBe("true");
    expect(p2.text).toBe(p1.text);
    const name1 = await t.sql<{ name: string }>(`select name from customer where id = $1`, [id]);
    expect(name1[0]!.name).toBe("Changed in between");

    const uk = key("put");
    const u1 = await rest(t.url, "PUT", `/v1/owner/customers/${id}`, { body: { notes: "vip" }, headers: { ...ownerAuth(a), "idempotency-key": uk } });
    const u2 = await rest(t.url, "PUT", `/v1/owner/customers/${id}`, { body: { notes: "vip" }, headers: { ...ownerAuth(a), "idempotency-key": uk } });
    expect([u1.status, u2.status]).toEqual([200, 200]);
    expect(u2.headers.get("idempotent-replayed")).toBe("true");
    expect(u2.text).toBe(u1.text);

    const ak = key("adjust");
    const a1 = await rest(t.url, "POST", `/v1/owner/customers/${id}/points`, { body: { points: 5, reason: "goodwill" }, headers: { ...ownerAuth(a), "idempotency-key": ak } });
    const a2 = await rest(t.url, "POST", `/v1/owner/customers/${id}/points`, { body: { points: 5, reason: "goodwill" }, headers: { ...ownerAuth(a), "idempotency-key": ak } });
    expect(a1.body).toEqual({ success: true, newBalance: 15, adjustment: 5 });
    expect(a2.headers.get("idempotent-replayed")).toBe("true");
    expect(a2.body).toEqual(a1.body);
    expect(await ledgerRows(a.businessId, id)).toBe(2);

    const dk = key("delete");
    const d1 = await rest(t.url, "DELETE", `/v1/owner/customers/${id}`, { headers: { ...ownerAuth(a), "idempotency-key": dk } });
    const d2 = await rest(t.url, "DELETE", `/v1/owner/customers/${id}`, { headers: { ...ownerAuth(a), "idempotency-key": dk } });
    expect(d1.body).toEqual({ success: true, message: "Customer deleted permanently" });
    expect(d2.status).toBe(200);
    expect(d2.headers.get("idempotent-replayed")).toBe("true");
    expect(d2.text).toBe(d1.text);
    // Without the key, a second DELETE is simply not found.
    const d3 = await rest(t.url, "DELETE", `/v1/owner/customers/${id}`, { headers: ownerAuth(a) });
    expect(d3.status).toBe(404);
    const events = await t.sql<{ n: string }>(`select count(*) as n from audit_event where subject_id = $1 and action = 'customer.deleted'`, [id]);
    expect(Number(events[0]!.n)).toBe(1);

    // The program (PATCH) and API-key revocation (DELETE) take keys too.
    const prk = key("program");
    const g1 = await rest(t.url, "PATCH", "/v1/owner/program", { body: { rewardTitle: "Free Coffee" }, headers: { ...ownerAuth(b), "idempotency-key": prk } });
    const g2 = await rest(t.url, "PATCH", "/v1/owner/program", { body: { rewardTitle: "Free Coffee" }, headers: { ...ownerAuth(b), "idempotency-key": prk } });
    expect([g1.status, g2.status]).toEqual([200, 200]);
    expect(g2.headers.get("idempotent-replayed")).toBe("true");
    const newKey = await rest(t.url, "POST", "/v1/owner/api-keys", { body: { name: "spare" }, headers: ownerAuth(b) });
    const rk = key("revoke");
    const v1 = await rest(t.url, "DELETE", `/v1/owner/api-keys/${newKey.body.id}`, { headers: { ...ownerAuth(b), "idempotency-key": rk } });
    const v2 = await rest(t.url, "DELETE", `/v1/owner/api-keys/${newKey.body.id}`, { headers: { ...ownerAuth(b), "idempotency-key": rk } });
    expect([v1.status, v2.status]).toEqual([200, 200]);
    expect(v2.headers.get("idempotent-replayed")).toBe("true");

    // Stores and API keys: one row each, the same answer replayed.
    for (const [path, body, table] of [
      ["/v1/owner/stores", { name: "Quay St" }, "store"],
      ["/v1/owner/api-keys", { name: "till 9" }, "api_key"],
    ] as const) {
      const k = key(table);
      const first = await rest(t.url, "POST", path, { body, headers: { ...ownerAuth(b), "idempotency-key": k } });
      const again = await rest(t.url, "POST", path, { body, headers: { ...ownerAuth(b), "idempotency-key": k } });
      expect([first.status, again.status], path).toEqual([200, 200]);
      expect(again.headers.get("idempotent-replayed"), path).toBe("true");
      // A key's secret is never stored: its replay has the same id and prefix, `apiKey` empty (test/secrets-at-rest.test.ts).
      expect(again.body, path).toEqual(table === "api_key" ? { ...first.body, apiKey: "" } : first.body);
      const rows = await t.sql<{ n: string }>(`select count(*) as n from ${table} where business_id = $1 and name = $2`, [b.businessId, body.name]);
      expect(rows[0]!.n, path).toBe("1");
    }
  });

  test("records live 24 h; an expired one is purged and the key runs afresh", async () => {
    const k = key("expiry");
    const p = phone();
    const first = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 4 }, headers: { ...posAuth(a), "idempotency-key": k } });
    expect(first.status).toBe(200);
    const [rec] = await t.sql<{ hours: string }>(
      `select round(extract(epoch from (expires_at - created_at)) / 3600) as hours from idempotency_record where business_id = $1 and key = $2`,
      [a.businessId, k],
    );
    expect(Number(rec!.hours)).toBe(24);
    // 25 hours later (simulated): the record has expired.
    await t.sql(`update idempotency_record set created_at = now() - interval '25 hours', expires_at = now() - interval '1 hour' where business_id = $1 and key = $2`, [a.businessId, k]);
    const later = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 6 }, headers: { ...posAuth(a), "idempotency-key": k } });
    expect(later.status).toBe(200);
    expect(later.headers.get("idempotent-replayed")).toBeNull();
    expect(later.body.totalPoints).toBe(10);
    const rows = await t.sql<{ n: string }>(`select count(*) as n from idempotency_record where business_id = $1 and key = $2`, [a.businessId, k]);
    expect(rows[0]!.n).toBe("1");
  });

  test("one key, two instances on one database: 24 concurrent identical redeems → one debit", async () => {
    const t2 = await startTestApp({ databaseUrl: t.databaseUrl, env: { OWNER_RATE_LIMIT_PER_MINUTE: "100000", POS_RATE_LIMIT_PER_MINUTE: "100000" } });
    try {
      const p = phone();
      await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p, amount: 500 }, headers: posAuth(a) });
      const k = key("two-instances");
      const responses = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          rest(i % 2 ? t2.url : t.url, "POST", "/v1/pos/redeem", { body: { phone: p, points: 100 }, headers: { ...posAuth(a), "idempotency-key": k } }),
        ),
      );
      const ok = responses.filter((r) => r.status === 200);
      expect(ok.length + responses.filter((r) => r.status === 409 && r.body.error.code === "aborted").length).toBe(24);
      expect(ok.filter((r) => r.headers.get("idempotent-replayed") === null)).toHaveLength(1);
      for (const r of ok) expect(r.body).toEqual(ok[0]!.body);
      const bal = await rest(t2.url, "GET", `/v1/pos/balance/${encodeURIComponent(p)}`, { headers: posAuth(a) });
      expect(bal.body.totalPoints).toBe(400);
    } finally {
      await t2.close();
    }
  });

  test("GET requests ignore the key (nothing is stored)", async () => {
    const k = key("get");
    const before = await t.sql<{ n: string }>(`select count(*) as n from idempotency_record`);
    const r1 = await rest(t.url, "GET", "/v1/owner/program", { headers: { ...ownerAuth(a), "idempotency-key": k } });
    const r2 = await rest(t.url, "GET", "/v1/owner/program", { headers: { ...ownerAuth(a), "idempotency-key": k } });
    expect([r1.status, r2.status]).toEqual([200, 200]);
    expect(r2.headers.get("idempotent-replayed")).toBeNull();
    const after = await t.sql<{ n: string }>(`select count(*) as n from idempotency_record`);
    expect(after[0]!.n).toBe(before[0]!.n);
  });
});

describe("Idempotency-Key over gRPC and Connect", () => {
  test("gRPC metadata idempotency-key: a retried Checkin replays with idempotent-replayed: true and writes one row", async () => {
    const stubs = loadGrpcStubs(`127.0.0.1:${t.port}`);
    try {
      const p = phone();
      const k = key("grpc");
      const md = { "x-api-key": a.apiKey, "idempotency-key": k };
      const r1 = await call(stubs.pos, "Checkin", { phone: p, amount: 20.5 }, md);
      const r2 = await call(stubs.pos, "Checkin", { phone: p, amount: 20.5 }, md);
      expect(r1.error).toBeUndefined();
      expect(r2.error).toBeUndefined();
      expect(r1.response.pointsAwarded).toBe(20);
      expect(r2.response).toEqual(r1.response);
      expect(r1.headers.get("idempotent-replayed")).toEqual([]);
      expect(r2.headers.get("idempotent-replayed")).toEqual(["true"]);
      expect(await ledgerRows(a.businessId, r1.response.customerId)).toBe(1);
      // A different request under the same key: INVALID_ARGUMENT (REST shows it as 422).
      const r3 = await call(stubs.pos, "Checkin", { phone: p, amount: 21 }, md);
      expect(r3.error?.code).toBe(3);
      expect(r3.error?.details).toBe("this Idempotency-Key was already used with a different request");
      // A replayed business error over gRPC keeps its status.
      const rk = key("grpc-redeem");
      const e1 = await call(stubs.pos, "Redeem", { phone: p, points: 100 }, { "x-api-key": a.apiKey, "idempotency-key": rk });
      const e2 = await call(stubs.pos, "Redeem", { phone: p, points: 100 }, { "x-api-key": a.apiKey, "idempotency-key": rk });
      expect(e1.error?.code).toBe(9);
      expect(e2.error?.code).toBe(9);
      expect(e2.error?.details).toBe("insufficient points");
      expect(e2.error?.metadata.get("idempotent-replayed")).toEqual(["true"]);
      const bad = await call(stubs.pos, "Checkin", { phone: p, amount: 1 }, { "x-api-key": a.apiKey, "idempotency-key": "x".repeat(256) });
      expect(bad.error?.code).toBe(3);
    } finally {
      stubs.close();
    }
  });

  test("Connect header Idempotency-Key: a retried Checkin replays and writes one row", async () => {
    const client = createClient(LoyaltyPos, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }));
    const p = phone();
    const k = key("connect");
    const seen: (string | null)[] = [];
    const opts = () => ({
      headers: { "x-api-key": a.apiKey, "idempotency-key": k },
      onHeader: (h: Headers) => seen.push(h.get("idempotent-replayed")),
    });
    const r1 = await client.checkin({ phone: p, amount: 9.99 }, opts());
    const r2 = await client.checkin({ phone: p, amount: 9.99 }, opts());
    expect(r1.pointsAwarded).toBe(9);
    expect(r2).toEqual(r1);
    expect(seen).toEqual([null, "true"]);
    expect(await ledgerRows(a.businessId, r1.customerId)).toBe(1);
    const err = await client.checkin({ phone: p, amount: 1 }, opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).rawMessage).toBe("this Idempotency-Key was already used with a different request");
  });
});
