// What differs between the hosts berthd runs on, below the API: the cgroup version and driver, the OCI runtime
// (runc or crun), SELinux, rootless. A `Platform` is found once at start (host/ detects, config/ chooses) and is an
// input to the pure spec generator and to the small adapters here — never an `if` in lifecycle code.
import { invalidParameter } from '../errdefs';
import type { OverlayDriver } from './overlay';

export type CgroupDriver = 'cgroupfs' | 'systemd';
export type CgroupnsMode = 'private' | 'host';

export interface RuntimeChoice {
  /** As daemon.json's `runtimes` names it (runc, crun, …) and HostConfig.Runtime shows it. */
  name: string;
  path: string;
  /** daemon.json's runtimeArgs: global flags before the command. */
  args?: string[];
}

export interface Platform {
  cgroup: {
    version: 1 | 2;
    driver: CgroupDriver;
    /**
     * cgroup v2: the controllers the hierarchy offers (its root's cgroup.controllers). One still bound to a v1
     * hierarchy is missing there — WSL's hybrid remounted as v2 alone (scripts/vm/guest/wsl-init) — and limits that
     * need it are refused. Unknown: all.
     */
    controllers?: string[];
  };
  runtime: RuntimeChoice;
  selinux: { enabled: boolean };
  /** How overlays are mounted (overlay.ts): the kernel's unless a rootless engine's probe found it refused. */
  overlay?: OverlayDriver;
  /** Set by the rootless work (issue 14): controllers delegated to this user (v2); limits on others are refused. */
  rootless?: {
    delegatedControllers: string[];
    /** The delegated cgroup v2 subtree (from the hierarchy's root) containers' cgroups go below; none: no cgroup. */
    cgroupBase?: string;
    /** Only the user's own id is mapped (no /etc/subuid lines): no other uid or gid exists in the namespace. */
    singleId?: boolean;
  };
}

/** A cgroup v1 host with the cgroupfs driver, runc, no SELinux: what the engine was written on (and unit tests). */
export const V1_CGROUPFS: Platform = {
  cgroup: { version: 1, driver: 'cgroupfs' },
  runtime: { name: 'runc', path: 'runc' },
  selinux: { enabled: false },
};

/**
 * Docker's choice of cgroup driver (daemon_unix.go): what `exec-opts` says, else systemd on a cgroup v2 host booted
 * with systemd (it owns the tree there), else cgroupfs. A rootless engine differs from rootless dockerd here: its
 * containers' cgroups go below the subtree its own unit delegated (rootless/cgroup.ts), so that stopping the unit
 * ends them all; runc's systemd driver would ask for scopes over D-Bus instead, which a user manager without a
 * session bus refuses ("Interactive authentication required", seen on the RHEL-like host).
 */
export function chooseCgroupDriver(
  execOpts: string[],
  host: { cgroupVersion: 1 | 2; systemdRunning: boolean; rootless?: boolean },
): CgroupDriver {
  let asked: string | undefined;
  for (const opt of execOpts) {
    const eq = opt.indexOf('=');
    const key = opt
      .slice(0, eq < 0 ? opt.length : eq)
      .trim()
      .toLowerCase();
    const value = eq < 0 ? '' : opt.slice(eq + 1).trim();
    if (eq < 0) throw invalidParameter(`Unable to parse key/value option: ${opt}`);
    if (key === 'native.cgroupdriver') {
      if (value !== 'systemd' && value !== 'cgroupfs')
        throw invalidParameter(`native.cgroupdriver option ${value} not supported`);
      asked = value;
    } else if (key !== 'isolation') {
      throw invalidParameter(`unrecognized option: ${key}`);
    }
  }
  if (asked === 'systemd' && !host.systemdRunning)
    throw invalidParameter('systemd cgroup flag passed, but systemd support for managing cgroups is not available');
  if (asked === 'systemd' && host.rootless)
    throw invalidParameter(
      "native.cgroupdriver=systemd is not supported when Berth runs rootless: its containers' cgroups go below the engine's own delegated subtree (cgroupfs)",
    );
  if (asked) return asked as CgroupDriver;
  if (host.rootless) return 'cgroupfs';
  return host.cgroupVersion === 2 && host.systemdRunning ? 'systemd' : 'cgroupfs';
}

/** Docker's default cgroup namespace: private on v2 (the container sees its own tree), host on v1. */
export function defaultCgroupnsMode(p: Platform): CgroupnsMode {
  return p.cgroup.version === 2 ? 'private' : 'host';
}

/** HostConfig.CgroupnsMode as Docker validates it ("" = the daemon's default). */
export function checkCgroupnsMode(mode: string | undefined): CgroupnsMode | '' {
  if (!mode) return '';
  if (mode !== 'private' && mode !== 'host') throw invalidParameter(`invalid cgroup namespace mode: ${mode}`);
  return mode;
}

/** The cgroupfs parent of containers' cgroups: /berth, or below a rootless engine's delegated subtree. */
const cgroupfsParent = (p: Platform) => `${p.rootless?.cgroupBase ?? ''}/berth`;

/**
 * spec.linux.cgroupsPath: "system.slice:berth:<id>" for systemd (runc makes berth-<id>.scope), a path otherwise.
 * Rootless with cgroupfs and no delegated subtree: none — runc's rootless manager leaves the container in the
 * engine's own cgroup, which it only tolerates without a path (an ordinary user cannot make cgroups there).
 */
export function cgroupsPath(p: Platform, id: string): string | undefined {
  if (p.rootless && p.cgroup.driver === 'cgroupfs' && !p.rootless.cgroupBase) return undefined;
  if (p.cgroup.driver === 'systemd') return `system.slice:berth:${id}`;
  return `${cgroupfsParent(p)}/${id}`;
}

/**
 * Where the container's cgroup is on the host, for stats, OOM and freezer reads: `controller` names the v1
 * hierarchy ('' on v2).
 */
export function cgroupDir(p: Platform, id: string, controller: string, mountRoot = '/sys/fs/cgroup'): string {
  const base = p.cgroup.version === 2 ? mountRoot : `${mountRoot}/${controller}`;
  if (p.cgroup.driver === 'systemd') return `${base}/system.slice/berth-${id}.scope`;
  return `${base}${cgroupfsParent(p)}/${id}`;
}

/** The file the shim reads after the container ends to tell an OOM kill (memory.events' oom_kill on v2). */
export function oomFile(p: Platform, id: string): string {
  return p.cgroup.version === 2
    ? `${cgroupDir(p, id, '')}/memory.events`
    : `${cgroupDir(p, id, 'memory')}/memory.oom_control`;
}

/**
 * Global flags for every call of the runtime binary (runc and crun share them). Rootless: `--rootless=true` says
 * so instead of leaving runc to guess — its "auto" asks the user's systemd over D-Bus with the systemd driver and
 * takes the root manager when that fails (then cgroup writes it cannot make fail the start); crun takes the flag
 * as another --root (it finds out itself that it runs rootless), so callers put these before their --root. A
 * --rootless in daemon.json's runtimeArgs wins.
 */
export function runtimeGlobalArgs(p: Platform): string[] {
  const args = p.runtime.args ?? [];
  const rootless = p.rootless && !args.some((a) => /^--rootless(=|$)/.test(a)) ? ['--rootless=true'] : [];
  return [...args, ...rootless, ...(p.cgroup.driver === 'systemd' ? ['--systemd-cgroup'] : [])];
}

/**
 * dockerd's CgroupDriver in `docker info`: "none" for a rootless engine that manages no cgroup (as rootless dockerd);
 * cgroupfs for one that makes its containers' cgroups in its delegated subtree (as rootless Podman's cgroupfs).
 */
export function cgroupDriverShown(p: Platform): CgroupDriver | 'none' {
  return p.rootless && p.cgroup.driver === 'cgroupfs' && !p.rootless.cgroupBase ? 'none' : p.cgroup.driver;
}

/**
 * Which resource controllers the container's limits may use: all; those the cgroup v2 hierarchy offers; or
 * (rootless) those delegated to the user. undefined: all.
 */
export function usableControllers(p: Platform): Set<string> | undefined {
  if (!p.rootless) return p.cgroup.version === 2 && p.cgroup.controllers ? new Set(p.cgroup.controllers) : undefined;
  // Rootless on v1 cannot set any limit (no delegation), as Docker's rootless mode.
  if (p.cgroup.version === 1) return new Set();
  return new Set(p.rootless.delegatedControllers);
}
