import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Berth } from '../../berth';
import { command } from '../command';
import { isDockerfile, normalizeTag, parseBuildArgs, suggestTag, validateTag } from '../../build/options';
import { BuildTerminal } from '../../build/terminal';

/** What the last build of a Dockerfile used, offered again next time (workspace state, keyed by the file). */
interface Remembered {
  contextDir?: string;
  tag?: string;
  buildArgs?: string;
}
const memoryKey = (dockerfile: string) => `berth.build:${dockerfile}`;

/**
 * Build Image…: on a Dockerfile in the Explorer or the editor title, or from the palette (the active editor's
 * Dockerfile, else a pick of the workspace's). Asks the context folder, the tag and build arguments (all remembered
 * per Dockerfile), streams the build into a terminal and selects the new image in the Images view.
 */
export default command('berth.image.build', async (berth, uri?: vscode.Uri) => {
  const dockerfile = await chooseDockerfile(uri);
  if (!dockerfile) return;
  const remembered = berth.context.workspaceState.get<Remembered>(memoryKey(dockerfile)) ?? {};
  const contextDir = await chooseContext(dockerfile, remembered.contextDir);
  if (!contextDir) return;
  const tag = await vscode.window.showInputBox({
    title: `Build ${path.basename(dockerfile)}`,
    prompt: 'Tag (name:tag)',
    value: remembered.tag ?? suggestTag(contextDir, dockerfile),
    ignoreFocusOut: true,
    validateInput: (v) => validateTag(v),
  });
  if (tag === undefined) return;
  const argsText = await vscode.window.showInputBox({
    title: `Build ${path.basename(dockerfile)}`,
    prompt: 'Build arguments (KEY=value …, empty for none)',
    value: remembered.buildArgs ?? '',
    placeHolder: 'VERSION=1.2 "GREETING=hello world" HTTP_PROXY',
    ignoreFocusOut: true,
    validateInput: (v) => {
      try {
        parseBuildArgs(v);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    },
  });
  if (argsText === undefined) return;
  await berth.context.workspaceState.update(memoryKey(dockerfile), {
    contextDir,
    tag: tag.trim(),
    buildArgs: argsText,
  } satisfies Remembered);
  const pty = new BuildTerminal(() => berth.client(), {
    contextDir,
    dockerfile,
    tag: tag.trim(),
    buildArgs: parseBuildArgs(argsText),
  });
  const terminal = vscode.window.createTerminal({
    name: `Build ${tag.trim()}`,
    pty,
    iconPath: new vscode.ThemeIcon('tools'),
  });
  terminal.show();
  const result = await pty.done;
  if (result.ok) {
    berth.output.appendLine(`built ${result.tag} (${result.imageId})`);
    vscode.window.setStatusBarMessage(`Berth: built ${result.tag}`, 5000);
    await revealImage(berth, normalizeTag(result.tag));
  } else if (!result.cancelled) {
    const where = result.step ? ` at ${result.step}` : '';
    const code = result.code ? ` (exit code ${result.code})` : '';
    berth.output.appendLine(`build of ${tag.trim()} failed${where}${code}: ${result.message}`);
    const show = await vscode.window.showErrorMessage(
      `Berth: build of ${tag.trim()} failed${where}${code}: ${result.message}`,
      'Show Output',
    );
    if (show) terminal.show();
  }
});

async function chooseDockerfile(uri: vscode.Uri | undefined): Promise<string | undefined> {
  if (uri instanceof vscode.Uri && uri.scheme === 'file') return uri.fsPath;
  const active = vscode.window.activeTextEditor?.document;
  if (active?.uri.scheme === 'file' && (isDockerfile(active.fileName) || active.languageId === 'dockerfile'))
    return active.uri.fsPath;
  const found = await vscode.workspace.findFiles(
    '**/{Dockerfile,dockerfile,Containerfile,Dockerfile.*,*.Dockerfile,*.dockerfile}',
    '**/node_modules/**',
    200,
  );
  if (!found.length) {
    void vscode.window.showInformationMessage('Berth: no Dockerfile in this workspace.');
    return undefined;
  }
  if (found.length === 1) return found[0].fsPath;
  const pick = await vscode.window.showQuickPick(
    found
      .map((u) => ({ label: vscode.workspace.asRelativePath(u), uri: u }))
      .sort((a, b) => a.label.localeCompare(b.label)),
    { placeHolder: 'Choose the Dockerfile to build' },
  );
  return pick?.uri.fsPath;
}

async function chooseContext(dockerfile: string, remembered: string | undefined): Promise<string | undefined> {
  const dir = path.dirname(dockerfile);
  const root = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(dockerfile))?.uri.fsPath;
  const choices = [...new Set([remembered, dir, root].filter((d): d is string => !!d))];
  const items: (vscode.QuickPickItem & { dir?: string })[] = choices.map((d) => ({
    label: `$(folder) ${d === root ? path.basename(d) : vscode.workspace.asRelativePath(d, true)}`,
    description: d === remembered ? 'last used' : d === dir ? "the Dockerfile's folder" : 'workspace folder',
    dir: d,
  }));
  items.push({ label: '$(folder-opened) Browse…' });
  const pick = await vscode.window.showQuickPick(items, {
    title: `Build ${path.basename(dockerfile)}`,
    placeHolder: 'Build context (the folder sent to the engine)',
    ignoreFocusOut: true,
  });
  if (!pick) return undefined;
  if (pick.dir) return pick.dir;
  const chosen = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    defaultUri: vscode.Uri.file(dir),
    openLabel: 'Use as Build Context',
  });
  return chosen?.[0]?.fsPath;
}

/** Selects the image in the Images view once the tree has it (the engine's `tag` event re-lists). */
async function revealImage(berth: Berth, ref: string): Promise<void> {
  await berth.images.refresh();
  const rec = berth.images.find((r) => r.imageRef === ref);
  if (rec && berth.views) await berth.views.images.reveal(rec, { select: true, focus: true, expand: true });
}
