import * as vscode from 'vscode';
import { command } from '../command';
import { uploadInto } from '../../files/dragAndDrop';
import { isFolderRow } from '../../files/rows';

/** Copies local files into a container's (or volume's) folder, owned by the container's user as docker cp does. */
export default command('berth.file.upload', async (berth, item) => {
  if (!item || !isFolderRow(item)) return;
  const chosen = await vscode.window.showOpenDialog({
    canSelectMany: true,
    canSelectFiles: true,
    canSelectFolders: true,
    defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
    openLabel: 'Upload',
    title: `Upload to ${item.label}`,
  });
  if (!chosen?.length) return;
  await uploadInto(
    berth,
    item,
    chosen.map((u) => u.fsPath),
  );
});
