// A TreeDataProvider over plain records (src/views/model.ts). A refresh re-lists from the engine, reconciles with
// what the view shows and fires the smallest change: only the rows whose text changed, or the whole tree when rows
// were added, removed or moved. Stable ids keep selection and expansion.
import * as vscode from 'vscode';
import { reconcile, type TreeRecord } from './model';

export class RecordTreeProvider implements vscode.TreeDataProvider<TreeRecord>, vscode.Disposable {
  private roots: TreeRecord[] = [];
  private readonly changed = new vscode.EventEmitter<TreeRecord | TreeRecord[] | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private loading?: Promise<void>;
  private again = false;
  /** Last refresh's cost in ms (list + build + reconcile), for the engine log. */
  lastRefreshMs = 0;

  constructor(
    private readonly load: () => Promise<TreeRecord[]>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Coalesces: one load at a time, and at most one more queued behind it. */
  refresh(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.again = false;
        try {
          const t0 = performance.now();
          const next = await this.load();
          const diff = reconcile(this.roots, next);
          this.roots = diff.roots;
          this.lastRefreshMs = performance.now() - t0;
          if (diff.structural) this.changed.fire(undefined);
          else if (diff.changed.length) this.changed.fire(diff.changed);
        } catch (err) {
          this.onError(err);
        }
      } while (this.again);
    })().finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** Empties the view (engine gone): the welcome content shows. */
  clear(): void {
    if (!this.roots.length) return;
    this.roots = [];
    this.changed.fire(undefined);
  }

  get records(): readonly TreeRecord[] {
    return this.roots;
  }

  getTreeItem(r: TreeRecord): vscode.TreeItem {
    return toTreeItem(r);
  }

  getChildren(r?: TreeRecord): TreeRecord[] {
    return r ? (r.children ?? []) : this.roots;
  }

  dispose(): void {
    this.changed.dispose();
  }
}

export function toTreeItem(r: TreeRecord): vscode.TreeItem {
  const item = new vscode.TreeItem(
    r.label,
    r.children?.length
      ? r.kind === 'group' || r.kind === 'repository'
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
  return item;
}
