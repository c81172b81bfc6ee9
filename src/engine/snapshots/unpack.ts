// Secure, fast extraction of one layer tar into an empty directory that becomes an overlayfs lowerdir.
// - Confined: absolute names, `..` components and entries below a symlink this layer created are refused
//   (each layer unpacks into its own empty directory, so those are the only ways out).
// - AUFS/OCI whiteouts become overlay whiteouts: `.wh.x` → a 0/0 character device `x`; `.wh..wh..opq` →
//   the xattr trusted.overlay.opaque=y on its directory.
// - Owners, modes, mtimes, hardlinks, symlinks, device nodes and xattrs are kept.
// No per-file fsync: the snapshot is renamed into place only after everything is written, and a crash before
// that leaves only a temp dir to delete.
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { ownableOwner } from '../util/ownable';

export class UnsafeLayerError extends Error {}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';

interface Attrs {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

export interface UnpackStats {
  size: number;
  files: number;
}

/** Normalizes a tar name to a relative path, refusing anything that could leave the root. */
export function safeRelative(name: string, what = 'path'): string {
  if (name.startsWith('/'))
    throw new UnsafeLayerError(`refusing to unpack ${what} ${JSON.stringify(name)}: absolute path`);
  if (name.includes('\0'))
    throw new UnsafeLayerError(`refusing to unpack ${what} ${JSON.stringify(name)}: NUL in a name`);
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..')
      throw new UnsafeLayerError(`refusing to unpack ${what} ${JSON.stringify(name)}: path escapes the layer`);
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
      else if (key.startsWith('LIBARCHIVE.xattr.'))
        out.set(
          decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length)),
          Buffer.from(value.toString('latin1'), 'base64'),
        );
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

/**
 * Makes one device node or fifo at `file` (which must not exist; never followed), for `docker cp` into a
 * container: Node's fs has no mknod. One helper run per node, which copies rarely carry.
 */
export async function makeSpecialFile(
  file: string,
  node: { type: string; mode: number; major: number; minor: number; uid: number; gid: number; mtime: Date },
): Promise<void> {
  const bits = typeBits(node.type);
  if (!bits) throw new UnsafeLayerError(`not a device or fifo: ${node.type}`);
  const applier = new Applier();
  const sec = Math.floor(node.mtime.getTime() / 1000);
  const nsec = (node.mtime.getTime() % 1000) * 1e6;
  await applier.op([
    'm',
    file,
    (bits | (node.mode & 0o7777)).toString(8),
    String(node.major),
    String(node.minor),
    String(node.uid),
    String(node.gid),
    String(sec),
    String(nsec),
  ]);
  await applier.finish();
}

function helperPath(): string {
  return process.env.BERTH_UNPACK_HELPER ?? path.join(__dirname, 'bin', 'berth-unpack');
}

/**
 * The native helper (native/berth-unpack.c) applying filesystem operations in the order they are sent. This
 * module decides everything (names, confinement, what replaces what); the helper only does the syscalls, on
 * its own core and off the event loop: measured on the 10,000-file layer, Node's own sync calls kept the
 * engine's only thread busy for about half of a pull. Records are batched into large pipe writes.
 */
class Applier {
  private child: ChildProcess;
  private exited: Promise<number>;
  private stderr = '';
  private closed = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor() {
    this.child = spawn(helperPath(), [], { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (d) => {
      if (this.stderr.length < 4096) this.stderr += d;
    });
    this.child.stdin!.on('error', () => {}); // the exit code and stderr tell what went wrong
    this.exited = new Promise<number>((resolve) => {
      this.child.once('error', (err) => {
        this.stderr ||= err.message;
        resolve(-1);
      });
      this.child.once('close', (code) => {
        this.closed = true;
        resolve(code ?? -1);
      });
    });
  }

  /** Queues one operation; waits only when the helper is behind. */
  op(fields: string[], data?: Buffer): Promise<void> | undefined {
    let text = '';
    for (const f of fields) {
      if (f.includes('\0'))
        throw new UnsafeLayerError(`refusing to unpack ${JSON.stringify(f)}: NUL in a name or link target`);
      text += f + '\0';
    }
    this.push(Buffer.from(text, 'utf8'));
    return data ? this.data(data) : this.pendingBytes >= BATCH ? this.flush() : undefined;
  }

  /** Raw bytes (file contents) following an `f` operation. */
  data(chunk: Buffer): Promise<void> | undefined {
    if (chunk.length >= BATCH / 4) {
      const f = this.flush();
      return f ? f.then(() => this.write(chunk)) : this.write(chunk);
    }
    this.push(chunk);
    return this.pendingBytes >= BATCH ? this.flush() : undefined;
  }

  private push(b: Buffer): void {
    this.pending.push(b);
    this.pendingBytes += b.length;
  }

  private flush(): Promise<void> | undefined {
    if (!this.pendingBytes) return undefined;
    const b = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return this.write(b);
  }

  private write(b: Buffer): Promise<void> | undefined {
    if (this.closed) return Promise.reject(this.failure(-1));
    if (this.child.stdin!.write(b)) return undefined;
    return new Promise<void>((resolve, reject) => {
      const stdin = this.child.stdin!;
      const done = () => {
        stdin.off('drain', done);
        this.child.off('close', done);
        this.closed ? reject(this.failure(-1)) : resolve();
      };
      stdin.once('drain', done);
      this.child.once('close', done);
    });
  }

  private failure(code: number): Error {
    return new Error(`unpacking failed: ${this.stderr.trim() || `helper exited with ${code}`}`);
  }

  /** Sends what is left and waits until everything is applied. */
  async finish(): Promise<void> {
    await this.flush();
    this.child.stdin!.end();
    const code = await this.exited;
    if (code !== 0) throw this.failure(code);
  }

  async abort(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

const BATCH = 256 * 1024;

/** Runs the native helper over a few records. */
async function runHelper(records: string[][]): Promise<void> {
  const applier = new Applier();
  for (const r of records) await applier.op(r);
  await applier.finish();
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
    case 'character-device':
      return 0o020000;
    case 'block-device':
      return 0o060000;
    case 'fifo':
      return 0o010000;
    default:
      return 0;
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
  const applier = new Applier();
  let size = 0;
  let files = 0;

  const abs = (rel: string) => (rel ? path.join(root, rel) : root);
  const time = (a: Attrs) => {
    const ms = a.mtime.getTime();
    return [String(Math.floor(ms / 1000)), String((((ms % 1000) + 1000) % 1000) * 1_000_000)];
  };
  const owner = (a: Attrs) => {
    const o = ownableOwner(a.uid, a.gid);
    return [String(o.uid), String(o.gid)];
  };

  const checkParents = (rel: string, name: string) => {
    let i = rel.indexOf('/');
    while (i >= 0) {
      if (symlinks.has(rel.slice(0, i)))
        throw new UnsafeLayerError(
          `refusing to unpack ${JSON.stringify(name)}: a parent directory is a symlink (writes through symlinks are not allowed)`,
        );
      i = rel.indexOf('/', i + 1);
    }
    if (symlinks.has(rel)) return; // replacing the link itself is fine
  };

  const ensureDir = async (rel: string) => {
    if (dirs.has(rel)) return;
    await applier.op(['d', abs(rel)]);
    for (let r = rel; r && !dirs.has(r); r = path.posix.dirname(r) === '.' ? '' : path.posix.dirname(r)) {
      dirs.add(r);
      created.add(r);
    }
  };

  /** Makes room for a new entry at rel (a tar may name a path twice; the later entry wins). */
  const clear = async (rel: string, keepDir: boolean) => {
    if (!created.has(rel)) return;
    if (keepDir && dirs.has(rel)) return;
    await applier.op(['r', abs(rel)]);
    for (const set of [created, dirs, symlinks]) {
      for (const p of [...set]) if (p === rel || p.startsWith(rel + '/')) set.delete(p);
    }
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
          await applier.op(['x', abs(parent), 'trusted.overlay.opaque', Buffer.from('y').toString('hex')]);
        } else {
          const target = parent
            ? `${parent}/${base.slice(WHITEOUT_PREFIX.length)}`
            : base.slice(WHITEOUT_PREFIX.length);
          safeRelative(target);
          await clear(target, false);
          await applier.op(['m', abs(target), (0o020000).toString(8), '0', '0', ...owner(attrs), '0', '0']);
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
          if (!dirs.has(rel)) await applier.op(['d', file]);
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
          const length = h.size ?? 0;
          size += length;
          await applier.op([
            'f',
            file,
            (attrs.mode & 0o7777).toString(8),
            ...owner(attrs),
            ...time(attrs),
            String(length),
          ]);
          let sent = 0;
          for await (const chunk of entry as AsyncIterable<Buffer>) {
            sent += chunk.length;
            await applier.data(chunk);
          }
          if (sent !== length) throw new Error(`unexpected end of layer in ${JSON.stringify(h.name)}`);
          break;
        }
        case 'symlink': {
          entry.resume();
          size += Buffer.byteLength(h.linkname ?? ''); // a link's st_size, which dockerd's layer sizes count
          await clear(rel, false);
          await applier.op(['l', file, h.linkname ?? '', ...owner(attrs), ...time(attrs)]);
          created.add(rel);
          symlinks.add(rel);
          break;
        }
        case 'link': {
          entry.resume();
          const target = safeRelative(h.linkname ?? '', 'hardlink target');
          checkParents(target, h.linkname ?? '');
          if (!created.has(target) || dirs.has(target))
            throw new UnsafeLayerError(
              `refusing to unpack hardlink ${JSON.stringify(h.name)}: target ${JSON.stringify(h.linkname)} is not a file of this layer`,
            );
          await clear(rel, false);
          await applier.op(['h', abs(target), file]);
          created.add(rel);
          if (symlinks.has(target)) symlinks.add(rel);
          break;
        }
        case 'character-device':
        case 'block-device':
        case 'fifo': {
          entry.resume();
          await clear(rel, false);
          await applier.op([
            'm',
            file,
            (typeBits(h.type) | (attrs.mode & 0o7777)).toString(8),
            String(h.devmajor ?? 0),
            String(h.devminor ?? 0),
            ...owner(attrs),
            ...time(attrs),
          ]);
          created.add(rel);
          break;
        }
        default:
          entry.resume(); // other types (GNU sparse, volume labels) carry nothing a container needs
          continue;
      }
      // After the owner is set: chown clears security.capability.
      if (rawX) for (const [name, value] of rawX) await applier.op(['x', file, name, value.toString('hex')]);
    }
    await feeding;
    // Directories last, deepest first, so creating their children did not change their mtimes again.
    const ordered = [...dirAttrs.entries()].sort((a, b) => b[0].split('/').length - a[0].split('/').length);
    for (const [rel, a] of ordered) {
      if (!dirs.has(rel)) continue;
      await applier.op(['a', abs(rel), (a.mode & 0o7777).toString(8), ...owner(a), ...time(a)]);
    }
    await applier.finish();
  } catch (err) {
    source.destroy();
    extract.destroy();
    await applier.abort();
    throw err;
  }
  return { size, files };
}
