// A new layer being written directly (COPY, ADD, WORKDIR): the image's layers as overlay lowerdirs, a fresh
// upper dir, mounted privately. Files go in through the same confined extraction as `docker cp` (symlinks in the
// image resolved inside its root, never followed out of it); when done, the upper dir is the new layer.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { type ContainerFs, extractToDir, readContainerFile, statPath } from '../containers';
import { isEngineError } from '../errdefs';
import { mountOverlay, type OverlayDriver, unmount } from '../runtime';
import { diffTar } from '../snapshots';

/** Go's os.FileMode directory bit, as statPath reports modes. */
const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;

export class Workspace {
  readonly upper: string;
  readonly root: string;
  private rootFd = -1;
  private mounted = false;

  private constructor(
    private readonly dir: string,
    readonly lowerDirs: string[],
  ) {
    this.upper = path.join(dir, 'upper');
    this.root = path.join(dir, 'root');
  }

  /** Mounts `lowerDirs` (topmost first; none for FROM scratch) with a new upper dir under `tmpRoot`. */
  static async open(tmpRoot: string, lowerDirs: string[], overlay?: OverlayDriver): Promise<Workspace> {
    const dir = path.join(tmpRoot, `ws-${crypto.randomBytes(6).toString('hex')}`);
    const lowers = lowerDirs.length ? lowerDirs : [path.join(dir, 'empty')];
    const ws = new Workspace(dir, lowerDirs);
    for (const d of ['upper', 'work', 'root', ...(lowerDirs.length ? [] : ['empty'])])
      fs.mkdirSync(path.join(dir, d), { recursive: true, mode: 0o755 });
    try {
      await mountOverlay(lowers, ws.upper, path.join(dir, 'work'), ws.root, overlay);
      ws.mounted = true;
      ws.rootFd = fs.openSync(ws.root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    } catch (err) {
      await ws.close();
      throw err;
    }
    return ws;
  }

  /** The mounted root as the confined copy code wants it. */
  fs(): ContainerFs {
    return {
      ref: 'build',
      rootFd: this.rootFd,
      mapped: [],
      mounts: [],
      readonlyRootfs: false,
      user: '',
      release: async () => {},
    };
  }

  /** A small file of the image (its /etc/passwd), read confined. */
  readFile(p: string): string | undefined {
    return readContainerFile(this.fs(), p);
  }

  /**
   * Where `abs` leads in the image: links followed inside the root. `exists` and `dir` say what is there; for a
   * path that does not exist, `resolved` is where it would be.
   */
  resolve(abs: string): { resolved: string; exists: boolean; dir: boolean } {
    let cur = '/';
    const parts = abs.split('/').filter((p) => p && p !== '.');
    for (let i = 0; i < parts.length; i++) {
      const next = path.posix.join(cur, parts[i]);
      let st: ReturnType<typeof statPath>;
      try {
        st = statPath(this.fs(), next);
      } catch (err) {
        if (isEngineError(err, 'NotFound'))
          return { resolved: path.posix.join(next, ...parts.slice(i + 1)), exists: false, dir: false };
        throw err;
      }
      if (st.mode >= GO_DIR && st.mode - GO_DIR < GO_DIR) {
        cur = next;
        continue;
      }
      if (Math.floor(st.mode / GO_SYMLINK) % 2 === 1) {
        // statPath resolved the link's whole target already (inside the root)
        return this.resolve(path.posix.join(st.linkTarget || '/', ...parts.slice(i + 1)));
      }
      if (i < parts.length - 1) return { resolved: next, exists: false, dir: false };
      return { resolved: next, exists: true, dir: false };
    }
    return { resolved: cur, exists: true, dir: true };
  }

  /**
   * Makes directory `abs` (and what is missing above it) with `owner` for the ones it creates; `ownerOfNew`
   * says who gets the intermediate ones (Docker: the copy's owner for a file's parents, root otherwise).
   */
  async mkdirAll(abs: string, owner: { uid: number; gid: number }, parentsOwner = owner): Promise<string> {
    const r = this.resolve(abs);
    if (r.exists) {
      if (!r.dir) throw new Error(`${abs} exists and is not a directory`);
      return r.resolved;
    }
    // The deepest existing directory on the way, then the missing names below it.
    const parts = r.resolved.split('/').filter(Boolean);
    let base = '/';
    let k = 0;
    for (; k < parts.length; k++) {
      const next = path.posix.join(base, parts[k]);
      const n = this.resolve(next);
      if (!n.exists) break;
      if (!n.dir) throw new Error(`${next} is not a directory`);
      base = n.resolved;
    }
    const missing = parts.slice(k);
    const { packDirs } = await import('./sources');
    const names = missing.map((_, i) => missing.slice(0, i + 1).join('/'));
    // Each created directory gets its own owner: intermediate ones parentsOwner, the last one owner.
    await this.extract(base, packDirs(names.slice(0, -1), parentsOwner, new Date()));
    await this.extract(base, packDirs(names.slice(-1), owner, new Date()));
    return r.resolved;
  }

  /** Extracts a tar into directory `abs` (which must exist); owners as in the tar. */
  async extract(abs: string, tar: Readable): Promise<void> {
    await extractToDir(this.fs(), abs, tar, { noOverwriteDirNonDir: false });
  }

  /** Unmounts and returns the new layer's tar (read from the upper dir). */
  async layer(): Promise<Readable> {
    await this.unmountRoot();
    return diffTar(this.upper, { lowerDirs: this.lowerDirs });
  }

  private async unmountRoot(): Promise<void> {
    if (this.rootFd >= 0) {
      fs.closeSync(this.rootFd);
      this.rootFd = -1;
    }
    if (this.mounted) {
      await unmount(this.root);
      this.mounted = false;
    }
  }

  async close(): Promise<void> {
    await this.unmountRoot().catch(() => {});
    await fs.promises.rm(this.dir, { recursive: true, force: true });
  }
}
