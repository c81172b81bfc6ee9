import * as vscode from 'vscode';
import { formatBytes } from '../../../views/format';
import { command } from '../command';

export default command('berth.image.prune', async (berth) => {
  const choice = await vscode.window.showWarningMessage(
    'Prune images?',
    {
      modal: true,
      detail: 'Dangling images are always removed; "All Unused" also removes tagged images no container uses.',
    },
    'Dangling',
    'All Unused',
  );
  if (!choice) return;
  try {
    const r = await berth.client().pruneImages(choice === 'All Unused' ? { dangling: ['false'] } : undefined);
    void vscode.window.showInformationMessage(
      `Berth: removed ${r.ImagesDeleted?.length ?? 0} images, freed ${formatBytes(r.SpaceReclaimed)}.`,
    );
  } catch (err) {
    berth.fail('prune images', err);
  }
});
