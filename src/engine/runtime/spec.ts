// OCI runtime spec generation: a pure function from what the container asks for (already resolved: args,
// user ids, host limits) to runc's config.json. Docker's defaults live here: capabilities, masked and read-only
// paths, the /proc /dev /sys mounts, device rules, seccomp, rlimits, cgroup resources.
import { invalidParameter } from '../errdefs';
import { type CgroupnsMode, defaultCgroupnsMode, type Platform, usableControllers, V1_CGROUPFS } from './platform';
import { DEFAULT_SECCOMP_PROFILE, decodeSeccompProfile, type SeccompProfile, seccompFor } from './seccomp';
import { parseSecurityOpt } from './securityopt';
import type { ContainerLabels } from './selinux';
import type { ProcessUser } from './user';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Every capability Linux knows, in bit order (index = capability number, as in CapBnd of /proc/<pid>/status). */
export const ALL_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** The capabilities in a /proc/<pid>/status mask ("000001ffffffffff"). */
export function capabilitiesOfMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

export const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface Ulimit {
  name: string;
  soft: number;
  hard: number;
}

export interface SpecInput {
  rootfs: string;
  readonlyRootfs?: boolean;
  args: string[];
  /** The container's Config.Env (image env merged with the request's). */
  env: string[];
  cwd: string;
  user: ProcessUser;
  hostname: string;
  domainname?: string;
  tty?: boolean;
  /** 'private': a new network namespace with only `lo` (Docker's none); 'host': the host's; 'path': join netnsPath. */
  network: { mode: 'private' | 'host' | 'path'; netnsPath?: string };
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  resources?: {
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
  };
  /** Files and directories bind-mounted in (hosts, hostname, resolv.conf; volumes later). */
  mounts?: Mount[];
  tmpfs?: Record<string, string>;
  shmSize?: number;
  ulimits?: Ulimit[];
  /** The host's hard RLIMIT_NOFILE: a container never asks for more (runc would fail). */
  hostNofileHard: number;
  /** What this engine can grant (its bounding set): "all capabilities" (privileged, --cap-add ALL) means these.
   * Some hosts lack one (this project's CI VM has no CAP_SYS_RESOURCE) and runc cannot give what it lacks. */
  hostCapabilities?: string[];
  /** From platform.ts cgroupsPath(): the driver decides its form; none leaves the container in the engine's cgroup. */
  cgroupsPath: string | undefined;
  /** The host below the API (cgroup version and driver, runtime, SELinux, rootless); default: V1_CGROUPFS. */
  platform?: Platform;
  /** HostConfig.CgroupnsMode; default: the platform's (private on cgroup v2, host on v1). */
  cgroupns?: CgroupnsMode;
  /** SELinux labels of the container (selinux.ts containerLabels); none when absent or empty. */
  labels?: ContainerLabels;
  /** --pid: a new namespace (absent), the host's, or another container's (its /proc/<pid>/ns/pid). */
  pid?: SharedNamespace;
  /** --ipc: as pid, 'none' for no /dev/shm at all, `shm`: a host directory bound as /dev/shm (shareable, a donor's). */
  ipc?: SharedNamespace | { mode: 'none' } | { mode: 'private'; shm: string };
  /** --uts host: the host's UTS namespace, whose hostname the container keeps. */
  utsHost?: boolean;
  /** --init: the host path of the init binary, bind-mounted read-only at /sbin/docker-init and run as PID 1. */
  init?: string;
  /** --device-cgroup-rule, as given ("c 42:* rmw"); checked by parseDeviceCgroupRule. */
  deviceCgroupRules?: string[];
  sysctls?: Record<string, string>;
  oomScoreAdj?: number;
  readonlyPaths?: string[];
  maskedPaths?: string[];
  arch?: string;
  /** HostConfig.SecurityOpt as given (securityopt.ts): seccomp=, no-new-privileges, systempaths, writable-cgroups. */
  securityOpt?: string[];
  /** daemon.json's seccomp-profile and no-new-privileges as SecurityOpt strings (daemonSecurityOpt): the defaults
   * the container's own change. Unlike the container's own profile, the daemon's never applies when privileged. */
  daemonSecurityOpt?: string[];
  /** The host kernel's release, for a seccomp profile's minKernel rules; default: none (0.0). */
  kernel?: string;
}

/** A namespace of the container that is not its own: the host's, or one joined by path (with its /dev/shm, for ipc). */
export type SharedNamespace = { mode: 'host' } | { mode: 'path'; path: string; shm?: string };

/** Where Docker puts --init's binary inside the container (tools look for it there). */
export const INIT_IN_CONTAINER = '/sbin/docker-init';

/** A --device-cgroup-rule ("c 42:* rmw", "a *:* rwm") as the OCI device rule; Docker's text when malformed. */
export function parseDeviceCgroupRule(rule: string): Record<string, unknown> {
  const m = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/.exec(rule);
  if (!m) throw invalidParameter(`invalid device cgroup rule format: '${rule}'`);
  return {
    allow: true,
    type: m[1],
    ...(m[2] === '*' ? {} : { major: Number(m[2]) }),
    ...(m[3] === '*' ? {} : { minor: Number(m[3]) }),
    access: m[4],
  };
}

/** Docker's CapAdd/CapDrop: names with or without the CAP_ prefix, any case, and "ALL" (= `all`). */
export function capabilities(
  base: string[],
  add: string[] = [],
  drop: string[] = [],
  all: string[] = ALL_CAPABILITIES,
): string[] {
  const norm = (c: string) => {
    const u = c.toUpperCase();
    if (u === 'ALL') return u;
    const name = u.startsWith('CAP_') ? u : `CAP_${u}`;
    if (!ALL_CAPABILITIES.includes(name)) throw invalidParameter(`unknown capability: "${c}"`);
    return name;
  };
  const adds = add.map(norm);
  const drops = drop.map(norm);
  let caps = adds.includes('ALL') ? [...all] : [...base];
  if (drops.includes('ALL')) caps = [];
  for (const c of adds) if (c !== 'ALL' && !caps.includes(c)) caps.push(c);
  return caps.filter((c) => !drops.includes(c) || adds.includes(c));
}

/** Replaces or appends KEY=value entries, as Docker's ReplaceOrAppendEnvValues. */
export function mergeEnv(base: string[], overrides: string[]): string[] {
  const out = [...base];
  const index = new Map(out.map((e, i) => [e.split('=')[0], i]));
  for (const e of overrides) {
    const k = e.split('=')[0];
    const i = index.get(k);
    if (i === undefined) {
      index.set(k, out.length);
      out.push(e);
    } else out[i] = e;
  }
  return out;
}

/** "64m", "1g", "100" (bytes) → bytes, for tmpfs size options and log-opts. */
export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(s.trim());
  if (!m) throw invalidParameter(`invalid size: '${s}'`);
  const mult: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  return Math.floor(Number(m[1]) * mult[m[2].toLowerCase()]);
}

const RLIMITS: Record<string, string> = {
  core: 'RLIMIT_CORE',
  cpu: 'RLIMIT_CPU',
  data: 'RLIMIT_DATA',
  fsize: 'RLIMIT_FSIZE',
  locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK',
  msgqueue: 'RLIMIT_MSGQUEUE',
  nice: 'RLIMIT_NICE',
  nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC',
  rss: 'RLIMIT_RSS',
  rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING',
  stack: 'RLIMIT_STACK',
  as: 'RLIMIT_AS',
};

function grantable(host?: string[]): string[] {
  return host ? ALL_CAPABILITIES.filter((c) => host.includes(c)) : [...ALL_CAPABILITIES];
}

/** Supplementary groups the namespace can hold: none beyond root's own with a single mapped id. */
function supplementary(p: Platform, gids: number[]): number[] | undefined {
  const usable = p.rootless?.singleId ? [] : gids;
  return usable.length ? usable : undefined;
}

export function buildSpec(input: SpecInput): Record<string, any> {
  const platform = input.platform ?? V1_CGROUPFS;
  if (platform.rootless?.singleId && (input.user.uid !== 0 || input.user.gid !== 0))
    throw invalidParameter(
      `cannot run as ${input.user.uid}:${input.user.gid}: this rootless engine maps only root (the user has no ` +
        'subordinate ids in /etc/subuid and /etc/subgid; docker info says how to add them)',
    );
  const privileged = !!input.privileged;
  const security = parseSecurityOpt([...(input.daemonSecurityOpt ?? []), ...(input.securityOpt ?? [])]);
  const all = grantable(input.hostCapabilities);
  const caps = privileged ? all : capabilities(DEFAULT_CAPABILITIES, input.capAdd, input.capDrop, all);

  let env = [`PATH=${DEFAULT_PATH}`, `HOSTNAME=${input.hostname}`];
  if (input.tty) env.push('TERM=xterm');
  env = mergeEnv(env, input.env);
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${input.user.home || '/'}`);

  // Docker's containers get a high open-files limit; never above what this host allows (runc fails otherwise).
  const nofile = Math.min(1048576, input.hostNofileHard);
  const rlimits = new Map<string, { type: string; soft: number; hard: number }>([
    ['nofile', { type: 'RLIMIT_NOFILE', soft: nofile, hard: nofile }],
  ]);
  for (const u of input.ulimits ?? []) {
    const type = RLIMITS[u.name];
    if (!type) throw invalidParameter(`invalid ulimit type: ${u.name}`);
    const cap = (v: number) => (u.name === 'nofile' && v > input.hostNofileHard ? input.hostNofileHard : v);
    rlimits.set(u.name, { type, soft: cap(u.soft), hard: cap(u.hard) });
  }

  const shm = input.shmSize && input.shmSize > 0 ? input.shmSize : 64 * 1024 * 1024;
  const mounts: Mount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      // gid 5 (tty) exists only where the user namespace maps it: not for a rootless engine with a single id.
      options: [
        'nosuid',
        'noexec',
        'newinstance',
        'ptmxmode=0666',
        'mode=0620',
        ...(platform.rootless?.singleId ? [] : ['gid=5']),
      ],
    },
    {
      destination: '/sys',
      type: 'sysfs',
      source: 'sysfs',
      options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'],
    },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged || security.writableCgroups ? 'rw' : 'ro'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${shm}`],
    },
  ];
  for (const [dest, opts] of Object.entries(input.tmpfs ?? {})) {
    if (!dest.startsWith('/')) throw invalidParameter(`invalid mount path: '${dest}' mount path must be absolute`);
    const options = ['nosuid', 'nodev', 'noexec', ...(opts ? opts.split(',').filter(Boolean) : [])];
    const at = mounts.findIndex((m) => m.destination === dest);
    if (at >= 0) mounts.splice(at, 1);
    mounts.push({ destination: dest, type: 'tmpfs', source: 'tmpfs', options });
  }
  for (const m of input.mounts ?? []) {
    const at = mounts.findIndex((x) => x.destination === m.destination);
    if (at >= 0) mounts.splice(at, 1);
    mounts.push(m);
  }

  // Shared namespaces as Docker sets them up: none of its own for the host's, a path for another container's.
  const namespaces: { type: string; path?: string }[] = [];
  const own = (type: string, ns: SpecInput['ipc']) => {
    if (ns?.mode === 'host') return;
    namespaces.push(ns?.mode === 'path' ? { type, path: ns.path } : { type });
  };
  own('pid', input.pid);
  own('ipc', input.ipc);
  if (!input.utsHost) namespaces.push({ type: 'uts' });
  namespaces.push({ type: 'mount' });
  // /dev/shm: the host's (ipc host) or the donor's (ipc container:) bound in; none at all with ipc none.
  const shmAt = mounts.findIndex((m) => m.destination === '/dev/shm' && m.source === 'shm');
  const ipc = input.ipc;
  if (shmAt >= 0 && ipc?.mode === 'none') mounts.splice(shmAt, 1);
  else if (shmAt >= 0 && ipc && ipc.mode !== 'none') {
    const source = ipc.mode === 'host' ? '/dev/shm' : ipc.shm;
    if (source) mounts[shmAt] = { destination: '/dev/shm', type: 'bind', source, options: ['rbind', 'rprivate'] };
  }
  if (input.init)
    mounts.push({ destination: INIT_IN_CONTAINER, type: 'bind', source: input.init, options: ['bind', 'ro'] });
  if ((input.cgroupns ?? defaultCgroupnsMode(platform)) === 'private') namespaces.push({ type: 'cgroup' });
  if (input.network.mode === 'private') namespaces.push({ type: 'network' });
  else if (input.network.mode === 'path') namespaces.push({ type: 'network', path: input.network.netnsPath });
  // With the host's network there is no network namespace; the UTS namespace still holds the hostname.

  const r = input.resources ?? {};
  const resources: Record<string, any> = {
    devices: privileged
      ? [{ allow: true, access: 'rwm' }]
      : [
          { allow: false, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
          { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
          { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
          { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
          { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
          { allow: true, type: 'c', major: 136, access: 'rwm' },
          { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
          { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
          ...(input.deviceCgroupRules ?? []).map(parseDeviceCgroupRule),
        ],
  };
  if (r.memory || r.memoryReservation || r.memorySwap) {
    resources.memory = {};
    if (r.memory) resources.memory.limit = r.memory;
    if (r.memoryReservation) resources.memory.reservation = r.memoryReservation;
    // Docker: swap defaults to twice the memory limit; -1 is unlimited.
    if (r.memory && r.memorySwap !== undefined && r.memorySwap !== 0) resources.memory.swap = r.memorySwap;
    else if (r.memory) resources.memory.swap = r.memory * 2;
  }
  const cpu: Record<string, any> = {};
  if (r.cpuShares) cpu.shares = r.cpuShares;
  if (r.nanoCpus) {
    cpu.period = 100000;
    cpu.quota = Math.round((r.nanoCpus * 100000) / 1e9);
  } else {
    if (r.cpuQuota) cpu.quota = r.cpuQuota;
    if (r.cpuPeriod) cpu.period = r.cpuPeriod;
  }
  if (r.cpusetCpus) cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems) cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length) resources.cpu = cpu;
  if (r.pidsLimit && r.pidsLimit > 0) resources.pids = { limit: r.pidsLimit };
  if (r.blkioWeight) resources.blockIO = { weight: r.blkioWeight };
  // Rootless: limits on controllers not delegated to the user cannot be set (runc would fail): dropped, as Docker.
  const usable = usableControllers(platform);
  if (usable) {
    if (!usable.has('memory')) delete resources.memory;
    if (!usable.has('pids')) delete resources.pids;
    if (!usable.has('io')) delete resources.blockIO;
    const cpuKeys = usable.has('cpu') ? [] : ['shares', 'quota', 'period'];
    if (!usable.has('cpuset')) cpuKeys.push('cpus', 'mems');
    for (const k of cpuKeys) delete resources.cpu?.[k];
    if (resources.cpu && !Object.keys(resources.cpu).length) delete resources.cpu;
  }

  // moby's WithSeccomp: none when unconfined; the container's own profile, else the daemon's, else the default. A
  // privileged container has none unless it names one itself (Docker 27, moby#47500; moby would try to decode the
  // word "builtin" there and fail the start — here it is the default profile that was asked for).
  const requested = privileged ? parseSecurityOpt(input.securityOpt).seccomp : security.seccomp;
  let seccomp: SeccompProfile | undefined;
  if (requested !== 'unconfined' && !(privileged && !requested)) {
    const custom = requested && requested !== 'builtin';
    const profile = custom ? decodeSeccompProfile(requested) : DEFAULT_SECCOMP_PROFILE;
    seccomp = seccompFor(profile, {
      capabilities: caps,
      arch: input.arch ?? process.arch,
      kernel: input.kernel ?? '0.0',
    });
  }
  const systemPaths = privileged || security.unconfinedSystemPaths;

  return {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: !!input.tty,
      user: {
        uid: input.user.uid,
        gid: input.user.gid,
        additionalGids: supplementary(platform, input.user.additionalGids),
      },
      // --init: the init runs the command (tini's `--` ends its own options), as Docker's docker-init does.
      args: input.init ? [INIT_IN_CONTAINER, '--', ...input.args] : input.args,
      env,
      cwd: input.cwd || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: caps },
      rlimits: [...rlimits.values()],
      noNewPrivileges: security.noNewPrivileges,
      oomScoreAdj: input.oomScoreAdj || undefined,
      selinuxLabel: input.labels?.process || undefined,
    },
    root: { path: input.rootfs, readonly: !!input.readonlyRootfs },
    // In the host's UTS namespace runc may not set a hostname (the host's stays, as with Docker's --uts host).
    hostname: input.utsHost ? undefined : input.hostname,
    domainname: input.utsHost ? undefined : input.domainname || undefined,
    mounts,
    linux: {
      sysctl: input.sysctls && Object.keys(input.sysctls).length ? input.sysctls : undefined,
      resources,
      cgroupsPath: input.cgroupsPath,
      namespaces,
      mountLabel: input.labels?.mount || undefined,
      seccomp,
      // HostConfig's lists, when given, win even over privileged (moby applies them last).
      maskedPaths: security.unconfinedSystemPaths ? [] : (input.maskedPaths ?? (systemPaths ? [] : MASKED_PATHS)),
      readonlyPaths: security.unconfinedSystemPaths ? [] : (input.readonlyPaths ?? (systemPaths ? [] : READONLY_PATHS)),
    },
  };
}

export interface ExecInput {
  args: string[];
  /** The exec's own Env, on top of the container's process env. */
  env?: string[];
  /** Empty: the container's working directory. */
  cwd?: string;
  /** Resolved from the exec's User; undefined: the container's user. */
  user?: ProcessUser;
  tty: boolean;
  privileged: boolean;
  /** As SpecInput.hostCapabilities: what a privileged exec gets. */
  hostCapabilities?: string[];
  /** With a TTY: its size from the start (exec start's ConsoleSize), as Docker 23+ gives it. */
  consoleSize?: { rows: number; cols: number };
}

/** The OCI process for `runc exec`: the container's process (caps, rlimits, env) with the exec's changes, as Docker does. */
export function buildExecProcess(containerProcess: Record<string, any>, input: ExecInput): Record<string, any> {
  if (!input.args.length) throw invalidParameter('No exec command specified');
  let env: string[] = [...(containerProcess.env ?? [])];
  if (input.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
  env = mergeEnv(env, input.env ?? []);
  const user = input.user
    ? {
        uid: input.user.uid,
        gid: input.user.gid,
        additionalGids: input.user.additionalGids.length ? input.user.additionalGids : undefined,
      }
    : containerProcess.user;
  if (input.user?.home) env = mergeEnv(env, [`HOME=${input.user.home}`]);
  const all = grantable(input.hostCapabilities);
  const caps = input.privileged
    ? { bounding: all, effective: all, permitted: all, inheritable: all }
    : containerProcess.capabilities;
  return {
    ...containerProcess,
    terminal: input.tty,
    args: input.args,
    env,
    cwd: input.cwd || containerProcess.cwd || '/',
    user,
    capabilities: caps,
    // Never the container's own (run -it's): the exec's, or none.
    consoleSize:
      input.tty && input.consoleSize ? { height: input.consoleSize.rows, width: input.consoleSize.cols } : undefined,
  };
}
