// Run: quick picks for image (local, or type a reference to pull), name, ports, env, volumes, command and detached
// vs interactive. Interactive opens a terminal attached to the new container (docker run -it).
import * as vscode from 'vscode';
import type { Berth } from '../berth';
import { EngineApiError } from '../../client';
import { StreamTerminal, attachSession } from '../terminals/exec';
import { buildRunConfig, RunOptionError, type RunAnswers } from './options';
import { pullImage } from './pull';

async function askImage(berth: Berth): Promise<string | undefined> {
  const images = await berth.client().listImages();
  const refs = images
    .flatMap((i) => i.RepoTags ?? [])
    .filter((t) => t !== '<none>:<none>')
    .sort();
  return new Promise((resolve) => {
    const qp = vscode.window.createQuickPick();
    qp.title = 'Run a container (1/2): image';
    qp.placeholder = 'Choose a local image, or type a reference to pull (e.g. busybox:latest)';
    const base = refs.map((label) => ({ label, description: 'local' }));
    qp.items = base;
    qp.onDidChangeValue((v) => {
      qp.items = v && !refs.includes(v) ? [{ label: v, description: 'pull and run' }, ...base] : base;
    });
    qp.onDidAccept(() => {
      resolve(qp.selectedItems[0]?.label ?? (qp.value || undefined));
      qp.hide();
    });
    qp.onDidHide(() => {
      resolve(undefined);
      qp.dispose();
    });
    qp.show();
  });
}

async function ask(
  title: string,
  prompt: string,
  placeHolder: string,
  validate?: (v: string) => string | undefined,
): Promise<string | undefined> {
  return vscode.window.showInputBox({ title, prompt, placeHolder, ignoreFocusOut: true, validateInput: validate });
}

function check(partial: Partial<RunAnswers>): (v: string) => string | undefined {
  return (v) => {
    try {
      buildRunConfig({ image: 'x', interactive: false, ...partial, ...{ [Object.keys(partial)[0]]: v } });
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  };
}

export async function runContainer(berth: Berth, presetImage?: string, presetInteractive?: boolean): Promise<void> {
  const image = presetImage ?? (await askImage(berth));
  if (!image) return;
  const title = `Run ${image}`;
  const name = await ask(title, 'Container name (empty: generated)', 'my-container', check({ name: '' }));
  if (name === undefined) return;
  const ports = await ask(title, 'Published ports (empty: none)', '8080:80 443', check({ ports: '' }));
  if (ports === undefined) return;
  const env = await ask(title, 'Environment (empty: none)', 'KEY=value OTHER="two words"', check({ env: '' }));
  if (env === undefined) return;
  const volumes = await ask(
    title,
    'Volumes and bind mounts (empty: none)',
    'data:/data /host/dir:/dir:ro',
    check({ volumes: '' }),
  );
  if (volumes === undefined) return;
  const cmd = await ask(title, "Command (empty: the image's default)", 'sh -c "echo hello"', check({ command: '' }));
  if (cmd === undefined) return;
  let interactive = presetInteractive;
  if (interactive === undefined) {
    const mode = await vscode.window.showQuickPick(
      [
        { label: 'Detached', description: 'run in the background', interactive: false },
        { label: 'Interactive', description: 'with a terminal attached (-it)', interactive: true },
      ],
      { title, placeHolder: 'How to run it' },
    );
    if (!mode) return;
    interactive = mode.interactive;
  }
  let built;
  try {
    built = buildRunConfig({ image, name, ports, env, volumes, command: cmd, interactive });
  } catch (err) {
    if (err instanceof RunOptionError) return void vscode.window.showErrorMessage(`Berth: ${err.message}`);
    throw err;
  }
  const client = berth.client();
  let created: { Id: string };
  try {
    created = await client.createContainer(built.config, { name: built.name });
  } catch (err) {
    if (!(err instanceof EngineApiError && err.status === 404)) return berth.fail(`run ${image}`, err);
    // Unknown image: pull it, as docker run does, then create again.
    try {
      if (!(await pullImage(berth, image))) return;
      created = await client.createContainer(built.config, { name: built.name });
    } catch (e) {
      return berth.fail(`run ${image}`, e);
    }
  }
  const label = built.name ?? created.Id.slice(0, 12);
  if (interactive) {
    const pty = new StreamTerminal(attachSession(client, created.Id), label);
    vscode.window.createTerminal({ name: `${label} (run)`, pty, iconPath: new vscode.ThemeIcon('vm-running') }).show();
    return;
  }
  try {
    await client.startContainer(created.Id);
    vscode.window.setStatusBarMessage(`Berth: started ${label}`, 4000);
  } catch (err) {
    berth.fail(`start ${label}`, err);
  }
}
