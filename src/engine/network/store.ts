// What every part of networking shares, as one explicit object: the networks and each container's sandbox (its
// namespace and its endpoints on networks), both persisted in <data-root>/network/, the host ports held for
// published ports, the address pools, and the one queue every change goes through. The parts (bridges,
// sandboxes, endpoints, networks, recovery) each receive it; what only one part uses stays in that part.
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import type { AddressPool } from '../config';
import { notFound } from '../errdefs';
import type { EventBus } from '../events';
import { writeJsonAtomic } from '../util/fsx';
import type { CniConflist, CniResult } from './cni';
import { claimedByOthers, hostRoutes } from './host';
import { type OutsidePorts, type PortMapping, PortReservations } from './ports';
import { type Cidr, defaultPools, parseCidr, routeSubnets } from './subnets';

export interface NetworkRecord {
  id: string;
  name: string;
  driver: 'bridge' | 'host' | 'null';
  created: string;
  /** IPv4 subnet and gateway of a bridge network. */
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  /** --aux-address: names for addresses no container gets (a lease of their own in the IPAM store). */
  auxAddresses?: Record<string, string>;
  /** IPv6 subnet and gateway of a network created with --ipv6. */
  subnet6?: string;
  gateway6?: string;
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
  ipv6Address: string;
}
export interface NetworkInfo extends NetworkRecord {
  containers: Record<string, NetworkEndpointSummary>;
}

/** One container's endpoint on one network, with what its CNI DEL needs. */
export interface Attachment {
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
  /** On an IPv6 network. */
  ip6?: string;
  prefixLen6?: number;
  gateway6?: string;
  mac: string;
}

/** A container's network namespace and everything made for it. */
export interface Sandbox {
  containerId: string;
  containerName: string;
  hostname: string;
  domainname?: string;
  mode: 'bridge' | 'host' | 'none' | 'container';
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
  /**
   * Where the namespace's 127.0.0.11 goes (host.ts installDnsRedirect): a gateway address, '' for nowhere (its
   * rules exist but are empty); undefined before the first install.
   */
  dnsRedirect?: string;
  /** A CNI ADD in progress: if the engine dies during it, the next run DELs what it may have made. */
  pending?: Pick<Attachment, 'networkId' | 'ifName' | 'conflist' | 'runtimeConfig'> & {
    prefixLen: number;
    gateway: string;
  };
}

export interface NetworkServiceOptions {
  dataRoot: string;
  events?: EventBus;
  /** daemon.json `bridge`: the default network's host bridge. */
  bridgeName?: string;
  /** daemon.json `bip`: the default bridge's gateway address and prefix, e.g. 172.26.0.1/16. */
  bip?: string;
  /** daemon.json `icc` and `ip`: the default bridge's enable_icc and host_binding_ipv4. */
  icc?: boolean;
  hostBindingIp?: string;
  defaultAddressPools?: AddressPool[];
  /** How long an unused bridge stays up after its last endpoint left (default 3 s; 0 = remove at once). */
  idleBridgeMs?: number;
  /** Where published ports are forwarded from when the host is outside this network namespace (rootless). */
  outsidePorts?: OutsidePorts;
}

const DEFAULT_DATA_ROOT = '/var/lib/berth';

export const randomId = () => crypto.randomBytes(32).toString('hex');

export function defaultBridgeName(dataRoot: string): string {
  if (path.resolve(dataRoot) === DEFAULT_DATA_ROOT) return 'berth0';
  return `berth-${crypto.createHash('sha256').update(path.resolve(dataRoot)).digest('hex').slice(0, 8)}`;
}

export class NetworkStore {
  readonly root: string;
  readonly netDir: string;
  readonly epDir: string;
  readonly ipamDir: string;
  readonly networks = new Map<string, NetworkRecord>();
  /** By container ID. */
  readonly sandboxes = new Map<string, Sandbox>();
  readonly ports: PortReservations;
  readonly pools: AddressPool[];
  readonly defaultBridge: string;

  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly opts: NetworkServiceOptions) {
    this.ports = new PortReservations(opts.outsidePorts);
    this.root = path.join(opts.dataRoot, 'network');
    this.netDir = path.join(this.root, 'networks');
    this.epDir = path.join(this.root, 'endpoints');
    this.ipamDir = path.join(this.root, 'ipam');
    this.pools = opts.defaultAddressPools?.length ? opts.defaultAddressPools : defaultPools();
    this.defaultBridge = opts.bridgeName ?? defaultBridgeName(opts.dataRoot);
  }

  // Every change runs alone: attach/detach/connect touch shared state (peers' hosts files, bridges).
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => {});
    return p;
  }

  saveNetwork(n: NetworkRecord): void {
    writeJsonAtomic(path.join(this.netDir, `${n.id}.json`), n);
  }

  saveSandbox(s: Sandbox): void {
    writeJsonAtomic(path.join(this.epDir, `${s.containerId}.json`), s);
  }

  publish(action: string, n: NetworkRecord, extra: Record<string, string> = {}): void {
    this.opts.events?.publish('network', action, n.id, { name: n.name, type: n.driver, ...extra });
  }

  find(idOrName: string): NetworkRecord | undefined {
    const key = idOrName === 'default' ? 'bridge' : idOrName;
    for (const n of this.networks.values()) if (n.name === key || n.id === key) return n;
    const byPrefix = [...this.networks.values()].filter((n) => n.id.startsWith(key));
    return byPrefix.length === 1 ? byPrefix[0] : undefined;
  }

  mustFind(idOrName: string): NetworkRecord {
    const n = this.find(idOrName);
    if (!n) throw notFound(`network ${idOrName} not found`);
    return n;
  }

  endpointsOn(networkId: string): Sandbox[] {
    return [...this.sandboxes.values()].filter((s) => s.attachments.some((a) => a.networkId === networkId));
  }

  info(n: NetworkRecord): NetworkInfo {
    const containers: Record<string, NetworkEndpointSummary> = {};
    for (const s of this.endpointsOn(n.id)) {
      const a = s.attachments.find((x) => x.networkId === n.id)!;
      containers[s.containerId] = {
        name: s.containerName,
        endpointId: a.endpointId,
        macAddress: a.mac,
        ipv4Address: `${a.ip}/${a.prefixLen}`,
        ipv6Address: a.ip6 ? `${a.ip6}/${a.prefixLen6}` : '',
      };
    }
    return { ...n, containers };
  }

  newRecord(name: string, driver: NetworkRecord['driver'], extra: Partial<NetworkRecord> = {}): NetworkRecord {
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

  /** Subnets nobody else may get: host routes (not our own bridges'), our networks, other engines' claims. */
  async takenSubnets(exceptNetwork?: string): Promise<Cidr[]> {
    const own = new Set([...this.networks.values()].map((n) => n.bridge).filter((b): b is string => !!b));
    const taken = routeSubnets(await hostRoutes(), own);
    for (const n of this.networks.values()) if (n.subnet && n.id !== exceptNetwork) taken.push(parseCidr(n.subnet)!);
    taken.push(...claimedByOthers(this.opts.dataRoot));
    return taken;
  }
}
