import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Takes an HTTP/2 stream before Fastify sees it; returns false to pass it on. */
export type StreamLane = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => boolean;

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

/**
 * One TCP port for HTTP/1.1 and cleartext HTTP/2 (prior knowledge, as gRPC
 * clients speak it). Node serves either, not both, so each new connection's
 * first bytes are compared with the HTTP/2 connection preface and the socket
 * is handed to an inner HTTP/2 or HTTP/1 server. Given to Fastify as its
 * `serverFactory`.
 */
export function createOnePortServer(handler: Handler): net.Server {
  const h1 = http.createServer(handler as http.RequestListener);
  const h2 = http2.createServer({}, handler as never);
  const sessions = new Set<http2.Http2Session>();
  // Node's compatibility layer (Http2ServerRequest/Response, what Fastify
  // sees) is a 'stream' listener; a lane, when set, sees each stream first.
  const slot: { lane?: StreamLane } = {};
  const compat = h2.listeners("stream")[0] as (...args: unknown[]) => void;
  h2.removeListener("stream", compat);
  h2.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
    if (slot.lane?.(stream, headers)) return;
    compat(stream, headers, ...rest);
  });
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  h1.keepAliveTimeout = 65_000;

  // noDelay: small gRPC frames (headers, message, trailers) go out at once;
  // Node sets it for HTTP/1 sockets but not for HTTP/2 sessions.
  const outer = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
    let seen = Buffer.alloc(0);
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
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        socket.resume();
      }
    };
    const onEarlyError = () => socket.destroy();
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
