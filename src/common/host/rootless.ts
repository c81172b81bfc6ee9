// What a host needs for the rootless engine, and what is missing — read by berthd before it re-executes itself
// in its namespaces and by the extension's Diagnose. Each requirement is a pure function of a probe of the host;
// the probe reads through a small reader, so Diagnose's fake hosts and the real one go the same way.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface RootlessHostProbe {
  user: string;
  uid: number;
  /** `uname -r`. */
  kernel: string;
  /** /proc/sys/user/max_user_namespaces (undefined: not readable). */
  maxUserNamespaces?: number;
  /** Debian's and older Ubuntu's kernel.unprivileged_userns_clone, when the kernel has it. */
  unprivilegedUsernsClone?: number;
  /** Ubuntu 24.04's kernel.apparmor_restrict_unprivileged_userns, when the kernel has it. */
  apparmorRestrictsUserns?: number;
  /** Commands found on PATH. */
  commands: Record<'unshare' | 'newuidmap' | 'newgidmap' | 'slirp4netns' | 'runc', boolean> & {
    'fuse-overlayfs'?: boolean;
    pasta?: boolean;
  };
  /** The network link asked for (BERTH_ROOTLESS_NET; default slirp4netns). */
  network?: 'slirp4netns' | 'pasta';
  /** /dev/net/tun opens read-write for this user (slirp4netns needs it). */
  tunUsable: boolean;
  subuidLines: boolean;
  subgidLines: boolean;
  /** Where this user's sub-ids could go: the first ids free in /etc/subuid and /etc/subgid (undefined: none free). */
  freeSubids: FreeSubids | undefined;
}

/** The first id of a free range of SUBID_COUNT ids in /etc/subuid and in /etc/subgid. */
export interface FreeSubids {
  uid: number;
  gid: number;
}

/** As many sub-ids as useradd gives a new user (login.defs' SUB_UID_COUNT default), what images expect. */
export const SUBID_COUNT = 65536;

/** The ranges an /etc/subuid-style text hands out, to anyone. */
function takenRanges(text: string | undefined): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (const line of (text ?? '').split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if (!owner || owner.startsWith('#')) continue;
    const [s, c] = [Number(start), Number(count)];
    if (Number.isInteger(s) && Number.isInteger(c) && c > 0) out.push({ start: s, end: s + c - 1 });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** The lowest start in [min, max] of `count` ids that overlap none of the ranges (useradd's search). */
function firstFree(ranges: { start: number; end: number }[], min: number, max: number, count: number) {
  let start = min;
  for (const r of ranges) {
    if (r.end < start) continue;
    if (r.start >= start + count) break;
    start = r.end + 1;
  }
  return start + count - 1 <= max ? start : undefined;
}

/**
 * Sub-ids for a user who has none, as useradd would pick them: within login.defs' SUB_UID_MIN..SUB_UID_MAX
 * (SUB_GID_… for gids; shadow's defaults 100000..600100000), clear of every range already handed out — on a shared
 * host 100000 is usually the first user's, and two users sharing host ids see each other's files and processes.
 * The same start in both files where one is free in both, so a file's owner reads the same in either.
 */
export function freeSubidRanges(
  subuid: string | undefined,
  subgid: string | undefined,
  loginDefs: string | undefined,
): FreeSubids | undefined {
  const def = (key: string, fallback: number) => {
    const m = new RegExp(`^\\s*${key}\\s+(\\d+)\\s*$`, 'm').exec(loginDefs ?? '');
    return m ? Number(m[1]) : fallback;
  };
  const uidMin = def('SUB_UID_MIN', 100000);
  const uidMax = def('SUB_UID_MAX', 600100000);
  const gidMin = def('SUB_GID_MIN', 100000);
  const gidMax = def('SUB_GID_MAX', 600100000);
  const uids = takenRanges(subuid);
  const gids = takenRanges(subgid);
  const both = firstFree(
    [...uids, ...gids].sort((a, b) => a.start - b.start),
    Math.max(uidMin, gidMin),
    Math.min(uidMax, gidMax),
    SUBID_COUNT,
  );
  if (both !== undefined) return { uid: both, gid: both };
  const uid = firstFree(uids, uidMin, uidMax, SUBID_COUNT);
  const gid = firstFree(gids, gidMin, gidMax, SUBID_COUNT);
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

/** The command (as root) that gives the user its sub-ids; undefined when it has them or none are free. */
export function addSubidsCommand(h: RootlessHostProbe): string | undefined {
  if ((h.subuidLines && h.subgidLines) || !h.freeSubids) return undefined;
  const range = (start: number) => `${start}-${start + SUBID_COUNT - 1}`;
  return `usermod --add-subuids ${range(h.freeSubids.uid)} --add-subgids ${range(h.freeSubids.gid)} ${h.user}`;
}

export interface RootlessRequirement {
  name: string;
  ok: boolean;
  found: string;
  need: string;
  /** Without it the rootless engine cannot start (else it starts with less). */
  fatal: boolean;
  /** Packages (Debian's name, RHEL's name) or a command to run as root. */
  fix?: { apt?: string; rpm?: string; note?: string };
}

/** Kernel 5.11 is the first to mount overlayfs inside a user namespace. */
export function overlayInUserns(kernel: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernel);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 5 || (major === 5 && minor >= 11);
}

export function rootlessRequirements(h: RootlessHostProbe): RootlessRequirement[] {
  const usernsOff =
    h.maxUserNamespaces === 0
      ? { found: 'disabled (user.max_user_namespaces = 0)', note: 'sysctl -w user.max_user_namespaces=28633' }
      : h.unprivilegedUsernsClone === 0
        ? {
            found: 'disabled (kernel.unprivileged_userns_clone = 0)',
            note: 'sysctl -w kernel.unprivileged_userns_clone=1',
          }
        : h.apparmorRestrictsUserns === 1
          ? {
              found: 'restricted by AppArmor (kernel.apparmor_restrict_unprivileged_userns = 1)',
              note: 'sysctl -w kernel.apparmor_restrict_unprivileged_userns=0',
            }
          : undefined;
  const subids = h.subuidLines && h.subgidLines;
  const addSubids = addSubidsCommand(h);
  const idmap = h.commands.newuidmap && h.commands.newgidmap;
  return [
    {
      name: 'user namespaces',
      ok: !usernsOff,
      found: usernsOff?.found ?? `enabled${h.maxUserNamespaces ? ` (max ${h.maxUserNamespaces})` : ''}`,
      need: 'unprivileged user namespaces',
      fatal: true,
      fix: usernsOff && { note: usernsOff.note },
    },
    {
      name: 'unshare',
      ok: h.commands.unshare,
      found: h.commands.unshare ? 'present' : 'not found on PATH',
      need: 'unshare (util-linux)',
      fatal: true,
      fix: h.commands.unshare ? undefined : { apt: 'util-linux', rpm: 'util-linux' },
    },
    {
      name: 'sub-ids',
      ok: subids,
      found: subids
        ? `${h.user} has /etc/subuid and /etc/subgid lines`
        : `none for ${h.user}${addSubids ? '' : ` (and no ${SUBID_COUNT} ids free in /etc/subuid and /etc/subgid within /etc/login.defs' SUB_UID_MIN..SUB_UID_MAX)`}`,
      need: 'subordinate ids, or containers run with root as their only user',
      fatal: false,
      fix: addSubids ? { note: addSubids } : undefined,
    },
    {
      name: 'newuidmap/newgidmap',
      ok: idmap || !subids,
      found: idmap ? 'present' : 'not found on PATH',
      need: subids ? 'newuidmap and newgidmap to map the sub-ids' : 'only with sub-ids',
      fatal: subids,
      fix: idmap ? undefined : { apt: 'uidmap', rpm: 'shadow-utils' },
    },
    h.network === 'pasta'
      ? {
          name: 'pasta',
          ok: !!h.commands.pasta,
          found: h.commands.pasta ? 'present' : 'not found on PATH',
          need: "the rootless network namespace's link out (BERTH_ROOTLESS_NET=pasta)",
          fatal: true,
          fix: h.commands.pasta ? undefined : { apt: 'passt', rpm: 'passt' },
        }
      : {
          name: 'slirp4netns',
          ok: h.commands.slirp4netns,
          found: h.commands.slirp4netns ? 'present' : 'not found on PATH',
          need: "the rootless network namespace's link out",
          fatal: true,
          fix: h.commands.slirp4netns ? undefined : { apt: 'slirp4netns', rpm: 'slirp4netns' },
        },
    {
      name: '/dev/net/tun',
      ok: h.tunUsable,
      found: h.tunUsable ? 'usable' : 'not usable by this user',
      need: 'read-write for every user (mode 0666, as distributions ship it)',
      fatal: true,
      fix: h.tunUsable ? undefined : { note: 'chmod 0666 /dev/net/tun' },
    },
    {
      // Before 5.11 the kernel refuses overlay in a user namespace: the engine mounts fuse-overlayfs instead (it
      // also falls back when a newer kernel refuses, which only a mount can tell: the engine probes at start).
      name: 'overlayfs in a user namespace',
      ok: overlayInUserns(h.kernel) || !!h.commands['fuse-overlayfs'],
      found: overlayInUserns(h.kernel)
        ? `kernel ${h.kernel}`
        : `kernel ${h.kernel}, fuse-overlayfs ${h.commands['fuse-overlayfs'] ? 'present' : 'not found on PATH'}`,
      need: 'Linux 5.11 or later, or fuse-overlayfs',
      fatal: true,
      fix:
        overlayInUserns(h.kernel) || h.commands['fuse-overlayfs']
          ? undefined
          : { apt: 'fuse-overlayfs', rpm: 'fuse-overlayfs' },
    },
    {
      name: 'runc',
      ok: h.commands.runc,
      found: h.commands.runc ? 'present' : 'not found on PATH',
      need: 'runc',
      fatal: true,
      fix: h.commands.runc ? undefined : { apt: 'runc', rpm: 'runc' },
    },
  ];
}

const sentence = (r: RootlessRequirement) => {
  const how = r.fix?.note
    ? `; as root: ${r.fix.note}`
    : r.fix?.apt
      ? `; install ${r.fix.apt === r.fix.rpm ? r.fix.apt : `${r.fix.apt} (${r.fix.rpm} on RHEL)`}`
      : '';
  return `${r.name}: ${r.found}, needs ${r.need}${how}`;
};

export function rootlessVerdict(h: RootlessHostProbe): { fatal: string[]; warnings: string[] } {
  const missing = rootlessRequirements(h).filter((r) => !r.ok);
  return {
    fatal: missing.filter((r) => r.fatal).map(sentence),
    warnings: missing.filter((r) => !r.fatal).map(sentence),
  };
}

/** How the probe reads the host (Diagnose passes its own reader). */
export interface ProbeReader {
  read(file: string): string | undefined;
  onPath(cmd: string): boolean;
  /** Whether the file opens read-write for this user. */
  openable(file: string): boolean;
  user: { name: string; uid: number };
}

export const realProbeReader: ProbeReader = {
  read: (f) => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch {
      return undefined;
    }
  },
  onPath: (cmd) =>
    (process.env.PATH ?? '')
      .split(':')
      .concat('/usr/sbin', '/sbin')
      .some((dir) => {
        try {
          fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
          return true;
        } catch {
          return false;
        }
      }),
  openable: (f) => {
    try {
      fs.closeSync(fs.openSync(f, 'r+'));
      return true;
    } catch {
      return false;
    }
  },
  get user() {
    const u = os.userInfo();
    return { name: u.username, uid: u.uid };
  },
};

function hasSubids(text: string | undefined, user: string, uid: number): boolean {
  return (text ?? '').split('\n').some((l) => {
    const [owner, , count] = l.trim().split(':');
    return (owner === user || owner === String(uid)) && Number(count) > 0;
  });
}

export function probeRootlessHost(r: ProbeReader = realProbeReader): RootlessHostProbe {
  const num = (f: string) => {
    const t = r.read(f)?.trim();
    return t === undefined || t === '' ? undefined : Number(t);
  };
  const { name, uid } = r.user;
  const [subuid, subgid] = [r.read('/etc/subuid'), r.read('/etc/subgid')];
  return {
    user: name,
    uid,
    kernel: r.read('/proc/sys/kernel/osrelease')?.trim() || os.release(),
    maxUserNamespaces: num('/proc/sys/user/max_user_namespaces'),
    unprivilegedUsernsClone: num('/proc/sys/kernel/unprivileged_userns_clone'),
    apparmorRestrictsUserns: num('/proc/sys/kernel/apparmor_restrict_unprivileged_userns'),
    commands: {
      unshare: r.onPath('unshare'),
      newuidmap: r.onPath('newuidmap'),
      newgidmap: r.onPath('newgidmap'),
      slirp4netns: r.onPath('slirp4netns'),
      runc: r.onPath('runc'),
      'fuse-overlayfs': r.onPath('fuse-overlayfs'),
      pasta: r.onPath('pasta'),
    },
    tunUsable: r.openable('/dev/net/tun'),
    subuidLines: hasSubids(subuid, name, uid),
    subgidLines: hasSubids(subgid, name, uid),
    freeSubids: freeSubidRanges(subuid, subgid, r.read('/etc/login.defs')),
  };
}
