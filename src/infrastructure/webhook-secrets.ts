import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Webhook signing secrets (Standard Webhooks: "whsec_" and the base64 of
 * the HMAC key). The service needs the secret itself to sign, so it cannot
 * keep only a hash as it does for API keys: it is stored encrypted with
 * AES-256-GCM under a key derived (HKDF-SHA256) from WEBHOOK_SECRET_KEY or
 * the JWT secret, so a dump of the database alone signs nothing.
 */

/** A new secret: 24 random bytes (192 bits), as Svix and Standard Webhooks issue them. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString("base64")}`;
}

export interface SecretBox {
  seal(secret: string): string;
  open(sealed: string): string;
}

/** Seals and opens secrets with a key derived from `master`. Sealed: "v1." + base64(iv | tag | ciphertext). */
export function createSecretBox(master: Uint8Array): SecretBox {
  const key = Buffer.from(hkdfSync("sha256", master, Buffer.alloc(0), "loyalty-plus webhook secrets v1", 32));
  return {
    seal(secret) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const body = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
      return `v1.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
    },
    open(sealed) {
      if (!sealed.startsWith("v1.")) throw new Error("unknown sealed secret format");
      const raw = Buffer.from(sealed.slice(3), "base64");
      const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString("utf8");
    },
  };
}
