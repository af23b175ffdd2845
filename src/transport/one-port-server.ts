import { Code } from "@connectrpc/connect";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { earlyAnswer, wireProtocolOf } from "./early-answer.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR } = http2.constants;
const END_STREAM = 0x1;

/** Takes an HTTP/2 stream before Fastify sees it; returns false to pass it on. */
export type StreamLane = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;

/**
 * What one client connection may hold (README, "Connection limits"). Every
 * figure is per connection; the defaults are those of `npm start`.
 */
export interface ServerLimits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: streams one HTTP/2 connection may have open. */
  maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE (HTTP/2) and the HTTP/1 header limit, in bytes. Beyond it: RST_STREAM or 431. */
  maxHeaderBytes: number;
  /** Node's `maxSessionMemory` (MB): nghttp2's own buffers, header tables and queued output of one session. */
  maxSessionMemoryMb: number;
  /**
   * Bytes of request bodies not yet complete that one HTTP/2 connection may
   * hold in this process. The stream whose data goes beyond it is reset
   * (RST_STREAM ENHANCE_YOUR_CALM; gRPC clients read RESOURCE_EXHAUSTED).
   */
  sessionBodyBytes: number;
  /**
   * A request's body must be complete this long after its headers (HTTP/2),
   * or the whole request this long after its first byte (HTTP/1); else it is
   * answered 408 (gRPC: DEADLINE_EXCEEDED) and its stream reset (HTTP/2) or
   * its connection closed (HTTP/1).
   */
  requestTimeoutMs: number;
  /**
   * A new connection must send its first bytes and be told apart (the HTTP/2
   * preface and SETTINGS, or HTTP/1 headers) within this time, else it is
   * closed.
   */
  firstBytesTimeoutMs: number;
  /**
   * An HTTP/2 connection quiet this long after it last sent something is
   * pinged; without the PING's ACK within the same time it is closed. Node
   * neither reads nor closes a connection after it has sent GOAWAY for a
   * connection error (RFC 9113 §5.4.1): this closes it.
   */
  quietProbeMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = Object.freeze({
  maxConcurrentStreams: 100,
  maxHeaderBytes: 16 * 1024,
  maxSessionMemoryMb: 10,
  sessionBodyBytes: 8 * 1024 * 1024,
  requestTimeoutMs: 10_000,
  firstBytesTimeoutMs: 5_000,
  quietProbeMs: 3_000,
});

const lanes = new WeakMap<net.Server, { lane?: StreamLane }>();

/**
 * Installs a lane for HTTP/2 streams on a server made by createOnePortServer
 * (the gRPC unary lane, see grpc-unary-lane.ts).
 */
export function setStreamLane(server: net.Server, lane: StreamLane): void {
  const slot = lanes.get(server);
  if (!slot) throw new Error("not a one-port server");
  slot.lane = lane;
}

type Handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

/** The request bodies of one HTTP/2 session still being received. */
class SessionBodies {
  bytes = 0;
  readonly open = new Set<BodyWatch>();
  sweep: NodeJS.Timeout | undefined;
  /** `socket.bytesRead` when the last probe was answered: nothing new since then, no probe needed. */
  probedAt = -1;
  probe: NodeJS.Timeout | undefined;
}

/**
 * One request body on its way in: counted against its session's budget,
 * and answered when it has not ended by its deadline. A class, not
 * closures, as in grpc-unary-lane.ts (one object per call).
 */
class BodyWatch {
  bytes = 0;
  readonly deadline: number;

  constructor(
    readonly stream: http2.ServerHttp2Stream,
    readonly headers: http2.IncomingHttpHeaders,
    private readonly bodies: SessionBodies,
    private readonly limits: ServerLimits,
  ) {
    this.deadline = Date.now() + limits.requestTimeoutMs;
    this.release = this.release.bind(this);
    bodies.open.add(this);
    // Bytes are counted as Node pushes them into the stream, not by a 'data'
    // listener: that would switch the stream to flowing before its reader
    // (Node's compatibility request attaches its own listener on first read)
    // is there, and the first chunks would be lost.
    const push = stream.push;
    stream.push = (chunk: unknown, encoding?: BufferEncoding) => {
      if (chunk !== null && this.bodies.open.has(this)) this.onData(chunk as Buffer);
      return push.call(stream, chunk, encoding);
    };
    stream.once("end", this.release);
    stream.once("close", this.release);
  }

  onData(chunk: Buffer): void {
    this.bytes += chunk.byteLength;
    this.bodies.bytes += chunk.byteLength;
    if (this.bodies.bytes > this.limits.sessionBodyBytes) {
      this.release();
      if (!this.stream.destroyed) this.stream.close(NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }

  release(): void {
    if (!this.bodies.open.delete(this)) return;
    this.bodies.bytes -= this.bytes;
  }

  /** The deadline passed: a 408 (gRPC: DEADLINE_EXCEEDED) in the caller's protocol, then RST_STREAM NO_ERROR. */
  expire(): void {
    this.release();
    const { stream, headers } = this;
    if (stream.destroyed || stream.closed) return;
    try {
      if (!stream.headersSent) {
        const contentType = headers["content-type"];
        const answer = earlyAnswer(
          wireProtocolOf(headers[":path"] ?? "", contentType),
          contentType,
          Code.DeadlineExceeded,
          `request body not received within ${this.limits.requestTimeoutMs / 1000} s`,
          { httpStatus: 408 },
        );
        stream.respond({ ":status": answer.status, ...answer.headers }, { endStream: answer.body === undefined });
        if (answer.body) stream.end(answer.body);
      }
    } catch {
      // the stream went meanwhile
    }
    stream.close(NGHTTP2_NO_ERROR);
  }
}

function sweep(bodies: SessionBodies): void {
  const now = Date.now();
  for (const watch of bodies.open) if (watch.deadline <= now) watch.expire();
  if (bodies.open.size === 0) {
    clearInterval(bodies.sweep);
    bodies.sweep = undefined;
  }
}

/**
 * One TCP port for HTTP/1.1 and cleartext HTTP/2 (prior knowledge, as gRPC
 * clients speak it). Node serves either, not both, so each new connection's
 * first bytes are compared with the HTTP/2 connection preface and the socket
 * is handed to an inner HTTP/2 or HTTP/1 server. Given to Fastify as its
 * `serverFactory`. The limits bound what one connection can hold, however
 * it behaves (see ServerLimits).
 */
export function createOnePortServer(handler: Handler, limitsIn: Partial<ServerLimits> = {}): net.Server {
  const limits: ServerLimits = { ...DEFAULT_SERVER_LIMITS, ...limitsIn };
  const h1 = http.createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.firstBytesTimeoutMs,
      requestTimeout: Math.max(limits.requestTimeoutMs, limits.firstBytesTimeoutMs + 1),
      // How often Node looks for requests past those two timeouts (default 30 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, limits.firstBytesTimeoutMs / 4)),
    },
    handler as http.RequestListener,
  );
  const h2 = http2.createServer(
    {
      maxSessionMemory: limits.maxSessionMemoryMb,
      settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: limits.maxHeaderBytes },
    },
    handler as never,
  );
  const sessions = new Set<http2.Http2Session>();
  const bodiesOf = new WeakMap<http2.Http2Session, SessionBodies>();
  // Node's compatibility layer (Http2ServerRequest/Response, what Fastify
  // sees) is a 'stream' listener; a lane, when set, sees each stream first.
  const slot: { lane?: StreamLane } = {};
  const compat = h2.listeners("stream")[0] as (...args: unknown[]) => void;
  h2.removeListener("stream", compat);
  const sweepEvery = Math.max(20, Math.min(1_000, limits.requestTimeoutMs / 4));
  h2.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, ...rest: unknown[]) => {
    if (!(flags & END_STREAM)) {
      const bodies = bodiesOf.get(stream.session!);
      if (bodies) {
        new BodyWatch(stream, headers, bodies, limits);
        bodies.sweep ??= setInterval(sweep, sweepEvery, bodies).unref();
      }
    }
    if (slot.lane?.(stream, headers)) return;
    compat(stream, headers, flags, ...rest);
  });

  // The socket being handed to the HTTP/2 server: its 'session' event comes
  // synchronously from inside that hand-over.
  let handingOver: { socket: net.Socket; firstBytes: NodeJS.Timeout; deadline: number } | undefined;
  h2.on("session", (session: http2.ServerHttp2Session) => {
    const taken = handingOver;
    handingOver = undefined;
    sessions.add(session);
    const bodies = new SessionBodies();
    bodiesOf.set(session, bodies);
    if (taken) {
      // The preface came; the client's SETTINGS must follow in the same window
      // (the session, not the socket it took over, is what can be closed now).
      clearTimeout(taken.firstBytes);
      taken.firstBytes = setTimeout(() => session.destroy(), Math.max(0, taken.deadline - Date.now())).unref();
      session.once("remoteSettings", () => clearTimeout(taken.firstBytes));
      session.setTimeout(limits.quietProbeMs, () => probe(session, taken.socket, bodies));
    }
    session.once("close", () => {
      sessions.delete(session);
      clearInterval(bodies.sweep);
      clearTimeout(bodies.probe);
      if (taken) {
        clearTimeout(taken.firstBytes);
        // Node does not always close the TCP connection with the session.
        taken.socket.destroy();
      }
    });
  });

  /**
   * A quiet session that read something since its last probe is pinged; no
   * ACK within quietProbeMs and it is destroyed. After nghttp2 has sent
   * GOAWAY for a connection error it sends nothing more, PING included, and
   * Node stops reading: such a session is closed here instead of lingering
   * in CLOSE-WAIT. A quiet session that read nothing new is left alone.
   */
  function probe(session: http2.ServerHttp2Session, socket: net.Socket, bodies: SessionBodies) {
    if (session.destroyed || bodies.probe) return;
    const read = socket.bytesRead;
    if (read === bodies.probedAt) return;
    bodies.probe = setTimeout(() => session.destroy(), limits.quietProbeMs).unref();
    const sent = session.ping((err) => {
      clearTimeout(bodies.probe);
      bodies.probe = undefined;
      if (!err) bodies.probedAt = socket.bytesRead;
    });
    if (!sent) {
      clearTimeout(bodies.probe);
      bodies.probe = undefined;
    }
  }

  h1.keepAliveTimeout = 65_000;

  // noDelay: small gRPC frames (headers, message, trailers) go out at once;
  // Node sets it for HTTP/1 sockets but not for HTTP/2 sessions.
  const outer = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
    let seen = Buffer.alloc(0);
    // Nothing, or a first byte that could begin either protocol ("P"), and
    // no more: closed after firstBytesTimeoutMs.
    const deadline = Date.now() + limits.firstBytesTimeoutMs;
    const firstBytes = setTimeout(() => socket.destroy(), limits.firstBytesTimeoutMs).unref();
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, PREFACE.length);
      const isH2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (isH2 && seen.length < PREFACE.length) return; // need more bytes to decide
      socket.off("data", onData);
      socket.off("error", onEarlyError);
      socket.pause();
      socket.unshift(seen);
      if (isH2) {
        // The HTTP/2 session takes over the socket's handle and first drains
        // what is buffered in JS; resuming the stream here would lose bytes.
        // The timer runs on until the client's SETTINGS arrive.
        handingOver = { socket, firstBytes, deadline };
        h2.emit("connection", socket);
        if (handingOver) {
          handingOver = undefined;
          clearTimeout(firstBytes);
        }
      } else {
        // From here Node's headersTimeout (the same figure) applies.
        clearTimeout(firstBytes);
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    const onEarlyError = () => {
      clearTimeout(firstBytes);
      socket.destroy();
    };
    socket.on("error", onEarlyError);
    socket.on("data", onData);
    socket.resume();
  });

  // The inner HTTP/1 server tracks idle keep-alive sockets only after its
  // own `listening` event; without it, close() waits for their timeout.
  outer.on("listening", () => h1.emit("listening"));

  const closeOuter = outer.close.bind(outer);
  Object.assign(outer, {
    close(cb?: (err?: Error) => void) {
      closeOuter(cb);
      h1.close();
      h1.closeIdleConnections();
      for (const s of sessions) s.close();
      return outer;
    },
    closeIdleConnections() {
      h1.closeIdleConnections();
    },
    closeAllConnections() {
      h1.closeAllConnections();
      for (const s of sessions) s.destroy();
    },
  });
  lanes.set(outer, slot);
  return outer;
}
