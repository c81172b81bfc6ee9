// The build context: the request body (a tar, plain or compressed) read once as it streams in, never held in
// memory. On the way it is indexed (each entry's kind, link and TarSum: the header's name, mode, owner, size,
// type, link, device and xattrs, then the content — what the classic builder puts in COPY's cache key and
// history, `COPY file:<sum> in /app/`) and stored as one file. Only a COPY or ADD that actually runs unpacks it
// into a directory: a rebuild whose steps all come from the cache writes a single file.
//
// Confinement, checked while indexing (so a bad context fails before the first step) and again when unpacking:
// names are cleaned and taken relative to the context root; `..` that would leave it, entries below a symlink the
// archive itself made, and hard links to anything but an earlier regular file are refused. Nothing is ever
// written outside the context directory, and no symlink is ever followed while writing.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { invalidParameter } from '../errdefs';
import { decompressed } from '../snapshots';
import type { Tree } from './sources';

const TYPEFLAG: Record<string, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
  'contiguous-file': '7',
};

/** Files up to this size are written synchronously as their chunks arrive; bigger ones stream. */
const SMALL_FILE = 256 * 1024;
/** Files the builder reads itself (the Dockerfile, .dockerignore) are kept in memory up to this size. */
const KEEP_IN_MEMORY = 1024 * 1024;

interface Entry {
  kind: 'file' | 'dir' | 'symlink' | 'other';
  link?: string;
  sum: string;
  /** Small files' bytes, for the Dockerfile and .dockerignore. */
  data?: Buffer;
}

export interface BuildContext {
  /** The context's entries (links resolved by the caller): for COPY's sources and cache keys. */
  tree: Tree;
  /** TarSum of an entry (a cleaned relative path: `a.txt`, `src/x`), undefined when the archive had none. */
  sum(rel: string): string | undefined;
  /** A small file's content (the Dockerfile, .dockerignore); undefined if absent or not a small regular file. */
  readFile(rel: string): Buffer | undefined;
  /** Leaves a path out (the Dockerfile and .dockerignore, when .dockerignore names them). */
  remove(rel: string): void;
  /** The context unpacked (on the first call) into a directory. */
  dir(): Promise<string>;
  close(): Promise<void>;
}

/** `path.Join(".", path.Join("/", name))`: the key TarSum files an entry under. */
export function contextKey(name: string): string {
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return parts.join('/') || '.';
}

function headerSum(h: tar.Header): crypto.Hash {
  const hash = crypto.createHash('sha256');
  const fields: [string, string][] = [
    ['name', h.name],
    ['mode', String(h.mode ?? 0)],
    ['uid', String(h.uid ?? 0)],
    ['gid', String(h.gid ?? 0)],
    ['size', String(h.size ?? 0)],
    ['typeflag', TYPEFLAG[h.type ?? 'file'] ?? '0'],
    ['linkname', h.linkname ?? ''],
    ['uname', ''],
    ['gname', ''],
    ['devmajor', String(h.devmajor ?? 0)],
    ['devminor', String(h.devminor ?? 0)],
  ];
  const pax = (h as any).pax as Record<string, string> | undefined;
  if (pax) {
    const keys = Object.keys(pax)
      .filter((k) => k.startsWith('SCHILY.xattr.'))
      .sort();
    for (const k of keys) fields.push([k.slice('SCHILY.xattr.'.length), pax[k]]);
  }
  for (const [k, v] of fields) hash.update(k + v);
  return hash;
}

/** The entry's name as a relative path, or an error when it climbs out of the context. */
function relativeName(name: string): string {
  let depth = 0;
  for (const p of name.replace(/^\/+/, '').split('/')) {
    if (p === '..') depth--;
    else if (p !== '' && p !== '.') depth++;
    if (depth < 0) throw invalidParameter(`invalid build context: ${JSON.stringify(name)} is outside of the context`);
  }
  return contextKey(name.replace(/^\/+/, ''));
}

/**
 * Walks a context tar, checking confinement as it goes. `onEntry` sees every accepted entry (with its relative
 * name, after the checks) and consumes it.
 */
async function walkTar(
  plain: Readable,
  onEntry: (rel: string, h: tar.Header, entry: Readable) => Promise<void>,
  skip: (rel: string) => boolean = () => false,
): Promise<void> {
  /** What the archive made so far, by cleaned path: a later entry below a symlink is refused. */
  const made = new Map<string, 'dir' | 'file' | 'symlink' | 'other'>();
  const extract = tar.extract();
  const feeding = pipeline(plain, extract);
  feeding.catch(() => {});
  try {
    for await (const entry of extract as AsyncIterable<Readable & { header: tar.Header }>) {
      const h = entry.header;
      const rel = relativeName(h.name);
      if (rel === '.' || skip(rel)) {
        entry.resume();
        continue;
      }
      const parts = rel.split('/');
      for (let i = 1; i < parts.length; i++) {
        const parent = parts.slice(0, i).join('/');
        const kind = made.get(parent);
        if (kind === 'symlink')
          throw invalidParameter(
            `invalid build context: ${JSON.stringify(h.name)} is below the symbolic link ${JSON.stringify(parent)}`,
          );
        if (kind && kind !== 'dir')
          throw invalidParameter(`invalid build context: ${JSON.stringify(h.name)}: ${parent} is not a directory`);
        if (!kind) made.set(parent, 'dir');
      }
      if (h.type === 'link') {
        const target = relativeName(h.linkname ?? '');
        if (made.get(target) !== 'file')
          throw invalidParameter(
            `invalid build context: hard link ${JSON.stringify(h.name)} to ${JSON.stringify(h.linkname)}, which is not an earlier file of the archive`,
          );
      }
      // A later entry replaces an earlier one (and what was below it).
      if (made.has(rel) && !(made.get(rel) === 'dir' && h.type === 'directory'))
        for (const k of [...made.keys()]) if (k === rel || k.startsWith(`${rel}/`)) made.delete(k);
      made.set(
        rel,
        h.type === 'directory'
          ? 'dir'
          : h.type === 'symlink'
            ? 'symlink'
            : h.type === 'file' || h.type === 'contiguous-file' || h.type === 'link'
              ? 'file'
              : 'other',
      );
      await onEntry(rel, h, entry);
    }
    await feeding;
  } catch (err: any) {
    extract.destroy();
    plain.resume();
    if (err?.kind) throw err;
    throw invalidParameter(`invalid build context: ${err?.message ?? err}`);
  }
}

/** Receives a context tar (plain, gzip or zstd) into `dir` (created empty): indexed, stored, not yet unpacked. */
export async function receiveContext(body: Readable, dir: string): Promise<BuildContext> {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tarFile = path.join(dir, 'context.tar');
  const entries = new Map<string, Entry>();
  const children = new Map<string, Set<string>>();
  const removed = new Set<string>();
  const addChild = (rel: string) => {
    const parts = rel.split('/');
    for (let i = 0; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      let set = children.get(parent);
      if (!set) children.set(parent, (set = new Set()));
      set.add(parts[i]);
      const p = parts.slice(0, i + 1).join('/');
      if (i < parts.length - 1 && !entries.has(p)) entries.set(p, { kind: 'dir', sum: '' });
    }
  };
  let plain: Readable;
  try {
    plain = await decompressed(body);
  } catch (err: any) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw invalidParameter(`invalid build context: ${err.message}`);
  }
  // One read of the body: stored as it is (decompressed) and indexed.
  const toIndex = new PassThrough({ highWaterMark: 1 << 20 });
  const toFile = fs.createWriteStream(tarFile, { highWaterMark: 1 << 20 });
  plain.on('error', (err) => toIndex.destroy(err));
  plain.pipe(toIndex);
  plain.pipe(toFile);
  const stored = new Promise<void>((resolve, reject) => toFile.once('finish', resolve).once('error', reject));
  try {
    await walkTar(toIndex, async (rel, h, entry) => {
      const hash = headerSum(h);
      const kind: Entry['kind'] =
        h.type === 'directory'
          ? 'dir'
          : h.type === 'symlink'
            ? 'symlink'
            : h.type === 'file' || h.type === 'contiguous-file' || h.type === 'link'
              ? 'file'
              : 'other';
      const keep = (h.type === 'file' || h.type === 'contiguous-file') && (h.size ?? 0) <= KEEP_IN_MEMORY;
      const chunks: Buffer[] = [];
      for await (const c of entry as AsyncIterable<Buffer>) {
        hash.update(c);
        if (keep) chunks.push(c);
      }
      for (const k of [...entries.keys()])
        if (k !== rel && k.startsWith(`${rel}/`) && kind !== 'dir') entries.delete(k);
      let data: Buffer | undefined = keep ? Buffer.concat(chunks) : undefined;
      if (h.type === 'link') data = entries.get(relativeName(h.linkname ?? ''))?.data;
      entries.set(rel, {
        kind,
        link: kind === 'symlink' ? (h.linkname ?? '') : undefined,
        sum: hash.digest('hex'),
        data,
      });
      addChild(rel);
    });
    await stored;
  } catch (err) {
    // The rest of the body is read and dropped, so that the error answer reaches the client.
    plain.unpipe(toFile);
    toFile.destroy();
    stored.catch(() => {});
    plain.resume();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const live = (rel: string) => {
    for (const r of removed) if (rel === r || rel.startsWith(`${r}/`)) return false;
    return entries.has(rel);
  };
  let unpacked: Promise<string> | undefined;
  const tree: Tree = {
    lstat(rel) {
      const key = contextKey(rel);
      if (key === '.') return { kind: 'dir' };
      if (!live(key)) return undefined;
      const e = entries.get(key)!;
      return { kind: e.kind, link: e.link };
    },
    list(rel) {
      const key = contextKey(rel);
      const names = [...(children.get(key === '.' ? '' : key) ?? [])];
      return names.filter((n) => live(key === '.' ? n : `${key}/${n}`)).sort();
    },
  };
  return {
    tree,
    sum: (rel) => {
      const key = contextKey(rel);
      return live(key) ? entries.get(key)?.sum || undefined : undefined;
    },
    readFile(rel) {
      const key = contextKey(rel);
      return live(key) ? entries.get(key)?.data : undefined;
    },
    remove(rel) {
      removed.add(contextKey(rel));
    },
    dir() {
      unpacked ??= unpack(tarFile, path.join(dir, 'root'), (rel) => !live(rel));
      return unpacked;
    },
    async close() {
      await fs.promises.rm(dir, { recursive: true, force: true });
    },
  };
}

/** Unpacks the stored context into `root` (confined as above), leaving out what was removed. */
async function unpack(tarFile: string, root: string, skip: (rel: string) => boolean): Promise<string> {
  fs.mkdirSync(root, { mode: 0o700 });
  const abs = (rel: string) => path.join(root, rel);
  const dirTimes: [string, Date][] = [];
  const dirs = new Set<string>();
  const ensureParents = (rel: string) => {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (dirs.has(p)) continue;
      fs.mkdirSync(abs(p), { recursive: true, mode: 0o755 });
      dirs.add(p);
    }
  };
  await walkTar(
    fs.createReadStream(tarFile, { highWaterMark: 1 << 20 }),
    async (rel, h, entry) => {
      ensureParents(rel);
      const mode = (h.mode ?? 0o644) & 0o7777;
      const mtime = h.mtime ?? new Date(0);
      let existing: fs.Stats | undefined;
      try {
        existing = fs.lstatSync(abs(rel));
      } catch {
        /* new */
      }
      if (existing && !(existing.isDirectory() && h.type === 'directory'))
        fs.rmSync(abs(rel), { recursive: true, force: true });
      switch (h.type) {
        case 'directory':
          if (!existing?.isDirectory()) fs.mkdirSync(abs(rel), 0o700);
          dirs.add(rel);
          fs.chmodSync(abs(rel), mode);
          dirTimes.push([rel, mtime]);
          entry.resume();
          break;
        case 'file':
        case 'contiguous-file': {
          const fd = fs.openSync(
            abs(rel),
            fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
            0o600,
          );
          try {
            if ((h.size ?? 0) <= SMALL_FILE) {
              // Most context files are small: written as they come, without a stream per file.
              for await (const c of entry as AsyncIterable<Buffer>)
                for (let off = 0; off < c.length; ) off += fs.writeSync(fd, c, off);
            } else {
              await pipeline(entry, fs.createWriteStream('', { fd, autoClose: false, highWaterMark: 1 << 20 }));
            }
            fs.fchmodSync(fd, mode);
            fs.futimesSync(fd, mtime, mtime);
          } finally {
            fs.closeSync(fd);
          }
          break;
        }
        case 'symlink':
          fs.symlinkSync(h.linkname ?? '', abs(rel));
          fs.lutimesSync(abs(rel), mtime, mtime);
          entry.resume();
          break;
        case 'link':
          fs.linkSync(abs(relativeName(h.linkname ?? '')), abs(rel));
          entry.resume();
          break;
        default:
          // Devices and fifos: nothing a build can copy; skipped (the docker CLI never sends them).
          entry.resume();
      }
    },
    skip,
  );
  for (const [rel, t] of dirTimes.reverse()) {
    try {
      fs.utimesSync(abs(rel), t, t);
    } catch {
      /* replaced by a later entry */
    }
  }
  return root;
}
