import { lookup as dnsLookup } from "node:dns/promises";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import ipaddr from "ipaddr.js";
import { bareHost, refusedAddress, type UrlPolicy } from "../domain/webhook-url.js";

/** Resolves a host name to its addresses (injectable: tests map names to loopback). */
export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;

export const systemResolver: Resolver = (host) => dnsLookup(host, { all: true, verbatim: true });

/** What one attempt got back. `status` 0: no answer (refused address, DNS, connection, timeout). */
export interface AttemptResult {
  status: number;
  latencyMs: number;
  /** The first 1 KiB of the answer's body (UTF-8, invalid bytes replaced). */
  body: string;
  error: string;
  /** The answer's Retry-After, in seconds (a number or an HTTP date). */
  retryAfterSeconds?: number;
}

export const BODY_KEPT_BYTES = 1024;

/** Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterSeconds(value: string | undefined, now: number): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * The address to call for a URL, checked after resolution (contract §11:
 * re-checked at every delivery, since DNS can change). Every address the
 * name resolves to must be allowed — one refused address refuses the
 * delivery — and the connection is pinned to the one checked, so a second
 * resolution cannot swap in another (DNS rebinding).
 */
export async function resolveTarget(url: URL, policy: UrlPolicy, resolve: Resolver): Promise<{ address: string; family: number } | { refused: string }> {
  const host = bareHost(url);
  if (ipaddr.isValid(host)) {
    const why = refusedAddress(host, policy);
    return why ? { refused: `${host} ${why}` } : { address: host, family: host.includes(":") ? 6 : 4 };
  }
  let found: { address: string; family: number }[];
  try {
    found = await resolve(host);
  } catch (err) {
    return { refused: `DNS lookup of ${host} failed (${(err as { code?: string }).code ?? "error"})` };
  }
  if (found.length === 0) return { refused: `${host} has no address` };
  for (const a of found) {
    const why = refusedAddress(a.address, policy);
    if (why) return { refused: `${host} resolves to ${a.address}, which ${why.replace(/^aims at/, "is")}` };
  }
  return found[0]!;
}

/**
 * POSTs one delivery to a pinned address. Never throws: a refused
 * connection, a timeout (whole attempt, `timeoutMs`), a redirect or any
 * answer is a result to record. Only the first 1 KiB of the body is read.
 */
export function postWebhook(
  url: URL,
  target: { address: string; family: number },
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<AttemptResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const pinned: LookupFunction = (_host, opts, cb) => {
    if ((opts as { all?: boolean }).all) (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [target]);
    else cb(null, target.address, target.family);
  };
  return new Promise((done) => {
    let settled = false;
    const finish = (r: Omit<AttemptResult, "latencyMs">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      done({ ...r, latencyMs: elapsed() });
    };
    const lib = url.protocol === "https:" ? https : http;
    const req = lib.request(
      url,
      {
        method: "POST",
        lookup: pinned,
        headers: { ...headers, "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), "user-agent": "Loyalty+-Webhooks/1" },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        const status = res.statusCode ?? 0;
        const retryAfter = retryAfterSeconds(res.headers["retry-after"] as string | undefined, Date.now());
        const end = () =>
          finish({ status, body: Buffer.concat(chunks).subarray(0, BODY_KEPT_BYTES).toString("utf8"), error: "", ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}) });
        res.on("data", (chunk: Buffer) => {
          if (kept < BODY_KEPT_BYTES) {
            chunks.push(chunk);
            kept += chunk.length;
          }
          if (kept >= BODY_KEPT_BYTES) end();
        });
        res.on("end", end);
        res.on("error", end);
      },
    );
    const timer = setTimeout(() => finish({ status: 0, body: "", error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    req.on("error", (err: NodeJS.ErrnoException) => finish({ status: 0, body: "", error: `${err.code ?? "error"}: ${err.message}`.slice(0, 500) }));
    req.end(body);
  });
}
