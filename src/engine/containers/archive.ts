// `docker cp`: stat, tar and untar of paths inside a container (running or not), confined to it.
//
// Why not paths: a container's processes can rename and symlink its files while the engine works on them
// (CVE-2018-15664), so a path checked once may lead to the host a moment later. Everything here goes through
// directory file descriptors instead: each step opens ONE name below a directory we already hold, with
// O_NOFOLLOW, through the `/proc/self/fd/N/name` magic link (Node has no openat). Symlinks are read and
// interpreted by us, relative to the container's root (as Docker's FollowSymlinkInScope / securejoin), and `..`
// is lexical and never climbs above the root. Whatever is swapped underneath, a step can only fail, never leave.
//
// The root: a running container's own root as its processes see it (`/proc/<pid>/root`: volumes, binds and
// tmpfs mounted by the kernel), checked to be the container's overlay; a stopped one's overlay mounted for the
// copy, with its volumes and binds mapped by hand at their destinations (`mapped`).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { conflict, type EngineError, invalidParameter, isEngineError, notFound, system } from '../errdefs';
import { isMountPoint, mountOverlay, resolveUser, unmount } from '../runtime';
import { makeSpecialFile } from '../snapshots';
import type { MountPoint } from '../volumes';
import type { ContainerRecord } from './state';

const C = fs.constants;
const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;
const MAX_SYMLINKS = 255;

/** The path of `name` (one component) inside the directory `fd`: openat(fd, name) for Node. */
const at = (fd: number, name: string) => `/proc/self/fd/${fd}/${name}`;
const fdPath = (fd: number) => `/proc/self/fd/${fd}`;

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

export interface PathStat {
  name: string;
  size: number;
  /** Go's os.FileMode bits (what Docker's X-Docker-Container-Path-Stat carries). */
  mode: number;
  mtime: string;
  linkTarget: string;
}

// ---------- Go's FileMode, Docker's path rules ----------

const GO_MODE = {
  dir: 2 ** 31,
  symlink: 2 ** 27,
  device: 2 ** 26,
  namedPipe: 2 ** 25,
  socket: 2 ** 24,
  setuid: 2 ** 23,
  setgid: 2 ** 22,
  charDevice: 2 ** 21,
  sticky: 2 ** 20,
};

/** A unix st_mode as Go's os.FileMode (os.Lstat's fillFileStatFromSys). */
export function goFileMode(mode: number): number {
  let m = mode & 0o777;
  switch (mode & 0o170000) {
    case 0o060000:
      m += GO_MODE.device;
      break;
    case 0o020000:
      m += GO_MODE.device + GO_MODE.charDevice;
      break;
    case 0o040000:
      m += GO_MODE.dir;
      break;
    case 0o010000:
      m += GO_MODE.namedPipe;
      break;
    case 0o120000:
      m += GO_MODE.symlink;
      break;
    case 0o140000:
      m += GO_MODE.socket;
      break;
    default:
      break;
  }
  if (mode & 0o2000) m += GO_MODE.setgid;
  if (mode & 0o4000) m += GO_MODE.setuid;
  if (mode & 0o1000) m += GO_MODE.sticky;
  return m;
}

/** Go's RFC3339Nano (what a time.Time marshals to), in UTC. */
export function rfc3339Nano(st: { mtimeMs: number }): string {
  const iso = new Date(Math.floor(st.mtimeMs)).toISOString();
  return iso.replace(/\.?0+Z$/, 'Z').replace(/\.Z$/, 'Z');
}

const specifiesCurrentDir = (p: string) => p === '.' || p.endsWith('/.');

/** Docker's archive.PreserveTrailingDotOrSeparator(filepath.Join("/", p), p): the absolute path the API means. */
export function absContainerPath(p: string): string {
  let clean = path.posix.normalize(`/${p}`);
  if (clean.length > 1) clean = clean.replace(/\/+$/, '');
  if (!specifiesCurrentDir(clean) && specifiesCurrentDir(p)) clean += clean.endsWith('/') ? '.' : '/.';
  if (!clean.endsWith('/') && p.endsWith('/')) clean += '/';
  return clean;
}

/** filepath.Base: the name the archive's root entry gets ("/" for the root, "." for "dir/."). */
export function baseName(abs: string): string {
  const trimmed = abs.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

// ---------- walking below directory fds ----------

interface Dir {
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
type Location =
  | { kind: 'dir'; dir: Dir; path: string }
  | { kind: 'entry'; parent: Dir; name: string; path: string }
  | { kind: 'missing'; path: string };

const errno = (code: string, message: string) => Object.assign(new Error(`${message}: ${code}`), { code });

function closeDir(d: Dir) {
  if (d.owned)
    try {
      fs.closeSync(d.fd);
    } catch {
      /* already closed */
    }
}

function closeStack(stack: Dir[], keep?: Dir) {
  for (const d of stack) if (d !== keep) closeDir(d);
}

const join = (dir: string, name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);

function mountAt(list: FsMount[], p: string): FsMount | undefined {
  return list.find((m) => path.posix.normalize(m.destination).replace(/\/+$/, '') === p);
}

/** Whether container path `p` is at or below a mount of the container (Docker's volume HasResource). */
function mountHolding(list: FsMount[], p: string): FsMount | undefined {
  let best: FsMount | undefined;
  for (const m of list) {
    const d = path.posix.normalize(m.destination).replace(/\/+$/, '') || '/';
    if ((p === d || p.startsWith(d === '/' ? '/' : `${d}/`)) && (!best || d.length > best.destination.length)) best = m;
  }
  return best;
}

function rootDir(cfs: ContainerFs): Dir {
  const st = fs.fstatSync(cfs.rootFd);
  return { fd: cfs.rootFd, path: '/', dev: st.dev, readonly: cfs.readonlyRootfs, foreign: false, owned: false };
}

/** Opens directory `name` below `parent` (never through a symlink), with the mount rules applied. */
function openChildDir(cfs: ContainerFs, parent: Dir, name: string): Dir {
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
function walk(cfs: ContainerFs, stack: Dir[], parts: string[], lenient = false): Location {
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

function lstatAt(loc: Location): fs.Stats {
  if (loc.kind === 'dir') return fs.fstatSync(loc.dir.fd);
  if (loc.kind === 'entry') return fs.lstatSync(at(loc.parent.fd, loc.name));
  throw errno('ENOENT', `lstat ${loc.path}`);
}

/** Docker's container.ResolvePath: the directory part resolved in the container, the last name left as it is. */
function resolveForRead(cfs: ContainerFs, abs: string, stack: Dir[]): Location {
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

function translate(cfs: ContainerFs, p: string, err: unknown): EngineError {
  if (isEngineError(err)) return err;
  const code = (err as any)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return notFoundIn(cfs, p);
  if (code === 'ELOOP') return invalidParameter(`${(err as Error).message}`);
  if (code === 'ERR_INVALID_ARG_VALUE' || code === 'ENAMETOOLONG')
    return invalidParameter(`invalid path ${JSON.stringify(p)}`);
  return system((err as Error)?.message ?? String(err));
}

// ---------- stat ----------

function statOf(cfs: ContainerFs, abs: string, st: fs.Stats): PathStat {
  let linkTarget = '';
  if (st.isSymbolicLink()) {
    const stack = [rootDir(cfs)];
    try {
      linkTarget = walk(cfs, stack, abs.split('/'), true).path;
    } catch {
      linkTarget = '';
    } finally {
      closeStack(stack);
    }
  }
  return { name: baseName(abs), size: st.size, mode: goFileMode(st.mode), mtime: rfc3339Nano(st), linkTarget };
}

/** HEAD /containers/{id}/archive. */
export function statPath(cfs: ContainerFs, p: string): PathStat {
  const abs = absContainerPath(p);
  const stack = [rootDir(cfs)];
  try {
    const loc = resolveForRead(cfs, abs, stack);
    return statOf(cfs, abs, lstatAt(loc));
  } catch (err) {
    throw translate(cfs, p, err);
  } finally {
    closeStack(stack);
  }
}

// ---------- GET: a tar of a path ----------

const BLOCK = 512;
const CHUNK = 64 * 1024;
const MAX_OCTAL = 0o7777777;

function devParts(rdev: number) {
  return {
    devmajor: ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff),
    devminor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00),
  };
}

const TYPEFLAG: Record<string, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
  'pax-header': 'x',
};

interface Header {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  size?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

function octal(buf: Buffer, value: number, offset: number, width: number) {
  buf.write(value.toString(8).padStart(width - 1, '0') + '\0', offset, width, 'latin1');
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

function ustar(h: Header): Buffer {
  const buf = Buffer.alloc(BLOCK);
  const name = Buffer.from(h.name);
  let prefix = Buffer.alloc(0);
  let base = name;
  if (name.length > 100) {
    // ustar's prefix field: split at a slash so that both halves fit.
    const s = h.name;
    for (let i = s.indexOf('/'); i >= 0; i = s.indexOf('/', i + 1)) {
      const pre = Buffer.from(s.slice(0, i));
      const rest = Buffer.from(s.slice(i + 1));
      if (pre.length <= 155 && rest.length <= 100 && rest.length > 0) {
        prefix = pre;
        base = rest;
        break;
      }
    }
  }
  base.subarray(0, 100).copy(buf, 0);
  octal(buf, h.mode & 0o7777, 100, 8);
  octal(buf, Math.min(h.uid, MAX_OCTAL), 108, 8);
  octal(buf, Math.min(h.gid, MAX_OCTAL), 116, 8);
  octal(buf, Math.min(h.size ?? 0, 0o77777777777), 124, 12);
  octal(buf, Math.max(0, Math.floor(h.mtime.getTime() / 1000)), 136, 12);
  buf.write(TYPEFLAG[h.type] ?? '0', 156, 1, 'latin1');
  Buffer.from(h.linkname ?? '')
    .subarray(0, 100)
    .copy(buf, 157);
  buf.write('ustar\x0000', 257, 8, 'latin1');
  octal(buf, h.devmajor ?? 0, 329, 8);
  octal(buf, h.devminor ?? 0, 337, 8);
  prefix.copy(buf, 345);
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of buf) sum += b;
  buf.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return buf;
}

/** One entry's header blocks: ustar, preceded by a PAX header for what ustar cannot hold (long names, big ids). */
export function encodeHeader(h: Header): Buffer[] {
  const records: string[] = [];
  const nameBytes = Buffer.byteLength(h.name);
  const fitsName =
    nameBytes <= 100 ||
    (() => {
      for (let i = h.name.indexOf('/'); i >= 0; i = h.name.indexOf('/', i + 1)) {
        if (
          Buffer.byteLength(h.name.slice(0, i)) <= 155 &&
          Buffer.byteLength(h.name.slice(i + 1)) <= 100 &&
          i + 1 < h.name.length
        )
          return true;
      }
      return false;
    })();
  if (!fitsName) records.push(paxRecord('path', h.name));
  if (h.linkname && Buffer.byteLength(h.linkname) > 100) records.push(paxRecord('linkpath', h.linkname));
  if (h.uid > MAX_OCTAL) records.push(paxRecord('uid', String(h.uid)));
  if (h.gid > MAX_OCTAL) records.push(paxRecord('gid', String(h.gid)));
  if ((h.size ?? 0) > 0o77777777777) records.push(paxRecord('size', String(h.size)));
  const main = ustar(h);
  if (!records.length) return [main];
  const body = Buffer.from(records.join(''));
  const pax = ustar({
    name: 'PaxHeader',
    type: 'pax-header',
    mode: h.mode,
    uid: 0,
    gid: 0,
    mtime: h.mtime,
    size: body.length,
  });
  return [pax, body, Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK), main];
}

function entryHeader(name: string, st: fs.Stats, extra: Partial<Header> & { type: string }): Header {
  return {
    name,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000),
    ...extra,
  };
}

async function* fileContent(fd: number, size: number): AsyncGenerator<Buffer> {
  let pos = 0;
  while (pos < size) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, size - pos));
    const n = await new Promise<number>((resolve, reject) =>
      fs.read(fd, buf, 0, buf.length, pos, (err, bytes) => (err ? reject(err) : resolve(bytes))),
    );
    // A file that shrank while being read is padded: the header promised `size` bytes.
    if (n === 0) {
      yield Buffer.alloc(size - pos);
      pos = size;
      break;
    }
    pos += n;
    yield n === buf.length ? buf : buf.subarray(0, n);
  }
  if (size % BLOCK) yield Buffer.alloc(BLOCK - (size % BLOCK));
}

/**
 * The tar of `loc` with its root entry named `rootName` (Docker's TarResourceRebase naming: "/" → entries
 * "/", "/bin"…; "." → "./", "./a"…). Hard links inside become link entries; sockets are left out, as Docker does.
 */
async function* tarOf(cfs: ContainerFs, loc: Location, rootName: string): AsyncGenerator<Buffer> {
  const prefix = rootName === '/' ? '' : rootName;
  const links = new Map<string, string>();

  async function* one(
    parent: Dir | undefined,
    name: string,
    st: fs.Stats,
    entryName: string,
    dir?: Dir,
  ): AsyncGenerator<Buffer> {
    if (st.isDirectory()) {
      yield* encodeHeader(
        entryHeader(entryName.endsWith('/') ? entryName : `${entryName}/`, st, { type: 'directory' }),
      );
      const d = dir ?? openChildDir(cfs, parent!, name);
      try {
        if (d.foreign) return;
        const names = fs.readdirSync(fdPath(d.fd)).sort();
        for (const child of names) {
          let cst: fs.Stats;
          const cpath = join(d.path, child);
          const mapped = mountAt(cfs.mapped, cpath);
          try {
            cst = mapped ? fs.statSync(mapped.source) : fs.lstatSync(at(d.fd, child));
          } catch {
            continue;
          } // gone meanwhile
          if (mapped && !cst.isDirectory()) {
            yield* fileEntry(
              cfs,
              { kind: 'entry', parent: d, name: child, path: cpath },
              `${entryName.replace(/\/$/, '')}/${child}`,
              links,
            );
            continue;
          }
          yield* one(d, child, cst, `${entryName.replace(/\/$/, '')}/${child}`);
        }
      } finally {
        if (d !== dir) closeDir(d);
      }
      return;
    }
    yield* fileEntry(
      cfs,
      { kind: 'entry', parent: parent!, name, path: join(parent!.path, name) },
      entryName,
      links,
      st,
    );
  }

  if (loc.kind === 'dir') {
    yield* one(undefined, '', fs.fstatSync(loc.dir.fd), prefix || '/', loc.dir);
  } else if (loc.kind === 'entry') {
    const st = fs.lstatSync(at(loc.parent.fd, loc.name));
    yield* one(loc.parent, loc.name, st, prefix || '/');
  }
}

/** The end of a tar (two zero blocks): archivePath's stream stops before it, so the caller can let go first. */
export const TAR_TRAILER = Buffer.alloc(BLOCK * 2);

async function* fileEntry(
  cfs: ContainerFs,
  loc: { kind: 'entry'; parent: Dir; name: string; path: string },
  entryName: string,
  links: Map<string, string>,
  known?: fs.Stats,
): AsyncGenerator<Buffer> {
  const mapped = mountAt(cfs.mapped, loc.path);
  const hostPath = mapped ? mapped.source : at(loc.parent.fd, loc.name);
  const st = known ?? (mapped ? fs.statSync(hostPath) : fs.lstatSync(hostPath));
  if (st.isSymbolicLink()) {
    yield* encodeHeader(entryHeader(entryName, st, { type: 'symlink', linkname: fs.readlinkSync(hostPath) }));
    return;
  }
  if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
    const type = st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'character-device' : 'block-device';
    yield* encodeHeader(entryHeader(entryName, st, { type, ...devParts(st.rdev) }));
    return;
  }
  if (!st.isFile()) return; // sockets
  const key = `${st.dev}:${st.ino}`;
  if (st.nlink > 1) {
    const first = links.get(key);
    if (first !== undefined) {
      yield* encodeHeader(entryHeader(entryName, st, { type: 'link', linkname: first }));
      return;
    }
    links.set(key, entryName);
  }
  // O_NONBLOCK: a name swapped for a fifo meanwhile must not hang the engine; fstat tells what was opened.
  let fd: number;
  try {
    fd = fs.openSync(hostPath, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err: any) {
    if (err.code === 'ENOENT' || err.code === 'ELOOP') return; // gone or swapped meanwhile
    throw err;
  }
  try {
    const fst = fs.fstatSync(fd);
    if (!fst.isFile()) return;
    yield* encodeHeader(entryHeader(entryName, fst, { type: 'file', size: fst.size }));
    yield* fileContent(fd, fst.size);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * GET /containers/{id}/archive: the path's stat and a tar stream of it (read on demand: backpressure), without
 * TAR_TRAILER: a client stops reading at the trailer, and a stopped container's mount must be gone by then.
 */
export function archivePath(cfs: ContainerFs, p: string): { stat: PathStat; stream: Readable } {
  const abs = absContainerPath(p);
  const stack = [rootDir(cfs)];
  let loc: Location;
  let stat: PathStat;
  try {
    loc = resolveForRead(cfs, abs, stack);
    stat = statOf(cfs, abs, lstatAt(loc));
  } catch (err) {
    closeStack(stack);
    throw translate(cfs, p, err);
  }
  const gen = tarOf(cfs, loc, baseName(abs));
  const stream = Readable.from(
    (async function* () {
      try {
        yield* gen;
      } finally {
        closeStack(stack);
      }
    })(),
    { objectMode: false, highWaterMark: CHUNK },
  );
  return { stat, stream };
}

// ---------- PUT: extract a tar into a directory ----------

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
      const owner = opts.owner ?? { uid: h.uid ?? 0, gid: h.gid ?? 0 };
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

// ---------- holding a container's file system ----------

export interface FsAccessDeps {
  rootfsOf(id: string): string;
  overlayOf(c: ContainerRecord): { lowerDirs: string[]; upperDir: string; workDir: string };
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
            await mountOverlay(o.lowerDirs, o.upperDir, o.workDir, rootfs);
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
