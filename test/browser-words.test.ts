import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { expectText, ownerPage, startHarness, WAIT, type Harness } from "./portal/browser-harness.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";

/**
 * Issue 18, item 3, in real Chromium: words an owner reads without help —
 * plurals, a country picker by name, the server's refusals in plain words
 * (with the balance, formatted bounds, when to retry), amounts in the
 * program's currency, one date format, the chart's last day labelled.
 */

let h: Harness;
let b: Business;
let customerId = "";
const PHONE = "+353871234500";
const DAY = /^\d{1,2} [A-Z][a-z]{2} \d{4}$/;
const DAY_TIME = /^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}$/;
const today = (opts: Intl.DateTimeFormatOptions) => new Intl.DateTimeFormat("en-IE", { ...opts, timeZone: "UTC" }).format(new Date());

beforeAll(async () => {
  h = await startHarness();
  b = await registerBusiness(h.t.url);
  const c = await rest(h.t.url, "POST", "/v1/pos/checkin", { body: { phone: PHONE, amount: 35 }, headers: posAuth(b) });
  expect(c.status).toBe(200);
  customerId = c.body.customerId;
  expect((await rest(h.t.url, "POST", "/v1/owner/stores", { body: { name: "Main Street" }, headers: ownerAuth(b) })).status).toBe(200);
}, 120_000);

afterAll(async () => {
  await h?.close();
});

describe("words in the portal", () => {
  test("plurals: “Every check-in earns 1 point.”, 2 points", async () => {
    expect((await rest(h.t.url, "PATCH", "/v1/owner/program", { body: { mode: "VISIT", pointsPerVisit: 1 }, headers: ownerAuth(b) })).status).toBe(200);
    const { context, page } = await ownerPage(h, b);
    await page.goto("/portal/#/program");
    await expectText(page.getByTestId("program-example"), /^Every check-in earns 1 point\.$/);
    await page.getByLabel("Points per visit").fill("2");
    await expectText(page.getByTestId("program-example"), /^Every check-in earns 2 points\.$/);
    await context.close();
    expect((await rest(h.t.url, "PATCH", "/v1/owner/program", { body: { mode: "SPEND" }, headers: ownerAuth(b) })).status).toBe(200);
  });

  test("the country is picked by name and saved as its ISO code; sign-up offers the same list", async () => {
    const { context, page } = await ownerPage(h, b);
    await page.goto("/portal/#/program");
    const country = page.getByLabel("Country for local phone numbers");
    await country.waitFor();
    expect(await country.evaluate((el) => el.tagName)).toBe("SELECT");
    expect(await country.evaluate((el: HTMLSelectElement) => el.selectedOptions[0]!.textContent)).toBe("Ireland");
    await country.selectOption({ label: "United Kingdom" });
    await page.getByRole("button", { name: "Save program" }).click();
    await expectText(page.getByTestId("program-notice"), /Program saved/);
    expect((await rest(h.t.url, "GET", "/v1/owner/program", { headers: ownerAuth(b) })).body.program.defaultCountry).toBe("GB");
    await country.selectOption({ label: "Ireland" });
    await page.getByRole("button", { name: "Save program" }).click();
    await expectText(page.getByTestId("program-notice"), /Program saved/);
    expect((await rest(h.t.url, "GET", "/v1/owner/program", { headers: ownerAuth(b) })).body.program.defaultCountry).toBe("IE");

    const signup = await h.browser.newPage({ baseURL: h.t.url, locale: "en-IE" });
    await signup.goto("/portal/#/signup");
    const picker = signup.getByLabel("Country");
    expect(await picker.evaluate((el: HTMLSelectElement) => el.selectedOptions[0]!.textContent)).toBe("Ireland");
    const names = await picker.evaluate((el: HTMLSelectElement) => Array.from(el.options).map((o) => [o.value, o.textContent]));
    expect(names).toContainEqual(["FR", "France"]);
    expect(names).toContainEqual(["DE", "Germany"]);
    expect(names.length).toBeGreaterThan(200);
    await signup.close();
    await context.close();
  });

  test("amounts in the program's currency", async () => {
    const { context, page } = await ownerPage(h, b);
    await page.goto("/portal/#/program");
    await expectText(page.getByTestId("program-example"), /^A purchase of €25\.50 earns 25 points\.$/);
    await page.getByLabel("Currency").selectOption("GBP");
    await expectText(page.getByTestId("program-example"), /^A purchase of £25\.50 earns 25 points\.$/);
    await page.getByLabel("Points per £1.00 spent").waitFor();
    await page.getByRole("button", { name: "Save program" }).click();
    await expectText(page.getByTestId("program-notice"), /Program saved/);
    expect((await rest(h.t.url, "GET", "/v1/owner/program", { headers: ownerAuth(b) })).body.program.currency).toBe("GBP");
    await page.reload();
    await expectText(page.getByTestId("program-example"), /^A purchase of £25\.50 earns 25 points\.$/);
    await context.close();
  });

  test("the server's refusals in plain words: phone, balance, bounds; no negative while “Add” is chosen", async () => {
    const { context, page } = await ownerPage(h, b);
    await page.goto(`/portal/#/customers/${customerId}`);
    const edit = page.getByTestId("edit-form");
    await edit.getByLabel("Phone").fill("12");
    await edit.getByRole("button", { name: "Save details" }).click();
    await expectText(page.getByTestId("edit-error"), /^That doesn’t look like a phone number\. Type it with its country code \(\+353 87 123 4567\) or as a local number \(087 123 4567\)\.$/);

    const form = page.getByTestId("adjust-form");
    const points = form.getByLabel("Points", { exact: true });
    await form.getByLabel("Deduct points").check();
    await points.fill("100");
    await form.getByLabel("Reason").fill("Mistake");
    await form.getByRole("button", { name: "Deduct points" }).click();
    await expectText(page.getByTestId("adjust-error"), /^\+353871234500 has 35 points, so you can deduct at most 35\.$/);
    expect((await rest(h.t.url, "GET", `/v1/owner/customers/${customerId}`, { headers: ownerAuth(b) })).body.totalPoints).toBe(35);

    await form.getByLabel("Add points").check();
    // The error went with the change of the form.
    expect(await page.getByTestId("adjust-error").count()).toBe(0);
    await points.fill("-5");
    expect(await points.inputValue()).not.toMatch(/-/);
    await points.fill("20000000");
    await form.getByRole("button", { name: "Add points" }).click();
    await expectText(page.getByTestId("adjust-error"), /^Points must be a whole number from 1 to 10,000,000\.$/);
    await points.fill("1");
    await form.getByRole("button", { name: "Add points" }).click();
    await expectText(page.getByTestId("adjust-notice"), /^Added 1 point\. New balance: 36 points\.$/);
    await context.close();
  });

  test("too many failed log-ins: says when to try again", async () => {
    // Fail until the throttle answers 429, as someone guessing would.
    let last = 0;
    for (let i = 0; i < 30 && last !== 429; i++) {
      last = (await rest(h.t.url, "POST", "/v1/auth/login", { body: { email: b.email, password: "wrong password!" } })).status;
    }
    expect(last).toBe(429);
    const page = await h.browser.newPage({ baseURL: h.t.url, locale: "en-IE", timezoneId: "UTC" });
    await page.goto("/portal/#/login");
    await page.getByLabel("Email").fill(b.email);
    await page.getByLabel("Password").fill(b.password);
    await page.getByRole("button", { name: "Log in" }).click();
    await expectText(
      page.getByTestId("login-form").getByRole("alert"),
      /^Too many failed log-ins for this account\. Try again (now|in \d+ seconds|in \d+ minutes? \(at \d{2}:\d{2}\))\.$/,
    );
    await page.close();
  });

  test("one date format everywhere; the chart's table and its last bar show the day as “2 Nov 2026”", async () => {
    const { context, page } = await ownerPage(h, b);
    await page.goto(`/portal/#/customers/${customerId}`);
    await page.getByTestId("history-row").first().waitFor();
    const when = await page.getByTestId("history-row").evaluateAll((rows) => rows.map((r) => r.querySelector("td")!.textContent));
    expect(when.length).toBeGreaterThan(0);
    for (const w of when) expect(w).toMatch(DAY_TIME);

    await page.goto("/portal/#/stores");
    await expectText(page.getByTestId("store-row").locator("td").nth(2), DAY);

    await page.goto("/portal/#/api-keys");
    await expectText(page.getByTestId("api-key-row").locator("td").nth(2), DAY_TIME);

    await page.goto("/portal/#/customers");
    await expectText(page.getByTestId("customer-row").locator("td").last(), DAY);

    await page.goto("/portal/#/dashboard");
    const labels = page.getByTestId("chart-day-label");
    await labels.first().waitFor();
    expect(await labels.last().textContent()).toBe(today({ day: "numeric", month: "short" }));
    await page.getByRole("button", { name: "Show as table" }).click();
    const days = await page.getByTestId("points-chart").locator("tbody tr td:first-child").allTextContents();
    expect(days).toHaveLength(30);
    for (const d of days) expect(d).toMatch(DAY);
    expect(days.at(-1)).toBe(today({ day: "numeric", month: "short", year: "numeric" }));
    await expect.poll(() => page.getByTestId("points-chart").getByRole("row").filter({ hasText: days.at(-1)! }).innerText(), WAIT).toMatch(/36\s+0$/);
    await context.close();
  });
});
