// Pull/push progress as the engine reports it; api/ renders Docker's JSON lines. A broadcaster lets a second
// pull of the same image follow the first one's progress (with replay of what it missed).

export interface Progress {
  status: string;
  id?: string;
  /** Layer messages carry a progressDetail ({} without numbers). */
  layer?: boolean;
  current?: number;
  total?: number;
  /** Aux data (push results). */
  aux?: Record<string, unknown>;
}

export type ProgressSink = (p: Progress) => void;

export class Broadcast {
  private log: Progress[] = [];
  private sinks = new Set<ProgressSink>();
  emit = (p: Progress): void => {
    // Keep only the latest "Downloading"/"Extracting" per layer in the replay log.
    const last = this.log[this.log.length - 1];
    if (last && last.id === p.id && last.status === p.status && p.current !== undefined)
      this.log[this.log.length - 1] = p;
    else this.log.push(p);
    for (const s of this.sinks) s(p);
  };
  follow(sink: ProgressSink): () => void {
    for (const p of this.log) sink(p);
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }
}

/** Calls `fn` at most every `ms` for the same id, always letting the final value through. */
export function throttled(sink: ProgressSink, ms = 100): ProgressSink {
  const lastAt = new Map<string, number>();
  return (p) => {
    if (p.current !== undefined && p.total !== undefined && p.current < p.total) {
      const key = `${p.id}|${p.status}`;
      const now = Date.now();
      if (now - (lastAt.get(key) ?? 0) < ms) return;
      lastAt.set(key, now);
    }
    sink(p);
  };
}
