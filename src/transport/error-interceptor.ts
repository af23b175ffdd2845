import type { Interceptor } from "@connectrpc/connect";
import type { FastifyBaseLogger } from "fastify";
import { toConnectError } from "./errors.js";

/**
 * Maps whatever a handler throws to a ConnectError with a safe message; the
 * original of an unexpected error is logged (without request data).
 */
export function createErrorInterceptor(log: FastifyBaseLogger): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (err) {
      throw toConnectError(err, (bug) =>
        log.error({ err: bug, rpc: `${req.service.typeName}/${req.method.name}` }, "unexpected error in handler"),
      );
    }
  };
}
