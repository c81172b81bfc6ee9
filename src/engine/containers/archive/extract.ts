// PUT /containers/{id}/archive: a tar extracted into a directory of the container, each entry written below
// directory fds (never through a symlink), with Docker's rules for names, overwrites, owners and read-only paths.
import * as fs from 'node:fs';
import * as tar from 'tar-stream';
import { invalidParameter, isEngineError, system } from '../../errdefs';
import { makeSpecialFile } from '../../snapshots';
import {
  C,
  DIR_FLAGS,
  at,
  fdPath,
  type Dir,
  closeDir,
  closeStack,
  join,
  mountAt,
  mountHolding,
  rootDir,
  openChildDir,
  walk,
  lstatAt,
  translate,
  type ContainerFs,
} from './walk';
import { absContainerPath } from './paths';
import { ownableOwner } from '../../util/ownable';

export interface ExtractOptions {
  noOverwriteDirNonDir: boolean;
  /** Owner for every entry (copyUIDGID); the tar's own owners otherwise. */
  owner?: { uid: number; gid: number };
}

/**
 * A tar entry's name below the destination, as moby's Unpack sees it: cleaned lexically (`a/../b` is `b`), an
 * absolute name taken relative to the destination (`..` stops at its root), and a relative one that climbs
 * above the destination refused.
 */
export function entryParts(name: string): string[] {
  const absolute = name.startsWith('/');
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length) parts.pop();
      else if (!absolute)
        throw invalidParameter(`invalid archive entry ${JSON.stringify(name)}: path escapes the destination`);
      continue;
    }
    parts.push(part);
  }
  return parts;
}

/** Removes `name` below `parent`, a directory tree included, never following a symlink. */
function removeAt(parent: Dir, name: string) {
  const st = fs.lstatSync(at(parent.fd, name));
  if (!st.isDirectory()) {
    fs.unlinkSync(at(parent.fd, name));
    return;
  }
  const fd = fs.openSync(at(parent.fd, name), DIR_FLAGS);
  try {
    const d: Dir = { ...parent, fd, owned: true };
    for (const child of fs.readdirSync(fdPath(fd))) removeAt(d, child);
  } finally {
    fs.closeSync(fd);
  }
  fs.rmdirSync(at(parent.fd, name));
}

/**
 * Holds the directories of the entry being written, reused for the next entry in the same place. Parents are
 * created (0755, like Docker) when missing; a symlink on the way is refused, never followed.
 */
class ParentCache {
  private names: string[] = [];
  private dirs: Dir[];
  constructor(
    private cfs: ContainerFs,
    private dest: Dir,
  ) {
    this.dirs = [dest];
  }

  open(parts: string[], owner: { uid: number; gid: number } | undefined, entry: string): Dir {
    let common = 0;
    while (common < this.names.length && common < parts.length && this.names[common] === parts[common]) common++;
    while (this.names.length > common) {
      this.names.pop();
      closeDir(this.dirs.pop()!);
    }
    for (const part of parts.slice(common)) {
      const top = this.dirs[this.dirs.length - 1];
      const p = join(top.path, part);
      if (!mountAt(this.cfs.mapped, p)) {
        let st: fs.Stats | undefined;
        try {
          st = fs.lstatSync(at(top.fd, part));
        } catch (err: any) {
          if (err.code !== 'ENOENT') throw err;
        }
        if (!st) {
          refuseWrite(this.cfs, top, entry);
          fs.mkdirSync(at(top.fd, part), 0o755);
          if (owner) fs.lchownSync(at(top.fd, part), owner.uid, owner.gid);
        } else if (st.isSymbolicLink()) {
          throw invalidParameter(
            `invalid archive entry ${JSON.stringify(entry)}: ${p} is a symbolic link in the container; refusing to write through it`,
          );
        } else if (!st.isDirectory()) {
          throw invalidParameter(`invalid archive entry ${JSON.stringify(entry)}: ${p} is not a directory`);
        }
      }
      let d: Dir;
      try {
        d = openChildDir(this.cfs, top, part);
      } catch (err: any) {
        if (err.code === 'ELOOP' || err.code === 'ENOTDIR')
          throw invalidParameter(`invalid archive entry ${JSON.stringify(entry)}: ${p} changed while being written`);
        throw err;
      }
      this.names.push(part);
      this.dirs.push(d);
    }
    return this.dirs[this.dirs.length - 1];
  }

  close() {
    closeStack(this.dirs, this.dest);
    this.dirs = [this.dest];
    this.names = [];
  }
}

function refuseWrite(cfs: ContainerFs, dir: Dir, entry: string) {
  if (dir.foreign)
    throw invalidParameter(
      `cannot copy ${JSON.stringify(entry)} into ${dir.path}: not part of the container's file system`,
    );
  if (dir.readonly) {
    throw invalidParameter(
      mountHolding(cfs.mounts, dir.path)
        ? 'mounted volume is marked read-only'
        : 'container rootfs is marked read-only',
    );
  }
}

async function writeFileAt(
  parent: Dir,
  name: string,
  source: AsyncIterable<Buffer>,
  mode: number,
  owner: { uid: number; gid: number },
  mtime: Date,
) {
  const fd = fs.openSync(at(parent.fd, name), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode & 0o777);
  try {
    for await (const chunk of source) {
      let off = 0;
      while (off < chunk.length) {
        off += await new Promise<number>((resolve, reject) =>
          fs.write(fd, chunk, off, chunk.length - off, null, (err, n) => (err ? reject(err) : resolve(n))),
        );
      }
    }
    fs.fchownSync(fd, owner.uid, owner.gid);
    fs.fchmodSync(fd, mode & 0o7777);
    fs.futimesSync(fd, mtime, mtime);
  } finally {
    fs.closeSync(fd);
  }
}

/** PUT /containers/{id}/archive: extracts `body` (a tar) into the directory `p` of the container. */
export async function extractToDir(
  cfs: ContainerFs,
  p: string,
  body: NodeJS.ReadableStream,
  opts: ExtractOptions,
): Promise<void> {
  const abs = absContainerPath(p);
  const stack = [rootDir(cfs)];
  let dest: Dir;
  try {
    // Docker follows the last name too: extracting "into a symlink to a directory" works.
    const loc = walk(cfs, stack, abs.split('/'));
    if (loc.kind !== 'dir') {
      const st = lstatAt(loc);
      if (!st.isDirectory()) throw invalidParameter('extraction point is not a directory');
    }
    dest = (loc as { dir: Dir }).dir;
  } catch (err) {
    closeStack(stack);
    throw translate(cfs, p, err);
  }
  const parents = new ParentCache(cfs, dest);
  const dirTimes: { parts: string[]; mtime: Date }[] = [];
  const extract = tar.extract();
  let failure: unknown;
  // The body is read as the extraction consumes it (backpressure). Not with for-await: leaving that loop early
  // would destroy the request, and with it the connection the error answer must go out on.
  const onData = (chunk: Buffer) => {
    if (!extract.write(chunk)) {
      body.pause();
      extract.once('drain', () => body.resume());
    }
  };
  body.on('data', onData);
  body.once('end', () => extract.end(undefined as never));
  body.once('error', (err: Error) => extract.destroy(err));
  try {
    refuseWrite(cfs, dest, '.');
    for await (const entry of extract) {
      const h = entry.header;
      const parts = entryParts(h.name);
      const owner = opts.owner ?? ownableOwner(h.uid ?? 0, h.gid ?? 0);
      const mode = h.mode ?? (h.type === 'directory' ? 0o755 : 0o644);
      const mtime = h.mtime ?? new Date();
      if (parts.length === 0) {
        // "." is the destination itself: Docker leaves an existing directory as it is.
        entry.resume();
        continue;
      }
      const name = parts[parts.length - 1];
      const parent = parents.open(parts.slice(0, -1), opts.owner, h.name);
      refuseWrite(cfs, parent, h.name);
      const target = join(parent.path, name);
      if (mountAt(cfs.mapped, target)) {
        if (h.type !== 'directory')
          throw invalidParameter(`cannot replace the mount point ${target} with ${JSON.stringify(h.name)}`);
        entry.resume();
        continue;
      }
      let existing: fs.Stats | undefined;
      try {
        existing = fs.lstatSync(at(parent.fd, name));
      } catch (err: any) {
        if (err.code !== 'ENOENT') throw err;
      }
      const isDir = h.type === 'directory';
      if (existing) {
        if (opts.noOverwriteDirNonDir && existing.isDirectory() && !isDir) {
          throw invalidParameter(`cannot overwrite directory "${target}" with non-directory "${h.name}"`);
        }
        if (opts.noOverwriteDirNonDir && !existing.isDirectory() && isDir) {
          throw invalidParameter(`cannot overwrite non-directory "${target}" with directory "${h.name}"`);
        }
        if (!(existing.isDirectory() && isDir)) removeAt(parent, name);
      }
      switch (h.type) {
        case 'directory': {
          if (!existing?.isDirectory()) fs.mkdirSync(at(parent.fd, name), mode & 0o777);
          const fd = fs.openSync(at(parent.fd, name), DIR_FLAGS);
          try {
            fs.fchownSync(fd, owner.uid, owner.gid);
            fs.fchmodSync(fd, mode & 0o7777);
          } finally {
            fs.closeSync(fd);
          }
          dirTimes.push({ parts, mtime });
          entry.resume();
          break;
        }
        case 'file':
        case 'contiguous-file':
          await writeFileAt(parent, name, entry as AsyncIterable<Buffer>, mode, owner, mtime);
          break;
        case 'symlink':
          fs.symlinkSync(h.linkname ?? '', at(parent.fd, name));
          fs.lchownSync(at(parent.fd, name), owner.uid, owner.gid);
          fs.lutimesSync(at(parent.fd, name), mtime, mtime);
          entry.resume();
          break;
        case 'link': {
          // Hard links name an earlier entry of the same archive, relative to the destination.
          const linkParts = entryParts(h.linkname ?? '');
          if (!linkParts.length)
            throw invalidParameter(`invalid hardlink ${JSON.stringify(h.name)} -> ${JSON.stringify(h.linkname)}`);
          const srcParents = new ParentCache(cfs, dest);
          try {
            const srcDir = srcParents.open(linkParts.slice(0, -1), undefined, h.linkname ?? '');
            fs.linkSync(at(srcDir.fd, linkParts[linkParts.length - 1]), at(parent.fd, name));
          } finally {
            srcParents.close();
          }
          entry.resume();
          break;
        }
        case 'character-device':
        case 'block-device':
        case 'fifo':
          // As Docker: the node is made (the container's device rules still decide whether it can be opened).
          // Through the parent's fd, from the helper process that has mknod: the name is never re-resolved.
          await makeSpecialFile(`/proc/${process.pid}/fd/${parent.fd}/${name}`, {
            type: h.type,
            mode,
            major: h.devmajor ?? 0,
            minor: h.devminor ?? 0,
            uid: owner.uid,
            gid: owner.gid,
            mtime,
          }).catch((err: Error) => {
            throw system(`cannot make ${JSON.stringify(h.name)}: ${err.message.replace(/^unpacking failed: /, '')}`);
          });
          entry.resume();
          break;
        default:
          throw invalidParameter(`cannot copy ${JSON.stringify(h.name)}: ${h.type} entries are not supported`);
      }
    }
    // Directory times last: writing inside them changed them.
    parents.close();
    for (const d of dirTimes.reverse()) {
      try {
        fs.futimesSync(parents.open(d.parts, undefined, d.parts.join('/')).fd, d.mtime, d.mtime);
      } catch {
        /* changed by the container meanwhile: its times are its own */
      }
    }
  } catch (err) {
    failure = err;
  } finally {
    parents.close();
    closeStack(stack);
    body.off('data', onData);
    if (failure !== undefined) {
      extract.destroy();
      body.resume(); // the rest is read and dropped, so that the answer reaches the client
    }
  }
  if (failure !== undefined) {
    const code = (failure as any)?.code;
    if (code === 'EROFS') throw invalidParameter('container rootfs is marked read-only');
    // tar-stream's words for a body that is not a (whole) tar.
    if (/Invalid tar header|Unexpected end of data|unexpected end/i.test((failure as Error)?.message ?? '')) {
      throw invalidParameter(`the request body is not a valid tar archive: ${(failure as Error).message}`);
    }
    throw isEngineError(failure)
      ? failure
      : system(`extracting the archive into ${abs}: ${(failure as Error)?.message ?? failure}`);
  }
}
