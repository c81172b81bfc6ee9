// Engine events: a bounded in-memory history (for `since`) plus live subscribers (for `docker events`).
// Shapes are the engine's own camelCase; api/ renders Docker's PascalCase.

export type EventType = 'container' | 'image' | 'volume' | 'network' | 'daemon' | 'plugin';

export interface EngineEvent {
  type: EventType;
  action: string;
  actor: { id: string; attributes: Record<string, string> };
  scope: 'local';
  /** Nanoseconds since the epoch, as a bigint so nothing is lost. */
  timeNano: bigint;
}

export interface EventFilter {
  since?: bigint; // ns
  until?: bigint; // ns
  match?: (e: EngineEvent) => boolean;
}

export interface EventBus {
  publish(type: EventType, action: string, id: string, attributes?: Record<string, string>): EngineEvent;
  /** Past events in [since, now] that match, then live ones until `until` or unsubscribe. */
  subscribe(filter: EventFilter, onEvent: (e: EngineEvent) => void): { history: EngineEvent[]; unsubscribe(): void };
}

const HISTORY = 1024; // like dockerd's events buffer

export function nowNano(): bigint {
  const [s, ns] = process.hrtime();
  // hrtime is monotonic; anchor it to the wall clock once.
  return anchor + BigInt(s) * 1_000_000_000n + BigInt(ns);
}
const anchor =
  BigInt(Date.now()) * 1_000_000n -
  (() => {
    const [s, ns] = process.hrtime();
    return BigInt(s) * 1_000_000_000n + BigInt(ns);
  })();

export function createEventBus(): EventBus {
  const history: EngineEvent[] = [];
  const subscribers = new Set<{ filter: EventFilter; onEvent: (e: EngineEvent) => void }>();
  return {
    publish(type, action, id, attributes = {}) {
      const event: EngineEvent = { type, action, actor: { id, attributes }, scope: 'local', timeNano: nowNano() };
      history.push(event);
      if (history.length > HISTORY) history.shift();
      for (const s of subscribers) {
        if (s.filter.until !== undefined && event.timeNano > s.filter.until) continue;
        if (s.filter.match && !s.filter.match(event)) continue;
        s.onEvent(event);
      }
      return event;
    },
    subscribe(filter, onEvent) {
      const past =
        filter.since === undefined
          ? []
          : history.filter(
              (e) =>
                e.timeNano >= filter.since! &&
                (filter.until === undefined || e.timeNano <= filter.until) &&
                (!filter.match || filter.match(e)),
            );
      const sub = { filter, onEvent };
      subscribers.add(sub);
      return { history: past, unsubscribe: () => subscribers.delete(sub) };
    },
  };
}
