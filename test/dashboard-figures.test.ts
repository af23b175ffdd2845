/**
 * Issue 18, item 1: the dashboard's figures are true. Each counts one ledger
 * type (or one sign of ADJUSTMENT), issued and redeemed are the named sums
 * (issued = check-ins + their promotions + bonuses + imports; redeemed =
 * rewards only), and
 * every figure equals a SQL sum over the ledger — over REST and Connect.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { BusinessSettings } from "../gen/loyalty/v1/account_pb.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const dashboard = async (b: Business) => {
  const r = await rest(t.url, "GET", "/v1/owner/dashboard?days=30", { headers: ownerAuth(b) });
  expect(r.status, r.text).toBe(200);
  return r.body;
};

/** The figures as SQL sums over the business's ledger of the last 30 days. */
async function sqlFigures(businessId: string) {
  const [row] = await t.sql<Record<string, string>>(
    `select coalesce(sum(delta) filter (where type = 'CHECKIN'), 0) as earned,
            coalesce(sum(delta) filter (where type = 'PROMOTION'), 0) as promotion,
            coalesce(sum(delta) filter (where type = 'ADJUSTMENT' and delta > 0), 0) as bonus,
            coalesce(-sum(delta) filter (where type = 'ADJUSTMENT' and delta < 0), 0) as deducted,
            coalesce(sum(delta) filter (where type = 'IMPORT'), 0) as imported,
            coalesce(sum(delta) filter (where type = 'INITIAL'), 0) as opening,
            coalesce(-sum(delta) filter (where type = 'REDEMPTION'), 0) as redeemed
     from ledger_entry where business_id = $1
       and created_at >= ((now() at time zone 'utc')::date - 29) at time zone 'utc'`,
    [businessId],
  );
  const n = Object.fromEntries(Object.entries(row!).map(([k, v]) => [k, Number(v)]));
  return { ...n, issued: n.earned! + n.promotion! + n.bonus! + n.imported! };
}

test("an opening balance of 10,000,000 is not issued, a −5 deduction is not a redemption; every figure is its SQL sum", async () => {
  const b = await registerBusiness(t.url);
  const owner = ownerAuth(b);

  // The reproductions of the issue.
  const big = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "Big Opening", phone: "+353861112222", initialPoints: 10_000_000 }, headers: owner });
  expect(big.status, big.text).toBe(200);
  const id = big.body.customer.id;
  const minus = await rest(t.url, "POST", `/v1/owner/customers/${id}/points`, { body: { points: -5, reason: "correction" }, headers: owner });
  expect(minus.status, minus.text).toBe(200);
  let d = await dashboard(b);
  expect([d.pointsIssued, d.pointsRedeemed, d.pointsOpening, d.pointsDeducted]).toEqual([0, 0, 10_000_000, 5]);

  // One of each: check-ins 25 + 30 under double points (PROMOTION rows of 25 + 30),
  // a bonus of 40, an import of 70, a reward of 100.
  const promo = await rest(t.url, "POST", "/v1/owner/promotions", {
    body: { name: "Double", kind: "MULTIPLIER", multiplier: 2, startsAt: "2026-01-01T00:00:00Z" },
    headers: owner,
  });
  expect(promo.status, promo.text).toBe(200);
  for (const amount of [25, 30]) expect((await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353871234567", amount }, headers: posAuth(b) })).status).toBe(200);
  expect((await rest(t.url, "POST", `/v1/owner/customers/${id}/points`, { body: { points: 40, reason: "birthday bonus" }, headers: owner })).status).toBe(200);
  const imp = await fetch(`${t.url}/v1/owner/customers/import`, {
    method: "POST",
    headers: { ...owner, "content-type": "text/csv" },
    body: "phone,points\n+353871234567,70\n",
  });
  expect(imp.status, await imp.text()).toBe(200);
  const redeem = await rest(t.url, "POST", "/v1/pos/redeem", { body: { phone: "+353871234567" }, headers: posAuth(b) });
  expect(redeem.status, redeem.text).toBe(200);

  d = await dashboard(b);
  const s = await sqlFigures(b.businessId);
  expect(s).toEqual({ earned: 55, promotion: 55, bonus: 40, deducted: 5, imported: 70, opening: 10_000_000, redeemed: 100, issued: 220 });
  expect({
    earned: d.pointsEarned,
    promotion: d.pointsPromotion,
    bonus: d.pointsBonus,
    deducted: d.pointsDeducted,
    imported: d.pointsImported,
    opening: d.pointsOpening,
    redeemed: d.pointsRedeemed,
    issued: d.pointsIssued,
  }).toEqual(s);
  // Today's bar has the same sums; the other 29 days are empty.
  const today = new Date().toISOString().slice(0, 10);
  expect(d.daily).toHaveLength(30);
  expect(d.daily.at(-1)).toEqual({ date: today, issued: 220, redeemed: 100 });
  expect(d.daily.slice(0, -1).every((x: { issued: number; redeemed: number }) => x.issued === 0 && x.redeemed === 0)).toBe(true);

  // Connect answers the same figures.
  const client = createClient(BusinessSettings, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }));
  const c = await client.getDashboard({ days: 30 }, { headers: owner });
  expect([c.pointsIssued, c.pointsRedeemed, c.pointsEarned, c.pointsPromotion, c.pointsBonus, c.pointsDeducted, c.pointsImported, c.pointsOpening]).toEqual([
    220, 100, 55, 55, 40, 5, 70, 10_000_000,
  ]);
});
