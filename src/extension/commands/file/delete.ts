import * as vscode from 'vscode';
import { command, selected } from '../command';
import { rowUri } from '../../files/rows';

/** Deletes files in a running container (the archive API cannot remove; this runs rm in the container). */
export default command('berth.file.delete', async (berth, item, all) => {
  const rows = selected(item, all).filter((r) => r.kind === 'file' && r.fileUri);
  if (!rows.length) return;
  const answer = await vscode.window.showWarningMessage(
    `Delete ${rows.length === 1 ? rowUri(rows[0])!.path : `${rows.length} items`} in the container?`,
    { modal: true },
    'Delete',
  );
  if (answer !== 'Delete') return;
  for (const r of rows)
    await vscode.workspace.fs
      .delete(rowUri(r)!, { recursive: true })
      .then(undefined, (err) => berth.fail(`delete ${rowUri(r)!.path}`, err));
  void berth.containers.refresh(false);
  void berth.volumes.refresh(false);
});
