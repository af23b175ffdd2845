import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { expectText, ownerPage, startHarness, WAIT, type Harness } from "./portal/browser-harness.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";

/**
 * Issue 18, item 4, in real Chromium: stores renamed, deleted and archived,
 * duplicates refused; API keys by name, renamed, revoked ones folded away;
 * the customer page follows a till's check-in without a reload and its
 * badge changes at once; the focus stays where the owner was; headers sort;
 * stale success messages go.
 */

let h: Harness;
let b: Business;
let customerId = "";
const PHONE = "+353871239900";
const activeId = (page: import("playwright-core").Page) =>
  page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    return { tag: el?.tagName, id: el?.id, text: el?.textContent?.trim(), label: el?.getAttribute("aria-label") };
  });

beforeAll(async () => {
  h = await startHarness();
  b = await registerBusiness(h.t.url);
  const c = await rest(h.t.url, "POST", "/v1/pos/checkin", { body: { phone: PHONE, amount: 20 }, headers: posAuth(b) });
  expect(c.status).toBe(200);
  customerId = c.body.customerId;
}, 120_000);

afterAll(async () => {
  await h?.close();
});

describe("the small things", () => {
  test("stores: a duplicate name is refused, a store is renamed in place (focus back on Rename), deleted, or archived when it has history", async () => {
    const { context, page } = await ownerPage(h, b);
    await page.goto("/portal/#/stores");
    const form = page.getByTestId("store-form");
    await form.getByLabel("Store name").fill("Main Street");
    await form.getByRole("button", { name: "Add store" }).click();
    await expectText(page.getByTestId("store-notice"), /^Store “Main Street” created\.$/);
    // The success note goes when the owner moves on.
    await form.getByLabel("Store name").fill("main street");
    await expect.poll(() => page.getByTestId("store-notice").count(), WAIT).toBe(0);
    await form.getByRole("button", { name: "Add store" }).click();
    await expectText(page.getByTestId("store-error"), /^You already have a store with this name\. Choose another name\.$/);
    expect((await rest(h.t.url, "GET", "/v1/owner/stores", { headers: ownerAuth(b) })).body.stores.map((s: { name: string }) => s.name)).toEqual(["Main Street"]);

    await page.getByRole("button", { name: "Rename store “Main Street”" }).click();
    await expect.poll(async () => (await activeId(page)).tag, WAIT).toBe("INPUT");
    await page.getByLabel("New name").fill("Main Street, Dublin 2");
    await page.getByRole("button", { name: "Save name" }).click();
    await expectText(page.getByTestId("store-notice"), /^Store renamed to “Main Street, Dublin 2”\.$/);
    await expectText(page.getByTestId("store-row"), /Main Street, Dublin 2/);
    await expect.poll(async () => (await activeId(page)).label, WAIT).toBe("Rename store “Main Street, Dublin 2”");

    // A store without history is deleted.
    await form.getByLabel("Store name").fill("Pop-up");
    await form.getByRole("button", { name: "Add store" }).click();
    await page.getByRole("button", { name: "Delete store “Pop-up”" }).click();
    await expectText(page.getByRole("dialog"), /Delete “Pop-up”\?/);
    await page.getByRole("dialog").getByRole("button", { name: "Delete store" }).click();
    await expectText(page.getByTestId("store-notice"), /^Store “Pop-up” deleted\.$/);
    await expect.poll(() => page.getByRole("button", { name: "Delete store “Pop-up”" }).count(), WAIT).toBe(0);

    // One with a check-in is archived: gone from the list, its name kept in the history.
    const stores = (await rest(h.t.url, "GET", "/v1/owner/stores", { headers: ownerAuth(b) })).body.stores;
    const main = stores.find((s: { name: string }) => s.name === "Main Street, Dublin 2");
    expect((await rest(h.t.url, "POST", "/v1/pos/checkin", { body: { phone: PHONE, amount: 5, storeId: main.id }, headers: posAuth(b) })).status).toBe(200);
    await page.getByRole("button", { name: "Delete store “Main Street, Dublin 2”" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete store" }).click();
    await expectText(page.getByTestId("store-notice"), /^Store “Main Street, Dublin 2” archived: it has history, which keeps its name\.$/);
    await expectText(page.getByText("No stores yet."), /No stores yet/);
    const rows = await h.t.sql<{ archived: boolean }>(`select archived_at is not null as archived from store where id = $1`, [main.id]);
    expect(rows).toEqual([{ archived: true }]);
    await page.goto(`/portal/#/customers/${customerId}`);
    await expectText(page.getByTestId("history-row").first(), /Main Street, Dublin 2/);
    await context.close();
  });

  test("API keys: the focus follows the new key and comes back; keys renamed and confirmed by name; revoked ones folded away", async () => {
    const { context, page } = await ownerPage(h, b);
    await page.goto("/portal/#/api-keys");
    await page.getByLabel("Key name (optional)").fill("Front till");
    await page.getByRole("button", { name: "Create API key" }).focus();
    await page.keyboard.press("Enter");
    await page.getByTestId("new-api-key").waitFor();
    await expect.poll(async () => (await activeId(page)).id, WAIT).toBe("new-api-key");
    await page.getByRole("button", { name: "I have copied the key" }).click();
    await expect.poll(async () => (await activeId(page)).text, WAIT).toBe("Create API key");

    const row = page.getByTestId("api-key-row").filter({ hasText: "Front till" });
    await row.getByRole("button", { name: "Rename key “Front till”" }).click();
    // The row is a form now (its name in an input, no longer in the row's text).
    await page.getByRole("form", { name: "Rename key Front till" }).getByLabel("Key name").fill("Back till");
    await page.getByRole("form", { name: "Rename key Front till" }).getByRole("button", { name: "Save name" }).click();
    await expectText(page.getByTestId("revoke-notice"), /^Key renamed to “Back till”\.$/);
    await expect.poll(async () => (await activeId(page)).label, WAIT).toBe("Rename key “Back till”");
    const listed = (await rest(h.t.url, "GET", "/v1/owner/api-keys", { headers: ownerAuth(b) })).body.apiKeys;
    expect(listed.map((k: { name: string }) => k.name)).toEqual(["Back till", "till 1"]);

    await page.getByRole("button", { name: "Revoke key “Back till”" }).click();
    await expectText(page.getByRole("dialog"), /^Revoke “Back till”\?/);
    await page.getByRole("dialog").getByRole("button", { name: "Revoke key" }).click();
    await expectText(page.getByTestId("revoke-notice"), /^Key “Back till” revoked\./);
    // The notice can show a moment before the list is read again: wait for the row to go.
    await expect.poll(() => page.getByTestId("api-key-row").filter({ hasText: "Back till" }).count(), WAIT).toBe(0);
    const folded = page.getByTestId("revoked-keys");
    await expectText(folded.locator("summary"), /^Revoked keys \(1\)$/);
    expect(await folded.evaluate((d: HTMLDetailsElement) => d.open)).toBe(false);
    await context.close();
  });

  test("the customer page follows a till's check-in without a reload; the badge changes at once on block and the focus stays on the button", async () => {
    const { context, page } = await ownerPage(h, b);
    await page.goto(`/portal/#/customers/${customerId}`);
    await expectText(page.getByTestId("customer-balance-value"), /^25$/);
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    expect((await rest(h.t.url, "POST", "/v1/pos/checkin", { body: { phone: PHONE, amount: 30 }, headers: posAuth(b) })).status).toBe(200);
    await expect.poll(() => page.getByTestId("customer-balance-value").innerText(), { timeout: 15_000 }).toBe("55");
    await expectText(page.getByTestId("history-row").first(), /Check-in[\s\S]*\+30[\s\S]*55/);
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);

    // Re-reads of the customer take 4 s from now on: the badge must not wait for one.
    await page.route("**/loyalty.v1.CustomerAdmin/GetCustomer", async (route) => {
      await new Promise((r) => setTimeout(r, 4_000));
      await route.continue();
    });
    const button = page.getByTestId("block-button");
    await button.focus();
    await page.keyboard.press("Enter");
    // "At once": before the 4 s re-read could answer (3.5 s leaves a loaded machine its own block call).
    await expect.poll(() => page.getByTestId("customer-status").innerText(), { timeout: 3_500 }).toBe("Blocked");
    expect(await activeId(page)).toMatchObject({ tag: "BUTTON", text: "Unblock customer" });
    await page.keyboard.press("Enter");
    await expect.poll(() => page.getByTestId("customer-status").innerText(), { timeout: 3_500 }).toBe("Active");
    expect(await activeId(page)).toMatchObject({ tag: "BUTTON", text: "Block customer" });
    await page.unroute("**/loyalty.v1.CustomerAdmin/GetCustomer");
    expect((await rest(h.t.url, "GET", `/v1/owner/customers/${customerId}`, { headers: ownerAuth(b) })).body.customer.status).toBe("ACTIVE");

    // "Added …" goes once the owner starts the next change.
    const form = page.getByTestId("adjust-form");
    await form.getByLabel("Points", { exact: true }).fill("5");
    await form.getByLabel("Reason").fill("Bonus");
    await form.getByRole("button", { name: "Add points" }).click();
    await expectText(page.getByTestId("adjust-notice"), /^Added 5 points\./);
    await form.getByLabel("Points", { exact: true }).fill("3");
    expect(await page.getByTestId("adjust-notice").count()).toBe(0);
    await context.close();
  });

  test("the customer table's headers sort it, and say so", async () => {
    const owner = ownerAuth(b);
    for (const [name, phone, initialPoints] of [
      ["Aisling", "+353870000001", 300],
      ["Brendan", "+353870000002", 10],
      ["Ciara", "+353870000003", 1000],
    ] as const) {
      expect((await rest(h.t.url, "POST", "/v1/owner/customers", { body: { name, phone, initialPoints }, headers: owner })).status).toBe(200);
    }
    const { context, page } = await ownerPage(h, b);
    await page.goto("/portal/#/customers");
    const names = () => page.getByTestId("customer-row").locator("td:first-child").allInnerTexts();
    await expect.poll(names, WAIT).toHaveLength(4);
    await page.getByTestId("sort-totalPoints").click();
    await expect.poll(names, WAIT).toEqual(["Ciara", "Aisling", "+353871239900", "Brendan"]);
    expect(page.url()).toContain("sortBy=totalPoints");
    expect(await page.locator("th", { has: page.getByTestId("sort-totalPoints") }).getAttribute("aria-sort")).toBe("descending");
    await page.getByTestId("sort-totalPoints").click();
    await expect.poll(names, WAIT).toEqual(["Brendan", "+353871239900", "Aisling", "Ciara"]);
    expect(await page.locator("th", { has: page.getByTestId("sort-totalPoints") }).getAttribute("aria-sort")).toBe("ascending");
    await page.getByTestId("sort-name").click();
    // The API sorts a customer without a name (shown by phone) first, A→Z.
    await expect.poll(names, WAIT).toEqual(["+353871239900", "Aisling", "Brendan", "Ciara"]);
    expect(await page.getByLabel("Sort by").inputValue()).toBe("name");
    await context.close();
  });
});
