// What a host needs for the rootless engine, and what is missing — read by berthd before it re-executes itself
// in its namespaces and by the extension's Diagnose. The verdict is a pure function of a probe of the host.
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
  commands: Record<'unshare' | 'newuidmap' | 'newgidmap' | 'slirp4netns' | 'runc' | 'fuse-overlayfs', boolean>;
  /** /dev/net/tun opens read-write for this user (slirp4netns needs it). */
  tunUsable: boolean;
  subuidLines: boolean;
  subgidLines: boolean;
}

export interface RootlessVerdict {
  /** Without these the rootless engine cannot start. */
  fatal: string[];
  /** It starts, with less. */
  warnings: string[];
}

/** Kernel 5.11 is the first to mount overlayfs inside a user namespace. */
export function overlayInUserns(kernel: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernel);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 5 || (major === 5 && minor >= 11);
}

export function rootlessVerdict(h: RootlessHostProbe): RootlessVerdict {
  const fatal: string[] = [];
  const warnings: string[] = [];
  if (!h.commands.unshare) fatal.push('unshare is missing: install util-linux');
  if (h.maxUserNamespaces === 0)
    fatal.push(
      'user namespaces are disabled: sysctl user.max_user_namespaces is 0 (as root: sysctl -w user.max_user_namespaces=28633)',
    );
  if (h.unprivilegedUsernsClone === 0)
    fatal.push('unprivileged user namespaces are disabled: as root, sysctl -w kernel.unprivileged_userns_clone=1');
  if (h.apparmorRestrictsUserns === 1)
    fatal.push(
      'AppArmor restricts unprivileged user namespaces: as root, sysctl -w kernel.apparmor_restrict_unprivileged_userns=0',
    );
  if (!h.commands.runc) fatal.push('runc is missing: install the runc package');
  if (!h.commands.slirp4netns) fatal.push('slirp4netns is missing: install the slirp4netns package');
  else if (!h.tunUsable)
    fatal.push('/dev/net/tun cannot be opened by this user (slirp4netns needs it): as root, chmod 0666 /dev/net/tun');
  const subids = h.subuidLines && h.subgidLines;
  if (subids && (!h.commands.newuidmap || !h.commands.newgidmap))
    fatal.push('newuidmap/newgidmap are missing: install the uidmap package (shadow-utils on RHEL)');
  if (!subids)
    warnings.push(
      `no subordinate ids for ${h.user} in /etc/subuid and /etc/subgid: containers run with a single id; as root: ` +
        `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${h.user}`,
    );
  // fuse-overlayfs would do on older kernels; the engine does not mount it yet.
  if (!overlayInUserns(h.kernel))
    fatal.push(
      `kernel ${h.kernel} cannot mount overlayfs in a user namespace: rootless Berth needs Linux 5.11 or later`,
    );
  return { fatal, warnings };
}

const readNumber = (file: string): number | undefined => {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
};

export function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(':').concat('/usr/sbin', '/sbin')) {
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

function hasSubids(file: string, user: string, uid: number): boolean {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .some((l) => {
        const [owner, , count] = l.trim().split(':');
        return (owner === user || owner === String(uid)) && Number(count) > 0;
      });
  } catch {
    return false;
  }
}

export function probeRootlessHost(): RootlessHostProbe {
  const { username, uid } = os.userInfo();
  let tunUsable = false;
  try {
    fs.closeSync(fs.openSync('/dev/net/tun', 'r+'));
    tunUsable = true;
  } catch {
    /* missing or not ours */
  }
  return {
    user: username,
    uid,
    kernel: os.release(),
    maxUserNamespaces: readNumber('/proc/sys/user/max_user_namespaces'),
    unprivilegedUsernsClone: readNumber('/proc/sys/kernel/unprivileged_userns_clone'),
    apparmorRestrictsUserns: readNumber('/proc/sys/kernel/apparmor_restrict_unprivileged_userns'),
    commands: {
      unshare: onPath('unshare'),
      newuidmap: onPath('newuidmap'),
      newgidmap: onPath('newgidmap'),
      slirp4netns: onPath('slirp4netns'),
      runc: onPath('runc'),
      'fuse-overlayfs': onPath('fuse-overlayfs'),
    },
    tunUsable,
    subuidLines: hasSubids('/etc/subuid', username, uid),
    subgidLines: hasSubids('/etc/subgid', username, uid),
  };
}
