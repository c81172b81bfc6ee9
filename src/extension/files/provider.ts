// The `berth-container://<id>/path` and `berth-volume://<name>/path` file systems: VS Code's FileSystemProvider over
// ContainerFiles, so container and volume files open, save, copy and drag in the editor and the Explorer like any
// other. Errors become VS Code's FileSystemErrors (the Explorer words them).
import * as vscode from 'vscode';
import { type ContainerFiles, type FileEntry, FilesError } from './containerFiles';
import { VOLUME_MOUNT, type VolumeHelpers } from './volumeFiles';

export const CONTAINER_SCHEME = 'berth-container';
export const VOLUME_SCHEME = 'berth-volume';

function fileType(e: FileEntry): vscode.FileType {
  const base = (k: FileEntry['kind'] | undefined) =>
    k === 'directory' ? vscode.FileType.Directory : k === 'file' ? vscode.FileType.File : vscode.FileType.Unknown;
  return e.kind === 'symlink' ? vscode.FileType.SymbolicLink | base(e.targetKind) : base(e.kind);
}

export class BerthFileSystem implements vscode.FileSystemProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.changed.event;

  constructor(
    readonly files: ContainerFiles,
    readonly volumes: VolumeHelpers,
    /** Where the listing times go (the file view's budget is 300 ms for 5,000 entries). */
    private readonly log: (line: string) => void,
  ) {}

  /** The container and the path in it that a URI names (a volume's files are its helper's /volume). */
  async target(uri: vscode.Uri): Promise<{ id: string; path: string }> {
    const p = uri.path || '/';
    if (uri.scheme === CONTAINER_SCHEME) return { id: uri.authority, path: p };
    if (uri.scheme === VOLUME_SCHEME) {
      const id = await this.volumes.containerFor(decodeURIComponent(uri.authority));
      return { id, path: p === '/' ? VOLUME_MOUNT : `${VOLUME_MOUNT}${p}` };
    }
    throw vscode.FileSystemError.Unavailable(uri);
  }

  private async run<T>(uri: vscode.Uri, fn: (t: { id: string; path: string }) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.target(uri));
    } catch (err) {
      if (err instanceof FilesError) {
        const make = vscode.FileSystemError[err.code] as (m: string) => vscode.FileSystemError;
        throw make(err.message);
      }
      if (err instanceof vscode.FileSystemError) throw err;
      throw vscode.FileSystemError.Unavailable((err as Error)?.message ?? String(err));
    }
  }

  /** A folder's entries with everything the tree shows (kinds, sizes, link targets); timed in the log. */
  list(uri: vscode.Uri): Promise<FileEntry[]> {
    return this.run(uri, async (t) => {
      const t0 = performance.now();
      const entries = await this.files.list(t.id, t.path);
      this.log(`listed ${entries.length} entries of ${uri.toString()} in ${(performance.now() - t0).toFixed(0)} ms`);
      return entries;
    });
  }

  watch(): vscode.Disposable {
    // No change feed from the engine for files: VS Code re-reads on focus; our own writes fire below.
    return new vscode.Disposable(() => undefined);
  }

  stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    return this.run(uri, async (t) => {
      const e = await this.files.stat(t.id, t.path);
      return { type: fileType(e), ctime: e.mtimeMs, mtime: e.mtimeMs, size: e.size };
    });
  }

  async readDirectory(uri: vscode.Uri): Promise<[string, vscode.FileType][]> {
    return (await this.list(uri)).map((e) => [e.name, fileType(e)]);
  }

  readFile(uri: vscode.Uri): Promise<Uint8Array> {
    return this.run(uri, async (t) => (await this.files.read(t.id, t.path)).data);
  }

  writeFile(uri: vscode.Uri, content: Uint8Array, opts: { create: boolean; overwrite: boolean }): Promise<void> {
    return this.run(uri, async (t) => {
      await this.files.write(t.id, t.path, Buffer.from(content), opts);
      this.changed.fire([{ type: vscode.FileChangeType.Changed, uri }]);
    });
  }

  createDirectory(uri: vscode.Uri): Promise<void> {
    return this.run(uri, async (t) => {
      await this.files.mkdir(t.id, t.path);
      this.changed.fire([{ type: vscode.FileChangeType.Created, uri }]);
    });
  }

  delete(uri: vscode.Uri, opts: { recursive: boolean }): Promise<void> {
    return this.run(uri, async (t) => {
      await this.files.delete(t.id, t.path, opts);
      this.changed.fire([{ type: vscode.FileChangeType.Deleted, uri }]);
    });
  }

  rename(from: vscode.Uri, to: vscode.Uri, opts: { overwrite: boolean }): Promise<void> {
    if (from.scheme !== to.scheme || from.authority !== to.authority) throw vscode.FileSystemError.NoPermissions(to);
    return this.run(from, async (t) => {
      const dest = await this.target(to);
      await this.files.rename(t.id, t.path, dest.path, opts);
      this.changed.fire([
        { type: vscode.FileChangeType.Deleted, uri: from },
        { type: vscode.FileChangeType.Created, uri: to },
      ]);
    });
  }

  /** Uploads local files into a folder (drag and drop, Upload…). */
  upload(folder: vscode.Uri, local: string[]): Promise<void> {
    return this.run(folder, (t) => this.files.upload(t.id, local, t.path));
  }

  /** Copies a file or folder into a local folder; the local path of what was written. */
  download(uri: vscode.Uri, localDir: string): Promise<string> {
    return this.run(uri, (t) => this.files.download(t.id, t.path, localDir));
  }

  dispose(): void {
    this.changed.dispose();
  }
}
