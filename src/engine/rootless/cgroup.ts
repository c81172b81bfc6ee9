// The cgroup a rootless engine may manage: on cgroup v2, the subtree the engine was started in when it belongs to the
// user — what systemd makes for a user@.service or any unit with Delegate=yes (the directory and its cgroup.procs,
// cgroup.subtree_control and cgroup.threads owned by the user). Containers then get cgroups of their own below it,
// with the controllers the parent handed down. Without it (cgroup v1, or a session scope owned by root) the engine
// manages no cgroup and refuses limits (runtime/limits.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The controllers container limits use (cpuset and hugetlb too when handed down; rdma/misc never asked for). */
const WANTED = ['cpuset', 'cpu', 'io', 'memory', 'pids', 'hugetlb'];

/** Where the engine's own processes go: cgroup v2 lets only leaves hold processes once controllers are enabled. */
export const ENGINE_LEAF = 'berthd';

export interface DelegatedCgroup {
  /** The delegated cgroup, from the root of the hierarchy (as /proc/self/cgroup names it). */
  base: string;
  /** Controllers enabled for its children (cgroup.subtree_control after the engine asked for them). */
  controllers: string[];
}

const read = (file: string) => fs.readFileSync(file, 'utf8').trim();
const writable = (file: string) => {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
};

/** This process's cgroup v2 path ('0::/a/b' in /proc/self/cgroup), undefined on a v1-only host. */
export function ownCgroup(procSelfCgroup: string): string | undefined {
  const line = procSelfCgroup.split('\n').find((l) => l.startsWith('0::'));
  return line?.slice(3);
}

/**
 * Finds the delegated subtree and makes it usable: the processes in it (the engine, whoever started it) move into
 * a leaf of their own, as rootlesskit's --evacuate-cgroup2 does, so that the controllers can be enabled for
 * children. Returns undefined where the engine's cgroup is not the user's (or cgroup v2 is not the hierarchy).
 */
export function delegatedCgroup(root = '/sys/fs/cgroup'): DelegatedCgroup | undefined {
  if (!fs.existsSync(path.join(root, 'cgroup.controllers'))) return undefined;
  let own = ownCgroup(fs.readFileSync('/proc/self/cgroup', 'utf8'));
  if (own === undefined || own === '/') return undefined;
  // An engine started again in a subtree an earlier one prepared is already in the leaf.
  if (path.basename(own) === ENGINE_LEAF && writable(path.join(root, path.dirname(own), 'cgroup.subtree_control')))
    own = path.dirname(own);
  const dir = path.join(root, own);
  if (!['', 'cgroup.procs', 'cgroup.subtree_control'].every((f) => writable(path.join(dir, f)))) return undefined;
  const available = read(path.join(dir, 'cgroup.controllers')).split(/\s+/).filter(Boolean);
  const wanted = WANTED.filter((c) => available.includes(c));
  const enabled = () => read(path.join(dir, 'cgroup.subtree_control')).split(/\s+/).filter(Boolean);
  if (wanted.some((c) => !enabled().includes(c))) {
    const leaf = path.join(dir, ENGINE_LEAF);
    fs.mkdirSync(leaf, { recursive: true });
    // Processes may fork while they are moved: until the cgroup is empty (each pid moves on its own write).
    for (let round = 0; round < 10; round++) {
      const pids = read(path.join(dir, 'cgroup.procs')).split('\n').filter(Boolean);
      if (!pids.length) break;
      for (const pid of pids) {
        try {
          fs.writeFileSync(path.join(leaf, 'cgroup.procs'), pid);
        } catch {
          /* gone meanwhile */
        }
      }
    }
    // One at a time: a controller the kernel refuses (e.g. cpuset on an old kernel) must not keep the others off.
    for (const c of wanted) {
      try {
        fs.writeFileSync(path.join(dir, 'cgroup.subtree_control'), `+${c}`);
      } catch {
        /* left out: its limits are refused with the reason */
      }
    }
  }
  return { base: own, controllers: enabled().filter((c) => WANTED.includes(c)) };
}
