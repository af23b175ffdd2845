import ipaddr from "ipaddr.js";
import { invalidArgument } from "./errors.js";

/** What a webhook URL may aim at (config: WEBHOOK_ALLOW_HTTP / _PRIVATE / _LOOPBACK). */
export interface UrlPolicy {
  allowHttp: boolean;
  allowPrivate: boolean;
  allowLoopback: boolean;
}

export const MAX_URL_LENGTH = 2000;

/** Ranges refused unless private targets are allowed (SSRF: internal networks, cloud metadata at 169.254.169.254). */
const PRIVATE_RANGES = new Set(["private", "linkLocal", "uniqueLocal", "carrierGradeNat"]);

/** Why an address may not be called, or undefined when it may (contract §11). */
export function refusedAddress(address: string, policy: UrlPolicy): string | undefined {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.process(address);
  } catch {
    return "is not an IP address";
  }
  const range = ip.range();
  if (range === "unicast") return undefined;
  if (range === "loopback") return policy.allowLoopback ? undefined : "aims at a loopback address";
  if (PRIVATE_RANGES.has(range)) return policy.allowPrivate ? undefined : `aims at a ${range === "linkLocal" ? "link-local" : "private"} address`;
  return `aims at a reserved address (${range})`;
}

/** The host of a URL without IPv6 brackets. */
export const bareHost = (url: URL): string => url.hostname.replace(/^\[(.*)\]$/, "$1");

/** Is the host loopback by name or address (localhost, 127.0.0.0/8, ::1)? */
export function isLoopbackHost(host: string): boolean {
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  return ipaddr.isValid(host) && ipaddr.process(host).range() === "loopback";
}

/**
 * Checks a webhook URL's form (contract §11): absolute, https (http only to
 * loopback or when allowed), at most 2,000 characters, no credentials, and
 * when the host is an IP address, one that may be called. A host name is
 * resolved and checked again at every delivery (DNS can change). Throws a
 * 400 naming `field`.
 */
export function checkWebhookUrl(raw: string, policy: UrlPolicy, field = "url"): URL {
  if (raw.length === 0) throw invalidArgument(`${field} is required`);
  if (raw.length > MAX_URL_LENGTH) throw invalidArgument(`${field} must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidArgument(`${field} must be an absolute URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw invalidArgument(`${field} must be an https:// URL`);
  if (url.username !== "" || url.password !== "") throw invalidArgument(`${field} must not carry credentials`);
  const host = bareHost(url);
  if (host === "") throw invalidArgument(`${field} must name a host`);
  if (ipaddr.isValid(host)) {
    const why = refusedAddress(host, policy);
    if (why) throw invalidArgument(`${field} ${why}`);
  } else if (isLoopbackHost(host) && !policy.allowLoopback) {
    throw invalidArgument(`${field} aims at a loopback address`);
  }
  if (url.protocol === "http:" && !policy.allowHttp && !isLoopbackHost(host)) {
    throw invalidArgument(`${field} must be an https:// URL (http:// only to loopback, or with WEBHOOK_ALLOW_HTTP=true)`);
  }
  return url;
}
