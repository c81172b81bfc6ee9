// Upload by drag and drop: local files dropped on a container's (or volume's) folder row are copied into it with
// docker cp's rules. VS Code's Explorer handles drops into berth-container: folders itself (through the provider).
import * as vscode from 'vscode';
import type { Berth } from '../berth';
import type { TreeRecord } from '../../views/model';
import { isFolderRow, localFiles, redrawRow, rowUri } from './rows';

export class FileDropController implements vscode.TreeDragAndDropController<TreeRecord> {
  readonly dropMimeTypes = ['text/uri-list', 'files'];
  readonly dragMimeTypes: string[] = [];

  constructor(private readonly berth: Berth) {}

  async handleDrop(target: TreeRecord | undefined, data: vscode.DataTransfer): Promise<void> {
    if (!target || !isFolderRow(target)) return;
    const local = localFiles((await data.get('text/uri-list')?.asString()) ?? '');
    if (!local.length) return;
    await uploadInto(this.berth, target, local);
  }
}

export async function uploadInto(berth: Berth, target: TreeRecord, local: string[]): Promise<void> {
  const folder = rowUri(target)!;
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Uploading ${local.length} item(s) to ${target.label}` },
      () => berth.fileSystem.upload(folder, local),
    );
    vscode.window.setStatusBarMessage(`Berth: uploaded ${local.length} item(s) to ${folder.path}`, 4000);
  } catch (err) {
    berth.fail(`upload to ${folder.path}`, err);
  }
  redrawRow(berth, target);
}
