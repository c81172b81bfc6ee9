// Creating a container: the request checked as dockerd checks it, merged with its image's config the way Docker
// merges them (Entrypoint/Cmd, Env, Labels, ports, volumes), its name reserved and its directories, mount points
// and record written before it is visible.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { conflict, invalidParameter } from '../errdefs';
import { logLimits } from '../logs';
import {
  capabilities,
  checkCgroupnsMode,
  defaultCgroupnsMode,
  mergeEnv,
  parseSecurityOpt,
  refuseUnusableLimits,
  selinux,
  signalNumber,
} from '../runtime';
import { parseVolumesFrom, planMounts } from '../volumes';
import { generateName, validateName } from './names';
import { checkLinks } from './links';
import { checkNamespaceModes } from './namespaces';
import { initialNetworks, primaryNetwork } from './networks';
import {
  type ContainerConfig,
  type ContainerRecord,
  type EndpointSettings,
  type HealthConfig,
  type HostConfig,
  parseRestartPolicy,
  type Resources,
} from './state';
import { mergeHealthcheck } from './health';
import { type ContainerStore, nowRfc3339Nano, ZERO_TIME } from './store';

export interface CreateRequest {
  name?: string;
  config: Partial<ContainerConfig> & { image: string };
  hostConfig?: Partial<Omit<HostConfig, 'restartPolicy'>> & {
    restartPolicy?: { name?: string; maximumRetryCount?: number };
  };
  networks?: Record<string, EndpointSettings>;
  /** HostConfig.Links as given ("name:alias"). */
  links?: string[];
}

function defaultHostConfig(): HostConfig {
  return {
    restartPolicy: { name: 'no', maximumRetryCount: 0 },
    autoRemove: false,
    networkMode: 'default',
    privileged: false,
    capAdd: [],
    capDrop: [],
    readonlyRootfs: false,
    tmpfs: {},
    shmSize: 64 * 1024 * 1024,
    ulimits: [],
    logConfig: { type: '', config: {} },
    resources: {},
    sysctls: {},
    groupAdd: [],
    oomScoreAdj: 0,
    dns: [],
    dnsSearch: [],
    dnsOptions: [],
    extraHosts: [],
    binds: [],
    portBindings: {},
    publishAllPorts: false,
  };
}

/** The container's mounts from its request and image, in Docker's precedence (src/engine/volumes/mounts.ts). */
const planContainerMounts = (store: ContainerStore, c: ContainerRecord) =>
  planMounts(
    {
      binds: c.hostConfig.binds,
      mounts: c.hostConfig.mounts,
      tmpfs: c.hostConfig.tmpfs,
      volumes: c.config.volumes,
      volumeDriver: c.hostConfig.volumeDriver,
      volumesFrom: (c.hostConfig.volumesFrom ?? []).map((spec) => ({
        spec,
        mountPoints: store.lookup(parseVolumesFrom(spec).id).mountPoints ?? [],
      })),
    },
    undefined,
    store.deps.windowsDrives,
  );

/**
 * --mac-address: each endpoint's checked; Config.MacAddress (older clients) goes to the primary network, as moby
 * applies it, unless that endpoint has its own. Host and container: networking have no MAC of their own.
 */
function withMacAddress(
  networks: Record<string, EndpointSettings>,
  hc: HostConfig,
  configMac: string | undefined,
): Record<string, EndpointSettings> {
  const macs = [configMac, ...Object.values(networks).map((e) => e.macAddress)].filter((m): m is string => !!m);
  for (const mac of macs)
    if (!/^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(mac))
      throw invalidParameter(`address ${mac}: invalid MAC address`); // Go's net.ParseMAC, as dockerd says it
  if (macs.length && (hc.networkMode === 'host' || hc.networkMode.startsWith('container:')))
    throw invalidParameter('conflicting options: mac-address and the network mode');
  const primary = primaryNetwork(hc.networkMode);
  const key = primary && Object.keys(networks).find((k) => k === primary || (primary === 'bridge' && k === 'default'));
  if (configMac && key && !networks[key].macAddress) networks[key] = { ...networks[key], macAddress: configMac };
  return networks;
}

/** dockerd's checks of --cpus against --cpu-period/--cpu-quota and the host's CPUs (create and update). */
export function checkCpuResources(r: Resources): void {
  if (r.nanoCpus && r.cpuPeriod)
    throw invalidParameter('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (r.nanoCpus && r.cpuQuota)
    throw invalidParameter('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (r.nanoCpus && r.nanoCpus > os.cpus().length * 1e9) {
    throw invalidParameter(
      `Range of CPUs is from 0.01 to ${os.cpus().length}.00, as there are only ${os.cpus().length} CPUs available`,
    );
  }
}

/** dockerd's checks of a healthcheck's durations (1ms at least) and retries. */
function checkHealthcheck(h: HealthConfig | undefined) {
  if (!h) return;
  for (const [field, v] of [
    ['Interval', h.Interval],
    ['Timeout', h.Timeout],
    ['StartPeriod', h.StartPeriod],
    ['StartInterval', h.StartInterval],
  ] as const)
    if (v && v < 1e6) throw invalidParameter(`${field} in Healthcheck cannot be less than 1ms`);
  if ((h.Retries ?? 0) < 0) throw invalidParameter('Retries in Healthcheck cannot be negative');
}

/** SELinux labels with an MCS pair no other container holds (go-selinux's InitLabels); none where SELinux is off. */
function containerLabels(store: ContainerStore, hc: HostConfig): selinux.ContainerLabels {
  const { platform } = store.deps.runtime;
  const options = { enabled: platform.selinux.enabled, privileged: hc.privileged, securityOpt: hc.securityOpt };
  selinux.labelOptions(hc.securityOpt); // refuses a bad label= option everywhere, SELinux or not
  if (!platform.selinux.enabled) return { process: '', mount: '' };
  const mcs = new selinux.McsAllocator();
  for (const c of store.records.values()) if (c.mountLabel) mcs.reserve(selinux.levelOf(c.mountLabel));
  return selinux.containerLabels(options, store.deps.selinuxContexts ?? selinux.DEFAULT_CONTEXTS, mcs.allocate());
}

export async function createContainer(
  store: ContainerStore,
  req: CreateRequest,
): Promise<{ id: string; warnings: string[] }> {
  const image = await store.deps.images.get(req.config.image);
  const ic = image.config.config ?? {};
  const name = req.name ? validateName(req.name) : generateName((n) => store.names.has(n));
  if (store.names.has(name)) {
    throw conflict(
      `Conflict. The container name "/${name}" is already in use by container "${store.names.get(name)}". You have to remove (or rename) that container to be able to reuse that name.`,
    );
  }
  const hc: HostConfig = { ...defaultHostConfig(), ...(req.hostConfig as any) };
  try {
    hc.restartPolicy = parseRestartPolicy(req.hostConfig?.restartPolicy);
  } catch (err: any) {
    throw invalidParameter(err.message);
  }
  if (hc.autoRemove && !['', 'no'].includes(hc.restartPolicy.name))
    throw invalidParameter("can't create 'AutoRemove' container with restart policy");
  capabilities([], hc.capAdd, hc.capDrop); // validates names
  // moby's mergeAndVerifyLogConfig: no driver means the daemon's, whose options the container's complete
  // (`docker run --log-opt max-size=1m` sends options without a driver); resolved now, as inspect shows it.
  const logDefaults = store.deps.logDefaults();
  const logType = hc.logConfig?.type || logDefaults.type;
  if (!['json-file', 'none'].includes(logType))
    throw invalidParameter(`logger: no log driver named '${logType}' is registered`);
  const logOpts = hc.logConfig?.config ?? {};
  hc.logConfig = {
    type: logType,
    config: logType === logDefaults.type ? { ...logDefaults.config, ...logOpts } : { ...logOpts },
  };
  if (logType === 'json-file') logLimits(hc.logConfig.config);
  if (hc.resources.memory && hc.resources.memory < 6 * 1024 * 1024)
    throw invalidParameter('Minimum memory limit allowed is 6MB');
  refuseUnusableLimits(store.deps.runtime.platform, hc.resources);
  checkCpuResources(hc.resources);

  // The platform's choices, resolved now as dockerd does (inspect shows them; a restart keeps them).
  const runtime = store.deps.runtime;
  hc.cgroupnsMode =
    checkCgroupnsMode(hc.cgroupnsMode) || store.deps.defaultCgroupnsMode || defaultCgroupnsMode(runtime.platform);
  hc.runtime = hc.runtime || runtime.platform.runtime.name;
  if (!runtime.runtimes()[hc.runtime]) throw invalidParameter(`unknown or invalid runtime name: ${hc.runtime}`);
  hc.securityOpt = hc.securityOpt ?? [];
  parseSecurityOpt(hc.securityOpt); // dockerd's refusals (and a seccomp profile that does not decode) at create
  checkNamespaceModes(hc, req.config.hostname);
  hc.links = checkLinks(store, hc, req.links ?? []);
  const labels = containerLabels(store, hc);

  const rc = req.config;
  // Docker's merge: an empty Entrypoint counts as not given (the CLI sends [] or null), so the image's Cmd
  // applies; a null one also inherits the image's Entrypoint. A given Entrypoint discards the image's Cmd.
  const givenEntrypoint = rc.entrypoint && rc.entrypoint.length ? rc.entrypoint : null;
  const entrypoint = givenEntrypoint ?? (rc.entrypoint == null ? (ic.Entrypoint ?? null) : null);
  const cmd = rc.cmd && rc.cmd.length ? rc.cmd : givenEntrypoint ? null : (ic.Cmd ?? null);
  const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
  if (argv.length === 0) throw invalidParameter('No command specified');
  const id = crypto.randomBytes(32).toString('hex');
  const config: ContainerConfig = {
    hostname: rc.hostname || (hc.networkMode === 'host' ? os.hostname() : id.slice(0, 12)),
    domainname: rc.domainname ?? '',
    user: rc.user || ic.User || '',
    env: mergeEnv(ic.Env ?? [], rc.env ?? []),
    cmd,
    entrypoint,
    image: rc.image,
    workingDir: rc.workingDir || ic.WorkingDir || '',
    labels: { ...(ic.Labels ?? {}), ...(rc.labels ?? {}) },
    exposedPorts: [...new Set([...Object.keys(ic.ExposedPorts ?? {}), ...(rc.exposedPorts ?? [])])],
    volumes: [...new Set([...Object.keys(ic.Volumes ?? {}), ...(rc.volumes ?? [])])],
    tty: !!rc.tty,
    openStdin: !!rc.openStdin,
    stdinOnce: !!rc.stdinOnce,
    attachStdin: !!rc.attachStdin,
    attachStdout: !!rc.attachStdout,
    attachStderr: !!rc.attachStderr,
    stopSignal: rc.stopSignal || ic.StopSignal || undefined,
    stopTimeout: rc.stopTimeout,
    healthcheck: mergeHealthcheck(rc.healthcheck, ic.Healthcheck as HealthConfig | undefined),
    macAddress: rc.macAddress || undefined,
  };
  checkHealthcheck(config.healthcheck);
  if (config.stopSignal) signalNumber(config.stopSignal);
  const dir = store.dirOf(id);
  const c: ContainerRecord = {
    id,
    name,
    created: nowRfc3339Nano(),
    imageId: image.id,
    path: argv[0],
    args: argv.slice(1),
    config,
    hostConfig: hc,
    state: {
      status: 'created',
      pid: 0,
      exitCode: 0,
      error: '',
      oomKilled: false,
      startedAt: ZERO_TIME,
      finishedAt: ZERO_TIME,
      manuallyStopped: false,
      restartCount: 0,
    },
    layerDirs: store.deps.images.layerDirs(image),
    logPath: path.join(dir, `${id}-json.log`),
    hostnamePath: path.join(dir, 'hostname'),
    hostsPath: path.join(dir, 'hosts'),
    resolvConfPath: path.join(dir, 'resolv.conf'),
    ...(labels.process ? { processLabel: labels.process } : {}),
    ...(labels.mount ? { mountLabel: labels.mount } : {}),
    networks: withMacAddress(initialNetworks(store.deps.network, hc.networkMode, req.networks), hc, rc.macAddress),
    networksIncludePrimary: true,
  };
  store.names.set(name, id); // reserved before the first await below
  try {
    await Promise.all(
      ['upper', 'work', 'rootfs', ...(c.layerDirs.length ? [] : ['empty'])].map((d) =>
        fs.promises.mkdir(path.join(dir, d), { recursive: true, mode: 0o755 }),
      ),
    );
    if (store.deps.volumes)
      c.mountPoints = await store.deps.volumes.createMountPoints(id, planContainerMounts(store, c));
    await fs.promises.writeFile(c.hostnamePath, `${config.hostname}\n`);
    store.save(c);
  } catch (err) {
    store.names.delete(name);
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  store.records.set(id, c);
  store.publish(c, 'create');
  return { id, warnings: [] };
}
