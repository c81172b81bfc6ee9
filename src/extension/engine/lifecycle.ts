// Engine lifecycle as the extension sees it: connect to the configured host; when nothing answers, start the
// bundled berthd (root), or the user's own rootless berthd (not root), or — where the host cannot run it rootless —
// offer the systemd service; on macOS/Windows explain what works today.
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Berth } from '../berth';
import { rootlessSocket, stopEngine, SYSTEM_PIDFILE, systemdInstallCommand } from './launcher';
import { showNoSubidsOnce } from './subids';
import { type LocalStart, startLocalEngine, stopRootlessEngine } from './user-service';
import { startVmEngine, stopVmEngine, vmConsoleLog } from './vm';

/** The engine's log: berthd's log file, or the VM's console (kernel, init and the guest's berthd). */
export function engineLogFile(berth: Berth): string {
  if (berth.usesVm) return vmConsoleLog();
  return path.join(berth.context.globalStorageUri.fsPath, 'berthd.log');
}

/** Starts the bundled engine if allowed and possible; returns whether an engine answers afterwards. */
export async function ensureEngine(berth: Berth, userAsked: boolean): Promise<boolean> {
  if (await berth.resolveHost()) {
    await berth.connect();
    return true;
  }
  const configured = berth.settings.host.trim();
  if (configured && !userAsked) return false; // a configured engine is someone else's to start
  if (berth.usesVm) {
    if (!userAsked && !berth.settings.autoStart) return false;
    if (!(await startVmEngine(berth.settings.vm, berth.context.extensionPath, berth.output))) return false;
    await berth.connect();
    return true;
  }
  if (process.platform !== 'linux') {
    // A configured host on macOS/Windows that does not answer: Berth cannot start someone else's engine.
    void vscode.window.showWarningMessage(
      `Berth: no engine answers on ${configured}; start it, or clear "berth.engine.host" to use Berth's Linux VM.`,
    );
    return false;
  }
  if (!userAsked && !berth.settings.autoStart) return false;
  let started: LocalStart;
  try {
    started = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: 'Starting the Berth engine' },
      () => startLocalEngine(berth.context.extensionPath, engineLogFile(berth), { configured }),
    );
  } catch (err) {
    const pick = await vscode.window.showErrorMessage(
      `Berth: could not start the engine: ${(err as Error).message}`,
      'Show Engine Log',
      'Diagnose',
    );
    if (pick === 'Show Engine Log') await vscode.commands.executeCommand('berth.engine.showLog');
    if (pick === 'Diagnose') await vscode.commands.executeCommand('berth.engine.diagnose');
    return false;
  }
  if (started.choice === 'offer-service') {
    if (userAsked || !berth.context.globalState.get('berth.serviceOffered')) {
      void berth.context.globalState.update('berth.serviceOffered', true);
      const pick = await vscode.window.showWarningMessage(
        `Berth: this host cannot run the engine rootless (${started.problems.join('; ')}). Install it once as a systemd service (a "berth" group gets access to its socket, so VS Code never runs as root)?`,
        'Install Service',
        'Diagnose',
      );
      if (pick === 'Install Service') await vscode.commands.executeCommand('berth.engine.installService');
      if (pick === 'Diagnose') await vscode.commands.executeCommand('berth.engine.diagnose');
    }
    return false;
  }
  const how = started.how;
  const as = !how ? '' : how.how === 'user-service' ? ` as ${how.unit} of your systemd` : ` directly (${how.why})`;
  berth.output.appendLine(`started the bundled engine on ${started.host}${as} (log: ${engineLogFile(berth)})`);
  if (started.choice === 'rootless') void showNoSubidsOnce(berth);
  await berth.connect();
  return true;
}

export async function stopBundledEngine(berth: Berth): Promise<boolean> {
  if (berth.usesVm) {
    const stopped = await stopVmEngine(berth.output);
    await berth.connect();
    return stopped;
  }
  const host = berth.candidates()[0];
  if (host === rootlessSocket() ? await stopRootlessEngine() : await stopEngine(host, SYSTEM_PIDFILE)) return true;
  void vscode.window.showWarningMessage(
    `Berth: this engine was not started by Berth (or needs root to stop). If it runs as a service: sudo systemctl stop berth`,
  );
  return false;
}

export function installServiceCommand(berth: Berth): string {
  return systemdInstallCommand(berth.context.extensionPath, os.userInfo().username);
}
