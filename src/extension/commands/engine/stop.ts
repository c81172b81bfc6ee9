import * as vscode from 'vscode';
import { command } from '../command';
import { stopBundledEngine } from '../../engine/lifecycle';

export default command('berth.engine.stop', async (berth) => {
  const running = berth.lastContainers.filter((c) => c.State === 'running').length;
  if (running) {
    const answer = await vscode.window.showWarningMessage(
      `Stop the Berth engine? ${running} running container${running > 1 ? 's' : ''} will be stopped.`,
      { modal: true },
      'Stop Engine',
    );
    if (answer !== 'Stop Engine') return;
  }
  if (await stopBundledEngine(berth)) vscode.window.setStatusBarMessage('Berth: engine stopped', 4000);
});
