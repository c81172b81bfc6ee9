// Content-addressed blob store: `<root>/blobs/sha256/<hex>`. Writers hash while streaming into a temp file
// under `<root>/ingest/` and rename into place only when the digest (and size, if known) match, so a blob
// path that exists is always complete and correct.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { invalidParameter, notFound } from '../errdefs';

export interface ContentStore {
  root: string;
  has(digest: string): boolean;
  /** Path of a stored blob (it must exist). */
  path(digest: string): string;
  size(digest: string): number;
  read(digest: string): Promise<Buffer>;
  readStream(digest: string): Readable;
  /** Stores a small blob held in memory (manifests, configs); returns its digest. */
  put(data: Buffer, expected?: string): Promise<string>;
  /**
   * A verifying writer: pipe bytes into `stream`, then `commit()` checks the digest and renames into place
   * (or deletes the temp file and throws); `abort()` discards it.
   */
  writer(expected?: { digest?: string; size?: number }): BlobWriter;
  delete(digest: string): void;
  list(): string[];
}

export interface BlobWriter {
  stream: Transform;
  /** Bytes seen so far. */
  written(): number;
  commit(): Promise<string>;
  abort(): Promise<void>;
}

export class DigestMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`filesystem layer verification failed for digest ${expected}`);
  }
}

export function sha256(data: Buffer | string): string {
  return 'sha256:' + crypto.createHash('sha256').update(data).digest('hex');
}

function hexOf(digest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) throw invalidParameter(`invalid digest: ${digest}`);
  return m[1];
}

/** A pass-through that hashes and counts what flows through it. */
export class HashingStream extends Transform {
  private hash = crypto.createHash('sha256');
  bytes = 0;
  _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
  digest(): string {
    return 'sha256:' + this.hash.digest('hex');
  }
}

export function createContentStore(root: string): ContentStore {
  const blobs = path.join(root, 'blobs', 'sha256');
  const ingest = path.join(root, 'ingest');
  fs.mkdirSync(blobs, { recursive: true });
  fs.rmSync(ingest, { recursive: true, force: true }); // leftovers of a crash mid-download
  fs.mkdirSync(ingest, { recursive: true });
  const blobPath = (digest: string) => path.join(blobs, hexOf(digest));

  const store: ContentStore = {
    root,
    has: (digest) => fs.existsSync(blobPath(digest)),
    path: blobPath,
    size(digest) {
      try {
        return fs.statSync(blobPath(digest)).size;
      } catch {
        throw notFound(`content ${digest}: not found`);
      }
    },
    async read(digest) {
      try {
        return await fs.promises.readFile(blobPath(digest));
      } catch {
        throw notFound(`content ${digest}: not found`);
      }
    },
    readStream: (digest) => fs.createReadStream(blobPath(digest)),
    async put(data, expected) {
      const digest = sha256(data);
      if (expected && expected !== digest) throw new DigestMismatchError(expected, digest);
      const file = blobPath(digest);
      if (!fs.existsSync(file)) {
        const tmp = path.join(ingest, `${hexOf(digest)}-${crypto.randomBytes(6).toString('hex')}`);
        await fs.promises.writeFile(tmp, data);
        await fs.promises.rename(tmp, file);
      }
      return digest;
    },
    writer(expected = {}) {
      const tmp = path.join(ingest, crypto.randomBytes(12).toString('hex'));
      const hashing = new HashingStream();
      const file = fs.createWriteStream(tmp);
      const done = pipeline(hashing, file);
      done.catch(() => {});
      let finished = false;
      return {
        stream: hashing,
        written: () => hashing.bytes,
        async commit() {
          await done;
          finished = true;
          const digest = hashing.digest();
          try {
            if (expected.digest && digest !== expected.digest) throw new DigestMismatchError(expected.digest, digest);
            if (expected.size !== undefined && expected.size >= 0 && hashing.bytes !== expected.size) {
              throw new DigestMismatchError(expected.digest ?? digest, digest);
            }
            await fs.promises.rename(tmp, blobPath(digest));
          } catch (err) {
            fs.rmSync(tmp, { force: true });
            throw err;
          }
          return digest;
        },
        async abort() {
          if (!finished) hashing.destroy();
          finished = true;
          await done.catch(() => {});
          fs.rmSync(tmp, { force: true });
        },
      };
    },
    delete(digest) {
      fs.rmSync(blobPath(digest), { force: true });
    },
    list() {
      return fs
        .readdirSync(blobs)
        .filter((n) => /^[a-f0-9]{64}$/.test(n))
        .map((n) => `sha256:${n}`);
    },
  };
  return store;
}
