import { parsePhoneNumberFromString, type CountryCode, isSupportedCountry } from "libphonenumber-js";
import { invalidArgument } from "./errors.js";

/** Is `country` an ISO 3166 alpha-2 code libphonenumber knows? */
export function isKnownCountry(country: string): boolean {
  return /^[A-Z]{2}$/.test(country) && isSupportedCountry(country);
}

/**
 * Normalises a typed phone number to E.164 with the business's default
 * country (contract §4): `+353 12 345 6789`, `00353123456789` and
 * `0123456789` (IE) are one number. Every *possible* number is accepted
 * (length rules only), since the reference's own examples are not assigned
 * numbers; anything that cannot be a phone number is INVALID_ARGUMENT.
 */
export function normalizePhone(input: string, defaultCountry: string, field = "phone"): string {
  const memoKey = `${defaultCountry}|${input}`;
  let number = recent.get(memoKey);
  if (number !== undefined) return number;
  number = older.get(memoKey);
  if (number === undefined) number = parse(input, defaultCountry, field);
  remember(memoKey, number);
  return number;
}

/**
 * `normalizePhone` without the memo, for bulk input (a CSV import of 100,000
 * numbers would push the tills' numbers out of it).
 */
export function normalizePhoneUnmemoised(input: string, defaultCountry: string, field = "phone"): string {
  return parse(input, defaultCountry, field);
}

// Tills look the same numbers up all day: parsing is memoised (valid
// numbers only; a refusal is recomputed, it names the field), in two
// generations of MEMO_GENERATION entries: when the recent one is full it
// becomes the older one, and numbers still in use move back to the recent
// one. So the numbers seen lately stay (between 50,000 and 100,000 of them,
// about 15 MB at most), where one map cleared when full kept 25,000 on
// average and lost the busy ones with the rest.
const MEMO_GENERATION = 50_000;
let recent = new Map<string, string>();
let older = new Map<string, string>();

function remember(key: string, number: string) {
  if (recent.size >= MEMO_GENERATION) {
    older = recent;
    recent = new Map();
  }
  recent.set(key, number);
}

function parse(input: string, defaultCountry: string, field: string): string {
  const text = input.trim();
  if (text.length === 0) throw invalidArgument(`${field} is required`);
  if (text.length > 40 || !/^[+0-9()\-.\s/]+$/.test(text)) {
    throw invalidArgument(`${field} is not a valid phone number`);
  }
  // The text is only digits and punctuation (checked above): no phone number
  // to extract from prose, and skipping extraction halves the parse.
  const parsed = parsePhoneNumberFromString(text, { defaultCountry: defaultCountry as CountryCode, extract: false });
  if (!parsed || !parsed.isPossible()) throw invalidArgument(`${field} is not a valid phone number`);
  return parsed.number;
}

/**
 * Tells a customer id from a phone number in a POS path (`:identifier`).
 * Ids are a lower-case letter, then letters and digits;
 * phone numbers never contain letters.
 */
export function isCustomerId(identifier: string): boolean {
  return /^[a-z][a-z0-9]{7,39}$/.test(identifier);
}
