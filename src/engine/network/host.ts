// The host side the CNI plugins leave to their caller: bridges (created lazily by the bridge plugin, removed
// here when their network's last endpoint goes), pinned network namespaces, each network's NAT, forwarding and
// isolation rules, the CNI chains older endpoints left (which no plugin removes), a host-wide lock and subnet
// claims shared by every berthd on the machine (tests run several at once).
import { AsyncLocalStorage } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { log } from '../log';
import { processAlive } from '../util/fsx';
import { firewalld } from './firewalld';
import { type Cidr, type Cidr6, parseCidr, parseCidr6 } from './subnets';

const run = promisify(execFile);

export async function sh(cmd: string, args: string[], input?: string): Promise<string> {
  if (input === undefined) {
    const { stdout } = await run(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
    return stdout;
  }
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`));
      else resolve(stdout);
    });
    // A command that exits without reading its input (a refused option) must not turn into an EPIPE error.
    child.stdin!.on('error', () => {});
    child.stdin!.end(input);
  });
}

// ---- host-wide coordination between berthd instances ----

// Shared by all engines of one user; root engines (the only ones that can do bridge networking) use /run.
export const HOST_STATE_DIR =
  process.env.BERTH_NETWORK_HOST_DIR ??
  (process.getuid?.() === 0 ? '/run/berth-network' : path.join(os.tmpdir(), `berth-network-${process.getuid?.()}`));

// Marks code running under the lock, so nested calls in the same async flow do not wait for themselves.
const holding = new AsyncLocalStorage<boolean>();

let inProcess: Promise<unknown> = Promise.resolve();

/**
 * Runs `fn` holding a lock shared by every berthd on this host: subnet choice and the shared iptables chains
 * are host-wide, and two engines must not interleave there. A holder that died is detected by its pid.
 */
export function withHostLock<T>(fn: () => Promise<T>): Promise<T> {
  if (holding.getStore()) return fn();
  // Engines in one process (tests) queue here; engines in other processes meet at the lock file.
  const run = () => holdFileLock(() => holding.run(true, fn));
  const p = inProcess.then(run, run);
  inProcess = p.catch(() => {});
  return p;
}

async function holdFileLock<T>(fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(HOST_STATE_DIR, { recursive: true, mode: 0o700 });
  const file = path.join(HOST_STATE_DIR, 'lock');
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      break;
    } catch (err: any) {
      if (err.code !== 'EEXIST') throw err;
      let holder = 0;
      try {
        holder = Number(fs.readFileSync(file, 'utf8'));
      } catch {
        /* just released */
      }
      if ((holder && !processAlive(holder)) || Date.now() > deadline) {
        if (Date.now() > deadline) log.warn('breaking a host network lock held too long', { holder });
        fs.rmSync(file, { force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 20));
    }
  }
  try {
    return await fn();
  } finally {
    try {
      if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.rmSync(file);
    } catch {
      /* gone */
    }
  }
}

export interface SubnetClaim {
  subnet: string;
  dataRoot: string;
  networkId: string;
}

const claimsDir = () => path.join(HOST_STATE_DIR, 'subnets');
const claimFile = (dir: string, subnet: string) => path.join(dir, subnet.replace('/', '_'));

/**
 * Claims other engines on this host hold, read under the host lock. Every berthd on the machine shares this
 * folder, whatever its version, so whatever is there that this one does not understand (another format, a
 * half-written file, a family it has no use for) is skipped and left alone: it is someone else's. A claim whose
 * network record is gone (the engine's data root was deleted, or the network removed while the claim's owner
 * crashed) is dropped.
 */
export function readClaims(dir = claimsDir()): SubnetClaim[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: SubnetClaim[] = [];
  for (const n of names) {
    if (n.startsWith('.')) continue; // a claim being written (writeClaim)
    const f = path.join(dir, n);
    let c: Partial<SubnetClaim>;
    try {
      c = JSON.parse(fs.readFileSync(f, 'utf8'));
    } catch {
      continue;
    }
    if (!c || typeof c.subnet !== 'string' || typeof c.dataRoot !== 'string' || typeof c.networkId !== 'string')
      continue;
    const records = path.join(c.dataRoot, 'network', 'networks');
    if (fs.existsSync(path.join(records, `${c.networkId}.json`))) out.push(c as SubnetClaim);
    else if (!fs.existsSync(c.dataRoot) || fs.existsSync(records)) fs.rmSync(f, { force: true });
  }
  return out;
}

/** The IPv4 subnets engines other than the one at `dataRoot` claim (IPv6 claims do not meet IPv4 pools). */
export function claimedByOthers(dataRoot: string, dir = claimsDir()): Cidr[] {
  const out: Cidr[] = [];
  for (const c of readClaims(dir)) {
    const cidr = c.dataRoot !== dataRoot ? parseCidr(c.subnet) : undefined;
    if (cidr) out.push(cidr);
  }
  return out;
}

/** The IPv6 subnets engines other than the one at `dataRoot` claim. */
export function claimed6ByOthers(dataRoot: string, dir = claimsDir()): Cidr6[] {
  const out: Cidr6[] = [];
  for (const c of readClaims(dir)) {
    const cidr = c.dataRoot !== dataRoot && c.subnet.includes(':') ? parseCidr6(c.subnet) : undefined;
    if (cidr) out.push(cidr);
  }
  return out;
}

export function writeClaim(c: SubnetClaim, dir = claimsDir()): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Written aside and renamed, so that a reader never sees half a claim.
  const tmp = path.join(dir, `.${process.pid}-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(tmp, JSON.stringify(c));
  fs.renameSync(tmp, claimFile(dir, c.subnet));
}

export function dropClaim(subnet: string, dataRoot: string, dir = claimsDir()): void {
  try {
    const c = JSON.parse(fs.readFileSync(claimFile(dir, subnet), 'utf8')) as SubnetClaim;
    if (c.dataRoot === dataRoot) fs.rmSync(claimFile(dir, subnet), { force: true });
  } catch {
    /* not claimed */
  }
}

// ---- links, routes, namespaces ----

/**
 * The IPv4 routes of the main table. From /proc/net/route (the same table, no process: the default bridge's
 * subnet is checked against them whenever its first container starts); from ip where procfs does not answer.
 */
export async function hostRoutes(): Promise<{ dst: string; dev?: string }[]> {
  let text: string | undefined;
  try {
    text = await fs.promises.readFile('/proc/net/route', 'utf8');
  } catch {
    return ipRoutes();
  }
  return parseProcRoutes(text);
}

/** /proc/net/route (little-endian hex addresses and masks; '*' for a route without a device, e.g. blackhole). */
export function parseProcRoutes(text: string): { dst: string; dev?: string }[] {
  const hexIp = (h: string) => {
    const n = Number.parseInt(h, 16);
    return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
  };
  const routes: { dst: string; dev?: string }[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const mask = Number.parseInt(f[7], 16);
    const prefix = mask.toString(2).replace(/0/g, '').length;
    const dst = prefix === 0 && Number.parseInt(f[1], 16) === 0 ? 'default' : `${hexIp(f[1])}/${prefix}`;
    routes.push({ dst, ...(f[0] !== '*' ? { dev: f[0] } : {}) });
  }
  return routes;
}

/** The main table through iproute2. */
export async function ipRoutes(): Promise<{ dst: string; dev?: string }[]> {
  try {
    return JSON.parse(await sh('ip', ['-j', '-4', 'route', 'show', 'table', 'main']));
  } catch (err: any) {
    // iproute2 before 4.13 (CentOS 7's) has no -j: read the text form rather than pick subnets blind.
    try {
      return parseRouteText(await sh('ip', ['-4', 'route', 'show', 'table', 'main']));
    } catch {
      log.warn('cannot read host routes', { error: err.message });
      return [];
    }
  }
}

/** `ip route` text ("10.0.2.0/24 dev eth0 proto kernel …", "default via …", "blackhole 10.9.0.0/16") as -j gives it. */
export function parseRouteText(text: string): { dst: string; dev?: string }[] {
  const routes: { dst: string; dev?: string }[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (!words[0]) continue;
    if (['unicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'local', 'broadcast'].includes(words[0])) {
      words.shift();
    }
    const dev = words.indexOf('dev');
    routes.push({ dst: words[0], ...(dev > 0 && words[dev + 1] ? { dev: words[dev + 1] } : {}) });
  }
  return routes;
}

export function linkExists(name: string): boolean {
  return fs.existsSync(`/sys/class/net/${name}`);
}

/** Deletes a bridge we made, unless something is still plugged into it. */
export async function removeBridge(name: string): Promise<void> {
  if (!linkExists(name)) return;
  let ports: string[] = [];
  try {
    ports = fs.readdirSync(`/sys/class/net/${name}/brif`);
  } catch {
    /* not a bridge */
  }
  if (ports.length) {
    log.warn('bridge still has ports; leaving it', { bridge: name, ports: ports.join(',') });
    return;
  }
  await sh('ip', ['link', 'del', name]).catch((err) =>
    log.warn('cannot delete bridge', { bridge: name, error: err.message }),
  );
}

const NETNS_DIR = '/run/netns';

/** native/berth-netns.c, next to the bundle (BERTH_NETNS_HELPER: another build's, for tests running the sources). */
const netnsHelper = () => process.env.BERTH_NETNS_HELPER ?? path.join(__dirname, 'bin', 'berth-netns');

/**
 * A pinned network namespace (as `ip netns add`), so it outlives the container's processes until we DEL, with its
 * lo up: one process (berth-netns) on every bridged container's start instead of ip's two.
 */
export async function createNetns(name: string): Promise<string> {
  const nsPath = path.join(NETNS_DIR, name);
  const helper = netnsHelper();
  if (fs.existsSync(helper)) {
    await sh(helper, [nsPath]);
    return nsPath;
  }
  // The sources run without a build (unit tests): iproute2's two steps.
  await sh('ip', ['netns', 'add', name]);
  await loopbackUp(nsPath);
  return nsPath;
}

/**
 * Brings up `lo` in a network namespace, as runc does for namespaces it creates: with ip, not the CNI loopback
 * plugin, a Go binary: ~10 ms a run here against ip's ~4, and 0.2-0.4 s against ~0.04 in an emulated VM guest.
 */
export async function loopbackUp(nsPath: string): Promise<void> {
  if (path.dirname(nsPath) === NETNS_DIR) await sh('ip', ['-n', path.basename(nsPath), 'link', 'set', 'lo', 'up']);
  else await sh('nsenter', [`--net=${nsPath}`, 'ip', 'link', 'set', 'lo', 'up']);
}

export async function deleteNetns(nsPath: string): Promise<void> {
  if (!nsPath.startsWith(NETNS_DIR + '/')) return;
  if (!fs.existsSync(nsPath)) return;
  await sh('ip', ['netns', 'del', path.basename(nsPath)]).catch((err) =>
    log.warn('cannot delete netns', { netns: nsPath, error: err.message }),
  );
}

/** Whether a netns path still names a namespace (a pinned file, or a live process's /proc/PID/ns/net). */
export function netnsAlive(nsPath: string): boolean {
  return fs.existsSync(nsPath);
}

/** --link-local-ip: addresses of 169.254.0.0/16 or fe80::/64 added to a container's interface, in one `ip` run. */
export async function addLinkLocalIps(netnsPath: string, ifName: string, ips: string[]): Promise<void> {
  const lines = ips.map((ip) => `addr add ${ip}/${ip.includes(':') ? 64 : 16} dev ${ifName}`);
  await sh('nsenter', [`--net=${netnsPath}`, 'ip', '-batch', '-'], lines.join('\n') + '\n');
}

// ---- the embedded DNS server's address inside a container ----

export const EMBEDDED_DNS = '127.0.0.11';
/** The first port at which the embedded DNS server reaches a container's loopback --dns servers (installDnsRedirect). */
export const LOOPBACK_DNS_PORT = 53053;

/**
 * Points a container namespace's 127.0.0.11:53 at the embedded DNS server on `target` (a gateway address:53), or
 * at nothing (''), in one process run inside the namespace: NAT in its own chains (the container's own rules are
 * left alone), route_localnet so a 127/8-sourced packet may leave by eth0 to be masqueraded, and — because
 * route_localnet would also let the bridge reach the container's loopback services — a raw-table drop of 127/8
 * arriving anywhere but lo (as kube-proxy does for the same setting). `first`: the jumps into the chains are
 * added too.
 */
export async function installDnsRedirect(
  netnsPath: string,
  target: string,
  first: boolean,
  loopbackDns: string[] = [],
): Promise<void> {
  const nat = [':BERTH-DNS-OUTPUT - [0:0]', ':BERTH-DNS-POSTROUTING - [0:0]', ':BERTH-DNS-LOOPBACK - [0:0]'];
  // A --dns server on the container's loopback: the embedded server (on `target`) asks it at the container's
  // address, port LOOPBACK_DNS_PORT + its index, turned here into that loopback address's port 53 (route_localnet
  // lets it in), so the query is answered from the container's own namespace as moby's resolver does.
  if (target)
    loopbackDns.forEach((ns, i) => {
      for (const proto of ['udp', 'tcp'])
        nat.push(
          `-A BERTH-DNS-LOOPBACK -s ${target}/32 -p ${proto} --dport ${LOOPBACK_DNS_PORT + i} -j DNAT --to-destination ${ns}:53`,
        );
    });
  if (target) {
    for (const proto of ['udp', 'tcp'])
      nat.push(
        `-A BERTH-DNS-OUTPUT -d ${EMBEDDED_DNS}/32 -p ${proto} --dport 53 -j DNAT --to-destination ${target}:53`,
        `-A BERTH-DNS-POSTROUTING -s 127.0.0.0/8 -d ${target}/32 -p ${proto} --dport 53 -j MASQUERADE`,
      );
  }
  const raw = [':BERTH-DNS-PREROUTING - [0:0]', '-A BERTH-DNS-PREROUTING -d 127.0.0.0/8 ! -i lo -j DROP'];
  if (first) {
    nat.push(
      `-A OUTPUT -d ${EMBEDDED_DNS}/32 -j BERTH-DNS-OUTPUT`,
      '-A POSTROUTING -s 127.0.0.0/8 -j BERTH-DNS-POSTROUTING',
      '-A PREROUTING -j BERTH-DNS-LOOPBACK',
    );
    raw.push('-A PREROUTING -j BERTH-DNS-PREROUTING');
  }
  const rules = `*nat\n${nat.join('\n')}\nCOMMIT\n*raw\n${raw.join('\n')}\nCOMMIT\n`;
  await sh(
    'nsenter',
    [
      `--net=${netnsPath}`,
      'sh',
      '-c',
      `echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet && exec iptables-restore --noflush ${(await restoreWait()).join(' ')}`,
    ],
    rules,
  );
}

// ---- iptables ----

/**
 * iptables-restore's `-w 5` (wait for the xtables lock) where it has it: before iptables 1.6.2 (CentOS 7's
 * 1.4.21) it refuses the option, so it is probed (an empty, tested-only restore), not assumed. The host lock
 * serialises Berth's own engines either way.
 */
export function probeRestoreWait(bin = 'iptables-restore'): Promise<string[]> {
  return sh(bin, ['--test', '-w', '5'], '*filter\nCOMMIT\n').then(
    () => ['-w', '5'],
    () => [],
  );
}
let restoreWaitArgs: Promise<string[]> | undefined;
const restoreWait = () => (restoreWaitArgs ??= probeRestoreWait());

interface Table {
  chains: Set<string>;
  rules: string[];
}

async function saveTable(table: 'nat' | 'filter'): Promise<Table> {
  const text = await sh('iptables-save', ['-t', table]);
  const chains = new Set<string>();
  const rules: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) chains.add(line.slice(1).split(' ')[0]);
    else if (line.startsWith('-A ')) rules.push(line);
  }
  return { chains, rules };
}

/** A table's rules as iptables-save prints them ('' when iptables is missing). */
export async function iptablesRules(table: 'nat' | 'filter'): Promise<string> {
  return sh('iptables-save', ['-t', table]).catch(() => '');
}

async function restore(table: 'nat' | 'filter', commands: string[]): Promise<void> {
  if (!commands.length) return;
  await sh('iptables-restore', ['--noflush', ...(await restoreWait())], `*${table}\n${commands.join('\n')}\nCOMMIT\n`);
}

/** Both tables from one iptables-save run. */
async function saveNatAndFilter(): Promise<{ nat: Table; filter: Table }> {
  const text = await sh('iptables-save', []);
  const tables: Record<string, Table> = {
    nat: { chains: new Set(), rules: [] },
    filter: { chains: new Set(), rules: [] },
  };
  let cur: Table | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) cur = tables[line.slice(1).trim()];
    else if (!cur) continue;
    else if (line.startsWith(':')) cur.chains.add(line.slice(1).split(' ')[0]);
    else if (line.startsWith('-A ')) cur.rules.push(line);
  }
  return { nat: tables.nat, filter: tables.filter };
}

/** Both tables in one atomic iptables-restore run. */
async function restoreNatAndFilter(nat: string[], filter: string[]): Promise<void> {
  if (!nat.length && !filter.length) return;
  const section = (table: string, cmds: string[]) => (cmds.length ? `*${table}\n${cmds.join('\n')}\nCOMMIT\n` : '');
  await sh(
    'iptables-restore',
    ['--noflush', ...(await restoreWait())],
    section('nat', nat) + section('filter', filter),
  );
}

const FORWARD_CHAIN = 'BERTH-FORWARD';
const ISOLATION_1 = 'BERTH-ISOLATION-STAGE-1';
const ISOLATION_2 = 'BERTH-ISOLATION-STAGE-2';
const bridgeTag = (bridge: string) => `"berth ${bridge}"`;

/** What one bridge network's rules are made from (ensureBridgeRules). */
export interface BridgeRuleSet {
  bridge: string;
  subnet: string;
  /** MASQUERADE for traffic leaving the subnet (not for --internal or enable_ip_masquerade=false). */
  masquerade: boolean;
  /** --internal: nothing in or out of the subnet. */
  internal: boolean;
  /** Where the embedded DNS server listens (a user-defined network's gateway): INPUT accepts port 53 there. */
  dnsAddress?: string;
  /** enable_icc: containers of the network may reach each other. */
  icc: boolean;
}

/**
 * Docker's rules for one bridge network, instead of the CNI firewall plugin's per-container ones and the bridge
 * plugin's NAT chain per container (those two plugin runs spent ~70 ms in iptables for every container):
 *   nat     POSTROUTING -s <subnet> ! -o <bridge> -j MASQUERADE                  (unless internal or turned off)
 *   filter  BERTH-ISOLATION-STAGE-1 -i <bridge> ! -o <bridge> -j BERTH-ISOLATION-STAGE-2
 *           BERTH-ISOLATION-STAGE-2 -o <bridge> -j DROP         (no traffic between different networks)
 *           BERTH-FORWARD -o <bridge> RELATED,ESTABLISHED -j ACCEPT, -i <bridge> -j ACCEPT
 *           an --internal network also: BERTH-ISOLATION-STAGE-1 -i <bridge> ! -d <subnet> -j DROP and
 *           -o <bridge> ! -s <subnet> -j DROP (nothing in or out of its subnet, as dockerd's rules for it)
 *           a user-defined network also: INPUT -i <bridge> -d <gateway> -p udp/tcp --dport 53 -j ACCEPT (its DNS)
 *           enable_icc=false also: BERTH-FORWARD -i <bridge> -o <bridge> -j DROP before its ACCEPT (as dockerd's
 *           FORWARD rule: containers of the network cannot reach each other; bridged traffic meets iptables
 *           through br_netfilter, turned on for it)
 * FORWARD jumps to the isolation chain first, then to BERTH-FORWARD. Checked on every attach (one iptables-save)
 * and made whole again in one atomic restore when anything is missing or out of order: the host's tables are
 * shared with every other tool. Rules carry the comment "berth <bridge>". Runs under the host lock.
 */
export async function ensureBridgeRules(rules: BridgeRuleSet): Promise<void> {
  await bindBridge(rules);
  await bridgeRules(rules);
}

/**
 * Where firewalld runs, the bridge goes in Berth's zone (its forward chain would reject our traffic otherwise);
 * after a firewall-cmd --reload the zone binding and the bridge's rules are made again. Never rejects.
 */
export function bindBridge(rules: BridgeRuleSet): Promise<void> {
  return firewalld().bind(rules.bridge, reapplyAfterReload(rules));
}

/** bindBridge without waiting: firewall-cmd takes seconds a call (tens under emulation); the engine's stop ends it. */
export function bindBridgeInBackground(rules: BridgeRuleSet): void {
  firewalld().bindInBackground(rules.bridge, reapplyAfterReload(rules));
}

const reapplyAfterReload = (rules: BridgeRuleSet) => () => withHostLock(() => ensureBridgeRules(rules));

/** ensureBridgeRules' iptables part. */
export async function bridgeRules({
  bridge,
  subnet,
  masquerade,
  internal,
  dnsAddress,
  icc,
}: BridgeRuleSet): Promise<void> {
  if (!icc) await bridgeNetfilter();
  const { nat, filter } = await saveNatAndFilter();
  const tag = bridgeTag(bridge);
  const mine = (t: Table, chain: string) => t.rules.filter((r) => chainOf(r) === chain && r.includes(tag)).length;
  const natOk = mine(nat, 'POSTROUTING') === (masquerade ? 1 : 0);
  const filterOk =
    mine(filter, FORWARD_CHAIN) === (icc ? 2 : 3) &&
    mine(filter, ISOLATION_1) === (internal ? 3 : 1) &&
    mine(filter, ISOLATION_2) === 1 &&
    mine(filter, 'INPUT') === (dnsAddress ? 2 : 0);
  const fwd = filter.rules.filter((r) => chainOf(r) === 'FORWARD');
  const iso = fwd.findIndex((r) => jumpOf(r) === ISOLATION_1);
  const acc = fwd.findIndex((r) => jumpOf(r) === FORWARD_CHAIN);
  const jumpsOk = iso >= 0 && acc > iso;
  if (natOk && filterOk && jumpsOk) return;
  const natCmds: string[] = [];
  const filterCmds: string[] = [];
  if (!natOk) {
    natCmds.push(...nat.rules.filter((r) => r.includes(tag)).map((r) => r.replace(/^-A /, '-D ')));
    if (masquerade)
      natCmds.push(`-A POSTROUTING -s ${subnet} ! -o ${bridge} -m comment --comment ${tag} -j MASQUERADE`);
  }
  for (const c of [FORWARD_CHAIN, ISOLATION_1, ISOLATION_2]) if (!filter.chains.has(c)) filterCmds.push(`-N ${c}`);
  if (!filterOk) {
    filterCmds.push(...filter.rules.filter((r) => r.includes(tag)).map((r) => r.replace(/^-A /, '-D ')));
    filterCmds.push(
      `-A ${ISOLATION_1} -i ${bridge} ! -o ${bridge} -m comment --comment ${tag} -j ${ISOLATION_2}`,
      `-A ${ISOLATION_2} -o ${bridge} -m comment --comment ${tag} -j DROP`,
      `-A ${FORWARD_CHAIN} -o ${bridge} -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment ${tag} -j ACCEPT`,
      ...(icc ? [] : [`-A ${FORWARD_CHAIN} -i ${bridge} -o ${bridge} -m comment --comment ${tag} -j DROP`]),
      `-A ${FORWARD_CHAIN} -i ${bridge} -m comment --comment ${tag} -j ACCEPT`,
    );
    if (internal)
      filterCmds.push(
        `-A ${ISOLATION_1} -i ${bridge} ! -d ${subnet} -m comment --comment ${tag} -j DROP`,
        `-A ${ISOLATION_1} -o ${bridge} ! -s ${subnet} -m comment --comment ${tag} -j DROP`,
      );
    // The embedded DNS server listens on the gateway: first in INPUT, so that a host whose INPUT drops what it
    // does not know (ufw, a DROP policy) still lets containers ask it (as netavark does for aardvark-dns).
    if (dnsAddress)
      for (const proto of ['tcp', 'udp'])
        filterCmds.push(
          `-I INPUT 1 -i ${bridge} -d ${dnsAddress}/32 -p ${proto} --dport 53 -m comment --comment ${tag} -j ACCEPT`,
        );
  }
  if (!jumpsOk) {
    filterCmds.push(
      ...fwd
        .filter((r) => jumpOf(r) === ISOLATION_1 || jumpOf(r) === FORWARD_CHAIN)
        .map((r) => r.replace(/^-A /, '-D ')),
    );
    filterCmds.push(`-I FORWARD 1 -j ${FORWARD_CHAIN}`, `-I FORWARD 1 -j ${ISOLATION_1}`);
  }
  await restoreNatAndFilter(natCmds, filterCmds);
}

/**
 * Makes traffic between ports of one bridge pass iptables (br_netfilter's bridge-nf-call-iptables, per network
 * namespace), without which an enable_icc=false DROP never sees it. dockerd turns it on for the same reason.
 */
async function bridgeNetfilter(): Promise<void> {
  const knob = '/proc/sys/net/bridge/bridge-nf-call-iptables';
  if (!fs.existsSync(knob))
    await sh('modprobe', ['br_netfilter']).catch((err) => {
      throw new Error(
        `com.docker.network.bridge.enable_icc=false needs the br_netfilter kernel module (modprobe br_netfilter): ${err.message}`,
      );
    });
  if (fs.readFileSync(knob, 'utf8').trim() !== '1') fs.writeFileSync(knob, '1');
}

/** Removes one bridge's rules (ensureBridgeRules), and Berth's chains with their jumps once no bridge has any. */
export async function removeBridgeRules(bridge: string): Promise<void> {
  await firewalld().unbind(bridge);
  const { nat, filter } = await saveNatAndFilter();
  const tag = bridgeTag(bridge);
  const ours = [FORWARD_CHAIN, ISOLATION_1, ISOLATION_2];
  const natCmds = nat.rules.filter((r) => r.includes(tag)).map((r) => r.replace(/^-A /, '-D '));
  const filterCmds = filter.rules.filter((r) => r.includes(tag)).map((r) => r.replace(/^-A /, '-D '));
  const othersLeft = filter.rules.some((r) => ours.includes(chainOf(r)) && !r.includes(tag));
  if (!othersLeft && ours.some((c) => filter.chains.has(c))) {
    filterCmds.push(
      ...filter.rules
        .filter((r) => chainOf(r) === 'FORWARD' && ours.includes(jumpOf(r) ?? ''))
        .map((r) => r.replace(/^-A /, '-D ')),
    );
    for (const c of ours) if (filter.chains.has(c)) filterCmds.push(`-X ${c}`);
  }
  await restoreNatAndFilter(natCmds, filterCmds).catch((err) =>
    log.warn("cannot remove the bridge's rules", { bridge, error: err.message }),
  );
}

const chainOf = (rule: string) => rule.split(' ')[1];
const jumpOf = (rule: string) => / -j (\S+)/.exec(rule)?.[1];

/**
 * Removes every rule a CNI plugin tagged with this container's ID (`id: "<id>"` comments) and the per-container
 * chains they jump to. The plugins' own DEL does this when it can; after a crash (netns gone, plugin failed)
 * this is what guarantees nothing is left.
 */
export async function sweepContainerRules(containerId: string): Promise<void> {
  const tag = `id: \\"${containerId}\\"`;
  for (const table of ['nat', 'filter'] as const) {
    const t = await saveTable(table);
    const tagged = t.rules.filter((r) => r.includes(tag));
    const chains = new Set(tagged.map(jumpOf).filter((j): j is string => !!j && /^CNI-(DN-)?[0-9a-f]{16,}$/.test(j)));
    // Rules inside the per-container chains go with their chain; rules elsewhere are deleted one by one.
    const cmds = tagged.filter((r) => !chains.has(chainOf(r))).map((r) => r.replace(/^-A /, '-D '));
    for (const c of chains) if (t.chains.has(c)) cmds.push(`-F ${c}`, `-X ${c}`);
    await restore(table, cmds).catch((err) =>
      log.warn('cannot remove container rules', { table, container: containerId, error: err.message }),
    );
  }
}

/** The firewall plugin's same-bridge isolation rules for one bridge (the plugin never removes them). */
export async function removeIsolationRules(bridge: string): Promise<void> {
  const t = await saveTable('filter');
  const mine = t.rules.filter(
    (r) =>
      (r.startsWith('-A CNI-ISOLATION-STAGE-1 ') && r.includes(` -i ${bridge} ! -o ${bridge} `)) ||
      (r.startsWith('-A CNI-ISOLATION-STAGE-2 ') && r.includes(` -o ${bridge} `)),
  );
  await restore(
    'filter',
    mine.map((r) => r.replace(/^-A /, '-D ')),
  ).catch((err) => log.warn('cannot remove isolation rules', { bridge, error: err.message }));
}

/**
 * Removes the chains the CNI plugins share (CNI-HOSTPORT-*, CNI-FORWARD, CNI-ADMIN, CNI-ISOLATION-*) once no
 * container uses them, so a host with no Berth containers carries no Berth rules. Runs under the host lock; a
 * chain with anything in it beyond the plugins' fixed rules is left alone.
 */
export async function sweepSharedChains(): Promise<void> {
  const nat = await saveTable('nat');
  const natRules = (chain: string) => nat.rules.filter((r) => chainOf(r) === chain);
  const natCmds: string[] = [];
  const hasDnChains = [...nat.chains].some((c) => c.startsWith('CNI-DN-'));
  if (nat.chains.has('CNI-HOSTPORT-DNAT') && natRules('CNI-HOSTPORT-DNAT').length === 0 && !hasDnChains) {
    const chains = ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-SETMARK', 'CNI-HOSTPORT-MASQ'].filter((c) => nat.chains.has(c));
    const referencedElsewhere = nat.rules.some(
      (r) =>
        !chains.includes(chainOf(r)) &&
        !['PREROUTING', 'OUTPUT', 'POSTROUTING'].includes(chainOf(r)) &&
        chains.includes(jumpOf(r) ?? ''),
    );
    if (!referencedElsewhere) {
      natCmds.push(
        ...nat.rules
          .filter(
            (r) => ['PREROUTING', 'OUTPUT', 'POSTROUTING'].includes(chainOf(r)) && chains.includes(jumpOf(r) ?? ''),
          )
          .map((r) => r.replace(/^-A /, '-D ')),
      );
      for (const c of chains) natCmds.push(`-F ${c}`);
      for (const c of chains) natCmds.push(`-X ${c}`);
    }
  }
  await restore('nat', natCmds).catch((err) => log.warn('cannot remove shared CNI nat chains', { error: err.message }));

  const filter = await saveTable('filter');
  const rulesOf = (chain: string) => filter.rules.filter((r) => chainOf(r) === chain);
  const filterCmds: string[] = [];
  const fwd = rulesOf('CNI-FORWARD');
  const s1 = rulesOf('CNI-ISOLATION-STAGE-1');
  const s2 = rulesOf('CNI-ISOLATION-STAGE-2');
  const isolationUnused = s1.every((r) => jumpOf(r) === 'RETURN') && s2.every((r) => jumpOf(r) === 'RETURN');
  // The two groups go together, so that they come back together, in the order the plugin makes them.
  if (
    isolationUnused &&
    filter.chains.has('CNI-FORWARD') &&
    fwd.every((r) => jumpOf(r) === 'CNI-ADMIN') &&
    rulesOf('CNI-ADMIN').length === 0
  ) {
    filterCmds.push(
      ...rulesOf('FORWARD')
        .filter((r) => jumpOf(r) === 'CNI-FORWARD')
        .map((r) => r.replace(/^-A /, '-D ')),
    );
    filterCmds.push('-F CNI-FORWARD', '-X CNI-FORWARD');
    if (filter.chains.has('CNI-ADMIN')) filterCmds.push('-X CNI-ADMIN');
  }
  const firewallUnused =
    !filter.chains.has('CNI-FORWARD') ||
    (fwd.every((r) => jumpOf(r) === 'CNI-ADMIN') && rulesOf('CNI-ADMIN').length === 0);
  if (filter.chains.has('CNI-ISOLATION-STAGE-1') && isolationUnused && firewallUnused) {
    filterCmds.push(
      ...rulesOf('FORWARD')
        .filter((r) => jumpOf(r) === 'CNI-ISOLATION-STAGE-1')
        .map((r) => r.replace(/^-A /, '-D ')),
    );
    filterCmds.push('-F CNI-ISOLATION-STAGE-1', '-X CNI-ISOLATION-STAGE-1');
    if (filter.chains.has('CNI-ISOLATION-STAGE-2'))
      filterCmds.push('-F CNI-ISOLATION-STAGE-2', '-X CNI-ISOLATION-STAGE-2');
  }
  await restore('filter', filterCmds).catch((err) =>
    log.warn('cannot remove shared CNI filter chains', { error: err.message }),
  );
}
