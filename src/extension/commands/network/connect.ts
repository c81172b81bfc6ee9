import * as vscode from 'vscode';
import { command, pickContainers } from '../command';
import { pickNetworks } from './pick';

/** Connects a container to a network: from a network row (asks the container) or a container row (asks the network). */
export default command('berth.network.connect', async (berth, item) => {
  const fromContainer = item?.kind === 'container' && !item.networkId;
  const [network] = fromContainer
    ? await pickNetworks(berth, undefined, undefined, { placeHolder: `Connect ${item.containerName} to…` })
    : await pickNetworks(berth, item, undefined, { placeHolder: 'Choose a network' });
  if (!network) return;
  const [container] = fromContainer
    ? await pickContainers(berth, item, undefined)
    : await pickContainers(berth, undefined, undefined, undefined, `Connect a container to ${network.name}`);
  if (!container) return;
  const alias = await vscode.window.showInputBox({
    title: `Connect ${container.name} to ${network.name}`,
    prompt: 'Network aliases, comma-separated (optional)',
    ignoreFocusOut: true,
  });
  if (alias === undefined) return;
  const aliases = alias
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  await berth.client().connectNetwork(network.id, container.id, aliases.length ? { Aliases: aliases } : undefined);
  vscode.window.setStatusBarMessage(`Berth: connected ${container.name} to ${network.name}`, 4000);
});
