import { createHash } from "node:crypto";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import type { FastifyBaseLogger } from "fastify";
import { sqlBytes, sqlLiteral, type Db } from "../persistence/db.js";
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

/** The key's record as stored. */
interface StoredRecord {
  request_hash: string;
  outcome: string;
  response: Buffer | null;
  error_message: string | null;
}

/** An outcome to store: "ok" with the response, or a Connect code with its message. */
interface NewRecord {
  outcome: string;
  response: Uint8Array | null;
  message: string | null;
}

/** The steps of one idempotent call, in one PostgreSQL transaction. */
interface IdemTx {
  /** Takes the key's advisory lock and reads its record (an expired one counts as none). */
  claim(): Promise<{ locked: boolean; stored: StoredRecord | undefined }>;
  /** Runs the handler in a savepoint: if it fails, only its own changes are undone. */
  handle<T>(fn: () => Promise<T>): Promise<T>;
  /** Stores the outcome and commits, with the handler's change if it succeeded. */
  save(rec: NewRecord): Promise<void>;
}

/** Runs `body` in a transaction: committed by `save` or when it returns, rolled back if it throws. */
type IdemEngine = <T>(scope: string, key: string, requestHash: string, body: (tx: IdemTx) => Promise<T>) => Promise<T>;

const lockName = (scope: string, key: string) => `idem:${scope}:${key}`;
/** The key's lock; taken, or held by a call still in flight. */
const LOCK_SQL = "select pg_try_advisory_xact_lock(hashtextextended(?, 0)) as ok";
/** The key's record; an expired one counts as none. */
const READ_SQL = `select request_hash, outcome, response, error_message from idempotency_record
  where business_id = ? and key = ? and expires_at > now()`;
/** An expired record of the key is replaced (contract: 24 h). */
const INSERT_SQL = `insert into idempotency_record (business_id, key, request_hash, outcome, response, error_message, expires_at)
  values (?, ?, ?, ?, ?, ?, now() + interval '${TTL_HOURS} hours')
  on conflict (business_id, key) do update
    set request_hash = excluded.request_hash, outcome = excluded.outcome, response = excluded.response,
        error_message = excluded.error_message, created_at = now(), expires_at = excluded.expires_at
    where idempotency_record.expires_at <= now()`;

/** One of the statements above with its `?` replaced by SQL literals (for `Connection.script`, one round trip). */
function inline(sql: string, literals: string[]): string {
  let n = 0;
  return sql.replace(/\?/g, () => literals[n++]!);
}

/**
 * On one pooled `pg` connection, in three round trips for a new key: the
 * BEGIN, lock, read and savepoint together; the handler's own statements
 * (their `Db.query`/`Db.tx` run on this connection); the record and the
 * COMMIT together.
 */
function pgEngine(db: Db): IdemEngine {
  return (scope, key, requestHash, body) =>
    db.connection(async (c) => {
      let handlerFailed = false;
      let done = false;
      const tx: IdemTx = {
        async claim() {
          // Separate statements, so the read's snapshot is taken after the
          // lock is held: a holder that just committed is seen.
          const res = await c.script(
            `begin;
             ${inline(LOCK_SQL, [sqlLiteral(lockName(scope, key))])};
             ${inline(READ_SQL, [sqlLiteral(scope), sqlLiteral(key)])};
             savepoint idem`,
          );
          return { locked: res[1]![0]!.ok === true, stored: res[2]![0] as unknown as StoredRecord | undefined };
        },
        async handle(fn) {
          try {
            return await c.within(fn);
          } catch (err) {
            handlerFailed = true;
            throw err;
          }
        },
        async save(rec) {
          const insert = inline(INSERT_SQL, [
            ...[scope, key, requestHash, rec.outcome].map(sqlLiteral),
            rec.response ? sqlBytes(rec.response) : "null",
            rec.message === null ? "null" : sqlLiteral(rec.message),
          ]);
          await c.commit(handlerFailed ? `rollback to savepoint idem; ${insert}` : insert);
          done = true;
        },
      };
      const out = await body(tx);
      // Nothing was changed (a replay or a refusal read from the record).
      if (!done) await c.script("rollback");
      return out;
    });
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
 */
export function createIdempotencyInterceptor(deps: { db: Db; log: FastifyBaseLogger }): Interceptor {
  const engine = pgEngine(deps.db);
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
    type Outcome = { res: Awaited<ReturnType<typeof next>> } | { refused: ConnectError } | { replay: unknown };
    const outcome = await engine(scope, key, requestHash, async (tx): Promise<Outcome> => {
      const { locked, stored } = await tx.claim();
      if (!locked) {
        throw new ConnectError("a request with this Idempotency-Key is still in progress", Code.Aborted);
      }
      if (stored) {
        if (stored.request_hash !== requestHash) {
          throw new ConnectError(
            "this Idempotency-Key was already used with a different request",
            Code.InvalidArgument,
            { [HTTP_STATUS_HEADER]: "422" },
          );
        }
        if (stored.outcome === "ok") return { replay: fromBinary(req.method.output, stored.response ?? new Uint8Array()) };
        throw new ConnectError(stored.error_message ?? "", Number(stored.outcome) as Code, {
          "idempotent-replayed": "true",
        });
      }
      try {
        const res = await tx.handle(() => next(req));
        if (res.stream) return { res };
        await tx.save({ outcome: "ok", response: toBinary(req.method.output, res.message), message: null });
        return { res };
      } catch (err) {
        const ce = toConnectError(err);
        if (!REPLAYABLE.has(ce.code)) throw ce;
        await tx.save({ outcome: String(ce.code), response: null, message: ce.rawMessage });
        return { refused: ce };
      }
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
