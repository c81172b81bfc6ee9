// The container's file system seen from the engine: files read through its layers (no mount needed), `docker
// diff`, `docker export`, `docker cp` (./archive/) and the sizes `ps -s` and `system df` show.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { resolveUser } from '../runtime';
import { diffTar } from '../snapshots';
import { apparentSize } from '../util/fsx';
import { type ContainerFs, exportRootfs, type FsAccess } from './archive';
import type { ContainerRecord } from './state';
import type { ContainerStore } from './store';

/** Reads a file from the container's layers (upper first, then the image's, topmost first). */
export function readFromLayers(dirs: string[], rel: string): string | undefined {
  for (const d of dirs) {
    const p = path.join(d, rel);
    try {
      const st = fs.lstatSync(p);
      if (st.isCharacterDevice() && st.rdev === 0) return undefined; // overlay whiteout: deleted above
      if (st.isFile()) return fs.readFileSync(p, 'utf8');
    } catch {
      /* not in this layer */
    }
  }
  return undefined;
}

export function existsInLayers(dirs: string[], rel: string): boolean {
  for (const d of dirs) {
    try {
      const st = fs.lstatSync(path.join(d, rel));
      return !(st.isCharacterDevice() && st.rdev === 0);
    } catch {
      /* next layer */
    }
  }
  return false;
}

/** The container's layers, topmost first: its own writable layer, then its image's. */
export const layersOf = (store: ContainerStore, c: ContainerRecord) => [
  path.join(store.dirOf(c.id), 'upper'),
  ...c.layerDirs,
];

/** `User` resolved through the container's own /etc/passwd and /etc/group. */
export const userIn = (layers: string[], c: ContainerRecord, user: string) =>
  resolveUser(user, readFromLayers(layers, 'etc/passwd'), readFromLayers(layers, 'etc/group'), c.hostConfig.groupAdd);

/** What starting a container may create in its writable layer just to mount over it (runc, resolv.conf…). */
const ENGINE_MOUNT_POINTS = ['etc/hosts', 'etc/hostname', 'etc/resolv.conf', 'proc', 'sys', 'dev'];

export function createFilesystem(store: ContainerStore, fsAccess: FsAccess) {
  const sizeRw = (id: string) => apparentSize(path.join(store.dirOf(id), 'upper'));
  return {
    async changes(ref: string): Promise<{ path: string; kind: 0 | 1 | 2 }[]> {
      const c = store.lookup(ref);
      const upper = path.join(store.dirOf(c.id), 'upper');
      const out: { path: string; kind: 0 | 1 | 2 }[] = [];
      const walk = (rel: string) => {
        let entries: fs.Dirent[];
        try {
          entries = fs.readdirSync(path.join(upper, rel), { withFileTypes: true });
        } catch {
          return;
        }
        for (const e of entries) {
          const r = path.posix.join(rel, e.name);
          const st = fs.lstatSync(path.join(upper, r));
          if (st.isCharacterDevice() && st.rdev === 0) {
            out.push({ path: '/' + r, kind: 2 });
            continue;
          }
          const inLower = existsInLayers(c.layerDirs, r);
          out.push({ path: '/' + r, kind: inLower ? 0 : 1 });
          if (e.isDirectory()) walk(r);
        }
      };
      walk('');
      return out.sort((a, b) => a.path.localeCompare(b.path));
    },

    /** The writable layer as a layer tar, without the engine's own mount points (Docker's init layer). */
    diff(ref: string): Readable {
      const c = store.lookup(ref);
      return diffTar(path.join(store.dirOf(c.id), 'upper'), {
        lowerDirs: c.layerDirs,
        engineMade: ENGINE_MOUNT_POINTS,
      });
    },

    async export(ref: string): Promise<{ stream: Readable; done: Promise<void> }> {
      const c = store.lookup(ref);
      // Held like a copy (./archive/): a stopped container's temporary mount is shared and reference-counted,
      // so an export racing `docker cp` or a start never sees the root unmounted under it. Read by the walk
      // docker cp uses (below directory fds), not by a GNU tar whose failures went unseen.
      const held = await fsAccess.open(c, ref);
      let stream: Readable;
      try {
        stream = exportRootfs(held);
      } catch (err) {
        await held.release();
        throw err;
      }
      const done = new Promise<void>((resolve) => stream.once('close', () => resolve())).then(() => held.release());
      return { stream, done };
    },

    openFs: (ref: string): Promise<ContainerFs> => fsAccess.open(store.lookup(ref), ref),

    sizeRw,

    sizeRootFs(id: string, rw = sizeRw(id)): number {
      return (store.records.get(id)?.layerDirs ?? []).reduce((a, d) => a + apparentSize(d), rw);
    },
  };
}
