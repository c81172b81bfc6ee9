import * as vscode from 'vscode';
import { EngineApiError } from '../../../client';
import { command, pickImages } from '../command';

export default command('berth.image.remove', async (berth, item, all) => {
  const refs = await pickImages(berth, item, all, 'Choose an image to remove');
  if (!refs.length) return;
  const answer = await vscode.window.showWarningMessage(
    `Remove ${refs.length === 1 ? refs[0] : `${refs.length} images (${refs.join(', ')})`}?`,
    { modal: true },
    'Remove',
  );
  if (answer !== 'Remove') return;
  let untagged = 0,
    deleted = 0;
  for (const ref of refs) {
    try {
      const r = await berth.client().removeImage(ref);
      untagged += r.filter((x) => x.Untagged).length;
      deleted += r.filter((x) => x.Deleted).length;
    } catch (err) {
      if (err instanceof EngineApiError && err.status === 409) {
        const force = await vscode.window.showWarningMessage(`${ref}: ${err.message}`, { modal: true }, 'Force Remove');
        if (force === 'Force Remove') {
          try {
            await berth.client().removeImage(ref, { force: true });
            deleted++;
          } catch (e) {
            berth.fail(`remove ${ref}`, e);
          }
        }
      } else berth.fail(`remove ${ref}`, err);
    }
  }
  vscode.window.setStatusBarMessage(
    `Berth: untagged ${untagged}, deleted ${deleted} image layer set${deleted === 1 ? '' : 's'}`,
    5000,
  );
});
