// Runs CNI plugins per the CNI spec (1.0.0, or the newest version the installed plugins speak — RHEL 8's speak
// up to 0.4.0; see negotiateCniVersion): environment CNI_COMMAND/CNI_CONTAINERID/CNI_NETNS/CNI_IFNAME/
// CNI_PATH, the network configuration on stdin, the result (or an error object) on stdout; a conflist is
// executed as a chain, ADD in order with each plugin's result as the next one's prevResult, DEL in reverse
// with the cached ADD result as prevResult.
//
// Why CNI plugins rather than hand-written netlink and iptables code: Debian's containernetworking-plugins are
// the reference implementations, well kept, packaged on every distribution we target, and what podman
// uses; bridge + host-local + portmap cover veths, IPAM and publishing. NAT, forwarding and isolation are one
// set of rules per network (host.ts): the plugins' per-container rules cost ~70 ms of iptables per container.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { system, unavailable } from '../errdefs';
import { log } from '../log';

export const CNI_VERSION = '1.0.0';
/** The spec versions this runner can speak, newest first: their results share one shape (interfaces, ips). */
export const SUPPORTED_CNI_VERSIONS = ['1.0.0', '0.4.0', '0.3.1', '0.3.0'];
/** The plugins Berth runs: each must speak the version chosen. */
export const CNI_PLUGINS = ['bridge', 'host-local', 'portmap', 'firewall', 'loopback'];

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
}
export interface CniIp {
  interface?: number;
  address: string;
  gateway?: string;
}
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIp[];
  routes?: { dst: string; gw?: string }[];
  dns?: unknown;
}

export interface CniConflist {
  cniVersion: string;
  name: string;
  plugins: Record<string, unknown>[];
}

export interface CniCall {
  containerId: string;
  netns: string;
  ifName: string;
  /** Runtime parameters for plugins that declare the capability (portMappings for portmap). */
  runtimeConfig?: Record<string, unknown>;
}

const SEARCH = ['/usr/lib/cni', '/usr/libexec/cni', '/opt/cni/bin', '/usr/local/lib/cni'];

export const CNI_INSTALL_HINT =
  'the CNI plugins were not found. Install them with: apt-get install containernetworking-plugins (Debian/Ubuntu) or dnf install containernetworking-plugins (Fedora/RHEL)';

let binDir: string | null | undefined;

/** The directory holding the plugins (BERTH_CNI_PATH overrides), or undefined when they are not installed. */
export function cniBinDir(): string | undefined {
  if (binDir !== undefined) return binDir ?? undefined;
  const candidates = [process.env.BERTH_CNI_PATH, ...SEARCH].filter(Boolean) as string[];
  binDir = candidates.find((d) => CNI_PLUGINS.every((p) => fs.existsSync(path.join(d, p)))) ?? null;
  return binDir ?? undefined;
}

/** The newest version we and every plugin support (each plugin's supportedVersions), or undefined. */
export function pickCniVersion(supportedByPlugin: string[][]): string | undefined {
  return SUPPORTED_CNI_VERSIONS.find((v) => supportedByPlugin.every((list) => list.includes(v)));
}

/**
 * Asks each plugin which spec versions it speaks (CNI_COMMAND=VERSION) and picks the newest common one, as
 * libcni's version negotiation does, instead of assuming 1.0.0 (plugins before 1.0 refuse it).
 */
export async function negotiateCniVersion(dir: string, plugins = CNI_PLUGINS): Promise<string> {
  const lists: string[][] = [];
  for (const p of plugins) {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(path.join(dir, p), [], {
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: 'VERSION' },
        stdio: ['pipe', 'pipe', 'ignore'],
      });
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      child.on('error', reject);
      child.on('close', () => resolve(text));
      // Plugins may answer VERSION without reading stdin and exit: the write then fails with EPIPE.
      child.stdin.on('error', () => {});
      child.stdin.end(JSON.stringify({ cniVersion: CNI_VERSION }));
    });
    let supported: string[] = [];
    try {
      supported = JSON.parse(out).supportedVersions ?? [];
    } catch {
      /* no answer: nothing in common */
    }
    lists.push(supported);
  }
  const picked = pickCniVersion(lists);
  if (!picked)
    throw unavailable(
      `the CNI plugins in ${dir} speak none of the spec versions ${SUPPORTED_CNI_VERSIONS.join(', ')}: ${CNI_INSTALL_HINT}`,
    );
  return picked;
}

let negotiated: Promise<string> | undefined;
/** The version spoken with this host's plugins (negotiated once). */
export function cniVersion(): Promise<string> {
  const dir = cniBinDir();
  if (!dir) return Promise.reject(unavailable(CNI_INSTALL_HINT));
  negotiated ??= negotiateCniVersion(dir).catch((err) => {
    negotiated = undefined;
    throw err;
  });
  return negotiated;
}

export class CniError extends Error {
  constructor(
    readonly plugin: string,
    readonly code: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

async function execPlugin(
  type: string,
  command: 'ADD' | 'DEL' | 'CHECK',
  call: CniCall,
  conf: Record<string, unknown>,
): Promise<CniResult | undefined> {
  const dir = cniBinDir();
  if (!dir) throw unavailable(CNI_INSTALL_HINT);
  // Conflists are written with CNI_VERSION; what the plugins get is the negotiated version, results included.
  const version = await cniVersion();
  if (conf.cniVersion !== version) {
    conf = { ...conf, cniVersion: version };
    if (conf.prevResult) conf.prevResult = { ...(conf.prevResult as CniResult), cniVersion: version };
  }
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: call.containerId,
    CNI_NETNS: call.netns,
    CNI_IFNAME: call.ifName,
    CNI_PATH: dir,
  };
  const t0 = performance.now();
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(path.join(dir, type), [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
      child.stdin.end(JSON.stringify(conf));
    },
  );
  // Debug log: each plugin run's cost (scripts/bench/run-breakdown.ts reads these lines).
  if (log.isDebug())
    log.debug(`cni ${type} ${command}`, {
      container: call.containerId.slice(0, 12),
      ms: Math.round(performance.now() - t0),
    });
  if (code !== 0) {
    let msg = stderr.trim() || `exit status ${code}`;
    let errCode: number | undefined;
    try {
      const e = JSON.parse(stdout);
      errCode = e.code;
      msg = [e.msg, e.details].filter(Boolean).join('; ');
    } catch {
      /* not JSON */
    }
    throw new CniError(type, errCode, `plugin type="${type}" failed (${command.toLowerCase()}): ${msg}`);
  }
  if (command !== 'ADD') return undefined;
  try {
    return JSON.parse(stdout) as CniResult;
  } catch {
    throw new CniError(type, undefined, `plugin type="${type}" returned no valid result: ${stdout.slice(0, 200)}`);
  }
}

function pluginConf(
  list: CniConflist,
  plugin: Record<string, unknown>,
  call: CniCall,
  prevResult?: CniResult,
): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, cniVersion: list.cniVersion, name: list.name };
  const caps = plugin.capabilities as Record<string, boolean> | undefined;
  if (caps && call.runtimeConfig) {
    const rc = Object.fromEntries(Object.entries(call.runtimeConfig).filter(([k]) => caps[k]));
    if (Object.keys(rc).length) conf.runtimeConfig = rc;
  }
  if (prevResult) conf.prevResult = prevResult;
  return conf;
}

/** ADD through the chain; on failure the partial chain is deleted again so nothing is half-made. */
export async function addNetworkList(list: CniConflist, call: CniCall): Promise<CniResult> {
  let prev: CniResult | undefined;
  try {
    for (const p of list.plugins) prev = await execPlugin(String(p.type), 'ADD', call, pluginConf(list, p, call, prev));
  } catch (err) {
    await delNetworkList(list, call, prev).catch(() => {});
    throw err;
  }
  if (!prev) throw system(`network ${list.name} has no plugins`);
  return prev;
}

/** DEL through the chain in reverse; every plugin runs even if one fails, and the first failure is thrown. */
export async function delNetworkList(list: CniConflist, call: CniCall, cached?: CniResult): Promise<void> {
  let first: unknown;
  for (const p of [...list.plugins].reverse()) {
    try {
      await execPlugin(String(p.type), 'DEL', call, pluginConf(list, p, call, cached));
    } catch (err) {
      first ??= err;
    }
  }
  if (first) throw first;
}

/**
 * ADD of the list's plugins of one type again, on the stored result: portmap's DNAT chains after a firewall flushed
 * the host's tables (its ADD only inserts the rules that are missing, so a second ADD changes nothing).
 */
export async function readdPlugin(list: CniConflist, type: string, call: CniCall, cached: CniResult): Promise<void> {
  for (const p of list.plugins)
    if (p.type === type) await execPlugin(type, 'ADD', call, pluginConf(list, p, call, cached));
}

export async function checkNetworkList(list: CniConflist, call: CniCall, cached: CniResult): Promise<void> {
  if (['0.3.0', '0.3.1'].includes(await cniVersion())) return; // CHECK came with 0.4.0
  for (const p of list.plugins) await execPlugin(String(p.type), 'CHECK', call, pluginConf(list, p, call, cached));
}
