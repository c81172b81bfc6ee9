// What every part of the containers subsystem shares, as one explicit object: the records (one atomic JSON file
// each) and the name index, the runs under supervision, per-container operation locks, the waiters for exits
// and the attach sessions waiting for a start. The parts (create, start, lifecycle, exits, recovery, attach,
// settings, filesystem, stats) each receive it; what only one part uses stays in that part.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { WindowsDrives } from '../../common/host/windows-paths';
import { invalidParameter, notFound } from '../errdefs';
import type { EventBus } from '../events';
import { nowNano } from '../events';
import type { ImageService } from '../images';
import type { NetworkService } from '../network';
import type { CgroupnsMode, ProcessSession, RunningContainer, Runtime, selinux } from '../runtime';
import type { VolumeService } from '../volumes';
import { assertTransition, type ContainerRecord, type Status } from './state';

/** What containers need from images: typed against the images subsystem's own interface, so a change there
 * cannot silently break the merge of the image config (the runtime config lives at `config.config`). */
export type ImageSource = Pick<ImageService, 'get' | 'layerDirs'> & Partial<Pick<ImageService, 'setUsageCheck'>>;

/** What containers need from networking: a namespace, hosts/resolv.conf, released on exit. */
export type NetworkHook = Pick<
  NetworkService,
  'attach' | 'detach' | 'reconcile' | 'connect' | 'disconnect' | 'get' | 'endpoint'
> &
  Partial<Pick<NetworkService, 'setExtraHosts'>>;

/** The other subsystems containers work with. */
export interface ContainerDeps {
  /** Volumes and mounts (binds, volumes, tmpfs, volumes-from). */
  volumes?: VolumeService;
  runtime: Runtime;
  images: ImageSource;
  events: EventBus;
  network?: NetworkHook;
  /** In Berth's WSL VM: where the Windows drives are, for bind sources written the Windows way (C:\src). */
  windowsDrives?: WindowsDrives;
  /** daemon.json default-cgroupns-mode; unset: the platform's default (private on cgroup v2). */
  defaultCgroupnsMode?: CgroupnsMode;
  /** The distribution's SELinux container contexts (read once where SELinux is enabled). */
  selinuxContexts?: selinux.BaseContexts;
  /** Daemon defaults (log-driver, log-opts). */
  logDefaults(): { type: string; config: Record<string, string> };
  /** daemon.json `init`: containers that do not say (Init null) get --init. */
  defaultInit?: boolean;
  /** daemon.json seccomp-profile / no-new-privileges as SecurityOpt strings before each container's own. */
  securityDefaults?: string[];
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface Live {
  handle: RunningContainer;
  /** Resolves when the exit of this run has been fully handled (state saved, waiters woken). */
  done: Promise<void>;
}

export interface PendingAttach {
  want: { stdin: boolean; stdout: boolean; stderr: boolean };
  resolve: (s: ProcessSession | undefined) => void;
}

interface Waiter {
  cond: WaitCondition;
  resolve: (r: { exitCode: number; error?: string }) => void;
  reject: (e: unknown) => void;
}

export const nowRfc3339Nano = () => {
  const ns = nowNano();
  return `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}.${String(ns % 1_000_000_000n).padStart(9, '0')}Z`;
};
export const ZERO_TIME = '0001-01-01T00:00:00Z';

export class ContainerStore {
  readonly root: string;
  /** By full ID. */
  readonly records = new Map<string, ContainerRecord>();
  /** Name → ID; a name is reserved here before its record exists. */
  readonly names = new Map<string, string>();
  /** Containers whose process runs under the runtime. */
  readonly live = new Map<string, Live>();
  /** Attach requests waiting for a container's next start. */
  readonly pendingAttaches = new Map<string, PendingAttach[]>();
  /** The engine is stopping: exits no longer restart. */
  shuttingDown = false;
  /** After a live-restore shutdown the next engine owns the state: it reads exits from the shims' exit files. */
  handedOver = false;

  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly exitListeners = new Map<string, Set<() => void>>();

  constructor(
    dataRoot: string,
    readonly deps: ContainerDeps,
  ) {
    this.root = path.join(dataRoot, 'containers');
  }

  dirOf(id: string): string {
    return path.join(this.root, id);
  }

  rootfsOf(id: string): string {
    return path.join(this.dirOf(id), 'rootfs');
  }

  /** The overlay of the container's root filesystem: its image's layers (or an empty dir) under its upper dir. */
  overlayOf(c: ContainerRecord) {
    const dir = this.dirOf(c.id);
    return {
      lowerDirs: c.layerDirs.length ? c.layerDirs : [path.join(dir, 'empty')],
      upperDir: path.join(dir, 'upper'),
      workDir: path.join(dir, 'work'),
    };
  }

  /** Serializes user operations on one container. */
  withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    this.locks.set(id, tail);
    tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  // Crash-safe against process death (temp + rename); no fsync on the start path, like containerd's
  // state files: a power loss may lose the newest transition, never corrupt the record.
  save(c: ContainerRecord): void {
    const file = path.join(this.dirOf(c.id), 'container.json');
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(c));
    fs.renameSync(tmp, file);
  }

  setStatus(c: ContainerRecord, to: Status): void {
    assertTransition(c.id, c.state.status, to);
    c.state.status = to;
  }

  publish(c: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.deps.events.publish('container', action, c.id, {
      ...c.config.labels,
      image: c.config.image,
      name: c.name,
      ...extra,
    });
  }

  /** By full ID, exact name, or unique ID prefix (Docker's order); NotFound otherwise. */
  lookup(ref: string): ContainerRecord {
    const r = ref.replace(/^\//, '');
    const byId = this.records.get(r);
    if (byId) return byId;
    const byName = this.names.get(r);
    if (byName) return this.records.get(byName)!;
    if (/^[0-9a-f]+$/.test(r) && r.length > 0) {
      const matches = [...this.records.keys()].filter((id) => id.startsWith(r));
      if (matches.length === 1) return this.records.get(matches[0])!;
      if (matches.length > 1) throw invalidParameter(`multiple IDs found with provided prefix: ${r}`);
    }
    throw notFound(`No such container: ${ref}`);
  }

  /** Whether the networking subsystem made (and must release) the container's namespace. */
  usesNetworkHook(c: ContainerRecord): boolean {
    return !!this.deps.network && !['none', 'host'].includes(c.hostConfig.networkMode || 'default');
  }

  /** Registers a `docker wait`; `signal` withdraws it. */
  addWaiter(
    id: string,
    cond: WaitCondition,
    signal: AbortSignal | undefined,
  ): Promise<{ exitCode: number; error?: string }> {
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(id) ?? [];
      const w = { cond, resolve, reject };
      list.push(w);
      this.waiters.set(id, list);
      signal?.addEventListener('abort', () => {
        const l = this.waiters.get(id);
        if (l && l.includes(w)) l.splice(l.indexOf(w), 1);
        if (l && !l.length) this.waiters.delete(id);
      });
    });
  }

  resolveWaiters(
    id: string,
    match: (cond: WaitCondition) => boolean,
    result: { exitCode: number; error?: string },
  ): void {
    const list = this.waiters.get(id);
    if (!list) return;
    const keep = list.filter((w) => {
      if (!match(w.cond)) return true;
      w.resolve(result);
      return false;
    });
    if (keep.length) this.waiters.set(id, keep);
    else this.waiters.delete(id);
  }

  notifyExit(id: string): void {
    const set = this.exitListeners.get(id);
    if (!set) return;
    this.exitListeners.delete(id);
    for (const fn of set) fn();
  }

  /** Resolves at the container's next exit (or removal). */
  nextExit(id: string): Promise<void> {
    return new Promise<void>((resolve) => {
      let set = this.exitListeners.get(id);
      if (!set) this.exitListeners.set(id, (set = new Set()));
      set.add(resolve);
    });
  }
}
