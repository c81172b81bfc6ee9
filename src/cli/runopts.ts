// docker run/create flags → the engine's container create body (Config + HostConfig + NetworkingConfig).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Command, Option } from 'commander';
import type { ContainerCreateConfig, HostConfig } from '../client';
import { StatusError, collect, parseKeyValues } from './cli';
import { parseGoDuration, ramInBytes } from '../common/docker';

/** Adds docker's run/create flags to a command. */
export function addCreateOptions(cmd: Command): Command {
  return cmd
    .helpOption('--help', 'Print usage')
    .option('-a, --attach <stream>', 'Attach to STDIN, STDOUT or STDERR', collect)
    .option('--add-host <host:ip>', 'Add a custom host-to-IP mapping (host:ip)', collect)
    .option('--cap-add <cap>', 'Add Linux capabilities', collect)
    .option('--cap-drop <cap>', 'Drop Linux capabilities', collect)
    .option('--cidfile <file>', 'Write the container ID to the file')
    .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
    .option('--cpus <n>', 'Number of CPUs')
    .option('--cpuset-cpus <list>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('--dns <ip>', 'Set custom DNS servers', collect)
    .option('--entrypoint <cmd>', 'Overwrite the default ENTRYPOINT of the image')
    .option('-e, --env <KEY=VALUE>', 'Set environment variables', collect)
    .option('--env-file <file>', 'Read in a file of environment variables', collect)
    .option('--expose <port>', 'Expose a port or a range of ports', collect)
    .option('--group-add <group>', 'Add additional groups to join', collect)
    .option('-h, --hostname <name>', 'Container host name')
    .option('--init', 'Run an init inside the container that forwards signals and reaps processes')
    .option('-i, --interactive', 'Keep STDIN open even if not attached')
    .option('-l, --label <KEY=VALUE>', 'Set meta data on a container', collect)
    .option('--log-driver <driver>', 'Logging driver for the container')
    .option('--log-opt <opt>', 'Log driver options', collect)
    .option('-m, --memory <bytes>', 'Memory limit')
    .option('--memory-swap <bytes>', "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
    .option('--mount <mount>', 'Attach a filesystem mount to the container', collect)
    .option('--name <name>', 'Assign a name to the container')
    .addOption(new Option('--network <network>', 'Connect a container to a network').default('default'))
    .addOption(new Option('--net <network>').hideHelp())
    .option('--network-alias <alias>', 'Add network-scoped alias for the container', collect)
    .option('--pids-limit <n>', 'Tune container pids limit (set -1 for unlimited)')
    .option('--platform <platform>', 'Set platform if server is multi-platform capable')
    .option('--health-cmd <command>', 'Command to run to check health')
    .option('--health-interval <duration>', 'Time between running the check (ms|s|m|h) (default 0s)')
    .option('--health-retries <n>', 'Consecutive failures needed to report unhealthy')
    .option('--health-start-interval <duration>', 'Time between running the check during the start period (ms|s|m|h)')
    .option('--health-start-period <duration>', 'Start period for the container to initialize (ms|s|m|h)')
    .option('--health-timeout <duration>', 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)')
    .option('--no-healthcheck', 'Disable any container-specified HEALTHCHECK')
    .option('--privileged', 'Give extended privileges to this container')
    .option('-p, --publish <list>', "Publish a container's port(s) to the host", collect)
    .option('-P, --publish-all', 'Publish all exposed ports to random ports')
    .addOption(
      new Option('--pull <policy>', 'Pull image before running')
        .choices(['always', 'missing', 'never'])
        .default('missing'),
    )
    .option('--read-only', "Mount the container's root filesystem as read only")
    .option('--restart <policy>', 'Restart policy to apply when a container exits', 'no')
    .option('--rm', 'Automatically remove the container and its associated anonymous volumes when it exits')
    .option('--security-opt <opt>', 'Security Options', collect)
    .option('--shm-size <bytes>', 'Size of /dev/shm')
    .option('--stop-signal <signal>', 'Signal to stop the container')
    .option('--stop-timeout <seconds>', 'Timeout (in seconds) to stop a container')
    .option('--sysctl <opt>', 'Sysctl options', collect)
    .option('--tmpfs <mount>', 'Mount a tmpfs directory', collect)
    .option('-t, --tty', 'Allocate a pseudo-TTY')
    .option('--ulimit <ulimit>', 'Ulimit options', collect)
    .option('-u, --user <user>', 'Username or UID (format: <name|uid>[:<group|gid>])')
    .option('-v, --volume <list>', 'Bind mount a volume', collect)
    .option('--volumes-from <container>', 'Mount volumes from the specified container(s)', collect)
    .option('-w, --workdir <dir>', 'Working directory inside the container')
    .option('-q, --quiet', 'Suppress the pull output')
    .passThroughOptions();
}

/** docker's --health-* and --no-healthcheck flags as Config.Healthcheck (durations in nanoseconds). */
function healthConfig(o: CreateOptions): Record<string, unknown> | undefined {
  const durations = {
    Interval: ['--health-interval', o.healthInterval],
    Timeout: ['--health-timeout', o.healthTimeout],
    StartPeriod: ['--health-start-period', o.healthStartPeriod],
    StartInterval: ['--health-start-interval', o.healthStartInterval],
  } as const;
  const have =
    o.healthCmd !== undefined ||
    o.healthRetries !== undefined ||
    Object.values(durations).some(([, v]) => v !== undefined);
  if (o.healthcheck === false) {
    if (have) throw new StatusError(125, 'docker: --no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (!have) return undefined;
  const out: Record<string, unknown> = {};
  if (o.healthCmd) out.Test = ['CMD-SHELL', o.healthCmd];
  for (const [key, [flag, value]] of Object.entries(durations)) {
    if (value === undefined) continue;
    const ns = parseGoDuration(value);
    if (ns === undefined)
      throw new StatusError(125, `invalid argument "${value}" for "${flag}" flag: time: invalid duration "${value}"`);
    if (ns < 0) throw new StatusError(125, `docker: ${flag} cannot be negative`);
    if (ns) out[key] = ns;
  }
  if (o.healthRetries !== undefined) {
    const n = Number(o.healthRetries);
    if (!Number.isInteger(n))
      throw new StatusError(125, `invalid argument "${o.healthRetries}" for "--health-retries" flag`);
    if (n < 0) throw new StatusError(125, 'docker: --health-retries cannot be negative');
    if (n) out.Retries = n;
  }
  return out;
}

export interface CreateOptions {
  attach?: string[];
  addHost?: string[];
  capAdd?: string[];
  capDrop?: string[];
  cidfile?: string;
  cpuShares?: string;
  cpus?: string;
  cpusetCpus?: string;
  dns?: string[];
  entrypoint?: string;
  env?: string[];
  envFile?: string[];
  expose?: string[];
  groupAdd?: string[];
  hostname?: string;
  init?: boolean;
  interactive?: boolean;
  label?: string[];
  logDriver?: string;
  logOpt?: string[];
  memory?: string;
  memorySwap?: string;
  mount?: string[];
  name?: string;
  network: string;
  net?: string;
  networkAlias?: string[];
  pidsLimit?: string;
  platform?: string;
  privileged?: boolean;
  publish?: string[];
  publishAll?: boolean;
  pull: 'always' | 'missing' | 'never';
  readOnly?: boolean;
  restart: string;
  rm?: boolean;
  securityOpt?: string[];
  shmSize?: string;
  stopSignal?: string;
  stopTimeout?: string;
  healthCmd?: string;
  healthInterval?: string;
  healthRetries?: string;
  healthStartInterval?: string;
  healthStartPeriod?: string;
  healthTimeout?: string;
  /** commander's --no-healthcheck: false when given. */
  healthcheck?: boolean;
  sysctl?: string[];
  tmpfs?: string[];
  tty?: boolean;
  ulimit?: string[];
  user?: string;
  volume?: string[];
  volumesFrom?: string[];
  workdir?: string;
  quiet?: boolean;
  // run only
  detach?: boolean;
  sigProxy?: boolean;
  detachKeys?: string;
}

const invalid = (msg: string) => new StatusError(125, `berth: ${msg}\nSee 'berth run --help'.`);

/** -e KEY=VAL; a bare KEY takes the local value (or is passed unset), as docker does. */
function parseEnv(values: string[]): string[] {
  return values.map((v) => {
    if (v.includes('=')) {
      if (v.startsWith('=')) throw invalid(`invalid environment variable: ${v}`);
      return v;
    }
    const local = process.env[v];
    return local === undefined ? v : `${v}=${local}`;
  });
}

function readEnvFile(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(
      `open ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`,
    );
  }
  return parseEnv(
    text
      .split('\n')
      .map((l) => l.replace(/^\s+/, '').replace(/\r$/, ''))
      .filter((l) => l && !l.startsWith('#')),
  );
}

function parseRange(s: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw invalid(`invalid containerPort: ${s}`);
  const a = Number(m[1]);
  const b = m[2] ? Number(m[2]) : a;
  if (b < a || a > 65535 || b > 65535) throw invalid(`invalid port range: ${s}`);
  return [a, b];
}

/** -p [ip:][hostPort:]containerPort[/proto], with ranges; ip may be [v6]. */
export function parsePublish(
  specs: string[],
  exposed: Record<string, object>,
  bindings: Record<string, { HostIp: string; HostPort: string }[]>,
): void {
  for (const raw of specs) {
    let spec = raw;
    let proto = 'tcp';
    const slash = spec.lastIndexOf('/');
    if (slash >= 0) {
      proto = spec.slice(slash + 1).toLowerCase();
      spec = spec.slice(0, slash);
      if (!['tcp', 'udp', 'sctp'].includes(proto)) throw invalid(`invalid proto: ${proto}`);
    }
    let ip = '';
    let hostPart = '';
    let containerPart: string;
    const v6 = /^\[([^\]]+)\]:(.*)$/.exec(spec);
    if (v6) {
      ip = v6[1];
      const rest = v6[2].split(':');
      if (rest.length !== 2) throw invalid(`invalid port format: ${raw}`);
      [hostPart, containerPart] = rest;
    } else {
      const parts = spec.split(':');
      if (parts.length === 1) containerPart = parts[0];
      else if (parts.length === 2) [hostPart, containerPart] = parts;
      else if (parts.length === 3) [ip, hostPart, containerPart] = parts;
      else throw invalid(`invalid port format: ${raw}`);
    }
    if (!containerPart) throw invalid(`no port specified: ${raw}<empty>`);
    const [cStart, cEnd] = parseRange(containerPart);
    let hStart = 0;
    let hEnd = 0;
    if (hostPart) [hStart, hEnd] = parseRange(hostPart);
    const cCount = cEnd - cStart + 1;
    if (hostPart && hEnd - hStart + 1 !== cCount && cCount !== 1)
      throw invalid(`invalid ranges specified for container and host Ports: ${containerPart} and ${hostPart}`);
    for (let i = 0; i < cCount; i++) {
      const key = `${cStart + i}/${proto}`;
      exposed[key] = {};
      let hostPort = '';
      if (hostPart) hostPort = cCount === 1 && hEnd !== hStart ? `${hStart}-${hEnd}` : String(hStart + i);
      (bindings[key] ??= []).push({ HostIp: ip, HostPort: hostPort });
    }
  }
}

/** --mount type=bind,source=…,target=…[,readonly] (docker's CSV syntax). */
export function parseMount(spec: string): NonNullable<HostConfig['Mounts']>[number] {
  const m: Record<string, unknown> & { Type: string; Target: string } = { Type: 'volume', Target: '' };
  const volumeOptions: Record<string, unknown> = {};
  const bindOptions: Record<string, unknown> = {};
  const tmpfsOptions: Record<string, unknown> = {};
  for (const field of spec.split(',')) {
    const i = field.indexOf('=');
    const key = (i < 0 ? field : field.slice(0, i)).trim().toLowerCase();
    const value = i < 0 ? undefined : field.slice(i + 1);
    const bool = () => value === undefined || ['1', 'true'].includes(value.toLowerCase());
    switch (key) {
      case 'type':
        m.Type = value ?? '';
        break;
      case 'source':
      case 'src':
        m.Source = value;
        break;
      case 'target':
      case 'destination':
      case 'dst':
        m.Target = value ?? '';
        break;
      case 'readonly':
      case 'ro':
        m.ReadOnly = bool();
        break;
      case 'consistency':
        m.Consistency = value;
        break;
      case 'bind-propagation':
        bindOptions.Propagation = value;
        break;
      case 'bind-nonrecursive':
        bindOptions.NonRecursive = bool();
        break;
      case 'bind-create-host-path':
        bindOptions.CreateMountpoint = bool();
        break;
      case 'volume-nocopy':
        volumeOptions.NoCopy = bool();
        break;
      case 'volume-driver':
        volumeOptions.DriverConfig = { Name: value };
        break;
      case 'volume-subpath':
        volumeOptions.Subpath = value;
        break;
      case 'volume-label': {
        const [k, v = ''] = (value ?? '').split('=');
        volumeOptions.Labels = { ...(volumeOptions.Labels as object), [k]: v };
        break;
      }
      case 'volume-opt': {
        const [k, ...v] = (value ?? '').split('=');
        const dc = (volumeOptions.DriverConfig ??= { Name: 'local' }) as { Options?: Record<string, string> };
        dc.Options = { ...dc.Options, [k]: v.join('=') };
        break;
      }
      case 'tmpfs-size':
        tmpfsOptions.SizeBytes = ramInBytes(value ?? '');
        break;
      case 'tmpfs-mode':
        tmpfsOptions.Mode = parseInt(value ?? '', 8);
        break;
      default:
        throw invalid(`invalid argument "${spec}" for "--mount" flag: unexpected key '${key}' in '${field}'`);
    }
  }
  if (!m.Target) throw invalid(`invalid argument "${spec}" for "--mount" flag: target is required`);
  if (m.Type === 'bind' && typeof m.Source === 'string' && !path.isAbsolute(m.Source))
    m.Source = path.resolve(m.Source);
  if (Object.keys(volumeOptions).length) m.VolumeOptions = volumeOptions;
  if (Object.keys(bindOptions).length) m.BindOptions = bindOptions;
  if (Object.keys(tmpfsOptions).length) m.TmpfsOptions = tmpfsOptions;
  return m;
}

function parseRestart(policy: string): { Name: string; MaximumRetryCount: number } {
  const [name, count] = policy.split(':');
  if (!['no', 'always', 'unless-stopped', 'on-failure', ''].includes(name))
    throw invalid(`invalid restart policy '${name}'`);
  if (count !== undefined && name !== 'on-failure')
    throw invalid(`maximum retry count can only be used with 'on-failure'`);
  return { Name: name === '' ? 'no' : name, MaximumRetryCount: count ? Number(count) : 0 };
}
export { parseRestart };

function parseCpus(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw invalid(`invalid argument "${v}" for "--cpus" flag`);
  return Math.round(n * 1e9);
}

/**
 * --security-opt as the docker CLI sends it: every option but no-new-privileges needs a value, and
 * seccomp=<file> (anything but "unconfined" and "builtin") sends the file's JSON, compacted.
 */
export function parseSecurityOpts(opts: string[]): string[] {
  return opts.map((opt) => {
    let i = opt.indexOf('=');
    if (i < 0 && opt !== 'no-new-privileges') i = opt.indexOf(':');
    const key = i < 0 ? opt : opt.slice(0, i);
    const value = i < 0 ? '' : opt.slice(i + 1);
    if (key !== 'no-new-privileges' && (i < 0 || value === ''))
      throw new StatusError(125, `docker: Invalid --security-opt: ${JSON.stringify(opt)}`);
    if (key !== 'seccomp' || value === 'unconfined' || value === 'builtin') return opt;
    let text: string;
    try {
      text = fs.readFileSync(value, 'utf8');
    } catch (err: any) {
      throw new StatusError(125, `docker: opening seccomp profile (${value}) failed: ${err.message}`);
    }
    try {
      return `seccomp=${JSON.stringify(JSON.parse(text))}`;
    } catch (err: any) {
      throw new StatusError(125, `docker: compacting json for seccomp profile (${value}) failed: ${err.message}`);
    }
  });
}

export function buildCreateConfig(image: string, args: string[], o: CreateOptions): ContainerCreateConfig {
  const attach = new Set((o.attach ?? []).map((s) => s.toLowerCase()));
  for (const s of attach)
    if (!['stdin', 'stdout', 'stderr'].includes(s))
      throw invalid(`invalid argument "${s}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
  const detached = !!o.detach;
  const attachStdin = attach.size ? attach.has('stdin') : !!o.interactive && !detached;
  const attachStdout = attach.size ? attach.has('stdout') : !detached;
  const attachStderr = attach.size ? attach.has('stderr') : !detached;

  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  parsePublish(o.publish ?? [], exposed, bindings);
  for (const e of o.expose ?? []) {
    const [ports, proto = 'tcp'] = e.split('/');
    const [a, b] = parseRange(ports);
    for (let p = a; p <= b; p++) exposed[`${p}/${proto}`] = {};
  }

  const binds: string[] = [];
  const volumes: Record<string, object> = {};
  for (const v of o.volume ?? []) {
    const parts = v.split(':');
    if (parts.length === 1) {
      if (!path.isAbsolute(v)) throw invalid(`invalid volume specification: '${v}'`);
      volumes[v] = {};
      continue;
    }
    // docker resolves relative host paths ("./data:/data") against the current directory.
    if (parts[0].startsWith('.')) parts[0] = path.resolve(parts[0]);
    binds.push(parts.join(':'));
  }

  const env = [...(o.envFile ?? []).flatMap(readEnvFile), ...parseEnv(o.env ?? [])];
  const tmpfs: Record<string, string> = {};
  for (const t of o.tmpfs ?? []) {
    const i = t.indexOf(':');
    tmpfs[i < 0 ? t : t.slice(0, i)] = i < 0 ? '' : t.slice(i + 1);
  }
  const logConfig =
    o.logDriver || o.logOpt?.length ? { Type: o.logDriver ?? '', Config: parseKeyValues(o.logOpt) } : undefined;
  const network = o.net && o.network === 'default' ? o.net : o.network;

  const hostConfig: HostConfig = {
    Binds: binds.length ? binds : null,
    PortBindings: bindings,
    PublishAllPorts: !!o.publishAll,
    RestartPolicy: parseRestart(o.restart),
    AutoRemove: !!o.rm,
    NetworkMode: network,
    Privileged: !!o.privileged,
    ReadonlyRootfs: !!o.readOnly,
  };
  if (o.mount?.length) hostConfig.Mounts = o.mount.map(parseMount);
  if (o.memory) hostConfig.Memory = ramInBytes(o.memory);
  if (o.memorySwap) hostConfig.MemorySwap = o.memorySwap === '-1' ? -1 : ramInBytes(o.memorySwap);
  if (o.cpus) hostConfig.NanoCpus = parseCpus(o.cpus);
  if (o.cpuShares) hostConfig.CpuShares = Number(o.cpuShares);
  if (o.cpusetCpus) hostConfig.CpusetCpus = o.cpusetCpus;
  if (o.pidsLimit) hostConfig.PidsLimit = Number(o.pidsLimit);
  if (o.shmSize) hostConfig.ShmSize = ramInBytes(o.shmSize);
  if (o.capAdd) hostConfig.CapAdd = o.capAdd;
  if (o.capDrop) hostConfig.CapDrop = o.capDrop;
  if (o.dns) hostConfig.Dns = o.dns;
  if (o.addHost) hostConfig.ExtraHosts = o.addHost;
  if (o.groupAdd) hostConfig.GroupAdd = o.groupAdd;
  if (o.securityOpt) hostConfig.SecurityOpt = parseSecurityOpts(o.securityOpt);
  if (o.volumesFrom) hostConfig.VolumesFrom = o.volumesFrom;
  if (o.init) hostConfig.Init = true;
  if (Object.keys(tmpfs).length) hostConfig.Tmpfs = tmpfs;
  if (o.sysctl) hostConfig.Sysctls = parseKeyValues(o.sysctl);
  if (logConfig) hostConfig.LogConfig = logConfig;
  if (o.ulimit) {
    hostConfig.Ulimits = o.ulimit.map((u) => {
      const [name, limits] = u.split('=');
      const [soft, hard = soft] = (limits ?? '').split(':');
      return { Name: name, Soft: Number(soft), Hard: Number(hard) };
    });
  }
  if (hostConfig.AutoRemove && hostConfig.RestartPolicy?.Name !== 'no')
    throw invalid('Conflicting options: --restart and --rm');

  const config: ContainerCreateConfig = {
    Hostname: o.hostname ?? '',
    Domainname: '',
    User: o.user ?? '',
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    Tty: !!o.tty,
    OpenStdin: !!o.interactive,
    StdinOnce: !!o.interactive && attachStdin,
    Env: env,
    Cmd: args.length ? args : null,
    Image: image,
    Volumes: Object.keys(volumes).length ? volumes : undefined,
    WorkingDir: o.workdir ?? '',
    Entrypoint: o.entrypoint === undefined ? null : o.entrypoint === '' ? [''] : [o.entrypoint],
    Labels: parseKeyValues(o.label),
    HostConfig: hostConfig,
  };
  if (Object.keys(exposed).length) config.ExposedPorts = exposed;
  if (o.stopSignal) config.StopSignal = o.stopSignal;
  if (o.stopTimeout) config.StopTimeout = Number(o.stopTimeout);
  const health = healthConfig(o);
  if (health) config.Healthcheck = health;
  if (o.networkAlias?.length && network !== 'default') {
    config.NetworkingConfig = { EndpointsConfig: { [network]: { Aliases: o.networkAlias } } };
  }
  return config;
}
