import * as vscode from 'vscode';
import { command, pickImages } from '../command';
import { pushImage } from '../../registries/push';

/** Pushes an image tag to its registry with a progress notification (stored credentials as X-Registry-Auth). */
export default command('berth.image.push', async (berth, item, all) => {
  const refs = (await pickImages(berth, item, all, 'Choose an image to push')).filter((r) => !r.startsWith('sha256:'));
  for (const ref of refs) {
    try {
      const digest = await pushImage(berth, ref);
      if (digest === undefined) continue;
      berth.output.appendLine(`pushed ${ref} ${digest}`);
      vscode.window.setStatusBarMessage(`Berth: pushed ${ref}`, 5000);
      berth.registries.redraw();
    } catch (err) {
      berth.fail(`push ${ref}`, err);
    }
  }
});
