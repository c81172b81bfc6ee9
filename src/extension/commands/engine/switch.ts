import * as vscode from 'vscode';
import { command } from '../command';
import { type CustomEngine, type EngineEntry, validateHost } from '../../engines/catalog';

const GROUPS: [EngineEntry['kind'][], string][] = [
  [['berth', 'berth-vm'], 'Berth'],
  [['docker', 'podman'], 'Sockets on this machine'],
  [['context'], 'Docker contexts (~/.docker/contexts)'],
  [['custom'], 'Added engines'],
];

/**
 * Switch Engine…: every engine (Berth's, Docker and Podman sockets found here, docker contexts, engines added by
 * the user) in one pick, the current one marked; choosing one sets berth.engine.host (and the VM mode for Berth's)
 * and the trees follow. "Add Engine…" takes unix://, tcp:// (with TLS certificates) or ssh://user@host.
 */
export default command('berth.engine.switch', async (berth) => {
  const entries = berth.engines();
  const current = berth.engine;
  type Item = vscode.QuickPickItem & { entry?: EngineEntry; add?: boolean };
  const items: Item[] = [];
  for (const [kinds, label] of GROUPS) {
    const group = entries.filter((e) => kinds.includes(e.kind));
    if (!group.length) continue;
    items.push({ label, kind: vscode.QuickPickItemKind.Separator });
    for (const e of group)
      items.push({
        label: `${e.id === current.id ? '$(check) ' : ''}${e.name}`,
        description: e.description,
        entry: e,
      });
  }
  items.push({ label: '', kind: vscode.QuickPickItemKind.Separator }, { label: '$(add) Add Engine…', add: true });
  const pick = await vscode.window.showQuickPick(items, {
    title: 'Switch engine',
    placeHolder: `Current: ${current.name} (${current.description})`,
  });
  if (!pick) return;
  const entry = pick.add ? await addEngine(berth.settings.engines) : pick.entry;
  if (!entry) return;
  const config = vscode.workspace.getConfiguration('berth');
  // An engine set by hand in berth.engine.host stays offered after switching away from it.
  if (current.kind === 'custom' && current.host && !berth.settings.engines.some((e) => e.host === current.host))
    await config.update(
      'engines',
      [...berth.settings.engines, { name: current.name, host: current.host }],
      vscode.ConfigurationTarget.Global,
    );
  if (entry.kind === 'berth' || entry.kind === 'berth-vm')
    await config.update('engine.mode', entry.kind === 'berth-vm' ? 'vm' : 'native', vscode.ConfigurationTarget.Global);
  await config.update('engine.host', entry.host, vscode.ConfigurationTarget.Global);
  berth.output.appendLine(`switched to ${entry.name} (${entry.description})`);
});

async function addEngine(existing: CustomEngine[]): Promise<EngineEntry | undefined> {
  const host = await vscode.window.showInputBox({
    title: 'Add an engine',
    prompt: 'Engine address',
    placeHolder: 'unix:///run/user/1000/podman/podman.sock, tcp://build-box:2376, ssh://me@build-box',
    ignoreFocusOut: true,
    validateInput: (v) => validateHost(v),
  });
  if (!host) return undefined;
  const name = await vscode.window.showInputBox({
    title: 'Add an engine',
    prompt: 'Name',
    value: host.replace(/^\w+:\/\//, '').replace(/[:/].*$/, ''),
    ignoreFocusOut: true,
  });
  if (name === undefined) return undefined;
  const engine: CustomEngine = { name: name.trim() || host.trim(), host: host.trim() };
  if (engine.host.startsWith('tcp://')) {
    const tls = await vscode.window.showQuickPick(
      [
        { label: 'TLS with client certificates', description: 'a folder with ca.pem, cert.pem, key.pem', tls: true },
        { label: 'No TLS', description: 'plain HTTP (only on a trusted network)', tls: false },
      ],
      { title: `TLS for ${engine.host}` },
    );
    if (!tls) return undefined;
    if (tls.tls) {
      const dir = await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: false,
        openLabel: 'Use These Certificates',
        title: 'The folder with ca.pem, cert.pem and key.pem (DOCKER_CERT_PATH)',
      });
      if (!dir?.[0]) return undefined;
      engine.certPath = dir[0].fsPath;
      engine.tlsVerify = true;
    }
  }
  await vscode.workspace
    .getConfiguration('berth')
    .update('engines', [...existing.filter((e) => e.host !== engine.host), engine], vscode.ConfigurationTarget.Global);
  return {
    id: `custom:${engine.host}`,
    name: engine.name,
    kind: 'custom',
    host: engine.host,
    description: engine.host,
  };
}
