import { createHash, randomInt } from "node:crypto";
import { hash, verify } from "@node-rs/argon2";
import { SignJWT, jwtVerify } from "jose";

const BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** The shape of a POS API key (contract §3). */
export const API_KEY_PATTERN = /^loy_[A-Za-z0-9]{32}$/;

/** A new API key: `loy_` and 32 base62 characters from the CSPRNG. */
export function generateApiKey(): string {
  let body = "";
  for (let i = 0; i < 32; i++) body += BASE62[randomInt(62)];
  return `loy_${body}`;
}

/** SHA-256 hex of an API key: what is stored and what the cache is keyed by. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** OWASP's argon2id minimum: m = 19 MiB, t = 2, p = 1. */
const ARGON2_OPTIONS = { algorithm: 2 /* Argon2id */, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

/** Hashes a password with argon2id (PHC string). */
export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2_OPTIONS);
}

/** Verifies a password against its PHC string; false on any mismatch. */
export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    return await verify(phc, password);
  } catch {
    return false;
  }
}

/** A hash of a never-used password, verified when the email is unknown so
 * that both failures take the same time. */
let dummyHash: Promise<string> | undefined;
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hashPassword("loyalty-plus-timing-equaliser");
  return dummyHash;
}

/** The claims of an owner token. */
export interface OwnerClaims {
  ownerId: string;
  businessId: string;
  /**
   * The owner's token generation when the token was issued (claim `gen`;
   * 0 for tokens from before it existed). A log-out or password change
   * moves the owner's generation on, which ends every token of an older one
   * — exact, where `iat` has 1-second resolution (owner-token-cache.ts).
   */
  generation: number;
}

/** The claims of a verified token, and when it expires (epoch milliseconds). */
export interface VerifiedClaims extends OwnerClaims {
  expiresAt: number;
}

/** Signs and verifies owner JWTs: HS256 only, with exp, iss and aud. */
export interface TokenService {
  sign(claims: OwnerClaims): Promise<{ token: string; expiresIn: number }>;
  /** Returns the claims and the expiry (epoch ms), or null for any invalid, expired or foreign token. */
  verify(token: string): Promise<VerifiedClaims | null>;
}

export function createTokenService(opts: {
  secret: Uint8Array;
  issuer: string;
  audience: string;
  ttlSeconds: number;
}): TokenService {
  // Imported once: given raw bytes, jose imports the HMAC key on every call,
  // about a tenth of an owner request's CPU. (A token verified once is
  // remembered by src/services/cached-reads.ts.)
  const key = crypto.subtle.importKey("raw", new Uint8Array(opts.secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  return {
    async sign(claims) {
      const token = await new SignJWT({ bid: claims.businessId, gen: claims.generation })
        .setProtectedHeader({ alg: "HS256", typ: "JWT" })
        .setSubject(claims.ownerId)
        .setIssuer(opts.issuer)
        .setAudience(opts.audience)
        .setIssuedAt()
        .setExpirationTime(`${opts.ttlSeconds}s`)
        .sign(await key);
      return { token, expiresIn: opts.ttlSeconds };
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, await key, {
          algorithms: ["HS256"],
          issuer: opts.issuer,
          audience: opts.audience,
          requiredClaims: ["exp", "sub", "iss", "aud"],
        });
        if (typeof payload.sub !== "string" || typeof payload.bid !== "string") return null;
        const gen = payload.gen ?? 0;
        if (typeof gen !== "number" || !Number.isSafeInteger(gen) || gen < 0) return null;
        return { ownerId: payload.sub, businessId: payload.bid, generation: gen, expiresAt: payload.exp! * 1000 };
      } catch {
        // Any malformed, foreign, expired or tampered token.
        return null;
      }
    },
  };
}
