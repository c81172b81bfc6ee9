// ADD's local archives: a tar, plain or compressed with gzip, bzip2, xz or zstd (what Docker's
// DecompressStream recognises), unpacked into the destination; any other file is copied as it is.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { decompressed } from '../snapshots';

const BLOCK = 512;

type Kind = 'plain' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

function kindOf(head: Buffer): Kind {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'plain';
}

/** The file's bytes, decompressed when they are compressed. */
export function decompressFile(file: string): Readable {
  const head = Buffer.alloc(8);
  const fd = fs.openSync(file, 'r');
  const n = fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  const kind = kindOf(head.subarray(0, n));
  if (kind === 'bzip2' || kind === 'xz') {
    // Node has neither: Debian's bzip2 and xz-utils do it (present wherever tar is).
    const child = spawn(kind === 'xz' ? 'xz' : 'bzip2', ['-dc', file], { stdio: ['ignore', 'pipe', 'ignore'] });
    const out = new PassThrough();
    child.stdout!.pipe(out, { end: false });
    child.once('error', (err) => out.destroy(err));
    child.once('close', (code) => (code === 0 ? out.end() : out.destroy(new Error(`${kind} -d exited with ${code}`))));
    return out;
  }
  const plain = new PassThrough();
  decompressed(fs.createReadStream(file)).then(
    (s) => {
      s.on('error', (err) => plain.destroy(err));
      s.pipe(plain);
    },
    (err) => plain.destroy(err),
  );
  return plain;
}

/** Whether the file is a tar archive (its first header, after decompression, has a valid checksum). */
export async function isTarArchive(file: string): Promise<boolean> {
  const stream = decompressFile(file);
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const c of stream) {
      chunks.push(c as Buffer);
      length += (c as Buffer).length;
      if (length >= BLOCK) break;
    }
  } catch {
    return false;
  } finally {
    stream.destroy();
  }
  if (length < BLOCK) return false;
  const h = Buffer.concat(chunks).subarray(0, BLOCK);
  if (h.every((b) => b === 0)) return false;
  const stored = parseInt(h.subarray(148, 156).toString('latin1').replace(/\0.*$/, '').trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
  return sum === stored;
}
