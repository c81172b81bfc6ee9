import * as vscode from 'vscode';
import { portUrl } from '../../../views/model';
import { command, pickContainers } from '../command';

/** Opens a published TCP port (asks which when there are several). */
export default command('berth.container.openInBrowser', async (berth, item) => {
  if (item?.url) return vscode.env.openExternal(vscode.Uri.parse(item.url));
  const [target] = await pickContainers(berth, item, undefined, ['running'], 'Choose a container with published ports');
  if (!target) return;
  const [c] = await berth.client().listContainers({ all: true, filters: { id: [target.id] } });
  const urls = [...new Set((c?.Ports ?? []).map(portUrl).filter((u): u is string => !!u))];
  if (!urls.length) return void vscode.window.showInformationMessage(`Berth: ${target.name} publishes no TCP port.`);
  const url =
    urls.length === 1 ? urls[0] : await vscode.window.showQuickPick(urls, { placeHolder: 'Open which port?' });
  if (url) await vscode.env.openExternal(vscode.Uri.parse(url));
});
