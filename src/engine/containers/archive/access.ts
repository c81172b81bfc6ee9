// Holding a container's file system for a copy: a running container's root through its process, a stopped
// one's overlay mounted (shared by concurrent copies, reference-counted; a start waits until they let go), and
// small files read with the same confinement (the user's passwd and group for copyUIDGID).
import * as fs from 'node:fs';
import { conflict } from '../../errdefs';
import { isMountPoint, mountOverlay, type OverlayDriver, resolveUser, unmount } from '../../runtime';
import type { MountPoint } from '../../volumes';
import type { ContainerRecord } from '../state';
import { C, DIR_FLAGS, at, closeStack, rootDir, walk, type ContainerFs, type FsMount } from './walk';

/** A small text file of the container (its /etc/passwd), read with the same confinement; undefined if absent. */
export function readContainerFile(cfs: ContainerFs, p: string, limit = 1 << 20): string | undefined {
  const stack = [rootDir(cfs)];
  try {
    const loc = walk(cfs, stack, p.split('/'));
    if (loc.kind !== 'entry') return undefined;
    const fd = fs.openSync(at(loc.parent.fd, loc.name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) return undefined;
      const buf = Buffer.alloc(Math.min(st.size, limit));
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      return buf.subarray(0, n).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  } finally {
    closeStack(stack);
  }
}

/** copyUIDGID: the container's user and its primary group, from the container's own files (Docker: idtools). */
export function containerOwner(cfs: ContainerFs): { uid: number; gid: number } {
  const u = resolveUser(cfs.user, readContainerFile(cfs, '/etc/passwd'), readContainerFile(cfs, '/etc/group'));
  return { uid: u.uid, gid: u.gid };
}

export interface FsAccessDeps {
  rootfsOf(id: string): string;
  overlayOf(c: ContainerRecord): { lowerDirs: string[]; upperDir: string; workDir: string; driver?: OverlayDriver };
  isLive(id: string): boolean;
  withLock<T>(id: string, fn: () => Promise<T>): Promise<T>;
  volumes?: {
    mount(name: string, containerId: string): Promise<string>;
    unmount(name: string, containerId: string): Promise<void>;
  };
}

export interface FsAccess {
  /** Opens the container's file system for one copy; concurrent copies share a stopped container's mount. */
  open(c: ContainerRecord, ref: string): Promise<ContainerFs>;
  /** Resolves when no copy holds the container's file system (start waits for it: the mount is then its own). */
  idle(id: string): Promise<void>;
}

function mountsOf(c: ContainerRecord): FsMount[] {
  const out: FsMount[] = (c.mountPoints ?? []).map((m: MountPoint) => ({
    destination: m.destination,
    source: m.source,
    rw: m.rw,
    type: m.type,
  }));
  for (const dest of Object.keys(c.hostConfig.tmpfs ?? {}))
    if (!out.some((m) => m.destination === dest)) out.push({ destination: dest, source: '', rw: true, type: 'tmpfs' });
  return out;
}

/** Opens a running container's root as its processes see it, checked to be that container's overlay. */
function openProcRoot(pid: number, rootfs: string): number | undefined {
  if (!pid) return undefined;
  let proc: number;
  try {
    proc = fs.openSync(`/proc/${pid}`, DIR_FLAGS);
  } catch {
    return undefined;
  }
  try {
    // The /proc/<pid> fd pins the process: if it ended and its pid was reused, this open fails instead.
    const fd = fs.openSync(at(proc, 'root'), C.O_RDONLY | C.O_DIRECTORY);
    const mine = fs.fstatSync(fd);
    let host: fs.Stats | undefined;
    try {
      host = fs.statSync(rootfs);
    } catch {
      /* not mounted */
    }
    if (!host || mine.dev !== host.dev || mine.ino !== host.ino) {
      fs.closeSync(fd);
      return undefined;
    }
    return fd;
  } catch {
    return undefined;
  } finally {
    fs.closeSync(proc);
  }
}

export function createFsAccess(deps: FsAccessDeps): FsAccess {
  // Per container: how many copies hold it, and the stopped container's temporary mount (if we made it).
  const holders = new Map<string, { count: number; temp: number; mountedHere: boolean; idle: (() => void)[] }>();

  const state = (id: string) => {
    let s = holders.get(id);
    if (!s) holders.set(id, (s = { count: 0, temp: 0, mountedHere: false, idle: [] }));
    return s;
  };

  const open = (c: ContainerRecord, ref: string) =>
    deps.withLock(c.id, async (): Promise<ContainerFs> => {
      const s = state(c.id);
      const rootfs = deps.rootfsOf(c.id);
      const mounts = mountsOf(c);
      let rootFd = deps.isLive(c.id) ? openProcRoot(c.state.pid, rootfs) : undefined;
      let mapped: FsMount[] = [];
      let temp = false;
      try {
        if (rootFd === undefined && deps.isLive(c.id)) {
          // Running, but its root not reachable through its process (ending right now): the shim's mount of it,
          // if still there; a second overlay on the same upper dir is never mounted under a live container.
          if (!isMountPoint(rootfs)) throw conflict(`Container ${c.id} is changing state; try again`);
          rootFd = fs.openSync(rootfs, C.O_RDONLY | C.O_DIRECTORY);
          mapped = mountsOf(c).filter((m) => m.type !== 'tmpfs');
        }
        if (rootFd === undefined) {
          temp = true;
          if (s.temp === 0 && !isMountPoint(rootfs)) {
            const o = deps.overlayOf(c);
            await mountOverlay(o.lowerDirs, o.upperDir, o.workDir, rootfs, o.driver);
            s.mountedHere = true;
          }
          s.temp++;
          rootFd = fs.openSync(rootfs, C.O_RDONLY | C.O_DIRECTORY);
          mapped = [];
          for (const m of c.mountPoints ?? []) {
            if (m.type === 'tmpfs') continue; // exists only while the container runs
            const source =
              m.type === 'volume' && m.name && deps.volumes ? await deps.volumes.mount(m.name, c.id) : m.source;
            mapped.push({ destination: m.destination, source, rw: m.rw, type: m.type });
          }
        }
      } catch (err) {
        if (temp) await releaseTemp(c);
        if (rootFd !== undefined) fs.closeSync(rootFd);
        throw err;
      }
      s.count++;
      let released = false;
      const cfs: ContainerFs = {
        ref,
        rootFd: rootFd!,
        mapped,
        mounts,
        readonlyRootfs: !!c.hostConfig.readonlyRootfs,
        user: c.config.user,
        async release() {
          if (released) return;
          released = true;
          try {
            fs.closeSync(cfs.rootFd);
          } catch {
            /* closed */
          }
          if (temp) await releaseTemp(c);
          s.count--;
          if (s.count === 0) {
            holders.delete(c.id);
            for (const fn of s.idle.splice(0)) fn();
          }
        },
      };
      return cfs;
    });

  const releaseTemp = async (c: ContainerRecord) => {
    const s = state(c.id);
    s.temp = Math.max(0, s.temp - 1);
    if (s.temp > 0) return;
    if (deps.volumes)
      for (const m of c.mountPoints ?? [])
        if (m.type === 'volume' && m.name) await deps.volumes.unmount(m.name, c.id).catch(() => {});
    if (s.mountedHere && !deps.isLive(c.id)) await unmount(deps.rootfsOf(c.id));
    s.mountedHere = false;
  };

  return {
    open,
    idle(id) {
      const s = holders.get(id);
      if (!s || s.count === 0) return Promise.resolve();
      return new Promise((resolve) => s.idle.push(resolve));
    },
  };
}
