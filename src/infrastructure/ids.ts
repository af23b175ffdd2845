import { randomFillSync } from "node:crypto";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz012345";
const POOL = Buffer.alloc(24 * 256);
let offset = POOL.length;

/**
 * A new opaque id: a lower-case letter and 24 characters of [a-z0-5], 120
 * random bits from the CSPRNG, drawn from a pooled buffer. It replaces cuid2
 * on the hot paths, where cuid2's SHA-3 cost about 0.35 ms per id (a fifth
 * of a check-in's CPU, see bench/README.md). Ids keep the shape callers and
 * `isCustomerId` rely on: `^[a-z][a-z0-9]{7,39}$`.
 */
export function newId(): string {
  if (offset + 24 > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  let id = "c";
  for (let i = 0; i < 24; i++) id += ALPHABET[POOL[offset + i]! & 31];
  offset += 24;
  return id;
}
