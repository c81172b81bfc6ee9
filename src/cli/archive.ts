// Local side of `cp`: packs a host path into a tar (with the root entry renamed as docker does) and extracts a
// container's tar onto the host without letting any entry escape the destination.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';

/**
 * A tar of `src` whose root entry is named `rootName` ("" = the directory's contents at the top level, for
 * "dir/." sources). Streams file contents; nothing is buffered whole.
 */
export function packPath(src: string, rootName: string): { stream: Readable; bytes: () => number } {
  const pack = tar.pack();
  let bytes = 0;
  const add = async (abs: string, name: string): Promise<void> => {
    const st = await fs.promises.lstat(abs);
    const base = { mode: st.mode & 0o7777, mtime: st.mtime, uid: st.uid, gid: st.gid };
    if (st.isDirectory()) {
      if (name) await entry({ ...base, name: `${name}/`, type: 'directory' });
      for (const child of (await fs.promises.readdir(abs)).sort())
        await add(path.join(abs, child), name ? `${name}/${child}` : child);
    } else if (st.isSymbolicLink()) {
      await entry({ ...base, name, type: 'symlink', linkname: await fs.promises.readlink(abs) });
    } else if (st.isFile()) {
      bytes += st.size;
      await new Promise<void>((resolve, reject) => {
        const w = pack.entry({ ...base, name, type: 'file', size: st.size }, (err) => (err ? reject(err) : resolve()));
        (async () => {
          for await (const chunk of fs.createReadStream(abs)) {
            if (!w.write(chunk)) await new Promise<void>((r) => w.once('drain', () => r()));
          }
          w.end(undefined as never);
        })().catch(reject);
      });
    }
    // Sockets and devices are skipped, as docker cp does for what it cannot archive.
  };
  const entry = (h: Partial<tar.Header> & { name: string }) =>
    new Promise<void>((resolve, reject) => {
      pack.entry(h, (err) => (err ? reject(err) : resolve()));
    });
  add(src, rootName).then(
    () => pack.finalize(),
    (err) => pack.destroy(err),
  );
  return { stream: Readable.from(pack), bytes: () => bytes };
}

function insideOf(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Extracts a tar into `destDir`. The tar's root entry (`srcName`) is renamed to `rootName` ("" strips it, for
 * "dir/." sources). Entries leaving destDir (../, absolute paths, links pointing out) are refused.
 */
export async function extractTo(stream: Readable, destDir: string, srcName: string, rootName: string): Promise<number> {
  const ex = tar.extract();
  let bytes = 0;
  const dirTimes: [string, Date][] = [];
  // "dir/." sources arrive as "./…" entries: everything is below the root.
  const root = srcName === '.' ? '' : srcName.replace(/^\.?\/+/, '').replace(/\/+$/, '');
  const rename = (name: string): string | undefined => {
    const clean = name
      .replace(/^\.?\/+/, '')
      .replace(/^\.$/, '')
      .replace(/\/+$/, '');
    if (clean === root) return rootName;
    if (!root) return path.posix.join(rootName, clean);
    if (clean.startsWith(`${root}/`)) return path.posix.join(rootName, clean.slice(root.length + 1));
    return undefined;
  };
  const done = (async () => {
    for await (const e of ex) {
      const h = e.header;
      const rel = rename(h.name);
      if (rel === undefined) {
        e.resume();
        continue;
      }
      const target = path.resolve(destDir, rel ?? '');
      if (!insideOf(destDir, target)) throw new Error(`invalid archive entry "${h.name}": outside of the destination`);
      // A symlink earlier in the archive must not redirect a later entry out of the destination.
      const parent = path.dirname(target);
      if (insideOf(destDir, parent) && parent !== destDir) {
        const real = await fs.promises.realpath(parent).catch(() => parent);
        if (!insideOf(await fs.promises.realpath(destDir), real))
          throw new Error(`invalid archive entry "${h.name}": outside of the destination`);
      }
      const mode = (h.mode ?? 0o644) & 0o7777;
      switch (h.type) {
        case 'directory':
          await fs.promises.mkdir(target, { recursive: true });
          await fs.promises.chmod(target, mode || 0o755);
          if (h.mtime) dirTimes.push([target, h.mtime]);
          e.resume();
          break;
        case 'symlink':
          await fs.promises.rm(target, { force: true, recursive: false }).catch(() => {});
          await fs.promises.symlink(h.linkname ?? '', target);
          e.resume();
          break;
        case 'link': {
          const linkRel = rename(h.linkname ?? '');
          const from = path.resolve(destDir, linkRel ?? '');
          if (linkRel === undefined || !insideOf(destDir, from)) throw new Error(`invalid hardlink "${h.linkname}"`);
          await fs.promises.rm(target, { force: true });
          await fs.promises.link(from, target);
          e.resume();
          break;
        }
        case 'file':
        case 'contiguous-file':
        case undefined:
        case null: {
          await fs.promises.mkdir(parent, { recursive: true });
          const st = await fs.promises.lstat(target).catch(() => undefined);
          if (st?.isDirectory()) throw new Error(`cannot overwrite directory "${target}" with non-directory`);
          if (st?.isSymbolicLink()) await fs.promises.rm(target);
          const out = fs.createWriteStream(target, { mode });
          for await (const chunk of e) {
            if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
          }
          await new Promise<void>((resolve, reject) =>
            out.end((err?: Error | null) => (err ? reject(err) : resolve())),
          );
          await fs.promises.chmod(target, mode);
          if (h.mtime) await fs.promises.utimes(target, h.mtime, h.mtime).catch(() => {});
          bytes += h.size ?? 0;
          break;
        }
        default:
          e.resume();
      }
    }
  })();
  const feed = (async () => {
    for await (const chunk of stream) {
      if (!ex.write(chunk)) await new Promise<void>((r) => ex.once('drain', () => r()));
    }
    ex.end(undefined as never);
  })();
  await Promise.all([feed, done]);
  for (const [d, t] of dirTimes.reverse()) await fs.promises.utimes(d, t, t).catch(() => {});
  return bytes;
}
