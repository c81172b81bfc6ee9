import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { command } from '../command';
import { engineLogFile } from '../../engine/lifecycle';

export default command('berth.engine.showLog', async (berth) => {
  const file = engineLogFile(berth);
  if (!fs.existsSync(file)) {
    berth.output.show();
    void vscode.window.showInformationMessage(
      berth.usesVm
        ? 'Berth: the Linux VM has not been started yet, so it has no console log.'
        : 'Berth: this window did not start the engine; its own log is where it was started (for the service: journalctl -u berth).',
    );
    return;
  }
  await vscode.window.showTextDocument(vscode.Uri.file(file), { preview: true });
});
