import * as vscode from 'vscode';
import { command, pickContainers } from '../command';
import { CONTAINER_SCHEME } from '../../files/provider';

/** Adds a container's file system to the Explorer as a workspace folder (stopped containers too). */
export default command('berth.container.openFiles', async (berth, item) => {
  const [target] = await pickContainers(berth, item, undefined, undefined, 'Choose a container to browse its files');
  if (!target) return;
  const uri = vscode.Uri.from({ scheme: CONTAINER_SCHEME, authority: target.id, path: '/' });
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (!folders.some((f) => f.uri.toString() === uri.toString()))
    vscode.workspace.updateWorkspaceFolders(folders.length, 0, { uri, name: `${target.name} (container)` });
  await vscode.commands.executeCommand('workbench.view.explorer');
});
