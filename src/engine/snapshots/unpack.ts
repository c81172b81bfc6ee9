// Secure, fast extraction of one layer tar into an empty directory that becomes an overlayfs lowerdir.
// - Confined: absolute names, `..` components and entries below a symlink this layer created are refused
//   (each layer unpacks into its own empty directory, so those are the only ways out).
// - AUFS/OCI whiteouts become overlay whiteouts: `.wh.x` → a 0/0 character device `x`; `.wh..wh..opq` →
//   the xattr trusted.overlay.opaque=y on its directory.
// - Owners, modes, mtimes, hardlinks, symlinks, device nodes and xattrs are kept.
// No per-file fsync: the snapshot is renamed into place only after everything is written, and a crash before
// that leaves only a temp dir to delete.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';

export class UnsafeLayerError extends Error {}

const SMALL_FILE = 512 * 1024;
const WHITEOUT_PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';

interface Attrs { mode: number; uid: number; gid: number; mtime: Date }

export interface UnpackStats { size: number; files: number }

const UMASK = process.umask();

/**
 * Small files are written with direct syscalls: measured on a 10,000-file layer, the threadpool round trips of
 * async fs calls cost several times more than the work (6.5 s vs about 1 s), and each call here takes microseconds.
 */
function writeSmallFile(file: string, data: Buffer, a: Attrs): void {
  const mode = a.mode & 0o7777;
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, mode & 0o777);
  try {
    if (data.length) fs.writeSync(fd, data);
    if (a.uid !== 0 || a.gid !== 0 || process.getuid?.() !== 0) fs.fchownSync(fd, a.uid, a.gid);
    // open() applied mode minus the umask; chmod only when that is not the whole mode (umask bits, setuid…)
    if ((mode & 0o7000) || (mode & ~UMASK) !== mode) fs.fchmodSync(fd, mode);
    fs.futimesSync(fd, a.mtime, a.mtime);
  } finally {
    fs.closeSync(fd);
  }
}

/** Normalizes a tar name to a relative path, refusing anything that could leave the root. */
export function safeRelative(name: string, what = 'path'): string {
  if (name.startsWith('/')) throw new UnsafeLayerError(`refusing to unpack ${what} ${JSON.stringify(name)}: absolute path`);
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new UnsafeLayerError(`refusing to unpack ${what} ${JSON.stringify(name)}: path escapes the layer`);
    parts.push(part);
  }
  return parts.join('/');
}

/** Raw pax records, so binary xattr values (security.capability) survive (tar-stream decodes them as UTF-8). */
function paxXattrs(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let rest = buf;
  while (rest.length) {
    const sp = rest.indexOf(0x20);
    if (sp < 0) break;
    const len = parseInt(rest.subarray(0, sp).toString('latin1'), 10);
    if (!len || len > rest.length) break;
    const record = rest.subarray(sp + 1, len - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) {
      const key = record.subarray(0, eq).toString('utf8');
      const value = record.subarray(eq + 1);
      if (key.startsWith('SCHILY.xattr.')) out.set(key.slice('SCHILY.xattr.'.length), Buffer.from(value));
      else if (key.startsWith('LIBARCHIVE.xattr.')) out.set(decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length)), Buffer.from(value.toString('latin1'), 'base64'));
    }
    rest = rest.subarray(len);
  }
  return out;
}

const RAW_XATTRS = Symbol('rawXattrs');

function rawXattrExtract(): tar.Extract {
  const ex = tar.extract() as any;
  // tar-stream keeps pax values only as UTF-8 strings; keep the raw bytes of xattrs beside them.
  const decode = ex._decodeLongHeader.bind(ex);
  ex._decodeLongHeader = (buf: Buffer) => {
    decode(buf);
    if (ex._header?.type === 'pax-header' && ex._pax) ex._pax[RAW_XATTRS] = paxXattrs(Buffer.from(buf));
  };
  return ex as tar.Extract;
}

function helperPath(): string {
  return process.env.BERTH_UNPACK_HELPER ?? path.join(__dirname, 'bin', 'berth-unpack');
}

/** Runs the native helper over a batch of mknod/lsetxattr records. */
async function runHelper(records: string[][]): Promise<void> {
  if (!records.length) return;
  const child = spawn(helperPath(), [], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? -1));
  });
  child.stdin.on('error', () => {});
  child.stdin.end(Buffer.from(records.map((r) => r.map((f) => f + '\0').join('')).join(''), 'utf8'));
  const code = await exited;
  if (code !== 0) throw new Error(`unpacking special files failed: ${stderr.trim()}`);
}

/**
 * Asks the filesystem to spread `dir`'s subdirectories (each a layer being unpacked) over the disk: on ext4
 * without a journal, a layer unpacked where many files were just deleted pays seconds of kernel time per
 * 10,000 files (see the helper). Best effort; nothing depends on it.
 */
export async function spreadSubdirectories(dir: string): Promise<void> {
  await runHelper([['t', dir]]).catch(() => {});
}

function typeBits(type: string): number {
  switch (type) {
    case 'character-device': return 0o020000;
    case 'block-device': return 0o060000;
    case 'fifo': return 0o010000;
    default: return 0;
  }
}

/**
 * Extracts an uncompressed tar stream into `root` (an existing, empty directory). On error the caller removes
 * `root`; nothing is ever written outside it.
 */
export async function unpackTar(source: Readable, root: string): Promise<UnpackStats> {
  const extract = rawXattrExtract();
  const dirs = new Set<string>(['']);
  const symlinks = new Set<string>();
  const created = new Set<string>();
  const dirAttrs = new Map<string, Attrs>();
  const special: string[][] = [];
  const xattrs: string[][] = [];
  let size = 0;
  let files = 0;

  const abs = (rel: string) => (rel ? path.join(root, rel) : root);

  const checkParents = (rel: string, name: string) => {
    let i = rel.indexOf('/');
    while (i >= 0) {
      if (symlinks.has(rel.slice(0, i))) throw new UnsafeLayerError(`refusing to unpack ${JSON.stringify(name)}: a parent directory is a symlink (writes through symlinks are not allowed)`);
      i = rel.indexOf('/', i + 1);
    }
    if (symlinks.has(rel)) return; // replacing the link itself is fine
  };

  const ensureDir = async (rel: string) => {
    if (dirs.has(rel)) return;
    await fs.promises.mkdir(abs(rel), { recursive: true, mode: 0o755 });
    for (let r = rel; r && !dirs.has(r); r = path.posix.dirname(r) === '.' ? '' : path.posix.dirname(r)) {
      dirs.add(r);
      created.add(r);
    }
  };

  /** Makes room for a new entry at rel (a tar may name a path twice; the later entry wins). */
  const clear = async (rel: string, keepDir: boolean) => {
    if (!created.has(rel)) return;
    if (keepDir && dirs.has(rel)) return;
    await fs.promises.rm(abs(rel), { recursive: true, force: true });
    for (const set of [created, dirs, symlinks]) {
      for (const p of [...set]) if (p === rel || p.startsWith(rel + '/')) set.delete(p);
    }
  };

  const applyFile = async (file: string, a: Attrs) => {
    await fs.promises.lchown(file, a.uid, a.gid);
    await fs.promises.chmod(file, a.mode & 0o7777); // after chown, which clears setuid bits
    await fs.promises.utimes(file, a.mtime, a.mtime);
  };

  const feeding = pipeline(source, extract);
  feeding.catch(() => {}); // surfaces through the entry iterator below
  try {
    for await (const entry of extract as AsyncIterable<Readable & { header: tar.Header }>) {
      const h = entry.header;
      const rawX: Map<string, Buffer> | undefined = (h.pax as any)?.[RAW_XATTRS];
      const rel = safeRelative(h.name);
      const attrs: Attrs = { mode: h.mode ?? 0o644, uid: h.uid ?? 0, gid: h.gid ?? 0, mtime: h.mtime ?? new Date(0) };
      checkParents(rel, h.name);
      const base = path.posix.basename(rel);
      const parent = rel.includes('/') ? path.posix.dirname(rel) : '';

      if (rel === '') {
        if (h.type === 'directory') dirAttrs.set('', attrs);
        entry.resume();
        continue;
      }

      if (base.startsWith(WHITEOUT_PREFIX)) {
        entry.resume();
        await ensureDir(parent);
        if (base === OPAQUE) {
          xattrs.push(['x', abs(parent), 'trusted.overlay.opaque', Buffer.from('y').toString('hex')]);
        } else {
          const target = parent ? `${parent}/${base.slice(WHITEOUT_PREFIX.length)}` : base.slice(WHITEOUT_PREFIX.length);
          safeRelative(target);
          await clear(target, false);
          special.push(['m', abs(target), (0o020000).toString(8), '0', '0', String(attrs.uid), String(attrs.gid), '0', '0']);
          created.add(target);
        }
        continue;
      }

      await ensureDir(parent);
      const file = abs(rel);
      switch (h.type) {
        case 'directory': {
          entry.resume();
          await clear(rel, true);
          if (!dirs.has(rel)) await fs.promises.mkdir(file, { mode: 0o755 });
          dirs.add(rel);
          created.add(rel);
          dirAttrs.set(rel, attrs);
          break;
        }
        case 'file':
        case 'contiguous-file': {
          await clear(rel, false);
          created.add(rel);
          files++;
          size += h.size ?? 0;
          if ((h.size ?? 0) <= SMALL_FILE) {
            const chunks: Buffer[] = [];
            for await (const c of entry) chunks.push(c as Buffer);
            const data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
            writeSmallFile(file, data, attrs);
          } else {
            await pipeline(entry, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
            await applyFile(file, attrs);
          }
          break;
        }
        case 'symlink': {
          entry.resume();
          await clear(rel, false);
          await fs.promises.symlink(h.linkname ?? '', file);
          await fs.promises.lchown(file, attrs.uid, attrs.gid);
          await fs.promises.lutimes(file, attrs.mtime, attrs.mtime);
          created.add(rel);
          symlinks.add(rel);
          break;
        }
        case 'link': {
          entry.resume();
          const target = safeRelative(h.linkname ?? '', 'hardlink target');
          checkParents(target, h.linkname ?? '');
          if (!created.has(target) || dirs.has(target)) throw new UnsafeLayerError(`refusing to unpack hardlink ${JSON.stringify(h.name)}: target ${JSON.stringify(h.linkname)} is not a file of this layer`);
          await clear(rel, false);
          await fs.promises.link(abs(target), file);
          created.add(rel);
          if (symlinks.has(target)) symlinks.add(rel);
          break;
        }
        case 'character-device':
        case 'block-device':
        case 'fifo': {
          entry.resume();
          await clear(rel, false);
          const mtime = attrs.mtime.getTime();
          special.push(['m', file, (typeBits(h.type) | (attrs.mode & 0o7777)).toString(8), String(h.devmajor ?? 0), String(h.devminor ?? 0),
            String(attrs.uid), String(attrs.gid), String(Math.floor(mtime / 1000)), String((mtime % 1000) * 1_000_000)]);
          created.add(rel);
          break;
        }
        default:
          entry.resume(); // other types (GNU sparse, volume labels) carry nothing a container needs
          continue;
      }
      if (rawX) for (const [name, value] of rawX) xattrs.push(['x', file, name, value.toString('hex')]);
    }
    await feeding;
    await runHelper([...special, ...xattrs]);
    // Directories last, deepest first, so creating their children did not change their mtimes again.
    const ordered = [...dirAttrs.entries()].sort((a, b) => b[0].split('/').length - a[0].split('/').length);
    for (const [rel, a] of ordered) {
      if (!dirs.has(rel)) continue;
      await applyFile(abs(rel), a);
    }
  } catch (err) {
    source.destroy();
    extract.destroy();
    throw err;
  }
  return { size, files };
}
