// Layer snapshots keyed by chain ID: `<root>/<hex>/fs` is an overlayfs lowerdir holding exactly one layer's
// changes (with overlay whiteouts), `<root>/<hex>/meta.json` its facts. A snapshot appears by one rename of a
// fully unpacked and verified temp dir, so a failed or interrupted unpack leaves nothing behind.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { HashingStream, sha256 } from '../content';
import { notFound } from '../errdefs';
import { spreadSubdirectories, unpackTar, UnsafeLayerError } from './unpack';

export { UnsafeLayerError, safeRelative, makeSpecialFile } from './unpack';
export { diffTar, EMPTY_LAYER_DIFF_ID, type DiffOptions } from './diff';

export interface SnapshotMeta {
  chainId: string;
  diffId: string;
  parent?: string;
  /** Bytes of file content in this layer. */
  size: number;
  /** Bytes of the uncompressed layer tar (what docker save writes). */
  tarSize?: number;
  created: string;
}

export interface Snapshotter {
  root: string;
  has(chainId: string): boolean;
  /** The lowerdir of a snapshot. */
  dir(chainId: string): string;
  meta(chainId: string): SnapshotMeta;
  /**
   * Unpacks a layer (gzip, zstd or plain tar: detected from its first bytes) as the snapshot `chainId`, checking
   * the uncompressed bytes against `diffId`. Concurrent calls for one chain ID share the work.
   */
  unpack(chainId: string, diffId: string, parent: string | undefined, layer: Readable): Promise<SnapshotMeta>;
  /**
   * A layer made here (a commit, a build step) from its uncompressed tar, over `parent`: unpacked with its diff
   * ID computed on the way and stored under the chain ID that gives (an identical existing snapshot is kept).
   */
  create(parent: string | undefined, layer: Readable): Promise<SnapshotMeta>;
  remove(chainId: string): void;
  list(): string[];
}

export class DiffIdMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`layer content digest mismatch: expected diff ID ${expected}, got ${actual}`);
  }
}

/** chain(L0) = diff(L0); chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln)), as in the OCI image spec. */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) out.push(out.length ? sha256(`${out[out.length - 1]} ${d}`) : d);
  return out;
}

class ZstdStream extends Transform {
  private z = new ZstdDecompress((chunk) => {
    this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  });
  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.z.push(chunk);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
  _flush(cb: TransformCallback): void {
    try {
      this.z.push(new Uint8Array(0), true);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}

/** Looks at the first bytes of a layer and returns its uncompressed stream. */
export async function decompressed(src: Readable): Promise<Readable> {
  const it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < 4) {
    const n = await it.next();
    if (n.done) {
      ended = true;
      break;
    }
    const chunk = Buffer.isBuffer(n.value) ? n.value : Buffer.from(n.value);
    head.push(chunk);
    length += chunk.length;
  }
  const first = Buffer.concat(head);
  const whole = Readable.from(
    (async function* () {
      if (first.length) yield first;
      if (ended) return;
      for (;;) {
        const n = await it.next();
        if (n.done) return;
        yield n.value;
      }
    })(),
    { objectMode: false, highWaterMark: 1 << 20 },
  );
  let inner: Transform | undefined;
  if (first[0] === 0x1f && first[1] === 0x8b) inner = zlib.createGunzip({ chunkSize: 256 * 1024 });
  else if (first.length >= 4 && first.readUInt32LE(0) === 0xfd2fb528) inner = new ZstdStream();
  if (!inner) return whole;
  whole.on('error', (err) => inner!.destroy(err));
  inner.on('close', () => whole.destroy());
  return whole.pipe(inner);
}

export function createSnapshotter(root: string): Snapshotter {
  const tmpRoot = path.join(root, '.tmp');
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  fs.rmSync(tmpRoot, { recursive: true, force: true }); // half-unpacked layers of a crash
  fs.mkdirSync(tmpRoot, { recursive: true });
  const hex = (chainId: string) => chainId.replace(/^sha256:/, '');
  const base = (chainId: string) => path.join(root, hex(chainId));
  const inflight = new Map<string, Promise<SnapshotMeta>>();
  let spread: Promise<void> | undefined; // once per start (the temp root is new each time), on the first unpack

  /** Unpacks `layer` into a temp dir, then renames it to the chain ID `name(diffId)` returns. */
  const unpackInto = async (
    layer: Readable,
    parent: string | undefined,
    name: (diffId: string) => string,
    plainTar = false,
  ): Promise<SnapshotMeta> => {
    await (spread ??= spreadSubdirectories(tmpRoot));
    const tmp = path.join(tmpRoot, crypto.randomBytes(8).toString('hex'));
    fs.mkdirSync(path.join(tmp, 'fs'), { recursive: true, mode: 0o755 });
    try {
      const plain = plainTar ? layer : await decompressed(layer);
      const hashing = new HashingStream();
      plain.on('error', (err) => hashing.destroy(err));
      const stats = await unpackTar(plain.pipe(hashing), path.join(tmp, 'fs'));
      const diffId = hashing.digest();
      const chainId = name(diffId);
      const meta: SnapshotMeta = {
        chainId,
        diffId,
        parent,
        size: stats.size,
        tarSize: hashing.bytes,
        created: new Date().toISOString(),
      };
      fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify(meta));
      try {
        fs.renameSync(tmp, base(chainId));
      } catch (err: any) {
        if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
        fs.rmSync(tmp, { recursive: true, force: true }); // someone else made it meanwhile
      }
      return meta;
    } catch (err) {
      layer.destroy();
      await fs.promises.rm(tmp, { recursive: true, force: true });
      throw err;
    }
  };

  const s: Snapshotter = {
    root,
    has: (chainId) => fs.existsSync(path.join(base(chainId), 'meta.json')),
    dir: (chainId) => path.join(base(chainId), 'fs'),
    meta(chainId) {
      try {
        return JSON.parse(fs.readFileSync(path.join(base(chainId), 'meta.json'), 'utf8'));
      } catch {
        throw notFound(`snapshot ${chainId} does not exist`);
      }
    },
    unpack(chainId, diffId, parent, layer) {
      const running = inflight.get(chainId);
      if (running) {
        layer.destroy();
        return running;
      }
      if (s.has(chainId)) {
        layer.destroy();
        return Promise.resolve(s.meta(chainId));
      }
      const work = unpackInto(layer, parent, (actual) => {
        if (actual !== diffId) throw new DiffIdMismatchError(diffId, actual);
        return chainId;
      });
      inflight.set(chainId, work);
      work.finally(() => inflight.delete(chainId)).catch(() => {});
      return work;
    },
    create(parent, layer) {
      return unpackInto(layer, parent, (diffId) => (parent ? sha256(`${parent} ${diffId}`) : diffId), true);
    },
    remove(chainId) {
      const dir = base(chainId);
      if (!fs.existsSync(dir)) return;
      // Rename first so a half-removed snapshot is never mistaken for a whole one.
      const doomed = path.join(tmpRoot, `rm-${hex(chainId)}-${crypto.randomBytes(4).toString('hex')}`);
      fs.renameSync(dir, doomed);
      fs.rmSync(doomed, { recursive: true, force: true });
    },
    list() {
      return fs
        .readdirSync(root)
        .filter((n) => /^[a-f0-9]{64}$/.test(n) && fs.existsSync(path.join(root, n, 'meta.json')))
        .map((n) => `sha256:${n}`);
    },
  };
  return s;
}

export function isUnsafeLayer(err: unknown): err is UnsafeLayerError {
  return err instanceof UnsafeLayerError;
}
