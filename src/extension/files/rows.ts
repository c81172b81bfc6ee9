// The tree rows the file commands act on: a folder row's URI, and redrawing the tree that shows it.
import { fileURLToPath } from 'node:url';
import * as vscode from 'vscode';
import type { Berth } from '../berth';
import type { TreeRecord } from '../../views/model';

export function rowUri(r: TreeRecord | undefined): vscode.Uri | undefined {
  return r?.fileUri ? vscode.Uri.parse(r.fileUri) : undefined;
}

export function isFolderRow(r: TreeRecord): boolean {
  return !!r.fileUri && (r.kind === 'files' || r.kind === 'volume' || r.contextValue === 'file.directory');
}

/** Lists a folder row again (after an upload, a delete below it). */
export function redrawRow(berth: Berth, r: TreeRecord): void {
  (r.containerId ? berth.containers : berth.volumes).redraw(r);
}

/** The local files of a drop's text/uri-list (RFC 2483: one URI a line, `#` comments); other schemes are left out. */
export function localFiles(uriList: string): string[] {
  return uriList
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('file:'))
    .map((l) => fileURLToPath(l));
}
