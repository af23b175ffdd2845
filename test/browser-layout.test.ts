import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { checkLayout, expectText, ownerPage, startHarness, WAIT, type Harness } from "./portal/browser-harness.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";

/**
 * Issue 18, item 2: every page of the portal at a phone's (360 and 390 px),
 * a tablet's (768 px) and a desktop's (1280 px) width, in real Chromium:
 * nothing sticks out of the viewport or of a scroll box, no text is under
 * 12 px, and the figures that matter on a phone (points, reward, the history's
 * +80, the Revoke button, the chart's axis) are on screen. Screenshots of each
 * page and width go to test-results/screenshots/<page>-<width>.png.
 */

const WIDTHS = [360, 390, 768, 1280] as const;
let h: Harness;
let b: Business;
let customerId = "";

beforeAll(async () => {
  h = await startHarness();
  b = await registerBusiness(h.t.url);
  const owner = ownerAuth(b);
  const store = await rest(h.t.url, "POST", "/v1/owner/stores", { body: { name: "Main Street, Dublin 2" }, headers: owner });
  expect(store.status).toBe(200);
  const bound = await rest(h.t.url, "POST", "/v1/owner/api-keys", { body: { name: "Front till at Main Street", storeId: store.body.store.id }, headers: owner });
  expect(bound.status).toBe(200);
  const old = await rest(h.t.url, "POST", "/v1/owner/api-keys", { body: { name: "Old web shop" }, headers: owner });
  expect((await rest(h.t.url, "DELETE", `/v1/owner/api-keys/${old.body.id}`, { headers: owner })).status).toBe(200);
  const first = await rest(h.t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353871234567", amount: 25.5 }, headers: posAuth(b) });
  expect(first.status).toBe(200);
  customerId = first.body.customerId;
  const adjusted = await rest(h.t.url, "POST", `/v1/owner/customers/${customerId}/points`, {
    body: { points: 80, reason: "Welcome back bonus for a long-standing customer" },
    headers: owner,
  });
  expect(adjusted.status).toBe(200);
  expect((await rest(h.t.url, "POST", "/v1/pos/redeem", { body: { phone: "+353871234567", points: 100 }, headers: posAuth(b) })).status).toBe(200);
  // A big balance, mostly a bonus (opening balances are not "issued" on the dashboard): the chart's axis must show 10,000,000 whole.
  const big = await rest(h.t.url, "POST", "/v1/owner/customers", {
    body: { name: "Siobhán Ní Mhaoldomhnaigh-Fitzgerald", phone: "+353861112222", initialPoints: 1_000_000 },
    headers: owner,
  });
  expect(big.status).toBe(200);
  const bonus = await rest(h.t.url, "POST", `/v1/owner/customers/${big.body.customer.id}/points`, { body: { points: 9_000_000, reason: "Founding member" }, headers: owner });
  expect(bonus.status, bonus.text).toBe(200);
}, 120_000);

afterAll(async () => {
  await h?.close();
});

describe("portal layout at phone, tablet and desktop widths", () => {
  test("the sign-in pages", async () => {
    const context = await h.browser.newContext({ baseURL: h.t.url, locale: "en-IE", timezoneId: "UTC" });
    const page = await context.newPage();
    await page.goto("/portal/#/login");
    await page.getByRole("heading", { name: "Log in to your Admin Portal" }).waitFor();
    for (const w of WIDTHS) await checkLayout(page, "login", w);
    await page.getByRole("link", { name: "Sign up" }).click();
    await page.getByRole("heading", { name: "Create your business account" }).waitFor();
    for (const w of WIDTHS) await checkLayout(page, "signup", w);
    await context.close();
  }, 120_000);

  test("every page in the main navigation, the customer and a new API key", async () => {
    const { context, page, errors } = await ownerPage(h, b);
    await page.goto("/portal/#/dashboard");
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    const links = page.getByRole("navigation", { name: "Main" }).getByRole("link");
    const targets = await links.evaluateAll((as) => as.map((a) => ({ href: a.getAttribute("href")!, name: (a.textContent ?? "").trim() })));
    // Every page of the navigation is visited below, pages added later included.
    expect(targets.map((x) => x.name)).toEqual(expect.arrayContaining(["Dashboard", "Customers", "Program", "Stores", "API keys"]));
    for (const target of targets) {
      await page.goto(`/portal/${target.href}`);
      await page.getByRole("heading", { level: 1 }).waitFor();
      // Every loading note gone (a page may show several at once: the Developers page has two).
      await expect.poll(() => page.locator(".loading").count(), WAIT).toBe(0);
      const name = target.href.replace(/^#\//, "").replace(/\W+/g, "-");
      for (const w of WIDTHS) await checkLayout(page, name, w);
    }

    // The chart's figures as a table, on a phone.
    await page.goto("/portal/#/dashboard");
    await page.getByRole("button", { name: "Show as table" }).click();
    for (const w of WIDTHS) await checkLayout(page, "dashboard-table", w);

    await page.goto(`/portal/#/customers/${customerId}`);
    await page.getByTestId("history-table").waitFor();
    for (const w of WIDTHS) await checkLayout(page, "customer", w);

    await page.goto("/portal/#/api-keys");
    await page.getByRole("button", { name: "Create API key" }).click();
    await page.getByTestId("new-api-key").waitFor();
    await page.getByText("Try it with curl").click();
    for (const w of WIDTHS) await checkLayout(page, "api-keys-new", w);
    expect(errors).toEqual([]);
    await context.close();
  }, 240_000);

  test("on a 390 px phone the key figures are on screen", async () => {
    const { context, page } = await ownerPage(h, b, { width: 390, height: 844 });
    const onScreen = (l: ReturnType<typeof page.locator>) =>
      l.evaluate((el) => {
        const r = el.getBoundingClientRect();
        return r.width > 0 && r.left >= 0 && r.right <= document.documentElement.clientWidth;
      });

    await page.goto("/portal/#/customers?sortBy=totalPoints");
    const top = page.getByTestId("customer-row").first();
    await expectText(top, /Siobhán/);
    expect(await top.getByTestId("customer-points").innerText()).toBe("10,000,000");
    expect(await onScreen(top.getByTestId("customer-points"))).toBe(true);
    expect(await top.getByTestId("customer-reward").innerText()).toBe("Available");
    expect(await onScreen(top.getByTestId("customer-reward"))).toBe(true);

    await page.goto(`/portal/#/customers/${customerId}`);
    const bonus = page.getByTestId("history-row").filter({ hasText: "Welcome back bonus" });
    expect(await bonus.getByTestId("history-delta").innerText()).toBe("+80");
    expect(await onScreen(bonus.getByTestId("history-delta"))).toBe(true);

    // Every label of the chart's axis whole (that day issued 9,000,105 points: 25 + 80 + 9,000,000), 12 px or more, inside the chart.
    await page.goto("/portal/#/dashboard");
    const chart = page.getByTestId("points-chart");
    await chart.locator("svg").waitFor();
    const labels = await chart.locator("svg text.chart-axis").evaluateAll((ts) => {
      const svg = ts[0]!.closest("svg")!.getBoundingClientRect();
      return ts.map((t) => {
        const r = t.getBoundingClientRect();
        return { text: t.textContent, height: r.height, inside: r.left >= svg.left - 0.5 && r.right <= svg.right + 0.5 };
      });
    });
    expect(labels.filter((l) => /\d{2},\d{3}/.test(l.text ?? "")).map((l) => l.text)).toEqual(["5,000,000", "10,000,000"]);
    for (const l of labels) {
      expect(l.inside, `${l.text} inside the chart`).toBe(true);
      expect(l.height, `${l.text} height`).toBeGreaterThanOrEqual(12);
    }
    await context.close();
  });

  test("on a 768 px tablet the Revoke button is whole and on screen", async () => {
    const { context, page } = await ownerPage(h, b, { width: 768, height: 1024 });
    await page.goto("/portal/#/api-keys");
    const revoke = page.getByRole("button", { name: "Revoke key “Front till at Main Street”" });
    await revoke.waitFor();
    const box = await revoke.evaluate((el) => {
      const r = el.getBoundingClientRect();
      let clipped = false;
      for (let p = el.parentElement; p; p = p.parentElement) {
        const pr = p.getBoundingClientRect();
        if (getComputedStyle(p).overflowX !== "visible" && (r.right > pr.right + 0.5 || r.left < pr.left - 0.5)) clipped = true;
      }
      return { right: r.right, clipped };
    });
    expect(box.clipped).toBe(false);
    expect(box.right).toBeLessThanOrEqual(768);
    await context.close();
  });
});
