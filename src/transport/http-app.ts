import Fastify, { LogController, type FastifyInstance } from "fastify";
import { randomUUID } from "node:crypto";
import type { Config } from "../config/config.js";
import { frameworkErrors } from "./http-errors.js";
import { createOnePortServer, type ServerLimits } from "./one-port-server.js";

/**
 * The Fastify instance of the service, on the one-port server (HTTP/1.1
 * and h2c on one port): logging (credentials redacted), body limit,
 * request ids, the drain's 503s and the router's own refusals in the
 * contract's shape. Nothing is registered on it yet.
 */
export function createHttpApp(config: Config, opts: { logger?: boolean | object; serverLimits?: Partial<ServerLimits> } = {}): FastifyInstance {
  return Fastify({
    serverFactory: ((handler: Parameters<typeof createOnePortServer>[0]) => createOnePortServer(handler, opts.serverLimits)) as never,
    logger:
      opts.logger === false
        ? false
        : {
            level: config.logLevel,
            redact: ["req.headers.authorization", 'req.headers["x-api-key"]', "password", "*.password", "token"],
            ...(typeof opts.logger === "object" ? opts.logger : {}),
          },
    bodyLimit: config.bodyLimitBytes,
    requestIdHeader: "x-request-id",
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    // Requests are logged by registerRequestLog (ops-routes.ts) instead.
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: "idle",
    routerOptions: { maxParamLength: 200 },
    frameworkErrors,
  }) as unknown as FastifyInstance;
}
