import { Code, ConnectError } from "@connectrpc/connect";

const number = new Intl.NumberFormat();
const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/** `rewardTitle` → "Reward title". */
function words(field: string): string {
  const w = field.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);
  return w.charAt(0).toUpperCase() + w.slice(1);
}

/** "-10000000" → "−10,000,000". */
function figure(text: string): string {
  const n = Number(text);
  return n < 0 ? `−${number.format(-n)}` : number.format(n);
}

/** The seconds a refusal asks to wait (Retry-After), if the server said. */
export function retryAfterSeconds(err: unknown): number | undefined {
  const raw = ConnectError.from(err).metadata.get("retry-after");
  const n = raw === null ? NaN : Number(raw);
  return Number.isFinite(n) && n >= 0 ? Math.ceil(n) : undefined;
}

/** "Try again in 3 minutes (at 20:45)." from Retry-After; a vaguer sentence without it. */
export function retryWhen(err: unknown, now = Date.now()): string {
  const s = retryAfterSeconds(err);
  if (s === undefined) return "Wait a few minutes, then try again.";
  if (s <= 1) return "Try again now.";
  if (s < 60) return `Try again in ${s} seconds.`;
  const minutes = Math.ceil(s / 60);
  return `Try again in ${minutes === 1 ? "1 minute" : `${number.format(minutes)} minutes`} (at ${clock.format(new Date(now + s * 1000))}).`;
}

/**
 * The server's messages an owner meets in the portal, in the portal's words.
 * The API's own messages stay as they are (integrators match on them); only
 * what the owner reads changes.
 */
const FRIENDLY: [RegExp, (m: RegExpMatchArray, err: ConnectError) => string][] = [
  [/^\w+ is not a valid phone number$/, () => "That doesn’t look like a phone number. Type it with its country code (+353 87 123 4567) or as a local number (087 123 4567)."],
  [/^(\w+) is required$/, (m) => `${words(m[1]!)} is required.`],
  [/^(\w+) must be a whole number from (-?\d+) to (-?\d+)$/, (m) => `${words(m[1]!)} must be a whole number from ${figure(m[2]!)} to ${figure(m[3]!)}.`],
  [/^(\w+) must be at most (\d+) characters$/, (m) => `${words(m[1]!)} can be at most ${figure(m[2]!)} characters long.`],
  [/^insufficient points$/, () => "The customer does not have enough points for that."],
  [/^customer is blocked$/, () => "This customer is blocked. Unblock them first."],
  [/^too many failed logins, retry later$/, (_m, e) => `Too many failed log-ins for this account. ${retryWhen(e)}`],
  [/^too many registrations from this address, retry later$/, (_m, e) => `Too many accounts were created from this network. ${retryWhen(e)}`],
  [/^email is not a valid email address$/, () => "That doesn’t look like an email address."],
  [/^defaultCountry must be an ISO 3166 alpha-2 country code$/, () => "Choose a country from the list."],
  [/^a customer with this phone already exists$/, () => "A customer with this phone number already exists."],
  [/^a store with this name already exists$/, () => "You already have a store with this name. Choose another name."],
  [/^the balance would exceed the largest allowed value$/, () => "That would take the balance past the largest number of points a customer can hold."],
];

/**
 * The message an owner reads for a failed call: the server's message in the
 * portal's words (FRIENDLY), otherwise the server's own message with field
 * names spelled as words and capitalised, or a plain explanation when the
 * server could not be reached at all.
 */
export function errorText(err: unknown): string {
  const e = ConnectError.from(err);
  if (e.code === Code.Unavailable || (e.code === Code.Unknown && /fetch|network/i.test(e.rawMessage))) {
    return "Loyalty+ cannot be reached. Check your connection and try again.";
  }
  if (e.code === Code.DeadlineExceeded) return "Loyalty+ took too long to answer. Try again.";
  if (e.code === Code.Internal && e.rawMessage === "internal error") {
    return "Something went wrong on our side. Try again in a moment.";
  }
  const raw = e.rawMessage.trim();
  for (const [pattern, say] of FRIENDLY) {
    const m = raw.match(pattern);
    if (m) return say(m, e);
  }
  if (e.code === Code.ResourceExhausted) return `Too many requests. ${retryWhen(e)}`;
  // The API names JSON fields (`rewardTitle is required`); owners read words.
  const text = (raw || "The request failed.").replace(/\b[a-z]+(?:[A-Z][a-z]+)+\b/g, (w) => w.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`));
  return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");
}

/**
 * The request field a refusal names (`url must be …` → "url"), so that a
 * form shows the message next to that field; undefined for any other failure.
 */
export function errorField(err: unknown): string | undefined {
  if (!err) return undefined;
  const e = ConnectError.from(err);
  if (e.code !== Code.InvalidArgument) return undefined;
  return e.rawMessage.trim().match(/^([a-z][A-Za-z0-9]*)\b/)?.[1];
}
