// Which of a container's resource limits this platform can apply. A rootless engine owns no cgroup unless systemd
// delegated a v2 subtree to the user; a root engine on cgroup v2 has only the controllers the hierarchy offers (one
// still bound to a v1 hierarchy is not there). A limit it cannot apply is refused at create and update with the
// reason — never accepted and silently dropped (runc would fail the start, or the limit would not hold).
import { invalidParameter } from '../errdefs';
import { type Platform, usableControllers } from './platform';

/** Each limit's docker run flag and the cgroup controller it needs. */
const LIMITS: Record<string, { flag: string; controller: string }> = {
  memory: { flag: '--memory', controller: 'memory' },
  memorySwap: { flag: '--memory-swap', controller: 'memory' },
  memoryReservation: { flag: '--memory-reservation', controller: 'memory' },
  nanoCpus: { flag: '--cpus', controller: 'cpu' },
  cpuShares: { flag: '--cpu-shares', controller: 'cpu' },
  cpuQuota: { flag: '--cpu-quota', controller: 'cpu' },
  cpuPeriod: { flag: '--cpu-period', controller: 'cpu' },
  cpusetCpus: { flag: '--cpuset-cpus', controller: 'cpuset' },
  cpusetMems: { flag: '--cpuset-mems', controller: 'cpuset' },
  pidsLimit: { flag: '--pids-limit', controller: 'pids' },
  blkioWeight: { flag: '--blkio-weight', controller: 'io' },
};

/** The flags of the limits asked for whose controller the platform cannot use. */
export function unusableLimits(p: Platform, resources: object | undefined): string[] {
  const usable = usableControllers(p);
  if (!usable) return [];
  const r = (resources ?? {}) as Record<string, unknown>;
  return Object.entries(LIMITS)
    .filter(([key, { controller }]) => {
      const v = r[key];
      const asked = v !== undefined && v !== null && v !== 0 && v !== '' && !(key === 'pidsLimit' && Number(v) < 0);
      return asked && !usable.has(controller);
    })
    .map(([, { flag }]) => flag);
}

const NEED =
  'resource limits need cgroup v2 with a delegated subtree (a systemd user session) when Berth runs rootless';

/** Why no limit can be applied on this platform (rootless without a delegated subtree); undefined when some can. */
export function limitsUnavailableReason(p: Platform): string | undefined {
  if (!p.rootless) return undefined;
  if (p.cgroup.version === 1)
    return `${NEED}; this host has cgroup v1 (or hybrid), where an ordinary user cannot set limits`;
  if (!p.rootless.cgroupBase || !p.rootless.delegatedControllers.length)
    return `${NEED}; the engine's cgroup is not delegated to this user: start it in a unit with Delegate=yes (systemd-run --user -p Delegate=yes, as the extension does where the user's systemd answers)`;
  return undefined;
}

/** The controllers a rootless engine was not handed, or a v2 hierarchy lacks: their limits are refused. */
export function missingControllers(p: Platform): string[] {
  const usable = usableControllers(p);
  if (!usable) return [];
  return [...new Set(Object.values(LIMITS).map((l) => l.controller))].filter((c) => !usable.has(c));
}

const controllersText = (limits: { controller: string }[]) => {
  const names = [...new Set(limits.map((l) => l.controller))];
  return `${names.join(', ')} controller${names.length > 1 ? 's' : ''}`;
};

/** What makes a controller bound to cgroup v1 available on v2 (WSL: its kernel's command line in .wslconfig). */
export const CGROUP_V2_ONLY_HINT =
  'boot the kernel with cgroup_no_v1=all (WSL: kernelCommandLine = cgroup_no_v1=all under [wsl2] in %UserProfile%\\.wslconfig, then wsl --shutdown)';

/** Create and update refuse limits the platform cannot apply (Docker's status for bad parameters: 400). */
export function refuseUnusableLimits(p: Platform, resources: object | undefined): void {
  const flags = unusableLimits(p, resources);
  if (!flags.length) return;
  const reason = p.rootless
    ? (limitsUnavailableReason(p) ??
      `resource limits need the controller delegated to this user (delegated: ${p.rootless.delegatedControllers.join(', ')})`)
    : `this host's cgroup v2 hierarchy lacks the ${controllersText(Object.values(LIMITS).filter((l) => flags.includes(l.flag)))} (cgroup.controllers: ${p.cgroup.controllers?.join(' ') || 'none'}; one bound to a cgroup v1 hierarchy is not offered on v2): ${CGROUP_V2_ONLY_HINT}`;
  throw invalidParameter(`${flags.join(', ')}: ${reason}`);
}

/**
 * `docker info` warnings of a root engine whose cgroup v2 hierarchy lacks controllers: dockerd's own words
 * (daemon/info_unix.go; it has none for pids), then how to get them.
 */
export function missingControllerWarnings(p: Platform): string[] {
  if (p.rootless) return [];
  const missing = missingControllers(p);
  if (!missing.length) return [];
  const dockerd: Record<string, string[]> = {
    memory: ['No memory limit support', 'No swap limit support'],
    cpu: ['No cpu cfs quota support', 'No cpu cfs period support', 'No cpu shares support'],
    cpuset: ['No cpuset support'],
    io: [
      'No io.weight support',
      'No io.weight (per device) support',
      'No io.max (rbps) support',
      'No io.max (wbps) support',
      'No io.max (riops) support',
      'No io.max (wiops) support',
    ],
  };
  return [
    ...['memory', 'cpu', 'cpuset', 'io'].flatMap((c) => (missing.includes(c) ? dockerd[c] : [])),
    `the cgroup v2 hierarchy lacks the ${controllersText(missing.map((controller) => ({ controller })))}: limits that need them are refused; ${CGROUP_V2_ONLY_HINT}`,
  ].map((w) => `WARNING: ${w}`);
}
