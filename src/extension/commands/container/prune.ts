import * as vscode from 'vscode';
import { formatBytes } from '../../../views/format';
import { command } from '../command';

export default command('berth.container.prune', async (berth) => {
  const answer = await vscode.window.showWarningMessage('Remove all stopped containers?', { modal: true }, 'Prune');
  if (answer !== 'Prune') return;
  try {
    const r = await berth.client().pruneContainers();
    void vscode.window.showInformationMessage(
      `Berth: removed ${r.ContainersDeleted?.length ?? 0} containers, freed ${formatBytes(r.SpaceReclaimed)}.`,
    );
  } catch (err) {
    berth.fail('prune containers', err);
  }
});
