// /containers/*: Docker's shapes (create body, inspect, list, stats, logs framing) translated to and from the
// containers subsystem's own records.
import type { EngineServices } from '../services';
import type {
  ContainerRecord,
  CreateRequest,
  HealthConfig,
  Resources,
  StatsSample,
  WaitCondition,
} from '../../containers';
import { inspectLinks } from '../../containers';
import { invalidParameter } from '../../errdefs';
import { MASKED_PATHS, READONLY_PATHS } from '../../runtime';
import { fuzzyMatch, humanDuration, matchLabels, queryBool } from '../../../common/docker';
import { parseFilters, parseTimestampNano, pruneUntil } from '../filters';
import { compareVersions, type RequestContext, type Router } from '../router';
import { renderNetworkSettings, validLinkLocal } from './networks';
import { mountSpecFromApi, renderMountPoint, renderMountSpec } from './volumes';
import { CONTAINER_CREATE, CONTAINER_UPDATE } from '../bodies';
import { decodeGoJson } from '../gojson';

const ZERO_TIME = '0001-01-01T00:00:00Z';

const strList = (v: unknown): string[] | null =>
  v === undefined || v === null ? null : typeof v === 'string' ? [v] : Array.isArray(v) ? v.map(String) : null;
const keys = (o: unknown): string[] => (o && typeof o === 'object' ? Object.keys(o) : []);
const obj = (list: string[]) => (list.length ? Object.fromEntries(list.map((k) => [k, {}])) : null);

/** Docker's create body → the containers subsystem's request. */
export function parseCreateBody(body: any, name: string | null): CreateRequest {
  if (!body || typeof body !== 'object')
    throw invalidParameter('config cannot be empty in order to create a container');
  if (!body.Image || typeof body.Image !== 'string') throw invalidParameter('No image was specified');
  const h = body.HostConfig ?? {};
  let entrypoint = strList(body.Entrypoint);
  // `--entrypoint ""` resets the image's entrypoint.
  if (entrypoint && entrypoint.length === 1 && entrypoint[0] === '') entrypoint = [];
  const r: Resources = {
    memory: h.Memory || undefined,
    memorySwap: h.MemorySwap || undefined,
    memoryReservation: h.MemoryReservation || undefined,
    nanoCpus: h.NanoCpus || undefined,
    cpuShares: h.CpuShares || undefined,
    cpuQuota: h.CpuQuota || undefined,
    cpuPeriod: h.CpuPeriod || undefined,
    cpusetCpus: h.CpusetCpus || undefined,
    cpusetMems: h.CpusetMems || undefined,
    pidsLimit: h.PidsLimit || undefined,
    blkioWeight: h.BlkioWeight || undefined,
  };
  const networks: Record<
    string,
    { aliases?: string[]; ipv4Address?: string; linkLocalIps?: string[]; macAddress?: string }
  > = {};
  for (const [n, e] of Object.entries<any>(body.NetworkingConfig?.EndpointsConfig ?? {})) {
    networks[n] = {
      aliases: e?.Aliases ?? undefined,
      ipv4Address: e?.IPAMConfig?.IPv4Address || undefined,
      linkLocalIps: e?.IPAMConfig?.LinkLocalIPs?.length ? validLinkLocal(e.IPAMConfig.LinkLocalIPs) : undefined,
      macAddress: e?.MacAddress || undefined,
    };
  }
  return {
    name: name || undefined,
    config: {
      image: body.Image,
      hostname: body.Hostname || '',
      domainname: body.Domainname || '',
      user: body.User || '',
      env: Array.isArray(body.Env) ? body.Env.map(String) : [],
      cmd: strList(body.Cmd),
      entrypoint,
      workingDir: body.WorkingDir || '',
      labels: body.Labels ?? {},
      exposedPorts: keys(body.ExposedPorts),
      volumes: keys(body.Volumes),
      tty: !!body.Tty,
      openStdin: !!body.OpenStdin,
      stdinOnce: !!body.StdinOnce,
      attachStdin: !!body.AttachStdin,
      attachStdout: !!body.AttachStdout,
      attachStderr: !!body.AttachStderr,
      stopSignal: body.StopSignal || undefined,
      stopTimeout: typeof body.StopTimeout === 'number' ? body.StopTimeout : undefined,
      healthcheck: parseHealthcheck(body.Healthcheck),
      macAddress: typeof body.MacAddress === 'string' && body.MacAddress ? body.MacAddress : undefined,
    },
    hostConfig: {
      restartPolicy: { name: h.RestartPolicy?.Name ?? '', maximumRetryCount: h.RestartPolicy?.MaximumRetryCount ?? 0 },
      autoRemove: !!h.AutoRemove,
      networkMode: h.NetworkMode || 'default',
      privileged: !!h.Privileged,
      capAdd: h.CapAdd ?? [],
      capDrop: h.CapDrop ?? [],
      readonlyRootfs: !!h.ReadonlyRootfs,
      tmpfs: h.Tmpfs ?? {},
      shmSize: h.ShmSize || 64 * 1024 * 1024,
      ulimits: (h.Ulimits ?? []).map((u: any) => ({
        name: String(u.Name),
        soft: Number(u.Soft),
        hard: Number(u.Hard),
      })),
      logConfig: { type: h.LogConfig?.Type ?? '', config: h.LogConfig?.Config ?? {} },
      resources: r,
      sysctls: h.Sysctls ?? {},
      groupAdd: h.GroupAdd ?? [],
      oomScoreAdj: h.OomScoreAdj ?? 0,
      dns: h.Dns ?? [],
      dnsSearch: h.DnsSearch ?? [],
      dnsOptions: h.DnsOptions ?? [],
      extraHosts: h.ExtraHosts ?? [],
      binds: h.Binds ?? [],
      mounts: Array.isArray(h.Mounts) ? h.Mounts.map(mountSpecFromApi) : [],
      volumesFrom: h.VolumesFrom ?? [],
      volumeDriver: h.VolumeDriver ?? '',
      portBindings: Object.fromEntries(
        Object.entries<any>(h.PortBindings ?? {}).map(([k, v]) => [
          k,
          v && v.map((b: any) => ({ hostIp: b.HostIp ?? '', hostPort: b.HostPort ?? '' })),
        ]),
      ),
      publishAllPorts: !!h.PublishAllPorts,
      cgroupnsMode: h.CgroupnsMode || undefined,
      runtime: h.Runtime || undefined,
      securityOpt: Array.isArray(h.SecurityOpt) ? h.SecurityOpt.map(String) : undefined,
      maskedPaths: Array.isArray(h.MaskedPaths) ? h.MaskedPaths.map(String) : undefined,
      readonlyPaths: Array.isArray(h.ReadonlyPaths) ? h.ReadonlyPaths.map(String) : undefined,
      pidMode: typeof h.PidMode === 'string' ? h.PidMode : '',
      ipcMode: typeof h.IpcMode === 'string' ? h.IpcMode : '',
      utsMode: typeof h.UTSMode === 'string' ? h.UTSMode : '',
      init: typeof h.Init === 'boolean' ? h.Init : null,
      isolation: typeof h.Isolation === 'string' ? h.Isolation : '',
      deviceCgroupRules: Array.isArray(h.DeviceCgroupRules) ? h.DeviceCgroupRules.map(String) : [],
    },
    networks,
    links: Array.isArray(h.Links) ? h.Links.map(String) : [],
  };
}

/** Docker's Health.String(): what `docker ps` adds to "Up …". */
function healthText(c: ContainerRecord): string {
  const h = c.state.health;
  if (!h) return '';
  return h.status === 'starting' ? ' (health: starting)' : ` (${h.status})`;
}

export function statusText(c: ContainerRecord, now = Date.now()): string {
  const s = c.state;
  switch (s.status) {
    case 'running':
      return `Up ${humanDuration(now - Date.parse(s.startedAt))}${healthText(c)}`;
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(s.startedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${s.exitCode}) ${humanDuration(now - Date.parse(s.finishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    case 'created':
      return 'Created';
    default:
      return s.finishedAt === ZERO_TIME
        ? 'Created'
        : `Exited (${s.exitCode}) ${humanDuration(now - Date.parse(s.finishedAt))} ago`;
  }
}

function commandText(c: ContainerRecord): string {
  const args = c.args.map((a) => (a.includes(' ') ? `'${a}'` : a));
  return args.length ? `${c.path} ${args.join(' ')}` : c.path;
}

function renderConfig(c: ContainerRecord) {
  const k = c.config;
  return {
    Hostname: k.hostname,
    Domainname: k.domainname,
    User: k.user,
    AttachStdin: k.attachStdin,
    AttachStdout: k.attachStdout,
    AttachStderr: k.attachStderr,
    ...(k.exposedPorts.length ? { ExposedPorts: obj(k.exposedPorts) } : {}),
    Tty: k.tty,
    OpenStdin: k.openStdin,
    StdinOnce: k.stdinOnce,
    Env: k.env,
    Cmd: k.cmd,
    Image: k.image,
    Volumes: obj(k.volumes),
    WorkingDir: k.workingDir,
    Entrypoint: k.entrypoint,
    OnBuild: null,
    Labels: k.labels,
    ...(k.stopSignal ? { StopSignal: k.stopSignal } : {}),
    ...(k.stopTimeout !== undefined ? { StopTimeout: k.stopTimeout } : {}),
    ...(k.healthcheck ? { Healthcheck: renderHealthConfig(k.healthcheck) } : {}),
    ...(k.macAddress ? { MacAddress: k.macAddress } : {}),
  };
}

/** Config.Healthcheck as Docker writes it (zero durations left out). */
function renderHealthConfig(h: HealthConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (h.Test?.length) out.Test = h.Test;
  for (const k of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] as const) if (h[k]) out[k] = h[k];
  return out;
}

/** The create body's Healthcheck (durations in nanoseconds), checked for its types. */
function parseHealthcheck(v: unknown): HealthConfig | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw invalidParameter('Healthcheck must be an object');
  const h = v as Record<string, unknown>;
  const out: HealthConfig = {};
  if (h.Test !== undefined && h.Test !== null) {
    if (!Array.isArray(h.Test) || h.Test.some((t) => typeof t !== 'string'))
      throw invalidParameter('Healthcheck.Test must be a list of strings');
    out.Test = h.Test as string[];
  }
  for (const k of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] as const) {
    const n = h[k];
    if (n === undefined || n === null) continue;
    if (typeof n !== 'number' || !Number.isInteger(n)) throw invalidParameter(`Healthcheck.${k} must be an integer`);
    if (n) out[k] = n;
  }
  return out;
}

function renderHostConfig(c: ContainerRecord) {
  const h = c.hostConfig;
  const r = h.resources;
  return {
    Binds: h.binds.length ? h.binds : null,
    ContainerIDFile: '',
    LogConfig: { Type: h.logConfig.type || 'json-file', Config: h.logConfig.config },
    NetworkMode: h.networkMode,
    PortBindings: Object.fromEntries(
      Object.entries(h.portBindings).map(([p, v]) => [
        p,
        v && v.map((b) => ({ HostIp: b.hostIp ?? '', HostPort: b.hostPort ?? '' })),
      ]),
    ),
    RestartPolicy: { Name: h.restartPolicy.name, MaximumRetryCount: h.restartPolicy.maximumRetryCount },
    AutoRemove: h.autoRemove,
    VolumeDriver: h.volumeDriver ?? '',
    VolumesFrom: h.volumesFrom?.length ? h.volumesFrom : null,
    ConsoleSize: [0, 0],
    CapAdd: h.capAdd.length ? h.capAdd : null,
    CapDrop: h.capDrop.length ? h.capDrop : null,
    CgroupnsMode: h.cgroupnsMode ?? 'host',
    Dns: h.dns,
    DnsOptions: h.dnsOptions,
    DnsSearch: h.dnsSearch,
    ExtraHosts: h.extraHosts.length ? h.extraHosts : null,
    GroupAdd: h.groupAdd.length ? h.groupAdd : null,
    IpcMode: h.ipcMode || 'private',
    Cgroup: '',
    Links: null,
    OomScoreAdj: h.oomScoreAdj,
    PidMode: h.pidMode ?? '',
    Privileged: h.privileged,
    PublishAllPorts: h.publishAllPorts,
    ReadonlyRootfs: h.readonlyRootfs,
    SecurityOpt: h.securityOpt?.length ? h.securityOpt : null,
    UTSMode: h.utsMode ?? '',
    UsernsMode: '',
    ShmSize: h.shmSize,
    Runtime: h.runtime ?? 'runc',
    Isolation: h.isolation ?? '',
    CpuShares: r.cpuShares ?? 0,
    Memory: r.memory ?? 0,
    NanoCpus: r.nanoCpus ?? 0,
    CgroupParent: '',
    BlkioWeight: r.blkioWeight ?? 0,
    BlkioWeightDevice: [],
    BlkioDeviceReadBps: [],
    BlkioDeviceWriteBps: [],
    BlkioDeviceReadIOps: [],
    BlkioDeviceWriteIOps: [],
    CpuPeriod: r.cpuPeriod ?? 0,
    CpuQuota: r.cpuQuota ?? 0,
    CpuRealtimePeriod: 0,
    CpuRealtimeRuntime: 0,
    CpusetCpus: r.cpusetCpus ?? '',
    CpusetMems: r.cpusetMems ?? '',
    Devices: [],
    DeviceCgroupRules: h.deviceCgroupRules?.length ? h.deviceCgroupRules : null,
    DeviceRequests: null,
    MemoryReservation: r.memoryReservation ?? 0,
    MemorySwap: r.memorySwap ?? (r.memory ? r.memory * 2 : 0),
    MemorySwappiness: null,
    OomKillDisable: false,
    PidsLimit: r.pidsLimit ?? null,
    Ulimits: h.ulimits.length ? h.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })) : null,
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    MaskedPaths: h.maskedPaths ?? (h.privileged ? null : MASKED_PATHS),
    ReadonlyPaths: h.readonlyPaths ?? (h.privileged ? null : READONLY_PATHS),
    ...(h.mounts?.length ? { Mounts: h.mounts.map(renderMountSpec) } : {}),
    ...(Object.keys(h.tmpfs).length ? { Tmpfs: h.tmpfs } : {}),
    ...(Object.keys(h.sysctls).length ? { Sysctls: h.sysctls } : {}),
    ...(typeof h.init === 'boolean' ? { Init: h.init } : {}),
  };
}

function renderState(c: ContainerRecord) {
  const s = c.state;
  return {
    Status: s.status,
    Running: s.status === 'running' || s.status === 'paused',
    Paused: s.status === 'paused',
    Restarting: s.status === 'restarting',
    OOMKilled: s.oomKilled,
    Dead: s.status === 'dead',
    Pid: s.pid,
    ExitCode: s.exitCode,
    Error: s.error,
    StartedAt: s.startedAt,
    FinishedAt: s.finishedAt,
    ...(s.health
      ? {
          Health: {
            Status: s.health.status,
            FailingStreak: s.health.failingStreak,
            Log: s.health.log.map((r) => ({ Start: r.start, End: r.end, ExitCode: r.exitCode, Output: r.output })),
          },
        }
      : {}),
  };
}

function networkSettings(s: EngineServices, c: ContainerRecord) {
  const endpoint = s.network?.endpoint(c.id);
  return renderNetworkSettings(endpoint, c.hostConfig.networkMode, c.networks, s.network);
}

export function renderInspect(s: EngineServices, c: ContainerRecord, size: boolean) {
  const dir = c.logPath.slice(0, c.logPath.lastIndexOf('/'));
  const out: Record<string, unknown> = {
    Id: c.id,
    Created: c.created,
    Path: c.path,
    Args: c.args,
    State: renderState(c),
    Image: c.imageId,
    ResolvConfPath: c.resolvConfPath,
    HostnamePath: c.hostnamePath,
    HostsPath: c.hostsPath,
    LogPath: c.logPath,
    Name: `/${c.name}`,
    RestartCount: c.state.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: c.mountLabel ?? '',
    ProcessLabel: c.processLabel ?? '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      ...renderHostConfig(c),
      Links: inspectLinks(c, (id) => {
        try {
          return s.containers.get(id);
        } catch {
          return undefined;
        }
      }),
    },
    GraphDriver: {
      Data: {
        LowerDir: c.layerDirs.join(':'),
        MergedDir: `${dir}/rootfs`,
        UpperDir: `${dir}/upper`,
        WorkDir: `${dir}/work`,
      },
      Name: 'overlay2',
    },
    Mounts: (c.mountPoints ?? []).map(renderMountPoint),
    Config: renderConfig(c),
    NetworkSettings: networkSettings(s, c),
  };
  if (size) {
    out.SizeRw = s.containers.sizeRw(c.id);
    out.SizeRootFs = s.containers.sizeRootFs(c.id, out.SizeRw as number);
  }
  return out;
}

/**
 * Before API 1.45, moby lists a container's short ID and hostname among its aliases on each user-defined
 * network, created or running (DNSNames took that over). Compose 1.x reads it: with the short ID there it leaves
 * the container's primary network alone instead of disconnecting and reconnecting it before the start.
 */
function addLegacyAliases(s: EngineServices, inspect: Record<string, any>, c: ContainerRecord): void {
  for (const [name, ep] of Object.entries<any>(inspect.NetworkSettings?.Networks ?? {})) {
    let predefined = true;
    try {
      predefined = s.network.get(name).predefined;
    } catch {
      /* removed since: not user-defined any more */
    }
    if (predefined) continue;
    ep.Aliases = [...new Set([...(ep.Aliases ?? []), c.id.slice(0, 12), c.config.hostname].filter(Boolean))];
  }
}

export function renderListItem(s: EngineServices, c: ContainerRecord, size: boolean) {
  const ns = networkSettings(s, c) as any;
  const endpoint = s.network?.endpoint(c.id);
  const ports: unknown[] = [];
  for (const [key, bindings] of Object.entries(endpoint?.ports ?? {})) {
    const [port, proto] = key.split('/');
    if (!bindings || !bindings.length) ports.push({ PrivatePort: Number(port), Type: proto });
    else
      for (const b of bindings)
        ports.push({ IP: b.hostIp, PrivatePort: Number(port), PublicPort: Number(b.hostPort), Type: proto });
  }
  if (!endpoint)
    for (const p of c.config.exposedPorts) {
      const [port, proto] = p.split('/');
      ports.push({ PrivatePort: Number(port), Type: proto ?? 'tcp' });
    }
  const item: Record<string, unknown> = {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: c.config.image,
    ImageID: c.imageId,
    Command: commandText(c),
    Created: Math.floor(Date.parse(c.created) / 1000),
    Ports: ports,
    Labels: c.config.labels,
    State: c.state.status,
    Status: statusText(c),
    HostConfig: { NetworkMode: c.hostConfig.networkMode },
    NetworkSettings: { Networks: ns.Networks },
    Mounts: (c.mountPoints ?? []).map(renderMountPoint),
  };
  if (size) {
    item.SizeRw = s.containers.sizeRw(c.id);
    item.SizeRootFs = s.containers.sizeRootFs(c.id, item.SizeRw as number);
  }
  return item;
}

const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];
const LIST_FILTERS = [
  'ancestor',
  'before',
  'expose',
  'exited',
  'health',
  'id',
  'isolation',
  'is-task',
  'label',
  'name',
  'network',
  'publish',
  'since',
  'status',
  'volume',
];

function renderStats(c: ContainerRecord, cur: StatsSample | undefined, pre: StatsSample | undefined) {
  const cpu = (x: StatsSample | undefined) => ({
    cpu_usage: {
      total_usage: x?.cpu.total ?? 0,
      ...(x?.cpu.perCpu.length ? { percpu_usage: x.cpu.perCpu } : {}),
      usage_in_kernelmode: x?.cpu.system ?? 0,
      usage_in_usermode: x?.cpu.user ?? 0,
    },
    ...(x ? { system_cpu_usage: x.cpu.systemUsage, online_cpus: x.cpu.onlineCpus } : {}),
    throttling_data: {
      periods: x?.cpu.throttling.periods ?? 0,
      throttled_periods: x?.cpu.throttling.throttledPeriods ?? 0,
      throttled_time: x?.cpu.throttling.throttledTime ?? 0,
    },
  });
  return {
    read: cur?.read ?? ZERO_TIME,
    preread: pre?.read ?? ZERO_TIME,
    pids_stats: cur ? { current: cur.pids.current, ...(cur.pids.limit ? { limit: cur.pids.limit } : {}) } : {},
    blkio_stats: {
      io_service_bytes_recursive: cur?.blkio.length
        ? cur.blkio.map((b) => ({ major: b.major, minor: b.minor, op: b.op, value: b.value }))
        : null,
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpu(cur),
    precpu_stats: cpu(pre),
    memory_stats: cur
      ? {
          usage: cur.memory.usage,
          ...(cur.memory.maxUsage ? { max_usage: cur.memory.maxUsage } : {}),
          stats: cur.memory.stats,
          ...(cur.memory.failcnt ? { failcnt: cur.memory.failcnt } : {}),
          limit: cur.memory.limit,
        }
      : {},
    name: `/${c.name}`,
    id: c.id,
    ...(cur && Object.keys(cur.networks).length ? { networks: cur.networks } : {}),
  };
}

export function registerContainerRoutes(router: Router, s: EngineServices): void {
  router.post('/containers/create', async (ctx) => {
    const name = ctx.query.get('name');
    const raw = await ctx.json();
    const req = parseCreateBody(raw === undefined ? raw : decodeGoJson(raw, CONTAINER_CREATE), name);
    const { id, warnings } = await s.containers.create(req);
    ctx.send(201, { Id: id, Warnings: warnings });
  });

  router.get('/containers/json', (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'), LIST_FILTERS);
    const limit = Number(ctx.query.get('limit') ?? -1);
    const all = queryBool(ctx.query.get('all')) || limit > 0;
    const size = queryBool(ctx.query.get('size'));
    for (const st of filters.get('status') ?? [])
      if (!STATUSES.includes(st)) throw invalidParameter(`Invalid filter 'status=${st}'`);
    for (const h of filters.get('health') ?? [])
      if (!['starting', 'healthy', 'unhealthy', 'none'].includes(h))
        throw invalidParameter(`Unrecognised filter value for health: ${h}`);
    const list = s.containers.list().sort((a, b) => (a.created < b.created ? 1 : -1));
    const before = filters.get('before')?.map((r) => s.containers.get(r).created)[0];
    const since = filters.get('since')?.map((r) => s.containers.get(r).created)[0];
    let out = list.filter((c) => {
      const st = c.state.status;
      if (!all && !filters.has('status') && st !== 'running' && st !== 'paused' && st !== 'restarting') return false;
      if (filters.has('status') && !filters.get('status')!.includes(st)) return false;
      if (filters.has('id') && !filters.get('id')!.some((p) => c.id.startsWith(p))) return false;
      if (filters.has('health') && !filters.get('health')!.includes(c.state.health?.status ?? 'none')) return false;
      if (
        filters.has('name') &&
        !filters.get('name')!.some((n) => fuzzyMatch(n, c.name) || fuzzyMatch(n, `/${c.name}`))
      )
        return false;
      if (!matchLabels(filters.get('label'), c.config.labels)) return false;
      if (filters.has('exited') && (st !== 'exited' || !filters.get('exited')!.map(Number).includes(c.state.exitCode)))
        return false;
      if (
        filters.has('ancestor') &&
        !filters
          .get('ancestor')!
          .some(
            (a) =>
              a === c.config.image ||
              a === c.imageId ||
              c.imageId.startsWith(`sha256:${a}`) ||
              (!a.includes(':') && c.config.image === `${a}:latest`) ||
              (!c.config.image.includes(':') && a === `${c.config.image}:latest`),
          )
      )
        return false;
      if (before && c.created >= before) return false;
      if (since && c.created <= since) return false;
      if (
        filters.has('network') &&
        !filters.get('network')!.some((n) => c.hostConfig.networkMode === n || n in c.networks)
      )
        return false;
      return true;
    });
    if (limit > 0) out = out.slice(0, limit);
    ctx.send(
      200,
      out.map((c) => renderListItem(s, c, size)),
    );
  });

  router.get('/containers/:id/json', (ctx) => {
    const c = s.containers.get(ctx.params.id);
    const out = renderInspect(s, c, queryBool(ctx.query.get('size')));
    if (compareVersions(ctx.apiVersion, '1.45') < 0) addLegacyAliases(s, out, c);
    ctx.send(200, out);
  });

  router.post('/containers/:id/start', async (ctx) => {
    // dockerd's rule: a JSON object is at least 7 characters, and a HostConfig at start ended with API 1.24.
    const length = ctx.req.headers['content-length'];
    if (
      (length === undefined && ctx.req.headers['transfer-encoding'] !== undefined) ||
      (length !== undefined && Number(length) > 7)
    )
      throw invalidParameter(
        'starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24',
      );
    await s.containers.start(ctx.params.id);
    ctx.send(204);
  });

  const stopOpts = (ctx: RequestContext) => {
    const t = ctx.query.get('t') ?? ctx.query.get('timeout');
    // strconv.Atoi: an integer that fits (beyond 2^53 a JavaScript number no longer counts seconds exactly).
    if (t !== null && t !== '' && (!/^[-+]?\d+$/.test(t) || !Number.isSafeInteger(Number(t))))
      throw invalidParameter(`invalid value for t: ${t}`);
    return { timeout: t !== null && t !== '' ? Number(t) : undefined, signal: ctx.query.get('signal') || undefined };
  };

  router.post('/containers/:id/stop', async (ctx) => {
    await s.containers.stop(ctx.params.id, stopOpts(ctx));
    ctx.send(204);
  });

  router.post('/containers/:id/restart', async (ctx) => {
    await s.containers.restart(ctx.params.id, stopOpts(ctx));
    ctx.send(204);
  });

  router.post('/containers/:id/kill', async (ctx) => {
    const signal = ctx.query.get('signal') || undefined;
    // Past SIGRTMAX no kill(2) can deliver it (stop and restart fall back to SIGKILL instead, as dockerd does).
    if (signal && /^\d+$/.test(signal) && Number(signal) > 64)
      throw invalidParameter(
        `Cannot kill container: ${ctx.params.id}: The linux daemon does not support signal ${signal}`,
      );
    await s.containers.kill(ctx.params.id, signal);
    ctx.send(204);
  });

  router.post('/containers/:id/pause', async (ctx) => {
    await s.containers.pause(ctx.params.id);
    ctx.send(204);
  });
  router.post('/containers/:id/unpause', async (ctx) => {
    await s.containers.unpause(ctx.params.id);
    ctx.send(204);
  });

  router.post('/containers/:id/wait', async (ctx) => {
    const condition = (ctx.query.get('condition') || 'not-running') as WaitCondition;
    if (!['not-running', 'next-exit', 'removed'].includes(condition))
      throw invalidParameter(`invalid condition: "${condition}"`);
    const c = s.containers.get(ctx.params.id);
    const abort = new AbortController();
    ctx.closed.then(() => abort.abort());
    const result = s.containers.wait(c.id, condition, abort.signal);
    // Headers go out at once: the CLI starts the container only after its wait request is answered.
    const out = ctx.stream(200, { 'Content-Type': 'application/json' });
    const r = await Promise.race([result, ctx.closed.then(() => undefined)]);
    if (!r) return;
    out.end(JSON.stringify({ StatusCode: r.exitCode, Error: r.error ? { Message: r.error } : null }) + '\n');
  });

  router.delete('/containers/:id', async (ctx) => {
    await s.containers.remove(ctx.params.id, {
      force: queryBool(ctx.query.get('force')),
      volumes: queryBool(ctx.query.get('v')),
    });
    ctx.send(204);
  });

  router.post('/containers/:id/rename', async (ctx) => {
    const name = ctx.query.get('name');
    if (!name) throw invalidParameter('Neither old nor new names may be empty');
    await s.containers.rename(ctx.params.id, name);
    ctx.send(204);
  });

  router.post('/containers/:id/update', async (ctx) => {
    const b = decodeGoJson<any>(await ctx.json(), CONTAINER_UPDATE);
    const warnings = await s.containers.update(ctx.params.id, {
      restartPolicy: b.RestartPolicy
        ? { name: b.RestartPolicy.Name, maximumRetryCount: b.RestartPolicy.MaximumRetryCount }
        : undefined,
      resources: {
        memory: b.Memory,
        memorySwap: b.MemorySwap,
        memoryReservation: b.MemoryReservation,
        nanoCpus: b.NanoCpus,
        cpuShares: b.CpuShares,
        cpuQuota: b.CpuQuota,
        cpuPeriod: b.CpuPeriod,
        cpusetCpus: b.CpusetCpus,
        cpusetMems: b.CpusetMems,
        pidsLimit: b.PidsLimit,
        blkioWeight: b.BlkioWeight,
      },
    });
    ctx.send(200, { Warnings: warnings.length ? warnings : null });
  });

  router.get('/containers/:id/top', async (ctx) => {
    const r = await s.containers.top(ctx.params.id, ctx.query.get('ps_args') || undefined);
    ctx.send(200, { Titles: r.titles, Processes: r.processes });
  });

  router.get('/containers/:id/changes', async (ctx) => {
    const list = await s.containers.changes(ctx.params.id);
    ctx.send(200, list.length ? list.map((c) => ({ Path: c.path, Kind: c.kind })) : null);
  });

  router.get('/containers/:id/export', async (ctx) => {
    const { stream, done } = await s.containers.export(ctx.params.id);
    const out = ctx.stream(200, { 'Content-Type': 'application/x-tar' });
    // The response ends only after the engine has released the rootfs it mounted for the export.
    stream.pipe(out, { end: false });
    // A read that fails midway must not look like a complete archive: the response is cut, not ended.
    stream.once('error', (err) => (out as unknown as { destroy(e?: Error): void }).destroy(err));
    ctx.closed.then(() => stream.destroy());
    await done;
    out.end();
  });

  router.post('/containers/prune', async (ctx) => {
    const filters = parseFilters(ctx.query.get('filters'), ['until', 'label', 'label!']);
    const untilNs = pruneUntil(filters);
    const r = await s.containers.prune((c) => {
      if (untilNs !== undefined && BigInt(Date.parse(c.created)) * 1_000_000n >= untilNs) return false;
      if (!matchLabels(filters.get('label'), c.config.labels)) return false;
      const not = filters.get('label!');
      if (not && not.some((l) => matchLabels([l], c.config.labels))) return false;
      return true;
    });
    ctx.send(200, { ContainersDeleted: r.deleted.length ? r.deleted : null, SpaceReclaimed: r.reclaimed });
  });

  router.get('/containers/:id/stats', async (ctx) => {
    const c = s.containers.get(ctx.params.id);
    const stream = ctx.query.get('stream') === null ? true : queryBool(ctx.query.get('stream'));
    const oneShot = queryBool(ctx.query.get('one-shot'));
    let pre = await s.containers.stats(c.id);
    if (!stream) {
      if (!oneShot && pre) {
        await new Promise((r) => setTimeout(r, 500));
        const cur = await s.containers.stats(c.id);
        ctx.send(200, renderStats(c, cur, pre));
      } else ctx.send(200, renderStats(c, pre, undefined));
      return;
    }
    const out = ctx.stream(200, { 'Content-Type': 'application/json' });
    let closed = false;
    ctx.closed.then(() => {
      closed = true;
    });
    out.write(JSON.stringify(renderStats(c, pre, undefined)) + '\n');
    while (!closed) {
      await new Promise((r) => setTimeout(r, 1000));
      if (closed) break;
      let cur: StatsSample | undefined;
      try {
        cur = await s.containers.stats(c.id);
      } catch {
        break;
      } // removed
      if (!out.write(JSON.stringify(renderStats(c, cur, pre)) + '\n')) await new Promise((r) => out.once('drain', r));
      pre = cur;
    }
    out.end();
  });

  const streamType = (ctx: RequestContext, tty: boolean) =>
    tty
      ? 'application/vnd.docker.raw-stream'
      : compareVersions(ctx.apiVersion, '1.42') >= 0
        ? 'application/vnd.docker.multiplexed-stream'
        : 'application/vnd.docker.raw-stream';

  router.get('/containers/:id/logs', async (ctx) => {
    const c = s.containers.get(ctx.params.id);
    const stdout = queryBool(ctx.query.get('stdout'));
    const stderr = queryBool(ctx.query.get('stderr'));
    if (!stdout && !stderr) throw invalidParameter('Bad parameters: you must choose at least one stream');
    const tailRaw = ctx.query.get('tail');
    const tail = tailRaw === null || tailRaw === '' || tailRaw === 'all' ? undefined : Number(tailRaw);
    if (tail !== undefined && !Number.isInteger(tail)) throw invalidParameter(`invalid value for "tail": "${tailRaw}"`);
    const since = ctx.query.get('since');
    const until = ctx.query.get('until');
    const opts = {
      stdout,
      stderr,
      timestamps: queryBool(ctx.query.get('timestamps')),
      follow: queryBool(ctx.query.get('follow')),
      tail: tail !== undefined && tail < 0 ? undefined : tail,
      since: since && since !== '0' ? parseTimestampNano(since) : undefined,
      until: until && until !== '0' ? parseTimestampNano(until) : undefined,
    };
    const abort = new AbortController();
    ctx.closed.then(() => abort.abort());
    let out: ReturnType<RequestContext['stream']> | undefined;
    const sink = {
      write: (chunk: Buffer, written?: (err?: Error | null) => void) => {
        out ??= ctx.stream(200, { 'Content-Type': streamType(ctx, c.config.tty) });
        return out.write(chunk, written);
      },
      once: (ev: 'drain', fn: () => void) => {
        out?.once(ev, fn);
      },
    };
    await s.containers.logs(c.id, opts, sink, abort.signal);
    out ??= ctx.stream(200, { 'Content-Type': streamType(ctx, c.config.tty) });
    out.end();
  });
}
