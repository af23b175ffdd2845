import net from "node:net";

/**
 * A raw HTTP/2 client for tests that must send what no well-behaved client
 * sends (a stalled preface, bad HPACK, DATA on stream 0, an oversize frame,
 * more streams than allowed) and see every frame the server answers with.
 * Header blocks are HPACK literals without indexing or Huffman (RFC 7541
 * §6.2.2), which every decoder accepts.
 */

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export const FrameType = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

function hpackInt(value: number, prefixBits: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([value]);
  const out = [max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** A header block of literal fields (never indexed, no Huffman). */
export function hpack(headers: [string, string][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of headers) {
    const n = Buffer.from(name);
    const v = Buffer.from(value);
    parts.push(Buffer.from([0]), hpackInt(n.length, 7), n, hpackInt(v.length, 7), v);
  }
  return Buffer.concat(parts);
}

/** HEADERS (+ CONTINUATION frames when the block is larger than 16 KiB). */
export function headersFrames(stream: number, headers: [string, string][], endStream: boolean): Buffer {
  const block = hpack(headers);
  const out: Buffer[] = [];
  for (let i = 0; i === 0 || i < block.length; i += 16_384) {
    const last = i + 16_384 >= block.length;
    const flags = (last ? Flag.END_HEADERS : 0) | (i === 0 && endStream ? Flag.END_STREAM : 0);
    out.push(frame(i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION, flags, stream, block.subarray(i, i + 16_384)));
  }
  return Buffer.concat(out);
}

/** A GOAWAY's last stream id and error code. */
export function goaway(f: Frame): { lastStream: number; code: number } {
  return { lastStream: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) };
}

/** A raw connection: every frame received, and when (ms since connect) the server closed it. */
export class RawH2 {
  readonly frames: Frame[] = [];
  closedAfterMs: number | undefined;
  readonly socket: net.Socket;
  private readonly started = Date.now();
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 9) {
        const len = this.buf.readUIntBE(0, 3);
        if (this.buf.length < 9 + len) break;
        this.frames.push({ type: this.buf[3]!, flags: this.buf[4]!, stream: this.buf.readUInt32BE(5) & 0x7fffffff, payload: this.buf.subarray(9, 9 + len) });
        this.buf = this.buf.subarray(9 + len);
      }
      this.wake();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.closedAfterMs = Date.now() - this.started;
      this.wake();
    });
  }

  static connect(port: number): Promise<RawH2> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => resolve(new RawH2(socket)));
      socket.once("error", reject);
    });
  }

  /** Preface, an empty SETTINGS and the ACK of the server's SETTINGS (so they apply). */
  handshake(): this {
    this.socket.write(PREFACE);
    this.socket.write(frame(FrameType.SETTINGS, 0, 0));
    this.socket.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
    return this;
  }

  write(bytes: Buffer | string): this {
    this.socket.write(bytes);
    return this;
  }

  private wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `done()` holds (checked on every frame and on close); rejects after `ms`. */
  until(done: () => boolean, ms: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}; frames: ${this.describe()}`)), ms);
      const check = () => {
        if (done()) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      check();
    });
  }

  find(type: number, stream?: number): Frame | undefined {
    return this.frames.find((f) => f.type === type && (stream === undefined || f.stream === stream));
  }

  describe(): string {
    return this.frames.map((f) => `${f.type}/${f.flags}/${f.stream}`).join(" ") + (this.closedAfterMs !== undefined ? " closed" : "");
  }

  close() {
    this.socket.destroy();
  }
}
