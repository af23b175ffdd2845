import { getOption, hasOption, type DescField, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";

/**
 * REST bindings read from `google.api.http` annotations, with the whole path
 * template grammar of google/api/http.proto:
 *
 *     Template = "/" Segments [ Verb ] ;
 *     Segments = Segment { "/" Segment } ;
 *     Segment  = "*" | "**" | LITERAL | Variable ;
 *     Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *     FieldPath = IDENT { "." IDENT } ;
 *     Verb     = ":" LITERAL ;
 *
 * `{id}` is `{id=*}`: one segment. `{name=shelves/*}` binds several
 * segments, literals included, to one field ("shelves/s1"). `**` is any
 * number of segments, last only. `:verb` is the AIP-136 custom method
 * suffix (`/v1/things/{id}:reverse`). A template outside the grammar, a
 * variable naming no singular scalar field of the request, or a `custom`
 * HTTP kind stops the start (`restBindings` throws, naming the RPC).
 */

/** One piece of a path variable's value: a literal of the template, or what a Fastify parameter matched. */
export type ValuePart = { literal: string } | { param: string };

/** A path variable: the request field it sets and how its value is put together from the route's parameters. */
export interface PathVariable {
  /** Proto field names from the request message down, e.g. ["customer", "id"]. */
  fieldPath: string[];
  parts: ValuePart[];
}

/** One REST binding of an RPC. */
export interface RestBinding {
  method: DescMethod;
  verb: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** The template as written, e.g. `/v1/owner/customers/{id}`. */
  template: string;
  /** The route in Fastify's syntax, e.g. `/v1/owner/customers/:id`. */
  path: string;
  /** The path as OpenAPI writes it, e.g. `/v1/things/{id}:reverse`. */
  openApiPath: string;
  /**
   * The custom verb (AIP-136) when a parameter or wildcard carries it: the
   * route `/v1/things/:id` matches `abc:reverse`, and the gateway takes the
   * binding whose verb the value ends with, stripping it. Absent when the
   * template has no verb or ends in a literal (then the route has it).
   */
  verbSuffix?: { param: string; verb: string };
  /** Top-level request fields (proto names) the path sets. */
  pathFields: string[];
  variables: PathVariable[];
  /** "" (no body), "*" (every field not in the path) or a field name. */
  body: string;
}

type Segment = { kind: "literal"; text: string } | { kind: "*" } | { kind: "**" };

/** A template parsed by the grammar above. */
export interface PathTemplate {
  segments: Segment[];
  /** Each variable and the segments it covers: [start, end). */
  variables: { fieldPath: string[]; start: number; end: number }[];
  verb?: string;
}

/** LITERAL: URL path characters other than the template's own ("/", "{", "}", "=", "*", ":"). */
const LITERAL = /^[A-Za-z0-9\-._~!$&'()+,;@%]+$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parses a path template; throws an Error saying what is wrong with it. */
export function parsePathTemplate(template: string): PathTemplate {
  const fail = (why: string): never => {
    throw new Error(`path template "${template}" ${why}`);
  };
  if (!template.startsWith("/")) fail('must start with "/"');
  // The verb: a ":" after the last "/" that is outside braces.
  let depth = 0;
  let lastSlash = -1;
  let verbAt = -1;
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (depth === 0 && c === "/") {
      lastSlash = i;
      verbAt = -1;
    } else if (depth === 0 && c === ":" && verbAt === -1 && i > lastSlash) verbAt = i;
    if (depth < 0 || depth > 1) fail("has unbalanced or nested braces");
  }
  if (depth !== 0) fail("has an unclosed brace");
  const out: PathTemplate = { segments: [], variables: [] };
  let body = template.slice(1);
  if (verbAt !== -1) {
    const verb = template.slice(verbAt + 1);
    if (!LITERAL.test(verb)) fail(`has an invalid verb ":${verb}"`);
    out.verb = verb;
    body = template.slice(1, verbAt);
  }
  const addSegment = (text: string) => {
    if (text === "*" || text === "**") out.segments.push({ kind: text });
    else if (LITERAL.test(text)) out.segments.push({ kind: "literal", text });
    else fail(text === "" ? "has an empty segment" : `has an invalid segment "${text}"`);
  };
  // Split on "/" outside braces.
  const parts: string[] = [];
  let cur = "";
  depth = 0;
  for (const c of body) {
    if (c === "{") depth++;
    if (c === "}") depth--;
    if (c === "/" && depth === 0) {
      parts.push(cur);
      cur = "";
    } else cur += c;
  }
  parts.push(cur);
  const seen = new Set<string>();
  for (const part of parts) {
    if (part.startsWith("{")) {
      if (!part.endsWith("}")) fail(`has text after a variable in "${part}"`);
      const inner = part.slice(1, -1);
      const eq = inner.indexOf("=");
      const path = eq === -1 ? inner : inner.slice(0, eq);
      const fieldPath = path.split(".");
      if (!fieldPath.every((f) => IDENT.test(f))) fail(`has an invalid field path "${path}"`);
      if (seen.has(path)) fail(`binds "${path}" twice`);
      seen.add(path);
      const start = out.segments.length;
      if (eq === -1) out.segments.push({ kind: "*" });
      else inner.slice(eq + 1).split("/").forEach(addSegment);
      out.variables.push({ fieldPath, start, end: out.segments.length });
    } else if (part.includes("{") || part.includes("}")) {
      fail(`has a variable inside the segment "${part}"`);
    } else addSegment(part);
  }
  const deep = out.segments.findIndex((s) => s.kind === "**");
  if (deep !== -1 && deep !== out.segments.length - 1) fail('has "**" before its last segment');
  return out;
}

/** The field a path variable sets: a singular scalar or enum, reached through singular messages. */
export function pathField(input: DescMessage, fieldPath: string[]): DescField | undefined {
  let message: DescMessage | undefined = input;
  let field: DescField | undefined;
  for (const name of fieldPath) {
    field = message?.fields.find((f) => f.name === name);
    if (!field) return undefined;
    message = field.fieldKind === "message" ? field.message : undefined;
  }
  return field && (field.fieldKind === "scalar" || field.fieldKind === "enum") ? field : undefined;
}

/** A template as a Fastify route and the recipe of each variable's value. */
function routeOf(t: PathTemplate): Pick<RestBinding, "path" | "openApiPath" | "verbSuffix" | "variables"> {
  const params: string[] = []; // the Fastify parameter of each segment ("" for literals)
  const route = t.segments.map((s, i) => {
    if (s.kind === "literal") {
      params.push("");
      return s.text.replace(/:/g, "::");
    }
    if (s.kind === "**") {
      params.push("*");
      return "*";
    }
    // A variable that is exactly one `*` of a top-level field keeps the field's name (`:id`).
    const v = t.variables.find((x) => x.start === i);
    const name = v && v.end === i + 1 && v.fieldPath.length === 1 ? v.fieldPath[0]! : `p${i}`;
    params.push(name);
    return `:${name}`;
  });
  const variables = t.variables.map((v) => {
    const parts: ValuePart[] = [];
    for (let i = v.start; i < v.end; i++) {
      if (i > v.start) parts.push({ literal: "/" });
      const s = t.segments[i]!;
      parts.push(s.kind === "literal" ? { literal: s.text } : { param: params[i]! });
    }
    return { fieldPath: v.fieldPath, parts };
  });
  let path = "/" + route.join("/");
  let verbSuffix: RestBinding["verbSuffix"];
  if (t.verb !== undefined) {
    const last = params[params.length - 1]!;
    if (last === "") path += `::${t.verb}`;
    else verbSuffix = { param: last, verb: t.verb };
  }
  // OpenAPI: each variable as `{field.path}`, other segments as written.
  const api: string[] = [];
  for (let i = 0; i < t.segments.length; i++) {
    const v = t.variables.find((x) => x.start === i);
    if (v) {
      api.push(`{${v.fieldPath.join(".")}}`);
      i = v.end - 1;
      continue;
    }
    const s = t.segments[i]!;
    api.push(s.kind === "literal" ? s.text : s.kind);
  }
  const openApiPath = "/" + api.join("/") + (t.verb !== undefined ? `:${t.verb}` : "");
  return { path, openApiPath, ...(verbSuffix ? { verbSuffix } : {}), variables };
}

function bindingOf(method: DescMethod, rule: HttpRule): RestBinding {
  const rpc = `${method.parent.typeName}/${method.name}`;
  const p = rule.pattern;
  if (p.case === undefined) throw new Error(`${rpc}: google.api.http names no HTTP method`);
  if (p.case === "custom") throw new Error(`${rpc}: google.api.http custom kind "${p.value.kind}" is not served by the REST gateway`);
  const verb = p.case.toUpperCase() as RestBinding["verb"];
  let t: PathTemplate;
  try {
    t = parsePathTemplate(p.value);
  } catch (err) {
    throw new Error(`${rpc}: ${(err as Error).message}`);
  }
  for (const v of t.variables) {
    if (!pathField(method.input, v.fieldPath)) {
      throw new Error(`${rpc}: path template "${p.value}" binds "${v.fieldPath.join(".")}", which is no singular scalar field of ${method.input.typeName}`);
    }
  }
  if (rule.body !== "" && rule.body !== "*" && !method.input.fields.some((f) => f.name === rule.body)) {
    throw new Error(`${rpc}: google.api.http body "${rule.body}" is no field of ${method.input.typeName}`);
  }
  const pathFields = [...new Set(t.variables.map((v) => v.fieldPath[0]!))];
  return { method, verb, template: p.value, ...routeOf(t), pathFields, body: rule.body };
}

const bindingsOf = new WeakMap<DescService, RestBinding[]>();

/** Every REST binding of a service's methods, additional bindings included; throws on a binding it cannot serve. */
export function restBindings(service: DescService): RestBinding[] {
  let out = bindingsOf.get(service);
  if (out) return out;
  out = [];
  for (const method of service.methods) {
    if (!hasOption(method, http)) continue;
    const rule = getOption(method, http);
    for (const r of [rule, ...rule.additionalBindings]) out.push(bindingOf(method, r));
  }
  bindingsOf.set(service, out);
  return out;
}

/**
 * The parameters of a matched route as this binding reads them, or
 * undefined when the binding does not take the request: one whose custom
 * verb rides on a parameter takes only a value ending in `:verb`, minus it.
 */
export function paramsFor(binding: RestBinding, params: Record<string, string>): Record<string, string> | undefined {
  const suffix = binding.verbSuffix;
  if (!suffix) return params;
  const value = params[suffix.param] ?? "";
  const tail = `:${suffix.verb}`;
  if (value.length <= tail.length || !value.endsWith(tail)) return undefined;
  return { ...params, [suffix.param]: value.slice(0, -tail.length) };
}

/** A path variable's value, put together from the route's parameters. */
export function variableValue(v: PathVariable, params: Record<string, string>): string {
  let out = "";
  for (const part of v.parts) out += "literal" in part ? part.literal : (params[part.param] ?? "");
  return out;
}
