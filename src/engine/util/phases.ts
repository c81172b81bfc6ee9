// Debug-only timings: where a container start or an exec spends its time (scripts/bench/*-breakdown.ts read the
// log lines made from these).

/** Milliseconds between marks, each phase named by the mark that ends it. */
export function phaseTimer() {
  let last = performance.now();
  const t0 = last;
  const ms: Record<string, number> = {};
  return {
    mark(name: string) {
      const now = performance.now();
      ms[name] = Math.round((now - last) * 100) / 100;
      last = now;
    },
    done(name: string) {
      this.mark(name);
      ms.total = Math.round((performance.now() - t0) * 100) / 100;
      return ms;
    },
  };
}

export type PhaseTimer = ReturnType<typeof phaseTimer>;
