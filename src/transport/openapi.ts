import { OMITTABLE_FIELDS } from "./reference-shape.js";
import { existsSync, readFileSync } from "node:fs";
import { packageRoot } from "../infrastructure/package-root.js";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import {
  ScalarType,
  type DescEnum,
  type DescField,
  type DescFile,
  type DescMessage,
  type DescService,
} from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import type { FastifyInstance } from "fastify";
import { codeName } from "./errors.js";
import { pathField, restBindings, type RestBinding } from "./http-rules.js";
import { isMutating, requiredCredential, type CredentialKind } from "./method-rules.js";

/**
 * The OpenAPI 3.1 document of the REST gateway, derived at start-up from the
 * same service descriptors and `google.api.http` annotations the gateway
 * registers its routes from (`restBindings`): nothing here names a route, a
 * field or a message. Descriptions come from the proto comments (read from
 * the `.proto` sources when they are present, since the descriptors embedded
 * by protoc-gen-es carry no source info); without them the document is the
 * same, minus descriptions.
 */

type Json = Record<string, unknown>;

const SECURITY_SCHEME_OF: Record<CredentialKind, string> = { api_key: "ApiKeyAuth", owner: "BearerAuth" };

/** Where the `.proto` sources live in the repository. */
const DEFAULT_PROTO_ROOT = join(packageRoot(import.meta.url), "proto");

export interface OpenApiOptions {
  /** Folder holding the `.proto` sources, for descriptions; missing = none. */
  protoRoot?: string;
  title?: string;
  version?: string;
  /** Routes without a proto binding (the owner's CSV file routes), in OpenAPI form. */
  extraPaths?: Record<string, Record<string, unknown>>;
}

/** A GET/POST/… on a path, as the document lists it: for cross-checks. */
export interface OpenApiRoute {
  method: string;
  /** Fastify syntax, `/v1/owner/customers/:id`. */
  path: string;
}

// ---------------------------------------------------------------------------
// Proto comments

/**
 * Reads the leading comments of declarations in the given `.proto` files,
 * keyed by fully-qualified name: `pkg.Message`, `pkg.Message.field`,
 * `pkg.Enum`, `pkg.Enum.VALUE`, `pkg.Service`, `pkg.Service.Method`. A small
 * tokenizer, enough for the proto3 sources of this repository (and the
 * vendored ones); files it cannot find are skipped.
 */
export function readProtoComments(protoRoot: string, fileNames: Iterable<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of fileNames) {
    const path = join(protoRoot, name);
    if (!existsSync(path)) continue;
    try {
      parseComments(readFileSync(path, "utf8"), out);
    } catch {
      // A file the tokenizer does not understand only loses its descriptions.
    }
  }
  return out;
}

interface Token {
  text: string;
  /** The comment block directly above the token (no blank line between). */
  comment?: string;
}

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let pending: string[] = [];
  let i = 0;
  let line = 0;
  /** The line of the last token: a comment on that line trails it and is no one's leading comment. */
  let lastTokenLine = -1;
  const n = src.length;
  while (i < n) {
    const c = src[i]!;
    if (c === "\n") {
      line++;
      // A blank line after a comment detaches it from what follows.
      let j = i + 1;
      while (j < n && (src[j] === " " || src[j] === "\t" || src[j] === "\r")) j++;
      if (src[j] === "\n") pending = [];
      i++;
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "/" && src[i + 1] === "/") {
      const end = src.indexOf("\n", i);
      const text = src.slice(i + 2, end === -1 ? n : end);
      if (lastTokenLine !== line) pending.push(text.startsWith(" ") ? text.slice(1) : text);
      i = end === -1 ? n : end;
      continue;
    }
    if (c === "/" && src[i + 1] === "*") {
      const end = src.indexOf("*/", i + 2);
      const body = src.slice(i + 2, end === -1 ? n : end);
      if (lastTokenLine !== line) {
        for (const l of body.split("\n")) pending.push(l.replace(/^\s*\*? ?/, "").trimEnd());
      }
      line += body.split("\n").length - 1;
      i = end === -1 ? n : end + 2;
      continue;
    }
    let text: string;
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < n && src[j] !== c) j += src[j] === "\\" ? 2 : 1;
      text = src.slice(i, j + 1);
      i = j + 1;
    } else if (/[A-Za-z0-9_.]/.test(c)) {
      let j = i;
      while (j < n && /[A-Za-z0-9_.+-]/.test(src[j]!)) j++;
      text = src.slice(i, j);
      i = j;
    } else {
      text = c;
      i++;
    }
    const comment = pending.join("\n").trim();
    tokens.push(comment ? { text, comment } : { text });
    lastTokenLine = line;
    pending = [];
  }
  return tokens;
}

function parseComments(src: string, out: Map<string, string>) {
  const t = tokenize(src);
  let pos = 0;
  let pkg = "";
  const scopes: { kind: "message" | "enum" | "service" | "oneof" | "other"; name: string }[] = [];
  const prefix = () => {
    const names = scopes.filter((s) => s.kind !== "oneof" && s.kind !== "other").map((s) => s.name);
    return [pkg, ...names].filter(Boolean).join(".");
  };
  const record = (name: string, comment: string | undefined) => {
    if (comment) out.set(name, comment);
  };
  /** Skips a statement up to its `;` or its `{…}` block, whichever ends it. */
  const skipStatement = () => {
    let depth = 0;
    while (pos < t.length) {
      const x = t[pos++]!.text;
      if (x === "{" || x === "[" || x === "(") depth++;
      else if (x === "}" || x === "]" || x === ")") {
        depth--;
        if (depth === 0 && x === "}") {
          if (t[pos]?.text === ";") pos++;
          return;
        }
      } else if (x === ";" && depth === 0) return;
    }
  };

  while (pos < t.length) {
    const tok = t[pos]!;
    const scope = scopes[scopes.length - 1];
    const kw = tok.text;
    if (kw === "}") {
      scopes.pop();
      pos++;
      continue;
    }
    if (kw === ";") {
      pos++;
      continue;
    }
    if (kw === "package") {
      pkg = t[pos + 1]?.text ?? "";
      skipStatement();
      continue;
    }
    if ((kw === "message" || kw === "enum" || kw === "service") && t[pos + 2]?.text === "{") {
      const name = t[pos + 1]!.text;
      const full = [prefix(), name].filter(Boolean).join(".");
      record(full, tok.comment);
      scopes.push({ kind: kw, name });
      pos += 3;
      continue;
    }
    if (kw === "oneof" && t[pos + 2]?.text === "{") {
      scopes.push({ kind: "oneof", name: t[pos + 1]!.text });
      pos += 3;
      continue;
    }
    if (kw === "extend" || kw === "option" || kw === "reserved" || kw === "extensions" || kw === "syntax" || kw === "edition" || kw === "import") {
      skipStatement();
      continue;
    }
    if (kw === "rpc" && scope?.kind === "service") {
      record(`${prefix()}.${t[pos + 1]!.text}`, tok.comment);
      skipStatement();
      continue;
    }
    if (scope && (scope.kind === "message" || scope.kind === "oneof" || scope.kind === "enum")) {
      // A field (`[label] type name = N [opts];`, `map<K, V> name = N;`) or
      // an enum value (`NAME = N [opts];`): the name precedes the `=`.
      const start = pos;
      let eq = -1;
      let depth = 0;
      while (pos < t.length) {
        const x = t[pos]!.text;
        if (x === "<" || x === "[") depth++;
        else if (x === ">" || x === "]") depth--;
        else if (x === "=" && depth === 0 && eq === -1) eq = pos;
        else if (x === ";" && depth === 0) break;
        else if (x === "{" || x === "}") break; // a group or a parse slip: stop here
        pos++;
      }
      if (t[pos]?.text === ";") pos++;
      if (eq > start) record(`${prefix()}.${t[eq - 1]!.text}`, t[start]!.comment);
      continue;
    }
    skipStatement();
  }
}

// ---------------------------------------------------------------------------
// Schemas

const WKT_SCHEMAS: Record<string, Json> = {
  "google.protobuf.Timestamp": { type: "string", format: "date-time" },
  "google.protobuf.Duration": { type: "string", pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$" },
  "google.protobuf.FieldMask": { type: "string" },
  "google.protobuf.Empty": { type: "object" },
  "google.protobuf.Struct": { type: "object", additionalProperties: true },
  "google.protobuf.Value": {},
  "google.protobuf.ListValue": { type: "array", items: {} },
  "google.protobuf.Any": { type: "object", properties: { "@type": { type: "string" } }, required: ["@type"] },
  "google.protobuf.DoubleValue": { type: ["number", "null"], format: "double" },
  "google.protobuf.FloatValue": { type: ["number", "null"], format: "float" },
  "google.protobuf.Int32Value": { type: ["integer", "null"], format: "int32" },
  "google.protobuf.UInt32Value": { type: ["integer", "null"], format: "int64", minimum: 0, maximum: 4294967295 },
  "google.protobuf.Int64Value": { type: ["string", "null"], format: "int64" },
  "google.protobuf.UInt64Value": { type: ["string", "null"], format: "uint64" },
  "google.protobuf.BoolValue": { type: ["boolean", "null"] },
  "google.protobuf.StringValue": { type: ["string", "null"] },
  "google.protobuf.BytesValue": { type: ["string", "null"], contentEncoding: "base64" },
};

/** The proto3 JSON form of a scalar. */
function scalarSchema(type: ScalarType): Json {
  switch (type) {
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "int64", minimum: 0, maximum: 4294967295 };
    // 64-bit integers are JSON strings in proto3 JSON.
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { type: "string", format: "int64", pattern: "^-?[0-9]+$" };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: "string", format: "uint64", pattern: "^[0-9]+$" };
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float" };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
  }
}

/** Proto3 fields without `optional`, lists and maps. */
const IMPLICIT = FeatureSet_FieldPresence.IMPLICIT;

const REF = (name: string) => ({ $ref: `#/components/schemas/${name}` });

class SchemaBuilder {
  readonly schemas: Record<string, Json> = {};
  private readonly names = new Map<string, string>();
  private readonly shortNamesUsed = new Map<string, string>();

  /**
   * @param comments proto comments by fully-qualified name
   * @param requestTypes messages reachable from a request message: their
   *   fields are never `required` (proto3 JSON input may omit any field)
   * @param responseTypes messages reachable from a response message: the
   *   gateway writes their unset message fields as `null`
   */
  constructor(
    private readonly comments: Map<string, string>,
    private readonly requestTypes: Set<string>,
    private readonly responseTypes: Set<string>,
  ) {}

  /** A component name: the short name, or the full one when two clash. */
  nameOf(desc: DescMessage | DescEnum): string {
    let name = this.names.get(desc.typeName);
    if (name) return name;
    const pkg = desc.file.proto.package;
    const short = (pkg ? desc.typeName.slice(pkg.length + 1) : desc.typeName).replace(/\./g, "_");
    const owner = this.shortNamesUsed.get(short);
    name = owner === undefined || owner === desc.typeName ? short : desc.typeName;
    this.shortNamesUsed.set(name, desc.typeName);
    this.names.set(desc.typeName, name);
    return name;
  }

  describe(key: string): { description?: string } {
    const d = this.comments.get(key);
    return d ? { description: d } : {};
  }

  enumRef(desc: DescEnum): Json {
    const name = this.nameOf(desc);
    if (!this.schemas[name]) {
      const values = desc.values.map((v) => v.name);
      const valueDocs = desc.values
        .map((v) => ({ v: v.name, d: this.comments.get(`${desc.typeName}.${v.name}`) }))
        .filter((x) => x.d)
        .map((x) => `- \`${x.v}\`: ${x.d!.replace(/\s*\n\s*/g, " ")}`);
      const head = this.comments.get(desc.typeName);
      const description = [head, valueDocs.join("\n")].filter(Boolean).join("\n\n");
      // The zero value is "unset": examples show the first real one.
      const example = values.length > 1 ? values[1]! : values[0];
      this.schemas[name] = {
        type: "string",
        enum: values,
        ...(example !== undefined ? { examples: [example] } : {}),
        ...(description ? { description } : {}),
      };
    }
    return REF(name);
  }

  messageRef(desc: DescMessage): Json {
    const wkt = WKT_SCHEMAS[desc.typeName];
    if (wkt) return { ...wkt };
    const name = this.nameOf(desc);
    if (!this.schemas[name]) {
      this.schemas[name] = {}; // placeholder: recursive messages terminate
      this.schemas[name] = this.objectSchema(desc, [], desc.typeName);
    }
    return REF(name);
  }

  /** The object schema of a message, without the fields in `omit` (proto names). */
  objectSchema(desc: DescMessage, omit: string[], commentKey: string): Json {
    const properties: Record<string, Json> = {};
    const required: string[] = [];
    // The REST gateway writes responses with `alwaysEmitImplicit` (every
    // field without explicit presence: scalars, enums, lists, maps) and
    // writes unset message fields as `null`: all of those are always there.
    const responseOnly = !this.requestTypes.has(desc.typeName);
    const inResponses = this.responseTypes.has(desc.typeName);
    for (const field of desc.fields) {
      if (omit.includes(field.name)) continue;
      let schema = this.fieldSchema(field);
      if (field.fieldKind === "message" && inResponses) schema = nullable(schema);
      properties[field.jsonName] = schema;
      // Left out of answers in the reference's shape (transport/reference-shape.ts).
      const mayBeOmitted = OMITTABLE_FIELDS.includes(field.jsonName);
      if (responseOnly && !mayBeOmitted && (field.fieldKind === "message" || field.presence === IMPLICIT)) required.push(field.jsonName);
    }
    return { type: "object", ...this.describe(commentKey), ...(required.length ? { required } : {}), properties };
  }

  private singleSchema(field: DescField, kind: "scalar" | "enum" | "message"): Json {
    const f = field as DescField & { scalar?: ScalarType; enum?: DescEnum; message?: DescMessage };
    if (kind === "scalar") return scalarSchema(f.scalar!);
    if (kind === "enum") return this.enumRef(f.enum!);
    return this.messageRef(f.message!);
  }

  fieldSchema(field: DescField): Json {
    let schema: Json;
    switch (field.fieldKind) {
      case "scalar":
      case "enum":
      case "message":
        schema = this.singleSchema(field, field.fieldKind);
        break;
      case "list":
        schema = { type: "array", items: this.singleSchema(field, field.listKind) };
        break;
      case "map":
        schema = {
          type: "object",
          additionalProperties: this.singleSchema(field, field.mapKind),
          ...(field.mapKey === ScalarType.STRING ? {} : { propertyNames: { pattern: field.mapKey === ScalarType.BOOL ? "^(true|false)$" : "^-?[0-9]+$" } }),
        };
        break;
    }
    const doc = this.describe(`${field.parent.typeName}.${field.name}`);
    // A $ref with siblings is valid in 3.1; descriptions stay on the property.
    return { ...schema, ...doc };
  }
}

// ---------------------------------------------------------------------------
// The document

/** Every message reachable from `roots` through message, list and map fields. */
function reachableMessages(roots: DescMessage[]): Set<string> {
  const seen = new Set<string>();
  const visit = (m: DescMessage) => {
    if (seen.has(m.typeName)) return;
    seen.add(m.typeName);
    for (const f of m.fields) {
      const sub = (f as { message?: DescMessage }).message;
      if (sub) visit(sub);
    }
  };
  roots.forEach(visit);
  return seen;
}

/** Every file a service depends on, the service's own first. */
function fileClosure(services: readonly DescService[]): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (f: DescFile) => {
    if (seen.has(f.proto.name)) return;
    seen.set(f.proto.name, f);
    f.dependencies.forEach(visit);
  };
  services.forEach((s) => visit(s.file));
  return [...seen.values()];
}

function firstSentence(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, " ").trim();
  const m = /^(.+?[.!?])(\s|$)/.exec(flat);
  const s = m ? m[1]! : flat;
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/** The query parameters a body-less binding accepts: every non-path field the gateway can read from a query string. */
function queryFields(binding: RestBinding): DescField[] {
  if (binding.body !== "") return [];
  return binding.method.input.fields.filter((f) => {
    if (binding.pathFields.includes(f.name)) return false;
    if (f.fieldKind === "scalar" || f.fieldKind === "enum") return true;
    if (f.fieldKind === "list") return f.listKind !== "message";
    return false; // messages and maps have no query-string form in the gateway
  });
}

/**
 * Builds the OpenAPI 3.1 document of every REST binding of `services`.
 * Deterministic: the same descriptors give the same document.
 */
export function buildOpenApi(services: readonly DescService[], opts: OpenApiOptions = {}): Json {
  const files = fileClosure(services);
  const comments = readProtoComments(opts.protoRoot ?? DEFAULT_PROTO_ROOT, files.map((f) => f.proto.name));
  const inputs = services.flatMap((s) => restBindings(s).map((r) => r.method.input));
  const outputs = services.flatMap((s) => restBindings(s).map((r) => r.method.output));
  const b = new SchemaBuilder(comments, reachableMessages(inputs), reachableMessages(outputs));

  const paths: Record<string, Record<string, Json>> = {};
  const operationIds = new Set<string>();
  const tags: Json[] = [];

  for (const service of services) {
    tags.push({ name: service.name, ...b.describe(service.typeName) });
    for (const binding of restBindings(service)) {
      const method = binding.method;
      // The method's own credential, from its proto (method-rules.ts).
      const auth = requiredCredential(method);
      const input = method.input;
      const path = binding.openApiPath;
      const doc = comments.get(`${service.typeName}.${method.name}`);

      let operationId = `${service.name}_${method.name}`;
      if (operationIds.has(operationId)) operationId += `_${binding.verb.toLowerCase()}`;
      operationIds.add(operationId);

      const parameters: Json[] = [];
      for (const v of binding.variables) {
        // restBindings refused any variable that names no singular scalar field.
        const field = pathField(input, v.fieldPath)!;
        parameters.push({
          name: v.fieldPath.join("."),
          in: "path",
          required: true,
          ...b.describe(`${field.parent.typeName}.${field.name}`),
          schema: stripDescription(b.fieldSchema(field)),
        });
      }
      for (const field of queryFields(binding)) {
        const schema = stripDescription(b.fieldSchema(field));
        parameters.push({
          name: field.jsonName,
          in: "query",
          required: false,
          ...b.describe(`${input.typeName}.${field.name}`),
          schema,
          ...(field.fieldKind === "list" ? { style: "form", explode: true } : {}),
        });
      }
      if (isMutating(method)) {
        parameters.push({ $ref: "#/components/parameters/IdempotencyKey" });
      }

      let requestBody: Json | undefined;
      if (binding.body === "*") {
        let schema: Json;
        if (binding.pathFields.length === 0) {
          schema = b.messageRef(input);
        } else {
          // The request message without the fields the path carries.
          const name = `${b.nameOf(input)}Body`;
          b.schemas[name] ??= b.objectSchema(input, binding.pathFields, input.typeName);
          schema = REF(name);
        }
        requestBody = { content: { "application/json": { schema } } };
      } else if (binding.body !== "") {
        const field = input.fields.find((f) => f.name === binding.body);
        if (field) {
          requestBody = {
            ...b.describe(`${input.typeName}.${field.name}`),
            content: { "application/json": { schema: stripDescription(b.fieldSchema(field)) } },
          };
        }
      }

      const responses: Json = {
        "200": {
          description: "Success.",
          ...(isMutating(method) ? { headers: { "Idempotent-Replayed": { $ref: "#/components/headers/IdempotentReplayed" } } } : {}),
          content: { "application/json": { schema: b.messageRef(method.output) } },
        },
        ...(auth ? { "401": { $ref: "#/components/responses/Unauthenticated" } } : {}),
        ...(auth ? { "429": { $ref: "#/components/responses/RateLimited" } } : {}),
        "4XX": { $ref: "#/components/responses/Error" },
        "5XX": { $ref: "#/components/responses/Error" },
      };

      const operation: Json = {
        operationId,
        tags: [service.name],
        summary: doc ? firstSentence(doc) : `${service.name}.${method.name}`,
        ...(doc ? { description: `${doc}\n\nRPC: \`${service.typeName}/${method.name}\`` } : { description: `RPC: \`${service.typeName}/${method.name}\`` }),
        ...(parameters.length ? { parameters } : {}),
        ...(requestBody ? { requestBody } : {}),
        responses,
        ...(auth ? { security: [{ [SECURITY_SCHEME_OF[auth]]: [] }] } : {}),
      };
      (paths[path] ??= {})[binding.verb.toLowerCase()] = operation;
    }
  }

  for (const [path, item] of Object.entries(opts.extraPaths ?? {})) paths[path] = { ...paths[path], ...(item as Record<string, Json>) };

  const errorCodes = Object.values(Code)
    .filter((v): v is Code => typeof v === "number")
    .map((c) => codeName(c));

  return {
    openapi: "3.1.0",
    info: {
      title: opts.title ?? "Loyalty+ API",
      version: opts.version ?? "v1",
      description:
        "The REST face of the Loyalty+ gRPC/Connect services, generated from their `google.api.http` " +
        "annotations. POS endpoints take an API key in the `X-API-Key` header; owner endpoints take " +
        "`Authorization: Bearer <token>` from `/v1/auth/register` or `/v1/auth/login`. " +
        "Errors have the shape `{\"success\": false, \"error\": {\"code\", \"message\"}}`.",
    },
    servers: [{ url: "/" }],
    externalDocs: { description: "API reference page", url: "/docs" },
    tags,
    paths,
    components: {
      schemas: {
        ...sortKeys(b.schemas),
        Error: {
          type: "object",
          description: "The error body of every failed REST call (contract §6).",
          required: ["success", "error"],
          properties: {
            success: { type: "boolean", const: false },
            error: {
              type: "object",
              required: ["code", "message"],
              properties: {
                code: { type: "string", enum: errorCodes, description: "The Connect error code in snake_case." },
                message: { type: "string", description: "A human-readable message." },
              },
            },
          },
        },
      },
      responses: {
        Error: {
          description: "An error; the status is that of the Connect code (invalid_argument 400, not_found 404, …).",
          content: { "application/json": { schema: REF("Error") } },
        },
        Unauthenticated: {
          description: "Missing, malformed, unknown, revoked or expired credentials.",
          content: { "application/json": { schema: REF("Error") } },
        },
        RateLimited: {
          description: "Rate limit exceeded; retry after the `Retry-After` seconds.",
          headers: { "Retry-After": { schema: { type: "integer" }, description: "Seconds to wait." } },
          content: { "application/json": { schema: REF("Error") } },
        },
      },
      parameters: {
        IdempotencyKey: {
          name: "Idempotency-Key",
          in: "header",
          required: false,
          description:
            "1-255 characters. The same key and the same request within 24 h answer the first response " +
            "again (with `Idempotent-Replayed: true`); the same key with another request is 422; " +
            "while the first is in flight, 409.",
          schema: { type: "string", minLength: 1, maxLength: 255 },
        },
      },
      headers: {
        IdempotentReplayed: {
          description: "`true` when the response is a replay of an earlier request with the same Idempotency-Key.",
          schema: { type: "string", enum: ["true"] },
        },
      },
      securitySchemes: {
        ApiKeyAuth: {
          type: "apiKey",
          in: "header",
          name: "X-API-Key",
          description: "A POS API key: `loy_` and 32 characters of [A-Za-z0-9]. Create one in the Admin Portal under Billing → API Key.",
        },
        BearerAuth: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "An owner token from `POST /v1/auth/register` or `POST /v1/auth/login`.",
        },
      },
    },
  };
}

/** The schema, or `null`. */
function nullable(schema: Json): Json {
  const { description, ...rest } = schema;
  const doc = description === undefined ? {} : { description };
  if (typeof rest.type === "string" && !rest.$ref) return { ...rest, type: [rest.type, "null"], ...doc };
  return { anyOf: [rest, { type: "null" }], ...doc };
}

function stripDescription(schema: Json): Json {
  const { description: _d, ...rest } = schema;
  return rest;
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

/** Every (method, path) the document lists, in Fastify's path syntax. */
export function openApiRoutes(doc: Json): OpenApiRoute[] {
  const out: OpenApiRoute[] = [];
  const paths = (doc.paths ?? {}) as Record<string, Record<string, unknown>>;
  for (const [path, item] of Object.entries(paths)) {
    for (const method of Object.keys(item)) {
      if (["get", "put", "post", "delete", "options", "head", "patch", "trace"].includes(method)) {
        out.push({ method: method.toUpperCase(), path: path.replace(/\{([^}]+)\}/g, ":$1") });
      }
    }
  }
  return out;
}

/**
 * Serves the document at `GET /openapi.json`. It is built once, here, from
 * the same descriptors as the REST gateway's routes.
 */
export function registerOpenApi(app: FastifyInstance, services: readonly DescService[], opts: OpenApiOptions = {}): Json {
  const doc = buildOpenApi(services, opts);
  const body = JSON.stringify(doc);
  app.get("/openapi.json", async (_req, reply) =>
    reply.header("content-type", "application/json; charset=utf-8").header("cache-control", "no-cache").send(body),
  );
  return doc;
}
