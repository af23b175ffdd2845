import { getCountries } from "libphonenumber-js";
import { useMemo } from "react";

/**
 * The countries Loyalty+ can read local phone numbers for — libphonenumber's
 * list, the very one the server checks `defaultCountry` against — by name in
 * the browser's language, sorted by that name. The value stays the ISO 3166
 * alpha-2 code the API takes.
 */
export function countryOptions(): { code: string; name: string }[] {
  const names = new Intl.DisplayNames(undefined, { type: "region", fallback: "code" });
  return getCountries()
    .map((code) => ({ code, name: names.of(code) ?? code }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** A country picker by name (value: the two-letter code). */
export function CountrySelect(props: {
  id: string;
  "aria-describedby"?: string;
  name: string;
  value: string;
  onChange: (code: string) => void;
}) {
  const options = useMemo(countryOptions, []);
  const known = options.some((o) => o.code === props.value);
  return (
    <select id={props.id} aria-describedby={props["aria-describedby"]} name={props.name} autoComplete="country" required value={props.value} onChange={(e) => props.onChange(e.target.value)}>
      {known ? null : <option value={props.value}>{props.value || "Choose a country"}</option>}
      {options.map((o) => (
        <option key={o.code} value={o.code}>
          {o.name}
        </option>
      ))}
    </select>
  );
}
