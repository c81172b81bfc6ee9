// The lifecycle verbs (start, stop, kill, restart, pause, unpause, wait, remove, prune) through the state
// machine of ./state.ts, each under the container's lock; stop and remove are idempotent where Docker's are.
// Engine shutdown leaves containers running (live-restore) or stops them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { conflict, isEngineError, notModified, system } from '../errdefs';
import { log } from '../log';
import { isMountPoint, signalNumber, unmount } from '../runtime';
import { apparentSize } from '../util/fsx';
import type { ExecService } from './exec';
import type { Exits } from './exits';
import type { ContainerRecord } from './state';
import type { ContainerStore, WaitCondition } from './store';

export interface LifecycleDeps {
  exits: Pick<Exits, 'hasPendingRestart' | 'cancelRestart' | 'forgetBackoff' | 'cancelAll'>;
  execs: Pick<ExecService, 'forgetContainer'>;
  /** ./start.ts */
  start(c: ContainerRecord, automatic: boolean): Promise<void>;
  /** ./health.ts: no probes while paused or once the engine stops. */
  health: { stop(c: ContainerRecord): void; resume(c: ContainerRecord): void; stopAll(): void };
}

export function createLifecycle(store: ContainerStore, deps: LifecycleDeps) {
  const { runtime } = store.deps;
  const { exits } = deps;

  const waitDone = async (id: string, ms: number): Promise<boolean> => {
    const l = store.live.get(id);
    if (!l) return true;
    // Past setTimeout's 2^31-1 ms (~25 days) Node would fire at once: a longer wait is a wait without end.
    if (ms < 0 || ms > 2 ** 31 - 1) {
      await l.done;
      return true;
    }
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      l.done.then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), ms);
      }),
    ]);
    clearTimeout(timer);
    return ok;
  };

  const signal = async (c: ContainerRecord, sig: number) => {
    try {
      await runtime.kill(c.id, sig);
    } catch (err) {
      if (!(isEngineError(err, 'Conflict') && /not running/.test((err as Error).message))) throw err;
    }
    if (c.state.status === 'paused') {
      // A frozen process cannot act on a signal: thaw it (Docker does the same for kill/stop).
      await runtime.resume(c.id).catch(() => {});
      store.setStatus(c, 'running');
    }
  };

  const stopContainer = async (c: ContainerRecord, timeoutSec: number | undefined, sigName?: string) => {
    if (c.state.status === 'restarting' && exits.hasPendingRestart(c.id)) {
      exits.cancelRestart(c.id);
      c.state.manuallyStopped = true;
      store.setStatus(c, 'exited');
      store.save(c);
      return;
    }
    if (!store.live.has(c.id)) throw notModified();
    // A bad signal is refused before anything changes.
    const stopSig = signalNumber(sigName || c.config.stopSignal || 'SIGTERM');
    c.state.manuallyStopped = true;
    store.save(c);
    const timeout = timeoutSec ?? c.config.stopTimeout ?? 10;
    await signal(c, stopSig).catch((err) => log.debug('stop signal failed', { id: c.id, error: err.message }));
    if (!(await waitDone(c.id, timeout < 0 ? -1 : timeout * 1000))) {
      await signal(c, signalNumber('SIGKILL')).catch(() => {});
      if (!(await waitDone(c.id, 30_000))) throw system(`container ${c.id} did not exit after SIGKILL`);
    }
    store.publish(c, 'stop');
  };

  const removeContainer = async (c: ContainerRecord, force: boolean, removeVolumes = false) => {
    if (!store.records.has(c.id)) return;
    if (c.state.status === 'removing') throw conflict(`removal of container ${c.name} is already in progress`);
    if (store.live.has(c.id) || c.state.status === 'restarting') {
      if (!force) {
        throw conflict(
          `You cannot remove a ${c.state.status} container ${c.id}. Stop the container before attempting removal or force remove`,
        );
      }
      c.state.manuallyStopped = true;
      exits.cancelRestart(c.id);
      if (store.live.has(c.id)) {
        await signal(c, signalNumber('SIGKILL')).catch(() => {});
        if (!(await waitDone(c.id, 30_000))) throw system(`Could not kill running container ${c.id}, cannot remove`);
      }
    }
    store.setStatus(c, 'removing');
    store.save(c);
    deps.execs.forgetContainer(c.id);
    for (const w of store.pendingAttaches.get(c.id) ?? []) w.resolve(undefined);
    store.pendingAttaches.delete(c.id);
    if (store.usesNetworkHook(c)) await store.deps.network!.detach(c.id).catch(() => {});
    // The shim deleted runc's state and unmounted the root filesystem when the container ended; what a crash
    // may have left is handled at engine start.
    runtime.forget(c.id);
    if (isMountPoint(store.rootfsOf(c.id))) await unmount(store.rootfsOf(c.id));
    // `rm -v` and `--rm` take the anonymous volumes along; named ones always stay.
    if (store.deps.volumes && c.mountPoints) await store.deps.volumes.releaseMounts(c.id, c.mountPoints, removeVolumes);
    try {
      await fs.promises.rm(store.dirOf(c.id), { recursive: true, force: true });
    } catch (err: any) {
      store.setStatus(c, 'dead');
      store.save(c);
      throw system(`unable to remove filesystem for ${c.id}: ${err.message}`);
    }
    store.records.delete(c.id);
    if (store.names.get(c.name) === c.id) store.names.delete(c.name);
    exits.forgetBackoff(c.id);
    store.publish(c, 'destroy');
    store.notifyExit(c.id);
    store.resolveWaiters(c.id, () => true, { exitCode: c.state.exitCode, error: c.state.error || undefined });
  };

  const verbs = {
    start: async (ref: string): Promise<void> => {
      const c = store.lookup(ref);
      return store.withLock(c.id, () => deps.start(c, false));
    },

    stop: async (ref: string, o: { timeout?: number; signal?: string } = {}): Promise<void> => {
      const c = store.lookup(ref);
      return store.withLock(c.id, () => stopContainer(c, o.timeout, o.signal));
    },

    async kill(ref: string, sig?: string): Promise<void> {
      const c = store.lookup(ref);
      return store.withLock(c.id, async () => {
        const n = signalNumber(sig || 'SIGKILL');
        if (!store.live.has(c.id)) throw conflict(`Cannot kill container: ${ref}: Container ${c.id} is not running`);
        // Docker: a kill counts as a manual stop for the restart policy only when it ends the container.
        if (n === signalNumber('SIGKILL') || n === signalNumber(c.config.stopSignal || 'SIGTERM')) {
          c.state.manuallyStopped = true;
          store.save(c);
        }
        await signal(c, n);
        store.publish(c, 'kill', { signal: String(n) });
        if (n === signalNumber('SIGKILL')) await waitDone(c.id, 10_000);
      });
    },

    async restart(ref: string, o: { timeout?: number; signal?: string } = {}): Promise<void> {
      const c = store.lookup(ref);
      return store.withLock(c.id, async () => {
        if (store.live.has(c.id) || c.state.status === 'restarting')
          await stopContainer(c, o.timeout, o.signal).catch((err) => {
            if (!isEngineError(err, 'NotModified')) throw err;
          });
        await deps.start(c, false);
        store.publish(c, 'restart');
      });
    },

    async pause(ref: string): Promise<void> {
      const c = store.lookup(ref);
      return store.withLock(c.id, async () => {
        if (c.state.status === 'paused') throw conflict(`Container ${c.id} is already paused`);
        if (c.state.status !== 'running') throw conflict(`Container ${c.id} is not running`);
        await runtime.pause(c.id);
        store.setStatus(c, 'paused');
        deps.health.stop(c);
        store.save(c);
        store.publish(c, 'pause');
      });
    },

    async unpause(ref: string): Promise<void> {
      const c = store.lookup(ref);
      return store.withLock(c.id, async () => {
        if (c.state.status !== 'paused') throw conflict(`Container ${c.id} is not paused`);
        await runtime.resume(c.id);
        store.setStatus(c, 'running');
        deps.health.resume(c);
        store.save(c);
        store.publish(c, 'unpause');
      });
    },

    async wait(
      ref: string,
      condition: WaitCondition = 'not-running',
      signal?: AbortSignal,
    ): Promise<{ exitCode: number; error?: string }> {
      const c = store.lookup(ref);
      if (condition === 'not-running' && !store.live.has(c.id) && c.state.status !== 'restarting') {
        return Promise.resolve({ exitCode: c.state.exitCode, error: c.state.error || undefined });
      }
      return store.addWaiter(c.id, condition, signal);
    },

    async remove(ref: string, o: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
      const c = store.lookup(ref);
      return store.withLock(c.id, () => removeContainer(c, !!o.force, !!o.volumes));
    },

    async prune(match: (c: ContainerRecord) => boolean): Promise<{ deleted: string[]; reclaimed: number }> {
      const deleted: string[] = [];
      let reclaimed = 0;
      for (const c of [...store.records.values()]) {
        if (store.live.has(c.id) || !['created', 'exited', 'dead'].includes(c.state.status) || !match(c)) continue;
        const size = apparentSize(path.join(store.dirOf(c.id), 'upper'));
        try {
          await store.withLock(c.id, () => removeContainer(c, false));
          deleted.push(c.id);
          reclaimed += size;
        } catch (err: any) {
          log.warn('prune could not remove container', { id: c.id, error: err.message });
        }
      }
      if (deleted.length) store.deps.events.publish('container', 'prune', '', { reclaimed: String(reclaimed) });
      return { deleted, reclaimed };
    },

    async shutdown(liveRestore: boolean): Promise<void> {
      store.shuttingDown = true;
      exits.cancelAll();
      deps.health.stopAll();
      if (liveRestore) {
        store.handedOver = true;
        return;
      }
      await Promise.all(
        [...store.live.keys()].map((id) => {
          const c = store.records.get(id)!;
          return store
            .withLock(id, () => stopContainer(c, undefined))
            .then(() => {
              c.state.manuallyStopped = false;
              store.save(c);
            })
            .catch(() => {});
        }),
      );
    },
  };

  return { removeContainer, verbs };
}
