import { afterAll, beforeAll, describe, expect, test } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { checkLayout, expectText, ownerPage, startHarness, WAIT, type Harness } from "./portal/browser-harness.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";

/**
 * Issue 17, item 4, in real Chromium: the owner adds a webhook endpoint on
 * the Developers page (a refused URL is named next to its field), sees its
 * secret once with the Node snippet, sends a test event to a real receiver on
 * loopback and sees the delivery with its 200 and the answer, resends it
 * (the same webhook-id), disables, enables and rotates; the event list shows
 * the till's check-ins, filters by type and customer and loads more by cursor.
 */

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

let h: Harness;
let b: Business;
let server: http.Server;
let rxUrl: string;
const got: Received[] = [];

beforeAll(async () => {
  h = await startHarness({ jobs: true });
  b = await registerBusiness(h.t.url);
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      got.push({ headers: req.headers, body });
      res.writeHead(200, { "content-type": "text/plain" }).end("thanks, got it");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  rxUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/loyalty`;
}, 120_000);

afterAll(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await h?.close();
});

const endpoints = async () => (await rest(h.t.url, "GET", "/v1/owner/webhooks", { headers: ownerAuth(b) })).body.endpoints as { id: string; url: string; enabled: boolean; eventTypes: string[] }[];
const verified = (secret: string, r: Received) => new Webhook(secret).verify(r.body, r.headers as Record<string, string>) as { id: string; type: string };

describe("the Developers page", () => {
  test("add an endpoint, its secret once, a test delivery with its 200, resend, edit, disable/enable, rotate, delete; events with filters and load more", async () => {
    const { context, page, errors } = await ownerPage(h, b);
    await page.goto("/portal/#/api-keys");
    // The nav entry sits right after API keys.
    const nav = await page.locator("nav.mainnav a").allInnerTexts();
    expect(nav.slice(nav.indexOf("API keys"), nav.indexOf("API keys") + 2)).toEqual(["API keys", "Developers"]);
    await page.getByTestId("nav-developers").click();
    await expectText(page.locator("h1"), /^Developers$/);
    await expectText(page.getByTestId("endpoint-list").or(page.getByText("No endpoint yet.")), /No endpoint yet\./);

    // A private address is refused next to the URL field; nothing is written.
    const form = page.getByTestId("endpoint-form");
    await form.getByLabel("URL").fill("http://10.0.0.1/hook");
    await form.getByRole("button", { name: "Add endpoint" }).click();
    await expectText(page.getByTestId("endpoint-url-error"), /^Url .*private/i);
    expect(await endpoints()).toEqual([]);

    // Two chosen event types, then the secret, shown once.
    await form.getByLabel("URL").fill(rxUrl);
    await form.getByLabel("Description (optional)").fill("CRM sync");
    await form.getByLabel("All events, including types added later").uncheck();
    await form.getByLabel("checkin.created").check();
    await form.getByLabel("customer.created").check();
    await form.getByRole("button", { name: "Add endpoint" }).click();
    const panel = page.getByTestId("new-secret-panel");
    await expectText(panel, /Copy this secret now: it is shown only once\./);
    const secret = await page.getByTestId("new-webhook-secret").inputValue();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/=]{20,}$/);
    const snippet = await page.getByTestId("verify-snippet").innerText();
    expect(snippet).toContain('import { Webhook } from "standardwebhooks";');
    expect(snippet).toContain("new Webhook(secret)\n  .verify(body, headers);");
    expect(snippet).not.toContain(secret); // only its start is shown in the snippet
    await panel.getByRole("button", { name: "Copy" }).click();
    await expectText(page.getByTestId("secret-copy-notice"), /^Copied to the clipboard\.$/);
    await checkLayout(page, "developers-secret", 390);
    await page.setViewportSize({ width: 1280, height: 900 });
    const [ep] = await endpoints();
    expect(ep).toMatchObject({ url: rxUrl, enabled: true, eventTypes: ["checkin.created", "customer.created"] });

    await page.getByTestId("secret-done").click();
    expect(await page.getByTestId("new-webhook-secret").count()).toBe(0);
    const row = page.locator(`[data-endpoint-id="${ep!.id}"]`);
    await expectText(row.getByTestId("endpoint-state"), /^Enabled$/);
    await expectText(row.getByTestId("endpoint-types"), /^checkin\.created, customer\.created$/);
    await expectText(row, /CRM sync/);
    // Once dismissed the secret is nowhere on the page, nor after a reload.
    expect(await page.content()).not.toContain(secret);
    await page.reload();
    await expectText(row.getByTestId("endpoint-state"), /^Enabled$/);
    expect(await page.content()).not.toContain(secret);

    // A test event: delivered to the receiver, signed with the secret, 200 shown with the answer.
    await row.getByRole("button", { name: "Send test event" }).click();
    await expectText(page.getByTestId("endpoint-notice"), new RegExp(`^Test event sent to ${rxUrl.replace(/[.]/g, "\\.")}\\.$`));
    const delivery = row.getByTestId("delivery").first();
    await expectText(delivery.getByTestId("delivery-status"), /^Delivered$/);
    await expectText(delivery.getByTestId("attempt-status"), /^HTTP 200 · \d+ ms · /);
    await expectText(delivery.getByTestId("attempt-answer"), /^thanks, got it$/);
    expect(got).toHaveLength(1);
    const first = verified(secret, got[0]!);
    expect(first.type).toBe("webhook.test");
    expect(got[0]!.headers["webhook-id"]).toBe(first.id);

    // Resend: a second attempt with the same webhook-id.
    await delivery.getByRole("button", { name: "Resend" }).click();
    await expectText(delivery.getByTestId("resend-notice"), /^Sent again with the same webhook-id\.$/);
    await expect.poll(() => got.length, WAIT).toBe(2);
    expect(verified(secret, got[1]!).id).toBe(first.id);
    await expect.poll(() => delivery.getByTestId("attempt").count(), WAIT).toBe(2);
    await expectText(delivery, /2 attempts/);

    // The till: 11 new customers check in → 22 events (customer.created + checkin.created each).
    const customers: string[] = [];
    for (let i = 0; i < 11; i++) {
      const c = await rest(h.t.url, "POST", "/v1/pos/checkin", { body: { phone: `+3538712340${String(i).padStart(2, "0")}`, amount: 10 + i }, headers: posAuth(b) });
      expect(c.status, c.text).toBe(200);
      customers.push(c.body.customerId);
    }
    // Delivered too: the two subscribed types of every check-in.
    await expect.poll(() => got.length, { timeout: 30_000 }).toBe(2 + 22);
    await page.reload();
    const events = page.getByTestId("event");
    await expect.poll(() => events.count(), WAIT).toBe(20);
    await expectText(events.first(), /checkin\.created/);
    await expectText(events.first(), new RegExp(`customer ${customers[10]}`));
    await page.getByRole("button", { name: "Load more" }).click();
    await expect.poll(() => events.count(), WAIT).toBe(22);
    expect(await page.getByRole("button", { name: "Load more" }).count()).toBe(0);
    // The test sends are not among them (listed only when their type is asked for).
    expect(await page.locator('[data-testid="event"][data-event-type="webhook.test"]').count()).toBe(0);

    // Filters: by type, then by customer.
    const filters = page.getByTestId("event-filters");
    await filters.getByLabel("Type").selectOption("customer.created");
    await filters.getByRole("button", { name: "Filter" }).click();
    await expect.poll(() => events.count(), WAIT).toBe(11);
    expect(new Set(await events.evaluateAll((els) => els.map((e) => e.getAttribute("data-event-type"))))).toEqual(new Set(["customer.created"]));
    await filters.getByLabel("Type").selectOption("");
    await filters.getByLabel("Customer ID (optional)").fill(customers[3]!);
    await filters.getByRole("button", { name: "Filter" }).click();
    await expect.poll(() => events.count(), WAIT).toBe(2);
    expect((await events.evaluateAll((els) => els.map((e) => e.getAttribute("data-event-type")))).sort()).toEqual(["checkin.created", "customer.created"]);
    for (const text of await events.allInnerTexts()) expect(text).toContain(`customer ${customers[3]}`);
    await filters.getByLabel("Type").selectOption("webhook.test");
    await filters.getByLabel("Customer ID (optional)").fill("");
    await filters.getByRole("button", { name: "Filter" }).click();
    await expect.poll(() => events.count(), WAIT).toBe(1);
    // A customer id that is not one: the refusal next to the filters.
    await filters.getByLabel("Type").selectOption("");
    await filters.getByLabel("Customer ID (optional)").fill("not an id!");
    await filters.getByRole("button", { name: "Filter" }).click();
    await expectText(page.getByTestId("event-filter-error"), /^Customer id /);
    await filters.getByLabel("Customer ID (optional)").fill("");
    await filters.getByRole("button", { name: "Filter" }).click();
    // Back to the unfiltered list: both pages loaded before are shown again.
    await expect.poll(() => events.count(), WAIT).toBe(22);

    // The page at three widths, the deliveries open: nothing sideways.
    await row.getByRole("button", { name: "Show deliveries" }).click();
    await expect.poll(() => row.getByTestId("delivery").count(), WAIT).toBe(10);
    for (const width of [390, 768, 1280]) await checkLayout(page, "developers-webhooks", width);

    // Disable, enable, rotate (the new secret once; both sign for 24 h), delete.
    await row.getByRole("button", { name: "Disable" }).click();
    await expectText(row.getByTestId("endpoint-state"), /^Disabled$/);
    await expectText(row.getByTestId("endpoint-state-note"), /^Disabled by you\.$/);
    expect((await endpoints())[0]!.enabled).toBe(false);
    await row.getByRole("button", { name: "Enable" }).click();
    await expectText(row.getByTestId("endpoint-state"), /^Enabled$/);
    expect((await endpoints())[0]!.enabled).toBe(true);
    // The states the delivery worker sets (3 days of failures, a 410, failing now), as the page words them.
    const setState = (sql: string) => h.t.sql(`update webhook_endpoint set ${sql} where id = $1`, [ep!.id]);
    await setState(`enabled = false, disabled_reason = 'failing', failing_since = now() - interval '3 days'`);
    await page.reload();
    await expectText(row.getByTestId("endpoint-state"), /^Disabled$/);
    await expectText(row.getByTestId("endpoint-state-note"), /^Disabled after 3 days of failed attempts\.$/);
    await setState(`disabled_reason = 'gone', failing_since = null`);
    await page.reload();
    await expectText(row.getByTestId("endpoint-state-note"), /^Disabled because your server answered 410 Gone\.$/);
    await setState(`enabled = true, disabled_reason = '', failing_since = '2026-11-30T10:00:00Z'`);
    await page.reload();
    await expectText(row.getByTestId("endpoint-state"), /^Failing$/);
    await expectText(row.getByTestId("endpoint-state-note"), /^Every attempt has failed since 30 Nov 2026, 10:00; it is disabled after 3 days of failures\.$/);
    await setState(`failing_since = null`);
    await page.reload();
    await expectText(row.getByTestId("endpoint-state"), /^Enabled$/);
    expect(await row.getByTestId("endpoint-state-note").count()).toBe(0);
    await row.getByRole("button", { name: "Rotate secret" }).click();
    await expectText(page.getByTestId("new-secret-panel"), /Your new signing secret[\s\S]*The old secret keeps signing beside it for 24 hours/);
    const rotated = await page.getByTestId("new-webhook-secret").inputValue();
    expect(rotated).toMatch(/^whsec_/);
    expect(rotated).not.toBe(secret);
    await page.getByTestId("secret-done").click();
    await expectText(row, /the old secret signs too until/);
    await row.getByRole("button", { name: "Send test event" }).click();
    await expect.poll(() => got.length, WAIT).toBe(25);
    expect(verified(rotated, got[24]!).type).toBe("webhook.test");
    expect(verified(secret, got[24]!).type).toBe("webhook.test");

    // Edit: a refused URL named next to its field, nothing changed; then all events and a new description.
    await row.getByRole("button", { name: "Edit" }).click();
    const edit = row.getByTestId("endpoint-edit-form");
    expect(await edit.getByLabel("URL").inputValue()).toBe(rxUrl);
    expect(await edit.getByLabel("checkin.created").isChecked()).toBe(true);
    await checkLayout(page, "developers-edit", 390);
    await page.setViewportSize({ width: 1280, height: 900 });
    await edit.getByLabel("URL").fill("http://169.254.169.254/latest/meta-data");
    await edit.getByRole("button", { name: "Save endpoint" }).click();
    await expectText(edit.getByTestId("endpoint-url-error"), /^Url aims at a link-local address\.$/);
    expect((await endpoints())[0]).toMatchObject({ url: rxUrl, eventTypes: ["checkin.created", "customer.created"] });
    await edit.getByLabel("URL").fill(rxUrl);
    await edit.getByLabel("Description (optional)").fill("CRM mirror");
    await edit.getByLabel("All events, including types added later").check();
    await edit.getByRole("button", { name: "Save endpoint" }).click();
    await expectText(page.getByTestId("endpoint-notice"), /saved\.$/);
    await expectText(row.getByTestId("endpoint-types"), /^All events$/);
    await expectText(row, /CRM mirror/);
    expect((await endpoints())[0]).toMatchObject({ url: rxUrl, eventTypes: ["*"], description: "CRM mirror" });

    await row.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("button", { name: "Delete endpoint" }).click();
    await expectText(page.getByTestId("endpoint-notice"), /deleted\.$/);
    await expect.poll(() => page.getByTestId("endpoint").count(), WAIT).toBe(0);
    expect(await endpoints()).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  }, 180_000);
});
