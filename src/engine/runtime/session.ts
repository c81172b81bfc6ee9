// A stream to a process inside a container, through its berth-shim: the container's init (attach) or an exec
// process. The shim speaks Docker's stdcopy framing both ways (see native/berth-shim/clients.h): it sends stdout (1),
// stderr (2) and, for exec, the exit code (3); we send stdin (0) and stdin EOF (4).
// Backpressure: `onOutput` returns false when its consumer is full; the socket is paused until `resume()`.
import type * as net from 'node:net';
import { frame, splitFrames } from '../../common/docker';

export type OutputStream = 1 | 2;
const STDIN = 0;
const EXIT = 3;
const STDIN_EOF = 4;
/** The shim refuses frames above 32 KiB. */
const MAX_FRAME = 32 * 1024;

export interface ProcessSession {
  /** Receives output chunks; return false to pause the process's output until `resume()` is called. */
  onOutput(fn: (stream: OutputStream, chunk: Buffer) => boolean): void;
  resume(): void;
  /** Writes to the process's stdin; false means wait for `drain` (socket backpressure). */
  write(data: Buffer): boolean;
  once(event: 'drain', fn: () => void): void;
  /** Ends the process's stdin (EOF), keeping its output coming. */
  endStdin(): void;
  /** Leaves the process alone (a detach): its stdin stays open. */
  close(): void;
  /** Resolves when the stream ends: with the exit code for exec (as soon as it comes, after the output before it),
   * undefined for attach or a lost shim. */
  readonly done: Promise<number | undefined>;
}

/** The exit code in a run of frames, if there is one (the frames are left as they are). */
function exitFrame(frames: Buffer): number | undefined {
  const exit = splitFrames(frames).frames.find((f) => f.stream === EXIT);
  return exit && Number(exit.payload.toString());
}

export function createSession(sock: net.Socket, initial: Buffer = Buffer.alloc(0)): ProcessSession {
  // Output that comes before a consumer (the API route may await a resize first) waits for it, socket paused.
  let output: ((stream: OutputStream, chunk: Buffer) => boolean) | undefined;
  let pending: Buffer = initial;
  let exitCode: number | undefined;
  let resolveDone!: (code: number | undefined) => void;
  const done = new Promise<number | undefined>((r) => (resolveDone = r));

  const parse = () => {
    if (!output) return;
    const { frames, rest } = splitFrames(pending);
    pending = rest;
    for (const f of frames) {
      if (f.stream === EXIT) {
        // The last frame: every output frame before it has gone to the consumer. Done now, not when the shim's
        // side closes (a turn of the event loop or more later): the client's stream ends and the exit code
        // shows the sooner.
        exitCode = Number(f.payload.toString());
        resolveDone(exitCode);
      } else if ((f.stream === 1 || f.stream === 2) && !output(f.stream, f.payload)) sock.pause();
    }
  };

  sock.on('data', (d: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, d]) : d;
    if (output) parse();
    else sock.pause();
  });
  sock.on('error', () => {
    /* close follows */
  });
  sock.once('close', () => {
    // The process may end before its consumer comes (the route awaits a resize first): its output stays
    // pending for onOutput, and the exit code is read from it now.
    if (output) parse();
    else exitCode = exitFrame(pending) ?? exitCode;
    resolveDone(exitCode);
  });

  return {
    onOutput(fn) {
      const first = !output;
      output = fn;
      if (first) sock.resume(); // before parsing, which may pause it again (backpressure)
      if (pending.length) parse();
    },
    resume: () => sock.resume(),
    write(data) {
      if (sock.destroyed) return true;
      let ok = true;
      for (let off = 0; off < data.length; off += MAX_FRAME)
        ok = sock.write(frame(STDIN, data.subarray(off, off + MAX_FRAME)));
      return ok;
    },
    once: (_ev, fn) => {
      sock.once('drain', fn);
    },
    endStdin() {
      if (!sock.destroyed) sock.write(frame(STDIN_EOF, Buffer.alloc(0)));
    },
    close: () => {
      sock.end();
      sock.destroy();
    },
    done,
  };
}
