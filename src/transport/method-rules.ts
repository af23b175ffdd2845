import { getOption, hasOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { Auth, auth, default_auth } from "../../gen/loyalty/v1/options_pb.js";
import { restBindings } from "./http-rules.js";

/**
 * The rules of a method, read from its descriptor — the proto is the one
 * place that states them (`proto/loyalty/v1/options.proto`):
 *
 * - who may call it: `(loyalty.v1.auth)` on the method, else
 *   `(loyalty.v1.default_auth)` on its service;
 * - whether it changes anything: every method does unless it is marked
 *   `option idempotency_level = NO_SIDE_EFFECTS;` (which also lets Connect
 *   serve it over GET).
 *
 * `checkMethodRules` runs at start-up over every registered method: a
 * method without an auth rule stops the start instead of being open.
 */

/** The credential a method takes. */
export type Credential = "api_key" | "owner" | "none";

const CREDENTIAL_OF: Partial<Record<Auth, Credential>> = {
  [Auth.NONE]: "none",
  [Auth.API_KEY]: "api_key",
  [Auth.OWNER]: "owner",
};

/**
 * Vendored services whose protos we do not edit, public by the gRPC
 * conventions (load balancers probe health; reflection lists the API). The
 * only credentials not stated in a proto.
 */
const VENDORED_OPEN = new Set(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]);

const credentials = new WeakMap<DescMethod, Credential | null>();

/** The credential a method takes; undefined when its proto says nothing (never served: the start refuses it). */
export function authOf(method: DescMethod): Credential | undefined {
  let found = credentials.get(method);
  if (found === undefined) {
    const own = hasOption(method, auth) ? getOption(method, auth) : Auth.UNSPECIFIED;
    const service = hasOption(method.parent, default_auth) ? getOption(method.parent, default_auth) : Auth.UNSPECIFIED;
    const stated = CREDENTIAL_OF[own !== Auth.UNSPECIFIED ? own : service];
    found = stated ?? (VENDORED_OPEN.has(method.parent.typeName) ? "none" : null);
    credentials.set(method, found);
  }
  return found ?? undefined;
}

/** A credential a caller presents. */
export type CredentialKind = Exclude<Credential, "none">;

/** The credential a caller must present; undefined when anyone may call (or the proto says nothing). */
export function requiredCredential(method: DescMethod): CredentialKind | undefined {
  const kind = authOf(method);
  return kind === "none" ? undefined : kind;
}

/**
 * Methods that change state: every method not marked
 * `idempotency_level = NO_SIDE_EFFECTS`. The idempotency interceptor guards
 * exactly these, and only these drop cached reads.
 */
export function isMutating(method: DescMethod): boolean {
  return method.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
}

/**
 * Refuses (throws, naming every offending method) a set of services that
 * breaks a rule: a method without an auth rule, or a REST `GET` binding on a
 * method not marked NO_SIDE_EFFECTS (a GET must not change anything, and
 * the idempotency and cache rules would treat it as a write).
 */
export function checkMethodRules(services: Iterable<DescService>): void {
  const problems: string[] = [];
  for (const service of services) {
    for (const method of service.methods) {
      if (authOf(method) === undefined) {
        problems.push(
          `${service.typeName}/${method.name} has no auth rule: give it option (loyalty.v1.auth) or its service option (loyalty.v1.default_auth) (proto/loyalty/v1/options.proto)`,
        );
      }
    }
    for (const b of restBindings(service)) {
      if (b.verb === "GET" && isMutating(b.method)) {
        problems.push(`${service.typeName}/${b.method.name} is bound to GET ${b.template} but not marked option idempotency_level = NO_SIDE_EFFECTS`);
      }
    }
  }
  if (problems.length > 0) throw new Error(`the services break the method rules:\n- ${problems.join("\n- ")}`);
}
