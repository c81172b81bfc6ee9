// Exit handling and restart policies: every run is watched until its process ends; the exit is then recorded
// (network and volumes released, events, waiters woken) and the restart policy decides, with Docker's backoff,
// whether the container comes back. The pending restarts and their backoffs are this part's own state.
import { log } from '../log';
import type { RunningContainer } from '../runtime';
import { type ContainerRecord, nextBackoff, shouldRestart } from './state';
import { unmountShareableShm } from './namespaces';
import type { ContainerStore } from './store';

export interface ExitStatus {
  exitCode: number;
  oomKilled: boolean;
  finishedAt: string;
  error?: string;
}

export interface ExitDeps {
  /** A restart by policy (./start.ts). */
  start(c: ContainerRecord, automatic: boolean): Promise<void>;
  /** AutoRemove after the exit (./lifecycle.ts). */
  remove(c: ContainerRecord, force: boolean, removeVolumes: boolean): Promise<void>;
  /** Healthchecks (./health.ts) end with the run. */
  health: { stop(c: ContainerRecord): void };
}

export function createExits(store: ContainerStore, deps: ExitDeps) {
  const { runtime } = store.deps;
  const restartTimers = new Map<string, { timer: NodeJS.Timeout; backoff: number }>();
  const backoffs = new Map<string, number>();

  const releaseNetwork = (c: ContainerRecord) =>
    store.deps
      .network!.detach(c.id)
      .catch((err) => log.warn('network detach failed', { id: c.id, error: err.message }));

  /**
   * The run's end. `networkReleased`: the network's release begun when the init was gone (the shim's early notice),
   * while the shim deleted runc's state — waits and events still come after it, as dockerd's Cleanup before
   * SetStopped.
   */
  const handleExit = async (id: string, status: ExitStatus, networkReleased?: Promise<void>) => {
    store.live.delete(id);
    // After a live-restore shutdown the next engine owns the state: it reads this exit from the shim's exit file.
    if (store.handedOver) return;
    const c = store.records.get(id);
    if (!c) return;
    deps.health.stop(c);
    if (networkReleased) await networkReleased;
    else if (store.usesNetworkHook(c)) await releaseNetwork(c);
    runtime.forget(id);
    if (store.deps.volumes && c.mountPoints) await store.deps.volumes.teardownMounts(id, c.mountPoints);
    await unmountShareableShm(store, c);
    Object.assign(c.state, {
      pid: 0,
      exitCode: status.exitCode,
      oomKilled: status.oomKilled,
      finishedAt: status.finishedAt,
      error: status.error ?? '',
    });
    if (status.oomKilled) store.publish(c, 'oom');
    store.publish(c, 'die', { exitCode: String(status.exitCode) });
    const restart =
      !store.shuttingDown &&
      !c.hostConfig.autoRemove &&
      c.state.status !== 'removing' &&
      shouldRestart(c.hostConfig.restartPolicy, status.exitCode, c.state.manuallyStopped, c.state.restartCount);
    if (c.state.status !== 'removing') store.setStatus(c, restart ? 'restarting' : 'exited');
    store.save(c);
    store.notifyExit(id);
    // Every exit ends the waits made while it ran, a restarting one's too (moby notifies its stop waiters when it
    // sets Restarting): `docker-py run()` of a --restart always container that exits at once returns, as with
    // dockerd. A wait that comes while it is restarting waits for the next exit.
    store.resolveWaiters(id, (cond) => cond === 'next-exit' || cond === 'not-running', {
      exitCode: status.exitCode,
      error: status.error,
    });
    if (restart) scheduleRestart(c);
    else if (c.hostConfig.autoRemove && c.state.status !== 'removing') {
      void store
        .withLock(id, () => deps.remove(c, true, true))
        .catch((err) => log.warn('auto-remove failed', { id, error: err.message }));
    }
  };

  const scheduleRestart = (c: ContainerRecord) => {
    const ran = Date.parse(c.state.finishedAt) - Date.parse(c.state.startedAt);
    const delay = nextBackoff(backoffs.get(c.id) ?? 0, Number.isNaN(ran) ? 0 : ran);
    backoffs.set(c.id, delay);
    const timer = setTimeout(() => {
      restartTimers.delete(c.id);
      void store.withLock(c.id, async () => {
        if (!store.records.has(c.id) || c.state.status !== 'restarting') return;
        c.state.restartCount++;
        try {
          await deps.start(c, true);
          store.publish(c, 'restart');
        } catch (err: any) {
          log.warn('restart failed', { id: c.id, error: err.message });
          if (c.state.status === 'restarting') {
            store.setStatus(c, 'exited');
            store.save(c);
          }
        }
      });
    }, delay);
    timer.unref();
    restartTimers.set(c.id, { timer, backoff: delay });
  };

  return {
    /** Supervises a run: its exit goes through handleExit. */
    watch(c: ContainerRecord, handle: RunningContainer): void {
      // Its network goes as soon as the processes are gone, beside the shim's runc delete and unmount.
      const networkReleased = handle.stopped.then(() => {
        if (!store.handedOver && store.records.has(c.id) && store.usesNetworkHook(c)) return releaseNetwork(c);
      });
      const done = handle.exited
        .then((status) => handleExit(c.id, status, networkReleased))
        .catch((err) => log.error('exit handling failed', { id: c.id, error: err?.message }));
      store.live.set(c.id, { handle, done });
    },

    handleExit,

    hasPendingRestart: (id: string): boolean => restartTimers.has(id),

    cancelRestart(id: string): void {
      const pending = restartTimers.get(id);
      if (pending) {
        clearTimeout(pending.timer);
        restartTimers.delete(id);
      }
    },

    /** A start or removal by hand: the next policy restart begins at the shortest delay again. */
    forgetBackoff(id: string): void {
      backoffs.delete(id);
    },

    /** Engine shutdown: no policy restart fires any more. */
    cancelAll(): void {
      for (const t of restartTimers.values()) clearTimeout(t.timer);
      restartTimers.clear();
    },
  };
}

export type Exits = ReturnType<typeof createExits>;
