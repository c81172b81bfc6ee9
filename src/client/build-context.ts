// The build context a client sends with POST /build, made as the docker CLI makes it: the context directory
// walked in order, what .dockerignore excludes left out (but the Dockerfile and .dockerignore always sent),
// owners 0:0, permission bits only and times in whole seconds — so the engine's content sums, and
// with them its build cache, are the same whether `docker build` or `berth build` (or the extension) sent it.
// A Dockerfile outside the directory is added as `.dockerfile.<random>`. Streamed: nothing is held in memory.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { PatternMatcher, readDockerignore } from '../common/docker';

export interface BuildContextOptions {
  /** The context directory. */
  contextDir: string;
  /** -f: the Dockerfile (relative to the current directory, absolute, or '-' with `dockerfileText`). */
  dockerfile?: string;
  /** The Dockerfile's text when it does not come from a file (`-f -`). */
  dockerfileText?: string;
}

export interface BuildContextTar {
  tar: Readable;
  /** The Dockerfile's name inside the context (the `dockerfile` query parameter). */
  dockerfile: string;
}

const BLOCK = 512;

function octal(buf: Buffer, value: number, offset: number, width: number) {
  buf.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'latin1');
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

interface Entry {
  name: string;
  mode: number;
  size: number;
  mtime: number;
  type: '0' | '1' | '2' | '5';
  link?: string;
}

/** A ustar header (and a PAX one before it for long names), as Go's archive/tar writes them. */
function header(e: Entry): Buffer {
  const blocks: Buffer[] = [];
  const long = Buffer.byteLength(e.name) > 100 || Buffer.byteLength(e.link ?? '') > 100;
  const one = (name: string, type: string, size: number, link = '') => {
    const h = Buffer.alloc(BLOCK);
    h.write(name, 0, 100, 'utf8');
    octal(h, e.mode, 100, 8);
    octal(h, 0, 108, 8);
    octal(h, 0, 116, 8);
    octal(h, size, 124, 12);
    octal(h, e.mtime, 136, 12);
    h.write(type, 156, 1, 'latin1');
    h.write(link, 157, 100, 'utf8');
    h.write('ustar\u000000', 257, 8, 'latin1');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
    return h;
  };
  if (long) {
    let pax = '';
    if (Buffer.byteLength(e.name) > 100) pax += paxRecord('path', e.name);
    if (Buffer.byteLength(e.link ?? '') > 100) pax += paxRecord('linkpath', e.link!);
    const data = Buffer.from(pax);
    blocks.push(one(`PaxHeaders.0/${path.posix.basename(e.name).slice(0, 80)}`, 'x', data.length));
    blocks.push(data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  blocks.push(one(e.name.slice(0, 100), e.type, e.type === '0' ? e.size : 0, (e.link ?? '').slice(0, 100)));
  return Buffer.concat(blocks);
}

/** The .dockerignore patterns, with the Dockerfile and .dockerignore kept (the engine drops them itself). */
function excludes(contextDir: string, relDockerfile: string): PatternMatcher {
  let patterns: string[] = [];
  try {
    patterns = readDockerignore(fs.readFileSync(path.join(contextDir, '.dockerignore'), 'utf8'));
  } catch (err: any) {
    if (err.code !== 'ENOENT') throw err;
  }
  const pm = new PatternMatcher(patterns);
  if (pm.matches('.dockerignore')) patterns.push('!.dockerignore');
  if (relDockerfile && pm.matches(relDockerfile)) patterns.push(`!${relDockerfile}`);
  return new PatternMatcher(patterns);
}

/** Exception patterns that could match below `dir` (moby's TarWithOptions keeps walking into it then). */
function exceptionBelow(patterns: string[], dir: string): boolean {
  return patterns.some((p) => p.startsWith('!') && `${p.slice(1)}/`.startsWith(`${dir}/`));
}

/** Resolves -f as the docker CLI does; the context-relative name, or undefined when outside the context. */
export function dockerfileInContext(contextDir: string, given: string | undefined): { rel?: string; abs?: string } {
  if (given === '-') return {};
  let abs = given ? path.resolve(given) : path.join(contextDir, 'Dockerfile');
  if (!given && !fs.existsSync(abs) && fs.existsSync(path.join(contextDir, 'dockerfile')))
    abs = path.join(contextDir, 'dockerfile');
  const rel = path.relative(path.resolve(contextDir), abs);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return { abs };
  return { rel: rel.split(path.sep).join('/'), abs };
}

export function buildContextTar(o: BuildContextOptions): BuildContextTar {
  const contextDir = path.resolve(o.contextDir);
  const st = fs.statSync(contextDir);
  if (!st.isDirectory()) throw new Error(`unable to prepare context: path "${o.contextDir}" not found`);
  const df = dockerfileInContext(contextDir, o.dockerfile);
  let extra: { name: string; data: Buffer } | undefined;
  let dockerfile = df.rel ?? '';
  if (!df.rel) {
    // From stdin or outside the context: sent under a name of its own, as the docker CLI does.
    const data = o.dockerfile === '-' ? Buffer.from(o.dockerfileText ?? '') : fs.readFileSync(df.abs!);
    dockerfile = `.dockerfile.${crypto.randomBytes(10).toString('hex')}`;
    extra = { name: dockerfile, data };
  } else if (!fs.existsSync(df.abs!)) {
    throw new Error(`Cannot locate specified Dockerfile: ${df.rel}`);
  }
  const pm = excludes(contextDir, df.rel ?? '');
  const patterns = [...readPatterns(contextDir), ...(df.rel ? [`!${df.rel}`] : []), '!.dockerignore'];
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const write = async (b: Buffer) => {
    if (!out.write(b)) await new Promise((r) => out.once('drain', r));
  };
  const inodes = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    const names = fs.readdirSync(path.join(contextDir, rel)).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const full = path.join(contextDir, r);
      const s = fs.lstatSync(full);
      const skip = pm.matches(r);
      if (skip) {
        if (s.isDirectory() && pm.exclusions && exceptionBelow(patterns, r)) await walk(r);
        continue;
      }
      const mtime = Math.floor(s.mtimeMs / 1000);
      const mode = s.mode & 0o7777; // permission bits only, as the docker CLI (28) writes them
      if (s.isDirectory()) {
        await write(header({ name: `${r}/`, mode, size: 0, mtime, type: '5' }));
        await walk(r);
      } else if (s.isSymbolicLink()) {
        await write(header({ name: r, mode, size: 0, mtime, type: '2', link: fs.readlinkSync(full) }));
      } else if (s.isFile()) {
        const key = `${s.dev}:${s.ino}`;
        const first = s.nlink > 1 ? inodes.get(key) : undefined;
        if (first) {
          await write(header({ name: r, mode, size: 0, mtime, type: '1', link: first }));
          continue;
        }
        if (s.nlink > 1) inodes.set(key, r);
        await write(header({ name: r, mode, size: s.size, mtime, type: '0' }));
        let sent = 0;
        for await (const chunk of fs.createReadStream(full, { highWaterMark: 1 << 20 })) {
          const b = chunk as Buffer;
          const part = sent + b.length > s.size ? b.subarray(0, s.size - sent) : b;
          sent += part.length;
          await write(part);
          if (sent >= s.size) break;
        }
        if (sent < s.size) throw new Error(`${r} shrank while being read`);
        await write(Buffer.alloc((BLOCK - (s.size % BLOCK)) % BLOCK));
      }
      // sockets and devices are not sent (the docker CLI skips sockets; a context has no use for devices)
    }
  };
  (async () => {
    if (extra) {
      await write(
        header({
          name: extra.name,
          mode: 0o100600,
          size: extra.data.length,
          mtime: Math.floor(Date.now() / 1000),
          type: '0',
        }),
      );
      await write(extra.data);
      await write(Buffer.alloc((BLOCK - (extra.data.length % BLOCK)) % BLOCK));
    }
    await walk('');
    await write(Buffer.alloc(2 * BLOCK));
    out.end();
  })().catch((err) => out.destroy(err));
  return { tar: out, dockerfile };
}

function readPatterns(contextDir: string): string[] {
  try {
    return readDockerignore(fs.readFileSync(path.join(contextDir, '.dockerignore'), 'utf8'));
  } catch {
    return [];
  }
}
