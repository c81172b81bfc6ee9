// Walking a container's file system below directory fds (see ./index.ts for why): each step opens one name
// below a directory already held, with O_NOFOLLOW; symlinks are read and resolved by us within the container's
// root, `..` is lexical, and the container's mounts (mapped by hand for a stopped container) are entered as the
// container sees them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type EngineError, invalidParameter, isEngineError, notFound, system } from '../../errdefs';

export const C = fs.constants;
export const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;
const MAX_SYMLINKS = 255;

/** The path of `name` (one component) inside the directory `fd`: openat(fd, name) for Node. */
export const at = (fd: number, name: string) => `/proc/self/fd/${fd}/${name}`;
export const fdPath = (fd: number) => `/proc/self/fd/${fd}`;

export interface FsMount {
  destination: string;
  /** Host path (bind source, volume `_data`); '' for tmpfs. */
  source: string;
  rw: boolean;
  type: 'bind' | 'volume' | 'tmpfs';
}

/** A container's file system, held open for one copy. */
export interface ContainerFs {
  /** The container as the client named it (for messages). */
  ref: string;
  rootFd: number;
  /** Mounts the kernel does not show below rootFd, mapped by hand (a stopped container's volumes and binds). */
  mapped: FsMount[];
  /** All of the container's mounts: read-only checks, and which other file systems a walk may enter. */
  mounts: FsMount[];
  readonlyRootfs: boolean;
  /** The container's `User` (copyUIDGID gives the copied files its uid and gid). */
  user: string;
  release(): Promise<void>;
}

export interface Dir {
  fd: number;
  /** The container path this directory has (lexically, as the walk reached it). */
  path: string;
  dev: number;
  /** Writes here are refused (read-only rootfs or mount). */
  readonly: boolean;
  /** A file system the container does not own (its /proc, /sys, /dev): shown empty, never entered or written. */
  foreign: boolean;
  /** Closed when popped (the root is not ours to close). */
  owned: boolean;
}

/** Where a path ended up: a directory we hold, a name inside one, or (following links) a path that does not exist. */
export type Location =
  | { kind: 'dir'; dir: Dir; path: string }
  | { kind: 'entry'; parent: Dir; name: string; path: string }
  | { kind: 'missing'; path: string };

const errno = (code: string, message: string) => Object.assign(new Error(`${message}: ${code}`), { code });

export function closeDir(d: Dir) {
  if (d.owned)
    try {
      fs.closeSync(d.fd);
    } catch {
      /* already closed */
    }
}

export function closeStack(stack: Dir[], keep?: Dir) {
  for (const d of stack) if (d !== keep) closeDir(d);
}

export const join = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);

export function mountAt(list: FsMount[], p: string): FsMount | undefined {
  return list.find((m) => path.posix.normalize(m.destination).replace(/\/+$/, '') === p);
}

/** Whether container path `p` is at or below a mount of the container (Docker's volume HasResource). */
export function mountHolding(list: FsMount[], p: string): FsMount | undefined {
  let best: FsMount | undefined;
  for (const m of list) {
    const d = path.posix.normalize(m.destination).replace(/\/+$/, '') || '/';
    if ((p === d || p.startsWith(d === '/' ? '/' : `${d}/`)) && (!best || d.length > best.destination.length)) best = m;
  }
  return best;
}

export function rootDir(cfs: ContainerFs): Dir {
  const st = fs.fstatSync(cfs.rootFd);
  return { fd: cfs.rootFd, path: '/', dev: st.dev, readonly: cfs.readonlyRootfs, foreign: false, owned: false };
}

/** Opens directory `name` below `parent` (never through a symlink), with the mount rules applied. */
export function openChildDir(cfs: ContainerFs, parent: Dir, name: string): Dir {
  const p = join(parent.path, name);
  const mapped = mountAt(cfs.mapped, p);
  const mount = mapped ?? mountAt(cfs.mounts, p);
  let fd: number;
  if (mapped) {
    // The engine's own path (a volume's _data, an admin's bind source): no container process can change it.
    fd = fs.openSync(mapped.source, C.O_RDONLY | C.O_DIRECTORY);
  } else {
    fd = fs.openSync(at(parent.fd, name), DIR_FLAGS);
  }
  const st = fs.fstatSync(fd);
  return {
    fd,
    path: p,
    dev: st.dev,
    owned: true,
    readonly: mount ? !mount.rw : parent.readonly,
    foreign: parent.foreign || (!mount && st.dev !== parent.dev),
  };
}

/**
 * Walks `parts` from the top of `stack`, following every symlink within the container. Returns where it ended;
 * the stack then holds the directories on the way (the caller closes them). With `lenient`, a missing component
 * ends the walk with the lexical rest (FollowSymlinkInScope for paths that do not exist).
 */
export function walk(cfs: ContainerFs, stack: Dir[], parts: string[], lenient = false): Location {
  const queue = [...parts];
  let hops = 0;
  while (queue.length) {
    const part = queue.shift()!;
    if (part === '' || part === '.') continue;
    const top = stack[stack.length - 1];
    if (part === '..') {
      if (stack.length > 1) closeDir(stack.pop()!);
      continue;
    }
    const more = queue.some((q) => q !== '' && q !== '.');
    const p = join(top.path, part);
    if (top.foreign) throw errno('ENOENT', `lstat ${p}`);
    const mapped = mountAt(cfs.mapped, p);
    if (mapped) {
      const st = fs.statSync(mapped.source);
      if (st.isDirectory()) {
        stack.push(openChildDir(cfs, top, part));
        continue;
      }
      if (more) throw errno('ENOTDIR', `lstat ${p}`);
      // A file bind-mounted over a path: the file itself, inside the (trusted) host directory holding it.
      const fd = fs.openSync(path.dirname(mapped.source), C.O_RDONLY | C.O_DIRECTORY);
      const holder: Dir = {
        fd,
        path: path.posix.dirname(p),
        dev: fs.fstatSync(fd).dev,
        readonly: !mapped.rw,
        foreign: false,
        owned: true,
      };
      stack.push(holder);
      return { kind: 'entry', parent: holder, name: path.basename(mapped.source), path: p };
    }
    let st: fs.Stats;
    try {
      st = fs.lstatSync(at(top.fd, part));
    } catch (err: any) {
      if (lenient && err.code === 'ENOENT') return { kind: 'missing', path: lexical(p, queue) };
      throw err;
    }
    if (st.isSymbolicLink()) {
      if (++hops > MAX_SYMLINKS) throw errno('ELOOP', `too many links in ${p}`);
      const target = fs.readlinkSync(at(top.fd, part));
      if (target.startsWith('/')) while (stack.length > 1) closeDir(stack.pop()!);
      queue.unshift(...target.split('/'));
      continue;
    }
    if (st.isDirectory()) {
      stack.push(openChildDir(cfs, top, part));
      continue;
    }
    if (more) throw errno('ENOTDIR', `lstat ${p}`);
    return { kind: 'entry', parent: top, name: part, path: p };
  }
  const top = stack[stack.length - 1];
  return { kind: 'dir', dir: top, path: top.path };
}

function lexical(start: string, rest: string[]): string {
  return path.posix.normalize([start, ...rest].join('/')).replace(/(.)\/+$/, '$1');
}

export function lstatAt(loc: Location): fs.Stats {
  if (loc.kind === 'dir') return fs.fstatSync(loc.dir.fd);
  if (loc.kind === 'entry') return fs.lstatSync(at(loc.parent.fd, loc.name));
  throw errno('ENOENT', `lstat ${loc.path}`);
}

/** Docker's container.ResolvePath: the directory part resolved in the container, the last name left as it is. */
export function resolveForRead(cfs: ContainerFs, abs: string, stack: Dir[]): Location {
  const cut = abs.lastIndexOf('/');
  const dirPart = abs.slice(0, cut + 1);
  const base = abs.slice(cut + 1);
  const dirLoc = walk(cfs, stack, dirPart.split('/'));
  if (dirLoc.kind !== 'dir') throw errno('ENOTDIR', `lstat ${abs}`);
  if (base === '' || base === '.') return dirLoc;
  const p = join(dirLoc.dir.path, base);
  if (dirLoc.dir.foreign) throw errno('ENOENT', `lstat ${p}`);
  // A mount point is the mount (as in the container); any other last name stays unresolved (lstat).
  if (mountAt(cfs.mapped, p)) return walk(cfs, stack, [base]);
  return { kind: 'entry', parent: dirLoc.dir, name: base, path: p };
}

const notFoundIn = (cfs: ContainerFs, p: string) => notFound(`Could not find the file ${p} in container ${cfs.ref}`);

export function translate(cfs: ContainerFs, p: string, err: unknown): EngineError {
  if (isEngineError(err)) return err;
  const code = (err as any)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return notFoundIn(cfs, p);
  if (code === 'ELOOP') return invalidParameter(`${(err as Error).message}`);
  if (code === 'ERR_INVALID_ARG_VALUE' || code === 'ENAMETOOLONG')
    return invalidParameter(`invalid path ${JSON.stringify(p)}`);
  return system((err as Error)?.message ?? String(err));
}
