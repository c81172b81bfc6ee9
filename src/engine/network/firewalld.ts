// firewalld, on by default on CentOS/RHEL/Fedora (nftables backend): its own forward chain rejects what Berth's
// iptables rules accept, so containers get "No route to host" outbound and published ports do not answer
// (moby/libnetwork#2496). Docker's answer, done here the same way: a zone of its own with target ACCEPT holding
// its bridges, and a forwarding policy from ANY into that zone — both permanent (made once, then a reload) —
// and the bridges bound to the zone at run time. A `firewall-cmd --reload` drops run-time bindings and, with
// the iptables backend, Berth's rules: firewalld's Reloaded signal (read with dbus-monitor) re-binds the bridges
// and re-applies each one's rules, then the published ports (portmap's DNAT chains: firewalld 1.x flushes the
// iptables-nft tables too on a reload, as the RHEL-like host's suite saw). Nothing happens where firewalld is not
// running. Berth talks to firewalld over D-Bus with systemd's busctl, as dockerd does with its D-Bus library:
// firewall-cmd is Python that takes ~0.3 s a call to start on a real host and 4-13 s under emulation (busctl: 0.1 /
// 0.6 s), and a container's first start made ten such calls. Only a firewalld before 0.9 (no policies, no zone
// settings by name) gets its zone made with firewall-cmd.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { log } from '../log';

export const ZONE = 'berth';
export const POLICY = 'berth-forwarding';
/** How long a reload may take (seconds of Python and nftables on a small host; minutes under emulation). */
const RELOAD_WAIT_MS = 120_000;

const FIREWALLD = 'org.fedoraproject.FirewallD1';
const FIREWALLD_PATH = '/org/fedoraproject/FirewallD1';
/** busctl's call of a firewalld method at run time (interface '' or '.zone'), or on its permanent configuration. */
const runtime = (iface: '' | '.zone', ...method: string[]) => [
  'call',
  FIREWALLD,
  FIREWALLD_PATH,
  FIREWALLD + iface,
  ...method,
];
const config = (...method: string[]) => [
  'call',
  FIREWALLD,
  `${FIREWALLD_PATH}/config`,
  `${FIREWALLD}.config`,
  ...method,
];

/** `busctl` argument lists for firewalld's D-Bus API (what firewall-cmd calls). */
export const busCalls = {
  state: () => ['get-property', FIREWALLD, FIREWALLD_PATH, FIREWALLD, 'state'],
  zoneNames: () => config('getZoneNames'),
  /** firewalld 0.9+ (policies, settings as dictionaries): fails before. */
  policyNames: () => config('getPolicyNames'),
  /** The permanent zone, target ACCEPT. */
  addZone: () => config('addZone2', 'sa{sv}', ZONE, ...'1 target s ACCEPT'.split(' ')),
  /** The permanent forwarding policy from ANY into the zone, target ACCEPT. */
  addPolicy: () =>
    config(
      'addPolicy',
      'sa{sv}',
      POLICY,
      ...`3 ingress_zones as 1 ANY egress_zones as 1 ${ZONE} target s ACCEPT`.split(' '),
    ),
  reload: () => runtime('', 'reload'),
  /** Binds a bridge to the zone at run time (moving it from any zone it was in). */
  bind: (bridge: string) => runtime('.zone', 'changeZoneOfInterface', 'ss', ZONE, bridge),
  unbind: (bridge: string) => runtime('.zone', 'removeInterface', 'ss', ZONE, bridge),
};

/** The strings in busctl's answer (`as 2 "a" "b"`, `s "RUNNING"`). */
export const busStrings = (out: string) => [...out.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]);

/**
 * `firewall-cmd` argument lists that make the zone, if missing, on a firewalld before 0.9 (no policies then: the
 * zone's target alone governs forwarding).
 */
export function setupCommands(zones: string[]): string[][] {
  if (zones.includes(ZONE)) return [];
  return [
    ['--permanent', `--new-zone=${ZONE}`],
    ['--permanent', `--zone=${ZONE}`, '--set-target=ACCEPT'],
  ];
}

export interface FirewalldOptions {
  firewallCmd?: string;
  busctl?: string;
  dbusMonitor?: string;
}

export class Firewalld {
  private readonly cmd: string;
  private readonly busctl: string;
  private readonly monitor: string;
  private running: Promise<boolean> | undefined;
  private setup: Promise<void> | undefined;
  /** Bridges bound now, with what re-applies their rules after a reload. */
  private readonly bridges = new Map<string, () => Promise<void>>();
  private watcher: ReturnType<typeof spawn> | undefined;
  /** What else a reload removed, made again once the bridges' rules are back (published ports). */
  private readonly afterReload = new Set<() => Promise<void>>();
  /** The engine is stopping: nothing new starts (no busctl or firewall-cmd, no dbus-monitor). */
  private closed = false;
  /** busctl and firewall-cmd runs not yet exited; `permanent`: part of the zone's set-up, which close() lets finish. */
  private readonly inFlight = new Map<ChildProcess, { permanent: boolean; exited: Promise<void> }>();
  /** Bindings going on in the background (bindInBackground). */
  private readonly background = new Set<Promise<void>>();

  constructor(opts: FirewalldOptions = {}) {
    this.cmd = opts.firewallCmd ?? process.env.BERTH_FIREWALL_CMD ?? 'firewall-cmd';
    this.busctl = opts.busctl ?? process.env.BERTH_BUSCTL ?? 'busctl';
    this.monitor = opts.dbusMonitor ?? process.env.BERTH_DBUS_MONITOR ?? 'dbus-monitor';
  }

  /**
   * One busctl or firewall-cmd run. Once closed, none starts, but for the rest of a permanent set-up begun before
   * (`permanent`): a zone made without its target, or a policy without its zones, would be taken as made by the next
   * start.
   */
  private exec(file: string, args: string[], timeout: number, permanent: boolean): Promise<string> {
    if (this.closed && !permanent) return Promise.reject(new Error('firewalld: the engine is stopping'));
    return new Promise((resolve, reject) => {
      const child = execFile(file, args, { timeout }, (err, stdout, stderr) =>
        err ? reject(new Error(`${file} ${args.join(' ')}: ${(stderr || err.message).trim()}`)) : resolve(stdout),
      );
      const exited = new Promise<void>((done) => child.once('close', () => done()));
      this.inFlight.set(child, { permanent, exited });
      void exited.then(() => this.inFlight.delete(child));
    });
  }

  private run(args: string[], permanent = false): Promise<string> {
    return this.exec(this.cmd, args, 30_000, permanent);
  }

  /** A firewalld method called with busctl; its answer's strings. */
  private async bus(args: string[], timeout = 30_000, permanent = false): Promise<string[]> {
    const t = Math.ceil(timeout / 1000);
    return busStrings(await this.exec(this.busctl, [`--timeout=${t}`, ...args], timeout + 5000, permanent));
  }

  /** Puts a bridge in the zone; already there is fine (firewall-cmd calls ZONE_ALREADY_SET a warning too). */
  private bindNow(bridge: string): Promise<void> {
    return this.bus(busCalls.bind(bridge)).then(
      () => undefined,
      (err: Error) => {
        if (!/ZONE_ALREADY_SET/.test(err.message)) throw err;
      },
    );
  }

  /** Whether firewalld runs (its `state` property); asked once, and again after a reload. */
  isRunning(): Promise<boolean> {
    this.running ??= this.bus(busCalls.state()).then(
      ([state]) => state === 'RUNNING',
      () => false,
    );
    return this.running;
  }

  private ensureSetup(): Promise<void> {
    this.setup ??= (async () => {
      const zones = await this.bus(busCalls.zoneNames());
      const policies = await this.bus(busCalls.policyNames()).catch(() => undefined);
      let made = false;
      if (policies) {
        if (!zones.includes(ZONE)) await this.bus(busCalls.addZone(), undefined, true);
        if (!policies.includes(POLICY)) await this.bus(busCalls.addPolicy(), undefined, true);
        made = !zones.includes(ZONE) || !policies.includes(POLICY);
      } else {
        const cmds = setupCommands(zones);
        for (const c of cmds) await this.run(c, true);
        made = cmds.length > 0;
      }
      if (made) await this.reload();
      this.watch();
    })().catch((err) => {
      this.setup = undefined;
      throw err;
    });
    return this.setup;
  }

  /**
   * firewalld's reload. Where it takes longer than the call waits for its reply, the reload goes on regardless, and
   * the state property answers RUNNING once it is done.
   */
  private async reload(): Promise<void> {
    const failed = await this.bus(busCalls.reload(), RELOAD_WAIT_MS, true).then(
      () => undefined,
      (err: Error) => err,
    );
    if (!failed) return;
    const deadline = Date.now() + RELOAD_WAIT_MS;
    do {
      if ((await this.bus(busCalls.state(), undefined, true).catch(() => []))[0] === 'RUNNING') return;
      await new Promise((r) => setTimeout(r, 1000));
    } while (Date.now() < deadline);
    throw failed;
  }

  /** Puts a bridge in Berth's zone; `reapply` re-makes its rules after a firewalld reload. */
  async bind(bridge: string, reapply: () => Promise<void>): Promise<void> {
    if (this.bridges.has(bridge) || !(await this.isRunning())) {
      this.bridges.set(bridge, reapply);
      return;
    }
    try {
      await this.ensureSetup();
      await this.bindNow(bridge);
      this.bridges.set(bridge, reapply);
    } catch (err: any) {
      if (!this.closed)
        log.warn('firewalld: cannot put the bridge in the berth zone; containers may get no network', {
          bridge,
          error: err.message,
        });
    }
  }

  /**
   * bind() without waiting for it: the engine's start, for the bridges of containers that kept running (after a
   * firewall-cmd --reload while the engine was down, binding them waits on firewalld: seconds under emulation).
   * close() ends what is left of it.
   */
  bindInBackground(bridge: string, reapply: () => Promise<void>): void {
    this.inBackground(this.bind(bridge, reapply));
  }

  private inBackground(work: Promise<void>): void {
    const p = work
      .catch((err) => log.warn('firewalld: background work failed', { error: err?.message ?? String(err) }))
      .finally(() => this.background.delete(p));
    this.background.add(p);
  }

  async unbind(bridge: string): Promise<void> {
    if (!this.bridges.delete(bridge) || !(await this.isRunning())) return;
    await this.bus(busCalls.unbind(bridge)).catch(() => {});
  }

  /** After firewalld reloaded: bind every bridge again and re-apply its rules. */
  async reloaded(): Promise<void> {
    if (this.closed) return;
    this.running = undefined;
    this.setup = undefined;
    if (!(await this.isRunning())) return;
    log.info('firewalld reloaded: binding the bridges again and re-applying their rules', {
      bridges: [...this.bridges.keys()].join(','),
    });
    await this.ensureSetup().catch((err) => log.warn('firewalld: set-up failed', { error: err.message }));
    for (const [bridge, reapply] of this.bridges) {
      await this.bindNow(bridge).catch((err) => log.warn('firewalld: rebind failed', { error: err.message }));
      await reapply().catch((err) => log.warn('firewalld: re-applying rules failed', { bridge, error: err.message }));
    }
    for (const fn of this.afterReload)
      await fn().catch((err) => log.warn('firewalld: re-applying after a reload failed', { error: err.message }));
  }

  /** Runs `fn` after each reload, once the bridges are bound and their rules back; returns its removal. */
  onReloaded(fn: () => Promise<void>): () => void {
    this.afterReload.add(fn);
    return () => this.afterReload.delete(fn);
  }

  /** Listens for firewalld's Reloaded signal on the system bus, for as long as the engine runs. */
  private watch(): void {
    if (this.watcher || this.closed) return;
    const child = spawn(
      this.monitor,
      ['--system', "type='signal',interface='org.fedoraproject.FirewallD1',member='Reloaded'"],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    this.watcher = child;
    child.on('error', () => {
      log.warn(
        'firewalld: dbus-monitor is missing, a firewall-cmd --reload is not noticed (dnf install -y dbus-tools)',
      );
    });
    child.on('exit', () => {
      if (this.watcher === child) this.watcher = undefined;
    });
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      if (lines.some((l) => /member=Reloaded/.test(l))) this.inBackground(this.reloaded());
    });
    child.unref();
    (child.stdout as any)?.unref?.();
  }

  /**
   * The engine stops: no busctl, firewall-cmd or dbus-monitor is left running or started after. The Reloaded watch
   * and the runs in flight (a background binding) end now; a permanent set-up begun goes to its end first.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (shared === this) shared = undefined;
    const watcher = this.watcher;
    this.watcher = undefined;
    const waits: Promise<unknown>[] = [...this.background];
    if (watcher && watcher.exitCode === null && watcher.signalCode === null) {
      waits.push(new Promise((done) => watcher.once('close', done)));
      watcher.kill();
    }
    for (const [child, run] of this.inFlight) {
      if (!run.permanent) child.kill();
      waits.push(run.exited);
    }
    await Promise.all(waits);
  }
}

let shared: Firewalld | undefined;
/** The engine's firewalld adapter (one per process: the zone is host-wide; a new one after close). */
export function firewalld(): Firewalld {
  shared ??= new Firewalld();
  return shared;
}
