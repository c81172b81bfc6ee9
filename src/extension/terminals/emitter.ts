// A minimal event emitter with VS Code's `Event<T>` shape, so the pseudo-terminals stay free of `vscode` (unit-
// testable against a real engine) and still satisfy `vscode.Pseudoterminal` structurally.
import { splitFrames } from '../../common/docker';
export type Listener<T> = (e: T) => unknown;

export class Emitter<T> {
  private listeners = new Set<Listener<T>>();
  readonly event = (listener: Listener<T>): { dispose(): void } => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

/** Terminals want CRLF; container output without a TTY has bare LF. */
export function toTerminal(text: string): string {
  return text.replace(/\r?\n/g, '\r\n');
}

/**
 * Docker's multiplexed stream (non-TTY logs and attach; src/common/docker/stdcopy.ts): feeds payloads to `out` as
 * they complete; keeps a partial frame across chunks.
 */
export class Demuxer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly out: (stream: number, payload: Buffer) => void) {}
  push(chunk: Buffer): void {
    const { frames, rest } = splitFrames(this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk);
    this.buf = rest;
    for (const f of frames) this.out(f.stream, f.payload);
  }
}
