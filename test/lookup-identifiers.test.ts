/**
 * Issue 11 §8, contract §4 (updated): a look-up's `identifier` with a letter
 * in it is a customer id — an unknown one is 404 `not_found` (the
 * reference's `cuid_xxx` examples), never "not a valid phone number"; digits
 * and phone punctuation are a phone number — not a possible one is 400
 * naming `identifier`, a possible but unknown one 404. `page=0` and negative
 * pages are 400 naming `page` (and `limit=0` naming `limit`). Names are
 * optional on CreateCustomer, as its proto comment says. Over REST, gRPC
 * (grpc-js stubs) and Connect, with the same codes and messages.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { CustomerAdmin } from "../gen/loyalty/v1/admin_pb.js";
import { LoyaltyPos } from "../gen/loyalty/v1/pos_pb.js";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { call, loadGrpcStubs } from "./support/grpc.js";
import { ownerAuth, posAuth, registerBusiness, rest, type Business } from "./support/rest.js";
import { expectError } from "./support/assertions.js";

let t: TestApp;
let b: Business;
let stubs: ReturnType<typeof loadGrpcStubs>;
let customerId: string;
const PHONE = "+353861234500";

beforeAll(async () => {
  t = await startTestApp();
  stubs = loadGrpcStubs(`127.0.0.1:${t.port}`);
  b = await registerBusiness(t.url);
  const c = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "Known", phone: PHONE, initialPoints: 40 }, headers: ownerAuth(b) });
  expect(c.status, c.text).toBe(200);
  customerId = c.body.customer.id;
});
afterAll(async () => {
  stubs?.close();
  await t?.close();
});

/** Texts with a letter in them that are no customer of the business: 404. */
const UNKNOWN_IDS = [
  "cuid_does_not_exist",
  "cuid_xxx",
  "zq0000000000000000000000", // the shape of an id, unknown
  "CUSTOMER42",
  "Café",
  "abc def",
  "12345abc",
  "+353861234500x",
  "naïve-ü",
  "customer\u0000id",
  "z".repeat(150),
];
/** Digits and phone punctuation that cannot be a phone number: 400 naming identifier. */
const IMPOSSIBLE_PHONES = ["123", "+1", "0", "()", "+353 1", "9".repeat(30), "+", "--"];
/** Neither letters nor only phone characters: no customer id and no phone number either. */
const NEITHER = ["💥", "$$$", "#1", "@"];
/** Possible numbers nobody has: 404. */
const UNKNOWN_PHONES = ["+353861111111", "0861111112", "00353861111113", "+44 20 7946 0000"];

const customerPath = (kind: "customer" | "balance", identifier: string) => `/v1/pos/${kind}/${encodeURIComponent(identifier)}`;

async function rowCounts() {
  return t.sql(`select (select count(*) from customer) as customers, (select count(*) from ledger_entry) as ledger`);
}

describe("look-up identifiers over REST", () => {
  test("text with a letter in it is a customer id: an unknown one → 404 not_found on both look-ups", async () => {
    const before = await rowCounts();
    for (const identifier of UNKNOWN_IDS) {
      for (const kind of ["customer", "balance"] as const) {
        expectError(await rest(t.url, "GET", customerPath(kind, identifier), { headers: posAuth(b) }), 404, "not_found", "customer not found");
      }
    }
    expect(await rowCounts()).toEqual(before);
  });

  test("digits and phone punctuation: impossible → 400 naming identifier, possible but unknown → 404", async () => {
    const before = await rowCounts();
    for (const identifier of [...IMPOSSIBLE_PHONES, ...NEITHER]) {
      for (const kind of ["customer", "balance"] as const) {
        expectError(await rest(t.url, "GET", customerPath(kind, identifier), { headers: posAuth(b) }), 400, "invalid_argument", "identifier is not a valid phone number");
      }
    }
    for (const identifier of UNKNOWN_PHONES) {
      for (const kind of ["customer", "balance"] as const) {
        expectError(await rest(t.url, "GET", customerPath(kind, identifier), { headers: posAuth(b) }), 404, "not_found", "customer not found");
      }
    }
    // Look-ups never enrol.
    expect(await rowCounts()).toEqual(before);
  });

  test("the customer's id and every typed form of their phone find them", async () => {
    for (const identifier of [customerId, PHONE, "0861234500", "00353 86 123 4500", "(086) 123-4500", ` ${customerId} `]) {
      const r = await rest(t.url, "GET", customerPath("balance", identifier), { headers: posAuth(b) });
      expect(r.status, `${identifier}: ${r.text}`).toBe(200);
      expect(r.body).toEqual({ customerId, totalPoints: 40 });
    }
  });

  test("another business's customer id is 404 like a missing one", async () => {
    const other = await registerBusiness(t.url);
    expectError(await rest(t.url, "GET", customerPath("customer", customerId), { headers: posAuth(other) }), 404, "not_found", "customer not found");
  });
});

describe("look-up identifiers over gRPC and Connect", () => {
  test("gRPC: unknown ids NOT_FOUND, impossible numbers INVALID_ARGUMENT naming identifier, known ones found", async () => {
    for (const method of ["GetCustomer", "GetBalance"]) {
      for (const identifier of [...UNKNOWN_IDS, ...UNKNOWN_PHONES]) {
        const r = await call(stubs.pos, method, { identifier }, posAuth(b));
        expect({ identifier, code: r.error?.code, details: r.error?.details }).toEqual({ identifier, code: 5, details: "customer not found" });
      }
      for (const identifier of [...IMPOSSIBLE_PHONES, ...NEITHER]) {
        const r = await call(stubs.pos, method, { identifier }, posAuth(b));
        expect({ identifier, code: r.error?.code, details: r.error?.details }).toEqual({ identifier, code: 3, details: "identifier is not a valid phone number" });
      }
    }
    const found = await call(stubs.pos, "GetBalance", { identifier: customerId }, posAuth(b));
    expect(found.response).toEqual({ customerId, totalPoints: 40, availableRewards: [], nextExpiry: null });
  });

  test("Connect: the same codes and messages", async () => {
    const pos = createClient(LoyaltyPos, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }));
    const outcome = async (identifier: string) => {
      try {
        await pos.getCustomer({ identifier }, { headers: posAuth(b) });
        return { identifier, code: "ok" as const };
      } catch (err) {
        const e = ConnectError.from(err);
        return { identifier, code: e.code, message: e.rawMessage };
      }
    };
    for (const identifier of [...UNKNOWN_IDS, ...UNKNOWN_PHONES]) {
      expect(await outcome(identifier)).toEqual({ identifier, code: Code.NotFound, message: "customer not found" });
    }
    for (const identifier of [...IMPOSSIBLE_PHONES, ...NEITHER]) {
      expect(await outcome(identifier)).toEqual({ identifier, code: Code.InvalidArgument, message: "identifier is not a valid phone number" });
    }
    expect((await pos.getBalance({ identifier: "0861234500" }, { headers: posAuth(b) })).totalPoints).toBe(40);
  });
});

describe("list pages", () => {
  test("REST: page=0 and negative pages → 400 naming page; limit=0 → 400 naming limit; absent = page 1, 20", async () => {
    for (const q of ["page=0", "page=-1", "page=-100", "page=0&limit=5"]) {
      expectError(await rest(t.url, "GET", `/v1/owner/customers?${q}`, { headers: ownerAuth(b) }), 400, "invalid_argument", "page must be a whole number from 1 to 100000");
    }
    for (const q of ["limit=0", "limit=-5", "page=1&limit=0"]) {
      expectError(await rest(t.url, "GET", `/v1/owner/customers?${q}`, { headers: ownerAuth(b) }), 400, "invalid_argument", "limit must be a whole number from 1 to 100");
    }
    const r = await rest(t.url, "GET", "/v1/owner/customers", { headers: ownerAuth(b) });
    expect(r.status).toBe(200);
    expect(r.body.pagination).toEqual({ page: 1, limit: 20, total: 1 });
    expect((await rest(t.url, "GET", "/v1/owner/customers?page=1&limit=1", { headers: ownerAuth(b) })).body.pagination).toEqual({ page: 1, limit: 1, total: 1 });
  });

  test("gRPC: page 0 INVALID_ARGUMENT naming page; an absent page is the first", async () => {
    const zero = await call(stubs.admin, "ListCustomers", { page: 0 }, ownerAuth(b));
    expect({ code: zero.error?.code, details: zero.error?.details }).toEqual({ code: 3, details: "page must be a whole number from 1 to 100000" });
    const negative = await call(stubs.admin, "ListCustomers", { page: -3 }, ownerAuth(b));
    expect(negative.error?.code).toBe(3);
    const limitZero = await call(stubs.admin, "ListCustomers", { limit: 0 }, ownerAuth(b));
    expect({ code: limitZero.error?.code, details: limitZero.error?.details }).toEqual({ code: 3, details: "limit must be a whole number from 1 to 100" });
    const absent = await call(stubs.admin, "ListCustomers", {}, ownerAuth(b));
    expect(absent.response?.pagination).toEqual({ page: 1, limit: 20, total: 1 });
  });

  test("Connect: page 0 and negative pages INVALID_ARGUMENT naming page", async () => {
    const admin = createClient(CustomerAdmin, createConnectTransport({ baseUrl: t.url, httpVersion: "1.1" }));
    for (const page of [0, -1]) {
      const err = await admin.listCustomers({ page }, { headers: ownerAuth(b) }).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect({ code: err?.code, message: err?.rawMessage }).toEqual({ code: Code.InvalidArgument, message: "page must be a whole number from 1 to 100000" });
    }
    expect((await admin.listCustomers({}, { headers: ownerAuth(b) })).pagination?.page).toBe(1);
  });
});

describe("CreateCustomer.name is optional, as its proto comment says", () => {
  test("absent or blank: a customer with no name; trimmed; over 200 characters or with control characters → 400 naming name", async () => {
    const none = await rest(t.url, "POST", "/v1/owner/customers", { body: { phone: "+353861234501" }, headers: ownerAuth(b) });
    expect(none.status, none.text).toBe(200);
    expect(none.body.customer.name).toBe("");
    const blank = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "   ", phone: "+353861234502" }, headers: ownerAuth(b) });
    expect(blank.body.customer.name).toBe("");
    const trimmed = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "  Aoife  ", phone: "+353861234503" }, headers: ownerAuth(b) });
    expect(trimmed.body.customer.name).toBe("Aoife");
    const longest = await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "n".repeat(200), phone: "+353861234504" }, headers: ownerAuth(b) });
    expect(longest.body.customer.name).toBe("n".repeat(200));
    expectError(await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "n".repeat(201), phone: "+353861234505" }, headers: ownerAuth(b) }), 400, "invalid_argument", "name must be at most 200 characters");
    expectError(await rest(t.url, "POST", "/v1/owner/customers", { body: { name: "a\u0007b", phone: "+353861234506" }, headers: ownerAuth(b) }), 400, "invalid_argument", "name must not contain control characters");
    expect(await t.sql("select 1 from customer where phone in ('+353861234505', '+353861234506')")).toEqual([]);
  });
});
