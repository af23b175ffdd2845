import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { checkLayout, expectText, ownerPage, startHarness, type Harness } from "./portal/browser-harness.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";

/**
 * The gaps of issue 15's portal, in real Chromium at 390 and 1280 px: the
 * promotions form picks the stores a promotion is limited to (and its edit
 * changes them), the counter's redeem records the store chosen, amounts are
 * shown in the program's currency (program page, minimum spend, history),
 * a promotion's end date is a day of the program's zone, and a refund of a
 * promoted check-in is previewed with its promotion points, as the server
 * takes them back. Every page is checked for
 * sideways scroll and small text (checkLayout), with screenshots.
 */

let h: Harness;
let b: Business;

beforeAll(async () => {
  h = await startHarness();
  b = await registerBusiness(h.t.url);
}, 120_000);

afterAll(async () => {
  await h?.close();
});

const owner = (method: string, path: string, body?: unknown) => rest(h.t.url, method, path, { body, headers: ownerAuth(b) });

describe("stores and currency in the portal", () => {
  test.each([390, 1280])("at %i px: a promotion limited to a store, the store of a redeem, amounts in the program's currency", async (width) => {
    const tag = width === 390 ? "A" : "B";
    const main = (await owner("POST", "/v1/owner/stores", { name: `Main St ${tag}` })).body.store;
    const quay = (await owner("POST", "/v1/owner/stores", { name: `Quay ${tag}` })).body.store;
    const { context, page, errors } = await ownerPage(h, b, { width });

    // The program page says amounts in the program's currency.
    expect((await owner("PATCH", "/v1/owner/program", { currency: width === 390 ? "GBP" : "EUR" })).status).toBe(200);
    const sign = width === 390 ? "£" : "€";
    await page.goto("/portal/#/program");
    await page.getByLabel(`Points per ${sign}1.00 spent`).waitFor();
    await expectText(page.locator("main"), new RegExp(`A purchase of \\${sign}25\\.50 earns 25 points`));
    await checkLayout(page, `program-currency`, width);

    // A promotion for one store, picked by name.
    await page.goto("/portal/#/promotions");
    const form = page.getByTestId("promotion-form");
    await form.getByLabel(`Minimum spend in ${width === 390 ? "GBP" : "EUR"} (optional)`).waitFor();
    const stores = form.getByTestId("store-checklist");
    await expectText(stores, new RegExp(`Stores \\(none = every store\\)[\\s\\S]*Main St ${tag}[\\s\\S]*Quay ${tag}`));
    await form.getByLabel("Name").fill(`Main St doubles ${tag}`);
    await form.getByLabel("Multiplier (1.01–10)").fill("2");
    await stores.getByLabel(`Main St ${tag}`).check();
    // Ends on 1 July 2027: the start of that day in the program's zone (Dublin, UTC+1 in summer), whatever the browser's (UTC here).
    await form.getByLabel(/^Ends on/).fill("2027-07-01");
    await checkLayout(page, "promotions-form", width);
    await form.getByRole("button", { name: "Create promotion" }).click();
    await expectText(page.getByTestId("promotion-notice"), new RegExp(`^Promotion “Main St doubles ${tag}” created: Double points, in 1 store\\.$`));
    const created = (await owner("GET", "/v1/owner/promotions")).body.promotions.find((p: any) => p.name === `Main St doubles ${tag}`);
    expect(created).toMatchObject({ storeIds: [main.id], multiplier: 2, active: true, endsAt: "2027-06-30T23:00:00Z" });
    const item = page.getByTestId(`promotion-${created.id}`);
    await expectText(item.getByTestId("promotion-until"), /^ until 1 Jul 2027$/);
    await expectText(item.getByTestId("promotion-stores"), new RegExp(`at Main St ${tag}$`));

    // Its edit adds the other store.
    await item.getByRole("button", { name: "Edit" }).click();
    await item.getByTestId("store-checklist").getByLabel(`Quay ${tag}`).check();
    await checkLayout(page, "promotions-edit", width);
    await item.getByRole("button", { name: "Save" }).click();
    await expectText(page.getByTestId("promotion-notice"), new RegExp(`saved: Double points, in 2 stores\\.$`));
    await expectText(item.getByTestId("promotion-stores"), new RegExp(`at Main St ${tag}, Quay ${tag}$`));
    expect((await owner("GET", "/v1/owner/promotions")).body.promotions.find((p: any) => p.id === created.id).storeIds.sort()).toEqual([main.id, quay.id].sort());

    // The till: at Quay the promotion applies, without a store it does not.
    const phone = tag === "A" ? "+353871230044" : "+353871230045";
    const at = await rest(h.t.url, "POST", "/v1/pos/checkin", { body: { phone, amount: 20, storeId: quay.id }, headers: posAuth(b) });
    expect(at.body).toMatchObject({ basePoints: 20, promotionPoints: 20, promotionId: created.id, totalPoints: 40 });
    const none = await rest(h.t.url, "POST", "/v1/pos/checkin", { body: { phone, amount: 5 }, headers: posAuth(b) });
    expect(none.body).toMatchObject({ basePoints: 5, promotionPoints: 0, totalPoints: 45 });

    // The customer page: amounts in the currency; a refund of the promoted check-in previews base and bonus together.
    await page.goto(`/portal/#/customers/${at.body.customerId}`);
    const promoted = page.getByTestId("history-row").filter({ hasText: `spent ${sign}20.00` });
    await expectText(promoted, new RegExp(`Check-in\\s+Visit\\s*· spent \\${sign}20\\.00\\s+\\+20`));
    await promoted.getByTestId("refund-button").click();
    const dialog = page.getByRole("dialog");
    await expectText(dialog, new RegExp(`All that is left \\(\\${sign}20\\.00\\)`));
    await expectText(dialog.getByTestId("refund-summary"), /^Takes back 40 points\. Balance after: 5\.$/);
    await dialog.getByTestId("refund-part").fill("5");
    // floor(40 × 5.00 ÷ 20.00) = 10 (the check-in's 20 and its promotion's 20, in proportion).
    await expectText(dialog.getByTestId("refund-summary"), /^Takes back 10 points\. Balance after: 35\.$/);
    await checkLayout(page, "customer-refund-promoted", width);
    await dialog.getByRole("button", { name: "Refund and take back 10 points" }).click();
    await expectText(page.getByTestId("customer-balance-value"), /^35$/);
    expect((await rest(h.t.url, "GET", `/v1/pos/balance/${at.body.customerId}`, { headers: posAuth(b) })).body.totalPoints).toBe(35);

    // Redeem at the counter, at a store chosen by name.
    const cookie = (await owner("POST", "/v1/owner/rewards", { title: `Cookie ${tag}`, cost: 5 })).body.reward;
    await page.reload();
    const panel = page.getByRole("region", { name: "Redeem a reward" });
    await panel.getByLabel("At store").selectOption({ label: `Main St ${tag}` });
    await panel.getByRole("button", { name: `Redeem Cookie ${tag}` }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Redeem for 5 points" }).click();
    await expectText(page.getByTestId("redeem-notice"), new RegExp(`^Redeemed Cookie ${tag} for 5 points\\. New balance: 30\\.$`));
    const [red] = await h.t.sql<{ store_id: string; reward_id: string }>(
      `select store_id, reward_id from redemption where business_id = $1 and reward_id = $2`,
      [b.businessId, cookie.id],
    );
    expect(red).toEqual({ store_id: main.id, reward_id: cookie.id });
    await expectText(page.getByTestId("history-row").first(), new RegExp(`Redemption: Cookie ${tag}[\\s\\S]*Main St ${tag}`));
    await checkLayout(page, "customer-store-redeem", width);

    // The API key form picks its store from the same list.
    await page.goto("/portal/#/api-keys");
    await page.getByTestId("create-key-form").getByLabel("Store (optional)").selectOption({ label: `Quay ${tag}` });
    await checkLayout(page, "api-keys-store", width);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);
});
