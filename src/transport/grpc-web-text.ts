import type { FastifyInstance } from "fastify";

/**
 * gRPC-Web text mode (`application/grpc-web-text`, the default of Google's
 * grpc-web client): the same protocol as binary gRPC-Web with the request
 * and response bodies base64-encoded. connect-node speaks only the binary
 * form, so a text call is translated on its way in and out: the request's
 * Content-Type becomes `application/grpc-web+proto` and its body is decoded
 * as it is read; the answer's Content-Type becomes
 * `application/grpc-web-text+proto` and its bytes are encoded as they are
 * written (one base64 text, padded only at the end). A client may send its
 * body as several padded base64 pieces; each is decoded on its own.
 */
export function registerGrpcWebText(app: FastifyInstance): void {
  app.addHook("onRequest", (req, reply, done) => {
    const type = req.headers["content-type"];
    if (typeof type !== "string" || !/^application\/grpc-web-text(\+proto)?\s*(;|$)/i.test(type)) return done();
    req.raw.headers["content-type"] = "application/grpc-web+proto";
    decodeRequest(req.raw as unknown as AsyncIterable<Buffer> & object);
    encodeResponse(reply.raw as unknown as TextResponse);
    done();
  });
}

/** Replaces the request's async iterator (what connect-node reads) with one that yields the decoded bytes. */
function decodeRequest(raw: AsyncIterable<Buffer> & object): void {
  const original = raw[Symbol.asyncIterator].bind(raw);
  Object.defineProperty(raw, Symbol.asyncIterator, {
    configurable: true,
    value: async function* () {
      let text = "";
      for await (const chunk of { [Symbol.asyncIterator]: original }) {
        text += (chunk as Buffer).toString("latin1").replace(/[\s]/g, "");
        const { bytes, rest } = decodeQuanta(text);
        text = rest;
        if (bytes.length) yield bytes;
      }
      if (text.length) yield Buffer.from(text, "base64"); // unpadded tail
    },
  });
}

/** Decodes the complete 4-character groups of `text`; a group with padding ends a piece. */
function decodeQuanta(text: string): { bytes: Buffer; rest: string } {
  const usable = text.length - (text.length % 4);
  const out: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < usable; i += 4) {
    if (text.charCodeAt(i + 3) === 61 /* "=" */) {
      out.push(Buffer.from(text.slice(start, i + 4), "base64"));
      start = i + 4;
    }
  }
  if (start < usable) out.push(Buffer.from(text.slice(start, usable), "base64"));
  return { bytes: Buffer.concat(out), rest: text.slice(usable) };
}

interface TextResponse {
  writeHead(status: number, ...args: unknown[]): unknown;
  setHeader(name: string, value: unknown): unknown;
  write(chunk: unknown, ...args: unknown[]): boolean;
  end(...args: unknown[]): unknown;
}

function encodeResponse(res: TextResponse): void {
  const { writeHead, setHeader, write, end } = res;
  let pending = Buffer.alloc(0);
  const textType = (v: unknown) => (typeof v === "string" && /^application\/grpc-web(\+proto)?/i.test(v) ? "application/grpc-web-text+proto" : v);
  res.setHeader = function (name, value) {
    return setHeader.call(this, name, name.toLowerCase() === "content-type" ? textType(value) : value);
  };
  res.writeHead = function (status, ...args) {
    for (const a of args) {
      if (a && typeof a === "object" && !Array.isArray(a)) {
        for (const key of Object.keys(a)) if (key.toLowerCase() === "content-type") (a as Record<string, unknown>)[key] = textType((a as Record<string, unknown>)[key]);
      }
    }
    return writeHead.call(this, status, ...args);
  };
  const encode = (chunk: unknown, encoding?: unknown): string => {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, (encoding as BufferEncoding) ?? "utf8") : Buffer.from(chunk as Uint8Array);
    const all = pending.length ? Buffer.concat([pending, bytes]) : bytes;
    const whole = all.length - (all.length % 3);
    pending = all.subarray(whole);
    return all.subarray(0, whole).toString("base64");
  };
  res.write = function (chunk, ...args) {
    const encoding = typeof args[0] === "string" ? args[0] : undefined;
    const rest = typeof args[0] === "string" ? args.slice(1) : args;
    return write.call(this, encode(chunk, encoding), "latin1", ...rest);
  };
  res.end = function (...args) {
    let tail = "";
    if (args.length && typeof args[0] !== "function") {
      const chunk = args.shift();
      const encoding = typeof args[0] === "string" ? args.shift() : undefined;
      if (chunk !== undefined && chunk !== null) tail = encode(chunk, encoding);
    }
    tail += pending.toString("base64");
    pending = Buffer.alloc(0);
    return tail ? end.call(this, tail, "latin1", ...args) : end.call(this, ...args);
  };
}
