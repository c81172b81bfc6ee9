// /_ping, /version, /info, /events in Docker's shapes.
import type { EngineServices } from '../services';
import type { EngineEvent } from '../../events';
import { nowNano } from '../../events';
import {
  containerPolicyInstalled,
  fileContext,
  findBinary,
  hostFacts,
  networkFacts,
  networkWarnings,
  osReleaseText,
  packageFamily,
  preflightWarnings,
  runtimeGlibc,
  selinuxEnforcing,
  storageFacts,
} from '../../host';
import { cniBinDir } from '../../network';
import {
  cgroupDriverShown,
  KERNEL_OVERLAY,
  limitsUnavailableReason,
  missingControllers,
  missingControllerWarnings,
  usableControllers,
} from '../../runtime';
import { registryServiceConfig } from '../../registry';
import { goArch, matchLabels } from '../../../common/docker';
import { parseFilters, parseTimestampNano } from '../filters';
import { API_VERSION, MIN_API_VERSION, type Router } from '../router';
import { log } from '../../log';

export const ENGINE_VERSION = process.env.BERTH_VERSION ?? '0.1.0';

export function renderEvent(e: EngineEvent): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // Docker still sends the pre-1.22 fields for container and image events; old clients read them.
  if (e.type === 'container' || e.type === 'image') {
    out.status = e.action;
    out.id = e.actor.id;
    if (e.actor.attributes.image) out.from = e.actor.attributes.image;
  }
  return {
    ...out,
    Type: e.type,
    Action: e.action,
    Actor: { ID: e.actor.id, Attributes: e.actor.attributes },
    scope: e.scope,
    time: Number(e.timeNano / 1_000_000_000n),
    timeNano: Number(e.timeNano),
  };
}

const EVENT_FILTERS = [
  'container',
  'daemon',
  'event',
  'image',
  'label',
  'network',
  'node',
  'plugin',
  'scope',
  'service',
  'type',
  'volume',
  'config',
  'secret',
] as const;

function eventMatcher(filters: Map<string, string[]>): (e: EngineEvent) => boolean {
  const has = (key: string, ...candidates: (string | undefined)[]) => {
    const want = filters.get(key);
    if (!want) return true;
    return want.some((w) =>
      candidates.some(
        (c) =>
          c !== undefined && (c === w || (key !== 'event' && key !== 'type' && c.startsWith(w) && c.length === 64)),
      ),
    );
  };
  return (e) => {
    const a = e.actor.attributes;
    if (!has('type', e.type)) return false;
    // "exec_start: sh" matches the filter "exec_start", as in Docker.
    if (!has('event', e.action, e.action.split(':')[0])) return false;
    if (filters.has('container') && (e.type !== 'container' || !has('container', e.actor.id, a.name))) return false;
    if (
      filters.has('image') &&
      !has(
        'image',
        a.image,
        e.type === 'image' ? e.actor.id : undefined,
        a.name && e.type === 'image' ? a.name : undefined,
      )
    )
      return false;
    if (filters.has('volume') && (e.type !== 'volume' || !has('volume', e.actor.id))) return false;
    if (filters.has('network') && (e.type !== 'network' || !has('network', e.actor.id, a.name))) return false;
    if (filters.has('daemon') && (e.type !== 'daemon' || !has('daemon', e.actor.id, a.name))) return false;
    if (filters.has('scope') && !has('scope', e.scope)) return false;
    if (!matchLabels(filters.get('label'), a)) return false;
    return true;
  };
}

/** What a subscriber that does not read may have waiting in berthd's memory before events are dropped for it. */
export const EVENTS_BACKLOG_BYTES = 4 << 20;

/**
 * Writes events to a subscriber with backpressure: while the socket is full, events wait in a queue bounded by
 * EVENTS_BACKLOG_BYTES; past that, new ones are dropped for this subscriber only, as dockerd's publisher drops
 * for a subscriber that does not keep up. Whole lines only: the client never sees half an event.
 */
function boundedWriter(out: NodeJS.WritableStream): (e: EngineEvent) => void {
  const queue: string[] = [];
  let queued = 0;
  let dropped = 0;
  let waiting = false;
  const pump = () => {
    waiting = false;
    while (queue.length) {
      const line = queue.shift()!;
      queued -= line.length;
      if (!out.write(line)) {
        waiting = true;
        out.once('drain', pump);
        return;
      }
    }
    if (dropped) {
      log.warn('events dropped for a subscriber that did not keep up', { dropped });
      dropped = 0;
    }
  };
  return (e) => {
    const line = `${JSON.stringify(renderEvent(e))}\n`;
    if (queued + line.length > EVENTS_BACKLOG_BYTES) {
      dropped++;
      return;
    }
    queue.push(line);
    queued += line.length;
    if (!waiting) pump();
  };
}

export function registerSystemRoutes(router: Router, s: EngineServices): void {
  const ping = (ctx: Parameters<Parameters<Router['get']>[1]>[0]) => {
    ctx.send(200, ctx.req.method === 'HEAD' ? undefined : 'OK', {
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-cache, no-store, must-revalidate',
      Pragma: 'no-cache',
      'Docker-Experimental': 'false',
      'Builder-Version': '1',
      Swarm: 'inactive',
    });
  };
  router.get('/_ping', ping);
  router.head('/_ping', ping);

  router.get('/version', (ctx) => {
    const h = hostFacts();
    const runc = s.runcVersion();
    const details = {
      ApiVersion: API_VERSION,
      Arch: goArch(),
      BuildTime: process.env.BERTH_BUILD_TIME ?? '',
      Experimental: 'false',
      GitCommit: process.env.BERTH_COMMIT ?? '',
      GoVersion: `node ${process.version}`,
      KernelVersion: h.kernelVersion,
      MinAPIVersion: MIN_API_VERSION,
      Os: 'linux',
    };
    const components: unknown[] = [{ Name: 'Engine', Version: ENGINE_VERSION, Details: details }];
    if (runc) components.push({ Name: 'runc', Version: runc.version, Details: { GitCommit: runc.commit } });
    ctx.send(200, {
      Platform: { Name: 'Berth Engine' },
      Components: components,
      Version: ENGINE_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: details.GitCommit,
      GoVersion: details.GoVersion,
      Os: 'linux',
      Arch: goArch(),
      KernelVersion: h.kernelVersion,
      BuildTime: details.BuildTime,
    });
  });

  router.get('/info', (ctx) => {
    const cfg = s.config();
    const h = hostFacts();
    const c = s.counts();
    const reg = registryServiceConfig(cfg.registryMirrors, cfg.insecureRegistries);
    const runc = s.runcVersion();
    const cgroupV2 = h.cgroupVersion === '2';
    const unavailable = limitsUnavailableReason(s.platform.platform);
    // Rootless: each limit as far as its controller was handed down to the user (all of them for a root engine).
    const usable = usableControllers(s.platform.platform);
    const can = (controller: string) => !usable || usable.has(controller);
    const missing = unavailable ? [] : missingControllers(s.platform.platform);
    const storage = storageFacts(cfg.dataRoot);
    const overlay = s.platform.platform.overlay ?? KERNEL_OVERLAY;
    const net = networkFacts();
    ctx.send(200, {
      ID: s.engineId,
      Containers: c.containers,
      ContainersRunning: c.running,
      ContainersPaused: c.paused,
      ContainersStopped: c.stopped,
      Images: c.images,
      Driver: overlay.name,
      DriverStatus: [
        ['Backing Filesystem', storage.backingFilesystem],
        ...(storage.dType === undefined ? [] : [['Supports d_type', String(storage.dType)]]),
        ...(overlay.name === 'fuse-overlayfs'
          ? [['Kernel overlay', `refused in the user namespace (${overlay.refusal})`]]
          : [
              ['Using metacopy', 'false'],
              ['Native Overlay Diff', 'true'],
            ]),
      ],
      Plugins: {
        Volume: ['local'],
        Network: ['bridge', 'host', 'none'],
        Authorization: null,
        Log: ['json-file', 'none'],
      },
      MemoryLimit: can('memory'),
      SwapLimit: false,
      CpuCfsPeriod: can('cpu'),
      CpuCfsQuota: can('cpu'),
      CPUShares: can('cpu'),
      CPUSet: can('cpuset'),
      PidsLimit: can('pids'),
      IPv4Forwarding: net.ipv4Forwarding,
      BridgeNfIptables: net.bridgeNfIptables,
      BridgeNfIp6tables: net.bridgeNfIp6tables,
      Debug: cfg.debug,
      NFd: 0,
      OomKillDisable: !cgroupV2,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: cfg.logDriver,
      CgroupDriver: cgroupDriverShown(s.platform.platform),
      CgroupVersion: h.cgroupVersion,
      NEventsListener: 0,
      KernelVersion: h.kernelVersion,
      OperatingSystem: h.os.name,
      OSVersion: h.os.version,
      OSType: 'linux',
      Architecture: h.arch,
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: null,
        AllowNondistributableArtifactsHostnames: null,
        InsecureRegistryCIDRs: reg.insecureCidrs,
        IndexConfigs: Object.fromEntries(
          Object.entries(reg.indexConfigs).map(([k, v]) => [
            k,
            { Name: v.name, Mirrors: v.mirrors, Secure: v.secure, Official: v.official },
          ]),
        ),
        Mirrors: reg.mirrors,
      },
      NCPU: h.ncpu,
      MemTotal: h.memTotal,
      GenericResources: null,
      DockerRootDir: cfg.dataRoot,
      HttpProxy: process.env.HTTP_PROXY ?? process.env.http_proxy ?? '',
      HttpsProxy: process.env.HTTPS_PROXY ?? process.env.https_proxy ?? '',
      NoProxy: process.env.NO_PROXY ?? process.env.no_proxy ?? '',
      Name: h.hostname,
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: ENGINE_VERSION,
      Runtimes: Object.fromEntries(
        Object.values(s.platform.runtimes).map((r) => [
          r.name,
          { path: r.path, ...(r.args?.length ? { runtimeArgs: r.args } : {}) },
        ]),
      ),
      DefaultRuntime: s.platform.platform.runtime.name,
      Swarm: {
        NodeID: '',
        NodeAddr: '',
        LocalNodeState: 'inactive',
        ControlAvailable: false,
        Error: '',
        RemoteManagers: null,
      },
      LiveRestoreEnabled: cfg.liveRestore,
      Isolation: '',
      InitBinary: 'docker-init', // bin/berth-init, mounted as /sbin/docker-init
      ContainerdCommit: { ID: '' },
      RuncCommit: { ID: runc?.commit ?? '' },
      InitCommit: { ID: '' },
      SecurityOptions: [
        `name=seccomp,profile=${cfg.seccompProfile || 'builtin'}`,
        ...(cfg.noNewPrivileges ? ['name=no-new-privileges'] : []),
        ...(s.platform.platform.selinux.enabled ? ['name=selinux'] : []),
        ...(s.platform.platform.rootless ? ['name=rootless'] : []),
        ...(s.platform.defaultCgroupnsMode === 'private' ? ['name=cgroupns'] : []),
      ],
      Warnings: [
        // What is missing, with the command that installs it on this distribution (dnf on RHEL-likes).
        ...preflightWarnings({
          family: packageFamily(osReleaseText()),
          runtime: {
            name: s.platform.platform.runtime.name,
            found: !!findBinary(s.platform.platform.runtime.path),
          },
          cniFound: !!cniBinDir(),
          selinux: { enforcing: selinuxEnforcing(), containerPolicy: containerPolicyInstalled() },
          dataRoot: selinuxEnforcing() ? { path: cfg.dataRoot, context: fileContext(cfg.dataRoot) } : undefined,
          glibc: runtimeGlibc(),
        }),
        ...(unavailable ? [`WARNING: ${unavailable}`] : []),
        ...(cfg.rootless
          ? missing.map(
              (c) =>
                `WARNING: the ${c} controller is not delegated to ${cfg.rootless?.user}: limits that need it are refused`,
            )
          : missingControllerWarnings(s.platform.platform)),
        ...networkWarnings(net),
        ...(cfg.rootless?.singleId
          ? [
              `WARNING: no subordinate ids for ${cfg.rootless.user} in /etc/subuid and /etc/subgid: containers run ` +
                `with root as their only user; ${cfg.rootless.addSubids ? `as root: ${cfg.rootless.addSubids}` : 'no 65536 ids are free in them for an administrator to add'}`,
            ]
          : []),
      ],
    });
  });

  router.get('/events', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'), EVENT_FILTERS);
    const since = parseTimestampNano(ctx.query.get('since'));
    const until = parseTimestampNano(ctx.query.get('until'));
    const out = ctx.stream(200, { 'Content-Type': 'application/json' });
    const write = boundedWriter(out);
    let timer: NodeJS.Timeout | undefined;
    const sub = s.events.subscribe({ since, until, match: eventMatcher(filters) }, write);
    for (const e of sub.history) write(e);
    const done = new Promise<void>((resolve) => {
      ctx.closed.then(resolve);
      if (until !== undefined) {
        const waitMs = Number((until - nowNano()) / 1_000_000n);
        if (waitMs <= 0) resolve();
        else timer = setTimeout(resolve, waitMs);
      }
    });
    await done;
    if (timer) clearTimeout(timer);
    sub.unsubscribe();
    out.end();
  });
}
