import * as vscode from 'vscode';
import { command, forEach, pickVolumes } from '../command';

export default command('berth.volume.remove', async (berth, item, all) => {
  const names = await pickVolumes(berth, item, all);
  if (!names.length) return;
  const answer = await vscode.window.showWarningMessage(
    `Remove ${names.length === 1 ? `volume ${names[0]}` : `${names.length} volumes (${names.join(', ')})`}? Its data is deleted.`,
    { modal: true },
    'Remove',
  );
  if (answer !== 'Remove') return;
  const ok = await forEach(
    berth,
    'remove volume',
    names,
    (n) => n,
    async (n) => {
      // The file browser's helper container holds the volume in use.
      await berth.fileSystem.volumes.remove(n);
      await berth.client().removeVolume(n);
    },
  );
  if (ok) vscode.window.setStatusBarMessage(`Berth: removed ${ok} volume${ok > 1 ? 's' : ''}`, 4000);
});
