import * as vscode from 'vscode';
import { formatBytes } from '../../../views/format';
import { command } from '../command';

export default command('berth.volume.prune', async (berth) => {
  const answer = await vscode.window.showWarningMessage(
    'Remove all volumes no container uses? Their data is deleted.',
    { modal: true },
    'Prune',
  );
  if (answer !== 'Prune') return;
  try {
    const r = await berth.client().pruneVolumes();
    void vscode.window.showInformationMessage(
      `Berth: removed ${r.VolumesDeleted?.length ?? 0} volumes, freed ${formatBytes(r.SpaceReclaimed)}.`,
    );
  } catch (err) {
    berth.fail('prune volumes', err);
  }
});
