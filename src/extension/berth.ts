// The extension's services, built once in activate() and handed to every command: the engine connection (one
// client, one /events subscription), the three trees, the output channel and settings.
import * as vscode from 'vscode';
import { EngineClient } from '../client';
import type { ContainerSummary } from '../client/types';
import { buildContainerTree, buildImageTree, buildVolumeTree, type ContainerViewOptions } from '../views/model';
import { RecordTreeProvider } from '../views/provider';
import { BerthDocuments } from './documents';
import { EventWatcher, type ConnectionState } from './engine/events';
import { candidateHosts, answers } from './engine/launcher';

export interface Settings {
  host: string;
  autoStart: boolean;
  containers: ContainerViewOptions;
  logsTail: string;
  logsTimestamps: boolean;
}

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration('berth');
  return {
    host: c.get<string>('engine.host', ''),
    autoStart: c.get<boolean>('engine.autoStart', true),
    containers: {
      groupBy: c.get('containers.groupBy', 'none'),
      groupByLabel: c.get<string>('containers.groupByLabel', ''),
      label: c.get('containers.label', 'name'),
      description: c.get('containers.description', ['status', 'ports', 'image']),
    },
    logsTail: String(c.get<number | string>('logs.tail', 500)),
    logsTimestamps: c.get<boolean>('logs.timestamps', false),
  };
}

export class Berth implements vscode.Disposable {
  readonly output = vscode.window.createOutputChannel('Berth');
  readonly containers: RecordTreeProvider;
  readonly images: RecordTreeProvider;
  readonly volumes: RecordTreeProvider;
  readonly events: EventWatcher;
  readonly statusBar = vscode.window.createStatusBarItem('berth.engine', vscode.StatusBarAlignment.Left, 10);
  readonly documents: BerthDocuments = new BerthDocuments(this);
  settings = readSettings();
  private current?: EngineClient;
  private host?: string;
  /** Containers from the last list, shared by the volumes tree's in-use marker and the status bar. */
  lastContainers: ContainerSummary[] = [];
  private readonly disposables: vscode.Disposable[] = [];

  constructor(readonly context: vscode.ExtensionContext) {
    const onError = (err: unknown) => this.output.appendLine(`refresh failed: ${(err as Error)?.message ?? err}`);
    this.containers = new RecordTreeProvider(async () => {
      this.lastContainers = await this.client().listContainers({ all: true });
      this.updateStatus();
      return buildContainerTree(this.lastContainers, this.settings.containers);
    }, onError);
    this.images = new RecordTreeProvider(async () => buildImageTree(await this.client().listImages()), onError);
    this.volumes = new RecordTreeProvider(async () => {
      const [vols, containers] = await Promise.all([
        this.client().listVolumes(),
        this.lastContainers.length ? this.lastContainers : this.client().listContainers({ all: true }),
      ]);
      return buildVolumeTree(vols.Volumes ?? [], containers);
    }, onError);
    // While no engine answers, each retry looks at every candidate socket again (e.g. the systemd service that
    // the user just installed), not only the one that failed.
    this.events = new EventWatcher(() => this.client(), {
      beforeConnect: () => (this.events?.state === 'connected' ? Promise.resolve() : this.resolveHost()),
    });
    this.disposables.push(
      this.events.onState((s, err) => this.onState(s, err)),
      this.events.onChange((kinds) => {
        if (kinds.has('container'))
          void this.containers.refresh().then(() => {
            if (kinds.has('volume')) void this.volumes.refresh();
          });
        else if (kinds.has('volume')) void this.volumes.refresh();
        if (kinds.has('image')) void this.images.refresh();
      }),
      this.statusBar,
      this.output,
    );
    this.statusBar.name = 'Berth engine';
    this.updateStatus();
    this.statusBar.show();
  }

  /** The engine client for the current host (a new one when the setting changed). */
  client(): EngineClient {
    const host = this.host ?? candidateHosts(this.settings.host)[0];
    if (!this.current || this.current.endpoint.host !== host) {
      void this.current?.close().catch(() => undefined);
      this.current = new EngineClient(host);
    }
    return this.current;
  }

  /** Picks the first candidate socket that answers (configured host, else the bundled engine's sockets). */
  async resolveHost(): Promise<string | undefined> {
    for (const h of candidateHosts(this.settings.host))
      if (await answers(h)) {
        this.host = h;
        return h;
      }
    this.host = undefined;
    return undefined;
  }

  get connected(): boolean {
    return this.events.state === 'connected';
  }

  /** Connects (or reconnects after a settings change). */
  async connect(): Promise<void> {
    await this.resolveHost();
    const client = this.client();
    await client.negotiateApiVersion().catch(() => undefined);
    this.events.reconnect();
  }

  private onState(s: ConnectionState, err?: unknown) {
    void vscode.commands.executeCommand('setContext', 'berth.engineState', s);
    if (s === 'connected') {
      this.output.appendLine(`connected to ${this.client().endpoint.host} (API ${this.client().apiVersion})`);
    } else if (s === 'disconnected') {
      this.output.appendLine(
        `engine not answering on ${this.client().endpoint.host}: ${(err as Error)?.message ?? err}`,
      );
      this.containers.clear();
      this.images.clear();
      this.volumes.clear();
      this.lastContainers = [];
    }
    this.updateStatus();
  }

  updateStatus(): void {
    const s = this.events.state;
    if (s === 'connected') {
      const running = this.lastContainers.filter((c) => c.State === 'running').length;
      this.statusBar.text = `$(vm-running) Berth: ${running} running`;
      this.statusBar.tooltip = `Berth engine on ${this.client().endpoint.host}\n${running} of ${this.lastContainers.length} containers running`;
      this.statusBar.command = 'berth.containers.focus';
      this.statusBar.backgroundColor = undefined;
    } else {
      this.statusBar.text =
        s === 'connecting' ? '$(loading~spin) Berth: connecting' : '$(vm-outline) Berth: engine stopped';
      this.statusBar.tooltip = `No engine answers on ${candidateHosts(this.settings.host).join(' or ')}. Click to start it.`;
      this.statusBar.command = 'berth.engine.start';
      this.statusBar.backgroundColor =
        s === 'disconnected' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    }
  }

  /** Logs and shows an engine error the way Docker words it. */
  fail(what: string, err: unknown): void {
    const msg = (err as Error)?.message ?? String(err);
    this.output.appendLine(`${what}: ${msg}`);
    void vscode.window.showErrorMessage(`Berth: ${what}: ${msg}`);
  }

  dispose(): void {
    this.events.dispose();
    this.containers.dispose();
    this.images.dispose();
    this.volumes.dispose();
    void this.current?.close().catch(() => undefined);
    for (const d of this.disposables) d.dispose();
  }
}
