import { expect } from "vitest";
/** A response as the tests look at it. */
export interface RestResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** Plain `fetch` against the REST routes, as a web integrator calls them. */
export async function rest<T = any>(
  baseUrl: string,
  method: string,
  path: string,
  opts: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<RestResponse<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await fetch(baseUrl + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

/** A registered business with an owner token and a POS API key. */
export interface Business {
  businessId: string;
  ownerId: string;
  token: string;
  apiKey: string;
  apiKeyId: string;
  email: string;
  password: string;
}

let counter = 0;

/** Registers a fresh business (unique email) and creates an API key. */
export async function registerBusiness(baseUrl: string, program?: Record<string, unknown>): Promise<Business> {
  const email = `owner-${process.pid}-${Date.now()}-${counter++}@example.com`;
  const password = "correct horse battery staple";
  const reg = await rest(baseUrl, "POST", "/v1/auth/register", { body: { businessName: "Test Café", email, password } });
  if (reg.status !== 200) throw new Error(`register failed: ${reg.status} ${reg.text}`);
  const auth = { authorization: `Bearer ${reg.body.token}` };
  const key = await rest(baseUrl, "POST", "/v1/owner/api-keys", { body: { name: "till 1" }, headers: auth });
  if (key.status !== 200) throw new Error(`api key failed: ${key.status} ${key.text}`);
  if (program) {
    const p = await rest(baseUrl, "PATCH", "/v1/owner/program", { body: program, headers: auth });
    if (p.status !== 200) throw new Error(`program failed: ${p.status} ${p.text}`);
  }
  return {
    businessId: reg.body.businessId,
    ownerId: reg.body.ownerId,
    token: reg.body.token,
    apiKey: key.body.apiKey,
    apiKeyId: key.body.id,
    email,
    password,
  };
}

/** Headers for owner (JWT) calls. */
export const ownerAuth = (b: Business) => ({ authorization: `Bearer ${b.token}` });
/** Headers for POS (API key) calls. */
export const posAuth = (b: Business) => ({ "x-api-key": b.apiKey });

/** A new business's program as the contract defines it (§4), in proto3 JSON. */
export const DEFAULT_PROGRAM_JSON = {
  mode: "SPEND",
  pointsPerCurrencyUnit: 1,
  pointsPerUnit: 1,
  pointsPerVisit: 1,
  rewardThreshold: 100,
  rewardTitle: "Free Reward",
  defaultCountry: "IE",
  currency: "EUR",
  // Issue 15: the program's time zone and its catalogue (the default reward).
  timezone: "Europe/Dublin",
  rewards: [expect.objectContaining({ id: expect.any(String), title: "Free Reward", cost: 100, active: true, isDefault: true, redeemedCount: 0 })],
  defaultRewardId: expect.any(String),
  // Issue 16: no expiry policy.
  pointsExpireAfterMonths: 0,
  expiryWarningDays: 14,
};
