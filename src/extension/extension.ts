// Entry point: activate() only registers (views, commands, the document provider, settings listener) and kicks off
// the connection in the background; all work happens when the engine answers or a command asks.
import * as vscode from 'vscode';
import { Berth, readSettings } from './berth';
import { COMMANDS } from './commands';
import { SCHEME } from './documents';
import { ensureEngine } from './engine/lifecycle';
import { FileDropController } from './files/dragAndDrop';
import { CONTAINER_SCHEME, VOLUME_SCHEME } from './files/provider';

let berth: Berth | undefined;
/** The bundle's evaluation ends here (this module is the bundle's entry, evaluated last). */
const moduleEvaluated = performance.now();
const loadCpu = (globalThis as { __berthLoadCpu?: NodeJS.CpuUsage }).__berthLoadCpu;
const moduleCpuMs = loadCpu ? ((u) => (u.user + u.system) / 1000)(process.cpuUsage(loadCpu)) : undefined;

export function activate(context: vscode.ExtensionContext): { berth: Berth; activationMs: number } {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  berth = new Berth(context);
  const b = berth;
  const drop = new FileDropController(b);
  const views = {
    containers: vscode.window.createTreeView('berth.containers', {
      treeDataProvider: b.containers,
      canSelectMany: true,
      showCollapseAll: true,
      dragAndDropController: drop,
    }),
    images: vscode.window.createTreeView('berth.images', {
      treeDataProvider: b.images,
      canSelectMany: true,
      showCollapseAll: true,
    }),
    volumes: vscode.window.createTreeView('berth.volumes', {
      treeDataProvider: b.volumes,
      canSelectMany: true,
      dragAndDropController: drop,
    }),
    networks: vscode.window.createTreeView('berth.networks', {
      treeDataProvider: b.networks,
      canSelectMany: true,
      showCollapseAll: true,
    }),
    diskUsage: vscode.window.createTreeView('berth.diskUsage', { treeDataProvider: b.diskUsage }),
    registries: vscode.window.createTreeView('berth.registries', { treeDataProvider: b.registries }),
  };
  b.setViews(views);
  context.subscriptions.push(
    b,
    ...Object.values(views),
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, b.documents),
    vscode.workspace.registerFileSystemProvider(CONTAINER_SCHEME, b.fileSystem, { isCaseSensitive: true }),
    vscode.workspace.registerFileSystemProvider(VOLUME_SCHEME, b.fileSystem, { isCaseSensitive: true }),
    ...COMMANDS.map((c) =>
      vscode.commands.registerCommand(c.id, (...args: any[]) =>
        Promise.resolve(c.run(b, ...args)).catch((err) => b.fail(c.id, err)),
      ),
    ),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('berth')) return;
      if (
        e.affectsConfiguration('berth.engine.host') ||
        e.affectsConfiguration('berth.engine.mode') ||
        e.affectsConfiguration('berth.engines')
      ) {
        b.settings = readSettings();
        b.forgetEndpoints();
        b.showEngineInViews();
        void ensureEngine(b, false);
      } else b.applySettings();
    }),
  );
  void vscode.commands.executeCommand('setContext', 'berth.engineState', 'connecting');
  b.events.start();
  void b.registries.refresh();
  void ensureEngine(b, false).catch((err) => b.output.appendLine(`engine start: ${err?.message ?? err}`));
  const activationMs = performance.now() - t0;
  const c1 = process.cpuUsage(c0);
  const loadStart = (globalThis as { __berthLoadStart?: number }).__berthLoadStart;
  // Wall time includes waiting for the CPU on a busy host; CPU time is what the extension itself spent.
  b.output.appendLine(
    `activated in ${activationMs.toFixed(1)} ms (${((c1.user + c1.system) / 1000).toFixed(1)} ms CPU)` +
      (loadStart
        ? `; bundle load ${(moduleEvaluated - loadStart).toFixed(1)} ms (${moduleCpuMs?.toFixed(1)} ms CPU) before it`
        : ''),
  );
  return { berth: b, activationMs };
}

export function deactivate(): void {
  // The engine keeps running (it is detached and outlives the window); only our connections close.
  berth?.dispose();
  berth = undefined;
}
