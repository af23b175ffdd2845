import { LRUCache } from "lru-cache";
import ct from "countries-and-timezones";
import countryToCurrency from "country-to-currency";
import { invalidArgument } from "./errors.js";

/**
 * A program's time zone and currency (contract §9): defaults from the
 * business's country by well-kept data (countries-and-timezones,
 * country-to-currency), and local wall time by Intl, never by hand-added
 * offsets.
 */

/**
 * The zone of the largest city of countries that span several zones (the
 * library lists a country's zones alphabetically: America/Adak first for
 * the US). The owner can set any other zone.
 */
const MAIN_ZONE: Record<string, string> = {
  US: "America/New_York", CA: "America/Toronto", AU: "Australia/Sydney", BR: "America/Sao_Paulo",
  RU: "Europe/Moscow", MX: "America/Mexico_City", ES: "Europe/Madrid", PT: "Europe/Lisbon",
  AR: "America/Argentina/Buenos_Aires", CL: "America/Santiago", ID: "Asia/Jakarta", KZ: "Asia/Almaty",
  NZ: "Pacific/Auckland", CN: "Asia/Shanghai", DE: "Europe/Berlin", EC: "America/Guayaquil",
  MN: "Asia/Ulaanbaatar", UA: "Europe/Kyiv", UZ: "Asia/Tashkent", MY: "Asia/Kuala_Lumpur",
  CD: "Africa/Kinshasa", GL: "America/Nuuk", FM: "Pacific/Pohnpei", KI: "Pacific/Tarawa",
  PF: "Pacific/Tahiti", PG: "Pacific/Port_Moresby", CY: "Asia/Nicosia",
};

/** The country's main IANA zone (IE → Europe/Dublin); UTC when unknown. */
export function defaultTimezone(country: string): string {
  const code = country.toUpperCase();
  const c = ct.getCountry(code as Parameters<typeof ct.getCountry>[0]);
  if (!c || c.timezones.length === 0) return "UTC";
  const main = MAIN_ZONE[code];
  return main && (c.timezones as readonly string[]).includes(main) ? main : c.timezones.length === 1 ? c.timezones[0]! : (main ?? c.timezones[0]!);
}

/** The country's currency (IE → EUR); EUR when unknown. */
export function defaultCurrency(country: string): string {
  return (countryToCurrency as Record<string, string>)[country.toUpperCase()] ?? "EUR";
}

const ZONES = new Set(Intl.supportedValuesOf("timeZone"));

/** Checks an IANA zone name ("Europe/Dublin"); Intl's canonical names, plus UTC. */
export function timezone(value: string, field = "timezone"): string {
  const v = value.trim();
  if (v === "UTC" || ZONES.has(v)) return v;
  // Aliases Intl accepts but does not list (e.g. "Asia/Calcutta").
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: v });
    if (/^[A-Za-z_]+(?:\/[A-Za-z0-9_+-]+)+$/.test(v)) return v;
  } catch {
    /* refused below */
  }
  throw invalidArgument(`${field} must be an IANA time zone such as Europe/Dublin`);
}

/** Local wall time of an instant in a zone. */
export interface LocalTime {
  /** "YYYY-MM-DD". */
  date: string;
  /** 1 = Monday … 7 = Sunday. */
  weekday: number;
  /** Minutes since local midnight. */
  minute: number;
}

const formatters = new LRUCache<string, Intl.DateTimeFormat>({ max: 1_000 });
const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

export function localTime(at: Date, zone: string): LocalTime {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    formatters.set(zone, f);
  }
  const parts: Record<string, string> = {};
  for (const p of f.formatToParts(at)) parts[p.type] = p.value;
  return {
    date: `${parts.year}-${parts.month}-${parts.day}`,
    weekday: WEEKDAYS[parts.weekday!]!,
    minute: Number(parts.hour) * 60 + Number(parts.minute),
  };
}
