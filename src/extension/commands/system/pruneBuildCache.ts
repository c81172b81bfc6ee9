import * as vscode from 'vscode';
import { formatBytes } from '../../../views/format';
import { command } from '../command';

export default command('berth.system.pruneBuildCache', async (berth) => {
  const answer = await vscode.window.showWarningMessage('Remove the build cache?', { modal: true }, 'Prune');
  if (answer !== 'Prune') return;
  const r = await berth.client().pruneBuildCache();
  void vscode.window.showInformationMessage(
    `Berth: removed ${r.CachesDeleted?.length ?? 0} build cache entries, reclaimed ${formatBytes(r.SpaceReclaimed)}.`,
  );
  await berth.diskUsage.refresh();
});
