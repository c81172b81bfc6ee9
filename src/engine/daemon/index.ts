// Wires the subsystems together, owns the data-root lock, the pidfile and the signals.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRouter, ENGINE_VERSION, type EngineServices, listen, type ApiServer } from '../api';
import { applyFileKeys, type DaemonConfig, readConfigFile, RELOADABLE } from '../config';
import { createEventBus } from '../events';
import { log, setLogLevel } from '../log';
import { dTypeRefusal, resolvePlatform, runcInfo, RUNC_INSTALL_HINT, storageFacts } from '../host';
import { processAlive, writeFileAtomic } from '../util/fsx';
import { createNetworkService, parseVmHostPorts, vmHostPorts } from '../network';
import { createVolumeService } from '../volumes';
import { createContainerService } from '../containers';
import { relayPorts, slirpPorts } from '../rootless';
import {
  createRuntime,
  daemonSecurityOpt,
  defaultCgroupnsMode,
  findFuseOverlayfs,
  overlayDriver,
  selinux,
} from '../runtime';
import { openImageService } from '../images';
import { createBuildService } from '../build';
import { startIdleMemory } from './idle-memory';

export interface Daemon {
  config(): DaemonConfig;
  addresses(): string[];
  reload(): void;
  /**
   * Orderly shutdown (the first SIGTERM/SIGINT), bounded: clients get SHUTDOWN_GRACE_MS to finish what is in
   * flight, then every connection is cut; the whole stop is over within the deadline even if a step hangs.
   * Resolves true when every step finished, false when the deadline cut it short.
   */
  stop(): Promise<boolean>;
  /** Immediate exit (a second signal): drops connections, removes the socket, pidfile and data-root lock. */
  stopNow(): void;
}

/** How long requests in flight may take to finish once shutdown starts. */
export const SHUTDOWN_GRACE_MS = 1000;
/**
 * The bound on the whole stop. With live-restore containers keep running and nothing after the API takes long;
 * without it, running containers get stopped first, as long as dockerd's default shutdown-timeout allows.
 */
const shutdownDeadlineMs = (liveRestore: boolean) => SHUTDOWN_GRACE_MS + (liveRestore ? 4_000 : 15_000);

/** Holds `<data-root>/berthd.pid` for as long as the daemon runs; a live holder means "refuse to start". */
function lockDataRoot(dataRoot: string): () => void {
  fs.mkdirSync(dataRoot, { recursive: true, mode: 0o711 });
  const lock = path.join(dataRoot, 'berthd.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return () => {
        try {
          if (fs.readFileSync(lock, 'utf8') === String(process.pid)) fs.rmSync(lock);
        } catch {
          /* already gone */
        }
      };
    } catch (err: any) {
      if (err.code !== 'EEXIST') throw err;
      const holder = Number(fs.readFileSync(lock, 'utf8'));
      if (holder && holder !== process.pid && processAlive(holder)) {
        throw new Error(
          `another berthd (pid ${holder}) is already using data root ${dataRoot}; stop it first or choose another --data-root`,
        );
      }
      fs.rmSync(lock, { force: true }); // stale: its owner died
    }
  }
  throw new Error(`could not lock data root ${dataRoot}`);
}

function engineId(dataRoot: string): string {
  const file = path.join(dataRoot, 'engine-id');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    const id = crypto.randomUUID();
    writeFileAtomic(file, id);
    return id;
  }
}

export async function startDaemon(initial: DaemonConfig): Promise<Daemon> {
  let cfg = initial;
  setLogLevel(cfg.logLevel);
  const unlock = lockDataRoot(cfg.dataRoot);
  let server: ApiServer | undefined;
  try {
    fs.mkdirSync(cfg.execRoot, { recursive: true, mode: 0o700 });
    const refusal = dTypeRefusal(storageFacts(cfg.dataRoot));
    if (refusal) throw refusal;
    const runc = runcInfo();
    const resolved = resolvePlatform(cfg);
    const { runtimes } = resolved;
    // The overlay a rootless engine can mount here: probed on the data root's file system (BERTH_OVERLAY_PROBE_OPTIONS:
    // extra mount options tests make the kernel refuse the probe with).
    const overlay = overlayDriver({
      rootless: !!cfg.rootless,
      scratchDir: cfg.dataRoot,
      probeOptions: process.env.BERTH_OVERLAY_PROBE_OPTIONS,
      fuse: findFuseOverlayfs(),
    });
    if (overlay.refusal)
      log.warn('kernel overlay refused in the user namespace: using fuse-overlayfs', { error: overlay.refusal });
    const platform = { ...resolved.platform, overlay };
    if (!runc && platform.runtime.name === 'runc') log.warn(RUNC_INSTALL_HINT);
    if (resolved.crunRefused) log.info('rootless containers run on runc', { reason: resolved.crunRefused });
    const cgroupns = cfg.defaultCgroupnsMode ?? defaultCgroupnsMode(platform);
    log.info('platform', {
      cgroup: `v${platform.cgroup.version}`,
      driver: platform.cgroup.driver,
      runtime: platform.runtime.name,
      cgroupns,
      selinux: platform.selinux.enabled,
      storage: overlay.name,
    });
    const events = createEventBus();
    const vmHost = parseVmHostPorts(cfg.vmHostPorts);
    const network = createNetworkService({
      dataRoot: cfg.dataRoot,
      events,
      bridgeName: cfg.bridge,
      bip: cfg.bip,
      icc: cfg.icc,
      hostBindingIp: cfg.ip,
      defaultAddressPools: cfg.defaultAddressPools,
      outsidePorts: cfg.rootless
        ? cfg.rootless.network === 'pasta'
          ? relayPorts(cfg.rootless.stateDir)
          : slirpPorts(cfg.rootless.slirpApi)
        : vmHost && vmHostPorts(vmHost),
    });
    await network.init();
    const volumes = createVolumeService({
      dataRoot: cfg.dataRoot,
      events,
      overlay,
      windowsDrives: cfg.windowsDrives,
    });
    await volumes.init();
    const images = openImageService(cfg.dataRoot, () => cfg, events);
    const containers = createContainerService({
      dataRoot: cfg.dataRoot,
      runtime: createRuntime({
        execRoot: cfg.execRoot,
        platform,
        runtimes,
        execViaRunc: process.env.BERTH_EXEC_RUNC === '1',
      }),
      defaultCgroupnsMode: cgroupns,
      windowsDrives: cfg.windowsDrives,
      selinuxContexts: platform.selinux.enabled ? selinux.readBaseContexts() : undefined,
      images,
      events,
      network,
      volumes,
      logDefaults: () => ({ type: cfg.logDriver, config: cfg.logOpts }),
      defaultInit: cfg.init,
      securityDefaults: daemonSecurityOpt(cfg),
    });
    await containers.init();
    const build = createBuildService({
      images,
      containers,
      events,
      dataRoot: cfg.dataRoot,
      dockerVersion: ENGINE_VERSION,
      overlay,
    });
    const services: EngineServices = {
      config: () => cfg,
      events,
      engineId: engineId(cfg.dataRoot),
      startedAt: new Date(),
      runcVersion: () => runc,
      platform: { platform, runtimes, defaultCgroupnsMode: cgroupns },
      counts: () => ({ ...containers.counts(), images: images.count() }),
      network,
      volumes,
      containers,
      images,
      build,
    };
    const router = createRouter(services);
    // A rootless engine's socket is its user's alone: no group, mode 0600.
    server = await listen(router, {
      hosts: cfg.hosts,
      tls: cfg.tls,
      ...(cfg.rootless ? { socketMode: 0o600 } : { socketGroup: cfg.group }),
    });
    if (cfg.pidfile) writeFileAtomic(cfg.pidfile, String(process.pid));
    const pidfile = cfg.pidfile;
    const releaseFiles = () => {
      if (pidfile) fs.rmSync(pidfile, { force: true });
      unlock();
    };
    log.info('API listen on', { addresses: server.addresses().join(',') });
    log.info('Berth daemon has completed initialization', { dataRoot: cfg.dataRoot });
    const idleMemory = startIdleMemory();

    let stopping: Promise<boolean> | undefined;
    const daemon: Daemon = {
      config: () => cfg,
      addresses: () => server!.addresses(),
      reload() {
        try {
          const file = readConfigFile(cfg.configFile, false);
          cfg = applyFileKeys(cfg, file, RELOADABLE);
          setLogLevel(cfg.debug ? 'debug' : initial.logLevel);
          events.publish('daemon', 'reload', services.engineId, {
            name: require('node:os').hostname(),
            'registry-mirrors': JSON.stringify(cfg.registryMirrors),
            'insecure-registries': JSON.stringify(cfg.insecureRegistries),
            debug: String(cfg.debug),
          });
          log.info('Reloaded configuration', {
            mirrors: cfg.registryMirrors.join(','),
            insecure: cfg.insecureRegistries.join(','),
          });
        } catch (err: any) {
          log.error('Error reloading configuration; keeping the old one', { error: err.message });
        }
      },
      stop() {
        stopping ??= (async () => {
          log.info('Processing signal, shutting down');
          idleMemory.stop();
          const step = async (what: string, fn: () => Promise<void>) => {
            log.info(`Shutdown: ${what}`); // which step a slow shutdown waits on
            try {
              await fn();
            } catch (err: any) {
              log.error(`Shutdown: ${what} failed`, { error: err?.message ?? String(err) });
            }
          };
          const orderly = (async () => {
            await step('closing the API', () => server!.close(SHUTDOWN_GRACE_MS));
            await step('containers', () => containers.shutdown(cfg.liveRestore));
            await step('network', () => network.close());
            return true;
          })();
          let timer: NodeJS.Timeout | undefined;
          const deadline = shutdownDeadlineMs(cfg.liveRestore);
          const clean = await Promise.race([
            orderly,
            new Promise<false>((resolve) => {
              timer = setTimeout(() => resolve(false), deadline);
            }),
          ]);
          clearTimeout(timer);
          if (!clean) {
            log.error(`Shutdown did not finish within ${deadline} ms; exiting anyway`);
            server!.closeNow();
          }
          releaseFiles();
          log.info('Daemon shutdown complete');
          return clean;
        })();
        return stopping;
      },
      stopNow() {
        log.warn('Second signal: exiting at once');
        server!.closeNow();
        releaseFiles();
      },
    };
    return daemon;
  } catch (err) {
    server?.closeNow();
    unlock();
    throw err;
  }
}
