// A TreeDataProvider over plain records (src/views/model.ts). A refresh re-lists from the engine, reconciles with
// what the view shows and fires the smallest change: only the rows whose text changed, or the whole tree when rows
// were added, removed or moved. Stable ids keep selection and expansion. Records marked `lazy` (a directory of a
// container's files, a registry's repositories) get their children from `loadChildren` when expanded.
import * as vscode from 'vscode';
import { reconcile, type TreeRecord } from './model';

export interface RecordTreeOptions {
  /** Children of `lazy` records, asked for when VS Code expands them. */
  loadChildren?: (r: TreeRecord) => Promise<TreeRecord[]>;
}

export class RecordTreeProvider implements vscode.TreeDataProvider<TreeRecord>, vscode.Disposable {
  private roots: TreeRecord[] = [];
  private readonly changed = new vscode.EventEmitter<TreeRecord | TreeRecord[] | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private loading?: Promise<void>;
  private again = false;
  private againRelist = false;
  /** Parents of the rows handed out (reveal() asks for them); lazy children are recorded as they load. */
  private parents = new WeakMap<TreeRecord, TreeRecord>();
  /** Last refresh's cost in ms (list + build + reconcile), for the engine log. */
  lastRefreshMs = 0;

  constructor(
    private readonly load: (relist: boolean) => Promise<TreeRecord[]>,
    private readonly onError: (err: unknown) => void,
    private readonly opts: RecordTreeOptions = {},
  ) {}

  /**
   * Coalesces: one load at a time, and at most one more queued behind it. `relist: false` rebuilds the rows from
   * what the last list returned (e.g. fresh stats), without asking the engine again.
   */
  refresh(relist = true): Promise<void> {
    if (this.loading) {
      this.again = true;
      this.againRelist ||= relist;
      return this.loading;
    }
    this.loading = (async () => {
      let nextRelist = relist;
      do {
        this.again = false;
        this.againRelist = false;
        try {
          const t0 = performance.now();
          const next = await this.load(nextRelist);
          const diff = reconcile(this.roots, next);
          this.roots = diff.roots;
          this.lastRefreshMs = performance.now() - t0;
          if (diff.structural) {
            this.parents = new WeakMap();
            this.changed.fire(undefined);
          } else if (diff.changed.length) this.changed.fire(diff.changed);
        } catch (err) {
          this.onError(err);
        }
        nextRelist = this.againRelist;
      } while (this.again);
    })().finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** Redraws one row (or the whole tree) without asking the engine: lazy children are asked for again. */
  redraw(r?: TreeRecord): void {
    this.changed.fire(r);
  }

  /** Empties the view (engine gone): the welcome content shows. */
  clear(): void {
    this.lazyKids.clear();
    if (!this.roots.length) return;
    this.roots = [];
    this.changed.fire(undefined);
  }

  get records(): readonly TreeRecord[] {
    return this.roots;
  }

  /** The first record (depth first, lazy children excluded) that matches. */
  find(match: (r: TreeRecord) => boolean): TreeRecord | undefined {
    const walk = (rs: readonly TreeRecord[]): TreeRecord | undefined => {
      for (const r of rs) {
        if (match(r)) return r;
        const hit = r.children && walk(r.children);
        if (hit) return hit;
      }
      return undefined;
    };
    return walk(this.roots);
  }

  getTreeItem(r: TreeRecord): vscode.TreeItem {
    return toTreeItem(r);
  }

  getChildren(r?: TreeRecord): TreeRecord[] | Promise<TreeRecord[]> {
    if (!r) return this.roots;
    if (r.lazy && this.opts.loadChildren) return this.loadLazy(r);
    const kids = r.children ?? [];
    for (const k of kids) this.parents.set(k, r);
    return kids;
  }

  /**
   * Lazy children by their parent's id. VS Code refuses a second element object under an id it has registered
   * ("Element with id … is already registered"), which a refresh racing an expand would hand it: a load already
   * under way is shared, and a reload gives back the same objects for the same ids (updated in place).
   */
  private readonly lazyKids = new Map<string, Map<string, TreeRecord>>();
  private readonly lazyLoads = new Map<string, Promise<TreeRecord[]>>();

  private loadLazy(r: TreeRecord): Promise<TreeRecord[]> {
    let load = this.lazyLoads.get(r.id);
    if (!load) {
      load = this.loadLazyOnce(r).finally(() => this.lazyLoads.delete(r.id));
      this.lazyLoads.set(r.id, load);
    }
    return load.then((kids) => {
      for (const k of kids) this.parents.set(k, r);
      return kids;
    });
  }

  private async loadLazyOnce(r: TreeRecord): Promise<TreeRecord[]> {
    let fresh: TreeRecord[];
    try {
      fresh = await this.opts.loadChildren!(r);
    } catch (err) {
      fresh = [errorRecord(r, err)];
    }
    const before = this.lazyKids.get(r.id);
    const kids = fresh.map((k) => {
      const old = before?.get(k.id);
      return old ? Object.assign(old, k) : k;
    });
    this.lazyKids.set(r.id, new Map(kids.map((k) => [k.id, k])));
    return kids;
  }

  getParent(r: TreeRecord): TreeRecord | undefined {
    const known = this.parents.get(r);
    if (known) return known;
    // Static rows: find the parent by walking the tree (reveal of a row that was never expanded).
    const walk = (parent: TreeRecord | undefined, rs: readonly TreeRecord[]): TreeRecord | undefined => {
      for (const x of rs) {
        if (x === r) return parent;
        const hit = x.children && walk(x, x.children);
        if (hit) return hit;
      }
      return undefined;
    };
    return walk(undefined, this.roots);
  }

  dispose(): void {
    this.changed.dispose();
  }
}

/** A row that says why a lazy folder could not be listed (instead of an empty, silent folder). */
function errorRecord(parent: TreeRecord, err: unknown): TreeRecord {
  const message = (err as Error)?.message ?? String(err);
  return {
    id: `${parent.id}:error`,
    kind: 'info',
    label: message,
    tooltip: message,
    contextValue: 'error',
    icon: { id: 'error', color: 'errorForeground' },
    signature: message,
  };
}

export function toTreeItem(r: TreeRecord): vscode.TreeItem {
  const item = new vscode.TreeItem(
    r.label,
    r.lazy || r.children?.length
      ? (r.expanded ?? (r.kind === 'group' || r.kind === 'repository'))
        ? vscode.TreeItemCollapsibleState.Expanded
        : vscode.TreeItemCollapsibleState.Collapsed
      : vscode.TreeItemCollapsibleState.None,
  );
  item.id = r.id;
  item.description = r.description;
  item.tooltip = r.tooltip;
  item.accessibilityInformation = { label: r.description ? `${r.label}, ${r.description}` : r.label };
  item.contextValue = r.contextValue;
  if (r.icon)
    item.iconPath = new vscode.ThemeIcon(r.icon.id, r.icon.color ? new vscode.ThemeColor(r.icon.color) : undefined);
  if (r.url) item.command = { command: 'vscode.open', title: 'Open in Browser', arguments: [vscode.Uri.parse(r.url)] };
  else if (r.open?.command === 'vscode.open' && r.fileUri)
    item.command = { command: 'vscode.open', title: r.open.title, arguments: [vscode.Uri.parse(r.fileUri)] };
  else if (r.open) item.command = { command: r.open.command, title: r.open.title, arguments: [r] };
  if (r.resourceUri) item.resourceUri = vscode.Uri.parse(r.resourceUri);
  return item;
}
