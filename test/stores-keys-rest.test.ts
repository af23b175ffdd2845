/**
 * Issue 18, item 4 (server side) and item 3's currency: stores renamed,
 * deleted or archived, duplicate names refused; API keys renamed; the
 * program's currency. Over REST, and the same RPCs through grpc-js stubs.
 */
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { expectError, keysOf } from "./support/assertions.js";
import { loadGrpcStubs, metadata } from "./support/grpc.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";
import { startTestApp, type TestApp } from "./support/test-app.js";

let t: TestApp;
let b: Business;
let other: Business;
beforeAll(async () => {
  t = await startTestApp();
  [b, other] = await Promise.all([registerBusiness(t.url), registerBusiness(t.url)]);
});
afterAll(async () => {
  await t?.close();
});

const call = (biz: Business, method: string, path: string, body?: unknown) => rest(t.url, method, path, { body, headers: ownerAuth(biz) });
const storeRows = (businessId: string) =>
  t.sql<{ id: string; name: string; archived: boolean }>(
    `select id, name, archived_at is not null as archived from store where business_id = $1 order by created_at, id`,
    [businessId],
  );
async function newStore(biz: Business, name: string): Promise<string> {
  const r = await call(biz, "POST", "/v1/owner/stores", { name });
  expect(r.status, r.text).toBe(200);
  return r.body.store.id;
}

describe("stores", () => {
  test("a duplicate name is refused with 409, ignoring case and surrounding spaces, and nothing is written", async () => {
    await newStore(b, "Main Street");
    const before = await storeRows(b.businessId);
    for (const name of ["Main Street", "  main street ", "MAIN STREET"]) {
      expectError(await call(b, "POST", "/v1/owner/stores", { name }), 409, "already_exists", "a store with this name already exists");
    }
    expect(await storeRows(b.businessId)).toEqual(before);
    // Another business may use the same name.
    expect((await call(other, "POST", "/v1/owner/stores", { name: "Main Street" })).status).toBe(200);
  });

  test("PATCH /v1/owner/stores/{id} renames; to a taken name → 409, blank → 400, unknown or another business's → 404", async () => {
    const id = await newStore(b, "Harbour Road");
    const r = await call(b, "PATCH", `/v1/owner/stores/${id}`, { name: " Harbour Road, Howth " });
    expect(r.status, r.text).toBe(200);
    expect(keysOf(r.body)).toEqual(["store", "success"]);
    expect(r.body.success).toBe(true);
    expect(r.body.store).toMatchObject({ id, name: "Harbour Road, Howth", archivedAt: null });

    expectError(await call(b, "PATCH", `/v1/owner/stores/${id}`, { name: "main street" }), 409, "already_exists", "a store with this name already exists");
    expectError(await call(b, "PATCH", `/v1/owner/stores/${id}`, { name: "  " }), 400, "invalid_argument", "name is required");
    expectError(await call(b, "PATCH", `/v1/owner/stores/${id}`, { name: "x".repeat(201) }), 400, "invalid_argument", "name must be at most 200 characters");
    expectError(await call(b, "PATCH", `/v1/owner/stores/nosuchstore00000000000000`, { name: "Elsewhere" }), 404, "not_found", "store not found");
    expectError(await call(other, "PATCH", `/v1/owner/stores/${id}`, { name: "Stolen" }), 404, "not_found", "store not found");
    // Renaming to its own name (another case) is no conflict.
    expect((await call(b, "PATCH", `/v1/owner/stores/${id}`, { name: "HARBOUR ROAD, HOWTH" })).status).toBe(200);
    expect((await storeRows(b.businessId)).find((s) => s.id === id)).toEqual({ id, name: "HARBOUR ROAD, HOWTH", archived: false });
  });

  test("DELETE removes a store without history: gone from the list and from the database", async () => {
    const id = await newStore(b, "Pop-up stand");
    const r = await call(b, "DELETE", `/v1/owner/stores/${id}`);
    expect(r.status, r.text).toBe(200);
    expect(r.body).toEqual({ success: true, archived: false });
    expect((await storeRows(b.businessId)).some((s) => s.id === id)).toBe(false);
    expectError(await call(b, "DELETE", `/v1/owner/stores/${id}`), 404, "not_found", "store not found");
  });

  test("DELETE archives a store with history: the ledger keeps its id, the list hides it unless asked, check-ins and new keys refuse it, its name is free again", async () => {
    const id = await newStore(b, "Old Town");
    const checkin = await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353871110000", amount: 10, storeId: id }, headers: posAuth(b) });
    expect(checkin.status, checkin.text).toBe(200);

    const r = await call(b, "DELETE", `/v1/owner/stores/${id}`);
    expect(r.status, r.text).toBe(200);
    expect(r.body).toEqual({ success: true, archived: true });
    expect((await storeRows(b.businessId)).find((s) => s.id === id)).toEqual({ id, name: "Old Town", archived: true });
    const ledger = await t.sql<{ store_id: string }>(`select store_id from ledger_entry where customer_id = $1`, [checkin.body.customerId]);
    expect(ledger).toEqual([{ store_id: id }]);

    const listed = await call(b, "GET", "/v1/owner/stores");
    expect(listed.body.stores.some((s: { id: string }) => s.id === id)).toBe(false);
    const all = await call(b, "GET", "/v1/owner/stores?includeArchived=true");
    const archived = all.body.stores.find((s: { id: string }) => s.id === id);
    expect(archived.name).toBe("Old Town");
    expect(Date.parse(archived.archivedAt)).toBeGreaterThan(0);

    expectError(
      await rest(t.url, "POST", "/v1/pos/checkin", { body: { phone: "+353871110000", amount: 10, storeId: id }, headers: posAuth(b) }),
      400,
      "invalid_argument",
      "storeId is not a store of this business",
    );
    expectError(await call(b, "POST", "/v1/owner/api-keys", { name: "New till", storeId: id }), 400, "invalid_argument", "storeId is not a store of this business");
    expectError(await call(b, "PATCH", `/v1/owner/stores/${id}`, { name: "Revived" }), 404, "not_found", "store not found");
    expectError(await call(b, "DELETE", `/v1/owner/stores/${id}`), 404, "not_found", "store not found");
    // An archived store's name can be used again.
    expect((await call(b, "POST", "/v1/owner/stores", { name: "Old Town" })).status).toBe(200);
  });

  test("DELETE of a store that an active key is bound to → 400 failed_precondition until the key is revoked, then archived", async () => {
    const id = await newStore(b, "Airport kiosk");
    const key = await call(b, "POST", "/v1/owner/api-keys", { name: "Kiosk till", storeId: id });
    expect(key.status).toBe(200);
    expectError(await call(b, "DELETE", `/v1/owner/stores/${id}`), 400, "failed_precondition", "store has active API keys bound to it; revoke them first");
    expect((await storeRows(b.businessId)).find((s) => s.id === id)).toEqual({ id, name: "Airport kiosk", archived: false });
    expect((await call(b, "DELETE", `/v1/owner/api-keys/${key.body.id}`)).status).toBe(200);
    expect((await call(b, "DELETE", `/v1/owner/stores/${id}`)).body).toEqual({ success: true, archived: true });
  });

  test("over gRPC: UpdateStore and DeleteStore with the same answers and codes", async () => {
    const stubs = loadGrpcStubs(`127.0.0.1:${t.port}`);
    const md = metadata({ authorization: `Bearer ${b.token}` });
    const invoke = (method: string, req: unknown) =>
      new Promise<{ err: grpc.ServiceError | null; res: any }>((resolve) =>
        (stubs.settings as any)[method](req, md, (err: grpc.ServiceError | null, res: unknown) => resolve({ err, res })),
      );
    try {
      const id = await newStore(b, "Quay Street");
      const renamed = await invoke("UpdateStore", { id, name: "Quay Street, Galway" });
      expect(renamed.err).toBeNull();
      expect(renamed.res.store).toMatchObject({ id, name: "Quay Street, Galway" });
      const dup = await invoke("UpdateStore", { id, name: "Main Street" });
      expect(dup.err?.code).toBe(grpc.status.ALREADY_EXISTS);
      expect(dup.err?.details).toBe("a store with this name already exists");
      const deleted = await invoke("DeleteStore", { id });
      expect(deleted.err).toBeNull();
      expect(deleted.res).toEqual({ success: true, archived: false });
      const again = await invoke("DeleteStore", { id });
      expect(again.err?.code).toBe(grpc.status.NOT_FOUND);
    } finally {
      stubs.close();
    }
  });
});

describe("API keys", () => {
  test("PATCH /v1/owner/api-keys/{id} renames a key, which keeps working; too long → 400; another business's → 404", async () => {
    const r = await call(b, "PATCH", `/v1/owner/api-keys/${b.apiKeyId}`, { name: "Front till" });
    expect(r.status, r.text).toBe(200);
    expect(keysOf(r.body)).toEqual(["apiKey", "success"]);
    expect(keysOf(r.body.apiKey)).toEqual(["createdAt", "id", "lastUsedAt", "name", "prefix", "revokedAt", "storeId"]);
    expect(r.body.apiKey).toMatchObject({ id: b.apiKeyId, name: "Front till", prefix: b.apiKey.slice(0, 8), revokedAt: null });
    const listed = await call(b, "GET", "/v1/owner/api-keys");
    expect(listed.body.apiKeys.find((k: { id: string }) => k.id === b.apiKeyId).name).toBe("Front till");
    expect((await rest(t.url, "GET", "/v1/pos/balance/%2B353871110000", { headers: posAuth(b) })).status).toBe(200);

    expectError(await call(b, "PATCH", `/v1/owner/api-keys/${b.apiKeyId}`, { name: "x".repeat(101) }), 400, "invalid_argument", "name must be at most 100 characters");
    expectError(await call(other, "PATCH", `/v1/owner/api-keys/${b.apiKeyId}`, { name: "Mine now" }), 404, "not_found", "API key not found");
    const rows = await t.sql<{ name: string }>(`select name from api_key where id = $1`, [b.apiKeyId]);
    expect(rows).toEqual([{ name: "Front till" }]);
    // An empty name clears the label.
    expect((await call(b, "PATCH", `/v1/owner/api-keys/${b.apiKeyId}`, { name: "" })).body.apiKey.name).toBe("");
  });
});

describe("program currency", () => {
  test("defaults to EUR; PATCH takes an ISO 4217 code in any case; an unknown code → 400 and nothing changes", async () => {
    expect((await call(b, "GET", "/v1/owner/program")).body.program.currency).toBe("EUR");
    const r = await call(b, "PATCH", "/v1/owner/program", { currency: "gbp" });
    expect(r.status, r.text).toBe(200);
    expect(r.body.program.currency).toBe("GBP");
    for (const currency of ["EURO", "XYZ", "", "€"]) {
      expectError(await call(b, "PATCH", "/v1/owner/program", { currency }), 400, "invalid_argument", "currency must be an ISO 4217 currency code");
    }
    expect((await call(b, "GET", "/v1/owner/program")).body.program.currency).toBe("GBP");
  });
});
