// GET /containers/{id}/files (a Berth extension of the archive API): one directory's entries with their stat, as
// JSON, read below directory fds with the same confinement as `docker cp` — what a file browser needs. Docker has
// no such call: browsing over GET /archive makes the engine tar (and read) the whole subtree of the directory
// just to name its children.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalidParameter } from '../../errdefs';
import { type PathStat, absContainerPath, goFileMode, rfc3339Nano, statOf } from './paths';
import {
  at,
  closeDir,
  closeStack,
  type Dir,
  type Location,
  fdPath,
  join,
  lstatAt,
  mountAt,
  openChildDir,
  resolveForRead,
  rootDir,
  translate,
  type ContainerFs,
} from './walk';

export interface DirEntryStat extends PathStat {
  uid: number;
  gid: number;
}

export interface DirListing {
  /** The directory itself (its stat as HEAD /archive gives it). */
  stat: PathStat;
  /** Its entries by name; a symlink's linkTarget is its text resolved against the directory (not followed). */
  entries: DirEntryStat[];
}

/** The directory a location names (held by the walk, or opened below its parent). */
function dirAt(cfs: ContainerFs, loc: Location): Dir {
  if (loc.kind === 'dir') return loc.dir;
  if (loc.kind === 'entry') return openChildDir(cfs, loc.parent, loc.name);
  throw Object.assign(new Error(`lstat ${loc.path}`), { code: 'ENOENT' });
}

export function listPath(cfs: ContainerFs, p: string): DirListing {
  const abs = absContainerPath(p);
  const stack = [rootDir(cfs)];
  let dir: Dir | undefined;
  try {
    const loc = resolveForRead(cfs, abs, stack);
    let st = lstatAt(loc);
    if (loc.kind === 'entry' && st.isSymbolicLink()) {
      // A link to a directory lists the directory (as `ls path/` would); resolved within the container.
      const target = statOf(cfs, abs, st).linkTarget;
      if (!target) throw Object.assign(new Error(`lstat ${abs}`), { code: 'ENOENT' });
      const followed = resolveForRead(cfs, target, stack);
      st = lstatAt(followed);
      if (!st.isDirectory()) throw invalidParameter(`${p} is not a directory`);
      dir = dirAt(cfs, followed);
    } else if (!st.isDirectory()) throw invalidParameter(`${p} is not a directory`);
    else dir = dirAt(cfs, loc);
    const stat = statOf(cfs, abs, st);
    const entries: DirEntryStat[] = [];
    if (!dir.foreign)
      for (const name of fs.readdirSync(fdPath(dir.fd)).sort()) {
        const childPath = join(dir.path, name);
        const mapped = mountAt(cfs.mapped, childPath);
        let cst: fs.Stats;
        try {
          cst = mapped && mapped.source ? fs.statSync(mapped.source) : fs.lstatSync(at(dir.fd, name));
        } catch {
          continue; // gone meanwhile
        }
        let linkTarget = '';
        if (cst.isSymbolicLink())
          try {
            linkTarget = path.posix.resolve(dir.path, fs.readlinkSync(at(dir.fd, name)));
          } catch {
            /* gone meanwhile */
          }
        entries.push({
          name,
          size: cst.size,
          mode: goFileMode(cst.mode),
          mtime: rfc3339Nano(cst),
          linkTarget,
          uid: cst.uid,
          gid: cst.gid,
        });
      }
    return { stat, entries };
  } catch (err) {
    throw translate(cfs, p, err);
  } finally {
    if (dir && !stack.includes(dir)) closeDir(dir);
    closeStack(stack);
  }
}
