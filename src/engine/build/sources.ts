// Where COPY and ADD read from: the build context or another image's (or stage's) root file system. Paths are
// resolved inside that root (symlinks followed but never out of it, `..` stops at the root), sources are hashed
// the classic builder's way for the cache key (`file:<tarsum>`, `dir:<sha of the sorted sums>`, `multi:…`), and
// each source becomes a tar stream with the owners and modes the copy gives it.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';

const MAX_LINKS = 255;

export class SourceNotFound extends Error {
  readonly code = 'ENOENT';
}

/** What path resolution needs of a file tree: the kind of an entry, its link target, a directory's names. */
export interface Tree {
  lstat(rel: string): { kind: 'file' | 'dir' | 'symlink' | 'other'; link?: string } | undefined;
  /** Names in a directory, sorted. */
  list(rel: string): string[];
}

/** A tree on disk under `root` (another image's mounted root, a downloaded file). */
export function diskTree(root: string): Tree {
  return {
    lstat(rel) {
      let st: fs.Stats;
      try {
        st = fs.lstatSync(path.join(root, rel));
      } catch {
        return undefined;
      }
      if (st.isSymbolicLink()) return { kind: 'symlink', link: fs.readlinkSync(path.join(root, rel)) };
      return { kind: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other' };
    },
    list: (rel) => fs.readdirSync(path.join(root, rel)).sort(),
  };
}

/** A path (relative or absolute, `/`-separated) resolved inside a tree: the relative path it names, links followed. */
export function resolveInRoot(tree: Tree, p: string, followLast = true): string {
  const queue = p.split('/');
  const done: string[] = [];
  let hops = 0;
  while (queue.length) {
    const part = queue.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const rel = [...done, part].join('/');
    const st = tree.lstat(rel);
    if (!st) throw new SourceNotFound(`stat ${p}: file does not exist`);
    const last = !queue.some((q) => q !== '' && q !== '.');
    if (st.kind === 'symlink' && (followLast || !last)) {
      if (++hops > MAX_LINKS) throw new Error(`too many links in ${p}`);
      const target = st.link ?? '';
      if (target.startsWith('/')) done.length = 0;
      queue.unshift(...target.split('/'));
      continue;
    }
    if (!last && st.kind !== 'dir') throw new SourceNotFound(`stat ${p}: not a directory`);
    done.push(part);
  }
  return done.join('/');
}

export function containsWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

/** Every path below `rel` (itself included), in Go's filepath.Walk order (lexical, depth first, no links followed). */
export function walkPaths(tree: Tree, rel: string, visit: (rel: string) => void): void {
  const st = tree.lstat(rel);
  if (!st && rel) throw new SourceNotFound(`lstat ${rel}: file does not exist`);
  visit(rel);
  if (st && st.kind !== 'dir' && rel) return;
  for (const name of tree.list(rel)) walkPaths(tree, rel ? `${rel}/${name}` : name, visit);
}

/**
 * The TarSum of a file as the classic builder computes it for a source that did not come in a tar (another
 * image): the header it would be archived with (name, st_mode, owner, size, type, link), then the content.
 */
export function fileTarsum(root: string, rel: string): string {
  const full = path.join(root, rel);
  const st = fs.lstatSync(full);
  const type = st.isFile()
    ? '0'
    : st.isSymbolicLink()
      ? '2'
      : st.isCharacterDevice()
        ? '3'
        : st.isBlockDevice()
          ? '4'
          : st.isDirectory()
            ? '5'
            : st.isFIFO()
              ? '6'
              : '0';
  const dev = type === '3' || type === '4';
  const h = crypto.createHash('sha256');
  const fields: [string, string][] = [
    ['name', st.isDirectory() ? `${rel}/` : rel],
    ['mode', String(st.mode)],
    ['uid', String(st.uid)],
    ['gid', String(st.gid)],
    ['size', String(st.isFile() ? st.size : 0)],
    ['typeflag', type],
    ['linkname', st.isSymbolicLink() ? fs.readlinkSync(full) : ''],
    // Unlike the context's sums, these carry the owner's names as the engine's host resolves them (Go's
    // tar.FileInfoHeader looks them up; dockerd's tarsumHash keeps them).
    ['uname', hostName('/etc/passwd', st.uid)],
    ['gname', hostName('/etc/group', st.gid)],
    ['devmajor', String(dev ? Math.floor(st.rdev / 256) & 0xfff : 0)],
    ['devminor', String(dev ? (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00) : 0)],
  ];
  for (const [k, v] of fields) h.update(k + v);
  if (st.isFile() && st.size > 0) {
    const fd = fs.openSync(full, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (let n = fs.readSync(fd, buf); n > 0; n = fs.readSync(fd, buf)) h.update(buf.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  }
  return h.digest('hex');
}

const hostNames = new Map<string, Map<number, string>>();

/** The name of a uid (/etc/passwd) or gid (/etc/group) on this host, '' when it has none. */
function hostName(file: string, id: number): string {
  let m = hostNames.get(file);
  if (!m) {
    m = new Map();
    try {
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        const f = line.split(':');
        if (f.length >= 3 && /^\d+$/.test(f[2]) && !m.has(Number(f[2]))) m.set(Number(f[2]), f[0]);
      }
    } catch {
      /* no such file: no names */
    }
    hostNames.set(file, m);
  }
  return m.get(id) ?? '';
}

export function hashStrings(prefix: string, xs: string[]): string {
  return `${prefix}:${crypto.createHash('sha256').update(xs.join(',')).digest('hex')}`;
}

export interface TarOptions {
  /** Owner for every entry; the files' own owners when absent (COPY --from without --chown). */
  owner?: { uid: number; gid: number };
  /** COPY --chmod: the permission bits of every entry. */
  mode?: number;
}

interface PackItem {
  name: string;
  full: string;
  st: fs.Stats;
}

/**
 * A tar of `rel` inside `root`: a file (or what a link resolves to, already resolved by the caller) as one entry
 * named `as`, a directory as its contents (names relative to it). Links inside directories stay links.
 */
export function packSource(root: string, rel: string, as: string, o: TarOptions): Readable {
  const items: PackItem[] = [];
  const top = path.join(root, rel);
  const st = fs.statSync(top);
  if (st.isDirectory()) {
    const walk = (dirRel: string) => {
      for (const name of fs.readdirSync(path.join(top, dirRel)).sort()) {
        const r = dirRel ? `${dirRel}/${name}` : name;
        const full = path.join(top, r);
        const s = fs.lstatSync(full);
        items.push({ name: r, full, st: s });
        if (s.isDirectory()) walk(r);
      }
    };
    walk('');
  } else items.push({ name: as, full: top, st });
  const pack = tar.pack();
  (async () => {
    for (const it of items) {
      const s = it.st;
      const header: Partial<tar.Header> & { name: string } = {
        name: it.name,
        mode: o.mode ?? s.mode & 0o7777,
        uid: o.owner ? o.owner.uid : s.uid,
        gid: o.owner ? o.owner.gid : s.gid,
        mtime: s.mtime,
      };
      if (s.isDirectory()) {
        await entry(pack, { ...header, type: 'directory' });
      } else if (s.isSymbolicLink()) {
        await entry(pack, { ...header, type: 'symlink', linkname: fs.readlinkSync(it.full) });
      } else if (s.isFile()) {
        let finished!: (err?: Error | null) => void;
        const done = new Promise<void>((resolve, reject) => (finished = (err) => (err ? reject(err) : resolve())));
        const sink = pack.entry({ ...header, type: 'file', size: s.size }, (err) => finished(err));
        await pipeline(
          fs.createReadStream(it.full, { highWaterMark: 1 << 20 }),
          sink as unknown as NodeJS.WritableStream,
        );
        await done;
      } else if (s.isFIFO() || s.isCharacterDevice() || s.isBlockDevice()) {
        await entry(pack, {
          ...header,
          type: s.isFIFO() ? 'fifo' : s.isCharacterDevice() ? 'character-device' : 'block-device',
          devmajor: Math.floor(s.rdev / 256) & 0xfff,
          devminor: (s.rdev & 0xff) | ((s.rdev >> 12) & 0xfff00),
        });
      }
    }
    pack.finalize();
  })().catch((err) => pack.destroy(err));
  return pack as unknown as Readable;
}

function entry(pack: tar.Pack, h: Partial<tar.Header> & { name: string }): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(h, (err) => (err ? reject(err) : resolve())));
}

/** A one-file tar (a COPY heredoc). */
export function packBytes(name: string, data: Buffer, o: TarOptions & { mtime: Date }): Readable {
  const pack = tar.pack();
  pack.entry(
    { name, mode: o.mode ?? 0o644, uid: o.owner?.uid ?? 0, gid: o.owner?.gid ?? 0, mtime: o.mtime, size: data.length },
    data,
  );
  pack.finalize();
  return pack as unknown as Readable;
}

/** A tar of directories only: the missing part of a destination path, created with `owner`. */
export function packDirs(names: string[], owner: { uid: number; gid: number }, mtime: Date): Readable {
  const pack = tar.pack();
  for (const name of names)
    pack.entry({ name, type: 'directory', mode: 0o755, uid: owner.uid, gid: owner.gid, mtime }, () => {});
  pack.finalize();
  return pack as unknown as Readable;
}
