// A logs terminal that keeps following: when the container stops, the log stream ends; we wait for the engine's
// `start` event for the same container and re-open the stream from where the last run ended (Microsoft's closes,
// vscode-docker#4032).
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { EngineClient, EngineEventMessage } from '../../client';
import { Demuxer, Emitter, toTerminal } from './emitter';

export interface LogsOptions {
  tail: string;
  timestamps: boolean;
  /** Subscribes to engine events (the extension's one /events stream). */
  onEvent: (l: (e: EngineEventMessage) => void) => { dispose(): void };
}

export class LogsTerminal {
  private readonly writeEmitter = new Emitter<string>();
  private readonly closeEmitter = new Emitter<number | void>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  private stream?: Readable;
  private abort = new AbortController();
  private eventSub?: { dispose(): void };
  private closed = false;
  private following = false;
  /** Seconds since the epoch (fractional) from which the next attach reads: the end of the previous run. */
  private since?: string;
  /** Counts streams opened (tests watch re-attachment through it). */
  attachCount = 0;

  constructor(
    private readonly client: () => EngineClient,
    readonly containerId: string,
    private readonly name: string,
    private readonly opts: LogsOptions,
  ) {}

  open(): void {
    this.eventSub = this.opts.onEvent((e) => {
      if (e.Type !== 'container' || e.Actor?.ID !== this.containerId) return;
      if (e.Action === 'start' && !this.following) void this.follow();
      if (e.Action === 'destroy') {
        this.writeEmitter.fire(`\r\n\x1b[2m[${this.name} was removed]\x1b[0m\r\n`);
        this.eventSub?.dispose();
      }
    });
    void this.follow();
  }

  private async follow() {
    if (this.closed || this.following) return;
    this.following = true;
    const first = this.since === undefined;
    try {
      const client = this.client();
      const info = await client.inspectContainer(this.containerId);
      const tty = !!info.Config?.Tty;
      this.attachCount++;
      const body = await client.containerLogs(
        this.containerId,
        {
          follow: true,
          stdout: true,
          stderr: true,
          timestamps: this.opts.timestamps,
          tail: first ? this.opts.tail : 'all',
          since: this.since,
        },
        this.abort.signal,
      );
      this.stream = body;
      if (!first) this.writeEmitter.fire(`\x1b[2m[${this.name} started again — following]\x1b[0m\r\n`);
      // Chunks and frames can end inside a multi-byte character: one decoder per stream keeps the partial bytes.
      const utf8 = [new StringDecoder('utf8'), new StringDecoder('utf8'), new StringDecoder('utf8')];
      const demux = new Demuxer((stream, payload) => {
        const text = toTerminal(utf8[stream === 2 ? 2 : 1].write(payload));
        if (text) this.writeEmitter.fire(stream === 2 ? `\x1b[31m${text}\x1b[0m` : text);
      });
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (tty) this.writeEmitter.fire(utf8[0].write(chunk));
        else demux.push(chunk);
      }
      if (this.closed) return;
      // Docker's `since` is inclusive at one-second granularity on older engines; nanoseconds keep it exact.
      const fresh = await client.inspectContainer(this.containerId).catch(() => undefined);
      const finished = fresh?.State?.FinishedAt ? Date.parse(fresh.State.FinishedAt) : Date.now();
      this.since = ((Number.isFinite(finished) ? finished : Date.now()) / 1000 + 0.001).toFixed(3);
      const state = fresh?.State;
      if (state?.Running) {
        // Restarted before we looked: pick up the new run at once.
        this.following = false;
        return void this.follow();
      }
      this.writeEmitter.fire(
        `\r\n\x1b[2m[${this.name} stopped${state ? ` (exit code ${state.ExitCode})` : ''} — waiting for it to start again]\x1b[0m\r\n`,
      );
    } catch (err: any) {
      if (this.closed || err?.name === 'AbortError') return;
      this.writeEmitter.fire(`\r\n\x1b[31m[logs of ${this.name}: ${err?.message ?? err}]\x1b[0m\r\n`);
      this.since ??= (Date.now() / 1000).toFixed(3);
    } finally {
      this.following = false;
    }
  }

  handleInput(data: string): void {
    // Ctrl+C closes the logs terminal, like leaving `docker logs -f`.
    if (data === '\x03') this.closeEmitter.fire();
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
    this.stream?.destroy();
    this.eventSub?.dispose();
    this.writeEmitter.dispose();
  }
}
