import * as vscode from 'vscode';
import { command } from '../command';

export default command('berth.volume.create', async (berth) => {
  const name = await vscode.window.showInputBox({
    title: 'Create a volume',
    prompt: 'Volume name (empty: generated)',
    placeHolder: 'data',
    ignoreFocusOut: true,
    validateInput: (v) =>
      !v || /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(v) ? undefined : 'only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed',
  });
  if (name === undefined) return;
  try {
    const v = await berth.client().createVolume({ Name: name || undefined });
    vscode.window.setStatusBarMessage(`Berth: created volume ${v.Name}`, 4000);
  } catch (err) {
    berth.fail('create volume', err);
  }
});
