// GET /containers/{id}/archive: a tar stream of a path in the container, written by hand (ustar with PAX
// records) as it is read, below directory fds, with backpressure.
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import {
  C,
  at,
  fdPath,
  type Dir,
  type Location,
  closeDir,
  closeStack,
  join,
  mountAt,
  rootDir,
  openChildDir,
  lstatAt,
  resolveForRead,
  translate,
  type ContainerFs,
} from './walk';
import { type PathStat, absContainerPath, baseName, statOf } from './paths';

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
async function* tarOf(cfs: ContainerFs, loc: Location, rootName: string, bare = false): AsyncGenerator<Buffer> {
  const prefix = rootName === '/' ? '' : rootName;
  const links = new Map<string, string>();
  /** A child's entry name; below a bare root (export) the names are relative: "bin/", "bin/sh". */
  const childName = (entryName: string, child: string) =>
    bare && entryName === '' ? child : `${entryName.replace(/\/$/, '')}/${child}`;

  async function* one(
    parent: Dir | undefined,
    name: string,
    st: fs.Stats,
    entryName: string,
    dir?: Dir,
  ): AsyncGenerator<Buffer> {
    if (st.isDirectory()) {
      if (!(bare && entryName === ''))
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
              childName(entryName, child),
              links,
            );
            continue;
          }
          yield* one(d, child, cst, childName(entryName, child));
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
    yield* one(undefined, '', fs.fstatSync(loc.dir.fd), bare ? '' : prefix || '/', loc.dir);
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

/**
 * docker export: the container's root filesystem as dockerd's TarWithOptions writes it — entries relative to the
 * root ("bin/", "bin/sh", no entry for the root itself), hard links as links, sockets left out — read below
 * directory fds as docker cp reads, with the engine's bind mounts and volumes left out (they are not the
 * container's filesystem), and the trailer at the end.
 */
export function exportRootfs(cfs: ContainerFs): Readable {
  // No mapped or known mounts: every other file system (volumes, binds, /proc, /sys) is an empty directory here.
  const own: ContainerFs = { ...cfs, mapped: [], mounts: [] };
  const stack = [rootDir(own)];
  const gen = tarOf(own, { kind: 'dir', dir: stack[0], path: '/' } as Location, '/', true);
  return Readable.from(
    (async function* () {
      try {
        yield* gen;
        yield TAR_TRAILER;
      } finally {
        closeStack(stack);
      }
    })(),
    { objectMode: false, highWaterMark: CHUNK },
  );
}
