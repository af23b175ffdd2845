/**
 * CSV import and exports over plain HTTP (contract §12): dry run, the
 * all-or-nothing run, idempotency, malformed files, 100,000 rows, streamed
 * exports of customers and of the ledger, and tenancy — every result
 * compared with the database.
 */
import { parse } from "csv-parse/sync";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

const IMPORT = "/v1/owner/customers/import";

/** Sends a file as the import's body. */
async function upload(
  b: Business,
  body: string | Buffer | FormData,
  opts: { dryRun?: boolean; headers?: Record<string, string>; contentType?: string | null } = {},
) {
  const headers: Record<string, string> = { ...ownerAuth(b), ...opts.headers };
  if (!(body instanceof FormData) && opts.contentType !== null) headers["content-type"] = opts.contentType ?? "text/csv";
  const payload = Buffer.isBuffer(body) ? new Uint8Array(body) : body;
  const res = await fetch(`${t.url}${IMPORT}${opts.dryRun ? "?dryRun=true" : ""}`, { method: "POST", headers, body: payload });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, body: json, text };
}

/** Everything an import could write, for one business. */
async function footprint(businessId: string) {
  const [row] = await t.sql<Record<string, string>>(
    `select (select count(*) from customer where business_id = $1) as customers,
            (select count(*) from ledger_entry where business_id = $1) as ledger,
            (select coalesce(sum(total_points), 0) from customer where business_id = $1) as points,
            (select count(*) from audit_event where business_id = $1) as audit,
            (select count(*) from customer_import where business_id = $1) as imports,
            (select count(*) from idempotency_record where business_id = $1) as keys,
            (select coalesce(max(updated_at)::text, '') from customer where business_id = $1) as last_update`,
    [businessId],
  );
  return row!;
}

/** Customers whose balance is not the sum of their ledger (must be none). */
async function ledgerMismatches(businessId: string): Promise<number> {
  const [row] = await t.sql<{ n: string }>(
    `select count(*) as n from customer c
     left join (select customer_id, sum(delta) as total from ledger_entry where business_id = $1 group by customer_id) l on l.customer_id = c.id
     where c.business_id = $1 and c.total_points <> coalesce(l.total, 0)`,
    [businessId],
  );
  return Number(row!.n);
}

const customersOf = (businessId: string) =>
  t.sql<{ phone: string; name: string; notes: string; status: string; total_points: number }>(
    `select phone, name, notes, status, total_points from customer where business_id = $1 order by phone`,
    [businessId],
  );

const updatedAt = async (businessId: string, phone: string) =>
  (await t.sql<{ u: string }>(`select updated_at::text as u from customer where business_id = $1 and phone = $2`, [businessId, phone]))[0]!.u;

let phoneSeq = 0;
/** A fresh Irish mobile number, E.164. */
const freshPhone = () => `+35383${String(1_000_000 + phoneSeq++).padStart(7, "0")}`;

describe("a 10-row file", () => {
  test("dry run counts and writes nothing; the real run creates and updates exactly as the file says, points as IMPORT entries", async () => {
    const b = await registerBusiness(t.url);
    // Two customers exist already: one created with 5 opening points, one enrolled by a till.
    const known1 = freshPhone();
    const known2 = freshPhone();
    const c1 = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "Old Name", phone: known1, notes: "keep me", initialPoints: 5 }, headers: ownerAuth(b) });
    expect(c1.status, c1.text).toBe(200);
    const c2 = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: known2, amount: 7 }, headers: posAuth(b) });
    expect(c2.status, c2.text).toBe(200);

    const fresh = Array.from({ length: 8 }, () => freshPhone());
    // known1 in national form: matched by its normalised number.
    const national1 = `0${known1.slice(4)}`;
    const csv = [
      "phone,name,notes,points,status",
      `${national1},New Name,,10,`, // update: name and +10; notes kept (empty cell)
      `${known2},,,,`, // existing, nothing to change
      ...fresh.map((p, i) => `${p},Customer ${i},note ${i},${i * 100},${i === 7 ? "blocked" : ""}`),
    ].join("\n");

    const stamps = [await updatedAt(b.businessId, known1), await updatedAt(b.businessId, known2)];
    const before = await footprint(b.businessId);
    const dry = await upload(b, csv, { dryRun: true });
    expect(dry.status, dry.text).toBe(200);
    expect(dry.body).toEqual({
      success: true,
      dryRun: true,
      importId: "",
      rows: 10,
      created: 8,
      updated: 1,
      unchanged: 1,
      pointsAdded: 10 + 2800,
      ignoredColumns: [],
      errors: [],
      errorCount: 0,
      valid: true,
      alreadyImported: false,
    });
    expect(await footprint(b.businessId)).toEqual(before);

    const run = await upload(b, csv);
    expect(run.status, run.text).toBe(200);
    expect(run.headers.get("idempotent-replayed")).toBeNull();
    expect(run.body).toEqual({ ...dry.body, dryRun: false, importId: expect.stringMatching(/^c[a-z0-5]{24}$/) });

    expect(await customersOf(b.businessId)).toEqual(
      [
        { phone: known1, name: "New Name", notes: "keep me", status: "ACTIVE", total_points: 15 },
        { phone: known2, name: "", notes: "", status: "ACTIVE", total_points: 7 },
        ...fresh.map((p, i) => ({ phone: p, name: `Customer ${i}`, notes: `note ${i}`, status: i === 7 ? "BLOCKED" : "ACTIVE", total_points: i * 100 })),
      ].sort((x, y) => x.phone.localeCompare(y.phone)),
    );
    const imported = await t.sql<{ phone: string; delta: number; balance_after: number; reason: string; owner_id: string }>(
      `select c.phone, l.delta, l.balance_after, l.reason, l.owner_id from ledger_entry l join customer c on c.id = l.customer_id
       where l.business_id = $1 and l.type = 'IMPORT' order by c.phone`,
      [b.businessId],
    );
    // One entry per row with points: known1's +10 and seven new customers (Customer 0 has 0 points).
    expect(imported).toEqual(
      [
        { phone: known1, delta: 10, balance_after: 15, reason: "CSV import", owner_id: b.ownerId },
        ...fresh.slice(1).map((p, k) => ({ phone: p, delta: (k + 1) * 100, balance_after: (k + 1) * 100, reason: "CSV import", owner_id: b.ownerId })),
      ].sort((x, y) => x.phone.localeCompare(y.phone)),
    );
    expect(await ledgerMismatches(b.businessId)).toBe(0);
    const [audit] = await t.sql<{ subject_id: string; data: unknown }>(
      `select subject_id, data from audit_event where business_id = $1 and action = 'customers.imported'`,
      [b.businessId],
    );
    expect(audit).toEqual({ subject_id: run.body.importId, data: { rows: 10, created: 8, updated: 1, unchanged: 1, pointsAdded: 2810 } });
    // The unchanged customer's updated_at did not move; the updated one's did.
    expect(await updatedAt(b.businessId, known2)).toBe(stamps[1]);
    expect(await updatedAt(b.businessId, known1)).not.toBe(stamps[0]);

    // The owner's list sees them at once (its cache was dropped by the import).
    const list = await rest(t.url, "GET", "/v1/owner/customers?limit=1", { headers: ownerAuth(b) });
    expect(list.body.pagination.total).toBe(10);
    // The history names the type.
    const hist = await rest(t.url, "GET", `/v1/owner/customers/${c1.body.customer.id}`, { headers: ownerAuth(b) });
    expect(hist.body.pointsHistory.map((e: any) => [e.type, e.delta, e.reason])).toEqual([
      ["IMPORT", 10, "CSV import"],
      ["INITIAL", 5, "Initial points"],
    ]);

    // A dry run of the same file now: already imported, and would change nothing.
    const again = await upload(b, csv, { dryRun: true });
    expect(again.body).toMatchObject({ alreadyImported: true, importId: run.body.importId, created: 0, valid: true });
  });

  test("multipart/form-data with a file field imports the same way", async () => {
    const b = await registerBusiness(t.url);
    const phone = freshPhone();
    const form = new FormData();
    form.append("file", new Blob([`phone,name,points\n${phone},Form Upload,3\n`], { type: "text/csv" }), "customers.csv");
    const r = await upload(b, form);
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ rows: 1, created: 1, pointsAdded: 3 });
    expect(await customersOf(b.businessId)).toEqual([{ phone, name: "Form Upload", notes: "", status: "ACTIVE", total_points: 3 }]);
  });
});

describe("idempotency", () => {
  test("the same bytes again change nothing and answer the first result; so does the same Idempotency-Key, and another file under it is 422", async () => {
    const b = await registerBusiness(t.url);
    const csv = `phone,points\n${freshPhone()},50\n${freshPhone()},60\n`;
    const first = await upload(b, csv);
    expect(first.status, first.text).toBe(200);
    const after = await footprint(b.businessId);

    const second = await upload(b, csv);
    expect(second.status).toBe(200);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(second.body).toEqual(first.body);
    expect(await footprint(b.businessId)).toEqual(after);

    // Another file under a key, then the key again with the same and with another file.
    const other = `phone,points\n${freshPhone()},1\n`;
    const keyed = await upload(b, other, { headers: { "idempotency-key": "import-2026-12-01" } });
    expect(keyed.status, keyed.text).toBe(200);
    const afterKeyed = await footprint(b.businessId);
    expect(Number(afterKeyed.customers)).toBe(3);
    const replay = await upload(b, other, { headers: { "idempotency-key": "import-2026-12-01" } });
    expect([replay.status, replay.headers.get("idempotent-replayed")]).toEqual([200, "true"]);
    expect(replay.body).toEqual(keyed.body);
    const misuse = await upload(b, `phone,points\n${freshPhone()},9\n`, { headers: { "idempotency-key": "import-2026-12-01" } });
    expect(misuse.status).toBe(422);
    expect(misuse.body).toEqual({ success: false, error: { code: "invalid_argument", message: "this Idempotency-Key was already used with a different request" } });
    expect(await footprint(b.businessId)).toEqual(afterKeyed);
  });

  test("two uploads of one file at the same time import it once", async () => {
    const b = await registerBusiness(t.url);
    const csv = `phone,points\n${Array.from({ length: 300 }, () => `${freshPhone()},2`).join("\n")}\n`;
    const [x, y] = await Promise.all([upload(b, csv), upload(b, csv)]);
    expect([x.status, y.status]).toEqual([200, 200]);
    expect(x.body).toEqual(y.body);
    expect([x.headers.get("idempotent-replayed"), y.headers.get("idempotent-replayed")].sort()).toEqual([null, "true"].sort());
    expect(await footprint(b.businessId)).toMatchObject({ customers: "300", ledger: "300", points: "600", imports: "1" });
  });
});

describe("malformed files", () => {
  test("quotes, line breaks in fields, a BOM and ; separators are read exactly", async () => {
    const b = await registerBusiness(t.url);
    const [p1, p2, p3] = [freshPhone(), freshPhone(), freshPhone()];
    const csv =
      "\uFEFFPhone;Name;Notes;Points;Status\r\n" +
      `${p1};"O""Brien; Seán";"first line\r\nsecond line";12;ACTIVE\r\n` +
      `\r\n` + // a blank line is skipped
      `"${p2}";Zoë;"said ""hi""";0;\r\n` +
      `${p3};plain;;;Blocked\r\n`;
    const r = await upload(b, csv);
    expect(r.status, r.text).toBe(200);
    expect(r.body).toMatchObject({ rows: 3, created: 3, pointsAdded: 12, errors: [] });
    expect(await customersOf(b.businessId)).toEqual(
      [
        { phone: p1, name: 'O"Brien; Seán', notes: "first line\r\nsecond line", status: "ACTIVE", total_points: 12 },
        { phone: p2, name: "Zoë", notes: 'said "hi"', status: "ACTIVE", total_points: 0 },
        { phone: p3, name: "plain", notes: "", status: "BLOCKED", total_points: 0 },
      ].sort((x, y) => x.phone.localeCompare(y.phone)),
    );
  });

  test("the dry run lists every problem with its line and column; the real run answers 400 with the same list and writes nothing", async () => {
    const b = await registerBusiness(t.url);
    const existing = freshPhone();
    await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "Existing", phone: existing }, headers: ownerAuth(b) });
    const [p1, p2, p3] = [freshPhone(), freshPhone(), freshPhone()];
    const lines = [
      "phone;name;notes;points;status", // 1
      `${p1};Good;;1;`, // 2
      `${p1};Twice;;2;`, // 3: duplicate of line 2
      `not a phone;Bad;;3;`, // 4
      `;No phone;;;`, // 5
      `${p2};Bad points;;-5;`, // 6
      `${p3};Bad status;;;gone`, // 7
      `${freshPhone()};"bad"quote;;;`, // 8: malformed CSV
      `${freshPhone()};"multi`, // 9: a quoted field over two lines…
      `line ok";;4;`, // 10: …is one row
      `${freshPhone()};too;many;1;ACTIVE;extra`, // 11
      `${existing};Existing renamed;;7;`, // 12: fine (an update)
      `0${existing.slice(4)};Same number;;;`, // 13: duplicate of line 12 in national form
    ];
    const csv = lines.join("\n") + "\n";
    const before = await footprint(b.businessId);
    const dry = await upload(b, csv, { dryRun: true });
    expect(dry.status, dry.text).toBe(200);
    const expected = [
      { line: 3, column: "phone", message: `the phone number ${p1} is also on line 2` },
      { line: 4, column: "phone", message: '"not a phone" is not a possible phone number (national numbers are read as IE)' },
      { line: 5, column: "phone", message: "phone is required" },
      { line: 6, column: "points", message: 'points must be a whole number from 0 to 10,000,000 (found "-5")' },
      { line: 7, column: "status", message: 'status must be ACTIVE or BLOCKED (found "gone")' },
      { line: 8, column: null, message: 'malformed CSV: a closing quote (") must be followed by the delimiter or the end of the line' },
      { line: 11, column: null, message: "the row has 6 fields; the header has 5" },
      { line: 13, column: "phone", message: `the phone number ${existing} is also on line 12` },
    ];
    expect(dry.body).toEqual({
      success: true,
      dryRun: true,
      importId: "",
      rows: 3, // lines 2, 9-10 and 12 are valid
      created: 2,
      updated: 1,
      unchanged: 0,
      pointsAdded: 1 + 4 + 7,
      ignoredColumns: [],
      errors: expected,
      errorCount: 8,
      valid: false,
      alreadyImported: false,
    });
    const run = await upload(b, csv);
    expect(run.status).toBe(400);
    expect(run.body).toEqual({
      success: false,
      error: { code: "invalid_argument", message: "the file has 8 problems; nothing was imported" },
      errors: expected,
      errorCount: 8,
    });
    expect(await footprint(b.businessId)).toEqual(before);
  });

  test("not CSV, invalid UTF-8, no phone column, empty, header only, too large, wrong content type: a clear 4xx and nothing written", async () => {
    const b = await registerBusiness(t.url);
    const before = await footprint(b.businessId);
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52]);
    const cases: [string | Buffer, number, string, string?][] = [
      [png, 400, "the file is not a CSV file: it holds binary data (save it as CSV UTF-8)"],
      [Buffer.from("phone,name\n+353831234567,Se\xe1n\n", "latin1"), 400, "the file is not UTF-8 text: save it as CSV UTF-8"],
      ["name,notes\nAnn,hello\n", 400, "the file has no phone column: its first line must name the columns, e.g. phone,name,notes,points,status (found: name,notes)"],
      [
        '{"customers": [{"phone": "+353831234567"}]}',
        400,
        'the first line is not a CSV header naming the columns (e.g. phone,name,notes,points,status): malformed CSV: a quote (") inside a field that does not start with one; quote the whole field and double the quote ("")',
      ],
      ["", 400, "the file is empty"],
      ["phone,name\n", 400, "the file has a header but no rows"],
      ["phone,phone\n1,2\n", 400, 'the header names the column "phone" twice'],
      ["phone\n+353831234567\n", 415, "unsupported Content-Type: send the file as Content-Type: text/csv (curl -H 'Content-Type: text/csv' --data-binary @customers.csv) or as multipart/form-data (curl -F file=@customers.csv)", "application/json"],
    ];
    for (const [body, status, message, type] of cases) {
      for (const dryRun of [true, false]) {
        const r = await upload(b, body, { dryRun, contentType: type });
        expect([r.status, r.body], `${String(body).slice(0, 20)} dryRun=${dryRun}`).toEqual([status, { success: false, error: { code: "invalid_argument", message } }]);
      }
    }
    // Over 50 MiB: 413, as a body and as a multipart file.
    const big = Buffer.alloc(50 * 1024 * 1024 + 1, "a");
    big.write("phone\n");
    const tooLarge = { success: false, error: { code: "invalid_argument", message: "the file exceeds 50 MiB (52,428,800 bytes): split it" } };
    const r1 = await upload(b, big);
    expect([r1.status, r1.body]).toEqual([413, tooLarge]);
    const form = new FormData();
    form.append("file", new Blob([big]), "big.csv");
    const r2 = await upload(b, form);
    expect([r2.status, r2.body]).toEqual([413, tooLarge]);
    // Without a token, refused before the body is read.
    const anon = await fetch(`${t.url}${IMPORT}`, { method: "POST", headers: { "content-type": "text/csv" }, body: "phone\n+353831234567\n" });
    expect(anon.status).toBe(401);
    expect(await footprint(b.businessId)).toEqual(before);
  });
});

describe("100,000 rows", () => {
  test("import in one transaction with NDJSON progress, matching the database; then the export streams them back", async () => {
    const b = await registerBusiness(t.url);
    const n = 100_000;
    const rows: string[] = ["phone,name,notes,points,status"];
    let expectedPoints = 0;
    let withPoints = 0;
    for (let i = 0; i < n; i++) {
      const points = i % 7 === 0 ? 0 : i % 1000;
      expectedPoints += points;
      if (points > 0) withPoints++;
      rows.push(`+3538${String(10_000_000 + i)},"Customer ${i}",${i % 10 === 0 ? '"line one\nline two"' : ""},${points},${i % 50 === 0 ? "BLOCKED" : "ACTIVE"}`);
    }
    const csv = rows.join("\n") + "\n";

    const started = Date.now();
    const res = await fetch(`${t.url}${IMPORT}`, {
      method: "POST",
      headers: { ...ownerAuth(b), "content-type": "text/csv", accept: "application/x-ndjson" },
      body: csv,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    const ms = Date.now() - started;
    console.log(`import of ${n.toLocaleString("en-US")} rows (${(csv.length / 1024 / 1024).toFixed(1)} MiB): ${ms} ms`);

    const progress = lines.slice(0, -1).map((l) => l.progress);
    expect(progress[0]).toEqual({ done: 0, rows: n });
    expect(progress.at(-1)).toEqual({ done: n, rows: n });
    expect(progress.map((p) => p.done)).toEqual([...progress.map((p) => p.done)].sort((x, y) => x - y));
    expect(progress.length).toBe(21); // 0, then every 5,000 rows
    const last = lines.at(-1);
    expect(last).toEqual({
      replayed: false,
      result: expect.objectContaining({ success: true, rows: n, created: n, updated: 0, unchanged: 0, pointsAdded: expectedPoints, errorCount: 0 }),
    });

    const [db] = await t.sql<Record<string, string>>(
      `select count(*) as customers, sum(total_points) as points, count(*) filter (where status = 'BLOCKED') as blocked,
              count(*) filter (where notes = E'line one\\nline two') as multiline,
              (select count(*) from ledger_entry where business_id = $1 and type = 'IMPORT') as entries
       from customer where business_id = $1`,
      [b.businessId],
    );
    expect(db).toEqual({ customers: String(n), points: String(expectedPoints), blocked: String(n / 50), multiline: String(n / 10), entries: String(withPoints) });
    expect(await ledgerMismatches(b.businessId)).toBe(0);

    // The export of all of them, streamed (chunked), matches the database row for row.
    const rssBefore = process.memoryUsage().rss;
    const exportStarted = Date.now();
    const ex = await fetch(`${t.url}/v1/owner/customers/export`, { headers: ownerAuth(b) });
    expect(ex.status).toBe(200);
    expect(ex.headers.get("transfer-encoding")).toBe("chunked");
    expect(ex.headers.get("content-length")).toBeNull();
    const text = await ex.text();
    console.log(`export of ${n.toLocaleString("en-US")} customers (${(text.length / 1024 / 1024).toFixed(1)} MiB): ${Date.now() - exportStarted} ms, test process RSS +${((process.memoryUsage().rss - rssBefore) / 1024 / 1024).toFixed(0)} MiB`);
    const records: Record<string, string>[] = parse(text, { columns: true });
    expect(records).toHaveLength(n);
    const byPhone = new Map(records.map((r) => [r.phone, r]));
    expect(byPhone.get("+353810000001")).toMatchObject({ name: "Customer 1", notes: "", points: "1", total_points: "1", lifetime_points: "1", status: "ACTIVE", last_visit_at: "" });
    expect(byPhone.get("+353810000010")).toMatchObject({ name: "Customer 10", notes: "line one\nline two", points: "10", status: "ACTIVE" });
    expect(records.reduce((s, r) => s + Number(r.points), 0)).toBe(expectedPoints);
  }, 300_000);
});

describe("exports", () => {
  test("customers: text/csv attachment with the import's columns plus ids, totals, lifetime points and timestamps; it imports into another business as it is", async () => {
    const a = await registerBusiness(t.url);
    const p1 = freshPhone();
    const p2 = freshPhone();
    await upload(a, `phone,name,notes,points,status\n${p1},"Ann, ""the"" first","two\nlines",140,\n${p2},Bob,,0,BLOCKED\n`);
    // Ann earns 25 at the till and redeems one reward (100): lifetime 165, balance 65.
    await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: p1, amount: 25 }, headers: posAuth(a) });
    const redeem = await rest(t.url, "POST", "/v1/pos/redeem", { body: { phone: p1 }, headers: posAuth(a) });
    expect(redeem.status, redeem.text).toBe(200);

    const res = await fetch(`${t.url}/v1/owner/customers/export`, { headers: ownerAuth(a) });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="customers-\d{4}-\d{2}-\d{2}\.csv"$/);
    const text = await res.text();
    expect(text.split("\n")[0]).toBe("phone,name,notes,points,status,id,total_points,lifetime_points,created_at,updated_at,last_visit_at");
    const records: Record<string, string>[] = parse(text, { columns: true });
    const db = await t.sql<any>(`select * from customer where business_id = $1 order by created_at, id`, [a.businessId]);
    expect(records).toEqual(
      db.map((c: any) => ({
        phone: c.phone,
        name: c.name,
        notes: c.notes,
        points: String(c.total_points),
        status: c.status,
        id: c.id,
        total_points: String(c.total_points),
        lifetime_points: c.phone === p1 ? "165" : "0",
        created_at: c.created_at.toISOString(),
        updated_at: c.updated_at.toISOString(),
        last_visit_at: c.last_visit_at ? c.last_visit_at.toISOString() : "",
      })),
    );
    expect(records.find((r) => r.phone === p1)).toMatchObject({ name: 'Ann, "the" first', notes: "two\nlines", points: "65" });

    // Round trip: the export imports into a fresh business with the same customers.
    const b = await registerBusiness(t.url);
    const back = await upload(b, text);
    expect(back.status, back.text).toBe(200);
    expect(back.body).toMatchObject({
      rows: 2,
      created: 2,
      pointsAdded: 65,
      ignoredColumns: ["id", "total_points", "lifetime_points", "created_at", "updated_at", "last_visit_at"],
    });
    expect(await customersOf(b.businessId)).toEqual(await customersOf(a.businessId));
  });

  test("ledger: the entries of a date range, oldest first; to includes its day; from after to and bad dates are 400", async () => {
    const b = await registerBusiness(t.url);
    const phone = freshPhone();
    const c = await rest(t.url, "POST", "/v1/owner/customers", { body: { phone, name: "Dated", initialPoints: 1 }, headers: ownerAuth(b) });
    for (let i = 0; i < 3; i++) await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone, amount: 10 }, headers: posAuth(b) });
    // Controlled time: the four entries moved to known instants.
    const entries = await t.sql<{ id: string }>(`select id from ledger_entry where customer_id = $1 order by created_at, id`, [c.body.customer.id]);
    const times = ["2026-10-31T23:59:59.999Z", "2026-11-01T00:00:00.000Z", "2026-11-02T23:59:59.500Z", "2026-11-03T00:00:00.000Z"];
    for (const [i, e] of entries.entries()) await t.sql(`update ledger_entry set created_at = $2 where id = $1`, [e.id, times[i]]);

    const exportRange = async (query: string) => {
      const res = await fetch(`${t.url}/v1/owner/ledger/export${query}`, { headers: ownerAuth(b) });
      const text = await res.text();
      return { status: res.status, headers: res.headers, text, records: res.status === 200 ? (parse(text, { columns: true }) as Record<string, string>[]) : [] };
    };
    const r = await exportRange("?from=2026-11-01&to=2026-11-02");
    expect(r.status, r.text).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(r.headers.get("content-disposition")).toBe('attachment; filename="ledger-2026-11-01-to-2026-11-02.csv"');
    expect(r.text.split("\n")[0]).toBe("id,created_at,customer_id,phone,type,delta,balance_after,reason,store_id,api_key_id,owner_id,redemption_id");
    expect(r.records).toEqual([
      { id: entries[1]!.id, created_at: times[1], customer_id: c.body.customer.id, phone, type: "CHECKIN", delta: "10", balance_after: "11", reason: "Visit", store_id: "", api_key_id: b.apiKeyId, owner_id: "", redemption_id: "" },
      { id: entries[2]!.id, created_at: times[2], customer_id: c.body.customer.id, phone, type: "CHECKIN", delta: "10", balance_after: "21", reason: "Visit", store_id: "", api_key_id: b.apiKeyId, owner_id: "", redemption_id: "" },
    ]);
    expect((await exportRange("?from=2026-11-02&to=2026-11-02")).records.map((e) => e.created_at)).toEqual([times[2]]);
    expect((await exportRange("?from=2026-11-01T00:00:00Z&to=2026-11-03T00:00:00Z")).records.map((e) => e.created_at)).toEqual([times[1], times[2]]);
    expect((await exportRange("")).records.map((e) => e.created_at)).toEqual(times);
    expect((await exportRange("?to=2026-10-31")).records.map((e) => e.type)).toEqual(["INITIAL"]);

    for (const [query, message] of [
      ["?from=2026-11-03&to=2026-11-01", "from must not be after to"],
      ["?from=2026-11-02T10:00:00Z&to=2026-11-02T09:00:00Z", "from must not be after to"],
      ["?from=2026-02-30", "from is not a valid date: use YYYY-MM-DD or an RFC 3339 time such as 2026-11-02T09:30:00Z"],
      ["?to=yesterday", "to must be a date or a time: use YYYY-MM-DD or an RFC 3339 time such as 2026-11-02T09:30:00Z"],
      ["?since=2026-11-01", 'unknown query parameter "since"'],
    ]) {
      const bad = await exportRange(query!);
      expect([bad.status, JSON.parse(bad.text)], query).toEqual([400, { success: false, error: { code: "invalid_argument", message } }]);
    }
  });

  test("tenancy: an export holds only the caller's business; an import never touches another business's customer", async () => {
    const a = await registerBusiness(t.url);
    const b = await registerBusiness(t.url);
    const shared = freshPhone();
    const onlyA = freshPhone();
    await upload(a, `phone,name,points\n${shared},In A,5\n${onlyA},Only A,6\n`);
    // The same phone imported into B is B's own new customer; A's is untouched.
    const rb = await upload(b, `phone,name,points\n${shared},In B,1\n`);
    expect(rb.body).toMatchObject({ created: 1, updated: 0 });
    expect(await customersOf(a.businessId)).toEqual(
      [
        { phone: shared, name: "In A", notes: "", status: "ACTIVE", total_points: 5 },
        { phone: onlyA, name: "Only A", notes: "", status: "ACTIVE", total_points: 6 },
      ].sort((x, y) => x.phone.localeCompare(y.phone)),
    );
    const customers = parse(await (await fetch(`${t.url}/v1/owner/customers/export`, { headers: ownerAuth(b) })).text(), { columns: true }) as Record<string, string>[];
    expect(customers.map((c) => [c.phone, c.name])).toEqual([[shared, "In B"]]);
    const ledger = parse(await (await fetch(`${t.url}/v1/owner/ledger/export`, { headers: ownerAuth(b) })).text(), { columns: true }) as Record<string, string>[];
    expect(ledger.map((e) => [e.phone, e.type, e.delta])).toEqual([[shared, "IMPORT", "1"]]);
    // Without a token, or with a POS key: 401.
    for (const headers of [{}, posAuth(a)]) {
      const res = await fetch(`${t.url}/v1/owner/customers/export`, { headers });
      expect(res.status).toBe(401);
    }
  });
});

describe("clients that go away", () => {
  test("an import whose client disconnects after the first progress line still commits whole; an export read halfway is cut without harm", async () => {
    const b = await registerBusiness(t.url);
    const n = 12_000;
    const csv = `phone,points\n${Array.from({ length: n }, (_, i) => `+3538${String(30_000_000 + i)},1`).join("\n")}\n`;
    const abort = new AbortController();
    const res = await fetch(`${t.url}${IMPORT}`, {
      method: "POST",
      headers: { ...ownerAuth(b), "content-type": "text/csv", accept: "application/x-ndjson" },
      body: csv,
      signal: abort.signal,
    });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(JSON.parse(first.split("\n")[0]!)).toEqual({ progress: { done: 0, rows: n } });
    abort.abort();
    // The transaction goes on without its client: all rows, or (had it failed) none.
    await expect.poll(async () => (await footprint(b.businessId)).imports, { timeout: 120_000, interval: 200 }).toBe("1");
    expect(await footprint(b.businessId)).toMatchObject({ customers: String(n), ledger: String(n), points: String(n) });
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);

    const stop = new AbortController();
    const ex2 = await fetch(`${t.url}/v1/owner/customers/export`, { headers: ownerAuth(b), signal: stop.signal });
    const r2 = ex2.body!.getReader();
    expect((await r2.read()).done).toBe(false);
    stop.abort();
    const again = await fetch(`${t.url}/v1/owner/customers/export`, { headers: ownerAuth(b) });
    expect((await again.text()).trim().split("\n")).toHaveLength(n + 1);
  }, 180_000);
});
