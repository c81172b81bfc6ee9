// The extension's services, built once in activate() and handed to every command: the engine connection (one
// client, one /events subscription), the three trees, the output channel and settings.
import * as vscode from 'vscode';
import { EngineClient } from '../client';
import type { ContainerSummary } from '../client/types';
import { buildDiskUsageTree } from '../views/diskUsage';
import { buildContainerTree, buildImageTree, buildVolumeTree, type ContainerViewOptions } from '../views/model';
import { buildNetworkTree } from '../views/networks';
import { RecordTreeProvider } from '../views/provider';
import type { TreeRecord } from '../views/model';
import { BerthDocuments } from './documents';
import { ContainerFiles } from './files/containerFiles';
import { BerthFileSystem } from './files/provider';
import { VolumeHelpers } from './files/volumeFiles';
import { buildFileRecords } from '../views/files';
import { buildRegistryTree, buildRepositoryRecords, buildTagRecords } from '../views/registries';
import { RegistryApi, referenceIn } from './registries/api';
import { RegistryStore } from './registries/store';
import { RowStats, StatsHub } from './stats/hub';
import { EventWatcher, type ConnectionState } from './engine/events';
import { candidateHosts, answers } from './engine/launcher';
import { type EngineMode, usesVm, vmHost, type VmSettings } from './engine/vm';
import * as os from 'node:os';
import type { Endpoint } from '../client';
import { type CustomEngine, currentEngine, type EngineEntry, listEngines, readTls } from './engines/catalog';
import { SshTunnel } from './engines/ssh';

export interface Settings {
  host: string;
  autoStart: boolean;
  /** native: berthd on this Linux host; vm: berthd in Berth's Linux VM (always so on macOS and Windows). */
  mode: EngineMode;
  vm: VmSettings;
  containers: ContainerViewOptions;
  logsTail: string;
  logsTimestamps: boolean;
  /** Live CPU and memory in the container rows. */
  rowStats: boolean;
  /** Engines the user added (tcp:// with TLS, ssh://, other sockets). */
  engines: CustomEngine[];
}

/** The extension's tree views by short name (activate() creates them; Berth follows their visibility). */
export interface BerthViews {
  containers: vscode.TreeView<TreeRecord>;
  images: vscode.TreeView<TreeRecord>;
  volumes: vscode.TreeView<TreeRecord>;
  networks: vscode.TreeView<TreeRecord>;
  diskUsage: vscode.TreeView<TreeRecord>;
  registries: vscode.TreeView<TreeRecord>;
}

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration('berth');
  return {
    host: c.get<string>('engine.host', ''),
    autoStart: c.get<boolean>('engine.autoStart', true),
    mode: c.get<EngineMode>('engine.mode', 'native') === 'vm' ? 'vm' : 'native',
    vm: {
      driver: c.get<VmSettings['driver']>('vm.driver', 'auto'),
      cpus: c.get<number>('vm.cpus', 2),
      memoryMiB: c.get<number>('vm.memory', 2048),
      diskGiB: c.get<number>('vm.diskSize', 64),
    },
    containers: {
      groupBy: c.get('containers.groupBy', 'none'),
      groupByLabel: c.get<string>('containers.groupByLabel', ''),
      label: c.get('containers.label', 'name'),
      description: c.get('containers.description', ['status', 'ports', 'image']),
    },
    logsTail: String(c.get<number | string>('logs.tail', 500)),
    logsTimestamps: c.get<boolean>('logs.timestamps', false),
    rowStats: c.get<boolean>('containers.stats', true),
    engines: c.get<CustomEngine[]>('engines', []),
  };
}

export class Berth implements vscode.Disposable {
  readonly output = vscode.window.createOutputChannel('Berth');
  readonly containers: RecordTreeProvider;
  readonly images: RecordTreeProvider;
  readonly volumes: RecordTreeProvider;
  readonly networks: RecordTreeProvider;
  readonly diskUsage: RecordTreeProvider;
  /** Registries the user logged in to (credentials in SecretStorage), their repositories and tags. */
  readonly registries: RecordTreeProvider;
  readonly registryStore: RegistryStore;
  readonly events: EventWatcher;
  /** One stats stream per container, shared by the rows and the Show Stats charts. */
  readonly stats: StatsHub;
  readonly rowStats: RowStats;
  views?: BerthViews;
  /** The disk usage view re-asks /system/df (costly) only while visible; a change while hidden marks it stale. */
  private diskUsageStale = true;
  readonly statusBar = vscode.window.createStatusBarItem('berth.engine', vscode.StatusBarAlignment.Left, 10);
  readonly documents: BerthDocuments = new BerthDocuments(this);
  /** Container and volume files (berth-container:, berth-volume:), for the editor, the Explorer and the trees. */
  readonly fileSystem = new BerthFileSystem(
    new ContainerFiles(() => this.client()),
    new VolumeHelpers(() => this.client()),
    (line) => this.output.appendLine(line),
  );
  settings = readSettings();
  private current?: EngineClient;
  private listedOnce = false;
  private host?: string;
  /** Containers from the last list, shared by the volumes tree's in-use marker and the status bar. */
  lastContainers: ContainerSummary[] = [];
  private readonly disposables: vscode.Disposable[] = [];
  /** ssh:// engines' tunnels, by address. */
  private readonly tunnels = new Map<string, SshTunnel>();
  /** The endpoint (TLS material, tunnel socket) of the host last connected to. */
  private endpointOf?: { host: string; endpoint: Endpoint };
  /** The switcher's list, read once per settings change (docker contexts are files). */
  private engineList?: EngineEntry[];

  constructor(readonly context: vscode.ExtensionContext) {
    const onError = (err: unknown) => this.output.appendLine(`refresh failed: ${(err as Error)?.message ?? err}`);
    this.stats = new StatsHub(
      () => this.client(),
      (id, err) => this.output.appendLine(`stats of ${id.slice(0, 12)}: ${(err as Error)?.message ?? err}`),
    );
    this.rowStats = new RowStats(this.stats, () => void this.containers.refresh(false));
    this.rowStats.setEnabled(this.settings.rowStats);
    const files = { loadChildren: (r: TreeRecord) => this.loadFiles(r) };
    this.containers = new RecordTreeProvider(
      async (relist) => {
        if (relist || !this.listedOnce) {
          this.lastContainers = await this.client().listContainers({ all: true });
          this.listedOnce = true;
          this.updateStatus();
          this.rowStats.setRunning(this.lastContainers.filter((c) => c.State === 'running').map((c) => c.Id));
        }
        return buildContainerTree(this.lastContainers, {
          ...this.settings.containers,
          stats: this.rowStats.samples,
          files: true,
        });
      },
      onError,
      files,
    );
    this.images = new RecordTreeProvider(async () => buildImageTree(await this.client().listImages()), onError);
    this.volumes = new RecordTreeProvider(
      async () => {
        const [vols, containers] = await Promise.all([
          this.client().listVolumes(),
          this.lastContainers.length ? this.lastContainers : this.client().listContainers({ all: true }),
        ]);
        return buildVolumeTree(vols.Volumes ?? [], containers, { files: true });
      },
      onError,
      files,
    );
    this.networks = new RecordTreeProvider(async () => {
      const [nets, containers] = await Promise.all([
        this.client().listNetworks(),
        this.lastContainers.length ? this.lastContainers : this.client().listContainers({ all: true }),
      ]);
      return buildNetworkTree(nets, containers);
    }, onError);
    this.diskUsage = new RecordTreeProvider(async () => {
      this.diskUsageStale = false;
      return buildDiskUsageTree(await this.client().systemDf());
    }, onError);
    this.registryStore = new RegistryStore(context.globalState, context.secrets);
    this.registries = new RecordTreeProvider(async () => buildRegistryTree(this.registryStore.list()), onError, {
      loadChildren: (r) => this.loadRegistry(r),
    });
    // While no engine answers, each retry looks at every candidate socket again (e.g. the systemd service that
    // the user just installed), not only the one that failed.
    this.events = new EventWatcher(() => this.client(), {
      beforeConnect: () => (this.events?.state === 'connected' ? Promise.resolve() : this.resolveHost()),
    });
    this.disposables.push(
      this.events.onState((s, err) => this.onState(s, err)),
      this.events.onChange((kinds) => {
        // A network's container rows come from the container list: connect/disconnect (network events) re-list.
        if (kinds.has('container') || kinds.has('network'))
          void this.containers.refresh().then(() => {
            if (kinds.has('volume')) void this.volumes.refresh();
            void this.networks.refresh();
          });
        else if (kinds.has('volume')) void this.volumes.refresh();
        if (kinds.has('image')) void this.images.refresh();
        this.diskUsageStale = true;
        if (this.views?.diskUsage.visible) void this.diskUsage.refresh();
      }),
      this.statusBar,
      this.output,
    );
    this.statusBar.name = 'Berth engine';
    this.updateStatus();
    this.statusBar.show();
  }

  /** Called once by activate() with the tree views: stats and disk usage follow what is on screen. */
  setViews(views: BerthViews): void {
    this.views = views;
    this.showEngineInViews();
    this.rowStats.setVisible(views.containers.visible);
    this.disposables.push(
      views.containers.onDidChangeVisibility((e) => this.rowStats.setVisible(e.visible)),
      views.diskUsage.onDidChangeVisibility((e) => {
        if (e.visible && this.diskUsageStale && this.connected) void this.diskUsage.refresh();
      }),
    );
  }

  /** A folder row's children: the container's (or volume's) files, listed when it is expanded. */
  private async loadFiles(r: TreeRecord): Promise<TreeRecord[]> {
    if (!r.fileUri) return [];
    return buildFileRecords(r, await this.fileSystem.list(vscode.Uri.parse(r.fileUri)));
  }

  /** A registry row's repositories, a repository row's tags: asked of the registry itself when expanded. */
  private async loadRegistry(r: TreeRecord): Promise<TreeRecord[]> {
    if (!r.registry) return [];
    const api = new RegistryApi(r.registry, await this.registryStore.auth(r.registry));
    try {
      if (r.kind === 'registry') return buildRepositoryRecords(r, await api.repositories());
      const repository = r.repository!;
      return buildTagRecords(r, await api.tags(repository), (tag) => referenceIn(r.registry!, repository, tag));
    } finally {
      void api.close();
    }
  }

  /** Settings changed: stats on or off, rows redrawn. */
  applySettings(): void {
    this.settings = readSettings();
    this.rowStats.setEnabled(this.settings.rowStats);
    void this.containers.refresh(false);
  }

  /** The engine client for the current host (a new one when the setting changed). */
  client(): EngineClient {
    const endpoint = this.endpoint(this.host ?? this.candidates()[0]);
    if (!this.current || this.current.endpoint !== endpoint) {
      void this.current?.close().catch(() => undefined);
      this.current = new EngineClient(endpoint);
    }
    return this.current;
  }

  /** Every engine the switcher offers (Berth's, sockets found here, docker contexts, the user's). */
  engines(): EngineEntry[] {
    this.engineList ??= listEngines({
      custom: this.settings.engines,
      env: process.env,
      home: os.homedir(),
      vmHost: vmHost(),
    });
    return this.engineList;
  }

  /** The engine the settings select. */
  get engine(): EngineEntry {
    return currentEngine(this.engines(), this.settings.host, this.usesVm)!;
  }

  /** How to reach a host: an ssh:// engine through its tunnel's socket, a TLS one with its certificates. */
  private endpoint(host: string): Endpoint {
    if (this.endpointOf?.host === host) return this.endpointOf.endpoint;
    let endpoint: Endpoint = { host };
    if (host.startsWith('ssh://')) endpoint = { host: `unix://${this.tunnel(host).localSocket}` };
    else if (host.startsWith('tcp://') || host.startsWith('https://')) {
      const tls = this.engines().find((e) => e.host === host && e.tls)?.tls;
      if (tls) endpoint = { host, tls: readTls(tls) };
    }
    this.endpointOf = { host, endpoint };
    return endpoint;
  }

  private tunnel(host: string): SshTunnel {
    let t = this.tunnels.get(host);
    if (!t) this.tunnels.set(host, (t = new SshTunnel(host)));
    return t;
  }

  /** Settings changed the engines' list or TLS: endpoints are worked out again, unused tunnels closed. */
  forgetEndpoints(): void {
    this.endpointOf = undefined;
    this.engineList = undefined;
    for (const [host, t] of this.tunnels)
      if (host !== this.settings.host.trim()) {
        t.dispose();
        this.tunnels.delete(host);
      }
  }

  /** Where the engine may answer: the configured host, else the VM's socket in VM mode, else berthd's sockets. */
  candidates(): string[] {
    if (!this.settings.host.trim() && this.usesVm) return [vmHost()];
    return candidateHosts(this.settings.host);
  }

  /** Whether the engine is Berth's Linux VM (no other host configured; macOS, Windows or berth.engine.mode=vm). */
  get usesVm(): boolean {
    return !this.settings.host.trim() && usesVm(this.settings.mode);
  }

  /** Picks the first candidate socket that answers (configured host, else the bundled engine's sockets). */
  async resolveHost(): Promise<string | undefined> {
    for (const h of this.candidates())
      if (await answers(await this.reachable(h))) {
        this.host = h;
        return h;
      }
    this.host = undefined;
    return undefined;
  }

  /** The host to ping for `h`: an ssh:// engine's tunnel is opened first (its failure is logged). */
  private async reachable(h: string): Promise<string> {
    if (!h.startsWith('ssh://')) return h;
    try {
      return await this.tunnel(h).start();
    } catch (err) {
      this.output.appendLine(`${h}: ${(err as Error).message}`);
      return `unix://${this.tunnel(h).localSocket}`;
    }
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
    this.showEngineInViews();
    if (s === 'connected') {
      this.output.appendLine(`connected to ${this.client().endpoint.host} (API ${this.client().apiVersion})`);
    } else if (s === 'disconnected') {
      this.output.appendLine(
        `engine not answering on ${this.client().endpoint.host}: ${(err as Error)?.message ?? err}`,
      );
      this.containers.clear();
      this.images.clear();
      this.volumes.clear();
      this.networks.clear();
      this.diskUsage.clear();
      this.lastContainers = [];
      this.listedOnce = false;
      this.rowStats.setRunning([]);
    }
    this.updateStatus();
  }

  updateStatus(): void {
    const s = this.events.state;
    if (s === 'connected') {
      const running = this.lastContainers.filter((c) => c.State === 'running').length;
      const engine = this.engine;
      this.statusBar.text = `$(vm-running) Berth: ${running} running${engine.kind === 'berth' ? '' : ` · ${shortName(engine)}`}`;
      this.statusBar.tooltip = `${engine.name} (${engine.description})\n${running} of ${this.lastContainers.length} containers running\nClick to switch engines`;
      this.statusBar.command = 'berth.engine.switch';
      this.statusBar.backgroundColor = undefined;
    } else {
      this.statusBar.text =
        s === 'connecting' ? '$(loading~spin) Berth: connecting' : '$(vm-outline) Berth: engine stopped';
      this.statusBar.tooltip = `No engine answers on ${this.candidates().join(' or ')}${this.usesVm ? ' (the Linux VM)' : ''}. Click to start it.`;
      this.statusBar.command = this.engine.kind.startsWith('berth') ? 'berth.engine.start' : 'berth.engine.switch';
      this.statusBar.backgroundColor =
        s === 'disconnected' ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    }
  }

  /** Each tree names the engine it shows (the view's description). */
  showEngineInViews(): void {
    if (!this.views) return;
    const name = shortName(this.engine);
    for (const v of Object.values(this.views)) v.description = name;
  }

  /** Logs and shows an engine error the way Docker words it. */
  fail(what: string, err: unknown): void {
    const msg = (err as Error)?.message ?? String(err);
    this.output.appendLine(`${what}: ${msg}`);
    void vscode.window.showErrorMessage(`Berth: ${what}: ${msg}`);
  }

  dispose(): void {
    this.events.dispose();
    this.rowStats.dispose();
    this.stats.dispose();
    this.networks.dispose();
    this.diskUsage.dispose();
    this.registries.dispose();
    this.containers.dispose();
    this.images.dispose();
    this.volumes.dispose();
    this.fileSystem.dispose();
    void this.fileSystem.volumes.remove().finally(() => this.current?.close().catch(() => undefined));
    for (const t of this.tunnels.values()) t.dispose();
    for (const d of this.disposables) d.dispose();
  }
}

/** An engine's name for the status bar and the views' titles (an ad-hoc socket by its last path parts). */
function shortName(e: EngineEntry): string {
  if (e.name.length <= 28) return e.name;
  return `…${e.name.slice(-27)}`;
}
