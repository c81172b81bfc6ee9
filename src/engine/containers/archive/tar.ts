// GET /containers/{id}/archive and docker export: a tar stream of a path in the container, walked below directory
// fds and written with tar-stream's pack (ustar, PAX records for what ustar cannot hold), with backpressure.
import * as fs from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import * as tar from 'tar-stream';
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
/** The largest id a ustar header holds as tar-stream writes it (6 octal digits); above it a PAX record says it. */
const MAX_USTAR_ID = 0o777777;

function devParts(rdev: number) {
  return {
    devmajor: ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff),
    devminor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00),
  };
}

/**
 * One entry's header as tar-stream takes it. tar-stream writes a PAX header itself for long or non-ASCII names
 * and link targets; ids it cannot hold in ustar get PAX records too (Go's archive/tar does the same).
 */
type EntryHeader = Partial<tar.Header> & Pick<tar.Header, 'name' | 'type'>;

function entryHeader(name: string, st: fs.Stats, extra: Partial<tar.Header> & Pick<tar.Header, 'type'>): EntryHeader {
  const pax: Record<string, string> = {};
  if (st.uid > MAX_USTAR_ID) pax.uid = String(st.uid);
  if (st.gid > MAX_USTAR_ID) pax.gid = String(st.gid);
  return {
    name,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000),
    ...(Object.keys(pax).length ? { pax } : {}),
    ...extra,
  };
}

/**
 * tar-stream's pack, written to with backpressure both ways: file content waits on its entry's stream, and
 * between entries the walk waits while the pack holds more than its high-water mark unread (headers alone
 * would otherwise pile up for a directory of a million empty files).
 */
class PackWriter {
  readonly pack = tar.pack({ highWaterMark: 4 * CHUNK });
  /** Bytes the pack holds that the consumer has not taken yet (counted at the pack's own push). */
  private buffered = 0;
  private waiting: (() => void)[] = [];

  constructor() {
    const push = this.pack.push.bind(this.pack);
    this.pack.push = (chunk: any) => {
      if (chunk) this.buffered += chunk.length;
      return push(chunk);
    };
  }

  /** The pack's output into a Node stream; each chunk taken may let the walk go on, a consumer gone ends it. */
  pipeTo(dest: PassThrough): PassThrough {
    const release = () => {
      for (const w of this.waiting.splice(0)) w();
    };
    this.pack.on('data', (chunk: unknown) => {
      this.buffered -= (chunk as Buffer).length;
      if (this.buffered <= 4 * CHUNK) release();
    });
    this.pack.on('error', (err: Error) => dest.destroy(err));
    this.pack.on('close', release); // a waiting walk goes on and finds the pack destroyed
    dest.on('close', () => this.pack.destroy());
    this.pack.pipe(dest);
    return dest;
  }

  async entry(header: EntryHeader, content?: AsyncIterable<Buffer>): Promise<void> {
    if (this.buffered > 4 * CHUNK) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.pack.destroyed) throw new Error('tar consumer gone');
    await new Promise<void>((resolve, reject) => {
      const sink = this.pack.entry(header, (err) => (err ? reject(err) : resolve()));
      if (!content) return;
      (async () => {
        for await (const buf of content) {
          if (sink.destroyed) return; // the pack went with its consumer; the entry's callback has the error
          if (!sink.write(buf))
            await new Promise<void>((r) => {
              const go = () => {
                sink.off('drain', go);
                sink.off('close', go);
                r();
              };
              sink.on('drain', go);
              sink.on('close', go);
            });
        }
        sink.end(undefined);
      })().catch((err) => {
        sink.destroy(err);
        reject(err);
      });
    });
  }
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
}

/**
 * The tar of `loc` with its root entry named `rootName` (Docker's TarResourceRebase naming: "/" → entries
 * "/", "/bin"…; "." → "./", "./a"…). Hard links inside become link entries; sockets are left out, as Docker does.
 */
async function tarOf(out: PackWriter, cfs: ContainerFs, loc: Location, rootName: string, bare = false): Promise<void> {
  const prefix = rootName === '/' ? '' : rootName;
  const links = new Map<string, string>();
  /** A child's entry name; below a bare root (export) the names are relative: "bin/", "bin/sh". */
  const childName = (entryName: string, child: string) =>
    bare && entryName === '' ? child : `${entryName.replace(/\/$/, '')}/${child}`;

  async function one(parent: Dir | undefined, name: string, st: fs.Stats, entryName: string, dir?: Dir): Promise<void> {
    if (st.isDirectory()) {
      if (!(bare && entryName === ''))
        await out.entry(entryHeader(entryName.endsWith('/') ? entryName : `${entryName}/`, st, { type: 'directory' }));
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
            await fileEntry(
              out,
              cfs,
              { kind: 'entry', parent: d, name: child, path: cpath },
              childName(entryName, child),
              links,
            );
            continue;
          }
          await one(d, child, cst, childName(entryName, child));
        }
      } finally {
        if (d !== dir) closeDir(d);
      }
      return;
    }
    await fileEntry(
      out,
      cfs,
      { kind: 'entry', parent: parent!, name, path: join(parent!.path, name) },
      entryName,
      links,
      st,
    );
  }

  if (loc.kind === 'dir') {
    await one(undefined, '', fs.fstatSync(loc.dir.fd), bare ? '' : prefix || '/', loc.dir);
  } else if (loc.kind === 'entry') {
    const st = fs.lstatSync(at(loc.parent.fd, loc.name));
    await one(loc.parent, loc.name, st, prefix || '/');
  }
}

/** The end of a tar (two zero blocks): archivePath's stream stops before it, so the caller can let go first. */
export const TAR_TRAILER = Buffer.alloc(BLOCK * 2);

async function fileEntry(
  out: PackWriter,
  cfs: ContainerFs,
  loc: { kind: 'entry'; parent: Dir; name: string; path: string },
  entryName: string,
  links: Map<string, string>,
  known?: fs.Stats,
): Promise<void> {
  const mapped = mountAt(cfs.mapped, loc.path);
  const hostPath = mapped ? mapped.source : at(loc.parent.fd, loc.name);
  const st = known ?? (mapped ? fs.statSync(hostPath) : fs.lstatSync(hostPath));
  if (st.isSymbolicLink()) {
    await out.entry(entryHeader(entryName, st, { type: 'symlink', linkname: fs.readlinkSync(hostPath) }));
    return;
  }
  if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) {
    const type = st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'character-device' : 'block-device';
    await out.entry(entryHeader(entryName, st, { type, ...devParts(st.rdev) }));
    return;
  }
  if (!st.isFile()) return; // sockets
  const key = `${st.dev}:${st.ino}`;
  if (st.nlink > 1) {
    const first = links.get(key);
    if (first !== undefined) {
      await out.entry(entryHeader(entryName, st, { type: 'link', linkname: first }));
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
    await out.entry(entryHeader(entryName, fst, { type: 'file', size: fst.size }), fileContent(fd, fst.size));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The walk into a fresh pack, read as a Node stream on demand. `trailer`: end with the tar's two zero blocks
 * (export); without, the stream ends after the last entry (archivePath). `done` runs once the walk is over,
 * before the stream ends.
 */
function packStream(walk: (out: PackWriter) => Promise<void>, trailer: boolean, done: () => void): Readable {
  const out = new PackWriter();
  walk(out).then(
    () => {
      done();
      if (trailer) out.pack.finalize();
      else out.pack.push(null); // every entry is written (each was awaited): nothing is pending in the pack
    },
    (err) => {
      done();
      out.pack.destroy(err);
    },
  );
  return out.pipeTo(new PassThrough({ highWaterMark: CHUNK }));
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
  const stream = packStream(
    (out) => tarOf(out, cfs, loc, baseName(abs)),
    false,
    () => closeStack(stack),
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
  const root = { kind: 'dir', dir: stack[0], path: '/' } as Location;
  return packStream(
    (out) => tarOf(out, own, root, '/', true),
    true,
    () => closeStack(stack),
  );
}
