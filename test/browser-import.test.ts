import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { checkLayout, expectText, ownerPage, startHarness, type Harness } from "./portal/browser-harness.js";
import { registerBusiness, type Business } from "./support/rest.js";

/**
 * Issue 18, item 5 in a real browser: the Import and export page checks a
 * CSV file and shows every problem by line and column, imports a valid one
 * with its counts (compared with the database), and downloads the customer
 * export; at phone, tablet and desktop widths nothing sticks out.
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

const csvFile = (name: string, text: string) => ({ name, mimeType: "text/csv", buffer: Buffer.from(text) });

describe("the Import and export page", () => {
  test("check a file with problems, then import a valid one, then download the customers", async () => {
    const { context, page, errors } = await ownerPage(h, b);
    await page.goto("/portal/#/import-export");
    await page.getByRole("heading", { name: "Import and export" }).waitFor();
    await page.getByTestId("nav-import-export").waitFor();
    for (const w of [360, 390, 768, 1280]) await checkLayout(page, "import-export", w);

    // A file with two problems: every one listed, nothing imported, Import stays off.
    await page.getByTestId("import-file").setInputFiles(csvFile("bad.csv", "phone;name;points\n+353871000001;Aoife;10\nnot a phone;Bad;5\n+353871000002;Ciarán;lots\n"));
    await page.getByTestId("import-check").click();
    await expectText(page.getByTestId("import-problem-count"), /^2 problems in the file; nothing was imported/);
    const problems = await page.getByTestId("import-problems").locator("tbody tr").allInnerTexts();
    expect(problems.map((r) => r.replace(/\s+/g, " ").trim())).toEqual([
      '3 phone "not a phone" is not a possible phone number (national numbers are read as IE)',
      '4 points points must be a whole number from 0 to 10,000,000 (found "lots")',
    ]);
    expect(await page.getByTestId("import-run").isDisabled()).toBe(true);
    for (const w of [360, 1280]) await checkLayout(page, "import-export-problems", w);
    expect(Number((await h.t.sql<{ n: string }>("select count(*) as n from customer where business_id = $1", [b.businessId]))[0]!.n)).toBe(0);

    // A valid file: checked, then imported with its counts.
    await page.getByTestId("import-file").setInputFiles(csvFile("good.csv", "phone,name,notes,points\n+353871000001,Aoife,\"likes oat milk, no sugar\",10\n0871000002,Ciarán,,25\n"));
    await page.getByTestId("import-check").click();
    await expectText(page.getByTestId("import-check-result"), /The file is ready to import/);
    await expectText(page.getByTestId("import-run"), /^Import 2 rows$/);
    await page.getByTestId("import-run").click();
    await expectText(page.getByTestId("import-result"), /Import complete\./);
    const counts = (await page.getByTestId("import-counts").innerText()).replace(/\s+/g, " ");
    expect(counts).toBe("2 rows read 2 customers created 0 customers updated 0 customers unchanged 35 points added");
    expect(await h.t.sql("select phone, name, notes, total_points from customer where business_id = $1 order by phone", [b.businessId])).toEqual([
      { phone: "+353871000001", name: "Aoife", notes: "likes oat milk, no sugar", total_points: 10 },
      { phone: "+353871000002", name: "Ciarán", notes: "", total_points: 25 },
    ]);
    await checkLayout(page, "import-export-done", 390);

    // The customer export downloads as a CSV file holding both.
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-customers").click()]);
    expect(download.suggestedFilename()).toMatch(/^customers-\d{4}-\d{2}-\d{2}\.csv$/);
    const text = readFileSync((await download.path())!, "utf8");
    expect(text.split("\n")[0]).toBe("phone,name,notes,points,status,id,total_points,lifetime_points,created_at,updated_at,last_visit_at");
    expect(text).toContain('+353871000001,Aoife,"likes oat milk, no sugar",10,ACTIVE,');

    // A ledger range that ends before it starts is refused in the page.
    await page.getByTestId("export-from").fill("2026-11-05");
    await page.getByTestId("export-to").fill("2026-11-01");
    await page.getByTestId("export-ledger").click();
    await expectText(page.getByTestId("export-error"), /The start date is after the end date\./);
    expect(errors).toEqual([]);
    await context.close();
  }, 120_000);
});
