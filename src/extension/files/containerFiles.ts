// A container's files over the archive API (HEAD/GET/PUT /containers/{id}/archive), free of `vscode` so it is
// tested against a real engine; the FileSystemProvider and the tree are thin layers over it. Works on stopped
// containers and images without a shell (no exec), except delete and rename, which the archive API cannot do.
//
// Ownership follows `docker cp`: a new file gets the container's user (copyUIDGID), an edited file keeps its owner
// and mode (the tar we send carries them, copyUIDGID off).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type * as TarStream from 'tar-stream';
import { type EngineClient, EngineApiError, type PathStat } from '../../client';

export type FileKind = 'file' | 'directory' | 'symlink' | 'other';

export interface FileEntry {
  name: string;
  kind: FileKind;
  /** For a symlink: what it points at (file, directory) when known. */
  targetKind?: FileKind;
  size: number;
  mtimeMs: number;
  /** Unix permission bits (0o7777). */
  mode: number;
  linkTarget?: string;
  uid?: number;
  gid?: number;
}

// Go's os.FileMode type bits (X-Docker-Container-Path-Stat): beyond 2^31, so no JS bitwise operators.
const bit = (mode: number, b: number) => Math.floor(mode / 2 ** b) % 2 === 1;
export function kindOfGoMode(mode: number): FileKind {
  if (bit(mode, 31)) return 'directory';
  if (bit(mode, 27)) return 'symlink';
  if (bit(mode, 26) || bit(mode, 25) || bit(mode, 24) || bit(mode, 21)) return 'other';
  return 'file';
}
function permOfGoMode(mode: number): number {
  return (mode % 2 ** 9) + (bit(mode, 23) ? 0o4000 : 0) + (bit(mode, 22) ? 0o2000 : 0) + (bit(mode, 20) ? 0o1000 : 0);
}

export function entryOfStat(st: PathStat & { uid?: number; gid?: number }): FileEntry {
  return {
    name: st.name,
    kind: kindOfGoMode(st.mode),
    size: st.size,
    mtimeMs: Date.parse(st.mtime) || 0,
    mode: permOfGoMode(st.mode),
    linkTarget: st.linkTarget || undefined,
    uid: st.uid,
    gid: st.gid,
  };
}

export class FilesError extends Error {
  constructor(
    readonly code:
      | 'FileNotFound'
      | 'FileExists'
      | 'FileNotADirectory'
      | 'FileIsADirectory'
      | 'NoPermissions'
      | 'Unavailable',
    message: string,
  ) {
    super(message);
  }
}

/** An absolute, normalized container path. */
export function containerPath(p: string): string {
  const n = path.posix.normalize(`/${p}`);
  return n.length > 1 ? n.replace(/\/+$/, '') : '/';
}

function translate(err: unknown, p: string): unknown {
  if (err instanceof EngineApiError) {
    // HEAD answers carry no body: Docker's words then.
    if (err.status === 404 && !/No such container/i.test(err.message))
      return new FilesError(
        'FileNotFound',
        /^engine answered 404$/.test(err.message) ? `Could not find the file ${p} in container` : err.message,
      );
    if (err.status === 403 || /read-only/i.test(err.message)) return new FilesError('NoPermissions', err.message);
    if (/not a directory/i.test(err.message)) return new FilesError('FileNotADirectory', `${p}: ${err.message}`);
  }
  return err;
}

/** Reads a tar stream entry by entry; `onEntry` returns true to stop early (the rest is not read). */
/** tar-stream (and streamx below it) loaded on first use: the extension's activation does not pay for them. */
let tarModule: typeof TarStream | undefined;
function tarStream(): typeof TarStream {
  tarModule ??= require('tar-stream') as typeof TarStream;
  return tarModule;
}

type TarBody = AsyncIterable<Buffer> & { resume(): unknown };
async function readTar(
  stream: Readable,
  onEntry: (h: TarStream.Header, body: TarBody) => Promise<boolean | undefined>,
): Promise<void> {
  const extract = tarStream().extract();
  const feeding = pipeline(stream, extract).catch(() => undefined);
  for await (const entry of extract) {
    const stop = await onEntry(entry.header, entry as unknown as TarBody);
    entry.resume();
    if (stop) {
      stream.destroy();
      extract.destroy();
      break;
    }
  }
  await feeding;
}

const depth = (name: string) =>
  name
    .replace(/^\.?\/+/, '')
    .replace(/\/+$/, '')
    .split('/')
    .filter(Boolean).length;

export class ContainerFiles {
  /** Whether the engine has Berth's listing route (dockerd and Podman do not: they get the tar fallback). */
  private listing = new WeakMap<EngineClient, boolean>();

  constructor(private readonly client: () => EngineClient) {}

  async stat(id: string, p: string): Promise<FileEntry> {
    const cp = containerPath(p);
    let st: PathStat;
    try {
      st = await this.client().statContainerPath(id, cp);
    } catch (err) {
      throw translate(err, cp);
    }
    const e = entryOfStat({ ...st, name: st.name || path.posix.basename(cp) });
    if (e.kind === 'symlink' && e.linkTarget)
      e.targetKind = await this.client()
        .statContainerPath(id, e.linkTarget)
        .then((t) => kindOfGoMode(t.mode))
        .catch(() => undefined);
    return e;
  }

  /** A directory's entries; symlinks carry what they point at when it can be told cheaply. */
  async list(id: string, dir: string): Promise<FileEntry[]> {
    const cp = containerPath(dir);
    const client = this.client();
    if (this.listing.get(client) !== false) {
      let res: Awaited<ReturnType<EngineClient['listContainerDir']>>;
      try {
        res = await client.listContainerDir(id, cp);
      } catch (err) {
        throw translate(err, cp);
      }
      this.listing.set(client, !!res);
      if (res) return res.entries.map(entryOfStat);
    }
    return this.listFromTar(id, cp);
  }

  /** Docker's way: the directory's tar, of which only the first level is kept (the engine sends it all). */
  private async listFromTar(id: string, cp: string): Promise<FileEntry[]> {
    let got: { tar: Readable; stat: PathStat };
    try {
      got = await this.client().getArchive(id, cp);
    } catch (err) {
      throw translate(err, cp);
    }
    if (kindOfGoMode(got.stat.mode) !== 'directory') {
      got.tar.destroy();
      throw new FilesError('FileNotADirectory', `${cp} is not a directory`);
    }
    const entries: FileEntry[] = [];
    let rootDepth = -1;
    await readTar(got.tar, async (h) => {
      const d = depth(h.name);
      if (rootDepth < 0) {
        rootDepth = d;
        return;
      }
      if (d !== rootDepth + 1) return;
      const name = h.name.replace(/\/+$/, '').split('/').pop()!;
      const kind: FileKind =
        h.type === 'directory'
          ? 'directory'
          : h.type === 'symlink'
            ? 'symlink'
            : h.type === 'file' || h.type === 'link'
              ? 'file'
              : 'other';
      entries.push({
        name,
        kind,
        size: h.size ?? 0,
        mtimeMs: h.mtime?.getTime() ?? 0,
        mode: (h.mode ?? 0) & 0o7777,
        linkTarget: h.linkname ? path.posix.resolve(cp, h.linkname) : undefined,
        uid: h.uid,
        gid: h.gid,
      });
      return;
    });
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** A file's bytes (a symlink is followed within the container) with its owner and mode. */
  async read(id: string, p: string): Promise<{ data: Buffer; uid: number; gid: number; mode: number }> {
    let cp = containerPath(p);
    for (let hops = 0; ; hops++) {
      let got: { tar: Readable; stat: PathStat };
      try {
        got = await this.client().getArchive(id, cp);
      } catch (err) {
        throw translate(err, cp);
      }
      const kind = kindOfGoMode(got.stat.mode);
      if (kind === 'symlink' && got.stat.linkTarget && hops < 40) {
        got.tar.destroy();
        cp = got.stat.linkTarget;
        continue;
      }
      if (kind === 'directory') {
        got.tar.destroy();
        throw new FilesError('FileIsADirectory', `${cp} is a directory`);
      }
      let result: { data: Buffer; uid: number; gid: number; mode: number } | undefined;
      await readTar(got.tar, async (h, body) => {
        const chunks: Buffer[] = [];
        for await (const c of body) chunks.push(c as Buffer);
        result = { data: Buffer.concat(chunks), uid: h.uid ?? 0, gid: h.gid ?? 0, mode: (h.mode ?? 0o644) & 0o7777 };
        return true;
      });
      if (!result) throw new FilesError('FileNotFound', `${cp}: the engine sent no file`);
      return result;
    }
  }

  /** Owner and mode of an existing file, from its tar header (the content is not read). */
  private async ownerOf(id: string, cp: string): Promise<{ uid: number; gid: number; mode: number }> {
    const got = await this.client().getArchive(id, cp);
    let owner = { uid: 0, gid: 0, mode: 0o644 };
    await readTar(got.tar, async (h) => {
      owner = { uid: h.uid ?? 0, gid: h.gid ?? 0, mode: (h.mode ?? 0o644) & 0o7777 };
      return true;
    });
    return owner;
  }

  /**
   * Writes a file. An existing one keeps its owner and mode; a new one is owned by the container's user, as
   * `docker cp` makes it. `create`/`overwrite` as VS Code's FileSystemProvider asks.
   */
  async write(id: string, p: string, data: Buffer, opts: { create: boolean; overwrite: boolean }): Promise<void> {
    // One write of a path at a time: a second save racing the first would read the owner of the file the first
    // is re-creating (root's, for a moment) and keep that.
    const key = `${id}:${containerPath(p)}`;
    const previous = this.writing.get(key) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(() => this.writeNow(id, p, data, opts));
    this.writing.set(key, mine);
    try {
      await mine;
    } finally {
      if (this.writing.get(key) === mine) this.writing.delete(key);
    }
  }

  private readonly writing = new Map<string, Promise<void>>();

  private async writeNow(
    id: string,
    p: string,
    data: Buffer,
    opts: { create: boolean; overwrite: boolean },
  ): Promise<void> {
    const cp = containerPath(p);
    if (cp === '/') throw new FilesError('FileIsADirectory', '/ is a directory');
    const existing = await this.stat(id, cp).catch((err) => {
      if (err instanceof FilesError && err.code === 'FileNotFound') return undefined;
      throw err;
    });
    let target = cp;
    if (existing?.kind === 'symlink' && existing.linkTarget) target = existing.linkTarget; // write through the link
    if (existing?.kind === 'directory' || existing?.targetKind === 'directory')
      throw new FilesError('FileIsADirectory', `${cp} is a directory`);
    if (!existing && !opts.create) throw new FilesError('FileNotFound', `${cp} does not exist`);
    if (existing && !opts.overwrite) throw new FilesError('FileExists', `${cp} exists`);
    const owner = existing ? await this.ownerOf(id, target) : undefined;
    const pack = tarStream().pack();
    pack.entry(
      {
        name: path.posix.basename(target),
        size: data.length,
        mode: owner?.mode ?? 0o644,
        uid: owner?.uid ?? 0,
        gid: owner?.gid ?? 0,
        mtime: new Date(),
      },
      data,
    );
    pack.finalize();
    await this.put(id, path.posix.dirname(target), pack as unknown as Readable, { copyUIDGID: !owner });
  }

  async mkdir(id: string, p: string): Promise<void> {
    const cp = containerPath(p);
    const existing = await this.stat(id, cp).catch(() => undefined);
    if (existing) throw new FilesError('FileExists', `${cp} exists`);
    const pack = tarStream().pack();
    pack.entry({ name: path.posix.basename(cp), type: 'directory', mode: 0o755, mtime: new Date() });
    pack.finalize();
    await this.put(id, path.posix.dirname(cp), pack as unknown as Readable, { copyUIDGID: true });
  }

  private async put(id: string, dir: string, body: Readable, opts: { copyUIDGID: boolean }): Promise<void> {
    try {
      await this.client().putArchive(id, dir, body, { noOverwriteDirNonDir: true, copyUIDGID: opts.copyUIDGID });
    } catch (err) {
      throw translate(err, dir);
    }
  }

  /** Copies local files and folders into a container folder, owned by the container's user (docker cp's rule). */
  async upload(id: string, localPaths: string[], dir: string): Promise<void> {
    const pack = tarStream().pack();
    const add = async (local: string, name: string): Promise<void> => {
      const st = fs.lstatSync(local);
      const common = { name, mode: st.mode & 0o7777, mtime: st.mtime, uid: 0, gid: 0 };
      if (st.isDirectory()) {
        pack.entry({ ...common, type: 'directory' });
        for (const child of fs.readdirSync(local).sort()) await add(path.join(local, child), `${name}/${child}`);
      } else if (st.isSymbolicLink()) {
        pack.entry({ ...common, type: 'symlink', linkname: fs.readlinkSync(local) });
      } else if (st.isFile()) {
        const entry = pack.entry({ ...common, size: st.size });
        await pipeline(fs.createReadStream(local), entry as unknown as NodeJS.WritableStream);
      }
    };
    const filling = (async () => {
      for (const l of localPaths) await add(l, path.basename(l));
      pack.finalize();
    })().catch((err) => pack.destroy(err));
    await this.put(id, containerPath(dir), pack as unknown as Readable, { copyUIDGID: true });
    await filling;
  }

  /**
   * Copies a container file or folder into a local folder (docker cp container:path dir). Entries stay inside
   * `destDir`: names with `..` or absolute are refused, and links are written as links, never followed.
   */
  async download(id: string, p: string, destDir: string): Promise<string> {
    const cp = containerPath(p);
    let got: { tar: Readable; stat: PathStat };
    try {
      got = await this.client().getArchive(id, cp);
    } catch (err) {
      throw translate(err, cp);
    }
    const root = path.resolve(destDir);
    let first: string | undefined;
    await readTar(got.tar, async (h, body) => {
      const rel = h.name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
      const parts = rel.split('/');
      if (!rel || parts.includes('..') || path.isAbsolute(rel))
        throw new Error(`refusing the archive entry "${h.name}"`);
      const out = path.join(root, ...parts);
      first ??= out;
      // Never write through a link an earlier entry made.
      const parent = path.dirname(out);
      fs.mkdirSync(parent, { recursive: true });
      const realRoot = fs.realpathSync(root);
      const realParent = fs.realpathSync(parent);
      if (realParent !== realRoot && !realParent.startsWith(`${realRoot}${path.sep}`))
        throw new Error(`refusing "${h.name}": it would be written outside ${root}`);
      if (h.type === 'directory') fs.mkdirSync(out, { recursive: true, mode: (h.mode ?? 0o755) & 0o777 });
      else if (h.type === 'symlink') {
        fs.rmSync(out, { force: true });
        fs.symlinkSync(h.linkname ?? '', out);
      } else if (h.type === 'file' || h.type === 'contiguous-file') {
        fs.rmSync(out, { force: true });
        await pipeline(body as unknown as Readable, fs.createWriteStream(out, { mode: (h.mode ?? 0o644) & 0o777 }));
      }
      return;
    });
    return first ?? path.join(root, path.posix.basename(cp));
  }

  /** Runs a command in a running container (delete and rename: the archive API cannot remove). */
  private async exec(id: string, cmd: string[], what: string): Promise<void> {
    const client = this.client();
    const info = await client.inspectContainer(id);
    if (!info.State?.Running)
      throw new FilesError('NoPermissions', `${what} needs the container running (the archive API can only add files)`);
    const { Id } = await client.createExec(id, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
    const stream = await client.startExecHijacked(Id, {});
    let out = '';
    stream.on('data', (c: Buffer) => (out += c.toString('latin1')));
    stream.resume();
    await new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
    const done = await client.inspectExec(Id);
    if (done.ExitCode !== 0) {
      // eslint-disable-next-line no-control-regex
      const text = out.replace(/[\x00-\x08]/g, '').trim();
      if (/No such file/i.test(text)) throw new FilesError('FileNotFound', text);
      throw new FilesError('NoPermissions', `${what} failed (exit code ${done.ExitCode}): ${text || cmd.join(' ')}`);
    }
  }

  async delete(id: string, p: string, opts: { recursive: boolean }): Promise<void> {
    const cp = containerPath(p);
    if (cp === '/') throw new FilesError('NoPermissions', 'refusing to delete /');
    await this.exec(id, ['rm', opts.recursive ? '-rf' : '-f', '--', cp], `deleting ${cp}`);
  }

  async rename(id: string, from: string, to: string, opts: { overwrite: boolean }): Promise<void> {
    const src = containerPath(from);
    const dst = containerPath(to);
    if (!opts.overwrite && (await this.stat(id, dst).catch(() => undefined)))
      throw new FilesError('FileExists', `${dst} exists`);
    await this.exec(id, ['mv', '-f', '--', src, dst], `renaming ${src}`);
  }
}
