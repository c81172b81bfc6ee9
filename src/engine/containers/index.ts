// Containers: records on disk (one atomic JSON file each), the lifecycle state machine, name/ID-prefix lookup,
// restart policies, exit handling and recovery after the engine's own crash. Processes run under the runtime
// (runc + berth-shim); root filesystems are overlays of the image's layers plus the container's own upper dir.
//
// This file is the subsystem's interface and wires its parts, which share one ContainerStore (./store.ts):
//   create.ts     the request checked and merged with the image's config
//   start.ts      network, mounts and spec of a start; failures recorded as Docker shows them
//   lifecycle.ts  stop, kill, restart, pause, wait, remove, prune; engine shutdown
//   exits.ts      exit handling and restart policies (with backoff)
//   health.ts     healthchecks: probes, State.Health, health_status events
//   recovery.ts   engine start: records loaded, shims reconnected (live-restore), leftovers cleaned
//   settings.ts   rename, update, network connect/disconnect
//   attach.ts     logs, attach, TTY size
//   filesystem.ts diff, export, cp (./archive/), sizes
//   stats.ts      top and stats
//   exec.ts       exec processes
import type { Readable } from 'node:stream';
import { conflict } from '../errdefs';
import type { LogSink, ReadOptions } from '../logs';
import type { ProcessSession } from '../runtime';
import { type ContainerFs, createFsAccess } from './archive';
import { createAttach } from './attach';
import { type CreateRequest, createContainer } from './create';
import { createExecService, type ExecConfig, type ExecRecord, type ExecStart } from './exec';
import { createExits } from './exits';
import { createHealth } from './health';
import { createFilesystem, layersOf, userIn } from './filesystem';
import { createLifecycle } from './lifecycle';
import { recover } from './recovery';
import { createSettings } from './settings';
import { createStart } from './start';
import type { ContainerRecord, EndpointSettings, Resources } from './state';
import { createStats, type StatsSample } from './stats';
import { type ContainerDeps, ContainerStore, type WaitCondition } from './store';

export type {
  ContainerRecord,
  ContainerConfig,
  HealthConfig,
  HealthState,
  HostConfig,
  Resources,
  RestartPolicy,
  Status,
} from './state';
export type { ExecConfig, ExecRecord, ExecStart } from './exec';
export type { ProcessSession, OutputStream } from '../runtime';
export type { CreateRequest } from './create';
export type { StatsSample } from './stats';
export type { ImageSource, NetworkHook, WaitCondition } from './store';
export { parseRestartPolicy } from './state';
// `docker cp`'s work on an open ContainerFs (openFs), for the API's archive routes.
export {
  archivePath,
  containerOwner,
  extractToDir,
  listPath,
  readContainerFile,
  statPath,
  TAR_TRAILER,
} from './archive';
export type { ContainerFs, DirListing, PathStat } from './archive';
export { inspectLinks } from './links';

/** What exists: create, look up, list, count, prune. */
export interface ContainerRecords {
  create(req: CreateRequest): Promise<{ id: string; warnings: string[] }>;
  /** By full ID, exact name, or unique ID prefix (Docker's order); NotFound otherwise. */
  get(ref: string): ContainerRecord;
  list(): ContainerRecord[];
  counts(): { containers: number; running: number; paused: number; stopped: number };
  prune(match: (c: ContainerRecord) => boolean): Promise<{ deleted: string[]; reclaimed: number }>;
}

/** The lifecycle verbs, each through the state machine under the container's lock. */
export interface ContainerLifecycle {
  start(ref: string): Promise<void>;
  stop(ref: string, opts?: { timeout?: number; signal?: string }): Promise<void>;
  kill(ref: string, signal?: string): Promise<void>;
  restart(ref: string, opts?: { timeout?: number; signal?: string }): Promise<void>;
  pause(ref: string): Promise<void>;
  unpause(ref: string): Promise<void>;
  /** Resolves on the condition; `signal` withdraws the wait (the client went away). */
  wait(ref: string, condition?: WaitCondition, signal?: AbortSignal): Promise<{ exitCode: number; error?: string }>;
  remove(ref: string, opts?: { force?: boolean; volumes?: boolean }): Promise<void>;
}

/** Changes after create. */
export interface ContainerSettings {
  rename(ref: string, newName: string): Promise<void>;
  update(
    ref: string,
    u: { restartPolicy?: { name?: string; maximumRetryCount?: number }; resources?: Resources },
  ): Promise<string[]>;
  /** `docker network connect/disconnect`: recorded with the container, applied at once when it runs. */
  connectNetwork(ref: string, network: string, cfg: EndpointSettings): Promise<void>;
  disconnectNetwork(ref: string, network: string): Promise<void>;
}

/** The container's output and stdio. */
export interface ContainerStdio {
  logs(ref: string, opts: ReadOptions, sink: LogSink, signal?: AbortSignal): Promise<void>;
  /** Streams the container's output from now (and its past log with `logs`) until its next exit. */
  attachOutput(
    ref: string,
    opts: { stdout: boolean; stderr: boolean; logs: boolean; stream: boolean },
    sink: LogSink,
    signal?: AbortSignal,
  ): Promise<void>;
  /**
   * The container's stdio from now on: at once when it runs, else from its next start (whose output waits for
   * this session, so nothing is missed). Undefined when `signal` aborts first or the container goes away.
   */
  attach(
    ref: string,
    want: { stdin: boolean; stdout: boolean; stderr: boolean },
    signal?: AbortSignal,
  ): Promise<ProcessSession | undefined>;
  /** Window size of the container's TTY. */
  resize(ref: string, rows: number, cols: number): Promise<void>;
}

/** `docker exec`. */
export interface ContainerExecs {
  createExec(ref: string, cfg: ExecConfig): string;
  /** `consoleSize`: a TTY exec's size from its start (rows, cols). */
  startExec(id: string, detach: boolean, consoleSize?: { rows: number; cols: number }): Promise<ExecStart>;
  inspectExec(id: string): ExecRecord;
  resizeExec(id: string, rows: number, cols: number): Promise<void>;
}

/** The container's file system. */
export interface ContainerFilesystem {
  changes(ref: string): Promise<{ path: string; kind: 0 | 1 | 2 }[]>;
  /**
   * The container's changes as a layer tar (what a commit or a build step stores): its writable layer, without
   * the mount points the engine itself made there (Docker keeps those in its init layer).
   */
  diff(ref: string): Readable;
  export(ref: string): Promise<{ stream: Readable; done: Promise<void> }>;
  /** `docker cp`: the container's file system (running or not) until `release()`; see ./archive/. */
  openFs(ref: string): Promise<ContainerFs>;
  /** Bytes in the container's writable layer. */
  sizeRw(id: string): number;
  /** Bytes of the container's root filesystem: its writable layer (pass sizeRw when known) plus its image's layers. */
  sizeRootFs(id: string, sizeRw?: number): number;
}

/** What runs in it and what it costs. */
export interface ContainerStats {
  top(ref: string, psArgs?: string): Promise<{ titles: string[]; processes: string[][] }>;
  stats(ref: string): Promise<StatsSample | undefined>;
}

export interface ContainerService
  extends ContainerRecords,
    ContainerLifecycle,
    ContainerSettings,
    ContainerStdio,
    ContainerExecs,
    ContainerFilesystem,
    ContainerStats {
  /** Loads records, reconnects to running containers, records exits that happened while away, applies policies. */
  init(): Promise<void>;
  /** Engine shutdown: containers keep running (live-restore) or are stopped. */
  shutdown(liveRestore: boolean): Promise<void>;
}

export interface ContainerServiceOptions extends ContainerDeps {
  dataRoot: string;
}

export function createContainerService(opts: ContainerServiceOptions): ContainerService {
  const { dataRoot, ...deps } = opts;
  const store = new ContainerStore(dataRoot, deps);

  // Copies hold a stopped container's root mounted; its start waits until they let go.
  const fsAccess = createFsAccess({
    rootfsOf: (id) => store.rootfsOf(id),
    withLock: (id, fn) => store.withLock(id, fn),
    isLive: (id) => store.live.has(id),
    volumes: opts.volumes,
    overlayOf: (c) => ({ ...store.overlayOf(c), driver: opts.runtime.platform.overlay }),
  });
  const execs = createExecService({
    runtime: opts.runtime,
    events: opts.events,
    running(ref) {
      const c = store.lookup(ref);
      if (c.state.status === 'paused') throw conflict(`Container ${c.id} is paused, unpause the container before exec`);
      if (!store.live.has(c.id) || c.state.status !== 'running') throw conflict(`Container ${c.id} is not running`);
      return c;
    },
    resolveUser: (c, user) => userIn(layersOf(store, c), c, user),
  });

  // Start and exit handling call each other (a run is watched; an exit may restart), and both may remove:
  // the parts get each other's operations here, bound late.
  const health = createHealth(store, { execs });
  const exits = createExits(store, {
    start: (c, automatic) => start(c, automatic),
    remove: (c, force, volumes) => lifecycle.removeContainer(c, force, volumes),
    health,
  });
  const start = createStart(store, {
    fsAccess,
    execs,
    exits,
    remove: (c, force, volumes) => lifecycle.removeContainer(c, force, volumes),
    health,
  });
  const lifecycle = createLifecycle(store, { exits, execs, start, health });

  return {
    init: () => recover(store, { exits, start, health }),
    create: (req) => createContainer(store, req),
    get: (ref) => store.lookup(ref),
    list: () => [...store.records.values()],
    counts() {
      let running = 0;
      let paused = 0;
      for (const c of store.records.values()) {
        if (c.state.status === 'paused') paused++;
        else if (c.state.status === 'running' || c.state.status === 'restarting') running++;
      }
      const containers = store.records.size;
      return { containers, running, paused, stopped: containers - running - paused };
    },
    ...lifecycle.verbs,
    ...createSettings(store),
    ...createAttach(store),
    createExec: (ref, cfg) => execs.create(ref, cfg),
    startExec: (id, detach, consoleSize) => execs.start(id, detach, consoleSize),
    inspectExec: (id) => execs.get(id),
    resizeExec: (id, rows, cols) => execs.resize(id, rows, cols),
    ...createFilesystem(store, fsAccess),
    ...createStats(store),
  };
}
