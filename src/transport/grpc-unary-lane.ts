import { fromBinary, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type Interceptor, type UnaryResponse } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { contentTypeProto, parseTimeout } from "@connectrpc/connect/protocol-grpc";
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { FastifyBaseLogger } from "fastify";
import { describeError } from "./error-interceptor.js";
import { encodeGrpcMessage, HTTP_STATUS_HEADER } from "./errors.js";
import { createInvoker, type Invoke } from "./invoker.js";
import type { StreamLane } from "./one-port-server.js";
import type { CredentialGate, OnRefused } from "./credential-gate.js";
import { requiredCredential, type CredentialKind } from "./method-rules.js";

/**
 * The gRPC unary lane: plain gRPC calls of the Loyalty+ services — what a
 * POS till's grpc-js or grpc-java stub sends all day — answered straight
 * from the HTTP/2 stream, without Fastify's HTTP/2 compatibility layer and
 * connect-node's streaming machinery (async iterables, an AbortController and
 * its DOMException per call). Profiling put those at about half of a gRPC
 * check-in's CPU (bench/README.md).
 *
 * It runs the same service implementations through the same interceptors
 * (metrics, errors, auth, change, idempotency) as the Connect router and the REST
 * gateway. It takes only what it fully handles: POST, `application/grpc` or
 * `application/grpc+proto`, no compression, a unary method of the API
 * services. Everything else — compressed messages, JSON codecs, gRPC-Web,
 * Connect, health, reflection, streams — goes on to Fastify and Connect.
 */
export interface GrpcUnaryLaneOptions {
  services: readonly DescService[];
  impls: ReadonlyMap<string, object>;
  interceptors: Interceptor[];
  readMaxBytes: number;
  /** Credentials checked from the headers, before the body (credential-gate.ts). */
  gate?: CredentialGate;
  /** Counts a call the gate refused. */
  onRefused?: OnRefused;
  /** True once the server is shutting down: new calls then go to Fastify, which refuses them. */
  isClosing: () => boolean;
  /** Where a call that fails after its handler (a response that cannot be encoded) is logged. */
  log: Pick<FastifyBaseLogger, "error">;
}

interface Route {
  method: DescMethod;
  invoke: Invoke;
  /** The credential the method takes, checked from the headers (credential-gate.ts). */
  credential: CredentialKind | undefined;
}

const CONTENT_TYPE = contentTypeProto;
/** Request metadata that is transport, not the call's: not shown to interceptors. */
const TRANSPORT_HEADERS = new Set(["te", "content-length", "grpc-accept-encoding", "grpc-encoding"]);
/** Error metadata that must not travel as a gRPC trailer. */
const INTERNAL_METADATA = new Set([HTTP_STATUS_HEADER, "content-type", "grpc-status", "grpc-message", "grpc-status-details-bin"]);
const MAX_TIMER_MS = 2_147_483_647;
/**
 * No `date` header: gRPC has no use for it, and it is the one response
 * header that changes every second, so HPACK cannot index it away (Node's
 * `sendDate` option, not in @types/node).
 */
const RESPOND_MESSAGE = Object.freeze({ waitForTrailers: true, sendDate: false }) as http2.ServerStreamResponseOptions;
const RESPOND_ONLY = Object.freeze({ endStream: true, sendDate: false }) as http2.ServerStreamResponseOptions;

export function createGrpcUnaryLane(opts: GrpcUnaryLaneOptions): StreamLane {
  const routes = new Map<string, Route>();
  for (const service of opts.services) {
    const impl = opts.impls.get(service.typeName);
    if (!impl) throw new Error(`no implementation registered for ${service.typeName}`);
    for (const method of service.methods) {
      if (method.methodKind !== "unary") continue;
      routes.set(`/${service.typeName}/${method.name}`, {
        method,
        invoke: createInvoker(method, impl, opts.interceptors, "grpc"),
        credential: requiredCredential(method),
      });
    }
  }

  return (stream, headers) => {
    if (headers[":method"] !== "POST") return false;
    const contentType = headers["content-type"];
    if (contentType !== "application/grpc" && contentType !== CONTENT_TYPE) return false;
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    const route = routes.get(headers[":path"] ?? "");
    if (!route || opts.isClosing()) return false;
    serve(stream, headers, route, opts);
    return true;
  };
}

function serve(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, route: Route, opts: GrpcUnaryLaneOptions): void {
  new LaneCall(stream, headers, route, opts).start();
}

/**
 * One gRPC call on the lane: its state and steps in one object (the
 * service runs compiled by tsc, so tsx's keepNames, which once made every
 * per-call closure cost a defineProperty, no longer applies either way).
 */
class LaneCall {
  private done = false;
  private ended = false;
  private size = 0;
  private tooBig = false;
  private readonly chunks: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The credential gate's look-up, while it is still running. */
  private gate: Promise<ConnectError | undefined> | undefined;
  // Made when first asked for (an AbortSignal costs a DOMException-capable
  // object per call; most handlers never look at it).
  private abort: AbortController | undefined;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly headers: IncomingHttpHeaders,
    private readonly route: Route,
    private readonly opts: GrpcUnaryLaneOptions,
  ) {}

  /** The call's signal when it has a deadline: aborted when it passes or the client goes. */
  get signal(): AbortSignal | undefined {
    return this.timer ? this.controller().signal : undefined;
  }

  private controller(): AbortController {
    return (this.abort ??= new AbortController());
  }

  start(): void {
    const { stream, headers } = this;
    const timeout = parseTimeout((headers["grpc-timeout"] as string | undefined) ?? null, Number.MAX_SAFE_INTEGER);
    if (timeout.error) {
      stream.on("data", () => undefined);
      this.fail(timeout.error);
      return;
    }
    // Credentials from the headers, before any of the body is kept: a call
    // without a valid one is answered now and its stream reset, unread.
    if (this.route.credential && this.opts.gate) {
      const key = headers["x-api-key"];
      const verdict = this.opts.gate.check(this.route.credential, typeof key === "string" ? key : undefined, headers.authorization);
      if (verdict instanceof ConnectError) {
        this.refuse(verdict);
        return;
      }
      if (verdict) {
        this.gate = verdict;
        verdict.then((err) => {
          this.gate = undefined;
          if (err) this.refuse(err);
          else if (this.ended) this.end();
        }, () => undefined);
      }
    }
    // Beyond what a timer can hold (about 24.8 days), there is no deadline
    // to keep (as grpc-js does): Node would fire such a timer at once.
    if (timeout.timeoutMs !== undefined && timeout.timeoutMs <= MAX_TIMER_MS) {
      this.timer = setTimeout(() => {
        this.fail(new ConnectError("the operation timed out", Code.DeadlineExceeded));
        this.controller().abort();
      }, timeout.timeoutMs);
    }
    stream.on("error", () => undefined); // a reset by the peer; nothing left to answer
    stream.on("close", () => {
      if (!this.done) {
        this.finish();
        if (this.timer) this.controller().abort();
      }
    });
    stream.on("data", (chunk: Buffer) => {
      if (this.tooBig) return;
      this.size += chunk.byteLength;
      if (this.size > this.opts.readMaxBytes + 5) {
        this.tooBig = true;
        this.chunks.length = 0;
      } else {
        this.chunks.push(chunk);
      }
    });
    stream.on("end", () => {
      this.ended = true;
      if (!this.gate) this.end();
    });
  }

  /** Refused from the headers: the status now, then RST_STREAM NO_ERROR so the client stops sending. */
  private refuse(err: ConnectError): void {
    this.chunks.length = 0;
    this.opts.onRefused?.(this.route.method, "grpc", err.code);
    this.fail(err);
    const { stream } = this;
    if (!stream.destroyed && !stream.closed && !this.ended) stream.close(http2.constants.NGHTTP2_NO_ERROR);
  }

  private finish(): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private end(): void {
    if (this.done) return;
    const { headers, route, chunks } = this;
    if (this.tooBig) {
      this.fail(new ConnectError(`message size is larger than configured readMaxBytes ${this.opts.readMaxBytes}`, Code.ResourceExhausted));
      return;
    }
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.size);
    let message;
    try {
      message = decodeEnvelope(route.method, body);
    } catch (err) {
      this.fail(err as ConnectError);
      return;
    }
    const header = new Headers();
    for (const key in headers) {
      if (key.charCodeAt(0) === 58 /* ":" */ || TRANSPORT_HEADERS.has(key)) continue;
      const value = headers[key];
      if (typeof value === "string") header.set(key, value);
      else if (Array.isArray(value)) for (const v of value) header.append(key, v);
    }
    const call = this;
    let pending: Promise<UnaryResponse>;
    try {
      pending = route.invoke({
        message,
        header,
        url: headers[":path"]!,
        requestMethod: "POST",
        clientAddress: this.stream.session?.socket?.remoteAddress,
        get signal() {
          return call.signal;
        },
      });
    } catch (err) {
      pending = Promise.reject(err);
    }
    // Every outcome ends in this call's status: nothing thrown on the way to
    // the socket may become an unhandled rejection (Node would exit).
    pending
      .then(
        (res) => this.succeed(res),
        (err: unknown) => this.fail(ConnectError.from(err)),
      )
      .catch((err: unknown) => this.broken(err));
  }

  /** A failure after the handler: logged, and the call answered INTERNAL (or reset). */
  private broken(err: unknown): void {
    this.opts.log.error({ ...describeError(err), rpc: `${this.route.method.parent.typeName}/${this.route.method.name}`, protocol: "grpc" }, "response could not be sent");
    if (!this.done) {
      this.fail(new ConnectError("internal error", Code.Internal));
      return;
    }
    const { stream } = this;
    try {
      if (!stream.destroyed && !stream.closed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    } catch {
      // the stream is gone already
    }
  }

  private succeed(res: UnaryResponse): void {
    if (this.done) return;
    const { stream } = this;
    if (stream.destroyed || stream.closed) {
      this.finish();
      return;
    }
    // Encoded before the call counts as done: a message that cannot be
    // encoded (a value outside its field's type) is answered INTERNAL.
    let frame: Uint8Array;
    try {
      frame = encodeEnvelope(0, toBinary(this.route.method.output, res.message as never));
    } catch (err) {
      this.broken(err);
      return;
    }
    this.finish();
    const out: Record<string, string | number> = { ":status": 200, "content-type": CONTENT_TYPE };
    res.header.forEach((value, key) => {
      if (!INTERNAL_METADATA.has(key)) out[key] = value;
    });
    const trailers: Record<string, string> = { "grpc-status": "0" };
    res.trailer.forEach((value, key) => {
      if (!INTERNAL_METADATA.has(key)) trailers[key] = value;
    });
    try {
      stream.respond(out, RESPOND_MESSAGE);
      stream.once("wantTrailers", () => {
        try {
          stream.sendTrailers(trailers);
        } catch {
          // the peer reset the stream meanwhile, or a trailer is no legal header
          if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        }
      });
      stream.end(frame);
    } catch {
      // the peer reset the stream meanwhile
    }
  }

  private fail(err: ConnectError): void {
    if (this.done) return;
    this.finish();
    const { stream } = this;
    if (stream.destroyed || stream.closed) return;
    const out: Record<string, string | number> = {
      ":status": 200,
      "content-type": CONTENT_TYPE,
      "grpc-status": String(err.code),
      "grpc-message": encodeGrpcMessage(err.rawMessage),
    };
    err.metadata.forEach((value, key) => {
      if (!INTERNAL_METADATA.has(key)) out[key] = value;
    });
    try {
      // Trailers-only: the status travels in the one HEADERS frame.
      stream.respond(out, RESPOND_ONLY);
    } catch {
      if (stream.destroyed || stream.closed) return; // the peer reset the stream meanwhile
      // Metadata that is not a legal header: the status alone, else a reset.
      try {
        stream.respond({ ":status": 200, "content-type": CONTENT_TYPE, "grpc-status": out["grpc-status"]!, "grpc-message": out["grpc-message"]! }, RESPOND_ONLY);
      } catch {
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      }
    }
  }
}

/** One uncompressed gRPC message (5-byte prefix, then protobuf), or INVALID_ARGUMENT. */
function decodeEnvelope(method: DescMethod, body: Buffer) {
  if (body.byteLength < 5) throw new ConnectError("protocol error: missing or incomplete message", Code.InvalidArgument);
  if (body[0]! & 0b1) throw new ConnectError("protocol error: compressed message without grpc-encoding", Code.InvalidArgument);
  const length = body.readUInt32BE(1);
  if (length !== body.byteLength - 5) {
    throw new ConnectError(
      length < body.byteLength - 5 ? "protocol error: a unary call carries exactly one message" : `protocol error: promised ${length} bytes in enveloped message, got ${body.byteLength - 5} bytes`,
      Code.InvalidArgument,
    );
  }
  try {
    return fromBinary(method.input, body.subarray(5));
  } catch (err) {
    throw new ConnectError(`parse binary: ${err instanceof Error ? err.message : String(err)}`, Code.InvalidArgument);
  }
}
