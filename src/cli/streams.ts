// Container I/O over the engine's streams: Docker's 8-byte multiplexed framing (no TTY), raw TTY streams, the
// local terminal in raw mode, resize forwarding, and client-side detach (ctrl-p ctrl-q) like docker's.
import type { Duplex, Readable } from 'node:stream';
import { parseDetachKeys as parseKeys, STDERR, SYSTEMERR, splitFrames } from '../common/docker';

export class DetachedError extends Error {
  constructor() {
    super('detached');
  }
}

function write(out: NodeJS.WritableStream, chunk: Buffer): Promise<void> | void {
  if (!out.write(chunk)) return new Promise((resolve) => out.once('drain', () => resolve()));
}

/**
 * Splits Docker's multiplexed stream ([stream, 0, 0, 0, size(4 bytes BE)] + payload) into stdout and stderr,
 * with backpressure. A frame on stream 3 (systemerr) is an engine error and rejects.
 */
export async function demux(
  src: Readable,
  stdout: NodeJS.WritableStream,
  stderr: NodeJS.WritableStream,
): Promise<void> {
  let buf: Buffer = Buffer.alloc(0);
  for await (const chunk of src as AsyncIterable<Buffer>) {
    const { frames, rest } = splitFrames(buf.length ? Buffer.concat([buf, chunk]) : chunk);
    buf = rest;
    for (const f of frames) {
      if (f.stream === SYSTEMERR) throw new Error(f.payload.toString('utf8').trim());
      const p = write(f.stream === STDERR ? stderr : stdout, f.payload);
      if (p) await p;
    }
  }
}

/** Copies a raw (TTY) stream to stdout with backpressure. */
export async function copyRaw(src: Readable, out: NodeJS.WritableStream): Promise<void> {
  for await (const chunk of src as AsyncIterable<Buffer>) {
    const p = write(out, chunk);
    if (p) await p;
  }
}

export interface TerminalSession {
  restore(): void;
}

/** Puts the local terminal in raw mode (if stdin is one) and gives back a function to restore it. */
export function makeRaw(): TerminalSession {
  const stdin = process.stdin as NodeJS.ReadStream;
  if (!stdin.isTTY) return { restore() {} };
  stdin.setRawMode(true);
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    try {
      stdin.setRawMode(false);
    } catch {
      /* terminal gone */
    }
  };
  process.once('exit', restore);
  return { restore };
}

/** Sends the terminal size now and on every SIGWINCH. Returns a function that stops listening. */
export function forwardResize(resize: (h: number, w: number) => Promise<void>): () => void {
  const out = process.stdout as NodeJS.WriteStream;
  if (!out.isTTY) return () => {};
  const send = () => {
    const [w, h] = [out.columns, out.rows];
    if (w && h)
      resize(h, w).catch(() => {
        /* the process may have exited */
      });
  };
  send();
  // The container may not have started its process yet; docker retries the first resize too.
  const retry = setTimeout(send, 100);
  process.on('SIGWINCH', send);
  return () => {
    clearTimeout(retry);
    process.off('SIGWINCH', send);
  };
}

export function terminalSize(): [number, number] | undefined {
  const out = process.stdout as NodeJS.WriteStream;
  return out.isTTY && out.rows && out.columns ? [out.rows, out.columns] : undefined;
}

/** Docker's --detach-keys ("ctrl-p,ctrl-q", "ctrl-a,x") as bytes, by the engine's grammar (src/common/docker). */
export function parseDetachKeys(spec: string): Buffer {
  return Buffer.from(parseKeys(spec));
}

export interface HijackOptions {
  tty: boolean;
  /** Forward local stdin. */
  stdin: boolean;
  /** Detach sequence watched on stdin (TTY sessions), null for none. */
  detachKeys?: Buffer | null;
}

/**
 * Pumps a hijacked connection: stdin → engine (half-closing on EOF), engine → stdout/stderr (demuxed without a
 * TTY). Resolves when the output ends; rejects with DetachedError when the user typed the detach keys.
 */
export async function pumpHijacked(conn: Duplex, opts: HijackOptions): Promise<void> {
  const stdin = process.stdin;
  let detached = false;
  let onData: ((b: Buffer) => void) | undefined;
  let onEnd: (() => void) | undefined;
  const output = opts.tty
    ? copyRaw(conn as unknown as Readable, process.stdout)
    : demux(conn as unknown as Readable, process.stdout, process.stderr);
  const detachedPromise = new Promise<void>((resolve) => {
    if (!opts.stdin) return;
    const keys = opts.detachKeys;
    let matched = 0;
    onData = (chunk: Buffer) => {
      if (keys && keys.length) {
        // Hold back a partial detach sequence until it is complete or broken, as docker's escape proxy does.
        const send: number[] = [];
        for (const b of chunk) {
          if (b === keys[matched]) {
            matched++;
            if (matched === keys.length) {
              detached = true;
              resolve();
              return;
            }
            continue;
          }
          if (matched) {
            send.push(...keys.subarray(0, matched));
            matched = 0;
          }
          if (b === keys[0]) {
            matched = 1;
            continue;
          }
          send.push(b);
        }
        if (send.length) conn.write(Buffer.from(send));
        return;
      }
      if (!conn.write(chunk)) {
        stdin.pause();
        conn.once('drain', () => stdin.resume());
      }
    };
    onEnd = () => {
      // Half-close: the container sees EOF on its stdin and output keeps flowing.
      (conn as { end: () => void }).end();
    };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.resume();
  });
  conn.resume();
  const result = await Promise.race([
    output.then(() => 'done' as const),
    detachedPromise.then(() => 'detached' as const),
  ]);
  if (onData) stdin.off('data', onData);
  if (onEnd) stdin.off('end', onEnd);
  stdin.pause();
  if (result === 'detached' || detached) {
    conn.destroy();
    throw new DetachedError();
  }
}
