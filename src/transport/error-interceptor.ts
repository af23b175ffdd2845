import type { Interceptor } from "@connectrpc/connect";
import type { FastifyBaseLogger } from "fastify";
import { toConnectError } from "./errors.js";

/**
 * What is logged of an unexpected error: its type, driver code and first
 * stack frame — never its message, which may hold SQL or request data.
 */
export function describeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { errType: typeof err };
  const e = err as Error & { code?: unknown };
  const frame = e.stack?.split("\n").find((l) => l.trim().startsWith("at "))?.trim();
  return { errType: e.name, errCode: typeof e.code === "string" ? e.code : undefined, at: frame };
}

/**
 * Maps whatever a handler throws to a ConnectError with a safe message; the
 * original of an unexpected error is logged (without request data).
 */
export function createErrorInterceptor(log: FastifyBaseLogger): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      throw toConnectError(err, (bug) => log.error({ ...describeError(bug), rpc: `${req.service.typeName}/${req.method.name}` }, "unexpected error in handler"));
    }
  };
}
