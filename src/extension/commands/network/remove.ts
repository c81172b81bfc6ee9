import * as vscode from 'vscode';
import { command, forEach } from '../command';
import { pickNetworks } from './pick';

export default command('berth.network.remove', async (berth, item, all) => {
  const targets = await pickNetworks(berth, item, all, { userOnly: true, placeHolder: 'Choose a network to remove' });
  if (!targets.length) return;
  const names = targets.map((t) => t.name).join(', ');
  const answer = await vscode.window.showWarningMessage(
    `Remove ${targets.length === 1 ? `network ${names}` : `${targets.length} networks (${names})`}?`,
    { modal: true },
    'Remove',
  );
  if (answer !== 'Remove') return;
  const ok = await forEach(
    berth,
    'remove network',
    targets,
    (t) => t.name,
    (t) => berth.client().removeNetwork(t.id),
  );
  if (ok) vscode.window.setStatusBarMessage(`Berth: removed ${ok} network${ok > 1 ? 's' : ''}`, 4000);
});
