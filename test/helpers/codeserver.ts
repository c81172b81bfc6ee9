// A real VS Code for UI tests: code-server (set up outside the repo by scripts/setup-ui.sh) with the packaged VSIX
// installed into a throwaway profile, driven by Debian's headless Chromium through playwright-core.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestDependency } from './deps';
import { ROOT } from './engine';
import { freePort } from './net';

export const UI_DIR = process.env.BERTH_UI_DIR || '/opt/berth-ui';
const CODE_SERVER = path.join(UI_DIR, 'node_modules/.bin/code-server');
const PLAYWRIGHT = path.join(UI_DIR, 'node_modules/playwright-core');
const CHROMIUM = process.env.BERTH_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = path.join(ROOT, 'test/artifacts');

/** code-server and Chromium, as scripts/setup-ui.sh leaves them (scripts/test.sh runs it). */
export const CODE_SERVER_UI: TestDependency = {
  what: `code-server in ${UI_DIR} with Chromium`,
  install: 'bash scripts/setup-ui.sh',
  present: () =>
    fs.existsSync(UI_DIR) &&
    fs.readdirSync(UI_DIR, { withFileTypes: true }).some((e) => e.name.startsWith('.ready-')) &&
    fs.existsSync(CHROMIUM),
};

export interface CodeServer {
  url: string;
  dir: string;
  workspace: string;
  /** The Berth output channel's log file (the extension writes its activation time there). */
  berthLog(): string;
  stop(): Promise<void>;
}

/** Packs the VSIX from the current dist/ build. */
export function packageVsix(out: string): void {
  execFileSync(process.execPath, ['scripts/build.mjs', '--outdir', 'dist'], { cwd: ROOT, stdio: 'inherit' });
  execFileSync(
    path.join(ROOT, 'node_modules/.bin/vsce'),
    ['package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '-o', out],
    { cwd: ROOT, stdio: 'pipe' },
  );
}

/**
 * A second extension for the UI suite, installed beside Berth: once the window is up it activates Berth and writes
 * what the extension host registered (commands, Berth's activation time) to <workspace>/.berth-probe.json — what a
 * desktop VS Code run of @vscode/test-electron would check, from code-server's extension host.
 */
export function packageProbeVsix(out: string): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-probe-'));
  try {
    fs.writeFileSync(
      path.join(dir, 'package.json'),
      JSON.stringify({
        name: 'berth-ui-probe',
        publisher: 'berth-test',
        version: '0.0.1',
        engines: { vscode: '^1.85.0' },
        main: './extension.js',
        activationEvents: ['onStartupFinished'],
        extensionKind: ['workspace'],
      }),
    );
    fs.writeFileSync(
      path.join(dir, 'extension.js'),
      `const vscode = require('vscode');
const fs = require('fs');
const path = require('path');
exports.activate = async () => {
  const out = path.join(vscode.workspace.workspaceFolders[0].uri.fsPath, '.berth-probe.json');
  try {
    const ext = vscode.extensions.getExtension('berth.berth');
    const api = await ext.activate();
    const commands = (await vscode.commands.getCommands(true)).filter((c) => c.startsWith('berth.'));
    fs.writeFileSync(out, JSON.stringify({ activationMs: api.activationMs, commands }));
  } catch (err) {
    fs.writeFileSync(out, JSON.stringify({ error: String(err && err.stack || err) }));
  }
};
`,
    );
    execFileSync(
      path.join(ROOT, 'node_modules/.bin/vsce'),
      ['package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '-o', out],
      { cwd: dir, stdio: 'pipe' },
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function startCodeServer(
  vsix: string,
  settings: Record<string, unknown>,
  opts: { alsoInstall?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<CodeServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ui-'));
  const data = path.join(dir, 'data');
  const exts = path.join(dir, 'extensions');
  const workspace = path.join(dir, 'workspace');
  fs.mkdirSync(path.join(data, 'User'), { recursive: true });
  fs.mkdirSync(workspace);
  fs.writeFileSync(
    path.join(data, 'User/settings.json'),
    JSON.stringify(
      {
        'security.workspace.trust.enabled': false,
        'workbench.startupEditor': 'none',
        'telemetry.telemetryLevel': 'off',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'workbench.tips.enabled': false,
        'update.mode': 'none',
        'terminal.integrated.gpuAcceleration': 'off',
        'window.dialogStyle': 'custom',
        'workbench.enableExperiments': false,
        ...settings,
      },
      null,
      2,
    ),
  );
  const common = ['--config', path.join(dir, 'config.yaml'), '--user-data-dir', data, '--extensions-dir', exts];
  for (const v of [vsix, ...(opts.alsoInstall ?? [])])
    execFileSync(CODE_SERVER, [...common, '--install-extension', v], { stdio: 'pipe', timeout: 120_000 });
  const port = await freePort();
  const log = fs.openSync(path.join(dir, 'code-server.log'), 'a');
  const child: ChildProcess = spawn(
    CODE_SERVER,
    [
      ...common,
      '--auth',
      'none',
      '--bind-addr',
      `127.0.0.1:${port}`,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      workspace,
    ],
    { stdio: ['ignore', log, log], env: { ...process.env, ...opts.env } },
  );
  fs.closeSync(log);
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`code-server exited: ${fs.readFileSync(path.join(dir, 'code-server.log'), 'utf8')}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error('code-server did not start within 60 s');
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    dir,
    workspace,
    berthLog() {
      const found: string[] = [];
      const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) walk(p);
          else if (/Berth\.log$/.test(e.name)) found.push(p);
        }
      };
      walk(path.join(data, 'logs'));
      return found.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** playwright-core lives with code-server outside the repo (the project does not depend on it), hence untyped. */
export function playwright(): any {
  return require(PLAYWRIGHT);
}

export async function launchBrowser(): Promise<any> {
  return playwright().chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
    ],
  });
}
