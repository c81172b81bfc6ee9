// Starting a container: its user and working dir from its layers, its network (from the networking subsystem,
// or hosts/resolv.conf of its own), its volumes mounted, the OCI spec built and the process started under the
// runtime; attach sessions that waited for this start get its output from the first byte. A start that fails
// records why, as Docker shows it, and undoes what it set up.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { conflict, invalidParameter, isEngineError, notModified, system } from '../errdefs';
import { log } from '../log';
import { phaseTimer } from '../util/phases';
import { logLimits } from '../logs';
import {
  buildSpec,
  cgroupsPath,
  defaultInitPath,
  hostCapabilities,
  hostNofileHard,
  mergeEnv,
  type RunningContainer,
  selinux,
} from '../runtime';
import type { FsAccess } from './archive';
import type { ExecService } from './exec';
import { existsInLayers, layersOf, userIn } from './filesystem';
import { mountShareableShm, resolveNamespaces, unmountShareableShm } from './namespaces';
import { resolveLinks, updateLinkParents } from './links';
import { joinOrder } from './networks';
import { type ContainerRecord, startErrorExitCode } from './state';
import { type ContainerStore, nowRfc3339Nano, type PendingAttach } from './store';

export interface StartDeps {
  fsAccess: Pick<FsAccess, 'idle'>;
  execs: Pick<ExecService, 'forgetContainer'>;
  /** Exit handling (./exits.ts): supervises the run; start cancels a pending policy restart. */
  exits: {
    watch(c: ContainerRecord, handle: RunningContainer): void;
    cancelRestart(id: string): void;
    forgetBackoff(id: string): void;
  };
  /** Removal (./lifecycle.ts), for an AutoRemove container whose start failed. */
  remove(c: ContainerRecord, force: boolean, removeVolumes: boolean): Promise<void>;
  /** Healthchecks (./health.ts): a run starts "starting" and is probed. */
  health: { start(c: ContainerRecord): void };
}

const NETWORK_FAILURE = Symbol('network failure');

export function createStart(store: ContainerStore, deps: StartDeps) {
  const { runtime } = store.deps;
  const nofile = hostNofileHard();

  const networkFor = async (c: ContainerRecord, extraHosts: string[], netnsReady?: (netnsPath: string) => void) => {
    const mode = c.hostConfig.networkMode || 'default';
    if (mode === 'none') return { mode: 'private' as const };
    if (mode === 'host') return { mode: 'host' as const };
    const net = store.deps.network;
    if (!net) return { mode: 'private' as const }; // no networking subsystem: like --network none
    // The container's own namespace joins its first network (the primary one, eth0), then the others; with none
    // left (all disconnected) it has only lo and can still be connected later, as in Docker.
    const [first, ...others] = mode.startsWith('container:') ? [] : joinOrder(net, c);
    const network = mode.startsWith('container:')
      ? `container:${store.lookup(mode.slice('container:'.length)).id}`
      : (first?.[0] ?? '');
    const ep = await net.attach({
      containerId: c.id,
      containerName: c.name,
      network,
      hostname: c.config.hostname,
      domainname: c.config.domainname,
      extraHosts: [...c.hostConfig.extraHosts, ...extraHosts],
      dns: c.hostConfig.dns,
      dnsSearch: c.hostConfig.dnsSearch,
      dnsOptions: c.hostConfig.dnsOptions,
      hostsPath: c.hostsPath,
      resolvConfPath: c.resolvConfPath,
      portBindings: c.hostConfig.portBindings as any,
      exposedPorts: c.config.exposedPorts,
      publishAll: c.hostConfig.publishAllPorts,
      aliases: first?.[1].aliases,
      ipv4Address: first?.[1].ipv4Address,
      linkLocalIps: first?.[1].linkLocalIps,
      macAddress: first?.[1].macAddress,
      netnsReady,
    });
    for (const [name, cfg] of others) await net.connect(name, c.id, cfg);
    if (ep.hostsPath && ep.hostsPath !== c.hostsPath) c.hostsPath = ep.hostsPath;
    if (ep.resolvConfPath && ep.resolvConfPath !== c.resolvConfPath) c.resolvConfPath = ep.resolvConfPath;
    return ep.netnsPath ? { mode: 'path' as const, netnsPath: ep.netnsPath } : { mode: 'host' as const };
  };

  /** Records why a start failed and returns the error to answer with. */
  const startFailure = (c: ContainerRecord, err: unknown): Error => {
    const e = isEngineError(err) ? err : system(String((err as Error)?.message ?? err));
    const networkFailed = (err as any)?.[NETWORK_FAILURE] === true;
    if (networkFailed) {
      // Networking's errors are Docker's own ("driver failed programming external connectivity …"): as they are.
      c.state.error = e.message;
      if (c.state.status === 'restarting') store.setStatus(c, 'exited');
      store.save(c);
      return e;
    }
    if (e.kind === 'System') {
      // What the runtime said, as containerd's shim passes it on: runc's own words carry "runc create failed: ",
      // crun's none. Docker's CLI maps "not found" in it to exit code 127.
      const own = (c.hostConfig.runtime ?? runtime.platform.runtime.name) === 'runc' ? 'runc create failed: ' : '';
      c.state.error = `failed to create shim task: OCI runtime create failed: ${own}${e.message}: unknown`;
      c.state.exitCode = startErrorExitCode(e.message, 128);
      if (c.state.status === 'restarting') store.setStatus(c, 'exited');
      store.save(c);
      return (c.state.exitCode === 128 ? system : invalidParameter)(c.state.error);
    }
    return e;
  };

  /** Starts the container; `automatic` for restarts by policy (they keep the restart count and backoff). */
  const start = async (c: ContainerRecord, automatic: boolean) => {
    if (c.state.status === 'running') throw notModified();
    if (c.state.status === 'paused') throw conflict('cannot start a paused container, try unpause instead');
    if (c.state.status === 'removing' || c.state.status === 'dead')
      throw conflict(`container is marked for removal and cannot be started`);
    deps.exits.cancelRestart(c.id);
    if (!automatic) {
      c.state.restartCount = 0;
      deps.exits.forgetBackoff(c.id);
    }
    await deps.fsAccess.idle(c.id);
    // Debug log: where a start spends its time (scripts/bench/run-breakdown.ts reads these lines).
    const phases = log.isDebug() ? phaseTimer() : undefined;
    const upper = path.join(store.dirOf(c.id), 'upper');
    const layers = layersOf(store, c);
    let waiting: PendingAttach[] = [];
    try {
      // Namespaces shared with running containers first: joining one that is not running changes nothing here.
      const shared = resolveNamespaces(store, c);
      const links = resolveLinks(store, c);
      await mountShareableShm(store, c);
      const init = (c.hostConfig.init ?? store.deps.defaultInit) ? initBinary() : undefined;
      const user = userIn(layers, c, c.config.user);
      // Docker creates a missing WorkingDir in the container's own layer.
      if (c.config.workingDir && !existsInLayers(layers, c.config.workingDir)) {
        fs.mkdirSync(path.join(upper, c.config.workingDir), { recursive: true, mode: 0o755 });
      }
      phases?.mark('prep');
      const networkFailure = (err: unknown) => Object.assign(err as object, { [NETWORK_FAILURE]: true });
      let network: Awaited<ReturnType<typeof networkFor>>;
      // A namespace of its own is there before its interfaces (the bridge plugin, the rules): runc creates the
      // container in it meanwhile and its process starts once the network is whole (the runtime's gate).
      let networkDone: Promise<unknown> | undefined;
      try {
        let early!: (netnsPath: string) => void;
        const netnsReady = new Promise<string>((resolve) => {
          early = resolve;
        });
        const attaching = networkFor(c, links.extraHosts, early);
        const first = await Promise.race([netnsReady, attaching]);
        if (typeof first !== 'string') network = first;
        else {
          network = { mode: 'path', netnsPath: first };
          // runc binds them in now; attach fills them (in place) before the gate opens.
          for (const f of [c.hostsPath, c.resolvConfPath]) fs.closeSync(fs.openSync(f, 'a'));
          networkDone = attaching.then(
            (n) => {
              if (n.mode !== 'path' || n.netnsPath !== first) throw system(`network namespace changed during start`);
            },
            (err) => {
              throw networkFailure(err);
            },
          );
          // Awaited by the runtime; a start that fails before it gets there must not leave it unhandled.
          networkDone.catch(() => {});
        }
      } catch (err) {
        throw networkFailure(err);
      }
      phases?.mark('network');
      if (network.mode !== 'path') {
        // No networking subsystem involved: the files are ours to write.
        // --add-host entries go in too, as Docker writes them without a network (builds with --network none).
        const extra = (c.hostConfig.extraHosts ?? []).map((h) => {
          const i = h.search(/[:=]/);
          return i > 0 ? `${h.slice(i + 1)}\t${h.slice(0, i)}\n` : '';
        });
        fs.writeFileSync(
          c.hostsPath,
          (network.mode === 'host' ? (safeRead('/etc/hosts') ?? DEFAULT_HOSTS) : DEFAULT_HOSTS) + extra.join(''),
        );
        fs.writeFileSync(
          c.resolvConfPath,
          network.mode === 'host'
            ? (safeRead('/etc/resolv.conf') ?? '')
            : containerResolvConf(c.hostConfig.dns, c.hostConfig.dnsSearch, c.hostConfig.dnsOptions),
        );
      }
      const bind = (destination: string, source: string) => ({
        destination,
        source,
        type: 'bind',
        options: ['rbind', 'rprivate'],
      });
      // Volumes get mounted (and filled from the image when new and empty) before the process starts.
      const volumes = store.deps.volumes;
      const volumeMounts =
        volumes && c.mountPoints?.length ? await volumes.setupMounts(c.id, c.mountPoints, { layers }) : [];
      // SELinux: sources asked with :z/:Z (and local volumes) get the container's file label, as the engine's
      // own files bound in do; nothing where the container has no mount label.
      await selinux.applyRelabel(
        selinux.relabelPlan(
          c.mountLabel ?? '',
          (c.mountPoints ?? [])
            .filter((m) => m.type !== 'tmpfs')
            .map((m) => ({
              source: volumeMounts.find((v) => v.destination === m.destination)?.source ?? m.source,
              mode: m.mode,
            })),
          [c.resolvConfPath, c.hostnamePath, c.hostsPath],
          {
            sharedNetwork: c.hostConfig.networkMode.startsWith('container:'),
            homes: selinux.protectedHomes(),
          },
        ),
      );
      phases?.mark('files');
      const spec = buildSpec({
        rootfs: store.rootfsOf(c.id),
        readonlyRootfs: c.hostConfig.readonlyRootfs,
        args: [c.path, ...c.args],
        // Link variables come before the container's own, which win (moby's CreateDaemonEnvironment).
        env: links.env.length ? mergeEnv(links.env, c.config.env) : c.config.env,
        cwd: c.config.workingDir || '/',
        user,
        hostname: c.config.hostname,
        domainname: c.config.domainname,
        tty: c.config.tty,
        network,
        privileged: c.hostConfig.privileged,
        capAdd: c.hostConfig.capAdd,
        capDrop: c.hostConfig.capDrop,
        resources: c.hostConfig.resources,
        mounts: [
          bind('/etc/resolv.conf', c.resolvConfPath),
          bind('/etc/hostname', c.hostnamePath),
          bind('/etc/hosts', c.hostsPath),
          ...volumeMounts,
        ],
        tmpfs: c.hostConfig.tmpfs,
        shmSize: c.hostConfig.shmSize,
        ulimits: c.hostConfig.ulimits,
        hostNofileHard: nofile,
        hostCapabilities: hostCapabilities(),
        cgroupsPath: cgroupsPath(runtime.platform, c.id),
        platform: runtime.platform,
        cgroupns: c.hostConfig.cgroupnsMode,
        labels: { process: c.processLabel ?? '', mount: c.mountLabel ?? '' },
        pid: shared.pid,
        ipc: shared.ipc,
        utsHost: shared.utsHost,
        init,
        deviceCgroupRules: c.hostConfig.deviceCgroupRules,
        sysctls: c.hostConfig.sysctls,
        oomScoreAdj: c.hostConfig.oomScoreAdj,
        securityOpt: c.hostConfig.securityOpt,
        maskedPaths: c.hostConfig.maskedPaths,
        readonlyPaths: c.hostConfig.readonlyPaths,
        daemonSecurityOpt: store.deps.securityDefaults,
        kernel: os.release(),
      });
      phases?.mark('spec');
      const defaults = store.deps.logDefaults();
      const logType = c.hostConfig.logConfig.type || defaults.type;
      // Records from before the driver was resolved at create have type '' (the daemon's, with its options).
      const limits =
        logType === 'none'
          ? { maxSize: 0, maxFile: 1 }
          : logLimits(c.hostConfig.logConfig.type ? c.hostConfig.logConfig.config : defaults.config);
      spec.process.terminal = !!c.config.tty;
      waiting = store.pendingAttaches.get(c.id) ?? [];
      store.pendingAttaches.delete(c.id);
      const handle = await runtime.start({
        id: c.id,
        spec,
        openStdin: c.config.openStdin,
        stdinOnce: c.config.stdinOnce,
        holdOutput: waiting.length > 0,
        log: logType === 'none' ? undefined : { path: c.logPath, maxSize: limits.maxSize, maxFile: limits.maxFile },
        overlay: store.overlayOf(c),
        overlayOptions: [selinux.contextMountOption(c.mountLabel ?? '')].filter((o): o is string => !!o),
        runtime: c.hostConfig.runtime,
        gate: networkDone,
      });
      phases?.mark('shim');
      store.setStatus(c, 'running');
      Object.assign(c.state, {
        pid: handle.pid,
        exitCode: 0,
        error: '',
        oomKilled: false,
        startedAt: nowRfc3339Nano(),
        manuallyStopped: false,
      });
      deps.health.start(c);
      store.save(c);
      deps.execs.forgetContainer(c.id);
      deps.exits.watch(c, handle);
      store.publish(c, 'start');
      if (phases) log.debug('container start phases', { container: c.id.slice(0, 12), ...phases.done('state') });
      if (waiting.length) {
        await Promise.all(waiting.map((w) => runtime.attach(c.id, w.want).then(w.resolve, () => w.resolve(undefined))));
        await runtime.release(c.id);
      }
      // Not a failure of this start: it runs whatever the others' files say.
      await updateLinkParents(store, c).catch((err) =>
        log.warn('updating linked containers failed', { id: c.id, error: err.message }),
      );
    } catch (err) {
      if (store.usesNetworkHook(c)) await store.deps.network!.detach(c.id).catch(() => {});
      if (store.deps.volumes && c.mountPoints) await store.deps.volumes.teardownMounts(c.id, c.mountPoints);
      await unmountShareableShm(store, c);
      for (const w of waiting) w.resolve(undefined);
      const failure = startFailure(c, err);
      // Docker removes an AutoRemove container whose start failed; `docker run --rm` waits for exactly that.
      if (c.hostConfig.autoRemove)
        await deps.remove(c, true, true).catch((e) => log.warn('auto-remove failed', { id: c.id, error: e.message }));
      throw failure;
    }
  };

  return start;
}

/** --init's binary; without it (tini not installed when Berth was built) the start fails saying so. */
function initBinary(): string {
  const p = defaultInitPath();
  if (!fs.existsSync(p))
    throw system(`--init: the bundled init ${p} is missing (install Debian's tini and rebuild Berth)`);
  return p;
}

function safeRead(p: string) {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

const DEFAULT_HOSTS =
  '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';

/** The host's resolv.conf without loopback nameservers (unreachable from a container's own namespace). */
function containerResolvConf(dns: string[], search: string[], options: string[]): string {
  let host = '';
  for (const p of ['/run/systemd/resolve/resolv.conf', '/etc/resolv.conf']) {
    try {
      const t = fs.readFileSync(p, 'utf8');
      if (p === '/etc/resolv.conf' || !/nameserver 127\./.test(t)) {
        host = t;
        break;
      }
    } catch {
      /* next */
    }
  }
  const lines = host.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$)/.test(l));
  let out = lines.filter(
    (l) =>
      !(dns.length && /^\s*nameserver\s/.test(l)) &&
      !(search.length && /^\s*search\s/.test(l)) &&
      !(options.length && /^\s*options\s/.test(l)),
  );
  out.push(...dns.map((d) => `nameserver ${d}`));
  if (search.length) out.push(`search ${search.join(' ')}`);
  if (options.length) out.push(`options ${options.join(' ')}`);
  out = out.filter((l, i) => l.trim() !== '' || i < out.length - 1);
  // Docker's fallback when nothing usable remains (written, never contacted by Berth itself).
  if (!out.some((l) => /^\s*nameserver\s/.test(l)))
    out.push('nameserver 8.8.8.8', 'nameserver 4.4.4.4'.replace('4.4.4.4', '8.8.4.4'));
  return out.join('\n').replace(/\n*$/, '\n');
}
