// Container networking: the predefined `bridge`, `host` and `none` networks, user-defined bridge networks, and
// each container's endpoints on them (veth, address, NAT, published ports, /etc/hosts, /etc/resolv.conf).
//
// Mechanism: the CNI plugins (see cni.ts) in a chain bridge → portmap, and per network (not per container)
// Docker's NAT, forwarding and isolation rules (host.ts ensureBridgeRules). A network's host bridge is
// created by the bridge plugin when its first container attaches and removed here when its last one leaves, as
// netavark does: a host with no running containers carries no Berth links or rules, and engines that never run a
// container (most test engines) never touch the host's network. State lives in <data-root>/network/ (networks,
// endpoints with their cached CNI results, host-local's IPAM leases), so a restarted engine can DEL exactly what
// an earlier run added.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AddressPool } from '../config';
import { conflict, forbidden, invalidParameter, isEngineError, notFound, notImplemented, system } from '../errdefs';
import type { EventBus } from '../events';
import { log } from '../log';
import { readJson, writeJsonAtomic } from '../util/fsx';
import {
  addNetworkList,
  checkNetworkList,
  cniBinDir,
  CNI_INSTALL_HINT,
  CNI_VERSION,
  type CniConflist,
  type CniResult,
  delNetworkList,
  loopbackUp,
} from './cni';
import { buildHosts, buildResolvConf, type HostsEntry, hostResolvConfPath, parseExtraHost } from './hostfiles';
import {
  createNetns,
  deleteNetns,
  dropClaim,
  ensureBridgeRules,
  hostRoutes,
  iptablesRules,
  linkExists,
  netnsAlive,
  readClaims,
  removeBridge,
  removeBridgeRules,
  removeIsolationRules,
  sweepContainerRules,
  sweepSharedChains,
  withHostLock,
  writeClaim,
} from './host';
import {
  PortConflictError,
  type PortMap,
  portMap,
  type PortMapping,
  type PortRequest,
  PortReservations,
  wantedBindings,
} from './ports';
import {
  type Cidr,
  contains,
  defaultPools,
  firstHost,
  formatCidr,
  formatIp,
  overlaps,
  parseCidr,
  parseIp,
  pickSubnet,
  routeSubnets,
} from './subnets';

export type { PortMap, PortMapping } from './ports';

export interface NetworkRecord {
  id: string;
  name: string;
  driver: 'bridge' | 'host' | 'null';
  created: string;
  /** IPv4 subnet and gateway of a bridge network. */
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  /** The host bridge's name. */
  bridge?: string;
  internal: boolean;
  attachable: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  ipamOptions: Record<string, string>;
  /** The predefined networks (bridge, host, none) cannot be removed. */
  predefined: boolean;
}

export interface NetworkEndpointSummary {
  name: string;
  endpointId: string;
  macAddress: string;
  ipv4Address: string;
}
export interface NetworkInfo extends NetworkRecord {
  containers: Record<string, NetworkEndpointSummary>;
}

export interface CreateNetworkOptions {
  name: string;
  driver?: string;
  internal?: boolean;
  attachable?: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
  ipam?: {
    driver?: string;
    config?: { subnet?: string; gateway?: string; ipRange?: string }[];
    options?: Record<string, string>;
  };
  enableIPv6?: boolean;
  checkDuplicate?: boolean;
}

export interface AttachRequest extends PortRequest {
  containerId: string;
  containerName: string;
  /** The container's network namespace; omitted = the network service pins a new one and returns its path. */
  netnsPath?: string;
  /** 'bridge' | 'host' | 'none' | 'container:<id>' | a user network's name or ID ('default' = bridge). */
  network: string;
  aliases?: string[];
  ipv4Address?: string;
  hostname?: string;
  domainname?: string;
  extraHosts?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** Where to write the container's hosts and resolv.conf (files in its state dir, bind-mounted read-write). */
  hostsPath?: string;
  resolvConfPath?: string;
}

export interface AttachmentInfo {
  networkId: string;
  networkName: string;
  endpointId: string;
  ipAddress: string;
  prefixLen: number;
  gateway: string;
  macAddress: string;
  aliases: string[];
  dnsNames: string[];
}

export interface EndpointInfo {
  containerId: string;
  mode: 'bridge' | 'host' | 'none' | 'container';
  /** The network namespace the container must join (undefined for host networking). */
  netnsPath?: string;
  /** The files to bind-mount as /etc/hosts and /etc/resolv.conf (another container's, for container:<id>). */
  hostsPath?: string;
  resolvConfPath?: string;
  hostsContent: string;
  resolvConfContent: string;
  /** Docker's NetworkSettings.Ports: every exposed port, with its host bindings or null. */
  ports: PortMap;
  networks: AttachmentInfo[];
}

export interface ConnectRequest {
  aliases?: string[];
  ipv4Address?: string;
}

export interface NetworkService {
  /** Creates the predefined networks, re-reads state, re-holds published ports, cleans what a crashed run left. */
  init(): Promise<void>;
  create(opts: CreateNetworkOptions): Promise<{ id: string; warning: string }>;
  list(): NetworkInfo[];
  get(idOrName: string): NetworkInfo;
  remove(idOrName: string): Promise<void>;
  /** Removes unused user-defined networks that `match`; returns their names. */
  prune(match?: (n: NetworkInfo) => boolean): Promise<string[]>;
  /** Called by containers when a container's netns exists (or to have one made), before its process starts. */
  attach(req: AttachRequest): Promise<EndpointInfo>;
  /** Releases everything attach and connect made for the container; idempotent. */
  detach(containerId: string): Promise<void>;
  connect(network: string, containerId: string, opts?: ConnectRequest): Promise<EndpointInfo>;
  disconnect(network: string, containerId: string): Promise<EndpointInfo>;
  endpoint(containerId: string): EndpointInfo | undefined;
  /** Detaches every container not in `live` (called by containers once it knows which still run). */
  reconcile(live: Set<string>): Promise<void>;
  /**
   * The daemon is stopping: idle bridges go now, held host ports are let go; endpoints of running containers
   * stay as they are (live restore), and the next init picks them up.
   */
  close(): Promise<void>;
}

export interface NetworkServiceOptions {
  dataRoot: string;
  events?: EventBus;
  /** daemon.json `bridge`: the default network's host bridge. */
  bridgeName?: string;
  /** daemon.json `bip`: the default bridge's gateway address and prefix, e.g. 172.26.0.1/16. */
  bip?: string;
  defaultAddressPools?: AddressPool[];
  /** How long an unused bridge stays up after its last endpoint left (default 3 s; 0 = remove at once). */
  idleBridgeMs?: number;
}

interface Attachment {
  networkId: string;
  endpointId: string;
  ifName: string;
  aliases: string[];
  conflist: CniConflist;
  /** What ADD got as runtimeConfig: DEL must get it again (portmap deletes nothing without its portMappings). */
  runtimeConfig: Record<string, unknown>;
  result?: CniResult;
  ip: string;
  prefixLen: number;
  gateway: string;
  mac: string;
}

interface Sandbox {
  containerId: string;
  containerName: string;
  hostname: string;
  domainname?: string;
  mode: EndpointInfo['mode'];
  netnsPath?: string;
  ownNetns: boolean;
  joined?: string;
  hostsPath?: string;
  resolvConfPath?: string;
  extraHosts: string[];
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  exposed: string[];
  ports: PortMapping[];
  attachments: Attachment[];
  /** A CNI ADD in progress: if the engine dies during it, the next run DELs what it may have made. */
  pending?: Pick<Attachment, 'networkId' | 'ifName' | 'conflist' | 'runtimeConfig'> & {
    prefixLen: number;
    gateway: string;
  };
}

const DEFAULT_DATA_ROOT = '/var/lib/berth';
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const randomId = () => crypto.randomBytes(32).toString('hex');

export function defaultBridgeName(dataRoot: string): string {
  if (path.resolve(dataRoot) === DEFAULT_DATA_ROOT) return 'berth0';
  return `berth-${crypto.createHash('sha256').update(path.resolve(dataRoot)).digest('hex').slice(0, 8)}`;
}

/** Logs how long a network operation took (debug), including time queued behind others. */
function timed<T>(op: string, containerId: string, p: Promise<T>): Promise<T> {
  if (!log.isDebug()) return p;
  const t0 = Date.now();
  return p.finally(() => log.debug(`network ${op}`, { container: containerId.slice(0, 12), ms: Date.now() - t0 }));
}

export function createNetworkService(opts: NetworkServiceOptions): NetworkService {
  const root = path.join(opts.dataRoot, 'network');
  const netDir = path.join(root, 'networks');
  const epDir = path.join(root, 'endpoints');
  const ipamDir = path.join(root, 'ipam');
  const networks = new Map<string, NetworkRecord>();
  const sandboxes = new Map<string, Sandbox>();
  const ports = new PortReservations();
  const pools = opts.defaultAddressPools?.length ? opts.defaultAddressPools : defaultPools();
  const defaultBridge = opts.bridgeName ?? defaultBridgeName(opts.dataRoot);

  // Every change runs alone: attach/detach/connect touch shared state (peers' hosts files, bridges).
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const p = queue.then(fn, fn);
    queue = p.catch(() => {});
    return p;
  };

  const saveNetwork = (n: NetworkRecord) => writeJsonAtomic(path.join(netDir, `${n.id}.json`), n);
  const saveSandbox = (s: Sandbox) => writeJsonAtomic(path.join(epDir, `${s.containerId}.json`), s);
  const publish = (action: string, n: NetworkRecord, extra: Record<string, string> = {}) =>
    opts.events?.publish('network', action, n.id, { name: n.name, type: n.driver, ...extra });

  function find(idOrName: string): NetworkRecord | undefined {
    const key = idOrName === 'default' ? 'bridge' : idOrName;
    for (const n of networks.values()) if (n.name === key || n.id === key) return n;
    const byPrefix = [...networks.values()].filter((n) => n.id.startsWith(key));
    return byPrefix.length === 1 ? byPrefix[0] : undefined;
  }

  function mustFind(idOrName: string): NetworkRecord {
    const n = find(idOrName);
    if (!n) throw notFound(`network ${idOrName} not found`);
    return n;
  }

  const endpointsOn = (networkId: string) =>
    [...sandboxes.values()].filter((s) => s.attachments.some((a) => a.networkId === networkId));

  function info(n: NetworkRecord): NetworkInfo {
    const containers: Record<string, NetworkEndpointSummary> = {};
    for (const s of endpointsOn(n.id)) {
      const a = s.attachments.find((x) => x.networkId === n.id)!;
      containers[s.containerId] = {
        name: s.containerName,
        endpointId: a.endpointId,
        macAddress: a.mac,
        ipv4Address: `${a.ip}/${a.prefixLen}`,
      };
    }
    return { ...n, containers };
  }

  /** Subnets nobody else may get: host routes (not our own bridges'), our networks, other engines' claims. */
  async function takenSubnets(exceptNetwork?: string): Promise<Cidr[]> {
    const own = new Set([...networks.values()].map((n) => n.bridge).filter((b): b is string => !!b));
    const taken = routeSubnets(await hostRoutes(), own);
    for (const n of networks.values()) if (n.subnet && n.id !== exceptNetwork) taken.push(parseCidr(n.subnet)!);
    for (const c of readClaims()) if (c.dataRoot !== opts.dataRoot) taken.push(parseCidr(c.subnet)!);
    return taken;
  }

  // ---- configuration the CNI plugins get ----

  function conflistFor(n: NetworkRecord): CniConflist {
    const range: Record<string, string> = { subnet: n.subnet!, gateway: n.gateway! };
    if (n.ipRange) {
      const r = parseCidr(n.ipRange)!;
      range.rangeStart = formatIp(r.base + (r.prefix < 31 ? 1 : 0));
      range.rangeEnd = formatIp(r.base + 2 ** (32 - r.prefix) - (r.prefix < 31 ? 2 : 1));
    }
    const mtu = Number(n.options['com.docker.network.driver.mtu'] ?? 0);
    return {
      cniVersion: CNI_VERSION,
      // Chain names and IPAM directories derive from this name: the network ID keeps them unique per engine.
      name: `berth-${n.id.slice(0, 12)}`,
      plugins: [
        {
          type: 'bridge',
          bridge: n.bridge,
          isGateway: true,
          isDefaultGateway: !n.internal,
          ipMasq: false, // one rule per network instead (ensureBridgeRules)
          hairpinMode: true,
          ...(mtu > 0 ? { mtu } : {}),
          ipam: { type: 'host-local', dataDir: ipamDir, ranges: [[range]] },
          capabilities: { ips: true },
        },
        // snat: masquerades hairpin and 127.0.0.1-sourced traffic to published ports and turns on
        // route_localnet on the bridge, which is what makes `-p` reachable on the host's 127.0.0.1.
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        // No firewall plugin: forwarding and isolation between networks are per-network rules (ensureBridgeRules).
      ],
    };
  }

  async function cniAdd(
    s: Sandbox,
    n: NetworkRecord,
    ifName: string,
    portMappings: PortMapping[],
    ipv4Address?: string,
  ): Promise<Attachment> {
    if (n.predefined && !endpointsOn(n.id).length) await claimDefaultSubnet(n);
    // Without published ports portmap has nothing to do; leaving it out saves a plugin run on ADD and DEL
    // (DEL runs the conflist stored with the endpoint, so both sides agree).
    const full = conflistFor(n);
    const conflist = portMappings.length
      ? full
      : { ...full, plugins: full.plugins.filter((p) => p.type !== 'portmap') };
    const runtimeConfig: Record<string, unknown> = {};
    if (portMappings.length)
      runtimeConfig.portMappings = portMappings.map((m) => ({
        hostPort: m.hostPort,
        containerPort: m.containerPort,
        protocol: m.protocol,
        hostIP: m.hostIp === '0.0.0.0' ? '' : m.hostIp,
      }));
    if (ipv4Address) runtimeConfig.ips = [`${ipv4Address}/${parseCidr(n.subnet!)!.prefix}`];
    s.pending = {
      networkId: n.id,
      ifName,
      conflist,
      runtimeConfig,
      prefixLen: parseCidr(n.subnet!)!.prefix,
      gateway: n.gateway!,
    };
    saveSandbox(s);
    let result: CniResult;
    try {
      result = await withHostLock(async () => {
        await ensureBridgeRules(n.bridge!, n.subnet!, masquerades(n));
        return addNetworkList(conflist, { containerId: s.containerId, netns: s.netnsPath!, ifName, runtimeConfig });
      });
    } catch (err: any) {
      // dockerd's words for a --ip another container holds.
      if (ipv4Address && /requested IP address .* is not available/.test(err?.message ?? ''))
        throw forbidden('Address already in use');
      throw err;
    } finally {
      delete s.pending;
      saveSandbox(s);
    }
    const ipEntry = result.ips?.find((i) => i.address.includes('.'));
    if (!ipEntry) throw system(`network ${n.name}: the bridge plugin assigned no IPv4 address`);
    const [ip, prefix] = ipEntry.address.split('/');
    const iface =
      ipEntry.interface !== undefined
        ? result.interfaces?.[ipEntry.interface]
        : result.interfaces?.find((i) => i.sandbox);
    return {
      networkId: n.id,
      endpointId: randomId(),
      ifName,
      aliases: [],
      conflist,
      runtimeConfig,
      result,
      ip,
      prefixLen: Number(prefix),
      gateway: ipEntry.gateway ?? n.gateway!,
      mac: iface?.mac ?? '',
    };
  }

  /**
   * DEL one attachment; when the netns is gone unexpectedly or a plugin fails, sweep the container's rules by their
   * tags. `netnsRemoved`: releaseSandbox removed it on purpose first (see there), so DEL without it is complete.
   */
  async function cniDel(s: Sandbox, a: Attachment, netnsRemoved = false): Promise<void> {
    const alive = !netnsRemoved && !!s.netnsPath && netnsAlive(s.netnsPath);
    await withHostLock(async () => {
      let clean = alive || netnsRemoved;
      try {
        await delNetworkList(
          a.conflist,
          {
            containerId: s.containerId,
            netns: alive ? s.netnsPath! : '',
            ifName: a.ifName,
            runtimeConfig: a.runtimeConfig,
          },
          a.result,
        );
      } catch (err: any) {
        clean = false;
        log.warn("CNI DEL failed; sweeping the container's rules", {
          container: s.containerId,
          network: a.networkId,
          error: err.message,
        });
      }
      if (!clean) await sweepContainerRules(s.containerId);
    });
  }

  /** Removes a network's host bridge and its rules (and CNI chains older endpoints left, once unused). */
  async function teardownBridge(n: NetworkRecord): Promise<void> {
    await withHostLock(async () => {
      await removeBridgeRules(n.bridge!);
      await removeBridge(n.bridge!);
      await removeIsolationRules(n.bridge!);
      await sweepSharedChains();
      if (n.predefined && n.subnet) dropClaim(n.subnet, opts.dataRoot);
    });
  }

  const masquerades = (n: NetworkRecord) =>
    !n.internal && n.options['com.docker.network.bridge.enable_ip_masquerade'] !== 'false';
  /** Endpoints made before the per-network rules carry the bridge plugin's own NAT chain: its DEL needs the netns. */
  const pluginMasquerade = (a: Attachment) => a.conflist.plugins.some((p) => p.type === 'bridge' && p.ipMasq);

  // A bridge outlives its last endpoint by a short grace period, so `docker run --rm` in a loop does not pay
  // for making and unmaking it (and the shared chains) every time.
  const idleTimers = new Map<string, NodeJS.Timeout>();
  const idleMs = opts.idleBridgeMs ?? 3000;

  async function teardownIfUnused(networkIds: Iterable<string>): Promise<void> {
    for (const id of new Set(networkIds)) {
      const n = networks.get(id);
      if (!n?.bridge || endpointsOn(id).length) continue;
      clearTimeout(idleTimers.get(id));
      if (idleMs <= 0) {
        await teardownBridge(n);
        continue;
      }
      const timer = setTimeout(() => {
        idleTimers.delete(id);
        void serial(async () => {
          const cur = networks.get(id);
          if (cur?.bridge && !endpointsOn(id).length) await teardownBridge(cur);
        }).catch((err) => log.warn('cannot remove an idle bridge', { network: n.name, error: err.message }));
      }, idleMs);
      timer.unref();
      idleTimers.set(id, timer);
    }
  }

  async function flushIdle(): Promise<void> {
    for (const [id, timer] of idleTimers) {
      clearTimeout(timer);
      idleTimers.delete(id);
      const n = networks.get(id);
      if (n?.bridge && !endpointsOn(id).length) await teardownBridge(n);
    }
  }

  // ---- hosts and resolv.conf ----

  function hostResolv(): string {
    const read = (p: string) => {
      try {
        return fs.readFileSync(p, 'utf8');
      } catch {
        return undefined;
      }
    };
    return read(hostResolvConfPath(read)) ?? '';
  }

  const defaultGateway = () => find('bridge')?.gateway;

  function hostsFor(s: Sandbox): string {
    const extra = s.extraHosts.map((h) => parseExtraHost(h, defaultGateway()));
    if (s.mode === 'host') {
      let text = '';
      try {
        text = fs.readFileSync('/etc/hosts', 'utf8');
      } catch {
        /* none */
      }
      return (
        text + (text.endsWith('\n') || !text ? '' : '\n') + extra.map((e) => `${e.ip}\t${e.names.join(' ')}\n`).join('')
      );
    }
    const names = s.domainname ? [`${s.hostname}.${s.domainname}`, s.hostname] : [s.hostname];
    const primary = s.attachments[0];
    let self: HostsEntry | undefined;
    if (primary) {
      const n = networks.get(primary.networkId);
      const extraNames =
        n && !n.predefined ? [s.containerName, ...primary.aliases].filter((x) => !names.includes(x)) : [];
      self = { ip: primary.ip, names: [...names, ...extraNames] };
    }
    const peers: HostsEntry[] = [];
    for (const a of s.attachments) {
      const n = networks.get(a.networkId);
      if (!n || n.predefined) continue; // the default bridge has no name resolution, as in Docker
      for (const p of endpointsOn(a.networkId)) {
        if (p.containerId === s.containerId) continue;
        const pa = p.attachments.find((x) => x.networkId === a.networkId)!;
        peers.push({ ip: pa.ip, names: [...new Set([p.containerName, ...pa.aliases])] });
      }
    }
    return buildHosts({ self, extraHosts: extra, peers });
  }

  const resolvFor = (s: Sandbox) =>
    buildResolvConf(hostResolv(), {
      dns: s.dns,
      dnsSearch: s.dnsSearch,
      dnsOptions: s.dnsOptions,
      keepLoopback: s.mode === 'host',
    });

  /** Rewrites a hosts file in place: it is bind-mounted into the container, and a rename would not be seen. */
  function writeInPlace(file: string | undefined, content: string): void {
    if (!file) return;
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
    } catch (err: any) {
      log.warn('cannot write container file', { file, error: err.message });
    }
  }

  function refreshHosts(networkIds: Iterable<string>): void {
    const ids = new Set(networkIds);
    for (const s of sandboxes.values()) {
      if (s.mode === 'bridge' && s.attachments.some((a) => ids.has(a.networkId)))
        writeInPlace(s.hostsPath, hostsFor(s));
    }
  }

  function endpointInfo(s: Sandbox): EndpointInfo {
    const owner = s.joined ? sandboxes.get(s.joined) : undefined;
    const src = owner ?? s;
    return {
      containerId: s.containerId,
      mode: s.mode,
      netnsPath: s.mode === 'host' ? undefined : src.netnsPath,
      hostsPath: src.hostsPath,
      resolvConfPath: src.resolvConfPath,
      hostsContent: hostsFor(src),
      resolvConfContent: resolvFor(src),
      ports: portMap(src.exposed, src.ports),
      networks: src.attachments.map((a) => {
        const n = networks.get(a.networkId);
        const dnsNames =
          n && !n.predefined ? [...new Set([src.containerName, ...a.aliases, src.containerId.slice(0, 12)])] : [];
        return {
          networkId: a.networkId,
          networkName: n?.name ?? a.networkId,
          endpointId: a.endpointId,
          ipAddress: a.ip,
          prefixLen: a.prefixLen,
          gateway: a.gateway,
          macAddress: a.mac,
          aliases: a.aliases,
          dnsNames,
        };
      }),
    };
  }

  // ---- attach / detach ----

  /** The address host-local leased to a container on a network (its lease files hold the container ID). */
  function leasedIp(cniName: string, containerId: string): string | undefined {
    const d = path.join(ipamDir, cniName);
    try {
      for (const f of fs.readdirSync(d)) {
        if (parseIp(f) !== undefined && fs.readFileSync(path.join(d, f), 'utf8').split(/\r?\n/)[0] === containerId)
          return f;
      }
    } catch {
      /* no leases */
    }
    return undefined;
  }

  async function releaseSandbox(s: Sandbox): Promise<void> {
    if (s.pending) {
      // An ADD the engine died in: DEL with the lease's address standing in for the result it never saw.
      const p = s.pending;
      const ip = leasedIp(p.conflist.name, s.containerId);
      const result: CniResult | undefined = ip
        ? { cniVersion: CNI_VERSION, interfaces: [], ips: [{ address: `${ip}/${p.prefixLen}`, gateway: p.gateway }] }
        : undefined;
      await cniDel(s, { ...p, endpointId: '', aliases: [], result, ip: ip ?? '', mac: '' });
      await withHostLock(() => sweepContainerRules(s.containerId));
      delete s.pending;
      s.attachments = s.attachments.filter((a) => a.networkId !== p.networkId || a.ifName !== p.ifName);
      await teardownIfUnused([p.networkId]);
    }
    const touched = s.attachments.map((a) => a.networkId);
    // The container has ended: removing its netns first lets the kernel drop the veths in the background (deleting
    // a veth waits ~30 ms for the network stack to settle), and DEL without a netns only has rules and the IP
    // lease to release. Endpoints with the bridge plugin's NAT chain need the netns for their DEL.
    const netnsFirst = s.ownNetns && !!s.netnsPath && !s.attachments.some(pluginMasquerade);
    if (netnsFirst) await deleteNetns(s.netnsPath!);
    for (const a of [...s.attachments].reverse()) await cniDel(s, a, netnsFirst);
    ports.release(s.containerId);
    if (s.ownNetns && s.netnsPath && !netnsFirst) await deleteNetns(s.netnsPath);
    sandboxes.delete(s.containerId);
    fs.rmSync(path.join(epDir, `${s.containerId}.json`), { force: true });
    // Containers that joined this one's namespace (container:<id>) lose it with this container, as in Docker.
    for (const j of [...sandboxes.values()]) {
      if (j.joined !== s.containerId) continue;
      sandboxes.delete(j.containerId);
      fs.rmSync(path.join(epDir, `${j.containerId}.json`), { force: true });
    }
    refreshHosts(touched);
    await teardownIfUnused(touched);
  }

  async function doAttach(req: AttachRequest): Promise<EndpointInfo> {
    if (!req.containerId) throw invalidParameter('containerId is required');
    const old = sandboxes.get(req.containerId);
    if (old) await releaseSandbox(old);
    const s: Sandbox = {
      containerId: req.containerId,
      containerName: req.containerName.replace(/^\//, ''),
      hostname: req.hostname || req.containerId.slice(0, 12),
      domainname: req.domainname || undefined,
      mode: 'bridge',
      netnsPath: req.netnsPath,
      ownNetns: false,
      hostsPath: req.hostsPath,
      resolvConfPath: req.resolvConfPath,
      extraHosts: req.extraHosts ?? [],
      dns: req.dns ?? [],
      dnsSearch: req.dnsSearch ?? [],
      dnsOptions: req.dnsOptions ?? [],
      exposed: [],
      ports: [],
      attachments: [],
    };
    for (const h of s.extraHosts) {
      try {
        parseExtraHost(h, defaultGateway());
      } catch (err: any) {
        throw invalidParameter(err.message);
      }
    }
    const mode = req.network || 'bridge';

    if (mode.startsWith('container:')) {
      const target = sandboxes.get(mode.slice('container:'.length));
      if (!target || target.mode === 'container')
        throw conflict(`cannot join network of a non running container: ${mode.slice('container:'.length)}`);
      s.mode = 'container';
      s.joined = target.containerId;
      s.netnsPath = target.netnsPath;
      sandboxes.set(s.containerId, s);
      saveSandbox(s);
      return endpointInfo(s);
    }

    if (mode === 'host') {
      s.mode = 'host';
      s.netnsPath = undefined;
      sandboxes.set(s.containerId, s);
      saveSandbox(s);
      writeInPlace(s.hostsPath, hostsFor(s));
      writeInPlace(s.resolvConfPath, resolvFor(s));
      return endpointInfo(s);
    }

    const n = mode === 'none' ? undefined : mustFind(mode);
    if (n && n.driver === 'host') return doAttach({ ...req, network: 'host' });
    if (n && n.driver !== 'bridge' && n.driver !== 'null')
      throw invalidParameter(`network ${n.name} has unsupported driver ${n.driver}`);
    const onBridge = n && n.driver === 'bridge' ? n : undefined;
    if (!onBridge) s.mode = 'none';
    if (onBridge && !cniBinDir()) throw system(CNI_INSTALL_HINT);
    if (onBridge && !onBridge.subnet)
      throw system(
        `network ${onBridge.name} has no subnet: no address pool had a free subnet when the engine started (see default-address-pools and bip in daemon.json)`,
      );
    if (onBridge && req.ipv4Address) {
      const ip = parseIp(req.ipv4Address);
      if (ip === undefined || !contains(parseCidr(onBridge.subnet!)!, ip))
        throw invalidParameter(
          `invalid IPv4 address ${req.ipv4Address} for network ${onBridge.name} (${onBridge.subnet})`,
        );
      if (onBridge.predefined)
        throw invalidParameter('user specified IP address is supported on user defined networks only');
    }

    const { wanted, exposed } = wantedBindings(req);
    s.exposed = exposed;
    const endpointId = randomId();
    try {
      if (onBridge && wanted.length) {
        try {
          s.ports = await ports.reserve(s.containerId, wanted);
        } catch (err: any) {
          if (err instanceof PortConflictError)
            throw system(
              `driver failed programming external connectivity on endpoint ${s.containerName} (${endpointId}): ${err.message}`,
            );
          throw err;
        }
      }
      if (!s.netnsPath) {
        s.netnsPath = await createNetns(`berth-${s.containerId.slice(0, 16)}`);
        s.ownNetns = true;
      }
      // Saved before ADD: if the engine dies mid-way, init finds the record and cleans up.
      sandboxes.set(s.containerId, s);
      saveSandbox(s);
      // lo and eth0 are independent: bring them up side by side (each is a plugin process to wait for).
      const lo = loopbackUp(s.netnsPath, s.containerId);
      const eth0 = onBridge ? cniAdd(s, onBridge, 'eth0', s.ports, req.ipv4Address) : undefined;
      const [loResult, ethResult] = await Promise.allSettled([lo, eth0]);
      if (ethResult.status === 'rejected') throw ethResult.reason;
      if (loResult.status === 'rejected') throw loResult.reason;
      if (onBridge) {
        const a = ethResult.value!;
        a.endpointId = endpointId;
        a.aliases = onBridge.predefined ? [] : [...new Set(req.aliases ?? [])];
        s.attachments.push(a);
        saveSandbox(s);
      }
    } catch (err) {
      await releaseSandbox(s).catch((e) =>
        log.warn('cleanup after failed attach', { container: s.containerId, error: e.message }),
      );
      ports.release(s.containerId);
      if (isEngineError(err)) throw err;
      throw system(`failed to set up container networking: ${(err as Error).message}`, err);
    }
    writeInPlace(s.hostsPath, hostsFor(s));
    writeInPlace(s.resolvConfPath, resolvFor(s));
    if (onBridge) {
      refreshHosts([onBridge.id]);
      publish('connect', onBridge, { container: s.containerId });
    }
    return endpointInfo(s);
  }

  async function doDetach(containerId: string): Promise<void> {
    const s = sandboxes.get(containerId);
    if (!s) return;
    const nets = s.attachments.map((a) => networks.get(a.networkId)).filter((n): n is NetworkRecord => !!n);
    await releaseSandbox(s);
    for (const n of nets) publish('disconnect', n, { container: containerId });
  }

  // ---- networks ----

  function newRecord(name: string, driver: NetworkRecord['driver'], extra: Partial<NetworkRecord> = {}): NetworkRecord {
    return {
      id: randomId(),
      name,
      driver,
      created: new Date().toISOString(),
      internal: false,
      attachable: false,
      labels: {},
      options: {},
      ipamOptions: {},
      predefined: false,
      ...extra,
    };
  }

  async function ensureDefaultBridge(): Promise<void> {
    let n = networks.get([...networks.values()].find((x) => x.name === 'bridge')?.id ?? '');
    const busy = n ? endpointsOn(n.id).length > 0 : false;
    let subnet: string | undefined;
    let gateway: string | undefined;
    if (opts.bip) {
      const c = parseCidr(opts.bip);
      const gw = parseIp(opts.bip.split('/')[0]);
      if (!c || gw === undefined || !opts.bip.includes('/'))
        throw invalidParameter(`invalid bip ${opts.bip}: want an address with a prefix, e.g. 172.26.0.1/16`);
      subnet = formatCidr(c);
      gateway = formatIp(gw);
    }
    if (n && busy) {
      if (subnet && n.subnet !== subnet)
        log.warn('bip changed but the default bridge has containers; keeping the old subnet until they are gone', {
          subnet: n.subnet,
        });
      return;
    }
    await withHostLock(async () => {
      if (!subnet) {
        const mine = n?.subnet ? parseCidr(n.subnet) : undefined;
        const taken = await takenSubnets(n?.id);
        if (mine && !taken.some((t) => overlaps(t, mine)) && n!.bridge === defaultBridge) {
          subnet = n!.subnet;
          gateway = n!.gateway;
        } else {
          const c = pickSubnet(pools, taken);
          if (!c)
            throw system(
              'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network',
            );
          subnet = formatCidr(c);
          gateway = firstHost(c);
        }
      }
      const options = {
        'com.docker.network.bridge.default_bridge': 'true',
        'com.docker.network.bridge.enable_icc': 'true',
        'com.docker.network.bridge.enable_ip_masquerade': 'true',
        'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
        'com.docker.network.bridge.name': defaultBridge,
        'com.docker.network.driver.mtu': '1500',
      };
      if (n && n.subnet !== subnet) dropClaim(n.subnet!, opts.dataRoot);
      if (n?.bridge && n.bridge !== defaultBridge) await teardownBridge(n); // renamed in daemon.json: the old one goes
      n = n
        ? { ...n, subnet, gateway, bridge: defaultBridge, options }
        : newRecord('bridge', 'bridge', { subnet, gateway, bridge: defaultBridge, options, predefined: true });
      networks.set(n.id, n);
      saveNetwork(n);
    });
  }

  /**
   * The default bridge claims its subnet host-wide only while it is up (user networks claim theirs when
   * created): idle engines, of which a test run has many, then hold none of the few pool subnets. If another
   * engine took ours meanwhile, the default bridge moves to a free one before its bridge is made.
   */
  async function claimDefaultSubnet(n: NetworkRecord): Promise<void> {
    await withHostLock(async () => {
      const mine = parseCidr(n.subnet!)!;
      if ((await takenSubnets(n.id)).some((t) => overlaps(t, mine))) {
        if (opts.bip)
          throw system(`the default bridge's subnet ${n.subnet} (bip) is in use by another network on this host`);
        const c = pickSubnet(pools, await takenSubnets(n.id));
        if (!c)
          throw system(
            'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network',
          );
        log.info('the default bridge moves to a free subnet', { from: n.subnet, to: formatCidr(c) });
        n.subnet = formatCidr(c);
        n.gateway = firstHost(c);
        saveNetwork(n);
      }
      writeClaim({ subnet: n.subnet!, dataRoot: opts.dataRoot, networkId: n.id });
    });
  }

  async function doCreate(o: CreateNetworkOptions): Promise<{ id: string; warning: string }> {
    const name = o.name ?? '';
    if (!name) throw invalidParameter('network name is required');
    if (!NAME_RE.test(name))
      throw invalidParameter(`invalid network name "${name}": it must match [a-zA-Z0-9][a-zA-Z0-9_.-]*`);
    const driver = o.driver || 'bridge';
    if (driver === 'host' || driver === 'null') throw forbidden(`only one instance of "${driver}" network is allowed`);
    if (driver !== 'bridge') throw notFound(`plugin "${driver}" not found`);
    if (['bridge', 'host', 'none'].includes(name))
      throw forbidden(`${name} is a pre-defined network and cannot be created`);
    if ([...networks.values()].some((n) => n.name === name)) throw conflict(`network with name ${name} already exists`);
    if (o.enableIPv6) throw notImplemented('IPv6 networks are not supported');
    if (o.ipam?.driver && o.ipam.driver !== 'default') throw notFound(`plugin "${o.ipam.driver}" not found`);
    const configs = o.ipam?.config ?? [];
    if (configs.length > 1) throw notImplemented('more than one IPAM config (subnet) per network is not supported');
    const cfg = configs[0] ?? {};
    const id = randomId();
    const options = { ...(o.options ?? {}) };
    const bridge = options['com.docker.network.bridge.name'] || `br-${id.slice(0, 12)}`;
    if (bridge.length > 15) throw invalidParameter(`bridge name ${bridge} is longer than 15 characters`);
    if ([...networks.values()].some((n) => n.bridge === bridge))
      throw conflict(`bridge name ${bridge} is already in use by another network`);

    return withHostLock(async () => {
      const taken = await takenSubnets();
      let subnet: Cidr;
      if (cfg.subnet) {
        const c = parseCidr(cfg.subnet, true);
        if (!c || !cfg.subnet.includes('/'))
          throw invalidParameter(
            `invalid subnet ${cfg.subnet}: want a network address with a prefix, e.g. 10.10.0.0/24`,
          );
        if (c.prefix > 30) throw invalidParameter(`subnet ${cfg.subnet} is too small`);
        const ours = [...networks.values()]
          .map((n) => n.subnet)
          .filter((x): x is string => !!x)
          .map((x) => parseCidr(x)!);
        const others = readClaims()
          .filter((x) => x.dataRoot !== opts.dataRoot)
          .map((x) => parseCidr(x.subnet)!);
        if ([...ours, ...others].some((t) => overlaps(t, c)))
          throw forbidden('Pool overlaps with other one on this address space');
        subnet = c;
      } else {
        if (cfg.gateway || cfg.ipRange) throw invalidParameter('a gateway or ip-range needs a subnet');
        const c = pickSubnet(pools, taken);
        if (!c)
          throw system(
            'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network',
          );
        subnet = c;
      }
      let gateway = firstHost(subnet);
      if (cfg.gateway) {
        const g = parseIp(cfg.gateway);
        if (g === undefined || !contains(subnet, g))
          throw invalidParameter(`gateway ${cfg.gateway} is not in subnet ${formatCidr(subnet)}`);
        gateway = cfg.gateway;
      }
      if (cfg.ipRange) {
        const r = parseCidr(cfg.ipRange, true);
        if (!r || !contains(subnet, r.base) || r.prefix < subnet.prefix)
          throw invalidParameter(`ip-range ${cfg.ipRange} is not in subnet ${formatCidr(subnet)}`);
      }
      const n = newRecord(name, 'bridge', {
        id,
        subnet: formatCidr(subnet),
        gateway,
        ipRange: cfg.ipRange,
        bridge,
        internal: !!o.internal,
        attachable: !!o.attachable,
        labels: o.labels ?? {},
        options,
        ipamOptions: o.ipam?.options ?? {},
      });
      networks.set(n.id, n);
      saveNetwork(n);
      writeClaim({ subnet: n.subnet!, dataRoot: opts.dataRoot, networkId: n.id });
      publish('create', n);
      return { id: n.id, warning: '' };
    });
  }

  async function doRemove(n: NetworkRecord): Promise<void> {
    if (n.predefined) throw forbidden(`${n.name} is a pre-defined network and cannot be removed`);
    const eps = endpointsOn(n.id);
    if (eps.length) {
      throw conflict(`error while removing network: network ${n.name} id ${n.id} has active endpoints`);
    }
    await withHostLock(async () => {
      await removeBridgeRules(n.bridge!);
      await removeBridge(n.bridge!);
      await removeIsolationRules(n.bridge!);
      await sweepSharedChains();
      fs.rmSync(path.join(ipamDir, conflistFor(n).name), { recursive: true, force: true });
      fs.rmSync(path.join(netDir, `${n.id}.json`), { force: true });
      networks.delete(n.id);
      dropClaim(n.subnet!, opts.dataRoot);
    });
    publish('destroy', n);
  }

  async function doInit(): Promise<void> {
    for (const d of [netDir, epDir, ipamDir]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
    for (const f of fs.readdirSync(netDir)) {
      if (!f.endsWith('.json')) continue;
      const n = readJson<NetworkRecord>(path.join(netDir, f));
      if (n?.id) networks.set(n.id, n);
    }
    for (const f of fs.readdirSync(epDir)) {
      if (!f.endsWith('.json')) continue;
      const s = readJson<Sandbox>(path.join(epDir, f));
      if (s?.containerId) sandboxes.set(s.containerId, s);
    }
    for (const [name, driver] of [
      ['host', 'host'],
      ['none', 'null'],
    ] as const) {
      if (![...networks.values()].some((n) => n.name === name)) {
        const n = newRecord(name, driver, { predefined: true });
        networks.set(n.id, n);
        saveNetwork(n);
      }
    }
    // Endpoints whose namespace is gone belong to containers that died with (or while) the engine was down.
    for (const s of [...sandboxes.values()]) {
      if (s.mode === 'host' || s.mode === 'container') continue;
      if (!s.netnsPath || !netnsAlive(s.netnsPath)) {
        log.info('releasing the network of a container that is gone', { container: s.containerId });
        await releaseSandbox(s);
        continue;
      }
      const lost = await ports.readopt(s.containerId, s.ports);
      for (const m of lost)
        log.warn('a published port was taken while the engine was down', {
          container: s.containerId,
          port: `${m.hostIp}:${m.hostPort}`,
        });
      for (const a of s.attachments) {
        // portmap 1.1's CHECK also demands ip6tables chains it never made for IPv4-only endpoints: skip it.
        const list = { ...a.conflist, plugins: a.conflist.plugins.filter((p) => p.type !== 'portmap') };
        await checkNetworkList(
          list,
          { containerId: s.containerId, netns: s.netnsPath, ifName: a.ifName, runtimeConfig: a.runtimeConfig },
          a.result!,
        ).catch((err) =>
          log.warn('CNI CHECK failed for a restored endpoint', { container: s.containerId, error: err.message }),
        );
      }
    }
    for (const s of [...sandboxes.values()]) {
      if (s.mode === 'container' && (!s.joined || !sandboxes.has(s.joined))) {
        sandboxes.delete(s.containerId);
        fs.rmSync(path.join(epDir, `${s.containerId}.json`), { force: true });
      }
    }
    try {
      await ensureDefaultBridge();
    } catch (err: any) {
      // The engine still serves everything else (and host/none networking); attaching to `bridge` says why not.
      if (isEngineError(err, 'InvalidParameter')) throw err;
      log.error('the default bridge network has no subnet', { error: err.message });
      if (![...networks.values()].some((n) => n.name === 'bridge')) {
        const n = newRecord('bridge', 'bridge', {
          bridge: defaultBridge,
          predefined: true,
          options: {
            'com.docker.network.bridge.default_bridge': 'true',
            'com.docker.network.bridge.name': defaultBridge,
          },
        });
        networks.set(n.id, n);
        saveNetwork(n);
      }
    }
    await withHostLock(async () => {
      for (const n of networks.values()) {
        if (!n.subnet || n.driver !== 'bridge') continue;
        if (n.predefined && !endpointsOn(n.id).length) dropClaim(n.subnet, opts.dataRoot);
        else writeClaim({ subnet: n.subnet, dataRoot: opts.dataRoot, networkId: n.id });
      }
    });
    // Bridges of networks without endpoints are leftovers of a crash (a live engine removes them).
    // Bridges (or their rules) of networks without endpoints are leftovers of a crash: a live engine removes
    // them. The crash may have come between deleting the link and its rules, so both are looked for.
    const filterRules = await iptablesRules('filter');
    const natRules = await iptablesRules('nat');
    for (const n of networks.values()) {
      if (
        n.bridge &&
        !endpointsOn(n.id).length &&
        (linkExists(n.bridge) || filterRules.includes(` ${n.bridge} `) || natRules.includes(` ${n.bridge} `))
      ) {
        await teardownBridge(n);
      }
    }
    if (!sandboxes.size && /CNI-/.test(filterRules + natRules)) await withHostLock(sweepSharedChains);
    if (!cniBinDir()) log.warn(CNI_INSTALL_HINT);
  }

  return {
    init: () => serial(doInit),
    create: (o) => serial(() => doCreate(o)),
    list: () => [...networks.values()].sort((a, b) => a.created.localeCompare(b.created)).map(info),
    get: (idOrName) => info(mustFind(idOrName)),
    remove: (idOrName) => serial(() => doRemove(mustFind(idOrName))),
    prune: (match) =>
      serial(async () => {
        const removed: string[] = [];
        for (const n of [...networks.values()]) {
          if (n.predefined || endpointsOn(n.id).length || (match && !match(info(n)))) continue;
          await doRemove(n);
          removed.push(n.name);
        }
        return removed;
      }),
    attach: (req) =>
      timed(
        'attach',
        req.containerId,
        serial(() => doAttach(req)),
      ),
    detach: (containerId) =>
      timed(
        'detach',
        containerId,
        serial(() => doDetach(containerId)),
      ),
    connect: (network, containerId, o = {}) =>
      serial(async () => {
        const n = mustFind(network);
        const s = sandboxes.get(containerId);
        if (!s) throw conflict(`container ${containerId} is not running`);
        if (n.driver !== 'bridge') throw forbidden(`container cannot be connected to the ${n.name} network`);
        if (s.mode !== 'bridge')
          throw forbidden(
            'container sharing network namespace with another container or host cannot be connected to any other network',
          );
        if (s.attachments.some((a) => a.networkId === n.id))
          throw forbidden(`endpoint with name ${s.containerName} already exists in network ${n.name}`);
        if (o.ipv4Address && n.predefined)
          throw invalidParameter('user specified IP address is supported on user defined networks only');
        const used = new Set(s.attachments.map((a) => a.ifName));
        let i = 0;
        while (used.has(`eth${i}`)) i++;
        const a = await cniAdd(s, n, `eth${i}`, [], o.ipv4Address);
        a.aliases = n.predefined ? [] : [...new Set(o.aliases ?? [])];
        s.attachments.push(a);
        saveSandbox(s);
        refreshHosts(s.attachments.map((x) => x.networkId));
        publish('connect', n, { container: containerId });
        return endpointInfo(s);
      }),
    disconnect: (network, containerId) =>
      serial(async () => {
        const n = mustFind(network);
        const s = sandboxes.get(containerId);
        const a = s?.attachments.find((x) => x.networkId === n.id);
        if (!s || !a) throw forbidden(`container ${containerId} is not connected to network ${n.name}`);
        await cniDel(s, a);
        s.attachments = s.attachments.filter((x) => x !== a);
        if (!s.attachments.length) {
          ports.release(containerId);
          s.ports = [];
        }
        saveSandbox(s);
        refreshHosts([n.id, ...s.attachments.map((x) => x.networkId)]);
        writeInPlace(s.hostsPath, hostsFor(s));
        await teardownIfUnused([n.id]);
        publish('disconnect', n, { container: containerId });
        return endpointInfo(s);
      }),
    endpoint: (containerId) => {
      const s = sandboxes.get(containerId);
      return s ? endpointInfo(s) : undefined;
    },
    reconcile: (live) =>
      serial(async () => {
        for (const s of [...sandboxes.values()]) if (!live.has(s.containerId)) await doDetach(s.containerId);
      }),
    close: () =>
      serial(async () => {
        await flushIdle();
        ports.releaseAll();
      }),
  };
}
