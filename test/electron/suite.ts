// Runs inside a real VS Code started by @vscode/test-electron (test/electron/electron.test.ts): the extension
// activates, registers every contributed command, and its views connect to the engine named by BERTH_HOST.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

export async function run(): Promise<void> {
  const ext = vscode.extensions.getExtension('berth.berth');
  assert.ok(ext, 'the Berth extension is loaded');
  const api = (await ext.activate()) as { activationMs: number };
  assert.ok(api.activationMs < 1000, `activation took ${api.activationMs} ms`);
  const registered = new Set(await vscode.commands.getCommands(true));
  const contributed: { command: string }[] = ext.packageJSON.contributes.commands;
  const missing = contributed.map((c) => c.command).filter((c) => !registered.has(c));
  assert.deepEqual(missing, [], 'every contributed command is registered');
  await vscode.commands.executeCommand('berth.container.refresh');
  console.log(`berth: activated in ${api.activationMs.toFixed(1)} ms; ${contributed.length} commands registered`);
}
