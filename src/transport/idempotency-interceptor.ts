import { createHash } from "node:crypto";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import type { FastifyBaseLogger } from "fastify";
import type { Db } from "../persistence/db.js";
import { kPrincipal } from "./context.js";
import { HTTP_STATUS_HEADER, toConnectError } from "./errors.js";
import { isMutating } from "./http-rules.js";

const TTL_HOURS = 24;
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
 */
export function createIdempotencyInterceptor(deps: { db: Db; log: FastifyBaseLogger }): Interceptor {
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

    // A business error is stored and the transaction committed before it is
    // thrown: thrown inside the transaction, it would roll its own record back.
    const outcome = await db.tx(async (): Promise<{ res: Awaited<ReturnType<typeof next>> } | { refused: ConnectError }> => {
      const [lock] = await db.query<{ ok: boolean }>(
        "select pg_try_advisory_xact_lock(hashtextextended(?, 0)) as ok",
        [`idem:${scope}:${key}`],
      );
      if (!lock?.ok) {
        throw new ConnectError("a request with this Idempotency-Key is still in progress", Code.Aborted);
      }
      await db.query("delete from idempotency_record where business_id = ? and key = ? and expires_at <= now()", [scope, key]);
      const [stored] = await db.query<{ request_hash: string; outcome: string; response: Buffer | null; error_message: string | null }>(
        "select request_hash, outcome, response, error_message from idempotency_record where business_id = ? and key = ?",
        [scope, key],
      );
      if (stored) {
        if (stored.request_hash !== requestHash) {
          throw new ConnectError(
            "this Idempotency-Key was already used with a different request",
            Code.InvalidArgument,
            { [HTTP_STATUS_HEADER]: "422" },
          );
        }
        if (stored.outcome === "ok") {
          // Answered by the handler wrapper, not here: a response built in an
          // interceptor replaces the protocol's own headers and trailers
          // (content-type, grpc-status), which breaks gRPC and gRPC-Web.
          req.contextValues.set(kReplay, fromBinary(req.method.output, stored.response ?? new Uint8Array()));
          return { res: await next(req) };
        }
        throw new ConnectError(stored.error_message ?? "", Number(stored.outcome) as Code, {
          "idempotent-replayed": "true",
        });
      }

      const save = (outcome: string, response: Uint8Array | null, message: string | null) =>
        db.query(
          `insert into idempotency_record (business_id, key, request_hash, outcome, response, error_message, expires_at)
           values (?, ?, ?, ?, ?, ?, now() + interval '${TTL_HOURS} hours')`,
          [scope, key, requestHash, outcome, response ? Buffer.from(response) : null, message],
        );
      try {
        const res = await db.tx(() => next(req));
        if (res.stream) return { res };
        await save("ok", toBinary(req.method.output, res.message), null);
        return { res };
      } catch (err) {
        const ce = toConnectError(err);
        if (!REPLAYABLE.has(ce.code)) throw ce;
        await save(String(ce.code), null, ce.rawMessage);
        return { refused: ce };
      }
    });
    if ("refused" in outcome) throw outcome.refused;
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
