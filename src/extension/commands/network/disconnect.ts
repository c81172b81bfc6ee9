import * as vscode from 'vscode';
import { command } from '../command';
import { pickNetworks } from './pick';

/** Disconnects the container row under a network (or asks for network and container from the palette). */
export default command('berth.network.disconnect', async (berth, item) => {
  let network = item?.networkId ? { id: item.networkId, name: item.networkName ?? item.networkId } : undefined;
  let container =
    item?.networkId && item.containerId ? { id: item.containerId, name: item.containerName ?? '' } : undefined;
  if (!network) [network] = await pickNetworks(berth, undefined, undefined, { placeHolder: 'Disconnect from…' });
  if (!network) return;
  if (!container) {
    const attached = Object.entries((await berth.client().inspectNetwork(network.id)).Containers ?? {}) as [
      string,
      { Name?: string; IPv4Address?: string },
    ][];
    if (!attached.length) {
      void vscode.window.showInformationMessage(`Berth: no container is connected to ${network.name}.`);
      return;
    }
    const pick = await vscode.window.showQuickPick(
      attached.map(([id, c]) => ({ label: c.Name ?? id.slice(0, 12), description: c.IPv4Address, id })),
      { placeHolder: `Disconnect a container from ${network.name}` },
    );
    if (!pick) return;
    container = { id: pick.id, name: pick.label };
  }
  await berth.client().disconnectNetwork(network.id, container.id);
  vscode.window.setStatusBarMessage(`Berth: disconnected ${container.name} from ${network.name}`, 4000);
});
