import * as vscode from 'vscode';
import { command, pickContainers } from '../command';
import { LogsTerminal } from '../../terminals/logs';

/** Follows a container's logs in a terminal that survives restarts (re-attaches on the engine's `start` event). */
export default command('berth.container.logs', async (berth, item) => {
  const [target] = await pickContainers(berth, item, undefined, undefined, 'Choose a container to follow its logs');
  if (!target) return;
  const { logsTail, logsTimestamps } = berth.settings;
  const pty = new LogsTerminal(() => berth.client(), target.id, target.name, {
    tail: logsTail,
    timestamps: logsTimestamps,
    onEvent: (l) => berth.events.onEvent(l),
  });
  const terminal = vscode.window.createTerminal({
    name: `${target.name} (logs)`,
    pty,
    iconPath: new vscode.ThemeIcon('output'),
  });
  terminal.show();
});
