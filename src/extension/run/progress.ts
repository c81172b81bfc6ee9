// Pull progress from the engine's JSON message stream, free of `vscode` (the notification shows `text`).
import type { JSONMessage } from '../../client/types';
import { formatBytes } from '../../views/format';

/** Sums per-layer progress (download then extract) into one fraction and a byte count. */
export class PullProgress {
  /** What the notification says before the first layer reports. */
  constructor(private readonly idle = 'resolving the manifest…') {}
  private layers = new Map<string, { current: number; total: number; done: boolean }>();
  add(m: JSONMessage): void {
    // Layer lines only: "Pulling from <repo>" carries the tag as its id.
    if (!m.id || !m.status || /^(Pulling from|Digest:|Status:)/.test(m.status)) return;
    let l = this.layers.get(m.id);
    if (!l) this.layers.set(m.id, (l = { current: 0, total: 0, done: false }));
    // A push reports the same way: Pushing with bytes, then Pushed (or already there).
    if ((m.status === 'Downloading' || m.status === 'Pushing') && m.progressDetail?.total) {
      l.total = m.progressDetail.total;
      l.current = m.progressDetail.current ?? 0;
    }
    if (
      /^(Download complete|Pull complete|Already exists|Pushed|Layer already exists|Mounted from .*)$/.test(m.status)
    ) {
      l.done = true;
      if (l.total) l.current = l.total;
    }
  }
  get fraction(): number {
    if (!this.layers.size) return 0;
    let sum = 0;
    for (const l of this.layers.values()) sum += l.done ? 1 : l.total ? l.current / l.total : 0;
    return sum / this.layers.size;
  }
  get text(): string {
    if (!this.layers.size) return this.idle;
    let cur = 0,
      tot = 0,
      done = 0;
    for (const l of this.layers.values()) {
      cur += l.current;
      tot += l.total;
      if (l.done) done++;
    }
    return `${done}/${this.layers.size} layers${tot ? `, ${formatBytes(cur)} of ${formatBytes(tot)}` : ''}`;
  }
}
