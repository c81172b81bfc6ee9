import * as vscode from 'vscode';
import { command, forEach, pickContainers } from '../command';

export default command('berth.container.remove', async (berth, item, all) => {
  const targets = await pickContainers(berth, item, all, undefined, 'Choose a container to remove');
  if (!targets.length) return;
  const running = targets.filter((t) => t.state === 'running' || t.state === 'paused' || t.state === 'restarting');
  const names = targets.map((t) => t.name).join(', ');
  const answer = await vscode.window.showWarningMessage(
    `Remove ${targets.length === 1 ? `container ${names}` : `${targets.length} containers (${names})`}?${running.length ? ` ${running.length === 1 ? 'It is' : `${running.length} are`} running and will be stopped.` : ''}`,
    { modal: true },
    'Remove',
  );
  if (answer !== 'Remove') return;
  const ok = await forEach(
    berth,
    'remove',
    targets,
    (t) => t.name,
    (t) => berth.client().removeContainer(t.id, { force: true }),
  );
  if (ok) vscode.window.setStatusBarMessage(`Berth: removed ${ok} container${ok > 1 ? 's' : ''}`, 4000);
});
