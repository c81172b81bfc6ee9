import * as vscode from 'vscode';
import { command } from '../command';
import { installServiceCommand } from '../../engine/lifecycle';

/** Runs the one sudo command that installs berthd as a systemd service, in a terminal the user can read first. */
export default command('berth.engine.installService', async (berth) => {
  const terminal = vscode.window.createTerminal({ name: 'Berth: install engine service' });
  terminal.show();
  terminal.sendText(installServiceCommand(berth), false);
  const pick = await vscode.window.showInformationMessage(
    'The install command is in the terminal: press Enter there to run it (sudo asks for your password). Afterwards the "berth" group applies only to new logins: log out and in, or run "Remote-SSH: Kill VS Code Server on Host", then reload.',
    'Reload Window',
  );
  if (pick) await vscode.commands.executeCommand('workbench.action.reloadWindow');
});
