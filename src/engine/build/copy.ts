// COPY and ADD's sources: what a step names (context paths with wildcards, another stage or image, heredocs,
// URLs), each with the hash the cache compares (dockerd's calcCopyInfo), and how each is written into the new
// layer (performCopyForInfo: a directory's contents, an archive ADD unpacks, a file), with --chown and --chmod.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pathMatch } from '../../common/docker';
import { decompressFile, isTarArchive } from './archive';
import type { BuildContext } from './context';
import {
  containsWildcards,
  diskTree,
  fileTarsum,
  hashStrings,
  packBytes,
  packSource,
  resolveInRoot,
  walkPaths,
} from './sources';
import type { Workspace } from './workspace';

export type CopyInfo =
  | {
      kind: 'path';
      /** Where the source is on disk; undefined: the build context (unpacked when the copy runs). */
      root: string | undefined;
      rel: string;
      base: string;
      hash: string;
      dir: boolean;
      noDecompress?: boolean;
      cleanup?: string;
    }
  | { kind: 'bytes'; name: string; data: Buffer; hash: string };

export function heredocMarker(word: string, heredocs: Map<string, { name: string; content: string; expand: boolean }>) {
  const m = /^<<-?(["']?)([^"'<]+)\1$/.exec(word);
  return m ? heredocs.get(m[2]) : undefined;
}

/** An error whose text is dockerd's as it stands (no "COPY failed:" in front). */
export class FinalError extends Error {}

/** normalizeDest: relative to WORKDIR, the trailing slash kept. */
export function normalizeDest(workingDir: string, dest: string): string {
  if (dest.startsWith('/')) return dest;
  const joined = path.posix.join('/', workingDir || '/', dest);
  return dest.endsWith('/') && !joined.endsWith('/') ? `${joined}/` : joined;
}

/** --chown=user[:group]: names looked up in the image's own /etc/passwd and /etc/group. */
export function lookupChown(ws: Workspace, chown: string): { uid: number; gid: number } {
  const parts = chown.split(':');
  if (parts.length > 2)
    throw new FinalError(
      `unable to convert uid/gid chown string to host mapping: invalid chown string format: ${chown}`,
    );
  const [user, group = parts[0]] = parts;
  const find = (file: string, name: string, what: string) => {
    if (/^\d+$/.test(name)) return Number(name);
    const text = ws.readFile(file);
    for (const line of (text ?? '').split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f.length >= 3) return Number(f[2]);
    }
    throw new FinalError(
      `unable to convert uid/gid chown string to host mapping: can't find ${what} for ${what === 'uid' ? 'user' : 'group'} ${name}: no such ${what === 'uid' ? 'user' : 'group'}: ${name}`,
    );
  };
  return { uid: find('/etc/passwd', user, 'uid'), gid: find('/etc/group', group, 'gid') };
}

/** A local tar (plain or compressed) ADD unpacks, or undefined when the file is not one. */
async function openArchive(file: string): Promise<Readable | undefined> {
  if (!(await isTarArchive(file))) return undefined;
  return decompressFile(file);
}

/** calcCopyInfo: one source path (wildcards expanded) with its hash. */
export function copyInfos(context: BuildContext, src: string, imageRoot: string | undefined): CopyInfo[] {
  const tree = imageRoot ? diskTree(imageRoot) : context.tree;
  const orig = src.replace(/^\/+/, '').replace(/^\.\//, '');
  const hashOf = (rel: string) => (imageRoot ? fileTarsum(imageRoot, rel) : (context.sum(rel) ?? rel));
  const one = (p: string): CopyInfo => {
    const rel = resolveInRoot(tree, p);
    const base = path.posix.basename(p) || rel;
    if (tree.lstat(rel)?.kind !== 'dir')
      return { kind: 'path', root: imageRoot, rel, base, hash: `file:${hashOf(rel)}`, dir: false };
    const sums: string[] = [];
    walkPaths(tree, rel, (r) => {
      if (r === '') return;
      try {
        sums.push(hashOf(resolveInRoot(tree, r)));
      } catch {
        /* a dangling link: left out, as moby does */
      }
    });
    sums.sort();
    return { kind: 'path', root: imageRoot, rel, base, hash: hashStrings('dir', sums), dir: true };
  };
  if (containsWildcards(orig)) {
    const out: CopyInfo[] = [];
    walkPaths(tree, '', (rel) => {
      if (rel && pathMatch(orig, rel)) out.push(one(rel));
    });
    return out;
  }
  return [one(orig)];
}

/** ADD of a URL: the file fetched into the build's temporary folder, named as dockerd names it. */
export async function download(tmpDir: string, signal: AbortSignal, url: string, dest: string): Promise<CopyInfo> {
  const dir = path.join(tmpDir, `dl-${crypto.randomBytes(6).toString('hex')}`);
  fs.mkdirSync(dir, { recursive: true });
  const res = await fetch(url, { signal: signal }).catch((err) => {
    throw new Error(`${url}: ${err.message}`);
  });
  if (!res.ok) throw new Error(`failed to GET ${url} with status ${res.status} ${res.statusText}`);
  let filename = path.posix.basename(new URL(url).pathname);
  if (!filename || url.endsWith('/')) {
    const cd = /filename="?([^";]+)"?/.exec(res.headers.get('content-disposition') ?? '');
    filename = cd ? path.posix.basename(cd[1]) : '';
  }
  if (!filename) {
    if (dest.endsWith('/')) throw new Error(`cannot determine filename for source ${url}`);
    filename = '__unnamed__';
  }
  const file = path.join(dir, filename);
  const body = Buffer.from(await res.arrayBuffer());
  fs.writeFileSync(file, body, { mode: 0o600 });
  const lm = res.headers.get('last-modified');
  const mtime = lm ? new Date(lm) : new Date(0);
  fs.utimesSync(file, mtime, mtime);
  return {
    kind: 'path',
    root: dir,
    rel: filename,
    base: filename,
    hash: `file:${fileTarsum(dir, filename)}`,
    dir: false,
    noDecompress: true,
    cleanup: dir,
  };
}

/** performCopyForInfo: a directory's contents, an archive unpacked (ADD), or a file. */
export async function copyOne(
  context: BuildContext,
  ws: Workspace,
  info: CopyInfo,
  destAbs: string,
  o: { owner?: { uid: number; gid: number }; mode?: number },
  add: boolean,
): Promise<void> {
  const root = { uid: 0, gid: 0 };
  if (info.kind === 'bytes') {
    const target = destAbs.endsWith('/') ? path.posix.join(destAbs, info.name) : destAbs;
    const dir = await ws.mkdirAll(path.posix.dirname(target), o.owner ?? root);
    await ws.extract(
      dir,
      packBytes(path.posix.basename(target), info.data, { owner: o.owner, mode: o.mode, mtime: new Date() }),
    );
    return;
  }
  const src = info.root ?? (await context.dir());
  if (info.dir) {
    const existed = ws.resolve(destAbs).exists;
    const dir = await ws.mkdirAll(destAbs, existed ? root : (o.owner ?? root), root);
    await ws.extract(dir, packSource(src, info.rel, '', o));
    return;
  }
  if (add && !info.noDecompress) {
    const archive = await openArchive(path.join(src, info.rel));
    if (archive) {
      const dir = await ws.mkdirAll(destAbs, root);
      await ws.extract(dir, archive);
      return;
    }
  }
  const r = ws.resolve(destAbs);
  const target = destAbs.endsWith('/') || (r.exists && r.dir) ? path.posix.join(destAbs, info.base) : destAbs;
  const parent = await ws.mkdirAll(path.posix.dirname(target), o.owner ?? root);
  await ws.extract(parent, packSource(src, info.rel, path.posix.basename(target), o));
}
