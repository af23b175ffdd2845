import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from "playwright-core";
import { expect } from "vitest";
import { registerBusiness, type Business } from "../support/rest.js";
import type { TestApp } from "../support/test-app.js";
import { startAppWithPortal } from "./start-with-portal.js";

/**
 * What the portal's browser tests share: the real server with the built
 * portal, a headless Debian Chromium, an owner signed in through the
 * portal's own localStorage session, and the layout checks (nothing wider
 * than the viewport, no text under 12 px).
 */

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const SCREENSHOTS = fileURLToPath(new URL("../../test-results/screenshots/", import.meta.url));
export const WAIT = { timeout: 10_000 };
const SESSION_KEY = "loyalty-plus.portal.session";

export interface Harness {
  t: TestApp;
  browser: Browser;
  close(): Promise<void>;
}

/** `jobs`: run the background jobs (webhook deliveries) in the server. */
export async function startHarness(opts: { env?: Record<string, string>; jobs?: boolean } = {}): Promise<Harness> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  mkdirSync(SCREENSHOTS, { recursive: true });
  const [t, browser] = await Promise.all([
    startAppWithPortal({ env: opts.env, jobs: opts.jobs }),
    chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    }),
  ]);
  return {
    t,
    browser,
    async close() {
      await browser.close();
      await t.close();
    },
  };
}

/**
 * A browser page signed in as the business's owner (the session the portal
 * itself stores after a log-in), collecting script errors.
 */
export async function ownerPage(
  h: Harness,
  b: Business,
  opts: { width?: number; height?: number; businessName?: string } = {},
): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await h.browser.newContext({
    baseURL: h.t.url,
    viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 },
    locale: "en-IE",
    timezoneId: "UTC",
  });
  const exp = JSON.parse(Buffer.from(b.token.split(".")[1]!, "base64url").toString()).exp as number;
  const session = JSON.stringify({ token: b.token, exp, email: b.email, businessName: opts.businessName ?? "Test Café" });
  await context.addInitScript(
    ([key, value]) => {
      if (!localStorage.getItem(key!)) localStorage.setItem(key!, value!);
    },
    [SESSION_KEY, session],
  );
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on("pageerror", (err) => errors.push(err.message));
  return { context, page, errors };
}

export { registerBusiness };

/** Waits until a locator's text matches (playwright-core has no auto-retrying expect). */
export const expectText = (locator: Locator, expected: RegExp) => expect.poll(() => locator.first().innerText(), WAIT).toMatch(expected);

/** One thing on the page that breaks the layout. */
export interface LayoutProblem {
  what: string;
  element: string;
}

/**
 * Everything visible that sticks out of the viewport or of a scroll box, or
 * whose text is smaller than 12 CSS pixels (SVG text at its rendered size).
 * The page itself must not scroll sideways: documentElement.scrollWidth ≤
 * clientWidth.
 */
export async function layoutProblems(page: Page): Promise<LayoutProblem[]> {
  return page.evaluate(() => {
    const problems: { what: string; element: string }[] = [];
    const describe = (el: Element) => {
      const text = (el.textContent ?? "").trim().replace(/\s+/g, " ").slice(0, 40);
      const cls = el.getAttribute("class");
      return `<${el.tagName.toLowerCase()}${cls ? ` class="${cls}"` : ""}>${text}`;
    };
    const doc = document.documentElement;
    if (doc.scrollWidth > doc.clientWidth) problems.push({ what: `page is ${doc.scrollWidth}px wide in ${doc.clientWidth}px`, element: "html" });
    const vw = doc.clientWidth;
    const isHidden = (el: Element): boolean => {
      for (let e: Element | null = el; e; e = e.parentElement) {
        if (e.classList.contains("visually-hidden")) return true;
        const s = getComputedStyle(e);
        if (s.display === "none" || s.visibility === "hidden") return true;
        if (e.tagName === "DIALOG" && !(e as HTMLDialogElement).open) return true;
        if (e.tagName === "DETAILS" && !(e as HTMLDetailsElement).open && e !== el && el.tagName !== "SUMMARY" && !el.closest("summary")) return true;
      }
      return false;
    };
    for (const el of Array.from(document.body.querySelectorAll("*"))) {
      const rect = el.getBoundingClientRect();
      if (rect.width === 0 || rect.height === 0 || isHidden(el)) continue;
      const s = getComputedStyle(el);
      if (rect.right > vw + 0.5 || rect.left < -0.5) problems.push({ what: `sticks out of the ${vw}px viewport (${Math.round(rect.left)}–${Math.round(rect.right)})`, element: describe(el) });
      if ((s.overflowX === "auto" || s.overflowX === "scroll" || s.overflowX === "hidden") && el.scrollWidth > el.clientWidth + 1 && !el.classList.contains("visually-hidden")) {
        problems.push({ what: `content ${el.scrollWidth}px wide in a ${el.clientWidth}px box`, element: describe(el) });
      }
      const ownText = Array.from(el.childNodes).some((n) => n.nodeType === Node.TEXT_NODE && (n.textContent ?? "").trim() !== "");
      if (!ownText) continue;
      let size = parseFloat(s.fontSize);
      if (el instanceof SVGElement && el.ownerSVGElement) {
        const svg = el.ownerSVGElement;
        const vb = svg.viewBox.baseVal;
        if (vb && vb.width > 0) size *= svg.getBoundingClientRect().width / vb.width;
      }
      if (size < 11.95) problems.push({ what: `text is ${size.toFixed(1)}px`, element: describe(el) });
    }
    return problems;
  });
}

/** Screenshot of the whole page, then the layout checks. */
export async function checkLayout(page: Page, name: string, width: number): Promise<void> {
  if (page.viewportSize()?.width !== width) await page.setViewportSize({ width, height: width < 800 ? 900 : 900 });
  // Layout settles (ResizeObserver-driven chart) before measuring.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  await page.screenshot({ path: `${SCREENSHOTS}${name}-${width}.png`, fullPage: true });
  expect({ page: name, width, problems: await layoutProblems(page) }).toEqual({ page: name, width, problems: [] });
}
