// The one place stats streams are opened: every consumer (the Containers view's rows, each Show Stats chart)
// subscribes to a container here, and one engine stream per container serves all of them. A stream is open only
// while someone subscribes: the rows subscribe only while the view is visible, a chart only while its panel is.
// When a container stops its stream ends; the rows subscribe again on the next start (the list changes), a chart
// waits for the container's `start` event.
import type { EngineClient } from '../../client';
import { type StatsSample, toSample } from '../../views/stats';

type Listener = (id: string, s: StatsSample) => void;

interface Feed {
  abort: AbortController;
  listeners: Set<Listener>;
  last?: StatsSample;
  /** Samples kept for charts opened later (the last minute). */
  history: StatsSample[];
}

export const HISTORY = 60;

export class StatsHub {
  private readonly feeds = new Map<string, Feed>();
  /** Streams opened so far (tests and the log watch that nothing is opened twice). */
  opened = 0;

  constructor(
    private readonly client: () => EngineClient,
    private readonly onError: (id: string, err: unknown) => void = () => undefined,
  ) {}

  /** Streams open right now, by container id. */
  get open(): string[] {
    return [...this.feeds.keys()];
  }

  isOpen(id: string): boolean {
    return this.feeds.has(id);
  }

  last(id: string): StatsSample | undefined {
    return this.feeds.get(id)?.last;
  }

  history(id: string): StatsSample[] {
    return this.feeds.get(id)?.history.slice() ?? [];
  }

  subscribe(id: string, l: Listener): { dispose(): void } {
    let f = this.feeds.get(id);
    if (!f) {
      f = { abort: new AbortController(), listeners: new Set(), history: [] };
      this.feeds.set(id, f);
      void this.pump(id, f);
    }
    f.listeners.add(l);
    const feed = f;
    return {
      dispose: () => {
        feed.listeners.delete(l);
        if (feed.listeners.size || this.feeds.get(id) !== feed) return;
        this.feeds.delete(id);
        feed.abort.abort();
      },
    };
  }

  private async pump(id: string, f: Feed): Promise<void> {
    this.opened++;
    try {
      for await (const raw of this.client().containerStatsStream(id, f.abort.signal)) {
        // The first line of a stream has no previous read (CPU % unknown): it only primes the next one.
        if (!raw.precpu_stats?.system_cpu_usage && !f.last && !f.history.length) {
          f.last = { ...toSample(raw), cpuPercent: 0 };
          continue;
        }
        const s = toSample(raw);
        f.last = s;
        f.history.push(s);
        if (f.history.length > HISTORY) f.history.shift();
        for (const l of [...f.listeners]) l(id, s);
      }
    } catch (err: any) {
      if (!f.abort.signal.aborted && err?.name !== 'AbortError') this.onError(id, err);
    }
    // Ended by the engine (stopped, removed): a later subscribe opens a new stream.
    if (this.feeds.get(id) === f) this.feeds.delete(id);
  }

  /** Rejoins a feed that ended (a chart calls it on the container's `start` event). */
  resume(id: string, l: Listener): { dispose(): void } {
    return this.subscribe(id, l);
  }

  dispose(): void {
    for (const f of this.feeds.values()) f.abort.abort();
    this.feeds.clear();
  }
}

/**
 * The Containers view's subscriptions: running containers' streams while the view is visible, none while it is
 * hidden or the setting is off. Samples are batched into one redraw per `intervalMs`.
 */
export class RowStats {
  readonly samples = new Map<string, StatsSample>();
  private subs = new Map<string, { dispose(): void }>();
  private timer?: NodeJS.Timeout;
  private visible = false;
  private enabled = true;
  private running: string[] = [];

  constructor(
    private readonly hub: StatsHub,
    private readonly redraw: () => void,
    private readonly intervalMs = 1000,
  ) {}

  setVisible(v: boolean): void {
    this.visible = v;
    this.sync();
  }

  setEnabled(v: boolean): void {
    this.enabled = v;
    this.sync();
  }

  /** The running containers from the latest list. */
  setRunning(ids: string[]): void {
    this.running = ids;
    this.sync();
  }

  private sync(): void {
    const want = new Set(this.visible && this.enabled ? this.running : []);
    for (const [id, sub] of this.subs)
      if (!want.has(id)) {
        sub.dispose();
        this.subs.delete(id);
        this.samples.delete(id);
      }
    for (const id of want) {
      // A stream that ended (container stopped and started again) is reopened by subscribing anew.
      const sub = this.subs.get(id);
      if (sub && this.hub.isOpen(id)) continue;
      sub?.dispose();
      this.subs.set(
        id,
        this.hub.subscribe(id, (cid, s) => {
          this.samples.set(cid, s);
          this.schedule();
        }),
      );
    }
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.redraw();
    }, this.intervalMs);
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const s of this.subs.values()) s.dispose();
    this.subs.clear();
  }
}
