// daemon.json (Docker's format, the keys Berth understands) merged with command-line flags, as dockerd does:
// unknown keys and keys given both ways are errors, so a typo never silently does nothing.
import * as fs from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';
import type { WindowsDrives } from '../../common/host/windows-paths';
import { invalidParameter } from '../errdefs';
import { type RootlessInfo, rootlessInfo } from '../rootless';

export interface AddressPool {
  base: string;
  size: number;
}

export interface DaemonConfig {
  hosts: string[];
  dataRoot: string;
  execRoot: string;
  configFile: string;
  pidfile: string;
  group: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  debug: boolean;
  tls: { verify: boolean; ca?: string; cert?: string; key?: string } | undefined;
  registryMirrors: string[];
  insecureRegistries: string[];
  logDriver: string;
  logOpts: Record<string, string>;
  defaultAddressPools: AddressPool[];
  bip?: string;
  /** icc: false cuts the default bridge's containers off from each other (its enable_icc option). */
  icc?: boolean;
  /** ip: the default bridge's host address for a -p without one (its host_binding_ipv4 option). */
  ip?: string;
  /** The default network's host bridge (dockerd's `bridge`); derived from the data root when unset. */
  bridge?: string;
  liveRestore: boolean;
  /** exec-opts: native.cgroupdriver=systemd|cgroupfs (runtime/platform.ts chooseCgroupDriver judges them). */
  execOpts: string[];
  /** runtimes: name → binary and its global flags, beside the built-in runc (and crun when installed). */
  runtimes: Record<string, { path: string; runtimeArgs?: string[] }>;
  /** default-runtime; unset: runc, or crun on a host that has no runc (RHEL 10). */
  defaultRuntime?: string;
  /** default-cgroupns-mode; unset: private on cgroup v2, host on v1 (Docker's defaults). */
  defaultCgroupnsMode?: 'private' | 'host';
  /** init: every container gets --init unless it says Init: false (dockerd's daemon-wide default). */
  init: boolean;
  /** seccomp-profile: a profile file's path, "unconfined" or "builtin"; unset: the built-in profile. */
  seccompProfile?: string;
  /** no-new-privileges: containers get no_new_privs unless they say no-new-privileges=false. */
  noNewPrivileges: boolean;
  /** Set when the engine runs rootless (inside the namespaces its parent made). */
  rootless?: RootlessInfo;
  /** Inside Berth's VM: the host supervisor's port service, "ADDR:PORT TOKEN" (env BERTH_VM_HOST_PORTS, set by the
   * guest's berthd.run from the VM's seed). Published ports then go through it. */
  vmHostPorts?: string;
  /** Inside Berth's WSL VM: where WSL mounts the Windows drives (env BERTH_WINDOWS_DRIVES, and BERTH_WSL_DISTRO for
   * \\wsl$\<distro>\…, passed by the wsl driver): host paths written the Windows way are translated. */
  windowsDrives?: WindowsDrives;
}

/** The keys of daemon.json that SIGHUP re-reads (as dockerd does for these). */
export const RELOADABLE = ['registry-mirrors', 'insecure-registries', 'debug'] as const;

const FILE_KEYS: Record<string, keyof DaemonConfig | 'tls-parts'> = {
  hosts: 'hosts',
  'data-root': 'dataRoot',
  'exec-root': 'execRoot',
  pidfile: 'pidfile',
  group: 'group',
  'log-level': 'logLevel',
  debug: 'debug',
  tls: 'tls-parts',
  tlsverify: 'tls-parts',
  tlscacert: 'tls-parts',
  tlscert: 'tls-parts',
  tlskey: 'tls-parts',
  'registry-mirrors': 'registryMirrors',
  'insecure-registries': 'insecureRegistries',
  'log-driver': 'logDriver',
  'log-opts': 'logOpts',
  'default-address-pools': 'defaultAddressPools',
  bip: 'bip',
  icc: 'icc',
  ip: 'ip',
  bridge: 'bridge',
  'live-restore': 'liveRestore',
  'exec-opts': 'execOpts',
  runtimes: 'runtimes',
  'default-runtime': 'defaultRuntime',
  'default-cgroupns-mode': 'defaultCgroupnsMode',
  init: 'init',
  'seccomp-profile': 'seccompProfile',
  'no-new-privileges': 'noNewPrivileges',
};

export interface FlagValues {
  host?: string[];
  dataRoot?: string;
  execRoot?: string;
  configFile?: string;
  pidfile?: string;
  group?: string;
  logLevel?: string;
  debug?: boolean;
  tls?: boolean;
  tlsverify?: boolean;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
  registryMirror?: string[];
  insecureRegistry?: string[];
  liveRestore?: boolean;
  execOpt?: string[];
  defaultRuntime?: string;
}

// Flag name (commander's camelCase) → daemon.json key, for the "specified both ways" check.
const FLAG_TO_FILE: Record<string, string> = {
  host: 'hosts',
  dataRoot: 'data-root',
  execRoot: 'exec-root',
  pidfile: 'pidfile',
  group: 'group',
  logLevel: 'log-level',
  debug: 'debug',
  tlsverify: 'tlsverify',
  tlscacert: 'tlscacert',
  tlscert: 'tlscert',
  tlskey: 'tlskey',
  registryMirror: 'registry-mirrors',
  insecureRegistry: 'insecure-registries',
  liveRestore: 'live-restore',
  execOpt: 'exec-opts',
  defaultRuntime: 'default-runtime',
};

/** A user's data or config home as rootless dockerd finds it (moby's homedir.GetDataHome/GetConfigHome): the XDG
 * variable when it is an absolute path (the XDG spec ignores relative ones), else under $HOME. */
function xdgHome(variable: 'XDG_DATA_HOME' | 'XDG_CONFIG_HOME', underHome: string): string {
  const set = process.env[variable];
  return set && path.isAbsolute(set) ? set : path.join(process.env.HOME ?? '/tmp', underHome);
}

export function defaults(rootless = rootlessInfo()): DaemonConfig {
  // Root inside a rootless engine's user namespace is still the user: the user's paths.
  const root = process.getuid?.() === 0 && !rootless;
  const runtimeDir = process.env.XDG_RUNTIME_DIR ?? `/tmp/berth-${process.getuid?.() ?? 'user'}`;
  return {
    hosts: [root ? 'unix:///run/berth/berth.sock' : `unix://${runtimeDir}/berth/berth.sock`],
    dataRoot: root ? '/var/lib/berth' : path.join(xdgHome('XDG_DATA_HOME', '.local/share'), 'berth'),
    execRoot: root ? '/run/berth' : path.join(runtimeDir, 'berth'),
    configFile: root ? '/etc/berth/daemon.json' : path.join(xdgHome('XDG_CONFIG_HOME', '.config'), 'berth/daemon.json'),
    pidfile: '',
    group: 'berth',
    logLevel: 'info',
    debug: false,
    tls: undefined,
    registryMirrors: [],
    insecureRegistries: [],
    logDriver: 'json-file',
    logOpts: {},
    defaultAddressPools: [],
    liveRestore: true,
    execOpts: [],
    runtimes: {},
    init: false,
    noNewPrivileges: false,
    rootless,
    vmHostPorts: process.env.BERTH_VM_HOST_PORTS || undefined,
    windowsDrives: process.env.BERTH_WINDOWS_DRIVES
      ? { root: process.env.BERTH_WINDOWS_DRIVES, distro: process.env.BERTH_WSL_DISTRO || undefined }
      : undefined,
  };
}

/** Reads daemon.json; a missing file at the default path is fine, a missing file that was asked for is not. */
export function readConfigFile(file: string, required: boolean): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err: any) {
    if (err.code === 'ENOENT' && !required) return {};
    throw invalidParameter(`unable to configure the Berth daemon with file ${file}: ${err.message}`);
  }
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err: any) {
    throw invalidParameter(`unable to configure the Berth daemon with file ${file}: ${err.message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidParameter(`unable to configure the Berth daemon with file ${file}: not a JSON object`);
  }
  const unknown = Object.keys(parsed).filter((k) => !(k in FILE_KEYS));
  if (unknown.length) {
    throw invalidParameter(`the following directives don't match any configuration option: ${unknown.join(', ')}`);
  }
  return parsed as Record<string, unknown>;
}

function strings(key: string, v: unknown): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw invalidParameter(`${key} must be a list of strings`);
  return v as string[];
}

/** Applies daemon.json keys onto a config (used at start and, for RELOADABLE keys, on SIGHUP). */
export function applyFileKeys(
  cfg: DaemonConfig,
  file: Record<string, unknown>,
  only?: readonly string[],
): DaemonConfig {
  const out: DaemonConfig = { ...cfg };
  for (const [key, value] of Object.entries(file)) {
    if (only && !only.includes(key)) continue;
    switch (key) {
      case 'hosts':
        out.hosts = strings(key, value);
        break;
      case 'data-root':
        out.dataRoot = String(value);
        break;
      case 'exec-root':
        out.execRoot = String(value);
        break;
      case 'pidfile':
        out.pidfile = String(value);
        break;
      case 'group':
        out.group = String(value);
        break;
      case 'log-level':
        out.logLevel = checkLevel(String(value));
        break;
      case 'debug':
        out.debug = value === true;
        break;
      case 'registry-mirrors':
        out.registryMirrors = strings(key, value).map(normalizeMirror);
        break;
      case 'insecure-registries':
        out.insecureRegistries = strings(key, value);
        break;
      case 'log-driver':
        if (value !== 'json-file' && value !== 'none') throw invalidParameter(`log driver not supported: ${value}`);
        out.logDriver = value;
        break;
      case 'log-opts': {
        if (typeof value !== 'object' || value === null) throw invalidParameter('log-opts must be an object');
        out.logOpts = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
        break;
      }
      case 'default-address-pools': {
        if (!Array.isArray(value)) throw invalidParameter('default-address-pools must be a list');
        out.defaultAddressPools = value.map((p: any) => {
          if (typeof p?.base !== 'string' || typeof p?.size !== 'number')
            throw invalidParameter('default-address-pools entries need base and size');
          return { base: p.base, size: p.size };
        });
        break;
      }
      case 'bip':
        out.bip = String(value);
        break;
      case 'bridge':
        out.bridge = String(value);
        break;
      case 'icc':
        if (typeof value !== 'boolean') throw invalidParameter('icc must be true or false');
        out.icc = value;
        break;
      case 'ip':
        if (typeof value !== 'string' || !isIP(value)) throw invalidParameter(`invalid ip address: ${String(value)}`);
        out.ip = value;
        break;
      case 'live-restore':
        out.liveRestore = value === true;
        break;
      case 'exec-opts':
        out.execOpts = strings(key, value);
        break;
      case 'runtimes':
        out.runtimes = parseRuntimes(value);
        break;
      case 'default-runtime':
        if (typeof value !== 'string' || !value) throw invalidParameter('default-runtime must be a runtime name');
        out.defaultRuntime = value;
        break;
      case 'default-cgroupns-mode':
        if (value !== 'private' && value !== 'host')
          throw invalidParameter(
            `default cgroup namespace mode (${value}) is invalid; can only be 'private' or 'host'`,
          );
        out.defaultCgroupnsMode = value;
        break;
      case 'init':
        if (typeof value !== 'boolean') throw invalidParameter('init must be true or false');
        out.init = value;
        break;
      case 'seccomp-profile':
        if (typeof value !== 'string')
          throw invalidParameter('seccomp-profile must be a path, "unconfined" or "builtin"');
        out.seccompProfile = value || undefined;
        break;
      case 'no-new-privileges':
        if (typeof value !== 'boolean') throw invalidParameter('no-new-privileges must be true or false');
        out.noNewPrivileges = value;
        break;
      case 'tls':
      case 'tlsverify':
      case 'tlscacert':
      case 'tlscert':
      case 'tlskey': {
        const tls = out.tls ?? { verify: false };
        if (key === 'tlsverify') tls.verify = value === true;
        if (key === 'tlscacert') tls.ca = String(value);
        if (key === 'tlscert') tls.cert = String(value);
        if (key === 'tlskey') tls.key = String(value);
        out.tls = tls;
        break;
      }
    }
  }
  return out;
}

/** daemon.json `runtimes` as dockerd reads it: {"crun": {"path": "/usr/bin/crun", "runtimeArgs": [...]}}. */
function parseRuntimes(value: unknown): DaemonConfig['runtimes'] {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalidParameter('runtimes must be an object');
  const out: DaemonConfig['runtimes'] = {};
  for (const [name, r] of Object.entries(value as Record<string, any>)) {
    if (name === 'runc') throw invalidParameter(`runtime name 'runc' is reserved`);
    if (typeof r?.path !== 'string' || !r.path) throw invalidParameter(`runtime ${name}: path is required`);
    const args = r.runtimeArgs === undefined ? undefined : strings(`runtimes.${name}.runtimeArgs`, r.runtimeArgs);
    out[name] = { path: r.path, ...(args ? { runtimeArgs: args } : {}) };
  }
  return out;
}

function checkLevel(level: string): DaemonConfig['logLevel'] {
  if (!['debug', 'info', 'warn', 'error', 'fatal'].includes(level))
    throw invalidParameter(`unable to parse logging level: ${level}`);
  return level as DaemonConfig['logLevel'];
}

export function normalizeMirror(m: string): string {
  let u: URL;
  try {
    u = new URL(m);
  } catch {
    throw invalidParameter(`invalid mirror: "${m}" is not a valid URI`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw invalidParameter(`invalid mirror: unsupported scheme "${u.protocol.replace(':', '')}" in "${m}"`);
  if (u.pathname !== '/' && u.pathname !== '')
    throw invalidParameter(`invalid mirror: path, query, or fragment at end of the URI "${m}"`);
  return `${u.protocol}//${u.host}/`;
}

/** Flags win over defaults; a key in both flags and the file is an error, like dockerd. */
export function resolveConfig(flags: FlagValues, explicitConfigFile: boolean): DaemonConfig {
  let cfg = defaults();
  if (flags.configFile) cfg.configFile = flags.configFile;
  const file = readConfigFile(cfg.configFile, explicitConfigFile);
  const both = Object.entries(FLAG_TO_FILE)
    .filter(([flag, key]) => (flags as any)[flag] !== undefined && key in file)
    .map(([, key]) => key);
  if (both.length) {
    throw invalidParameter(
      `the following directives are specified both as a flag and in the configuration file: ${both.join(', ')}`,
    );
  }
  cfg = applyFileKeys(cfg, file);
  if (flags.host?.length) cfg.hosts = flags.host;
  if (flags.dataRoot) cfg.dataRoot = flags.dataRoot;
  if (flags.execRoot) cfg.execRoot = flags.execRoot;
  if (flags.pidfile) cfg.pidfile = flags.pidfile;
  if (flags.group) cfg.group = flags.group;
  if (flags.logLevel) cfg.logLevel = checkLevel(flags.logLevel);
  if (flags.debug) cfg.debug = true;
  if (flags.registryMirror?.length) cfg.registryMirrors = flags.registryMirror.map(normalizeMirror);
  if (flags.insecureRegistry?.length) cfg.insecureRegistries = flags.insecureRegistry;
  if (flags.liveRestore !== undefined) cfg.liveRestore = flags.liveRestore;
  if (flags.execOpt?.length) cfg.execOpts = flags.execOpt;
  if (flags.defaultRuntime) cfg.defaultRuntime = flags.defaultRuntime;
  if (flags.tls || flags.tlsverify || flags.tlscert || flags.tlskey || flags.tlscacert) {
    cfg.tls = {
      verify: !!flags.tlsverify,
      ca: flags.tlscacert ?? cfg.tls?.ca,
      cert: flags.tlscert ?? cfg.tls?.cert,
      key: flags.tlskey ?? cfg.tls?.key,
    };
  }
  if (cfg.debug) cfg.logLevel = 'debug';
  // A rootless engine's containers live in namespaces that end with it: a restarted engine could not find them.
  if (cfg.rootless && cfg.liveRestore) {
    if (flags.liveRestore || file['live-restore'] === true)
      throw invalidParameter('live-restore is not supported when the engine runs rootless');
    cfg.liveRestore = false;
  }
  cfg.dataRoot = path.resolve(cfg.dataRoot);
  cfg.execRoot = path.resolve(cfg.execRoot);
  return cfg;
}
