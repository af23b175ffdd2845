import { createHash } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { BusinessSettings } from "../gen/loyalty/v1/account_pb.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { rest } from "./support/rest.js";

// Issue 11, item 4: no API key secret or owner token is kept in any table,
// whatever the call and whether or not it carried an Idempotency-Key. A
// replayed key creation answers the key's id and prefix with `apiKey` empty.
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});

afterAll(async () => {
  await t?.close();
});

/** For each needle, every column of every table of the test database that holds it, as "table.column". */
async function columnsHoldingEach(needles: string[]): Promise<Map<string, string[]>> {
  const columns = await t.sql<{ table_name: string; column_name: string; data_type: string }>(
    `select c.table_name, c.column_name, c.data_type from information_schema.columns c
     join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
     where c.table_schema = 'public' and t.table_type = 'BASE TABLE' order by 1, 2`,
  );
  expect(columns.length).toBeGreaterThan(40); // the whole schema, not an empty list
  const found = new Map<string, string[]>(needles.map((n) => [n, []]));
  for (const c of columns) {
    const col = `x."${c.column_name}"`;
    // bytea (stored protobuf responses) is searched as bytes; anything else as its text form.
    const where = c.data_type === "bytea" ? `position(convert_to(n, 'UTF8') in ${col}) > 0` : `strpos(${col}::text, n) > 0`;
    const rows = await t.sql<{ n: string }>(
      `select n from unnest($1::text[]) as n where exists (select 1 from "${c.table_name}" x where ${where})`,
      [needles],
    );
    for (const r of rows) found.get(r.n)!.push(`${c.table_name}.${c.column_name}`);
  }
  return found;
}

const columnsHolding = async (needle: string) => (await columnsHoldingEach([needle])).get(needle)!;

test("after register, login, API key creation, password change and log-out, with and without Idempotency-Key, over REST, Connect and gRPC: no table holds a key or a token", async () => {
  const secrets: string[] = [];
  const email = `secrets-${process.pid}-${Date.now()}@example.com`;
  const password = "correct horse battery staple";
  const reg = await rest(t.url, "POST", "/v1/auth/register", { body: { businessName: "Secret Café", email, password } });
  expect(reg.status).toBe(200);
  secrets.push(reg.body.token);
  // Register with a key (anonymous: the header is ignored, and the email is taken).
  const reg2 = await rest(t.url, "POST", "/v1/auth/register", {
    body: { businessName: "Secret Café 2", email: `2-${email}`, password },
    headers: { "idempotency-key": "reg-1" },
  });
  expect(reg2.status).toBe(200);
  secrets.push(reg2.body.token);
  for (const headers of [{}, { "idempotency-key": "login-1" }] as Record<string, string>[]) {
    const login = await rest(t.url, "POST", "/v1/auth/login", { body: { email, password }, headers });
    expect(login.status).toBe(200);
    secrets.push(login.body.token);
  }
  const auth = { authorization: `Bearer ${reg.body.token}` };

  // Without an Idempotency-Key.
  const plain = await rest(t.url, "POST", "/v1/owner/api-keys", { body: { name: "till plain" }, headers: auth });
  expect(plain.status).toBe(200);
  secrets.push(plain.body.apiKey);

  // With one: the first answer has the secret; a replay has the same key without it.
  const first = await rest(t.url, "POST", "/v1/owner/api-keys", { body: { name: "till idem" }, headers: { ...auth, "idempotency-key": "key-1" } });
  expect(first.status).toBe(200);
  expect(first.body.apiKey).toMatch(/^loy_[A-Za-z0-9]{32}$/);
  secrets.push(first.body.apiKey);
  const replay = await rest(t.url, "POST", "/v1/owner/api-keys", { body: { name: "till idem" }, headers: { ...auth, "idempotency-key": "key-1" } });
  expect(replay.status).toBe(200);
  expect(replay.headers.get("idempotent-replayed")).toBe("true");
  expect(replay.body).toEqual({ ...first.body, apiKey: "" });
  expect(replay.body.prefix).toBe(first.body.apiKey.slice(0, 8));
  // The key itself works: the secret shown once is the real one.
  const balance = await rest(t.url, "GET", "/v1/pos/balance/%2B353123456789", { headers: { "x-api-key": first.body.apiKey } });
  expect(balance.status).toBe(404);

  // Over Connect and gRPC, the same.
  for (const transport of [createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }), createGrpcTransport({ baseUrl: t.url })]) {
    const settings = createClient(BusinessSettings, transport);
    const key = `key-${Math.random()}`;
    let replayed: string | null = null;
    const created = await settings.createApiKey({ name: "rpc till" }, { headers: { ...auth, "idempotency-key": key } });
    expect(created.apiKey).toMatch(/^loy_[A-Za-z0-9]{32}$/);
    secrets.push(created.apiKey);
    const again = await settings.createApiKey(
      { name: "rpc till" },
      { headers: { ...auth, "idempotency-key": key }, onHeader: (h) => (replayed = h.get("idempotent-replayed")) },
    );
    expect(replayed).toBe("true");
    expect(again.apiKey).toBe("");
    expect(again.id).toBe(created.id);
    expect(again.prefix).toBe(created.prefix);
    expect(again.createdAt).toEqual(created.createdAt);
  }
  const plainRpc = await createClient(BusinessSettings, createGrpcTransport({ baseUrl: t.url })).createApiKey({ name: "no key" }, { headers: auth });
  secrets.push(plainRpc.apiKey);

  // A password change answers a token too: with and without a key, then a log-out with one.
  let current = reg.body.token as string;
  for (const [i, headers] of ([{}, { "idempotency-key": "pw-1" }] as Record<string, string>[]).entries()) {
    const changed = await rest(t.url, "POST", "/v1/auth/password", {
      body: { currentPassword: i === 0 ? password : `${password} 1`, newPassword: `${password} ${i + 1}` },
      headers: { authorization: `Bearer ${current}`, ...headers },
    });
    expect(changed.status).toBe(200);
    current = changed.body.token;
    secrets.push(current);
  }
  expect((await rest(t.url, "POST", "/v1/auth/logout", { headers: { authorization: `Bearer ${current}`, "idempotency-key": "out-1" } })).status).toBe(200);

  // The records exist (the scan looks where the secret used to be)…
  expect(await t.sql("select count(*)::int as n from idempotency_record where response is not null")).toEqual([{ n: 5 }]);
  expect(secrets).toHaveLength(4 + 5 + 2);
  // …and none of the secrets is anywhere, in any column of any table.
  for (const secret of secrets) expect(secret.length).toBeGreaterThan(30);
  const held = await columnsHoldingEach(secrets);
  for (const secret of secrets) expect(held.get(secret), secret.slice(0, 8)).toEqual([]);
  // The scan finds what is there: each key's SHA-256 (and only there), and its prefix.
  const hashes = secrets.filter((s) => s.startsWith("loy_")).map((key) => createHash("sha256").update(key).digest("hex"));
  expect(hashes).toHaveLength(5);
  const heldHashes = await columnsHoldingEach(hashes);
  for (const h of hashes) expect(heldHashes.get(h)).toEqual(["api_key.key_hash"]);
  expect(await columnsHolding(first.body.apiKey.slice(0, 8))).toContain("api_key.prefix");
  // The scan searches bytea as bytes: the stored replay holds the key's id.
  expect(await columnsHolding(first.body.id)).toEqual(expect.arrayContaining(["api_key.id", "idempotency_record.response"]));
}, 120_000);
