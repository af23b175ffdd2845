import { useEffect, useState } from "react";

/** A parsed `#/path?query` location. */
export interface Route {
  /** Path segments, e.g. ["customers", "abc"] for `#/customers/abc`. */
  segments: string[];
  query: URLSearchParams;
}

function parse(hash: string): Route {
  const raw = hash.replace(/^#/, "");
  const [path = "", search = ""] = raw.split("?", 2);
  const segments = path
    .split("/")
    .filter(Boolean)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  return { segments, query: new URLSearchParams(search) };
}

/**
 * Client-side routing by the URL's hash (`#/customers?page=2`): the server
 * serves the same index.html for every /portal/ URL, and reload, back and
 * forward keep working without server routes.
 */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parse(window.location.hash));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

/** Builds a hash link: href("customers", id) → "#/customers/<id>". */
export function href(...segments: string[]): string {
  return "#/" + segments.map(encodeURIComponent).join("/");
}

/** Goes to a hash location; `replace` keeps it out of the history. */
export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const target = to.startsWith("#") ? to : "#" + to;
  if (opts.replace) {
    window.history.replaceState(null, "", target);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    window.location.hash = target;
  }
}
