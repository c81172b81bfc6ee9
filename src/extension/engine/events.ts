// One `/events` subscription for the whole extension: listeners get every event, trees get a debounced "these
// kinds changed" call, and the stream reconnects (with backoff) after the engine restarts. No polling: while the
// engine is down we only retry the connection.
import type { EngineClient, EngineEventMessage } from '../../client';

export type ChangeKind = 'container' | 'image' | 'volume' | 'network';
export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

export interface EventWatcherOptions {
  debounceMs?: number;
  /** Called before each connection attempt (e.g. to pick the first socket that answers). */
  beforeConnect?: () => Promise<unknown>;
  /** Backoff bounds for reconnecting. */
  minRetryMs?: number;
  maxRetryMs?: number;
}

export class EventWatcher {
  private abort?: AbortController;
  private pending = new Set<ChangeKind>();
  private timer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private disposed = false;
  private retryMs: number;
  state: ConnectionState = 'connecting';
  private readonly eventListeners = new Set<(e: EngineEventMessage) => void>();
  private readonly changeListeners = new Set<(kinds: Set<ChangeKind>) => void>();
  private readonly stateListeners = new Set<(s: ConnectionState, err?: unknown) => void>();
  private readonly debounceMs: number;
  private readonly minRetryMs: number;
  private readonly maxRetryMs: number;
  private readonly beforeConnect?: () => Promise<unknown>;

  constructor(
    private readonly client: () => EngineClient,
    opts: EventWatcherOptions = {},
  ) {
    this.debounceMs = opts.debounceMs ?? 150;
    this.minRetryMs = opts.minRetryMs ?? 500;
    this.maxRetryMs = opts.maxRetryMs ?? 5000;
    this.beforeConnect = opts.beforeConnect;
    this.retryMs = this.minRetryMs;
  }

  onEvent(l: (e: EngineEventMessage) => void) {
    this.eventListeners.add(l);
    return { dispose: () => this.eventListeners.delete(l) };
  }
  onChange(l: (kinds: Set<ChangeKind>) => void) {
    this.changeListeners.add(l);
    return { dispose: () => this.changeListeners.delete(l) };
  }
  onState(l: (s: ConnectionState, err?: unknown) => void) {
    this.stateListeners.add(l);
    return { dispose: () => this.stateListeners.delete(l) };
  }

  start(): void {
    if (this.disposed || this.abort) return;
    void this.run();
  }

  /** Drops the current stream and connects again at once (e.g. after the host setting changed). */
  reconnect(): void {
    this.abort?.abort();
    this.abort = undefined;
    clearTimeout(this.retryTimer);
    this.retryMs = this.minRetryMs;
    this.start();
  }

  private setState(s: ConnectionState, err?: unknown) {
    if (this.state === s) return;
    this.state = s;
    for (const l of this.stateListeners) l(s, err);
  }

  private async run(): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    let failure: unknown;
    try {
      await this.beforeConnect?.();
      const client = this.client();
      // Unversioned ping that also picks the API version (a restarted or different engine may speak another).
      await client.negotiateApiVersion();
      const stream = client.events({}, abort.signal);
      // The stream is open once the engine sent its headers; everything before this moment is covered by the
      // full refresh the `connected` state triggers.
      const first = stream.next();
      this.retryMs = this.minRetryMs;
      this.setState('connected');
      this.queue(['container', 'image', 'volume', 'network']);
      let r = await first;
      while (!r.done) {
        this.dispatch(r.value);
        r = await stream.next();
      }
    } catch (err) {
      failure = err;
    }
    if (abort.signal.aborted || this.disposed) return;
    this.abort = undefined;
    this.setState('disconnected', failure ?? new Error('the engine closed the event stream'));
    this.retryTimer = setTimeout(() => this.start(), this.retryMs);
    this.retryMs = Math.min(this.maxRetryMs, this.retryMs * 2);
  }

  private dispatch(e: EngineEventMessage) {
    for (const l of this.eventListeners) {
      try {
        l(e);
      } catch {
        /* a listener's bug must not end the stream */
      }
    }
    const kinds: ChangeKind[] = [];
    if (e.Type === 'container') {
      // exec_* and top/stats-like actions do not change what the trees show.
      if (!/^exec_|^top$|^attach$|^resize$|^detach$|^archive-path$|^extract-to-dir$/.test(e.Action))
        kinds.push('container');
      if (e.Action === 'create' || e.Action === 'destroy') kinds.push('image', 'volume'); // image "in use", volume users
    } else if (e.Type === 'image') kinds.push('image');
    else if (e.Type === 'volume') kinds.push('volume');
    else if (e.Type === 'network') kinds.push('network');
    if (kinds.length) this.queue(kinds);
  }

  private queue(kinds: ChangeKind[]) {
    for (const k of kinds) this.pending.add(k);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const batch = this.pending;
      this.pending = new Set();
      for (const l of this.changeListeners) l(batch);
    }, this.debounceMs);
  }

  dispose(): void {
    this.disposed = true;
    this.abort?.abort();
    clearTimeout(this.timer);
    clearTimeout(this.retryTimer);
  }
}
