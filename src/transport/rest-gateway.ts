import { fromJson, ScalarType, isFieldSet, toJson, type DescField, type DescMessage, type DescMethod, type DescService, type Message } from "@bufbuild/protobuf";
import { applyReferenceShape } from "./reference-shape.js";
import { ConnectError, Code, type Interceptor } from "@connectrpc/connect";
import { createInvoker, type Invoke } from "./invoker.js";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { describeError } from "./error-interceptor.js";
import { codeName, HTTP_STATUS_HEADER, HTTP_STATUS_OF_CODE } from "./errors.js";
import { paramsFor, restBindings, variableValue, type RestBinding } from "./http-rules.js";

/** Request headers a REST call hands on to the RPC (auth, retries, tracing). */
const FORWARDED_HEADERS = ["x-api-key", "authorization", "idempotency-key", "x-request-id", "user-agent", "x-forwarded-for"];
/** RPC response headers a REST caller sees. */
const EXPOSED_HEADERS = ["idempotent-replayed", "retry-after"];

/**
 * JSON text as bytes: Fastify appends `; charset=utf-8` to a string payload's
 * Content-Type, and the contract promises exactly `application/json` (whose
 * encoding is UTF-8 by definition, RFC 8259).
 */
export function jsonBytes(text: string): Buffer {
  return Buffer.from(text, "utf8");
}

/** The REST error body of contract §6. */
export function errorBody(code: Code, message: string) {
  return JSON.stringify({ success: false, error: { code: codeName(code), message } });
}

/** Sends an error in the contract's shape with the status of its code. */
export function sendError(reply: FastifyReply, err: ConnectError): FastifyReply {
  const override = Number(err.metadata.get(HTTP_STATUS_HEADER));
  const status = override >= 400 && override < 600 ? override : HTTP_STATUS_OF_CODE[err.code];
  for (const h of EXPOSED_HEADERS) {
    const value = err.metadata.get(h);
    if (value !== null) reply.header(h, value);
  }
  return reply.code(status).header("content-type", "application/json").send(jsonBytes(errorBody(err.code, err.rawMessage)));
}

/**
 * Emits unset message-typed fields as `null` (as grpc-gateway's
 * EmitUnpopulated does), so a REST caller sees every key of the shape —
 * `"revokedAt": null`, `"lastVisitAt": null` — as Stripe-style APIs do.
 * Scalars are already emitted by `alwaysEmitImplicit`.
 */
function emitUnpopulated(desc: DescMessage, message: Message, json: Record<string, unknown>): void {
  for (const field of desc.fields) {
    if (field.fieldKind === "message") {
      if (!isFieldSet(message, field)) {
        json[field.jsonName] = null;
      } else if (!field.message.typeName.startsWith("google.protobuf.")) {
        const value = (message as unknown as Record<string, Message>)[field.localName]!;
        emitUnpopulated(field.message, value, json[field.jsonName] as Record<string, unknown>);
      }
    } else if (field.fieldKind === "list" && field.listKind === "message" && !field.message.typeName.startsWith("google.protobuf.")) {
      const values = (message as unknown as Record<string, Message[]>)[field.localName]!;
      const out = json[field.jsonName] as Record<string, unknown>[];
      values.forEach((v, i) => emitUnpopulated(field.message, v, out[i]!));
    }
  }
}

/** Rewrites protobuf-es's JSON decoding errors so they name the JSON field. */
function decodeError(err: unknown, input: DescMessage, json: Record<string, unknown>): ConnectError {
  const raw = err instanceof Error ? err.message : String(err);
  const unknownKey = /key "([^"]*)" is unknown/.exec(raw);
  if (unknownKey) return new ConnectError(`unknown field "${unknownKey[1]!.slice(0, 64)}"`, Code.InvalidArgument);
  // protobuf-es names the enum type, not the field, for an unknown enum value.
  const enumName = /cannot decode enum ([\w.]+) from JSON/.exec(raw)?.[1];
  const enumField = input.fields.find((f) => {
    if (f.fieldKind !== "enum" || f.enum.typeName !== enumName) return false;
    const value = json[f.jsonName] ?? json[f.name];
    return value !== undefined && value !== null && !(typeof value === "string" && f.enum.values.some((v) => v.name === value)) && !Number.isInteger(value);
  });
  if (enumField) return new ConnectError(`invalid value for field "${enumField.jsonName}"`, Code.InvalidArgument);
  const field = /field ([\w.]+) from JSON/.exec(raw);
  if (field) {
    const name = field[1]!.split(".").pop()!;
    const desc = input.fields.find((f) => f.name === name);
    return new ConnectError(`invalid value for field "${desc?.jsonName ?? name}"`, Code.InvalidArgument);
  }
  return new ConnectError(`invalid request: ${raw.replace(/loyalty\.v1\./g, "").slice(0, 200)}`, Code.InvalidArgument);
}

/** Sets a path variable's value at its field path (proto names), in the JSON of the request. */
function setPath(input: DescMessage, json: Record<string, unknown>, fieldPath: string[], value: string): void {
  let message = input;
  let target = json;
  fieldPath.forEach((name, i) => {
    const field = message.fields.find((f) => f.name === name)!;
    if (i === fieldPath.length - 1) {
      target[field.jsonName] = value;
      return;
    }
    const next = target[field.jsonName];
    target = target[field.jsonName] = next !== null && typeof next === "object" && !Array.isArray(next) ? (next as Record<string, unknown>) : {};
    message = (field as DescField & { message: DescMessage }).message;
  });
}

function findField(input: DescMessage, key: string): DescField | undefined {
  return input.fields.find((f) => f.jsonName === key || f.name === key);
}

/** Turns query-string text into the JSON value proto3 JSON expects. */
function queryValue(field: DescField, raw: string): unknown {
  if (field.fieldKind === "scalar" && field.scalar === ScalarType.BOOL) {
    if (raw === "true") return true;
    if (raw === "false") return false;
    return raw; // fromJson rejects it, naming the field
  }
  return raw;
}

/**
 * The generic REST layer: one Fastify route per `google.api.http` binding,
 * found at start-up. It knows no individual route and holds no business
 * logic: path variables, query parameters and the body become the request
 * message (`fromJson`), the call runs the same service implementation
 * through the same interceptors as gRPC and Connect calls, and the response
 * is `toJson` with implicit values emitted. Returns the bindings registered.
 */
export function registerRestGateway(
  app: FastifyInstance,
  opts: { services: readonly DescService[]; impls: ReadonlyMap<string, object>; interceptors: Interceptor[] },
): RestBinding[] {
  const bindings = opts.services.flatMap((s) => restBindings(s));
  // One Fastify route per verb and path; bindings that differ only in a
  // custom verb carried by their last parameter (`{id}:reverse`,
  // `{id}:undo`, plain `{id}`) share it, those with a verb first.
  const routes = new Map<string, { binding: RestBinding; invoke: Invoke }[]>();
  for (const binding of bindings) {
    const impl = opts.impls.get(binding.method.parent.typeName);
    if (!impl) throw new Error(`no implementation registered for ${binding.method.parent.typeName}`);
    const key = `${binding.verb} ${binding.path}`;
    const group = routes.get(key) ?? [];
    if (group.some((g) => g.binding.verbSuffix?.verb === binding.verbSuffix?.verb)) {
      throw new Error(`${binding.method.parent.typeName}/${binding.method.name}: ${binding.verb} ${binding.template} is bound twice`);
    }
    group.push({ binding, invoke: createInvoker(binding.method, impl, opts.interceptors, "rest") });
    group.sort((a, b) => Number(b.binding.verbSuffix !== undefined) - Number(a.binding.verbSuffix !== undefined));
    routes.set(key, group);
  }
  for (const group of routes.values()) {
    const { verb, path } = group[0]!.binding;
    const only = group.length === 1 && !group[0]!.binding.verbSuffix ? group[0]! : undefined;
    app.route({
      method: verb,
      url: path,
      handler: only
        ? (request, reply) => handle(only.binding, request.params as Record<string, string>, request, reply, only.invoke)
        : (request, reply) => {
            for (const { binding, invoke } of group) {
              const params = paramsFor(binding, request.params as Record<string, string>);
              if (params) return handle(binding, params, request, reply, invoke);
            }
            return sendError(reply, new ConnectError("route not found", Code.NotFound));
          },
    });
  }
  return bindings;
}

/**
 * The JSON of a response message, kept as long as the message: a response
 * served again from a read cache (the owner's customer list) is not
 * serialised again. Responses are never mutated once returned.
 */
const serialised = new WeakMap<object, Buffer>();

async function handle(binding: RestBinding, params: Record<string, string>, request: FastifyRequest, reply: FastifyReply, invoke: Invoke) {
  const input = binding.method.input;
  let message;
  try {
    const json: Record<string, unknown> = {};
    if (binding.body !== "") {
      const body = request.body;
      if (body !== undefined && body !== null && body !== "") {
        if (typeof body !== "object" || Array.isArray(body)) {
          throw new ConnectError("request body must be a JSON object", Code.InvalidArgument);
        }
        if (binding.body === "*") Object.assign(json, body);
        else json[findField(input, binding.body)?.jsonName ?? binding.body] = body;
      }
    } else {
      const query = (request.query ?? {}) as Record<string, string | string[]>;
      for (const [key, value] of Object.entries(query)) {
        const field = findField(input, key);
        if (!field || binding.pathFields.includes(field.name)) {
          throw new ConnectError(`unknown query parameter "${key.slice(0, 64)}"`, Code.InvalidArgument);
        }
        if (Array.isArray(value)) {
          if (field.fieldKind !== "list") {
            throw new ConnectError(`query parameter "${field.jsonName}" must be given once`, Code.InvalidArgument);
          }
          json[field.jsonName] = value;
        } else {
          json[field.jsonName] = field.fieldKind === "list" ? [value] : queryValue(field, value);
        }
      }
    }
    for (const v of binding.variables) setPath(input, json, v.fieldPath, variableValue(v, params));
    try {
      message = fromJson(input, json as never);
    } catch (err) {
      throw decodeError(err, input, json);
    }
  } catch (err) {
    return sendError(reply, err as ConnectError);
  }

  const headers = new Headers();
  for (const h of FORWARDED_HEADERS) {
    const value = request.headers[h];
    if (typeof value === "string") headers.set(h, value);
  }
  try {
    const res = await invoke({ message, header: headers, url: request.url, requestMethod: request.method, clientAddress: request.socket.remoteAddress });
    for (const h of EXPOSED_HEADERS) {
      const value = res.header.get(h);
      if (value !== null) reply.header(h, value);
    }
    let bytes = serialised.get(res.message);
    if (bytes === undefined) {
      const body = toJson(binding.method.output, res.message as never, { alwaysEmitImplicit: true }) as Record<string, unknown>;
      emitUnpopulated(binding.method.output, res.message as Message, body);
      applyReferenceShape(binding.method.output, res.message as Message, body);
      bytes = jsonBytes(JSON.stringify(body));
      serialised.set(res.message, bytes);
    }
    return reply.code(200).header("content-type", "application/json").send(bytes);
  } catch (err) {
    // Errors of the call are ConnectErrors (the error interceptor logged any
    // bug); anything else broke on the way out (the response's JSON).
    if (!(err instanceof ConnectError)) {
      request.log.error({ ...describeError(err), rpc: `${binding.method.parent.typeName}/${binding.method.name}`, protocol: "rest" }, "response could not be sent");
      return sendError(reply, new ConnectError("internal error", Code.Internal));
    }
    return sendError(reply, err);
  }
}
