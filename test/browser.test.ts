import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startAppWithPortal } from "./portal/start-with-portal.js";
import { rest } from "./support/rest.js";
import type { TestApp } from "./support/test-app.js";

/**
 * The admin portal end to end, as a new owner uses it: a real headless
 * Chromium (Debian's package) against the real server, PostgreSQL and Redis,
 * and the POS API called from the test with the key read from the page.
 * The tests run in order and share one owner, one key and one customer.
 * Screenshots of the main pages go to test-results/screenshots/.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SCREENSHOTS = fileURLToPath(new URL("../test-results/screenshots/", import.meta.url));
const PHONE = "+353123456789";
const PASSWORD = "correct horse battery staple";
const WAIT = { timeout: 10_000 };

let t: TestApp;
let browser: Browser;
let page: Page;
const cspViolations: string[] = [];
const pageErrors: string[] = [];
const owner = { email: `owner-${process.pid}-${Date.now()}@example.com`, apiKey: "", prefix: "", customerId: "" };

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  mkdirSync(SCREENSHOTS, { recursive: true });
  [t, browser] = await Promise.all([
    startAppWithPortal(),
    chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    }),
  ]);
  const context = await browser.newContext({ baseURL: t.url, viewport: { width: 1280, height: 900 }, locale: "en-IE", timezoneId: "UTC" });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on("pageerror", (err) => pageErrors.push(err.message));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

/** The POS API as a till calls it: REST with the key read from the page. */
const pos = (method: string, path: string, body?: unknown) => rest(t.url, method, path, { body, headers: { "x-api-key": owner.apiKey } });
const checkin = () => pos("POST", "/v1/pos/checkin", { phone: PHONE, amount: 25.5 });

const nav = (name: string | RegExp) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name });
const shot = (name: string) => page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
/** Waits until a locator's text matches (playwright-core has no auto-retrying expect). */
const expectText = (locator: Locator, expected: RegExp) => expect.poll(() => locator.first().innerText(), WAIT).toMatch(expected);

async function openCustomer() {
  await nav("Customers").click();
  await page.getByRole("heading", { name: "Customers", level: 1 }).waitFor();
  await page.getByRole("link", { name: PHONE }).or(page.getByRole("link", { name: "Aoife Byrne" })).first().click();
  await page.getByTestId("history-table").waitFor();
}

describe("admin portal in Chromium", () => {
  test("serves the portal at /portal/ with a self-only CSP and hash routing", async () => {
    const root = await fetch(`${t.url}/`, { redirect: "manual" });
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/portal/");
    const bare = await fetch(`${t.url}/portal`, { redirect: "manual" });
    expect(bare.status).toBe(301);
    expect(bare.headers.get("location")).toBe("/portal/");
    const index = await fetch(`${t.url}/portal/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toMatch(/^text\/html/);
    expect(index.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(index.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(await index.text()).toContain('<div id="root"></div>');
    const deep = await fetch(`${t.url}/portal/customers/anything`);
    expect(deep.status).toBe(200);
    expect((await fetch(`${t.url}/portal/assets/missing.js`)).status).toBe(404);
  });

  test("signs up a business and lands on the dashboard", async () => {
    await page.goto("/portal/");
    await page.getByRole("heading", { name: "Log in to your Admin Portal" }).waitFor();
    await page.getByRole("link", { name: "Sign up" }).click();
    await page.getByRole("heading", { name: "Create your business account" }).waitFor();
    await page.getByLabel("Business name").fill("Café Bleu");
    await page.getByLabel("Email").fill(owner.email);
    await page.getByLabel("Password").fill(PASSWORD);
    await shot("signup");
    await page.getByRole("button", { name: "Sign up" }).click();
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    expect(page.url()).toMatch(/\/portal\/#\/dashboard$/);
    await expectText(page.getByTestId("stat-total-customers-value"), /^0$/);
    await expectText(page.getByTestId("account-email"), /Café Bleu/);

    // The same email again: the API's error appears in the sign-up form.
    const other = await browser.newPage({ baseURL: t.url });
    await other.goto("/portal/#/signup");
    await other.getByLabel("Business name").fill("Copycat");
    await other.getByLabel("Email").fill(owner.email);
    await other.getByLabel("Password").fill(PASSWORD);
    await other.getByRole("button", { name: "Sign up" }).click();
    await expectText(other.getByTestId("signup-form").getByRole("alert"), /^An account with this email already exists\.$/);
    await other.close();
  });

  test("creates an API key under API keys, shown once, and the key works for a REST check-in", async () => {
    await nav("API keys").click();
    await page.getByRole("heading", { name: "API keys", level: 1 }).waitFor();
    await page.getByLabel("Key name (optional)").fill("Front till");
    await page.getByRole("button", { name: "Create API key" }).click();
    const keyBox = page.getByTestId("new-api-key");
    await keyBox.waitFor();
    owner.apiKey = await keyBox.inputValue();
    expect(owner.apiKey).toMatch(/^loy_[A-Za-z0-9]{32}$/);
    owner.prefix = owner.apiKey.slice(0, 8);
    await expectText(page.getByTestId("new-key-panel"), /shown only once/);
    await page.getByRole("button", { name: "Copy" }).click();
    await expectText(page.getByTestId("new-key-panel"), /Copied to the clipboard|Ctrl\+C/);
    const row = page.locator(`[data-testid="api-key-row"][data-prefix="${owner.prefix}"]`);
    await expectText(row, /Front till/);
    await expectText(row.getByTestId("api-key-last-used"), /Never/);
    await expectText(row.getByTestId("api-key-status"), /Active/);
    await shot("api-keys");

    const res = await checkin();
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ success: true, pointsAwarded: 25, totalPoints: 25, rewardThreshold: 100, rewardAvailable: false });
    owner.customerId = res.body.customerId;

    // Shown once: after a reload the page lists the key by its prefix only, now with its last use.
    await expect
      .poll(async () => {
        await page.reload();
        await row.waitFor();
        return row.getByTestId("api-key-last-used").innerText();
      }, WAIT)
      .not.toBe("Never");
    expect(await page.getByTestId("new-api-key").count()).toBe(0);
    expect(await page.content()).not.toContain(owner.apiKey);
  });

  test("finds the customer and sees the check-in in their points history", async () => {
    await nav("Customers").click();
    await page.getByRole("heading", { name: "Customers", level: 1 }).waitFor();
    await page.getByLabel("Search").fill("123456789");
    await expect.poll(() => page.url(), WAIT).toContain("search=123456789");
    await expectText(page.getByTestId("customer-count"), /^1 customer match/);
    const row = page.getByTestId("customer-row");
    await expectText(row, /\+353123456789/);
    await expectText(row, /Active/);
    await page.getByLabel("Search").fill("no such person");
    await expectText(page.getByTestId("customer-count"), /No customers match/);
    await page.getByLabel("Search").fill("");
    await expectText(page.getByTestId("customer-count"), /^1 customer$/);

    await page.getByRole("link", { name: PHONE }).click();
    await page.getByTestId("history-table").waitFor();
    expect(page.url()).toContain(`#/customers/${owner.customerId}`);
    const first = page.getByTestId("history-row").first();
    await expectText(first, /Check-in/);
    await expectText(first, /Visit/);
    await expectText(first, /\+25/);
    await expectText(first, new RegExp(`Till “Front till” \\(${owner.prefix}…\\)`));
    await expectText(page.getByTestId("customer-balance-value"), /^25$/);
  });

  test("adds and deducts points with a reason; the API's refusal shows next to the form", async () => {
    const form = page.getByTestId("adjust-form");
    await form.getByLabel("Points", { exact: true }).fill("10");
    await form.getByLabel("Reason").fill("Birthday bonus");
    await form.getByRole("button", { name: "Add points" }).click();
    await expectText(page.getByTestId("adjust-notice"), /^Added 10 points\. New balance: 35 points\.$/);
    await expectText(page.getByTestId("customer-balance-value"), /^35$/);
    await expectText(page.getByTestId("history-row").first(), /Adjustment\s+Birthday bonus\s+\+10\s+35\s+Owner/);

    await form.getByLabel("Deduct points").check();
    await form.getByLabel("Points", { exact: true }).fill("100");
    await form.getByLabel("Reason").fill("Mistake");
    await form.getByRole("button", { name: "Deduct points" }).click();
    // The refusal says the balance (the API's "insufficient points" in the portal's words).
    await expectText(page.getByTestId("adjust-error"), /^\+353123456789 has 35 points, so you can deduct at most 35\.$/);
    await expectText(page.getByTestId("customer-balance-value"), /^35$/);

    const balance = await pos("GET", `/v1/pos/balance/${encodeURIComponent(PHONE)}`);
    expect(balance.body).toEqual({ customerId: owner.customerId, totalPoints: 35 });
  });

  test("edits the customer's name and notes; a bad phone number is refused in the form", async () => {
    const form = page.getByTestId("edit-form");
    await form.getByLabel("Phone").fill("12");
    await form.getByRole("button", { name: "Save details" }).click();
    await expectText(page.getByTestId("edit-error"), /^That doesn’t look like a phone number\./);

    await form.getByLabel("Phone").fill(PHONE);
    await form.getByLabel("Name").fill("Aoife Byrne");
    await form.getByLabel("Notes").fill("Flat white, oat milk");
    await form.getByRole("button", { name: "Save details" }).click();
    await expectText(page.getByTestId("edit-notice"), /Details saved/);
    await expectText(page.getByTestId("customer-title"), /^Aoife Byrne$/);
    const pc = await pos("GET", `/v1/pos/customer/${owner.customerId}`);
    expect(pc.body).toMatchObject({ name: "Aoife Byrne", phone: PHONE, status: "ACTIVE", totalPoints: 35 });
  });

  test("blocks the customer; the till's check-in is refused with 403 until unblocked", async () => {
    await page.getByRole("button", { name: "Block customer" }).click();
    await expectText(page.getByTestId("customer-status"), /^Blocked$/);
    await page.getByRole("button", { name: "Unblock customer" }).waitFor();

    const refused = await checkin();
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({ success: false, error: { code: "permission_denied", message: "customer is blocked" } });

    // The status filter finds the blocked customer, and only under Blocked.
    await nav("Customers").click();
    await page.getByLabel("Status").selectOption("BLOCKED");
    await expectText(page.getByTestId("customer-count"), /^1 customer match/);
    await expectText(page.getByTestId("customer-row"), /Aoife Byrne[\s\S]*Blocked/);
    await page.getByLabel("Status").selectOption("ACTIVE");
    await expectText(page.getByTestId("customer-count"), /No customers match/);
    await page.getByLabel("Status").selectOption("");
    await expectText(page.getByTestId("customer-row"), /Aoife Byrne[\s\S]*35/);
    await shot("customers");

    await openCustomer();
    await page.getByRole("button", { name: "Unblock customer" }).click();
    await expectText(page.getByTestId("customer-status"), /^Active$/);
    const again = await checkin();
    expect(again.status).toBe(200);
    expect(again.body.totalPoints).toBe(60);
    await page.reload();
    await expectText(page.getByTestId("customer-balance-value"), /^60$/);
    await shot("customer-detail");
  });

  test("program settings: reward threshold and title are saved and used by the POS", async () => {
    await nav("Program").click();
    const form = page.getByTestId("program-form");
    await form.waitFor();
    expect(await form.getByLabel("Spend", { exact: false }).first().isChecked()).toBe(true);
    await form.getByLabel("Reward threshold").fill("50");
    await form.getByLabel("Reward title").fill("   ");
    await form.getByRole("button", { name: "Save program" }).click();
    await expectText(page.getByTestId("program-error"), /^Reward title is required\.$/);

    await form.getByLabel("Reward title").fill("Free Coffee");
    await form.getByLabel("Points per €1.00 spent").fill("1.5");
    await expectText(page.getByTestId("program-example"), /€25\.50 earns 38 points/);
    await form.getByLabel("Points per €1.00 spent").fill("1");
    await form.getByRole("button", { name: "Save program" }).click();
    await expectText(page.getByTestId("program-notice"), /Program saved/);
    await page.reload();
    await form.waitFor();
    expect(await form.getByLabel("Reward threshold").inputValue()).toBe("50");
    expect(await form.getByLabel("Reward title").inputValue()).toBe("Free Coffee");
    await shot("program");

    // The till redeems one reward at the new price; the dashboard will count it.
    const redeem = await pos("POST", "/v1/pos/redeem", { phone: PHONE, points: 50 });
    expect(redeem.status).toBe(200);
    expect(redeem.body).toMatchObject({ success: true, pointsRedeemed: 50, rewardTitle: "Free Coffee", remainingPoints: 10 });
  });

  test("the dashboard shows customers and points issued and redeemed over 30 days", async () => {
    await nav("Dashboard").click();
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    await expectText(page.getByTestId("stat-total-customers-value"), /^1$/);
    // 25 + 10 (adjustment) + 25 issued; 50 redeemed; the failed deduction counts nowhere.
    await expectText(page.getByTestId("stat-points-issued-value"), /^60$/);
    await expectText(page.getByTestId("stat-points-redeemed-value"), /^50$/);
    await expectText(page.getByTestId("stat-rewards-available-value"), /^0$/);
    await expectText(page.getByTestId("stat-rewards-available"), /50\+ points for “Free Coffee”/);
    expect(await page.getByTestId("points-chart").locator("rect.bar-issued").count()).toBe(30);
    await page.getByRole("button", { name: "Show as table" }).click();
    // Days in the one date format of the portal ("2 Nov 2026"), not 2026-11-02.
    const today = new Intl.DateTimeFormat("en-IE", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" }).format(new Date());
    await expectText(page.getByTestId("points-chart").getByRole("row").filter({ hasText: today }), /60\s+50/);
    await page.getByRole("button", { name: "Hide table" }).click();
    await shot("dashboard");
    await page.setViewportSize({ width: 768, height: 1024 });
    await shot("dashboard-tablet");
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test("stores: adds a store and lists it; a blank name is refused in the form", async () => {
    await nav("Stores").click();
    const form = page.getByTestId("store-form");
    await form.getByLabel("Store name").fill("  ");
    await form.getByRole("button", { name: "Add store" }).click();
    await expectText(page.getByTestId("store-error"), /^Name is required\.$/);
    await form.getByLabel("Store name").fill("Main Street");
    await form.getByRole("button", { name: "Add store" }).click();
    await expectText(page.getByTestId("store-notice"), /Main Street/);
    await expectText(page.getByTestId("store-row"), /Main Street/);
    await shot("stores");
  });

  test("revokes the key behind a confirmation; the key is refused with 401", async () => {
    await nav("API keys").click();
    const row = page.locator(`[data-testid="api-key-row"][data-prefix="${owner.prefix}"]`);
    await row.getByRole("button", { name: "Revoke key “Front till”" }).click();
    const dialog = page.getByRole("dialog");
    await expectText(dialog, /^Revoke “Front till”\?[\s\S]*stops working at once/);
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect((await checkin()).status).toBe(200);

    await row.getByRole("button", { name: "Revoke key “Front till”" }).click();
    await dialog.getByRole("button", { name: "Revoke key" }).click();
    await expectText(page.getByTestId("revoke-notice"), /^Key “Front till” revoked\./);
    // Revoked keys are folded away under their own heading.
    await row.waitFor({ state: "detached" });
    const folded = page.getByTestId("revoked-keys");
    await expectText(folded.locator("summary"), /^Revoked keys \(1\)$/);
    await folded.locator("summary").click();
    await expectText(folded.locator(`[data-testid="revoked-key"][data-prefix="${owner.prefix}"]`), /Front till[\s\S]*Revoked/);

    const refused = await checkin();
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ success: false, error: { code: "unauthenticated", message: "invalid or revoked API key" } });
  });

  test("the session survives a reload, ends on log out and on expiry; log in works from the keyboard", async () => {
    await page.reload();
    await page.getByRole("heading", { name: "API keys", level: 1 }).waitFor();

    await page.getByRole("button", { name: "Log out" }).click();
    await expectText(page.getByTestId("auth-notice"), /logged out/);
    await page.reload();
    await page.getByRole("heading", { name: "Log in to your Admin Portal" }).waitFor();

    // A wrong password: the API's message, next to the form.
    await page.getByLabel("Email").fill(owner.email);
    await page.getByLabel("Password").fill("wrong password!");
    await page.getByRole("button", { name: "Log in" }).click();
    await expectText(page.getByTestId("login-form").getByRole("alert"), /^Invalid email or password\.$/);

    // Keyboard only: Tab between the fields, Enter submits; the focus is visible.
    await page.getByLabel("Email").fill("");
    await page.getByLabel("Email").focus();
    await page.keyboard.type(owner.email);
    await page.keyboard.press("Tab");
    await page.keyboard.press("Control+A");
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Log in");
    expect(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)).not.toBe("none");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    // After a log-in the header names the business (GET /v1/owner/account), not the email.
    await expectText(page.getByTestId("account-email"), /Café Bleu/);

    // An open tab ends the session when the token's exp passes (12 h; the clock is fast-forwarded).
    const stored = await page.evaluate(() => localStorage.getItem("loyalty-plus.portal.session")!);
    const idle = await browser.newContext({ baseURL: t.url });
    await idle.addInitScript((value) => {
      if (!sessionStorage.getItem("seeded")) {
        localStorage.setItem("loyalty-plus.portal.session", value);
        sessionStorage.setItem("seeded", "1");
      }
    }, stored);
    const tab = await idle.newPage();
    await tab.clock.install();
    await tab.goto("/portal/#/dashboard");
    await tab.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    await tab.clock.fastForward("11:59:00");
    expect(await tab.getByRole("heading", { name: "Dashboard", level: 1 }).isVisible()).toBe(true);
    await tab.clock.fastForward("00:01:30");
    await expectText(tab.getByTestId("auth-notice"), /session has expired/);
    await idle.close();

    // A token past its exp: the portal does not use it and asks to log in again.
    await page.evaluate(() => {
      const key = "loyalty-plus.portal.session";
      const s = JSON.parse(localStorage.getItem(key)!);
      const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
      const exp = Math.floor(Date.now() / 1000) - 60;
      localStorage.setItem(key, JSON.stringify({ ...s, token: `${b64({ alg: "HS256" })}.${b64({ exp })}.x`, exp }));
    });
    await page.reload();
    await expectText(page.getByTestId("auth-notice"), /session has expired/);
    expect(await page.evaluate(() => localStorage.getItem("loyalty-plus.portal.session"))).toBeNull();

    // A token the server refuses (not expired by its claim): the first call ends the session.
    await page.evaluate(() => {
      const b64 = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
      const exp = Math.floor(Date.now() / 1000) + 3600;
      localStorage.setItem("loyalty-plus.portal.session", JSON.stringify({ token: `${b64({ alg: "HS256" })}.${b64({ exp })}.forged`, exp, email: "x@example.com" }));
    });
    await page.goto("/portal/#/customers");
    await page.reload();
    await expectText(page.getByTestId("auth-notice"), /session has expired/);
    expect(await page.evaluate(() => localStorage.getItem("loyalty-plus.portal.session"))).toBeNull();

    // Logging in again returns to the page that was asked for.
    await page.getByLabel("Email").fill(owner.email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "Customers", level: 1 }).waitFor();
    // A long scenario (three browser contexts, a fast-forwarded clock): room for a loaded machine.
  }, 90_000);

  test("fits a tablet screen without sideways scrolling", async () => {
    await page.setViewportSize({ width: 768, height: 1024 });
    for (const name of ["Dashboard", "Customers", "Program", "Stores", "API keys"]) {
      await nav(name).click();
      await page.getByRole("heading", { level: 1 }).waitFor();
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(768);
    }
    await openCustomer();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(768);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test("deletes the customer only after confirming", async () => {
    await openCustomer();
    await page.getByRole("button", { name: "Delete customer…" }).click();
    const dialog = page.getByRole("dialog");
    await expectText(dialog, /Delete Aoife Byrne\?/);
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    await page.getByTestId("customer-title").waitFor();

    await page.getByRole("button", { name: "Delete customer…" }).click();
    await dialog.getByRole("button", { name: "Delete permanently" }).click();
    await expectText(page.getByTestId("deleted-notice"), /deleted permanently/);
    await expectText(page.getByTestId("customer-count"), /^No customers$/);
    const rows = await t.sql<{ n: string }>("select count(*) as n from customer where id = $1", [owner.customerId]);
    expect(Number(rows[0]!.n)).toBe(0);
  });

  test("adds a customer by hand, then sorts and pages through 25 customers", async () => {
    await nav("Customers").click();
    await page.getByRole("button", { name: "Add a customer" }).click();
    const form = page.getByRole("form", { name: "Add a customer" });
    await form.getByLabel("Name").fill("Zoe Zimmer");
    await form.getByLabel("Phone").fill("087 123 4567");
    await form.getByLabel("Opening points").fill("5");
    await form.getByRole("button", { name: "Add customer" }).click();
    await expectText(page.getByTestId("customer-title"), /^Zoe Zimmer$/);
    await expectText(page.getByTestId("history-row").first(), /Opening balance\s+Initial points\s+\+5/);
    await expectText(page.locator(".stat-value.mono"), /^\+353871234567$/);

    // 24 more through the API, with the owner's token from the portal's session.
    const token = await page.evaluate(() => JSON.parse(localStorage.getItem("loyalty-plus.portal.session")!).token as string);
    for (let i = 1; i <= 24; i++) {
      const nn = String(i).padStart(2, "0");
      const res = await rest(t.url, "POST", "/v1/owner/customers", {
        body: { name: `Customer ${nn}`, phone: `+3538700000${nn}`, initialPoints: i },
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
    }

    await nav("Customers").click();
    await page.getByLabel("Per page").selectOption("10");
    await expectText(page.getByTestId("customer-count"), /^25 customers$/);
    await expectText(page.getByTestId("page-info"), /^Page 1 of 3$/);
    await page.getByLabel("Sort by").selectOption("totalPoints");
    await expectText(page.getByTestId("customer-row").first(), /Customer 24[\s\S]*24/);
    await page.getByLabel("Order").selectOption("asc");
    await expectText(page.getByTestId("customer-row").first(), /Customer 01/);
    await page.getByRole("button", { name: "Next page" }).click();
    await expectText(page.getByTestId("page-info"), /^Page 2 of 3$/);
    await expectText(page.getByTestId("customer-row").first(), /Customer 10/);
    await expect.poll(() => page.getByTestId("customer-row").count(), WAIT).toBe(10);
    await page.getByRole("button", { name: "Next page" }).click();
    await expectText(page.getByTestId("page-info"), /^Page 3 of 3$/);
    await expect.poll(() => page.getByTestId("customer-row").count(), WAIT).toBe(5);
    expect(await page.getByRole("button", { name: "Next page" }).isDisabled()).toBe(true);
    // The filters live in the URL: a reload keeps them.
    await page.reload();
    await expectText(page.getByTestId("page-info"), /^Page 3 of 3$/);
    expect(await page.getByLabel("Sort by").inputValue()).toBe("totalPoints");
    await page.getByLabel("Search").fill("Customer 2");
    await expectText(page.getByTestId("customer-count"), /^5 customers match/);
    await expectText(page.getByTestId("page-info"), /^Page 1 of 1$/);
  });

  test("the pages loaded under the CSP without violations or script errors", () => {
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
