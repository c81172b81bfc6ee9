// Joins a hijacked API connection to a process session (attach, exec start): output out as Docker frames it
// (the 8-byte stdcopy header without a TTY, raw bytes with one), the client's input in as stdin, with Docker's
// detach keys and EOF handling. Backpressure both ways: a full connection pauses the process's output, a full
// process stdin pauses the connection.
import type { Duplex } from 'node:stream';
import type { ProcessSession } from '../containers';
import { frame, parseDetachKeys as parseKeys } from '../../common/docker';
import { invalidParameter } from '../errdefs';

export { DEFAULT_DETACH_KEYS } from '../../common/docker';

/** Docker's detach-keys grammar (../../common/docker/detach.ts), its errors as InvalidParameter. */
export function parseDetachKeys(spec: string): number[] {
  try {
    return parseKeys(spec);
  } catch (err: any) {
    throw invalidParameter(err.message);
  }
}

export interface PumpOptions {
  /** The process has a TTY: the client's EOF does not close its stdin. */
  tty: boolean;
  /** Output goes out as stdcopy frames (else raw bytes); defaults to `!tty`, but exec's start request decides it. */
  frames?: boolean;
  /** Raw output without a TTY has no room for stderr: dockerd drops it (exec started with Tty, made without). */
  dropStderr?: boolean;
  /** Forward the client's input to the process's stdin. */
  stdin: boolean;
  detachKeys: number[];
  /** When the client leaves: 'detach' leaves the process alone; 'drain' ends its stdin and keeps reading (exec's exit code). */
  onClientGone: 'detach' | 'drain';
}

/** Resolves 'ended' when the process's stream ended, 'detached' on the detach keys, 'gone' when the client left. */
export function pump(conn: Duplex, session: ProcessSession, o: PumpOptions): Promise<'ended' | 'detached' | 'gone'> {
  return new Promise((resolve) => {
    let finished = false;
    let clientGone = false;
    const finish = (how: 'ended' | 'detached' | 'gone') => {
      if (finished) return;
      finished = true;
      resolve(how);
    };

    const frames = o.frames ?? !o.tty;
    session.onOutput((stream, chunk) => {
      if (clientGone || conn.destroyed || (o.dropStderr && stream === 2)) return true;
      return conn.write(frames ? frame(stream, chunk) : chunk);
    });
    conn.on('drain', () => session.resume());

    // Detach keys: bytes that may start the sequence are held back until it is complete (detach) or broken (sent).
    let held: number[] = [];
    const input = (data: Buffer) => {
      if (!o.stdin) return;
      let out = data;
      if (o.detachKeys.length) {
        const pass: number[] = [];
        for (const byte of data) {
          if (byte === o.detachKeys[held.length]) {
            held.push(byte);
            if (held.length === o.detachKeys.length) {
              if (pass.length) session.write(Buffer.from(pass));
              detach();
              return;
            }
          } else {
            pass.push(...held);
            held = [];
            if (byte === o.detachKeys[0]) held.push(byte);
            else pass.push(byte);
          }
        }
        out = Buffer.from(pass);
      }
      if (out.length && !session.write(out)) {
        conn.pause();
        session.once('drain', () => conn.resume());
      }
    };
    const detach = () => {
      session.close();
      conn.end();
      finish('detached');
    };

    conn.on('data', input);
    conn.resume();
    conn.on('error', () => {
      /* close follows */
    });
    conn.on('end', () => {
      // With a TTY, Docker never closes the process's stdin on the client's EOF (the CLI half-closes when it
      // detaches by itself); the stream ends when the client goes.
      if (o.stdin && !o.tty && !finished) {
        if (held.length) session.write(Buffer.from(held));
        held = [];
        session.endStdin();
      }
    });
    conn.on('close', () => {
      if (finished) return;
      clientGone = true;
      if (o.onClientGone === 'detach') session.close();
      else if (o.stdin) session.endStdin();
      session.resume();
      finish('gone');
    });
    session.done.then(() => {
      if (!conn.destroyed) conn.end();
      finish('ended');
    });
  });
}
