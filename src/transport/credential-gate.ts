import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { FastifyInstance } from "fastify";
import { API_KEY_PATTERN } from "../infrastructure/secrets.js";
import type { CachedReads } from "../services/cached-reads.js";
import { earlyAnswer, sendEarlyAnswer, wireProtocolOf } from "./early-answer.js";
import { restBindings } from "./http-rules.js";
import { requiredCredential, type CredentialKind } from "./method-rules.js";


/** What the gate says: go on (undefined), answer now (the error), or wait for a look-up. */
export type GateVerdict = ConnectError | undefined | Promise<ConnectError | undefined>;

/** JWS compact serialisation: three base64url segments. */
const JWT_SHAPE = /^Bearer\s+[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/i;
const MAX_TOKEN_LENGTH = 4096;

/**
 * Credentials checked when a request's headers arrive, before any of its
 * body is buffered, so that a caller without a valid credential cannot make
 * this process hold request bodies (issue 11, item 2). The auth interceptor
 * stays the authority (revocation, token generations, rate limits); this
 * only refuses early what it would refuse:
 *
 * - an API key: missing or malformed is refused at once; a well-formed key
 *   is looked up as the interceptor does (in-process cache, then Redis, then
 *   PostgreSQL, which fills the cache), so a valid key costs one map read
 *   here and the interceptor then finds it cached — no extra database read;
 * - an owner token: missing or not shaped like a JWT is refused at once (its
 *   signature and generation are checked by the interceptor).
 *
 * The messages are the interceptor's.
 */
export function createCredentialGate(deps: { reads: Pick<CachedReads, "apiKey" | "peekApiKey"> }) {
  const { reads } = deps;

  async function lookUp(apiKey: string): Promise<ConnectError | undefined> {
    try {
      if (await reads.apiKey(apiKey)) return undefined;
      return new ConnectError("invalid or revoked API key", Code.Unauthenticated);
    } catch {
      // PostgreSQL unreachable: the interceptor answers (UNAVAILABLE).
      return undefined;
    }
  }

  return {
    check(kind: CredentialKind, apiKey: string | undefined, authorization: string | undefined): GateVerdict {
      if (kind === "api_key") {
        if (!apiKey) return new ConnectError("missing API key: send it in the X-API-Key header", Code.Unauthenticated);
        if (!API_KEY_PATTERN.test(apiKey)) return new ConnectError("malformed API key", Code.Unauthenticated);
        if (reads.peekApiKey(apiKey)) return undefined;
        return lookUp(apiKey);
      }
      const header = (authorization ?? "").trim();
      if (!/^Bearer\s+\S/i.test(header)) return new ConnectError("missing owner token: send Authorization: Bearer <token>", Code.Unauthenticated);
      if (header.length > MAX_TOKEN_LENGTH || !JWT_SHAPE.test(header)) return new ConnectError("invalid or expired token", Code.Unauthenticated);
      return undefined;
    },
  };
}

export type CredentialGate = ReturnType<typeof createCredentialGate>;

/** The credential of each procedure path (`/pkg.Service/Method`) and REST route (`VERB /path`). */
export function credentialRoutes(services: readonly DescService[]): Map<string, { kind: CredentialKind; method: DescMethod; rest: boolean }> {
  const kinds = new Map<string, { kind: CredentialKind; method: DescMethod; rest: boolean }>();
  const rest = new Map<string, DescMethod[]>();
  for (const service of services) {
    for (const method of service.methods) {
      const kind = requiredCredential(method);
      if (kind) kinds.set(`/${service.typeName}/${method.name}`, { kind, method, rest: false });
    }
    for (const b of restBindings(service)) {
      const key = `${b.verb} ${b.path}`;
      (rest.get(key) ?? rest.set(key, []).get(key)!).push(b.method);
    }
  }
  // A route serving the custom verbs of methods with different credentials
  // (`{id}:a`, `{id}:b`) is not checked early: the auth interceptor decides.
  for (const [key, methods] of rest) {
    const kind = requiredCredential(methods[0]!);
    if (kind && methods.every((m) => requiredCredential(m) === kind)) kinds.set(key, { kind, method: methods[0]!, rest: true });
  }
  return kinds;
}

/** Counts a call the gate refused (the metrics interceptor never sees it). */
export type OnRefused = (method: DescMethod, protocol: string, code: Code) => void;

declare module "fastify" {
  interface FastifyContextConfig {
    /** The credential the route takes, set at start-up by registerCredentialGate. */
    credential?: CredentialKind;
    credentialRpc?: { method: DescMethod; rest: boolean };
  }
}

/**
 * The gate for everything Fastify serves (REST, Connect, gRPC-Web, gRPC that
 * is not on the unary lane): an onRequest hook, which runs before Fastify
 * reads the body. Must be registered before the routes.
 */
export function registerCredentialGate(app: FastifyInstance, gate: CredentialGate, services: readonly DescService[], onRefused?: OnRefused): void {
  const kinds = credentialRoutes(services);
  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const found = kinds.get(route.url) ?? methods.map((m) => kinds.get(`${m} ${route.url}`)).find((k) => k !== undefined);
    if (found) route.config = { ...route.config, credential: found.kind, credentialRpc: { method: found.method, rest: found.rest } };
  });
  app.addHook("onRequest", (req, reply, done) => {
    const kind = req.routeOptions.config?.credential;
    if (kind === undefined || req.method === "OPTIONS") return done();
    const apiKey = req.headers["x-api-key"];
    const verdict = gate.check(kind, typeof apiKey === "string" ? apiKey : undefined, req.headers.authorization);
    if (verdict === undefined) return done();
    const answer = (err: ConnectError | undefined) => {
      if (!err) return done();
      const contentType = req.headers["content-type"];
      const protocol = wireProtocolOf(req.url, contentType);
      const rpc = req.routeOptions.config.credentialRpc;
      if (rpc && onRefused) onRefused(rpc.method, rpc.rest ? "rest" : protocol, err.code);
      sendEarlyAnswer(req, reply, earlyAnswer(protocol, contentType, err.code, err.rawMessage));
    };
    if (verdict instanceof ConnectError) answer(verdict);
    else verdict.then(answer, () => done());
  });
}
