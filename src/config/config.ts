import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

/**
 * The validated configuration of one service instance. It is read once, at
 * start, by `loadConfig`; nothing else in the code base reads `process.env`.
 */
export interface Config {
  port: number;
  host: string;
  /** PostgreSQL URL; undefined means "start the embedded PostgreSQL". */
  databaseUrl: string | undefined;
  /** Redis URL; undefined means in-process cache and locks (one instance). */
  redisUrl: string | undefined;
  jwtSecret: Uint8Array;
  jwtIssuer: string;
  jwtAudience: string;
  /** Lifetime of owner tokens, in seconds. */
  jwtTtlSeconds: number;
  logLevel: string;
  production: boolean;
  /** Folder for the embedded database and the generated dev secret. */
  dataDir: string;
  /** Origins allowed by CORS (the admin portal's); same-origin always works. */
  corsOrigins: string[];
  /** Serve gRPC server reflection. */
  reflection: boolean;
  /** Requests per minute per API key (POS), shared across instances via Redis. */
  posRateLimitPerMinute: number;
  /** Requests per minute per owner (JWT subject). */
  ownerRateLimitPerMinute: number;
  /** Largest accepted request body, in bytes. */
  bodyLimitBytes: number;
  /** How long validated API keys stay in the cache, in seconds (<= 60). */
  apiKeyCacheTtlSeconds: number;
  /** How long an owner's customer-list result may be served again while nothing changed (0 = never). */
  listCacheTtlMs: number;
  /** Log-in attempts per (email, client address) per 15-minute window (login-throttle.ts). */
  loginAttemptsPerAccount: number;
  /** Failed log-in attempts per client address per 15-minute window. */
  loginAttemptsPerAddress: number;
  /** Registrations per client address per hour. */
  registrationsPerAddress: number;
  /** The client address is the last X-Forwarded-For entry (one trusted proxy in front), not the socket's. */
  trustProxy: boolean;
  /** Run the background jobs (schedules and queue workers, src/jobs/) on this instance. */
  jobs: boolean;
  /** Webhook endpoints (contract §11): what URLs may be registered and called. */
  webhooks: WebhookConfig;
}

/** Webhook delivery settings (contract §11; README "Events and webhooks"). */
export interface WebhookConfig {
  /** http:// to any host, not only to loopback (WEBHOOK_ALLOW_HTTP). */
  allowHttp: boolean;
  /** Private, link-local, carrier-grade-NAT and unique-local targets (WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate: boolean;
  /** Loopback targets (127.0.0.0/8, ::1, localhost): on outside production (WEBHOOK_ALLOW_LOOPBACK). */
  allowLoopback: boolean;
  /** The key signing secrets are encrypted with at rest: WEBHOOK_SECRET_KEY, else derived from the JWT secret. */
  secretKey: Uint8Array;
  /** A delivery attempt's deadline (15 s by the contract; WEBHOOK_TIMEOUT_MS for tests). */
  timeoutMs: number;
}

type Env = Record<string, string | undefined>;

function intVar(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw new Error(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new Error(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function boolVar(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new Error(`${name} must be true or false, got "${raw}"`);
}

/**
 * Outside production a missing JWT_SECRET is generated once and kept in the
 * data folder, so owners stay signed in across restarts of a dev instance.
 */
function devSecret(dataDir: string): Uint8Array {
  const file = join(dataDir, "jwt-secret");
  if (existsSync(file)) return new TextEncoder().encode(readFileSync(file, "utf8").trim());
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(48).toString("base64url");
  writeFileSync(file, secret, { mode: 0o600 });
  return new TextEncoder().encode(secret);
}

/**
 * Reads and validates the environment (contract §7). Throws an Error naming
 * the variable when a value is unusable, so a misconfigured instance stops at
 * start instead of failing requests later.
 */
export function loadConfig(env: Env = process.env): Config {
  const production = env.NODE_ENV === "production";
  const dataDir = resolve(env.DATA_DIR || "./.data");
  const rawSecret = env.JWT_SECRET;
  let jwtSecret: Uint8Array;
  if (rawSecret !== undefined && rawSecret !== "") {
    jwtSecret = new TextEncoder().encode(rawSecret);
    if (jwtSecret.length < 32) throw new Error("JWT_SECRET must be at least 32 bytes");
  } else if (production) {
    throw new Error("JWT_SECRET is required when NODE_ENV=production");
  } else {
    jwtSecret = devSecret(dataDir);
  }
  const logLevel = env.LOG_LEVEL || "info";
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel)) {
    throw new Error(`LOG_LEVEL must be a pino level, got "${logLevel}"`);
  }
  return {
    port: intVar(env, "PORT", 8080, 0, 65535),
    host: env.HOST || "0.0.0.0",
    databaseUrl: env.DATABASE_URL || undefined,
    redisUrl: env.REDIS_URL || undefined,
    jwtSecret,
    jwtIssuer: env.JWT_ISSUER || "loyalty-plus",
    jwtAudience: env.JWT_AUDIENCE || "loyalty-plus-owner",
    jwtTtlSeconds: intVar(env, "JWT_TTL_SECONDS", 12 * 3600, 60, 30 * 24 * 3600),
    logLevel,
    production,
    dataDir,
    corsOrigins: (env.CORS_ORIGINS || "").split(",").map((s) => s.trim()).filter(Boolean),
    reflection: boolVar(env, "GRPC_REFLECTION", !production),
    posRateLimitPerMinute: intVar(env, "POS_RATE_LIMIT_PER_MINUTE", 6_000_000, 1, 100_000_000),
    ownerRateLimitPerMinute: intVar(env, "OWNER_RATE_LIMIT_PER_MINUTE", 6_000_000, 1, 100_000_000),
    bodyLimitBytes: intVar(env, "BODY_LIMIT_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024),
    apiKeyCacheTtlSeconds: intVar(env, "API_KEY_CACHE_TTL_SECONDS", 60, 1, 60),
    listCacheTtlMs: intVar(env, "LIST_CACHE_TTL_MS", 3_000, 0, 60_000),
    loginAttemptsPerAccount: intVar(env, "LOGIN_ATTEMPTS_PER_ACCOUNT", 10, 1, 1_000_000),
    loginAttemptsPerAddress: intVar(env, "LOGIN_ATTEMPTS_PER_ADDRESS", 100, 1, 100_000_000),
    registrationsPerAddress: intVar(env, "REGISTRATIONS_PER_ADDRESS", 200, 1, 100_000_000),
    trustProxy: boolVar(env, "TRUST_PROXY", false),
    jobs: boolVar(env, "JOBS", true),
    webhooks: {
      allowHttp: boolVar(env, "WEBHOOK_ALLOW_HTTP", false),
      allowPrivate: boolVar(env, "WEBHOOK_ALLOW_PRIVATE", false),
      allowLoopback: boolVar(env, "WEBHOOK_ALLOW_LOOPBACK", !production),
      secretKey: env.WEBHOOK_SECRET_KEY ? new TextEncoder().encode(env.WEBHOOK_SECRET_KEY) : jwtSecret,
      timeoutMs: intVar(env, "WEBHOOK_TIMEOUT_MS", 15_000, 100, 60_000),
    },
  };
}
