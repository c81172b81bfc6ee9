import * as vscode from 'vscode';
import { command, pickContainers } from '../command';

export default command('berth.container.copyId', async (berth, item) => {
  const [target] = await pickContainers(berth, item, undefined, undefined, 'Choose a container');
  if (!target) return;
  await vscode.env.clipboard.writeText(target.id);
  vscode.window.setStatusBarMessage(`Berth: copied ${target.id.slice(0, 12)}`, 3000);
});
