import { createHash } from "node:crypto";
import { clone, fromBinary, toBinary, type DescMessage, type Message } from "@bufbuild/protobuf";
import { reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { sqlBytes, sqlLiteral, type Db } from "../persistence/db.js";
import { claimKeyScript, recordKeySql, type StoredIdempotencyRecord } from "../persistence/idempotency-repository.js";
import { kPrincipal } from "../services/principal.js";
import { HTTP_STATUS_HEADER, toConnectError } from "./errors.js";
import { isMutating } from "./method-rules.js";

/** A stored response to send again instead of running the handler (see withIdempotentReplay). */
const kReplay = createContextKey<unknown>(undefined, { description: "idempotent replay" });
const KEY_PATTERN = /^[\x20-\x7E]{1,255}$/;
/** Outcomes worth replaying: the caller's own mistakes and business refusals. */
const REPLAYABLE = new Set([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.FailedPrecondition,
  Code.OutOfRange,
]);

/** Whether a message type has a secret field, at any depth (cached per type). */
const holdsSecretsCache = new Map<DescMessage, boolean>();
function holdsSecrets(desc: DescMessage, visiting = new Set<DescMessage>()): boolean {
  const known = holdsSecretsCache.get(desc);
  if (known !== undefined) return known;
  if (visiting.has(desc)) return false; // a recursive type: decided where the cycle started
  visiting.add(desc);
  const result = desc.fields.some((f) => {
    if (f.proto.options?.debugRedact === true) return true;
    const sub = (f as { message?: DescMessage }).message;
    return sub !== undefined && holdsSecrets(sub, visiting);
  });
  if (visiting.size === 1) holdsSecretsCache.set(desc, result);
  visiting.delete(desc);
  return result;
}

function scrub(r: ReflectMessage): void {
  for (const f of r.fields) {
    if (f.proto.options?.debugRedact === true) {
      r.clear(f);
      continue;
    }
    if (!r.isSet(f)) continue;
    if (f.fieldKind === "message") scrub(r.get(f));
    else if (f.fieldKind === "list" && f.listKind === "message") for (const item of r.get(f)) scrub(item as ReflectMessage);
    else if (f.fieldKind === "map" && f.mapKind === "message") for (const [, v] of r.get(f)) scrub(v as ReflectMessage);
  }
}

/**
 * The response as it may be stored: a copy with every field marked
 * `[debug_redact = true]` in the proto (API key secrets, owner tokens) at
 * any depth cleared to its zero value. The rule is the proto's, not a list
 * here, so a new secret field is covered by marking it. A replay answers this
 * copy: the key's id and prefix, `apiKey` empty (contract §3: only a hash of
 * a key is stored).
 */
export function withoutSecrets(desc: DescMessage, message: Message): Message {
  if (!holdsSecrets(desc)) return message;
  const copy = clone(desc, message);
  scrub(reflect(desc, copy));
  return copy;
}

/**
 * Idempotency-Key handling for every mutating RPC (contract §5), over REST,
 * gRPC and Connect alike. The key is claimed inside the same PostgreSQL
 * transaction as the change it guards, so a crash between commit and reply
 * still replays correctly:
 *
 * - a transaction-scoped advisory lock on (business, key): if another
 *   request holds it, the first is still in flight → ABORTED (409);
 * - a stored record with the same request hash → the stored response (or
 *   business error) again, with `Idempotent-Replayed: true`;
 * - a stored record with another hash → 422;
 * - otherwise the handler runs in a savepoint and its outcome is stored.
 *
 * All on one pooled `pg` connection, in three round trips for a new key:
 * BEGIN, lock, read and savepoint together; the handler's own statements
 * (its `Db.query`/`Db.tx` run on this connection); the record and the
 * COMMIT together.
 */
export function createIdempotencyInterceptor(deps: { db: Db }): Interceptor {
  const { db } = deps;
  return (next) => async (req) => {
    const key = req.header.get("idempotency-key");
    if (key === null || req.stream || !isMutating(req.method)) return next(req);
    if (!KEY_PATTERN.test(key)) {
      throw new ConnectError("Idempotency-Key must be 1-255 printable ASCII characters", Code.InvalidArgument);
    }
    const principal = req.contextValues.get(kPrincipal);
    // Only a business's own changes are guarded: register and login issue
    // tokens, which must never be stored (a repeated register is refused
    // by the unique email anyway).
    if (principal.kind === "anonymous") return next(req);
    const scope = principal.businessId;
    const requestHash = createHash("sha256")
      .update(req.method.parent.typeName + "/" + req.method.name + "\n")
      .update(toBinary(req.method.input, req.message))
      .digest("hex");
    const scopeL = sqlLiteral(scope);
    const keyL = sqlLiteral(key);

    // A business error is stored and the transaction committed before it is
    // thrown: thrown inside the transaction, it would roll its own record
    // back. Anything thrown in here rolls the whole transaction back.
    type Outcome = { res: Awaited<ReturnType<typeof next>> } | { refused: ConnectError } | { replay: unknown };
    const outcome = await db.connection(async (c): Promise<Outcome> => {
      // Separate statements, so the read's snapshot is taken after the lock
      // is held: a holder that just committed is seen.
      const [, [lock], [stored]] = (await c.script(claimKeyScript(scopeL, keyL, sqlLiteral(`idem:${scope}:${key}`)))) as [
        unknown,
        { ok: boolean }[],
        StoredIdempotencyRecord[],
      ];
      if (lock?.ok !== true) {
        throw new ConnectError("a request with this Idempotency-Key is still in progress", Code.Aborted);
      }
      if (stored) {
        if (stored.requestHash !== requestHash) {
          throw new ConnectError(
            "this Idempotency-Key was already used with a different request",
            Code.InvalidArgument,
            { [HTTP_STATUS_HEADER]: "422" },
          );
        }
        if (stored.outcome !== "ok") {
          throw new ConnectError(stored.errorMessage ?? "", Number(stored.outcome) as Code, {
            "idempotent-replayed": "true",
          });
        }
        await c.script("rollback"); // nothing was changed
        return { replay: fromBinary(req.method.output, stored.response ?? new Uint8Array()) };
      }
      let res: Awaited<ReturnType<typeof next>>;
      try {
        res = await c.within(() => next(req));
      } catch (err) {
        const refused = toConnectError(err);
        if (!REPLAYABLE.has(refused.code)) throw refused;
        const record = recordKeySql(scopeL, keyL, sqlLiteral(requestHash), sqlLiteral(String(refused.code)), "null", sqlLiteral(refused.rawMessage));
        await c.commit(`rollback to savepoint idem; ${record}`);
        return { refused };
      }
      // A unary request (streams are let through above) has a unary response.
      // Never a secret at rest: the stored copy has none (withoutSecrets).
      const response = sqlBytes(toBinary(req.method.output, withoutSecrets(req.method.output, (res as { message: Message }).message)));
      await c.commit(recordKeySql(scopeL, keyL, sqlLiteral(requestHash), sqlLiteral("ok"), response, "null"));
      return { res };
    });
    if ("refused" in outcome) throw outcome.refused;
    if ("replay" in outcome) {
      // Answered by the handler wrapper, not here: a response built in an
      // interceptor replaces the protocol's own headers and trailers
      // (content-type, grpc-status), which breaks gRPC and gRPC-Web.
      req.contextValues.set(kReplay, outcome.replay);
      return next(req);
    }
    return outcome.res;
  };
}

/**
 * Wraps a service implementation of unary methods so that a call the
 * idempotency interceptor recognised as a replay answers the stored response,
 * with `Idempotent-Replayed: true`, without running the method again.
 */
export function withIdempotentReplay<I extends object>(impl: I): I {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(impl)) {
    wrapped[name] = (req: unknown, ctx: HandlerContext) => {
      const replay = ctx.values.get(kReplay);
      if (replay === undefined) return (fn as (req: unknown, ctx: HandlerContext) => unknown)(req, ctx);
      ctx.responseHeader.set("idempotent-replayed", "true");
      return replay;
    };
  }
  return wrapped as I;
}
