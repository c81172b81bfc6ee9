import * as vscode from 'vscode';
import { command } from '../command';

export default command('berth.network.prune', async (berth) => {
  const answer = await vscode.window.showWarningMessage(
    'Remove all networks no container uses?',
    { modal: true },
    'Prune',
  );
  if (answer !== 'Prune') return;
  const r = await berth.client().pruneNetworks();
  const n = r.NetworksDeleted?.length ?? 0;
  void vscode.window.showInformationMessage(
    `Berth: removed ${n} network${n === 1 ? '' : 's'}${n ? `: ${r.NetworksDeleted!.join(', ')}` : ''}.`,
  );
  await berth.networks.refresh();
});
