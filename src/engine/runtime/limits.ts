// Which of a container's resource limits this platform can apply. A rootless engine owns no cgroup unless systemd
// delegated a v2 subtree to the user; a limit it cannot apply is refused at create and update with the reason —
// never accepted and silently dropped.
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
  // cgroupfs needs the subtree the engine found itself in; with systemd, its user instance delegates.
  const placed = p.cgroup.driver === 'systemd' || !!p.rootless.cgroupBase;
  if (!placed || !p.rootless.delegatedControllers.length)
    return `${NEED}; the engine's cgroup is not delegated to this user (start it in a unit with Delegate=yes)`;
  return undefined;
}

/** The controllers a rootless engine was not handed: their limits are refused (docker info warns of each). */
export function missingControllers(p: Platform): string[] {
  const usable = usableControllers(p);
  if (!usable) return [];
  return [...new Set(Object.values(LIMITS).map((l) => l.controller))].filter((c) => !usable.has(c));
}

/** Create and update refuse limits the platform cannot apply (Docker's status for bad parameters: 400). */
export function refuseUnusableLimits(p: Platform, resources: object | undefined): void {
  const flags = unusableLimits(p, resources);
  if (!flags.length) return;
  const reason =
    limitsUnavailableReason(p) ??
    `resource limits need the controller delegated to this user (delegated: ${p.rootless?.delegatedControllers.join(', ')})`;
  throw invalidParameter(`${flags.join(', ')}: ${reason}`);
}
