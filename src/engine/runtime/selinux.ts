// SELinux labels as Docker gives them (go-selinux's label package): every container runs as container_t with an
// MCS pair of its own (s0:cX,cY) and its files are container_file_t with the same pair, so two containers cannot
// read each other's files even as root. `--security-opt label=…` changes or disables that; `:z` / `:Z` relabel a
// bind mount's source (shared: level s0, private: the container's pair). Where SELinux is disabled every label is
// empty and nothing is relabelled.
import * as fs from 'node:fs';
import { invalidParameter } from '../errdefs';

export interface ContainerLabels {
  /** spec.process.selinuxLabel; '' = none (SELinux off, label=disable, privileged). */
  process: string;
  /** spec.linux.mountLabel and the overlay's context= option; '' = none. */
  mount: string;
}

/** The distribution's container contexts (lxc_contexts), or the targeted policy's defaults. */
export interface BaseContexts {
  process: string;
  file: string;
}

export const DEFAULT_CONTEXTS: BaseContexts = {
  process: 'system_u:system_r:container_t:s0',
  file: 'system_u:object_r:container_file_t:s0',
};

/** Reads /etc/selinux/<policy>/contexts/lxc_contexts (process = "…", file = "…"), as go-selinux does. */
export function readBaseContexts(policyRoot = '/etc/selinux'): BaseContexts {
  try {
    const config = fs.readFileSync(`${policyRoot}/config`, 'utf8');
    const policy = /^SELINUXTYPE=(\S+)/m.exec(config)?.[1] ?? 'targeted';
    const text = fs.readFileSync(`${policyRoot}/${policy}/contexts/lxc_contexts`, 'utf8');
    const get = (k: string) => new RegExp(`^\\s*${k}\\s*=\\s*"?([^"\\n]+)"?`, 'm').exec(text)?.[1]?.trim();
    return { process: get('process') ?? DEFAULT_CONTEXTS.process, file: get('file') ?? DEFAULT_CONTEXTS.file };
  } catch {
    return DEFAULT_CONTEXTS;
  }
}

const VALID_LABEL_OPTIONS = ['disable', 'user', 'role', 'type', 'level', 'filetype'];

/** The `label=` parts of HostConfig.SecurityOpt ("label=type:x", or the old "label:type:x"). */
export function labelOptions(securityOpt: string[] = []): string[] {
  const out: string[] = [];
  for (const opt of securityOpt) {
    if (opt === 'disable') {
      out.push('disable');
      continue;
    }
    const sep = opt.includes('=') ? '=' : ':';
    const i = opt.indexOf(sep);
    if (i < 0) continue; // not a label option; the security-opt parser (create) judges it
    if (opt.slice(0, i) !== 'label') continue;
    const value = opt.slice(i + 1);
    const key = value.split(':')[0];
    if (!VALID_LABEL_OPTIONS.includes(key))
      throw invalidParameter(`Bad label option "${key}", valid options 'disable, user, role, level, type, filetype'`);
    out.push(value);
  }
  return out;
}

/** user:role:type:level (the level may hold colons: s0:c1,c2). */
function splitContext(label: string): { user: string; role: string; type: string; level: string } {
  const [user = '', role = '', type = '', ...level] = label.split(':');
  return { user, role, type, level: level.join(':') };
}
const joinContext = (c: { user: string; role: string; type: string; level: string }) =>
  [c.user, c.role, c.type, c.level].filter((x) => x !== '').join(':');

/**
 * A container's labels (go-selinux InitLabels): the base contexts with the container's MCS level, changed by
 * label= options. `level` is the pair the allocator reserved ("s0:c12,c345").
 */
export function containerLabels(
  opts: { enabled: boolean; privileged?: boolean; securityOpt?: string[] },
  base: BaseContexts,
  level: string,
): ContainerLabels {
  const options = labelOptions(opts.securityOpt);
  if (!opts.enabled || opts.privileged || options.includes('disable')) return { process: '', mount: '' };
  const proc = { ...splitContext(base.process), level };
  const file = { ...splitContext(base.file), level };
  for (const o of options) {
    const i = o.indexOf(':');
    const key = o.slice(0, i);
    const value = o.slice(i + 1);
    if (i < 0 || value === '')
      throw invalidParameter(`Bad label option "${o}", valid options 'disable, user, role, level, type, filetype'`);
    if (key === 'user') {
      proc.user = value;
      file.user = value;
    } else if (key === 'role') proc.role = value;
    else if (key === 'type') proc.type = value;
    else if (key === 'filetype') file.type = value;
    else if (key === 'level') {
      proc.level = value;
      file.level = value;
    }
  }
  return { process: joinContext(proc), mount: joinContext(file) };
}

/** The context a `:z` (shared: level s0, any container may use it) or `:Z` (private) bind mount gets. */
export function relabelContext(mountLabel: string, shared: boolean): string {
  if (!shared) return mountLabel;
  return joinContext({ ...splitContext(mountLabel), level: 's0' });
}

/**
 * Directories go-selinux refuses to relabel (the host would stop working): /, the system trees, the home
 * directories of the engine's user and of the sudo user.
 */
export const NO_RELABEL = [
  '/',
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/etc/passwd',
  '/etc/pki',
  '/etc/shadow',
  '/home',
  '/lib',
  '/lib64',
  '/media',
  '/opt',
  '/proc',
  '/root',
  '/run',
  '/sbin',
  '/srv',
  '/sys',
  '/tmp',
  '/usr',
  '/var',
  '/var/lib',
  '/var/log',
];

/** Throws Docker's error when `source` must not be relabelled; `homes`: the user's (and sudo user's) home. */
export function checkRelabel(source: string, homes: string[] = []): void {
  const p = source === '/' ? '/' : source.replace(/\/+$/, '');
  if (NO_RELABEL.includes(p) || homes.filter(Boolean).includes(p))
    throw invalidParameter(`SELinux relabeling of ${p} is not allowed`);
}

/** The homes go-selinux refuses to relabel: the engine user's and, under sudo, the invoking user's. */
export function protectedHomes(env = process.env, passwd = '/etc/passwd'): string[] {
  const homes = [env.HOME ?? ''];
  if (env.SUDO_USER) {
    try {
      const line = fs
        .readFileSync(passwd, 'utf8')
        .split('\n')
        .find((l) => l.split(':')[0] === env.SUDO_USER);
      if (line) homes.push(line.split(':')[5] ?? '');
    } catch {
      /* no passwd file */
    }
  }
  return homes.filter(Boolean);
}

/** The overlay mount option that gives every file of the container's root its mount label. */
export function contextMountOption(mountLabel: string): string | undefined {
  return mountLabel ? `context="${mountLabel}"` : undefined;
}

/**
 * Reserves MCS pairs (cX,cY with X < Y < 1024) so no two containers share one, as go-selinux's mcsAdd does;
 * pairs of existing containers are reserved again after a restart.
 */
export class McsAllocator {
  private readonly used = new Set<string>();
  constructor(private readonly random: () => number = Math.random) {}

  reserve(level: string): void {
    this.used.add(level);
  }

  release(level: string): void {
    this.used.delete(level);
  }

  allocate(): string {
    for (let tries = 0; tries < 100_000; tries++) {
      const a = Math.floor(this.random() * 1024);
      const b = Math.floor(this.random() * 1024);
      if (a === b) continue;
      const level = `s0:c${Math.min(a, b)},c${Math.max(a, b)}`;
      if (this.used.has(level)) continue;
      this.used.add(level);
      return level;
    }
    throw invalidParameter('no free SELinux MCS pair');
  }
}

/** The level part of a label ("s0:c1,c2"), for reserving it again. */
export function levelOf(label: string): string {
  return splitContext(label).level;
}

/** Whether SELinux is enabled (selinuxfs mounted with an enforce file), as go-selinux GetEnabled. */
export function selinuxEnabled(): boolean {
  try {
    const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    const line = mounts.split('\n').find((l) => / - selinuxfs /.test(l));
    if (!line) return false;
    return fs.existsSync(`${line.split(' ')[4]}/enforce`);
  } catch {
    return false;
  }
}

/** A mount's source to relabel before the container starts, and the context it gets. */
export interface Relabel {
  path: string;
  context: string;
}

/**
 * What to relabel for a container (Docker: at mount time): sources of mounts whose mode has `z` (shared: level
 * s0) or `Z` (private: the container's pair) — local volumes get `z` by default — and the engine's own files
 * bound in (hosts, hostname, resolv.conf; shared when the network is another container's). Throws Docker's error
 * for a source that must never be relabelled. Empty when the container has no mount label (SELinux off,
 * label=disable, privileged).
 */
export function relabelPlan(
  mountLabel: string,
  mounts: { source: string; mode: string }[],
  engineFiles: string[],
  opts: { sharedNetwork?: boolean; homes?: string[] } = {},
): Relabel[] {
  if (!mountLabel) return [];
  const out: Relabel[] = [];
  for (const m of mounts) {
    const modes = m.mode.split(',');
    const shared = modes.includes('z');
    if (!shared && !modes.includes('Z')) continue;
    try {
      checkRelabel(m.source, opts.homes);
    } catch (err: any) {
      throw invalidParameter(`error setting label on mount source '${m.source}': ${err.message}`);
    }
    out.push({ path: m.source, context: relabelContext(mountLabel, shared) });
  }
  for (const f of engineFiles) out.push({ path: f, context: relabelContext(mountLabel, !!opts.sharedNetwork) });
  return out;
}

/** Carries out a relabel plan with chcon (-R for directories, as go-selinux's Chcon walks them). */
export async function applyRelabel(plan: Relabel[]): Promise<void> {
  const { execFile } = await import('node:child_process');
  for (const r of plan) {
    await new Promise<void>((resolve, reject) =>
      execFile('chcon', ['-R', r.context, r.path], (err, _out, stderr) =>
        err
          ? reject(invalidParameter(`error setting label on mount source '${r.path}': ${stderr.trim() || err.message}`))
          : resolve(),
      ),
    );
  }
}
