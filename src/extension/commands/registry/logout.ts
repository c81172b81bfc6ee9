import * as vscode from 'vscode';
import { command } from '../command';

/** Forgets a registry and deletes its stored credentials. */
export default command('berth.registry.logout', async (berth, item) => {
  const address =
    item?.registry ??
    (
      await vscode.window.showQuickPick(
        berth.registryStore.list().map((r) => ({ label: r.address, description: r.username })),
        { placeHolder: 'Choose a registry to log out of' },
      )
    )?.label;
  if (!address) return;
  await berth.registryStore.remove(address);
  await berth.registries.refresh();
  vscode.window.setStatusBarMessage(`Berth: logged out of ${address}`, 4000);
});
