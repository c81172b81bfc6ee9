import * as vscode from 'vscode';
import { command } from '../command';

export default command('berth.engine.openSettings', () =>
  vscode.commands.executeCommand('workbench.action.openSettings', '@ext:berth.berth'),
);
