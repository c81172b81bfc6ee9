// A real VS Code for UI tests: code-server (set up outside the repo by scripts/setup-ui.sh) with the packaged VSIX
// installed into a throwaway profile, driven by Debian's headless Chromium through playwright-core.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from './engine';
import { freePort } from './net';

export const UI_DIR = process.env.BERTH_UI_DIR || '/opt/berth-ui';
const CODE_SERVER = path.join(UI_DIR, 'node_modules/.bin/code-server');
const PLAYWRIGHT = path.join(UI_DIR, 'node_modules/playwright-core');
const CHROMIUM = process.env.BERTH_CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = path.join(ROOT, 'test/artifacts');

/** Why the UI suite cannot run here, or undefined when it can. */
export function uiUnavailable(): string | undefined {
  if (
    !fs.existsSync(UI_DIR) ||
    !fs.readdirSync(UI_DIR, { withFileTypes: true }).some((e) => e.name.startsWith('.ready-'))
  )
    return `code-server is not set up in ${UI_DIR} (scripts/setup-ui.sh)`;
  if (!fs.existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (scripts/install-deps.sh --ui)`;
  return undefined;
}

/** Opt-in only, even where code-server is set up: the suite takes minutes, and CI's budget is 20. */
export function uiWanted(): boolean {
  return process.env.BERTH_TEST_UI === '1';
}

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

export async function startCodeServer(vsix: string, settings: Record<string, unknown>): Promise<CodeServer> {
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
  execFileSync(CODE_SERVER, [...common, '--install-extension', vsix], { stdio: 'pipe', timeout: 120_000 });
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
    { stdio: ['ignore', log, log] },
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
