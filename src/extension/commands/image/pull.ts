import * as vscode from 'vscode';
import { command } from '../command';
import { pullImage } from '../../run/pull';

export default command('berth.image.pull', async (berth, item) => {
  const ref =
    item?.imageRef && !item.imageRef.startsWith('sha256:')
      ? item.imageRef
      : await vscode.window.showInputBox({
          title: 'Pull an image',
          prompt: 'Image reference',
          placeHolder: 'busybox:latest, registry:5000/team/app:1.2',
          ignoreFocusOut: true,
          validateInput: (v) => (v.trim() ? undefined : 'an image reference is required'),
        });
  if (!ref) return;
  try {
    if (await pullImage(berth, ref.trim())) vscode.window.setStatusBarMessage(`Berth: pulled ${ref}`, 4000);
  } catch (err) {
    berth.fail(`pull ${ref}`, err);
  }
});
