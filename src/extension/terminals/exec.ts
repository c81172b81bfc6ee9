// The integrated terminal over a hijacked engine stream: exec into a running container (shell chosen in one round
// trip: bash if present, else sh) or attach to an interactive container. TTY mode, so the stream is raw bytes both
// ways; the terminal's size follows into the engine; the exit code is shown when the process ends.
import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { EngineClient } from '../../client';
import { Emitter } from './emitter';

export interface Dimensions {
  columns: number;
  rows: number;
}

/** One exec instead of `which bash` then exec: the shell picks itself. */
export const AUTO_SHELL = ['/bin/sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi'];

export interface Session {
  stream: Duplex;
  resize(d: Dimensions): Promise<void>;
  /** The exit code once the stream ended (undefined when unknown). */
  exitCode(): Promise<number | undefined>;
}

export function execSession(
  client: EngineClient,
  containerId: string,
  cmd: string[] = AUTO_SHELL,
  opts: { user?: string; workdir?: string } = {},
) {
  return async (d?: Dimensions): Promise<Session> => {
    const { Id } = await client.createExec(containerId, {
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: true,
      Cmd: cmd,
      Env: ['TERM=xterm-256color'],
      User: opts.user,
      WorkingDir: opts.workdir,
      ConsoleSize: d ? [d.rows, d.columns] : undefined,
    });
    const stream = await client.startExecHijacked(Id, { Tty: true, ConsoleSize: d ? [d.rows, d.columns] : undefined });
    return {
      stream,
      resize: (dim) => client.resizeExec(Id, dim.rows, dim.columns),
      exitCode: async () => {
        // The engine records the exit code just after the stream closes.
        for (let i = 0; i < 20; i++) {
          const info = await client.inspectExec(Id);
          if (!info.Running && info.ExitCode !== null) return info.ExitCode;
          await new Promise((r) => setTimeout(r, 50));
        }
        return undefined;
      },
    };
  };
}

/** Attaches to a created (not yet started) TTY container, then starts it: `docker run -it`. */
export function attachSession(client: EngineClient, containerId: string, startFirst = true) {
  return async (d?: Dimensions): Promise<Session> => {
    const stream = await client.attachContainer(containerId, { stream: true, stdin: true, stdout: true, stderr: true });
    if (startFirst) await client.startContainer(containerId);
    if (d) await client.resizeContainer(containerId, d.rows, d.columns).catch(() => undefined);
    return {
      stream,
      resize: (dim) => client.resizeContainer(containerId, dim.rows, dim.columns),
      exitCode: async () => (await client.waitContainer(containerId, 'not-running')).StatusCode,
    };
  };
}

/** A `vscode.Pseudoterminal` (structurally) over a Session. */
export class StreamTerminal {
  private readonly writeEmitter = new Emitter<string>();
  private readonly closeEmitter = new Emitter<number | void>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  private session?: Session;
  private ended = false;
  private dims?: Dimensions;
  /** Keys typed before the session is connected, sent once it is (nothing typed is lost). */
  private pendingInput: string[] = [];
  /** Resolves with the exit code when the process ended (for tests and callers). */
  readonly done: Promise<number | undefined>;
  private resolveDone!: (code: number | undefined) => void;

  constructor(
    private readonly connect: (d?: Dimensions) => Promise<Session>,
    private readonly title = 'shell',
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  open(initial?: Dimensions): void {
    this.dims = initial;
    void this.run();
  }

  private async run() {
    let session: Session;
    try {
      session = await this.connect(this.dims);
    } catch (err: any) {
      this.writeEmitter.fire(`\x1b[31mBerth: could not open ${this.title}: ${err?.message ?? err}\x1b[0m\r\n`);
      this.finish(undefined);
      return;
    }
    this.session = session;
    if (this.dims) void session.resize(this.dims).catch(() => undefined);
    // A chunk can end inside a multi-byte character: the decoder keeps the partial bytes for the next one.
    const utf8 = new StringDecoder('utf8');
    session.stream.on('data', (chunk: Buffer) => this.writeEmitter.fire(utf8.write(chunk)));
    session.stream.resume();
    for (const data of this.pendingInput.splice(0)) session.stream.write(data);
    const closed = new Promise<void>((r) => {
      session.stream.once('end', r);
      session.stream.once('close', r);
      session.stream.once('error', () => r());
    });
    await closed;
    const code = await session.exitCode().catch(() => undefined);
    this.writeEmitter.fire(
      `\r\n\x1b[2m[${this.title} exited${code === undefined ? '' : ` with code ${code}`} — press any key to close]\x1b[0m\r\n`,
    );
    this.finish(code);
  }

  private finish(code: number | undefined) {
    this.ended = true;
    this.resolveDone(code);
  }

  handleInput(data: string): void {
    if (this.ended) {
      this.closeEmitter.fire();
      return;
    }
    if (this.session) this.session.stream.write(data);
    else this.pendingInput.push(data);
  }

  setDimensions(d: Dimensions): void {
    this.dims = d;
    void this.session?.resize(d).catch(() => undefined);
  }

  close(): void {
    this.session?.stream.destroy();
    this.writeEmitter.dispose();
  }
}
