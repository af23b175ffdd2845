import http from "node:http";
import { randomInt } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { startTestApp, type TestApp } from "./support/test-app.js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { OwnerAuth } from "../gen/loyalty/v1/account_pb.js";
import { addressSubject, clientAddressOf, LOGIN_WINDOW_MS, REGISTER_WINDOW_MS } from "../src/services/login-throttle.js";

// Issue 11, item 3: the login count is taken atomically before the password
// is checked, per (email, client address) and per client address, in fixed
// windows; register is counted per client address.
const PER_ACCOUNT = 10;
const PER_ADDRESS = 25;
const REGISTRATIONS = 4;
const PASSWORD = "correct horse battery staple";
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({
    env: {
      LOGIN_ATTEMPTS_PER_ACCOUNT: String(PER_ACCOUNT),
      LOGIN_ATTEMPTS_PER_ADDRESS: String(PER_ADDRESS),
      REGISTRATIONS_PER_ADDRESS: String(REGISTRATIONS),
    },
  });
});

afterAll(async () => {
  await t?.close();
});

afterEach(() => {
  vi.useRealTimers();
});

/**
 * A loopback address of this test's own (127.0.0.0/8 is all local on
 * Linux): counters live in the shared Redis for a whole window, so runs and
 * tests never share an address.
 */
function freshAddress(): string {
  return `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

let emails = 0;
const freshEmail = () => `throttle-${process.pid}-${Date.now()}-${emails++}@example.com`;

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: any;
}

/** A REST POST from a given local address, on a connection of its own. */
function post(path: string, body: unknown, from: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request(
      {
        host: "127.0.0.1",
        port: t.port,
        path,
        method: "POST",
        localAddress: from,
        agent: false,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload), ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode!, retryAfter: res.headers["retry-after"] as string | undefined, body: text ? JSON.parse(text) : undefined });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** An OwnerAuth client over gRPC (HTTP/2) from a given local address. */
function grpcAuth(from: string) {
  return createClient(OwnerAuth, createGrpcTransport({ baseUrl: t.url, nodeOptions: { localAddress: from } as object }));
}

const login = (email: string, password: string, from: string, headers?: Record<string, string>) =>
  post("/v1/auth/login", { email, password }, from, headers);

async function registerOwner(from = freshAddress()): Promise<string> {
  const email = freshEmail();
  const res = await post("/v1/auth/register", { businessName: "Throttle Café", email, password: PASSWORD }, from);
  expect(res.status).toBe(200);
  return email;
}

/** Freezes the clock one second into a log-in window; returns the window's start. */
function freezeAtWindowStart(windowMs: number): number {
  const start = (Math.floor(Date.now() / windowMs) + 1) * windowMs;
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(start + 1_000);
  return start;
}

const TOO_MANY = { success: false, error: { code: "resource_exhausted", message: "too many failed logins, retry later" } };
const WRONG = { success: false, error: { code: "unauthenticated", message: "invalid email or password" } };

describe("login throttle", () => {
  test("40 concurrent wrong passwords for one email: exactly 10 are checked (401), 30 are refused (429, Retry-After to the window's end)", async () => {
    const email = await registerOwner();
    freezeAtWindowStart(LOGIN_WINDOW_MS);
    const from = freshAddress();
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => login(email, `wrong password ${i}`, from)));
    const unauthorized = answers.filter((a) => a.status === 401);
    const refused = answers.filter((a) => a.status === 429);
    expect(unauthorized).toHaveLength(PER_ACCOUNT);
    expect(refused).toHaveLength(40 - PER_ACCOUNT);
    for (const a of unauthorized) expect(a.body).toEqual(WRONG);
    for (const a of refused) {
      expect(a.body).toEqual(TOO_MANY);
      // Frozen one second into a 15-minute window.
      expect(a.retryAfter).toBe(String(LOGIN_WINDOW_MS / 1000 - 1));
    }
  });

  test("39 wrong then the right password: the right one is refused (429); another address logs in, over REST and gRPC", async () => {
    const email = await registerOwner();
    freezeAtWindowStart(LOGIN_WINDOW_MS);
    const attacker = freshAddress();
    const answers = await Promise.all(Array.from({ length: 39 }, (_, i) => login(email, `wrong password ${i}`, attacker)));
    expect(answers.filter((a) => a.status === 401)).toHaveLength(PER_ACCOUNT);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(39 - PER_ACCOUNT);
    const right = await login(email, PASSWORD, attacker);
    expect(right.status).toBe(429);
    expect(right.body).toEqual(TOO_MANY);
    expect(Number(right.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(right.retryAfter)).toBeLessThanOrEqual(LOGIN_WINDOW_MS / 1000);
    // The attacker's address is locked; the real owner's is not.
    const owner = await login(email, PASSWORD, freshAddress());
    expect(owner.status).toBe(200);
    expect(owner.body).toEqual({ success: true, token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/), expiresIn: 43200 });
    // Over gRPC, from the attacker's address: refused; from another: in.
    const refused = await grpcAuth(attacker).login({ email, password: PASSWORD }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((refused as ConnectError).rawMessage).toBe("too many failed logins, retry later");
    const grpcLogin = await grpcAuth(freshAddress()).login({ email, password: PASSWORD });
    expect(grpcLogin.success).toBe(true);
    expect(grpcLogin.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  });

  test("gRPC shares the counts: after 10 failures over gRPC, REST from the same address is refused", async () => {
    const email = await registerOwner();
    const from = freshAddress();
    const auth = grpcAuth(from);
    for (let i = 0; i < PER_ACCOUNT; i++) {
      const err = await auth.login({ email, password: `wrong ${i}` }).catch((e: unknown) => e);
      expect((err as ConnectError).code).toBe(Code.Unauthenticated);
    }
    const over = await auth.login({ email, password: PASSWORD }).catch((e: unknown) => e);
    expect((over as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((await login(email, PASSWORD, from)).status).toBe(429);
  });

  test("windows are fixed: failures in a window do not extend it; at the next window the right password logs in, and a success resets the count", async () => {
    const email = await registerOwner();
    const from = freshAddress();
    const start = freezeAtWindowStart(LOGIN_WINDOW_MS);
    for (let i = 0; i < PER_ACCOUNT; i++) expect((await login(email, `wrong ${i}`, from)).status).toBe(401);
    // Ten minutes later the attacker is still trying: refused, and the end stays where it was.
    vi.setSystemTime(start + 10 * 60_000);
    const late = await login(email, "still wrong", from);
    expect(late.status).toBe(429);
    expect(late.retryAfter).toBe(String(5 * 60));
    vi.setSystemTime(start + LOGIN_WINDOW_MS - 1_000);
    expect((await login(email, PASSWORD, from)).retryAfter).toBe("1");
    // The next window: the owner is in.
    vi.setSystemTime(start + LOGIN_WINDOW_MS);
    expect((await login(email, PASSWORD, from)).status).toBe(200);
    // A success reset the (email, address) count: ten more failures are checked before the 429.
    for (let i = 0; i < PER_ACCOUNT - 1; i++) expect((await login(email, `wrong again ${i}`, from)).status).toBe(401);
    expect((await login(email, PASSWORD, from)).status).toBe(200);
    for (let i = 0; i < PER_ACCOUNT; i++) expect((await login(email, `wrong again ${i}`, from)).status).toBe(401);
    expect((await login(email, PASSWORD, from)).status).toBe(429);
  });

  test("unknown emails are counted the same way (the throttle tells nothing about accounts)", async () => {
    const ghost = `ghost-${process.pid}-${Date.now()}@example.com`;
    const from = freshAddress();
    const answers = await Promise.all(Array.from({ length: PER_ACCOUNT + 3 }, () => login(ghost, "whatever pass", from)));
    expect(answers.map((a) => a.status).sort()).toEqual([...Array(PER_ACCOUNT).fill(401), 429, 429, 429]);
  });

  test("per address: failures over many emails from one address stop at its limit; successes are not counted; other addresses are untouched", async () => {
    const owner = await registerOwner();
    const from = freshAddress();
    freezeAtWindowStart(LOGIN_WINDOW_MS);
    // Successes take their own attempt back from the address's count.
    for (let i = 0; i < 5; i++) expect((await login(owner, PASSWORD, from)).status).toBe(200);
    const spray = await Promise.all(Array.from({ length: PER_ADDRESS + 5 }, (_, i) => login(`spray-${i}-${freshEmail()}`, "guess guess", from)));
    expect(spray.filter((a) => a.status === 401)).toHaveLength(PER_ADDRESS);
    expect(spray.filter((a) => a.status === 429)).toHaveLength(5);
    // The address is now refused for every email, the right password included…
    expect((await login(owner, PASSWORD, from)).status).toBe(429);
    // …but not another address.
    expect((await login(owner, PASSWORD, freshAddress())).status).toBe(200);
  });

  test("X-Forwarded-For is not trusted by default: rotating it does not escape the count", async () => {
    const email = await registerOwner();
    const from = freshAddress();
    const answers = await Promise.all(
      Array.from({ length: PER_ACCOUNT + 2 }, (_, i) => login(email, `wrong ${i}`, from, { "x-forwarded-for": `203.0.113.${i + 1}` })),
    );
    expect(answers.filter((a) => a.status === 401)).toHaveLength(PER_ACCOUNT);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(2);
  });
});

describe("without Redis", () => {
  test("the in-process store counts atomically too: 14 concurrent wrong passwords, 10 checked, 4 refused", async () => {
    const single = await startTestApp({ redisUrl: null, databaseUrl: t.databaseUrl, env: { LOGIN_ATTEMPTS_PER_ACCOUNT: String(PER_ACCOUNT) } });
    try {
      const email = await registerOwner();
      freezeAtWindowStart(LOGIN_WINDOW_MS);
      const from = freshAddress();
      const answers = await Promise.all(
        Array.from({ length: PER_ACCOUNT + 4 }, (_, i) =>
          new Promise<number>((resolve, reject) => {
            const payload = JSON.stringify({ email, password: `wrong ${i}` });
            http
              .request(
                { host: "127.0.0.1", port: single.port, path: "/v1/auth/login", method: "POST", localAddress: from, agent: false, headers: { "content-type": "application/json" } },
                (res) => {
                  res.resume();
                  res.on("end", () => resolve(res.statusCode!));
                },
              )
              .on("error", reject)
              .end(payload);
          }),
        ),
      );
      expect(answers.sort()).toEqual([...Array(PER_ACCOUNT).fill(401), 429, 429, 429, 429]);
    } finally {
      await single.close();
    }
  });
});

describe("register throttle", () => {
  test("registrations per address: 4 an hour, then 429 with Retry-After and nothing written; another address still registers", async () => {
    const start = freezeAtWindowStart(REGISTER_WINDOW_MS);
    vi.setSystemTime(start + 30 * 60_000);
    const from = freshAddress();
    const before = await t.sql<{ n: number }>("select count(*)::int as n from owner");
    const answers = await Promise.all(
      Array.from({ length: REGISTRATIONS + 3 }, (_, i) =>
        post("/v1/auth/register", { businessName: `Shop ${i}`, email: freshEmail(), password: PASSWORD }, from),
      ),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(REGISTRATIONS);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(3);
    for (const r of refused) {
      expect(r.body).toEqual({ success: false, error: { code: "resource_exhausted", message: "too many registrations from this address, retry later" } });
      expect(r.retryAfter).toBe(String(30 * 60));
    }
    expect(await t.sql("select count(*)::int as n from owner")).toEqual([{ n: before[0]!.n + REGISTRATIONS }]);
    expect((await post("/v1/auth/register", { businessName: "Elsewhere", email: freshEmail(), password: PASSWORD }, freshAddress())).status).toBe(200);
    // The next hour the address may register again.
    vi.setSystemTime(start + REGISTER_WINDOW_MS);
    expect((await post("/v1/auth/register", { businessName: "Later", email: freshEmail(), password: PASSWORD }, from)).status).toBe(200);
  });
});

describe("client addresses", () => {
  test("IPv4 and IPv4-mapped IPv6 are one subject; IPv6 is counted by its /64; nonsense is one subject", () => {
    expect(addressSubject("192.0.2.7")).toBe("192.0.2.7");
    expect(addressSubject("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(addressSubject("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressSubject("2001:db8:1:2:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(addressSubject("2001:db8:1:3::1")).toBe("2001:db8:1:3::/64");
    expect(addressSubject(undefined)).toBe("unknown");
    expect(addressSubject("not an address")).toBe("unknown");
  });

  test("X-Forwarded-For counts only with TRUST_PROXY, and then its last entry (the proxy's)", () => {
    expect(clientAddressOf("10.0.0.1", "198.51.100.9, 203.0.113.5", false)).toBe("10.0.0.1");
    expect(clientAddressOf("10.0.0.1", "198.51.100.9, 203.0.113.5", true)).toBe("203.0.113.5");
    expect(clientAddressOf("10.0.0.1", "garbage", true)).toBe("10.0.0.1");
    expect(clientAddressOf("10.0.0.1", null, true)).toBe("10.0.0.1");
  });
});
