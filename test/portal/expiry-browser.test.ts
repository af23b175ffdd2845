import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "../support/rest.js";
import type { TestApp } from "../support/test-app.js";
import { startAppWithPortal } from "./start-with-portal.js";

/**
 * Issue 16 in a real headless Chromium: the customer page says "120 points
 * expire on 31 March 2027" and lists the lots, marks points within the
 * warning days as expiring soon; the dashboard shows the points expiring in
 * the next 30 days; the program page sets the policy. At 390 and 1280 px,
 * without sideways scrolling; screenshots in test-results/screenshots/.
 * Lots are dated with SQL (controlled time).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SCREENSHOTS = fileURLToPath(new URL("../../test-results/screenshots/", import.meta.url));
const WAIT = { timeout: 10_000 };
let t: TestApp;
let browser: Browser;
let b: Business;
let customerId = "";
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  [t, browser] = await Promise.all([
    startAppWithPortal(),
    chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] }),
  ]);
  b = await registerBusiness(t.url, { pointsExpireAfterMonths: 12, expiryWarningDays: 14 });
  const c = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353871239000", amount: 120 }, headers: posAuth(b) });
  customerId = c.body.customerId;
  // Earned on 10 March 2026 in Dublin: counts through 31 March 2027.
  await t.sql(
    `update point_lot set earned_at = '2026-03-10T12:00:00Z', expires_at = '2027-03-31T23:00:00Z' where customer_id = $1`,
    [customerId],
  );
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

async function open(width: number): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL: t.url, viewport: { width, height: 900 }, locale: "en-IE", timezoneId: "UTC" });
  const exp = Math.floor(Date.now() / 1000) + 3600;
  await context.addInitScript(
    ([token, email, expiry]) => localStorage.setItem("loyalty-plus.portal.session", JSON.stringify({ token, exp: expiry, email })),
    [b.token, b.email, exp] as const,
  );
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("pageerror", (err) => pageErrors.push(err.message));
  return { context, page };
}

const expectText = (locator: Locator, expected: RegExp) => expect.poll(() => locator.first().innerText(), WAIT).toMatch(expected);
const noSidewaysScroll = async (page: Page) =>
  expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);

test("the customer page: the next expiry as a sentence, the lots, expiring soon; the dashboard's 30 days; at 1280 and 390 px", async () => {
  for (const width of [1280, 390]) {
    const { context, page } = await open(width);
    await page.goto(`/portal/#/customers/${customerId}`);
    await expectText(page.getByTestId("next-expiry"), /^120 points expire on 31 March 2027$/);
    await expect.poll(() => page.getByTestId("lot-row").count(), WAIT).toBe(1);
    await expectText(page.getByTestId("lot-row"), /10 Mar 2026\s+120\s+120\s+31 March 2027\s+Counting/);
    await noSidewaysScroll(page);
    await page.screenshot({ path: `${SCREENSHOTS}customer-expiry-${width}.png`, fullPage: true });
    await context.close();
  }

  // A second lot that stops counting in 5 days: within the 14 warning days, and the soonest.
  await rest(t.url, "POST", "/v1/pos/checkin", { body: { customerId, amount: 30 }, headers: posAuth(b) });
  await t.sql(`update point_lot set expires_at = date_trunc('day', now()) + interval '5 days' where customer_id = $1 and points = 30`, [customerId]);
  for (const width of [1280, 390]) {
    const { context, page } = await open(width);
    await page.goto(`/portal/#/customers/${customerId}`);
    await expectText(page.getByTestId("next-expiry"), /^Expiring soon 30 points expire on \d{1,2} \w+ \d{4}$/);
    await expectText(page.getByTestId("expiry-list"), /120 points on 31 March 2027/);
    await expect.poll(() => page.getByTestId("lot-row").count(), WAIT).toBe(2);
    await noSidewaysScroll(page);
    await page.screenshot({ path: `${SCREENSHOTS}customer-expiry-soon-${width}.png`, fullPage: true });

    await page.goto(`/portal/#/dashboard`);
    await expectText(page.getByTestId("stat-points-expiring-value"), /^30$/);
    await expectText(page.getByTestId("stat-points-expiring"), /Points expiring in the next 30 days/);
    await noSidewaysScroll(page);
    await page.screenshot({ path: `${SCREENSHOTS}dashboard-expiry-${width}.png`, fullPage: true });
    await context.close();
  }
  expect(pageErrors).toEqual([]);
}, 120_000);

test("the program page sets the policy", async () => {
  const { context, page } = await open(1280);
  await page.goto(`/portal/#/program`);
  const months = page.locator('input[name="pointsExpireAfterMonths"]');
  await expect.poll(() => months.inputValue(), WAIT).toBe("12");
  await months.fill("6");
  await page.locator('input[name="expiryWarningDays"]').fill("30");
  await page.getByRole("button", { name: "Save program" }).click();
  await expectText(page.getByTestId("program-notice"), /Program saved/);
  const p = await rest(t.url, "GET", "/v1/owner/program", { headers: ownerAuth(b) });
  expect(p.body.program).toMatchObject({ pointsExpireAfterMonths: 6, expiryWarningDays: 30 });
  await noSidewaysScroll(page);
  await page.screenshot({ path: `${SCREENSHOTS}program-expiry-1280.png`, fullPage: true });
  await context.close();
  expect(pageErrors).toEqual([]);
}, 60_000);
