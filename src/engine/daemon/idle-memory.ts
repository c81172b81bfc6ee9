// Giving memory back when a burst of work ends (issue 21: ≤ 80 MB resident after the bench's workloads).
//
// Measured with the bench's workloads: a burst (2,000 containers listed, 500 recovered, 200 started under 50 event
// subscribers) leaves V8's heap at ~50 MB committed, ~12 MB of it live. V8's own memory reducer runs one
// non-compacting collection some 8 s later and keeps ~42 MB committed (berthd at 70 MB resident for good); a
// compacting collection brings it back to ~13 MB (61 MB resident). V8 cannot tell a pause between requests from
// the end of the work; the engine can: its event loop has been quiet for a while. So once the loop has been idle
// for IDLE_TICKS ticks in a row and the heap grew by at least GROWTH_BYTES since the last such collection, a
// compacting full collection runs (again on the next ticks while each gives back as much, MAX_ROUNDS at most).
// Never during work (an idle loop only), never again for the same growth.
//
// What glibc holds is the other half: freed native memory (V8's compiler and GC threads' allocations, Buffers'
// small backing stores) stays resident wherever a live allocation sits above it — ~16 MB of berthd's ~40 MB of
// anonymous memory after the bench's workloads, in the main heap and in the threads' arenas (one at 35 MB). Once
// per quiet spell after work (and after each collection, which frees more of it) malloc_trim gives the free pages
// back: src/engine/daemon/native/malloc-trim.node.c.
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { log } from '../log';

/** How often the loop's idleness is sampled. */
export const TICK_MS = 2000;
/** Ticks in a row with the loop at most IDLE_UTILIZATION busy before the work counts as over. */
export const IDLE_TICKS = 2;
const IDLE_UTILIZATION = 0.02;
/** Committed heap growth since the last collection that makes one worth its cost (~6 ms for a 25 MB heap here). */
export const GROWTH_BYTES = 4 * 1024 * 1024;
/** Collections in one quiet spell at most (V8's own memory reducer stops at 3 too). */
const MAX_ROUNDS = 3;

type Gc = () => void;

/**
 * V8's gc() without --expose-gc on the command line (every launcher — the extension, engine-bin, the VM guest's
 * run script — would have to pass it): the flag is set at run time and gc() is taken from a fresh context, so it
 * is never a global of the engine's own.
 */
function exposeGc(): Gc {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as Gc;
}

type Trim = () => boolean;

/** glibc's malloc_trim(0) from the engine's addon (dist/bin next to the bundle, or BERTH_MALLOC_TRIM); undefined
 * where it cannot load (a musl host, a build without it): the engine then keeps what glibc keeps. */
function loadMallocTrim(): Trim | undefined {
  const file = process.env.BERTH_MALLOC_TRIM ?? path.join(__dirname, 'bin', 'malloc-trim.node');
  const mod = { exports: {} as unknown };
  try {
    process.dlopen(mod, file);
  } catch (err: any) {
    log.debug('idle: no malloc_trim', { file, error: err.message });
    return undefined;
  }
  return typeof mod.exports === 'function' ? (mod.exports as Trim) : undefined;
}

export interface IdleMemory {
  stop(): void;
}

export function startIdleMemory(): IdleMemory {
  // Made at the first collection: a fresh engine that never worked does not pay for the context.
  let gc: Gc | undefined;
  // Loaded at the first trim too; null once it failed to load.
  let trim: Trim | null | undefined;
  /** Work (a busy tick) since the last trim: start-up counts as work. */
  let trimDue = true;
  const trimNative = (why: string) => {
    trimDue = false;
    trim ??= loadMallocTrim() ?? null;
    if (!trim) return;
    const t = performance.now();
    const released = trim();
    log.debug('idle: native memory trimmed', { after: why, released, ms: (performance.now() - t).toFixed(1) });
  };
  // The heap's pages and the memory its objects hold outside it (Buffers: a 100 MB `docker logs` leaves ~8 MB of
  // dead ones, which only a collection frees, while the heap itself grew less than GROWTH_BYTES).
  const committedNow = () => {
    const h = v8.getHeapStatistics();
    return h.total_heap_size + h.external_memory;
  };
  let baseline = committedNow();
  let quiet = 0;
  /** Collections in the current quiet spell, and what the last one gave back. */
  let rounds = 0;
  let lastFreed = 0;
  let last = performance.eventLoopUtilization();
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    if (busy > IDLE_UTILIZATION) {
      quiet = rounds = 0;
      trimDue = true;
      return;
    }
    const committed = committedNow();
    // The baseline follows the heap down (and, after a collection, up: an engine holding many containers).
    if (committed < baseline) baseline = committed;
    if (++quiet < IDLE_TICKS || rounds >= MAX_ROUNDS) return;
    // The first collection of a quiet spell when the work grew the heap; more while each still gives back as much
    // (what finished work releases late: closed sockets' and streams' native wraps, timers that ran out).
    if (rounds === 0 ? committed - baseline < GROWTH_BYTES : lastFreed < GROWTH_BYTES) {
      // Work that left the heap as it was may still have left native memory (a pull's zlib and hashing).
      if (trimDue) trimNative('work');
      return;
    }
    const t = performance.now();
    // A plain full collection frees the dead objects but keeps their pages (the 42 MB above); compacting moves the
    // survivors together so the emptied pages go back to the system. Only for these collections: during work
    // V8's own heuristics choose what to compact.
    v8.setFlagsFromString('--compact-on-every-full-gc');
    try {
      gc ??= exposeGc();
      gc();
    } finally {
      v8.setFlagsFromString('--no-compact-on-every-full-gc');
    }
    rounds++;
    baseline = committedNow();
    lastFreed = committed - baseline;
    log.debug('idle: heap collected', {
      round: rounds,
      committedMb: (committed / 2 ** 20).toFixed(1),
      afterMb: (baseline / 2 ** 20).toFixed(1),
      ms: (performance.now() - t).toFixed(1),
    });
    trimNative('collection');
  }, TICK_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
