import * as vscode from 'vscode';
import { command, pickContainers } from '../command';
import { StreamTerminal, execSession } from '../../terminals/exec';

/** Attach Shell: exec bash (else sh) in the integrated terminal over the engine's hijacked exec stream. */
export default command('berth.container.shell', async (berth, item) => {
  const [target] = await pickContainers(berth, item, undefined, ['running'], 'Choose a running container for a shell');
  if (!target) return;
  const pty = new StreamTerminal(execSession(berth.client(), target.id), 'shell');
  const terminal = vscode.window.createTerminal({
    name: `${target.name} (shell)`,
    pty,
    iconPath: new vscode.ThemeIcon('terminal'),
  });
  terminal.show();
});
