import { Code, ConnectError } from "@connectrpc/connect";
import type { FastifyInstance, FastifyReply } from "fastify";
import { earlyAnswer, sendEarlyAnswer, wireProtocolOf } from "./early-answer.js";
import { HTTP_STATUS_HEADER } from "./errors.js";
import { sendError } from "./rest-gateway.js";

/**
 * Fastify's `frameworkErrors`: malformed percent-encoding or an overlong
 * path parameter, refused by the router itself, answered in the contract's
 * error shape, not Fastify's.
 */
export function frameworkErrors(err: { code?: string }, _req: unknown, reply: unknown): void {
  const message =
    err.code === "FST_ERR_MAX_PARAM_LENGTH" ? "a path parameter is too long" : err.code === "FST_ERR_BAD_URL" ? "malformed URL" : "bad request";
  sendError(reply as FastifyReply, new ConnectError(message, Code.InvalidArgument));
}

/**
 * The HTTP error handler: what Fastify itself refuses (an oversize body:
 * 413, another content type: 415, malformed JSON: 400) in the contract's
 * error shape, and anything unexpected as a logged 500 without details.
 * Register before any route or plugin: a route takes the error handler in
 * force when it is built, and `await`ing a plugin builds the routes
 * declared so far.
 */
export function registerErrorHandler(app: FastifyInstance, opts: { bodyLimitBytes: number }): void {
  app.setErrorHandler((err: { statusCode?: number; code?: string; message?: string }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status === 413) {
      return sendError(reply, new ConnectError(`request body exceeds ${opts.bodyLimitBytes} bytes`, Code.InvalidArgument, { [HTTP_STATUS_HEADER]: "413" }));
    }
    if (status === 415) {
      return sendError(reply, new ConnectError("unsupported Content-Type: send application/json", Code.InvalidArgument, { [HTTP_STATUS_HEADER]: "415" }));
    }
    if (status >= 400 && status < 500) {
      const message = err.code?.startsWith("FST_ERR_CTP") ? "malformed JSON body" : "bad request";
      return sendError(reply, new ConnectError(message, Code.InvalidArgument));
    }
    req.log.error({ err }, "unhandled error");
    return sendError(reply, new ConnectError("internal error", Code.Internal));
  });
}

/**
 * What no route serves: a gRPC or gRPC-Web call of a method this server
 * does not have is UNIMPLEMENTED in its protocol (HTTP 200, grpc-status
 * 12), a known path with another HTTP method is 405 with `Allow`, anything
 * else 404 in the contract's shape.
 */
export function registerNotFound(app: FastifyInstance, allowedMethods: (url: string) => string[]): void {
  app.setNotFoundHandler((req, reply) => {
    const contentType = req.headers["content-type"];
    const protocol = wireProtocolOf(req.url, contentType);
    const path = req.url.split("?")[0]!.slice(0, 200);
    if (protocol === "grpc" || protocol === "grpc-web") {
      return sendEarlyAnswer(req, reply, earlyAnswer(protocol, contentType, Code.Unimplemented, `unknown method ${path}`));
    }
    const allowed = allowedMethods(req.url);
    if (allowed.length > 0) {
      reply.header("allow", allowed.join(", "));
      return sendError(reply, new ConnectError(`HTTP method ${req.method} is not allowed on ${path}: use ${allowed.join(", ")}`, Code.Unimplemented, { [HTTP_STATUS_HEADER]: "405" }));
    }
    return sendError(reply, new ConnectError("route not found", Code.NotFound));
  });
}
