// The container lifecycle as an explicit state machine, restart policies with Docker's backoff, and the record
// that is persisted (atomically) per container.
import type { MountPoint, MountSpec } from '../volumes';
import { system } from '../errdefs';
import type { Link } from './links';

export type Status = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

const TRANSITIONS: Record<Status, Status[]> = {
  created: ['running', 'removing', 'exited'],
  running: ['paused', 'exited', 'restarting', 'removing'],
  paused: ['running', 'exited', 'removing'],
  restarting: ['running', 'exited', 'removing'],
  exited: ['running', 'restarting', 'removing'],
  removing: ['dead', 'exited'],
  dead: ['removing'],
};

export function canTransition(from: Status, to: Status): boolean {
  return from === to || TRANSITIONS[from].includes(to);
}

export function assertTransition(id: string, from: Status, to: Status): void {
  if (!canTransition(from, to)) throw system(`container ${id}: invalid state transition ${from} -> ${to}`);
}

export interface RestartPolicy {
  name: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure';
  maximumRetryCount: number;
}

export function parseRestartPolicy(p: { name?: string; maximumRetryCount?: number } | undefined): RestartPolicy {
  const name = (p?.name ?? '') as RestartPolicy['name'];
  if (!['', 'no', 'always', 'unless-stopped', 'on-failure'].includes(name)) {
    throw new Error(`invalid restart policy '${name}'`);
  }
  const max = p?.maximumRetryCount ?? 0;
  if (max < 0) throw new Error('invalid restart policy: maximum retry count cannot be negative');
  if (max > 0 && name !== 'on-failure')
    throw new Error(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  return { name, maximumRetryCount: max };
}

/** Docker's restartmanager: whether an exit should be followed by a restart. */
export function shouldRestart(
  policy: RestartPolicy,
  exitCode: number,
  manuallyStopped: boolean,
  restartCount: number,
): boolean {
  if (manuallyStopped) return false;
  switch (policy.name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return exitCode !== 0 && (policy.maximumRetryCount === 0 || restartCount < policy.maximumRetryCount);
    default:
      return false;
  }
}

const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 60_000;
const RESET_AFTER_MS = 10_000;

/** Docker's backoff: 100 ms doubling to one minute; reset when the container ran at least 10 s. */
export function nextBackoff(previousMs: number, ranForMs: number): number {
  if (ranForMs >= RESET_AFTER_MS || previousMs <= 0) return BACKOFF_START_MS;
  return Math.min(previousMs * 2, BACKOFF_MAX_MS);
}

export interface ContainerState {
  status: Status;
  pid: number;
  exitCode: number;
  error: string;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
  /** Set by stop/kill: policies `always`/`unless-stopped` then leave it down (until the engine restarts, for always). */
  manuallyStopped: boolean;
  restartCount: number;
  /** Present once a container with a healthcheck has started. */
  health?: HealthState;
}

/** A healthcheck as Docker configures it (durations in nanoseconds; zero means the default). */
export interface HealthConfig {
  /** [] inherit, ['NONE'] disabled, ['CMD', args…] or ['CMD-SHELL', command]. */
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export interface HealthcheckResult {
  start: string;
  end: string;
  exitCode: number;
  output: string;
}

/** State.Health: the last probes and what they made of the container. */
export interface HealthState {
  status: 'starting' | 'healthy' | 'unhealthy';
  failingStreak: number;
  log: HealthcheckResult[];
}

export interface ContainerConfig {
  hostname: string;
  domainname: string;
  user: string;
  env: string[];
  cmd: string[] | null;
  entrypoint: string[] | null;
  image: string;
  workingDir: string;
  labels: Record<string, string>;
  exposedPorts: string[];
  volumes: string[];
  tty: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  stopSignal?: string;
  stopTimeout?: number;
  /** The image's healthcheck merged with the request's (absent: none). */
  healthcheck?: HealthConfig;
  /** Config.MacAddress as given (API < 1.44 clients, docker-py): echoed back, applied to the primary network. */
  macAddress?: string;
}

export interface Resources {
  memory?: number;
  memorySwap?: number;
  memoryReservation?: number;
  nanoCpus?: number;
  cpuShares?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  pidsLimit?: number;
  blkioWeight?: number;
}

export interface HostConfig {
  restartPolicy: RestartPolicy;
  autoRemove: boolean;
  networkMode: string;
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
  readonlyRootfs: boolean;
  tmpfs: Record<string, string>;
  shmSize: number;
  ulimits: { name: string; soft: number; hard: number }[];
  logConfig: { type: string; config: Record<string, string> };
  resources: Resources;
  sysctls: Record<string, string>;
  groupAdd: string[];
  oomScoreAdj: number;
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  extraHosts: string[];
  /** Left as given for the volumes and networking issues (binds, mounts, port bindings, publish-all). */
  binds: string[];
  /** HostConfig.Mounts, VolumesFrom, VolumeDriver (volumes issue: src/engine/volumes/mounts.ts). */
  mounts?: MountSpec[];
  volumesFrom?: string[];
  volumeDriver?: string;
  portBindings: Record<string, { hostIp?: string; hostPort?: string }[] | null>;
  publishAllPorts: boolean;
  /** CgroupnsMode, resolved at create to the daemon's default when not asked (private on cgroup v2). */
  cgroupnsMode?: 'private' | 'host';
  /** Runtime: the OCI runtime's name, resolved at create to the daemon's default-runtime. */
  runtime?: string;
  /** SecurityOpt as given (label=…, seccomp=…, no-new-privileges …). */
  securityOpt?: string[];
  /** MaskedPaths / ReadonlyPaths as given (the docker CLI sends [] for --security-opt systempaths=unconfined);
   * absent: Docker's defaults. */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** PidMode: '' (its own), 'host' or 'container:<name|id>' (joined at start). */
  pidMode?: string;
  /** IpcMode, resolved at create to Docker's default ('private'): none, private, shareable, host, container:<ref>. */
  ipcMode?: string;
  /** UTSMode: '' or 'host'. */
  utsMode?: string;
  /** Init: tini as PID 1 (null/absent: not asked, inspect leaves it out). */
  init?: boolean | null;
  /** Isolation: only '' or 'default' on Linux, echoed back. */
  isolation?: string;
  /** DeviceCgroupRules as given ("c 42:* rmw"). */
  deviceCgroupRules?: string[];
  /** Links (./links.ts): on the default bridge the linked container's ID, resolved at create. */
  links?: Link[];
}

/** A container's settings on one network (EndpointsConfig / `docker network connect` options). */
export interface EndpointSettings {
  aliases?: string[];
  ipv4Address?: string;
  /** --link-local-ip: more addresses on the container's interface of this network. */
  linkLocalIps?: string[];
  /** --mac-address (EndpointsConfig's MacAddress, or Config.MacAddress of older clients on the primary network). */
  macAddress?: string;
}

export interface ContainerRecord {
  id: string;
  name: string;
  created: string;
  imageId: string;
  path: string;
  args: string[];
  config: ContainerConfig;
  hostConfig: HostConfig;
  state: ContainerState;
  /** Overlay lower dirs of the image at create time (topmost first). */
  layerDirs: string[];
  logPath: string;
  hostnamePath: string;
  hostsPath: string;
  resolvConfPath: string;
  /** SELinux labels given at create (runtime/selinux.ts); empty where SELinux is off or labels are disabled. */
  processLabel?: string;
  mountLabel?: string;
  /**
   * The networks the container joins when it starts, by name, with its settings on each (./networks.ts): the
   * primary (NetworkMode's) network unless it was disconnected, and those added with `docker network connect`.
   */
  networks: Record<string, EndpointSettings>;
  /** Set on records whose `networks` hold the primary network (older ones get it added once, at load). */
  networksIncludePrimary?: boolean;
  /** Resolved volumes, binds and tmpfs mounts (what inspect shows as Mounts). */
  mountPoints?: MountPoint[];
}

/**
 * Docker's exit code for a process the runtime could not start, as moby's setExitCodeFromError decides it — on the
 * lower-cased message, so crun's "No such file or directory" counts as runc's does: 126 not executable (EACCES,
 * EISDIR), 127 not found (or a bind mount of a file onto a directory), else `fallback`.
 */
export function startErrorExitCode(message: string, fallback: number): number {
  const m = message.toLowerCase();
  if (/permission denied|is a directory/.test(m)) return 126;
  if (
    /not a directory|executable file not found|no such file or directory|failed to run runc create\/exec call/.test(m)
  )
    return 127;
  return fallback;
}
