// The engine as a Linux VM (src/vm): always on macOS and Windows, on Linux when berth.engine.mode is "vm". The VM is
// started with a progress notification naming its boot stages, its console is the engine log, Stop/Restart Engine
// stop and restart it; when no driver can run here the message says what to install.
import * as os from 'node:os';
import * as vscode from 'vscode';
import { DEFAULT_VM, type DriverName, startVm, stopVm, type VmStartOptions, vmStatus, WSL_SIZING_NOTE } from '../../vm';

export type EngineMode = 'native' | 'vm';

export interface VmSettings {
  driver: DriverName | 'auto';
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
}

/** The VM is the engine on macOS and Windows whatever the setting says; on Linux only when asked for. */
export function usesVm(mode: EngineMode, platform: NodeJS.Platform = process.platform): boolean {
  return platform !== 'linux' || mode === 'vm';
}

/** The VM's engine socket (unix:///…/berth.sock, or the named pipe on Windows). */
export function vmHost(): string {
  return vmStatus(DEFAULT_VM).host;
}

export function vmConsoleLog(): string {
  return vmStatus(DEFAULT_VM).consoleLog;
}

/** What a person reads in the progress notification for each stage the supervisor reports. */
const STAGE_TEXT: Record<string, string> = {
  supervisor: 'preparing the VM',
  hypervisor: 'booting the Linux kernel',
  initramfs: 'mounting the root image',
  sysinit: 'starting the guest',
  modules: 'loading kernel modules',
  network: 'network up',
  'format-data': 'formatting the data disk (first start)',
  data: 'data disk mounted',
  shares: 'home folder shared',
  engine: 'starting berthd',
  listening: 'berthd listening',
  ready: 'engine ready',
};

export function stageText(stage: string): string {
  return STAGE_TEXT[stage] ?? stage;
}

export function vmStartOptions(s: VmSettings, extensionPath: string): VmStartOptions {
  return {
    ...(s.driver !== 'auto' && { driver: s.driver }),
    cpus: s.cpus,
    memoryMiB: s.memoryMiB,
    diskGiB: s.diskGiB,
    bundleDir: `${extensionPath}/dist`,
  };
}

export interface VmLog {
  appendLine(line: string): void;
}

/**
 * Starts the VM behind a progress notification; resolves true once its engine answers. Failures (no driver, no image,
 * a boot that went wrong) are shown with what to do and resolve false.
 */
export async function startVmEngine(s: VmSettings, extensionPath: string, log: VmLog): Promise<boolean> {
  const where = process.platform === 'darwin' ? 'macOS' : process.platform === 'win32' ? 'Windows' : os.type();
  try {
    const status = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Berth: starting the Linux VM', cancellable: false },
      async (progress) => {
        let last = 0;
        return startVm(DEFAULT_VM, {
          ...vmStartOptions(s, extensionPath),
          onStage: (stage) => {
            const seconds = (stage.atMs / 1000).toFixed(1);
            log.appendLine(`vm: ${stage.name} at ${seconds} s`);
            // The stages make the bar; each reports its share once.
            const n = Object.keys(STAGE_TEXT).length;
            const done = Math.min(100, Math.round(((Object.keys(STAGE_TEXT).indexOf(stage.name) + 1) * 100) / n));
            progress.report({
              message: `${stageText(stage.name)} (${seconds} s)`,
              increment: Math.max(0, done - last),
            });
            last = Math.max(last, done);
          },
        });
      },
    );
    const st = status.state;
    log.appendLine(
      `vm: engine ready on ${status.host} after ${((st?.bootMs ?? 0) / 1000).toFixed(1)} s (${st?.driver}, ${st?.accel}; console log: ${status.consoleLog})`,
    );
    if (st?.driver === 'wsl') log.appendLine(`vm: ${WSL_SIZING_NOTE}`);
    // Not awaited: the engine is up whether or not the user reads it.
    for (const n of st?.notes ?? []) {
      log.appendLine(`vm: note: ${n}`);
      void vscode.window.showWarningMessage(`Berth: ${n}`, 'Open Settings').then((pick) => {
        if (pick) void vscode.commands.executeCommand('workbench.action.openSettings', 'berth.vm.driver');
      });
    }
    return true;
  } catch (err) {
    const msg = (err as Error).message;
    log.appendLine(`vm: ${msg}`);
    const noDriver = /no usable VM driver/.test(msg);
    const actions = noDriver ? ['Open Settings'] : ['Show Engine Log', 'Open Settings'];
    const pick = await vscode.window.showErrorMessage(
      noDriver
        ? `Berth needs a Linux VM to run containers on ${where}, and none of its VM drivers can run here: ${msg.replace(/^no usable VM driver: /, '')}. Then run "Berth: Start Engine".`
        : `Berth: the Linux VM did not start: ${msg}`,
      ...actions,
    );
    if (pick === 'Show Engine Log') await vscode.commands.executeCommand('berth.engine.showLog');
    if (pick === 'Open Settings') await vscode.commands.executeCommand('workbench.action.openSettings', 'berth.vm');
    return false;
  }
}

/** Stops the VM (a clean guest shutdown, then nothing of it runs); false when it was not running. */
export async function stopVmEngine(log: VmLog): Promise<boolean> {
  const stopped = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Berth: stopping the Linux VM' },
    () => stopVm(DEFAULT_VM),
  );
  log.appendLine(stopped ? 'vm: stopped' : 'vm: was not running');
  return stopped;
}
