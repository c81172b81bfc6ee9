// The host the engine runs on: facts it reports in /info and /version (its data root's file system: storage.ts;
// its network switches: network.ts) and checks at start (runc).
import * as fs from 'node:fs';
import * as os from 'node:os';
import { execFileSync } from 'node:child_process';
import { invalidParameter } from '../errdefs';
import { chooseCgroupDriver, type Platform, type RuntimeChoice, selinux } from '../runtime';

export { dTypeRefusal, filesystemName, type StorageFacts, storageFacts, supportsDType } from './storage';
export { type NetworkFacts, networkFacts, networkWarnings } from './network';
export {
  containerPolicyInstalled,
  fileContext,
  osReleaseText,
  type PackageFamily,
  packageFamily,
  type PreflightFacts,
  preflightWarnings,
  runtimeGlibc,
  selinuxEnforcing,
} from './preflight';

export function cgroupVersion(): '1' | '2' {
  return fs.existsSync('/sys/fs/cgroup/cgroup.controllers') ? '2' : '1';
}

export function operatingSystem(): { name: string; version: string } {
  try {
    const text = fs.readFileSync('/etc/os-release', 'utf8');
    const get = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?`, 'm').exec(text)?.[1] ?? '';
    return { name: get('PRETTY_NAME') || 'Linux', version: get('VERSION_ID') };
  } catch {
    return { name: 'Linux', version: '' };
  }
}

let runcCache: { version: string; commit: string; path: string } | null | undefined;

/** runc's version, or undefined when it is not installed. */
export function runcInfo(): { version: string; commit: string; path: string } | undefined {
  if (runcCache !== undefined) return runcCache ?? undefined;
  const candidates = [process.env.BERTH_RUNC, 'runc', '/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc'].filter(
    Boolean,
  ) as string[];
  for (const bin of candidates) {
    try {
      const out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const version = /runc version (\S+)/.exec(out)?.[1] ?? 'unknown';
      const commit = /commit: (\S+)/.exec(out)?.[1] ?? '';
      const path = bin.includes('/')
        ? bin
        : execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim();
      runcCache = { version, commit, path };
      return runcCache;
    } catch {
      /* try the next */
    }
  }
  runcCache = null;
  return undefined;
}

export const RUNC_INSTALL_HINT =
  'runc was not found. Install it with: apt-get install runc (Debian/Ubuntu), dnf install runc (Fedora/RHEL 8+), or yum install runc (CentOS 7)';

export function hostFacts() {
  return {
    kernelVersion: os.release(),
    ncpu: os.cpus().length,
    memTotal: os.totalmem(),
    hostname: os.hostname(),
    os: operatingSystem(),
    arch: os.machine?.() ?? 'x86_64',
    cgroupVersion: cgroupVersion(),
  };
}

/** Whether the host booted with systemd (it owns the cgroup tree then), as go-systemd's IsRunningSystemd. */
export function systemdRunning(root = '/run/systemd/system'): boolean {
  try {
    return fs.lstatSync(root).isDirectory();
  } catch {
    return false;
  }
}

/** The first executable among `names` in the usual places (PATH first). */
export function findBinary(...names: string[]): string | undefined {
  const dirs = [
    ...(process.env.PATH ?? '').split(':'),
    '/usr/local/sbin',
    '/usr/local/bin',
    '/usr/sbin',
    '/usr/bin',
    '/sbin',
    '/bin',
  ];
  for (const name of names) {
    if (name.includes('/')) {
      if (executable(name)) return name;
      continue;
    }
    for (const d of dirs) if (d && executable(`${d}/${name}`)) return `${d}/${name}`;
  }
  return undefined;
}

function executable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * daemon.json's default-runtime; else runc (as dockerd), or crun where runc is absent (RHEL 10 ships only crun).
 * Rootless (`crunRootless`: the engine is rootless and crun can run its containers here), crun where installed, as
 * rootless Podman prefers it: a C runtime creates and starts a container in a fraction of runc's time.
 */
export function defaultRuntimeName(
  configured: string | undefined,
  found: { runc: boolean; crun: boolean; crunRootless?: boolean },
): string {
  if (configured) return configured;
  return found.crun && (!found.runc || found.crunRootless) ? 'crun' : 'runc';
}

/**
 * Why crun cannot run containers on this host, or undefined: crun refuses a hybrid cgroup hierarchy whose unified
 * (v2) mount holds a controller — "cgroups in hybrid mode not supported, drop all controllers from cgroupv2" — as on
 * a kernel that leaves hugetlb to v2 under a v1 systemd. Stock hybrid and pure v1 or v2 hosts have none there.
 */
export function crunRefusal(cgroupRoot = '/sys/fs/cgroup'): string | undefined {
  if (fs.existsSync(`${cgroupRoot}/cgroup.controllers`)) return undefined; // unified: fine
  let controllers = '';
  try {
    controllers = fs.readFileSync(`${cgroupRoot}/unified/cgroup.controllers`, 'utf8').trim();
  } catch {
    return undefined; // plain v1
  }
  return controllers
    ? `crun refuses hybrid cgroups with controllers on the unified hierarchy (${controllers})`
    : undefined;
}

export interface PlatformConfig {
  execOpts: string[];
  runtimes: Record<string, { path: string; runtimeArgs?: string[] }>;
  defaultRuntime?: string;
  /** The engine runs rootless (issue 14), in a delegated cgroup v2 subtree or none. */
  rootless?: { singleId: boolean; cgroup?: { base: string; controllers: string[] } };
}

/** The controllers the cgroup v2 hierarchy offers (its root's cgroup.controllers). */
function v2Controllers(root = '/sys/fs/cgroup'): string[] {
  try {
    return fs.readFileSync(`${root}/cgroup.controllers`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** A rootless engine's cgroups: below its delegated subtree on cgroup v2 (the controllers handed down), else none. */
function rootlessCgroups(
  version: 1 | 2,
  r: NonNullable<PlatformConfig['rootless']>,
): NonNullable<Platform['rootless']> {
  const delegated = version === 2 ? r.cgroup : undefined;
  return {
    delegatedControllers: delegated?.controllers ?? [],
    ...(delegated ? { cgroupBase: delegated.base } : {}),
    singleId: r.singleId,
  };
}

/**
 * The platform berthd runs on: the host's cgroup version, the driver daemon.json asks for (or Docker's default),
 * the runtimes a container may name — runc and crun where installed, and daemon.json's — with the default one,
 * and SELinux. Throws dockerd's words for a bad exec-opt or an unknown default runtime.
 */
export function resolvePlatform(cfg: PlatformConfig): {
  platform: Platform;
  runtimes: Record<string, RuntimeChoice>;
  /** Rootless with crun installed, when crun cannot run containers here (so the default stayed runc). */
  crunRefused?: string;
} {
  const version = cgroupVersion() === '2' ? 2 : 1;
  const driver = chooseCgroupDriver(cfg.execOpts, {
    cgroupVersion: version,
    systemdRunning: systemdRunning(),
    rootless: !!cfg.rootless,
  });
  const runtimes: Record<string, RuntimeChoice> = {};
  const runc = runcInfo();
  runtimes.runc = { name: 'runc', path: runc?.path ?? 'runc' };
  const crun = findBinary(process.env.BERTH_CRUN ?? 'crun');
  if (crun) runtimes.crun = { name: 'crun', path: crun };
  for (const [name, r] of Object.entries(cfg.runtimes))
    runtimes[name] = { name, path: r.path, ...(r.runtimeArgs?.length ? { args: r.runtimeArgs } : {}) };
  const crunRefused = cfg.rootless && crun ? crunRefusal() : undefined;
  const defaultName = defaultRuntimeName(cfg.defaultRuntime, {
    runc: !!runc,
    crun: !!crun,
    crunRootless: !!cfg.rootless && !!crun && !crunRefused,
  });
  const runtime = runtimes[defaultName];
  if (!runtime) throw invalidParameter(`specified default runtime '${defaultName}' does not exist`);
  return {
    platform: {
      cgroup: { version, driver, ...(version === 2 && !cfg.rootless ? { controllers: v2Controllers() } : {}) },
      runtime,
      selinux: { enabled: selinux.selinuxEnabled() },
      ...(cfg.rootless ? { rootless: rootlessCgroups(version, cfg.rootless) } : {}),
    },
    runtimes,
    ...(crunRefused && !cfg.defaultRuntime ? { crunRefused } : {}),
  };
}
