import * as vscode from 'vscode';
import { command } from '../command';
import { rowUri } from '../../files/rows';

/** Copies a container's (or volume's) file or folder into a workspace folder (docker cp container:path dir). */
export default command('berth.file.download', async (berth, item) => {
  const uri = rowUri(item);
  if (!uri) return;
  const folders = vscode.workspace.workspaceFolders?.filter((f) => f.uri.scheme === 'file') ?? [];
  const chosen = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    defaultUri: folders[0]?.uri,
    openLabel: 'Download Here',
    title: `Download ${item.label}`,
  });
  const dest = chosen?.[0];
  if (!dest) return;
  const written = await berth.fileSystem.download(uri, dest.fsPath);
  vscode.window.setStatusBarMessage(`Berth: downloaded ${item.label} to ${written}`, 5000);
  berth.output.appendLine(`downloaded ${uri.toString()} to ${written}`);
});
