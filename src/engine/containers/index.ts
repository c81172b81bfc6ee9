// Containers: records on disk (one atomic JSON file each), the lifecycle state machine, name/ID-prefix lookup,
// restart policies, exit handling and recovery after the engine's own crash. Processes run under the runtime
// (runc + berth-shim); root filesystems are overlays of the image's layers plus the container's own upper dir.
//
// Engine restart (including kill -9) is live-restore: each container runs under its own berth-shim, which
// outlives berthd, keeps writing the log and records the exit. At start, init() reconnects to every shim;
// exits that happened while the engine was away are read from the shims' exit files and go through the same
// exit handling (restart policies included). Runtime leftovers nobody owns are force-deleted and unmounted.
import type { ImageService } from '../images';
import { apparentSize } from '../util/fsx';
import { execFile, spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import {
  conflict,
  forbidden,
  invalidParameter,
  isEngineError,
  notFound,
  notImplemented,
  notModified,
  system,
} from '../errdefs';
import { nowNano } from '../events';
import type { EventBus } from '../events';
import { log } from '../log';
import { type LogSink, logLimits, readLogs, type ReadOptions } from '../logs';
import type { NetworkService } from '../network';
import type { VolumeService } from '../volumes';
import { parseVolumesFrom, planMounts } from '../volumes/mounts';
import { createMountPoints, releaseMounts, setupMounts, teardownMounts } from '../volumes/setup';
import {
  buildSpec,
  capabilities,
  hostCapabilities,
  hostNofileHard,
  type ProcessSession,
  isMountPoint,
  mergeEnv,
  resolveUser,
  type RunningContainer,
  type Runtime,
  signalNumber,
  unmount,
} from '../runtime';
import { createExecService, type ExecConfig, type ExecRecord, type ExecStart } from './exec';
import { type ContainerFs, createFsAccess } from './archive';
import { generateName, validateName } from './names';
import {
  assertTransition,
  type ContainerConfig,
  startErrorExitCode,
  type ContainerRecord,
  type HostConfig,
  nextBackoff,
  parseRestartPolicy,
  type Resources,
  type RestartPolicy,
  shouldRestart,
  type Status,
} from './state';

export type { ContainerRecord, ContainerConfig, HostConfig, Resources, RestartPolicy, Status } from './state';
export type { ExecConfig, ExecRecord, ExecStart } from './exec';
export type { ProcessSession, OutputStream } from '../runtime';
export { parseRestartPolicy } from './state';

/** What containers need from the image store (a subset of the images subsystem's ImageService). */
/** What containers need from images: typed against the images subsystem's own interface, so a change there
 * cannot silently break the merge of the image config (the runtime config lives at `config.config`). */
export type ImageSource = Pick<ImageService, 'get' | 'layerDirs'> & Partial<Pick<ImageService, 'setUsageCheck'>>;

/** What containers need from networking: a namespace, hosts/resolv.conf, released on exit. */
export type NetworkHook = Pick<NetworkService, 'attach' | 'detach' | 'reconcile' | 'connect' | 'disconnect' | 'get'>;

export interface CreateRequest {
  name?: string;
  config: Partial<ContainerConfig> & { image: string };
  hostConfig?: Partial<Omit<HostConfig, 'restartPolicy'>> & {
    restartPolicy?: { name?: string; maximumRetryCount?: number };
  };
  networks?: Record<string, { aliases?: string[]; ipv4Address?: string }>;
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

export interface StatsSample {
  read: string;
  cpu: {
    total: number;
    perCpu: number[];
    user: number;
    system: number;
    systemUsage: number;
    onlineCpus: number;
    throttling: { periods: number; throttledPeriods: number; throttledTime: number };
  };
  memory: { usage: number; maxUsage: number; limit: number; failcnt: number; stats: Record<string, number> };
  pids: { current: number; limit: number };
  blkio: { major: number; minor: number; op: string; value: number }[];
}

export interface ContainerService {
  /** Loads records, reconnects to running containers, records exits that happened while away, applies policies. */
  init(): Promise<void>;
  create(req: CreateRequest): Promise<{ id: string; warnings: string[] }>;
  /** By full ID, exact name, or unique ID prefix (Docker's order); NotFound otherwise. */
  get(ref: string): ContainerRecord;
  list(): ContainerRecord[];
  start(ref: string): Promise<void>;
  stop(ref: string, opts?: { timeout?: number; signal?: string }): Promise<void>;
  kill(ref: string, signal?: string): Promise<void>;
  restart(ref: string, opts?: { timeout?: number; signal?: string }): Promise<void>;
  pause(ref: string): Promise<void>;
  unpause(ref: string): Promise<void>;
  /** Resolves on the condition; `signal` withdraws the wait (the client went away). */
  wait(ref: string, condition?: WaitCondition, signal?: AbortSignal): Promise<{ exitCode: number; error?: string }>;
  remove(ref: string, opts?: { force?: boolean; volumes?: boolean }): Promise<void>;
  rename(ref: string, newName: string): Promise<void>;
  /** `docker network connect/disconnect`: recorded with the container, applied at once when it runs. */
  connectNetwork(ref: string, network: string, cfg: { aliases?: string[]; ipv4Address?: string }): Promise<void>;
  disconnectNetwork(ref: string, network: string): Promise<void>;
  update(
    ref: string,
    u: { restartPolicy?: { name?: string; maximumRetryCount?: number }; resources?: Resources },
  ): Promise<string[]>;
  top(ref: string, psArgs?: string): Promise<{ titles: string[]; processes: string[][] }>;
  stats(ref: string): Promise<StatsSample | undefined>;
  /** Bytes of the container's root filesystem: its writable layer (pass sizeRw when known) plus its image's layers. */
  sizeRootFs(id: string, sizeRw?: number): number;
  changes(ref: string): Promise<{ path: string; kind: 0 | 1 | 2 }[]>;
  export(ref: string): Promise<{ stream: Readable; done: Promise<void> }>;
  /** `docker cp`: the container's file system (running or not) until `release()`; see ./archive.ts. */
  openFs(ref: string): Promise<ContainerFs>;
  prune(match: (c: ContainerRecord) => boolean): Promise<{ deleted: string[]; reclaimed: number }>;
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
  createExec(ref: string, cfg: ExecConfig): string;
  startExec(id: string, detach: boolean): Promise<ExecStart>;
  inspectExec(id: string): ExecRecord;
  resizeExec(id: string, rows: number, cols: number): Promise<void>;
  /** Bytes in the container's writable layer. */
  sizeRw(id: string): number;
  counts(): { containers: number; running: number; paused: number; stopped: number };
  /** Engine shutdown: containers keep running (live-restore) or are stopped. */
  shutdown(liveRestore: boolean): Promise<void>;
}

export interface ContainerServiceOptions {
  /** Volumes and mounts (binds, volumes, tmpfs, volumes-from). */
  volumes?: VolumeService;
  dataRoot: string;
  runtime: Runtime;
  images: ImageSource;
  events: EventBus;
  network?: NetworkHook;
  /** Daemon defaults (log-driver, log-opts). */
  logDefaults(): { type: string; config: Record<string, string> };
}

const nowRfc3339Nano = () => {
  const ns = nowNano();
  return `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}.${String(ns % 1_000_000_000n).padStart(9, '0')}Z`;
};
const ZERO_TIME = '0001-01-01T00:00:00Z';

function defaultHostConfig(): HostConfig {
  return {
    restartPolicy: { name: 'no', maximumRetryCount: 0 },
    autoRemove: false,
    networkMode: 'default',
    privileged: false,
    capAdd: [],
    capDrop: [],
    readonlyRootfs: false,
    tmpfs: {},
    shmSize: 64 * 1024 * 1024,
    ulimits: [],
    logConfig: { type: '', config: {} },
    resources: {},
    sysctls: {},
    groupAdd: [],
    oomScoreAdj: 0,
    dns: [],
    dnsSearch: [],
    dnsOptions: [],
    extraHosts: [],
    binds: [],
    portBindings: {},
    publishAllPorts: false,
  };
}

/** Reads a file from the container's layers (upper first, then the image's, topmost first). */
function readFromLayers(dirs: string[], rel: string): string | undefined {
  for (const d of dirs) {
    const p = path.join(d, rel);
    try {
      const st = fs.lstatSync(p);
      if (st.isCharacterDevice() && st.rdev === 0) return undefined; // overlay whiteout: deleted above
      if (st.isFile()) return fs.readFileSync(p, 'utf8');
    } catch {
      /* not in this layer */
    }
  }
  return undefined;
}

function existsInLayers(dirs: string[], rel: string): boolean {
  for (const d of dirs) {
    try {
      const st = fs.lstatSync(path.join(d, rel));
      return !(st.isCharacterDevice() && st.rdev === 0);
    } catch {
      /* next layer */
    }
  }
  return false;
}

const DEFAULT_HOSTS =
  '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';

/** The host's resolv.conf without loopback nameservers (unreachable from a container's own namespace). */
function containerResolvConf(dns: string[], search: string[], options: string[]): string {
  let host = '';
  for (const p of ['/run/systemd/resolve/resolv.conf', '/etc/resolv.conf']) {
    try {
      const t = fs.readFileSync(p, 'utf8');
      if (p === '/etc/resolv.conf' || !/nameserver 127\./.test(t)) {
        host = t;
        break;
      }
    } catch {
      /* next */
    }
  }
  const lines = host.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$)/.test(l));
  let out = lines.filter(
    (l) =>
      !(dns.length && /^\s*nameserver\s/.test(l)) &&
      !(search.length && /^\s*search\s/.test(l)) &&
      !(options.length && /^\s*options\s/.test(l)),
  );
  out.push(...dns.map((d) => `nameserver ${d}`));
  if (search.length) out.push(`search ${search.join(' ')}`);
  if (options.length) out.push(`options ${options.join(' ')}`);
  out = out.filter((l, i) => l.trim() !== '' || i < out.length - 1);
  // Docker's fallback when nothing usable remains (written, never contacted by Berth itself).
  if (!out.some((l) => /^\s*nameserver\s/.test(l)))
    out.push('nameserver 8.8.8.8', 'nameserver 4.4.4.4'.replace('4.4.4.4', '8.8.4.4'));
  return out.join('\n').replace(/\n*$/, '\n');
}

interface Live {
  handle: RunningContainer;
  /** Resolves when the exit of this run has been fully handled (state saved, waiters woken). */
  done: Promise<void>;
}

export function createContainerService(opts: ContainerServiceOptions): ContainerService {
  const root = path.join(opts.dataRoot, 'containers');
  const records = new Map<string, ContainerRecord>();
  const names = new Map<string, string>(); // name → id
  const live = new Map<string, Live>();
  const restartTimers = new Map<string, { timer: NodeJS.Timeout; backoff: number }>();
  const backoffs = new Map<string, number>();
  const waiters = new Map<
    string,
    { cond: WaitCondition; resolve: (r: { exitCode: number; error?: string }) => void; reject: (e: unknown) => void }[]
  >();
  const exitListeners = new Map<string, Set<() => void>>();
  const locks = new Map<string, Promise<unknown>>();
  const runtime = opts.runtime;
  const nofile = hostNofileHard();
  /** Attach requests waiting for a container's next start. */
  const pendingAttaches = new Map<
    string,
    { want: { stdin: boolean; stdout: boolean; stderr: boolean }; resolve: (s: ProcessSession | undefined) => void }[]
  >();
  let shuttingDown = false;
  let handedOver = false;

  const dirOf = (id: string) => path.join(root, id);
  const rootfsOf = (id: string) => path.join(dirOf(id), 'rootfs');

  /** Serializes user operations on one container. */
  const withLock = <T>(id: string, fn: () => Promise<T>): Promise<T> => {
    const prev = locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => {});
    locks.set(id, tail);
    tail.then(() => {
      if (locks.get(id) === tail) locks.delete(id);
    });
    return next;
  };

  // Copies hold a stopped container's root mounted; its start waits until they let go.
  const fsAccess = createFsAccess({
    rootfsOf,
    withLock,
    isLive: (id) => live.has(id),
    volumes: opts.volumes,
    overlayOf: (c) => ({
      lowerDirs: c.layerDirs.length ? c.layerDirs : [path.join(dirOf(c.id), 'empty')],
      upperDir: path.join(dirOf(c.id), 'upper'),
      workDir: path.join(dirOf(c.id), 'work'),
    }),
  });

  // Crash-safe against process death (temp + rename); no fsync on the start path, like containerd's
  // state files: a power loss may lose the newest transition, never corrupt the record.
  const save = (c: ContainerRecord) => {
    const file = path.join(dirOf(c.id), 'container.json');
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(c));
    fs.renameSync(tmp, file);
  };

  const setStatus = (c: ContainerRecord, to: Status) => {
    assertTransition(c.id, c.state.status, to);
    c.state.status = to;
  };

  const attributes = (c: ContainerRecord, extra: Record<string, string> = {}) => ({
    ...c.config.labels,
    image: c.config.image,
    name: c.name,
    ...extra,
  });
  const publish = (c: ContainerRecord, action: string, extra?: Record<string, string>) =>
    opts.events.publish('container', action, c.id, attributes(c, extra));

  const lookup = (ref: string): ContainerRecord => {
    const r = ref.replace(/^\//, '');
    const byId = records.get(r);
    if (byId) return byId;
    const byName = names.get(r);
    if (byName) return records.get(byName)!;
    if (/^[0-9a-f]+$/.test(r) && r.length > 0) {
      const matches = [...records.keys()].filter((id) => id.startsWith(r));
      if (matches.length === 1) return records.get(matches[0])!;
      if (matches.length > 1) throw invalidParameter(`multiple IDs found with provided prefix: ${r}`);
    }
    throw notFound(`No such container: ${ref}`);
  };

  /** The container's mounts from its request and image, in Docker's precedence (src/engine/volumes/mounts.ts). */
  const planContainerMounts = (c: ContainerRecord) =>
    planMounts({
      binds: c.hostConfig.binds,
      mounts: c.hostConfig.mounts,
      tmpfs: c.hostConfig.tmpfs,
      volumes: c.config.volumes,
      volumeDriver: c.hostConfig.volumeDriver,
      volumesFrom: (c.hostConfig.volumesFrom ?? []).map((spec) => ({
        spec,
        mountPoints: lookup(parseVolumesFrom(spec).id).mountPoints ?? [],
      })),
    });

  const resolveWaiters = (
    id: string,
    match: (cond: WaitCondition) => boolean,
    result: { exitCode: number; error?: string },
  ) => {
    const list = waiters.get(id);
    if (!list) return;
    const keep = list.filter((w) => {
      if (!match(w.cond)) return true;
      w.resolve(result);
      return false;
    });
    if (keep.length) waiters.set(id, keep);
    else waiters.delete(id);
  };

  const notifyExit = (id: string) => {
    const set = exitListeners.get(id);
    if (!set) return;
    exitListeners.delete(id);
    for (const fn of set) fn();
  };
  /** Resolves at the container's next exit (or removal). */
  const nextExit = (id: string) =>
    new Promise<void>((resolve) => {
      let set = exitListeners.get(id);
      if (!set) exitListeners.set(id, (set = new Set()));
      set.add(resolve);
    });

  // ---------- start ----------

  const networkFor = async (c: ContainerRecord) => {
    const mode = c.hostConfig.networkMode || 'default';
    if (mode === 'none') return { mode: 'private' as const };
    if (mode === 'host') return { mode: 'host' as const };
    if (!opts.network) return { mode: 'private' as const }; // no networking subsystem: like --network none
    let network = mode === 'default' ? 'bridge' : mode;
    if (network.startsWith('container:')) network = `container:${lookup(network.slice('container:'.length)).id}`;
    const ep = await opts.network.attach({
      containerId: c.id,
      containerName: c.name,
      network,
      hostname: c.config.hostname,
      domainname: c.config.domainname,
      extraHosts: c.hostConfig.extraHosts,
      dns: c.hostConfig.dns,
      dnsSearch: c.hostConfig.dnsSearch,
      dnsOptions: c.hostConfig.dnsOptions,
      hostsPath: c.hostsPath,
      resolvConfPath: c.resolvConfPath,
      portBindings: c.hostConfig.portBindings as any,
      exposedPorts: c.config.exposedPorts,
      publishAll: c.hostConfig.publishAllPorts,
      aliases: c.networks[network]?.aliases,
      ipv4Address: c.networks[network]?.ipv4Address,
    });
    // Networks added with `docker network connect` (or a second EndpointsConfig entry) join after the first.
    if (ep.mode === 'bridge') {
      const primaryId = opts.network.get(network).id;
      for (const [name, cfg] of Object.entries(c.networks)) {
        let id: string;
        try {
          id = opts.network.get(name).id;
        } catch {
          continue;
        } // removed since
        if (id !== primaryId) await opts.network.connect(name, c.id, cfg);
      }
    }
    if (ep.hostsPath && ep.hostsPath !== c.hostsPath) c.hostsPath = ep.hostsPath;
    if (ep.resolvConfPath && ep.resolvConfPath !== c.resolvConfPath) c.resolvConfPath = ep.resolvConfPath;
    return ep.netnsPath ? { mode: 'path' as const, netnsPath: ep.netnsPath } : { mode: 'host' as const };
  };

  const usesNetworkHook = (c: ContainerRecord) =>
    !!opts.network && !['none', 'host'].includes(c.hostConfig.networkMode || 'default');

  const NETWORK_FAILURE = Symbol('network failure');
  const doStart = async (c: ContainerRecord, automatic: boolean) => {
    if (c.state.status === 'running') throw notModified();
    if (c.state.status === 'paused') throw conflict('cannot start a paused container, try unpause instead');
    if (c.state.status === 'removing' || c.state.status === 'dead')
      throw conflict(`container is marked for removal and cannot be started`);
    const pending = restartTimers.get(c.id);
    if (pending) {
      clearTimeout(pending.timer);
      restartTimers.delete(c.id);
    }
    if (!automatic) {
      c.state.restartCount = 0;
      backoffs.delete(c.id);
    }
    await fsAccess.idle(c.id);
    const dir = dirOf(c.id);
    const upper = path.join(dir, 'upper');
    const layers = [upper, ...c.layerDirs];
    let waiting: {
      want: { stdin: boolean; stdout: boolean; stderr: boolean };
      resolve: (s: ProcessSession | undefined) => void;
    }[] = [];
    try {
      const user = resolveUser(
        c.config.user,
        readFromLayers(layers, 'etc/passwd'),
        readFromLayers(layers, 'etc/group'),
        c.hostConfig.groupAdd,
      );
      // Docker creates a missing WorkingDir in the container's own layer.
      if (c.config.workingDir && !existsInLayers(layers, c.config.workingDir)) {
        fs.mkdirSync(path.join(upper, c.config.workingDir), { recursive: true, mode: 0o755 });
      }
      let network: Awaited<ReturnType<typeof networkFor>>;
      try {
        network = await networkFor(c);
      } catch (err) {
        throw Object.assign(err as object, { [NETWORK_FAILURE]: true });
      }
      if (network.mode !== 'path') {
        // No networking subsystem involved: the files are ours to write.
        fs.writeFileSync(
          c.hostsPath,
          network.mode === 'host' ? (safeRead('/etc/hosts') ?? DEFAULT_HOSTS) : DEFAULT_HOSTS,
        );
        fs.writeFileSync(
          c.resolvConfPath,
          network.mode === 'host'
            ? (safeRead('/etc/resolv.conf') ?? '')
            : containerResolvConf(c.hostConfig.dns, c.hostConfig.dnsSearch, c.hostConfig.dnsOptions),
        );
      }
      const bind = (destination: string, source: string) => ({
        destination,
        source,
        type: 'bind',
        options: ['rbind', 'rprivate'],
      });
      // Volumes get mounted (and filled from the image when new and empty) before the process starts.
      const volumeMounts =
        opts.volumes && c.mountPoints?.length
          ? await setupMounts(opts.volumes, c.id, c.mountPoints, { layers: [upper, ...c.layerDirs] })
          : [];
      const spec = buildSpec({
        rootfs: rootfsOf(c.id),
        readonlyRootfs: c.hostConfig.readonlyRootfs,
        args: [c.path, ...c.args],
        env: c.config.env,
        cwd: c.config.workingDir || '/',
        user,
        hostname: c.config.hostname,
        domainname: c.config.domainname,
        tty: c.config.tty,
        network,
        privileged: c.hostConfig.privileged,
        capAdd: c.hostConfig.capAdd,
        capDrop: c.hostConfig.capDrop,
        resources: c.hostConfig.resources,
        mounts: [
          bind('/etc/resolv.conf', c.resolvConfPath),
          bind('/etc/hostname', c.hostnamePath),
          bind('/etc/hosts', c.hostsPath),
          ...volumeMounts,
        ],
        tmpfs: c.hostConfig.tmpfs,
        shmSize: c.hostConfig.shmSize,
        ulimits: c.hostConfig.ulimits,
        hostNofileHard: nofile,
        hostCapabilities: hostCapabilities(),
        cgroupsPath: `/berth/${c.id}`,
        sysctls: c.hostConfig.sysctls,
        oomScoreAdj: c.hostConfig.oomScoreAdj,
      });
      const logType = c.hostConfig.logConfig.type || opts.logDefaults().type;
      const limits = logLimits(c.hostConfig.logConfig.type ? c.hostConfig.logConfig.config : opts.logDefaults().config);
      spec.process.terminal = !!c.config.tty;
      waiting = pendingAttaches.get(c.id) ?? [];
      pendingAttaches.delete(c.id);
      const handle = await runtime.start({
        id: c.id,
        spec,
        openStdin: c.config.openStdin,
        stdinOnce: c.config.stdinOnce,
        holdOutput: waiting.length > 0,
        log: logType === 'none' ? undefined : { path: c.logPath, maxSize: limits.maxSize, maxFile: limits.maxFile },
        overlay: {
          lowerDirs: c.layerDirs.length ? c.layerDirs : [path.join(dir, 'empty')],
          upperDir: upper,
          workDir: path.join(dir, 'work'),
        },
      });
      setStatus(c, 'running');
      Object.assign(c.state, {
        pid: handle.pid,
        exitCode: 0,
        error: '',
        oomKilled: false,
        startedAt: nowRfc3339Nano(),
        manuallyStopped: false,
      });
      save(c);
      execs.forgetContainer(c.id);
      watchRun(c, handle);
      publish(c, 'start');
      if (waiting.length) {
        await Promise.all(waiting.map((w) => runtime.attach(c.id, w.want).then(w.resolve, () => w.resolve(undefined))));
        await runtime.release(c.id);
      }
    } catch (err) {
      if (usesNetworkHook(c)) await opts.network!.detach(c.id).catch(() => {});
      if (opts.volumes && c.mountPoints) await teardownMounts(opts.volumes, c.id, c.mountPoints);
      for (const w of waiting) w.resolve(undefined);
      const failure = startFailure(c, err);
      // Docker removes an AutoRemove container whose start failed; `docker run --rm` waits for exactly that.
      if (c.hostConfig.autoRemove)
        await doRemove(c, true, true).catch((e) => log.warn('auto-remove failed', { id: c.id, error: e.message }));
      throw failure;
    }
  };

  /** Records why a start failed and returns the error to answer with. */
  const startFailure = (c: ContainerRecord, err: unknown): Error => {
    const e = isEngineError(err) ? err : system(String((err as Error)?.message ?? err));
    const networkFailed = (err as any)?.[NETWORK_FAILURE] === true;
    if (networkFailed) {
      // Networking's errors are Docker's own ("driver failed programming external connectivity …"): as they are.
      c.state.error = e.message;
      if (c.state.status === 'restarting') setStatus(c, 'exited');
      save(c);
      return e;
    }
    if (e.kind === 'System') {
      // What runc said, in the shape Docker's CLI recognises (it maps "not found" to exit code 127).
      c.state.error = `failed to create shim task: OCI runtime create failed: runc create failed: ${e.message}: unknown`;
      c.state.exitCode = startErrorExitCode(e.message, 128);
      if (c.state.status === 'restarting') setStatus(c, 'exited');
      save(c);
      return (/not found|no such file/.test(e.message) ? invalidParameter : system)(c.state.error);
    }
    return e;
  };

  const safeRead = (p: string) => {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch {
      return undefined;
    }
  };

  const watchRun = (c: ContainerRecord, handle: RunningContainer) => {
    const done = handle.exited
      .then((status) => handleExit(c.id, status))
      .catch((err) => log.error('exit handling failed', { id: c.id, error: err?.message }));
    live.set(c.id, { handle, done });
  };

  // ---------- exit ----------

  const handleExit = async (
    id: string,
    status: { exitCode: number; oomKilled: boolean; finishedAt: string; error?: string },
  ) => {
    live.delete(id);
    // After a live-restore shutdown the next engine owns the state: it reads this exit from the shim's exit file.
    if (handedOver) return;
    const c = records.get(id);
    if (!c) return;
    if (usesNetworkHook(c))
      await opts.network!.detach(id).catch((err) => log.warn('network detach failed', { id, error: err.message }));
    runtime.forget(id);
    if (opts.volumes && c.mountPoints) await teardownMounts(opts.volumes, id, c.mountPoints);
    Object.assign(c.state, {
      pid: 0,
      exitCode: status.exitCode,
      oomKilled: status.oomKilled,
      finishedAt: status.finishedAt,
      error: status.error ?? '',
    });
    if (status.oomKilled) publish(c, 'oom');
    publish(c, 'die', { exitCode: String(status.exitCode) });
    const restart =
      !shuttingDown &&
      !c.hostConfig.autoRemove &&
      c.state.status !== 'removing' &&
      shouldRestart(c.hostConfig.restartPolicy, status.exitCode, c.state.manuallyStopped, c.state.restartCount);
    if (c.state.status !== 'removing') setStatus(c, restart ? 'restarting' : 'exited');
    save(c);
    notifyExit(id);
    resolveWaiters(id, (cond) => cond === 'next-exit' || (cond === 'not-running' && !restart), {
      exitCode: status.exitCode,
      error: status.error,
    });
    if (restart) scheduleRestart(c);
    else if (c.hostConfig.autoRemove && c.state.status !== 'removing') {
      void withLock(id, () => doRemove(c, true, true)).catch((err) =>
        log.warn('auto-remove failed', { id, error: err.message }),
      );
    }
  };

  const scheduleRestart = (c: ContainerRecord) => {
    const ran = Date.parse(c.state.finishedAt) - Date.parse(c.state.startedAt);
    const delay = nextBackoff(backoffs.get(c.id) ?? 0, Number.isNaN(ran) ? 0 : ran);
    backoffs.set(c.id, delay);
    const timer = setTimeout(() => {
      restartTimers.delete(c.id);
      void withLock(c.id, async () => {
        if (!records.has(c.id) || c.state.status !== 'restarting') return;
        c.state.restartCount++;
        try {
          await doStart(c, true);
          publish(c, 'restart');
        } catch (err: any) {
          log.warn('restart failed', { id: c.id, error: err.message });
          if (c.state.status === 'restarting') {
            setStatus(c, 'exited');
            save(c);
          }
        }
      });
    }, delay);
    timer.unref();
    restartTimers.set(c.id, { timer, backoff: delay });
  };

  // ---------- stop / kill ----------

  const waitDone = async (id: string, ms: number): Promise<boolean> => {
    const l = live.get(id);
    if (!l) return true;
    if (ms < 0) {
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
      setStatus(c, 'running');
    }
  };

  const doStop = async (c: ContainerRecord, timeoutSec: number | undefined, sigName?: string) => {
    const pending = restartTimers.get(c.id);
    if (c.state.status === 'restarting' && pending) {
      clearTimeout(pending.timer);
      restartTimers.delete(c.id);
      c.state.manuallyStopped = true;
      setStatus(c, 'exited');
      save(c);
      return;
    }
    if (!live.has(c.id)) throw notModified();
    c.state.manuallyStopped = true;
    save(c);
    const stopSig = signalNumber(sigName || c.config.stopSignal || 'SIGTERM');
    const timeout = timeoutSec ?? c.config.stopTimeout ?? 10;
    await signal(c, stopSig).catch((err) => log.debug('stop signal failed', { id: c.id, error: err.message }));
    if (!(await waitDone(c.id, timeout < 0 ? -1 : timeout * 1000))) {
      await signal(c, signalNumber('SIGKILL')).catch(() => {});
      if (!(await waitDone(c.id, 30_000))) throw system(`container ${c.id} did not exit after SIGKILL`);
    }
    publish(c, 'stop');
  };

  // ---------- remove ----------

  const doRemove = async (c: ContainerRecord, force: boolean, removeVolumes = false) => {
    if (!records.has(c.id)) return;
    if (c.state.status === 'removing') throw conflict(`removal of container ${c.name} is already in progress`);
    if (live.has(c.id) || c.state.status === 'restarting') {
      if (!force) {
        throw conflict(
          `You cannot remove a ${c.state.status} container ${c.id}. Stop the container before attempting removal or force remove`,
        );
      }
      c.state.manuallyStopped = true;
      const pending = restartTimers.get(c.id);
      if (pending) {
        clearTimeout(pending.timer);
        restartTimers.delete(c.id);
      }
      if (live.has(c.id)) {
        await signal(c, signalNumber('SIGKILL')).catch(() => {});
        if (!(await waitDone(c.id, 30_000))) throw system(`Could not kill running container ${c.id}, cannot remove`);
      }
    }
    setStatus(c, 'removing');
    save(c);
    execs.forgetContainer(c.id);
    for (const w of pendingAttaches.get(c.id) ?? []) w.resolve(undefined);
    pendingAttaches.delete(c.id);
    if (usesNetworkHook(c)) await opts.network!.detach(c.id).catch(() => {});
    // The shim deleted runc's state and unmounted the root filesystem when the container ended; what a crash
    // may have left is handled at engine start.
    runtime.forget(c.id);
    if (isMountPoint(rootfsOf(c.id))) await unmount(rootfsOf(c.id));
    // `rm -v` and `--rm` take the anonymous volumes along; named ones always stay.
    if (opts.volumes && c.mountPoints) await releaseMounts(opts.volumes, c.id, c.mountPoints, removeVolumes);
    try {
      await fs.promises.rm(dirOf(c.id), { recursive: true, force: true });
    } catch (err: any) {
      setStatus(c, 'dead');
      save(c);
      throw system(`unable to remove filesystem for ${c.id}: ${err.message}`);
    }
    records.delete(c.id);
    if (names.get(c.name) === c.id) names.delete(c.name);
    backoffs.delete(c.id);
    publish(c, 'destroy');
    notifyExit(c.id);
    resolveWaiters(c.id, () => true, { exitCode: c.state.exitCode, error: c.state.error || undefined });
  };

  // ---------- recovery ----------

  const execs = createExecService({
    runtime,
    events: opts.events,
    running(ref) {
      const c = lookup(ref);
      if (c.state.status === 'paused') throw conflict(`Container ${c.id} is paused, unpause the container before exec`);
      if (!live.has(c.id) || c.state.status !== 'running') throw conflict(`Container ${c.id} is not running`);
      return c;
    },
    resolveUser(c, user) {
      const layers = [path.join(dirOf(c.id), 'upper'), ...c.layerDirs];
      return resolveUser(
        user,
        readFromLayers(layers, 'etc/passwd'),
        readFromLayers(layers, 'etc/group'),
        c.hostConfig.groupAdd,
      );
    },
  });

  const init = async () => {
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
      records.set(c.id, c);
      names.set(c.name, c.id);
    }
    // Runtime leftovers: containers nobody owns (a crash during create or remove), and containers whose start
    // the engine did not live to record (the record still says created/exited): neither is supervised.
    for (const id of await runtime.list()) {
      const c = records.get(id);
      if (!c || !['running', 'paused'].includes(c.state.status))
        await runtime.cleanup(id, c ? rootfsOf(id) : undefined).catch(() => {});
    }
    const toStart: ContainerRecord[] = [];
    await Promise.all(
      [...records.values()].map(async (c) => {
        if (c.state.status === 'removing') {
          // The engine died mid-removal: finish it.
          await runtime.cleanup(c.id, rootfsOf(c.id)).catch(() => {});
          fs.rmSync(dirOf(c.id), { recursive: true, force: true });
          records.delete(c.id);
          names.delete(c.name);
          return;
        }
        const wasUp = c.state.status === 'running' || c.state.status === 'paused';
        if (wasUp) {
          const r = await runtime.reconnect(c.id);
          if (r && 'exited' in r) {
            watchRun(c, r);
            return;
          }
          const status = r ?? {
            exitCode: 255,
            oomKilled: false,
            finishedAt: nowRfc3339Nano(),
            error: 'container was not running after the engine restarted',
          };
          await handleExit(c.id, status);
          return;
        }
        if (!isMountPoint(rootfsOf(c.id))) {
          /* nothing leaked */
        } else await unmount(rootfsOf(c.id));
        if (c.state.status === 'restarting') {
          setStatus(c, 'exited');
          save(c);
        }
        // Policies applied when the engine starts (as dockerd): always, and unless-stopped not stopped by hand.
        const p = c.hostConfig.restartPolicy.name;
        if (c.state.startedAt !== ZERO_TIME && (p === 'always' || (p === 'unless-stopped' && !c.state.manuallyStopped)))
          toStart.push(c);
      }),
    );
    // Volume references of containers that no longer exist go; stopped containers keep theirs but mount nothing.
    await opts.volumes
      ?.reconcile(new Set(records.keys()))
      .catch((err) => log.warn('volume reconcile failed', { error: err.message }));
    for (const c of records.values())
      if (opts.volumes && c.mountPoints && !live.has(c.id)) await teardownMounts(opts.volumes, c.id, c.mountPoints);
    await opts.network
      ?.reconcile(new Set([...records.values()].filter((c) => live.has(c.id) && usesNetworkHook(c)).map((c) => c.id)))
      .catch((err) => log.warn('network reconcile failed', { error: err.message }));
    for (const c of toStart) {
      void withLock(c.id, () => doStart(c, true)).catch((err) =>
        log.warn('restart at engine start failed', { id: c.id, error: err.message }),
      );
    }
    opts.images.setUsageCheck?.((imageId) => [...records.values()].find((c) => c.imageId === imageId)?.id);
  };

  // ---------- stats ----------

  const readNum = (p: string): number => {
    try {
      return Number(fs.readFileSync(p, 'utf8').trim()) || 0;
    } catch {
      return 0;
    }
  };
  const readKv = (p: string): Record<string, number> => {
    const out: Record<string, number> = {};
    try {
      for (const l of fs.readFileSync(p, 'utf8').split('\n')) {
        const [k, v] = l.split(' ');
        if (k && v !== undefined) out[k] = Number(v);
      }
    } catch {
      /* absent */
    }
    return out;
  };
  const systemUsage = (): number => {
    // Docker: the host's total CPU time in ns from /proc/stat (USER_HZ = 100).
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1, 8).map(Number);
    return line.reduce((a, b) => a + b, 0) * 1e7;
  };

  const svc: ContainerService = {
    init,

    async create(req) {
      const image = await opts.images.get(req.config.image);
      const ic = image.config.config ?? {};
      const name = req.name ? validateName(req.name) : generateName((n) => names.has(n));
      if (names.has(name)) {
        throw conflict(
          `Conflict. The container name "/${name}" is already in use by container "${names.get(name)}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      }
      const hc: HostConfig = { ...defaultHostConfig(), ...(req.hostConfig as any) };
      try {
        hc.restartPolicy = parseRestartPolicy(req.hostConfig?.restartPolicy);
      } catch (err: any) {
        throw invalidParameter(err.message);
      }
      if (hc.autoRemove && !['', 'no'].includes(hc.restartPolicy.name))
        throw invalidParameter("can't create 'AutoRemove' container with restart policy");
      capabilities([], hc.capAdd, hc.capDrop); // validates names
      const logCfg = hc.logConfig?.type ? hc.logConfig : { type: '', config: {} };
      if (logCfg.type && !['json-file', 'none'].includes(logCfg.type))
        throw invalidParameter(`logger: no log driver named '${logCfg.type}' is registered`);
      logLimits(logCfg.type ? logCfg.config : opts.logDefaults().config);
      if (hc.resources.memory && hc.resources.memory < 6 * 1024 * 1024)
        throw invalidParameter('Minimum memory limit allowed is 6MB');
      if (hc.resources.nanoCpus && (hc.resources.cpuQuota || hc.resources.cpuPeriod))
        throw invalidParameter('Conflicting options: Nano CPUs and CPU Period cannot both be set');
      if (hc.resources.nanoCpus && hc.resources.nanoCpus > os.cpus().length * 1e9) {
        throw invalidParameter(
          `Range of CPUs is from 0.01 to ${os.cpus().length}.00, as there are only ${os.cpus().length} CPUs available`,
        );
      }

      const rc = req.config;
      // Docker's merge: an empty Entrypoint counts as not given (the CLI sends [] or null), so the image's Cmd
      // applies; a null one also inherits the image's Entrypoint. A given Entrypoint discards the image's Cmd.
      const givenEntrypoint = rc.entrypoint && rc.entrypoint.length ? rc.entrypoint : null;
      const entrypoint = givenEntrypoint ?? (rc.entrypoint == null ? (ic.Entrypoint ?? null) : null);
      const cmd = rc.cmd && rc.cmd.length ? rc.cmd : givenEntrypoint ? null : (ic.Cmd ?? null);
      const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
      if (argv.length === 0) throw invalidParameter('No command specified');
      const id = crypto.randomBytes(32).toString('hex');
      const config: ContainerConfig = {
        hostname: rc.hostname || (hc.networkMode === 'host' ? os.hostname() : id.slice(0, 12)),
        domainname: rc.domainname ?? '',
        user: rc.user || ic.User || '',
        env: mergeEnv(ic.Env ?? [], rc.env ?? []),
        cmd,
        entrypoint,
        image: rc.image,
        workingDir: rc.workingDir || ic.WorkingDir || '',
        labels: { ...(ic.Labels ?? {}), ...(rc.labels ?? {}) },
        exposedPorts: [...new Set([...Object.keys(ic.ExposedPorts ?? {}), ...(rc.exposedPorts ?? [])])],
        volumes: [...new Set([...Object.keys(ic.Volumes ?? {}), ...(rc.volumes ?? [])])],
        tty: !!rc.tty,
        openStdin: !!rc.openStdin,
        stdinOnce: !!rc.stdinOnce,
        attachStdin: !!rc.attachStdin,
        attachStdout: !!rc.attachStdout,
        attachStderr: !!rc.attachStderr,
        stopSignal: rc.stopSignal || ic.StopSignal || undefined,
        stopTimeout: rc.stopTimeout,
      };
      if (config.stopSignal) signalNumber(config.stopSignal);
      const dir = dirOf(id);
      const c: ContainerRecord = {
        id,
        name,
        created: nowRfc3339Nano(),
        imageId: image.id,
        path: argv[0],
        args: argv.slice(1),
        config,
        hostConfig: hc,
        state: {
          status: 'created',
          pid: 0,
          exitCode: 0,
          error: '',
          oomKilled: false,
          startedAt: ZERO_TIME,
          finishedAt: ZERO_TIME,
          manuallyStopped: false,
          restartCount: 0,
        },
        layerDirs: opts.images.layerDirs(image),
        logPath: path.join(dir, `${id}-json.log`),
        hostnamePath: path.join(dir, 'hostname'),
        hostsPath: path.join(dir, 'hosts'),
        resolvConfPath: path.join(dir, 'resolv.conf'),
        networks: req.networks ?? {},
      };
      names.set(name, id); // reserved before the first await below
      try {
        await Promise.all(
          ['upper', 'work', 'rootfs', ...(c.layerDirs.length ? [] : ['empty'])].map((d) =>
            fs.promises.mkdir(path.join(dir, d), { recursive: true, mode: 0o755 }),
          ),
        );
        if (opts.volumes) c.mountPoints = await createMountPoints(opts.volumes, id, planContainerMounts(c));
        await fs.promises.writeFile(c.hostnamePath, `${config.hostname}\n`);
        save(c);
      } catch (err) {
        names.delete(name);
        fs.rmSync(dir, { recursive: true, force: true });
        throw err;
      }
      records.set(id, c);
      publish(c, 'create');
      return { id, warnings: [] };
    },

    get: (ref) => lookup(ref),
    list: () => [...records.values()],

    start: async (ref) => {
      const c = lookup(ref);
      return withLock(c.id, () => doStart(c, false));
    },

    stop: async (ref, o = {}) => {
      const c = lookup(ref);
      return withLock(c.id, () => doStop(c, o.timeout, o.signal));
    },

    async kill(ref, sig) {
      const c = lookup(ref);
      return withLock(c.id, async () => {
        const n = signalNumber(sig || 'SIGKILL');
        if (!live.has(c.id)) throw conflict(`Cannot kill container: ${ref}: Container ${c.id} is not running`);
        // Docker: a kill counts as a manual stop for the restart policy only when it ends the container.
        if (n === signalNumber('SIGKILL') || n === signalNumber(c.config.stopSignal || 'SIGTERM')) {
          c.state.manuallyStopped = true;
          save(c);
        }
        await signal(c, n);
        publish(c, 'kill', { signal: String(n) });
        if (n === signalNumber('SIGKILL')) await waitDone(c.id, 10_000);
      });
    },

    async restart(ref, o = {}) {
      const c = lookup(ref);
      return withLock(c.id, async () => {
        if (live.has(c.id) || c.state.status === 'restarting')
          await doStop(c, o.timeout, o.signal).catch((err) => {
            if (!isEngineError(err, 'NotModified')) throw err;
          });
        await doStart(c, false);
        publish(c, 'restart');
      });
    },

    async pause(ref) {
      const c = lookup(ref);
      return withLock(c.id, async () => {
        if (c.state.status === 'paused') throw conflict(`Container ${c.id} is already paused`);
        if (c.state.status !== 'running') throw conflict(`Container ${c.id} is not running`);
        await runtime.pause(c.id);
        setStatus(c, 'paused');
        save(c);
        publish(c, 'pause');
      });
    },

    async unpause(ref) {
      const c = lookup(ref);
      return withLock(c.id, async () => {
        if (c.state.status !== 'paused') throw conflict(`Container ${c.id} is not paused`);
        await runtime.resume(c.id);
        setStatus(c, 'running');
        save(c);
        publish(c, 'unpause');
      });
    },

    async wait(ref, condition = 'not-running', signal) {
      const c = lookup(ref);
      if (condition === 'not-running' && !live.has(c.id) && c.state.status !== 'restarting') {
        return Promise.resolve({ exitCode: c.state.exitCode, error: c.state.error || undefined });
      }
      return new Promise((resolve, reject) => {
        const list = waiters.get(c.id) ?? [];
        const w = { cond: condition, resolve, reject };
        list.push(w);
        waiters.set(c.id, list);
        signal?.addEventListener('abort', () => {
          const l = waiters.get(c.id);
          if (l && l.includes(w)) l.splice(l.indexOf(w), 1);
          if (l && !l.length) waiters.delete(c.id);
        });
      });
    },

    async remove(ref, o = {}) {
      const c = lookup(ref);
      return withLock(c.id, () => doRemove(c, !!o.force, !!o.volumes));
    },

    async connectNetwork(ref, network, cfg) {
      const c = lookup(ref);
      if (!opts.network) throw notImplemented('networking is not available');
      const n = opts.network.get(network);
      const mode = c.hostConfig.networkMode || 'default';
      if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
        throw forbidden(
          'container sharing network namespace with another container or host cannot be connected to any other network',
        );
      }
      const primary = mode === 'default' ? 'bridge' : mode;
      const known = Object.keys(c.networks)
        .concat(primary)
        .some((k) => {
          try {
            return opts.network!.get(k).id === n.id;
          } catch {
            return false;
          }
        });
      if (known) throw forbidden(`endpoint with name ${c.name} already exists in network ${n.name}`);
      await withLock(c.id, async () => {
        if (c.state.status === 'running' || c.state.status === 'paused') await opts.network!.connect(n.name, c.id, cfg);
        c.networks[n.name] = cfg;
        save(c);
      });
    },

    async disconnectNetwork(ref, network) {
      const c = lookup(ref);
      if (!opts.network) throw notImplemented('networking is not available');
      const n = opts.network.get(network);
      const key = Object.keys(c.networks).find((k) => {
        try {
          return opts.network!.get(k).id === n.id;
        } catch {
          return false;
        }
      });
      const mode = c.hostConfig.networkMode || 'default';
      const primary = opts.network.get(mode === 'default' ? 'bridge' : mode);
      if (primary.id === n.id)
        throw forbidden(
          `container ${c.name} cannot be disconnected from its primary network ${n.name} in Berth; use docker network connect to add others`,
        );
      if (!key) throw forbidden(`container ${c.id} is not connected to network ${n.name}`);
      await withLock(c.id, async () => {
        if (c.state.status === 'running' || c.state.status === 'paused')
          await opts.network!.disconnect(n.name, c.id).catch(() => {});
        delete c.networks[key];
        save(c);
      });
    },

    async rename(ref, newName) {
      const c = lookup(ref);
      const name = validateName(newName);
      if (name === c.name) throw invalidParameter('Renaming a container with the same name as its current name');
      if (names.has(name)) {
        throw conflict(
          `Conflict. The container name "/${name}" is already in use by container "${names.get(name)}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      }
      const old = c.name;
      names.delete(old);
      names.set(name, c.id);
      c.name = name;
      save(c);
      publish(c, 'rename', { oldName: `/${old}` });
    },

    async update(ref, u) {
      const c = lookup(ref);
      return withLock(c.id, async () => {
        if (u.restartPolicy && u.restartPolicy.name !== undefined) {
          let p: RestartPolicy;
          try {
            p = parseRestartPolicy(u.restartPolicy);
          } catch (err: any) {
            throw invalidParameter(err.message);
          }
          if (c.hostConfig.autoRemove && !['', 'no'].includes(p.name))
            throw invalidParameter('Restart policy cannot be updated because AutoRemove is enabled for the container');
          c.hostConfig.restartPolicy = p;
        }
        const r = Object.fromEntries(
          Object.entries(u.resources ?? {}).filter(([, v]) => v !== undefined && v !== null && v !== 0 && v !== ''),
        ) as Resources;
        if (r.memory !== undefined && r.memory < 6 * 1024 * 1024)
          throw invalidParameter('Minimum memory limit allowed is 6MB');
        const merged = { ...c.hostConfig.resources, ...r };
        if (live.has(c.id) && Object.keys(r).length) {
          const args: string[] = [];
          if (r.memory)
            args.push(
              '--memory',
              String(r.memory),
              '--memory-swap',
              String(merged.memorySwap && merged.memorySwap > 0 ? merged.memorySwap : r.memory * 2),
            );
          if (r.memoryReservation) args.push('--memory-reservation', String(r.memoryReservation));
          if (r.cpuShares) args.push('--cpu-shares', String(r.cpuShares));
          if (r.nanoCpus) args.push('--cpu-period', '100000', '--cpu-quota', String(Math.round(r.nanoCpus / 1e4)));
          if (r.cpuQuota) args.push('--cpu-quota', String(r.cpuQuota));
          if (r.cpuPeriod) args.push('--cpu-period', String(r.cpuPeriod));
          if (r.cpusetCpus) args.push('--cpuset-cpus', r.cpusetCpus);
          if (r.cpusetMems) args.push('--cpuset-mems', r.cpusetMems);
          if (r.pidsLimit) args.push('--pids-limit', String(r.pidsLimit));
          if (r.blkioWeight) args.push('--blkio-weight', String(r.blkioWeight));
          if (args.length)
            await runtime.update(c.id, args).catch((err) => {
              throw system(`Cannot update container ${c.id}: ${err.message}`);
            });
        }
        c.hostConfig.resources = merged;
        save(c);
        publish(c, 'update');
        return [];
      });
    },

    async top(ref, psArgs = '-ef') {
      const c = lookup(ref);
      if (!live.has(c.id) || (c.state.status !== 'running' && c.state.status !== 'paused'))
        throw conflict(`Container ${c.id} is not running`);
      const pids = new Set(await runtime.pids(c.id));
      const args = psArgs.split(/\s+/).filter(Boolean);
      const out = await new Promise<string>((resolve, reject) =>
        execFile('ps', args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
          err ? reject(system(`Error running ps: ${stderr || err.message}`)) : resolve(stdout),
        ),
      );
      const lines = out.split('\n').filter((l) => l.trim());
      const titles = lines[0].trim().split(/\s+/);
      const pidCol = titles.indexOf('PID');
      if (pidCol < 0) throw invalidParameter(`Couldn't find PID field in ps output`);
      const processes = lines
        .slice(1)
        .map((l) => {
          const f = l.trim().split(/\s+/);
          return [...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')];
        })
        .filter((f) => pids.has(Number(f[pidCol])));
      return { titles, processes };
    },

    async stats(ref) {
      const c = lookup(ref);
      if (!live.has(c.id)) return undefined;
      const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
      const cg = (ctl: string, file: string) => path.join(runtime.cgroupDir(c.id, ctl), file);
      if (v2) {
        const cpu = readKv(cg('', 'cpu.stat'));
        const mem = readKv(cg('', 'memory.stat'));
        const max = fs.existsSync(cg('', 'memory.max')) ? fs.readFileSync(cg('', 'memory.max'), 'utf8').trim() : 'max';
        const pidsMax = fs.existsSync(cg('', 'pids.max')) ? fs.readFileSync(cg('', 'pids.max'), 'utf8').trim() : 'max';
        return {
          read: nowRfc3339Nano(),
          cpu: {
            total: (cpu.usage_usec ?? 0) * 1000,
            perCpu: [],
            user: (cpu.user_usec ?? 0) * 1000,
            system: (cpu.system_usec ?? 0) * 1000,
            systemUsage: systemUsage(),
            onlineCpus: os.cpus().length,
            throttling: {
              periods: cpu.nr_periods ?? 0,
              throttledPeriods: cpu.nr_throttled ?? 0,
              throttledTime: (cpu.throttled_usec ?? 0) * 1000,
            },
          },
          memory: {
            usage: readNum(cg('', 'memory.current')),
            maxUsage: 0,
            limit: max === 'max' ? os.totalmem() : Number(max),
            failcnt: 0,
            stats: mem,
          },
          pids: { current: readNum(cg('', 'pids.current')), limit: pidsMax === 'max' ? 0 : Number(pidsMax) },
          blkio: [],
        };
      }
      const perCpu = (() => {
        try {
          return fs.readFileSync(cg('cpuacct', 'cpuacct.usage_percpu'), 'utf8').trim().split(/\s+/).map(Number);
        } catch {
          return [];
        }
      })();
      const acct = readKv(cg('cpuacct', 'cpuacct.stat'));
      const throttle = readKv(cg('cpu', 'cpu.stat'));
      const limit = readNum(cg('memory', 'memory.limit_in_bytes'));
      const pidsMax = (() => {
        try {
          return fs.readFileSync(cg('pids', 'pids.max'), 'utf8').trim();
        } catch {
          return 'max';
        }
      })();
      const blkio: StatsSample['blkio'] = [];
      try {
        for (const l of fs.readFileSync(cg('blkio', 'blkio.throttle.io_service_bytes'), 'utf8').split('\n')) {
          const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(l.trim());
          if (m) blkio.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3], value: Number(m[4]) });
        }
      } catch {
        /* no blkio */
      }
      return {
        read: nowRfc3339Nano(),
        cpu: {
          total: readNum(cg('cpuacct', 'cpuacct.usage')),
          perCpu,
          user: (acct.user ?? 0) * 1e7,
          system: (acct.system ?? 0) * 1e7,
          systemUsage: systemUsage(),
          onlineCpus: os.cpus().length,
          throttling: {
            periods: throttle.nr_periods ?? 0,
            throttledPeriods: throttle.nr_throttled ?? 0,
            throttledTime: throttle.throttled_time ?? 0,
          },
        },
        memory: {
          usage: readNum(cg('memory', 'memory.usage_in_bytes')),
          maxUsage: readNum(cg('memory', 'memory.max_usage_in_bytes')),
          limit: Math.min(limit, os.totalmem()),
          failcnt: readNum(cg('memory', 'memory.failcnt')),
          stats: readKv(cg('memory', 'memory.stat')),
        },
        pids: { current: readNum(cg('pids', 'pids.current')), limit: pidsMax === 'max' ? 0 : Number(pidsMax) },
        blkio,
      };
    },

    async changes(ref) {
      const c = lookup(ref);
      const upper = path.join(dirOf(c.id), 'upper');
      const out: { path: string; kind: 0 | 1 | 2 }[] = [];
      const walk = (rel: string) => {
        let entries: fs.Dirent[];
        try {
          entries = fs.readdirSync(path.join(upper, rel), { withFileTypes: true });
        } catch {
          return;
        }
        for (const e of entries) {
          const r = path.posix.join(rel, e.name);
          const st = fs.lstatSync(path.join(upper, r));
          if (st.isCharacterDevice() && st.rdev === 0) {
            out.push({ path: '/' + r, kind: 2 });
            continue;
          }
          const inLower = existsInLayers(c.layerDirs, r);
          out.push({ path: '/' + r, kind: inLower ? 0 : 1 });
          if (e.isDirectory()) walk(r);
        }
      };
      walk('');
      return out.sort((a, b) => a.path.localeCompare(b.path));
    },

    async export(ref) {
      const c = lookup(ref);
      // Held like a copy (./archive.ts): a stopped container's temporary mount is shared and reference-counted,
      // so an export racing `docker cp` or a start never sees the root unmounted under it.
      const held = await fsAccess.open(c, ref);
      const tar = spawn('tar', ['--numeric-owner', '--xattrs', '-cf', '-', '-C', rootfsOf(c.id), '.'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const done = new Promise<void>((resolve) => tar.once('close', () => resolve())).then(() => held.release());
      return { stream: tar.stdout!, done };
    },

    openFs: (ref) => fsAccess.open(lookup(ref), ref),

    async prune(match) {
      const deleted: string[] = [];
      let reclaimed = 0;
      for (const c of [...records.values()]) {
        if (live.has(c.id) || !['created', 'exited', 'dead'].includes(c.state.status) || !match(c)) continue;
        const size = apparentSize(path.join(dirOf(c.id), 'upper'));
        try {
          await withLock(c.id, () => doRemove(c, false));
          deleted.push(c.id);
          reclaimed += size;
        } catch (err: any) {
          log.warn('prune could not remove container', { id: c.id, error: err.message });
        }
      }
      if (deleted.length) opts.events.publish('container', 'prune', '', { reclaimed: String(reclaimed) });
      return { deleted, reclaimed };
    },

    async logs(ref, o, sink, abort) {
      const c = lookup(ref);
      const type = c.hostConfig.logConfig.type || opts.logDefaults().type;
      if (type === 'none') throw notImplementedLogs(type);
      const stopped = live.has(c.id) || c.state.status === 'restarting' ? nextExit(c.id) : Promise.resolve();
      await readLogs(c.logPath, o, sink, { raw: c.config.tty, stopped, signal: abort });
    },

    async attachOutput(ref, o, sink, abort) {
      const c = lookup(ref);
      const stopped = nextExit(c.id);
      if (!o.stream) {
        if (o.logs)
          await readLogs(c.logPath, { stdout: o.stdout, stderr: o.stderr, timestamps: false, follow: false }, sink, {
            raw: c.config.tty,
          });
        return;
      }
      await readLogs(
        c.logPath,
        { stdout: o.stdout, stderr: o.stderr, timestamps: false, follow: true, tail: o.logs ? undefined : 0 },
        sink,
        { raw: c.config.tty, stopped, signal: abort },
      );
    },

    async attach(ref, want, abort) {
      const c = lookup(ref);
      // The stream ends when the container's stdio closes; clients then ask for the exit code, so the stream
      // is held until the exit is recorded (bounded: a shim that dies keeps nobody waiting long).
      const untilRecorded = (s: ProcessSession | undefined): ProcessSession | undefined => {
        if (!s) return s;
        const exit = nextExit(c.id);
        return {
          ...s,
          done: s.done.then((v) => Promise.race([exit, new Promise((r) => setTimeout(r, 3000).unref())]).then(() => v)),
        };
      };
      if (live.has(c.id) && c.state.status !== 'restarting') return untilRecorded(await runtime.attach(c.id, want));
      return new Promise<ProcessSession | undefined>((outer) => {
        const resolve = (s: ProcessSession | undefined) => outer(untilRecorded(s));
        const entry = { want, resolve };
        let list = pendingAttaches.get(c.id);
        if (!list) pendingAttaches.set(c.id, (list = []));
        list.push(entry);
        abort?.addEventListener(
          'abort',
          () => {
            const l = pendingAttaches.get(c.id);
            if (l?.includes(entry)) l.splice(l.indexOf(entry), 1);
            resolve(undefined);
          },
          { once: true },
        );
      });
    },

    async resize(ref, rows, cols) {
      const c = lookup(ref);
      if (!live.has(c.id)) throw conflict(`Container ${c.id} is not running`);
      if (!c.config.tty) return; // Docker ignores resizes of a container without a TTY
      await runtime.resize(c.id, 'init', rows, cols);
    },

    createExec: (ref, cfg) => execs.create(ref, cfg),
    startExec: (id, detach) => execs.start(id, detach),
    inspectExec: (id) => execs.get(id),
    resizeExec: (id, rows, cols) => execs.resize(id, rows, cols),

    sizeRw: (id) => apparentSize(path.join(dirOf(id), 'upper')),

    counts() {
      let running = 0;
      let paused = 0;
      for (const c of records.values()) {
        if (c.state.status === 'paused') paused++;
        else if (c.state.status === 'running' || c.state.status === 'restarting') running++;
      }
      return { containers: records.size, running, paused, stopped: records.size - running - paused };
    },

    sizeRootFs(id, sizeRw = svc.sizeRw(id)) {
      return (records.get(id)?.layerDirs ?? []).reduce((a, d) => a + apparentSize(d), sizeRw);
    },

    async shutdown(liveRestore) {
      shuttingDown = true;
      for (const t of restartTimers.values()) clearTimeout(t.timer);
      restartTimers.clear();
      if (liveRestore) {
        handedOver = true;
        return;
      }
      await Promise.all(
        [...live.keys()].map((id) => {
          const c = records.get(id)!;
          return withLock(id, () => doStop(c, undefined))
            .then(() => {
              c.state.manuallyStopped = false;
              save(c);
            })
            .catch(() => {});
        }),
      );
    },
  };
  return svc;
}

function notImplementedLogs(type: string) {
  return conflict(`configured logging driver does not support reading: ${type}`);
}
