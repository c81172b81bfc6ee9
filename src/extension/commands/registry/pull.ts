import * as vscode from 'vscode';
import { command } from '../command';
import { pullImage } from '../../run/pull';

/** Pulls a tag from the Registries view (with the registry's stored credentials). */
export default command('berth.registry.pull', async (berth, item) => {
  const ref = item?.imageRef;
  if (!ref) return;
  try {
    if (await pullImage(berth, ref)) vscode.window.setStatusBarMessage(`Berth: pulled ${ref}`, 4000);
  } catch (err) {
    berth.fail(`pull ${ref}`, err);
  }
});
