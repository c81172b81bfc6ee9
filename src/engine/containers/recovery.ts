// Recovery at engine start (also after kill -9), as live-restore: each container runs under its own berth-shim,
// which outlives berthd, keeps writing the log and records the exit. Records are loaded, every shim reconnected;
// exits that happened while the engine was away are read from the shims' exit files and go through the same exit
// handling (restart policies included). Runtime leftovers nobody owns are force-deleted and unmounted, half-done
// removals finished, and volume and network references of containers that are gone released.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log } from '../log';
import { isMountPoint, type RunningContainer, unmount } from '../runtime';
import type { ExitStatus } from './exits';
import { unmountShareableShm } from './namespaces';
import { migrateNetworks } from './networks';
import type { ContainerRecord } from './state';
import { type ContainerStore, nowRfc3339Nano, ZERO_TIME } from './store';

export interface RecoveryDeps {
  exits: {
    watch(c: ContainerRecord, handle: RunningContainer): void;
    handleExit(id: string, status: ExitStatus): Promise<void>;
  };
  /** ./start.ts, for restart policies applied at engine start. */
  start(c: ContainerRecord, automatic: boolean): Promise<void>;
  /** ./health.ts: probes of running containers go on. */
  health: { resume(c: ContainerRecord): void };
}

export async function recover(store: ContainerStore, deps: RecoveryDeps): Promise<void> {
  const { runtime, volumes, network, images } = store.deps;
  const { records, names, root } = store;
  fs.mkdirSync(root, { recursive: true, mode: 0o710 });
  for (const id of fs.readdirSync(root)) {
    const file = path.join(root, id, 'container.json');
    let c: ContainerRecord | undefined;
    try {
      c = JSON.parse(fs.readFileSync(file, 'utf8')) as ContainerRecord;
    } catch (err: any) {
      if (err.code === 'ENOENT') {
        // A create that died before its record was written: nothing refers to it.
        fs.rmSync(path.join(root, id), { recursive: true, force: true });
      } else log.error('unreadable container record; leaving it alone', { id, error: err.message });
      continue;
    }
    if (migrateNetworks(network, c)) store.save(c);
    records.set(c.id, c);
    names.set(c.name, c.id);
  }
  // Runtime leftovers: containers nobody owns (a crash during create or remove), and containers whose start
  // the engine did not live to record (the record still says created/exited): neither is supervised.
  for (const id of await runtime.list()) {
    const c = records.get(id);
    if (!c || !['running', 'paused'].includes(c.state.status))
      await runtime.cleanup(id, c ? store.rootfsOf(id) : undefined).catch(() => {});
  }
  const toStart: ContainerRecord[] = [];
  await Promise.all(
    [...records.values()].map(async (c) => {
      if (c.state.status === 'removing') {
        // The engine died mid-removal: finish it.
        await runtime.cleanup(c.id, store.rootfsOf(c.id)).catch(() => {});
        fs.rmSync(store.dirOf(c.id), { recursive: true, force: true });
        records.delete(c.id);
        names.delete(c.name);
        return;
      }
      const wasUp = c.state.status === 'running' || c.state.status === 'paused';
      if (wasUp) {
        const r = await runtime.reconnect(c.id);
        if (r && 'exited' in r) {
          deps.exits.watch(c, r);
          if (c.state.status === 'running') deps.health.resume(c);
          return;
        }
        const status = r ?? {
          exitCode: 255,
          oomKilled: false,
          finishedAt: nowRfc3339Nano(),
          error: 'container was not running after the engine restarted',
        };
        await deps.exits.handleExit(c.id, status);
        return;
      }
      if (!isMountPoint(store.rootfsOf(c.id))) {
        /* nothing leaked */
      } else await unmount(store.rootfsOf(c.id));
      if (c.state.status === 'restarting') {
        store.setStatus(c, 'exited');
        store.save(c);
      }
      // Policies applied when the engine starts (as dockerd): always, and unless-stopped not stopped by hand.
      const p = c.hostConfig.restartPolicy.name;
      if (c.state.startedAt !== ZERO_TIME && (p === 'always' || (p === 'unless-stopped' && !c.state.manuallyStopped)))
        toStart.push(c);
    }),
  );
  // Volume references of containers that no longer exist go; stopped containers keep theirs but mount nothing.
  await volumes
    ?.reconcile(new Set(records.keys()))
    .catch((err) => log.warn('volume reconcile failed', { error: err.message }));
  for (const c of records.values()) {
    if (store.live.has(c.id)) continue;
    if (volumes && c.mountPoints) await volumes.teardownMounts(c.id, c.mountPoints);
    await unmountShareableShm(store, c);
  }
  await network
    ?.reconcile(
      new Set([...records.values()].filter((c) => store.live.has(c.id) && store.usesNetworkHook(c)).map((c) => c.id)),
    )
    .catch((err) => log.warn('network reconcile failed', { error: err.message }));
  for (const c of toStart) {
    void store
      .withLock(c.id, () => deps.start(c, true))
      .catch((err) => log.warn('restart at engine start failed', { id: c.id, error: err.message }));
  }
  images.setUsageCheck?.((imageId) => [...records.values()].find((c) => c.imageId === imageId)?.id);
}
