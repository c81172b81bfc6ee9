import * as vscode from 'vscode';
import { command, pickVolumes } from '../command';
import { VOLUME_SCHEME } from '../../files/provider';

/** Adds a volume's files to the Explorer as a workspace folder (through its helper container). */
export default command('berth.volume.openFiles', async (berth, item) => {
  const [name] = await pickVolumes(berth, item, undefined);
  if (!name) return;
  const uri = vscode.Uri.from({ scheme: VOLUME_SCHEME, authority: encodeURIComponent(name), path: '/' });
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (!folders.some((f) => f.uri.toString() === uri.toString()))
    vscode.workspace.updateWorkspaceFolders(folders.length, 0, { uri, name: `${name} (volume)` });
  await vscode.commands.executeCommand('workbench.view.explorer');
});
