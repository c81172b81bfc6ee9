// Docker's stdcopy framing of a stream without a TTY: each frame is an 8-byte header [stream, 0, 0, 0,
// size (big-endian uint32)] and `size` bytes of payload. Streams: 0 stdin, 1 stdout, 2 stderr, 3 systemerr (an
// error from the engine). berth-shim speaks it too, with 3 as an exec's exit code and 4 as stdin EOF.

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const SYSTEMERR = 3;

export interface Frame {
  stream: number;
  payload: Buffer;
}

/** The 8-byte header of a frame. */
export function frameHeader(stream: number, length: number): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(length, 4);
  return h;
}

/** One whole frame: header and payload. */
export function frame(stream: number, payload: Buffer): Buffer {
  return Buffer.concat([frameHeader(stream, payload.length), payload]);
}

/**
 * The complete frames at the start of `buf` and what is left of it (a partial frame, kept by the caller until
 * more bytes come). Payloads are views into `buf`, not copies.
 */
export function splitFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let off = 0;
  while (buf.length - off >= 8) {
    const size = buf.readUInt32BE(off + 4);
    if (buf.length - off < 8 + size) break;
    frames.push({ stream: buf[off], payload: buf.subarray(off + 8, off + 8 + size) });
    off += 8 + size;
  }
  return { frames, rest: off === 0 ? buf : buf.subarray(off) };
}
