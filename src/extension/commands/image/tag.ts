import * as vscode from 'vscode';
import { command, pickImages } from '../command';
import { pullArgs } from '../../run/options';

export default command('berth.image.tag', async (berth, item) => {
  const [source] = await pickImages(berth, item, undefined, 'Choose an image to tag');
  if (!source) return;
  const target = await vscode.window.showInputBox({
    title: `Tag ${source}`,
    prompt: 'New reference',
    value: source,
    ignoreFocusOut: true,
    validateInput: (v) =>
      /^[a-z0-9]([a-z0-9._\-/:]*[a-z0-9])?$/.test(v.trim()) ? undefined : 'use lowercase repository[:tag]',
  });
  if (!target) return;
  const { fromImage, tag } = pullArgs(target);
  try {
    await berth.client().tagImage(source, fromImage, tag);
  } catch (err) {
    berth.fail(`tag ${source}`, err);
  }
});
