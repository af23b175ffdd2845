import { OMITTABLE_FIELDS } from "./reference-shape.js";
import { Code } from "@connectrpc/connect";
import {
  ScalarType,
  type DescEnum,
  type DescField,
  type DescMessage,
  type DescService,
} from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { codeName } from "./errors.js";
import { pathField, restBindings, type RestBinding } from "./http-rules.js";
import { isMutating, requiredCredential, type CredentialKind } from "./method-rules.js";

/**
 * The OpenAPI 3.1 document of the REST gateway, derived from the same
 * service descriptors and `google.api.http` annotations the gateway
 * registers its routes from (`restBindings`): nothing here names a route, a
 * field or a message. It is built at `npm run generate` by
 * scripts/protoc-gen-openapi.ts, from descriptors with source info, so the
 * proto comments are its descriptions; the service serves that file
 * (gen/openapi.ts). Without comments the document is the same, minus
 * descriptions.
 */

type Json = Record<string, unknown>;

const SECURITY_SCHEME_OF: Record<CredentialKind, string> = { api_key: "ApiKeyAuth", owner: "BearerAuth" };

export interface OpenApiOptions {
  /** Proto comments by fully-qualified name (from source info, at generate time); none = no descriptions. */
  comments?: ReadonlyMap<string, string>;
  title?: string;
  version?: string;
}

/** A GET/POST/… on a path, as the document lists it: for cross-checks. */
export interface OpenApiRoute {
  method: string;
  /** Fastify syntax, `/v1/owner/customers/:id`. */
  path: string;
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
    private readonly comments: ReadonlyMap<string, string>,
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
  const comments = opts.comments ?? new Map<string, string>();
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
