// Container networking: the predefined `bridge`, `host` and `none` networks, user-defined bridge networks, and
// each container's endpoints on them (veth, address, NAT, published ports, /etc/hosts, /etc/resolv.conf, names
// served by the embedded DNS server at 127.0.0.11).
//
// Mechanism: the CNI plugins (see cni.ts) in a chain bridge → portmap, and per network (not per container)
// Docker's NAT, forwarding and isolation rules (host.ts ensureBridgeRules). A network's host bridge is
// created by the bridge plugin when its first container attaches and removed here when its last one leaves, as
// netavark does: a host with no running containers carries no Berth links or rules, and engines that never run a
// container (most test engines) never touch the host's network. State lives in <data-root>/network/ (networks,
// endpoints with their cached CNI results, host-local's IPAM leases), so a restarted engine can DEL exactly what
// an earlier run added.
//
// This file is the subsystem's interface; every change goes through one queue (NetworkStore.serial). The parts
// share one NetworkStore (./store.ts):
//   bridges.ts    CNI configuration of a network, the default bridge, bridges removed once idle
//   endpoints.ts  attach/detach/connect/disconnect through the CNI plugins, published ports held
//   sandboxes.ts  hosts and resolv.conf of each container, what DNS answers it, EndpointInfo
//   dns.ts        the embedded DNS server (127.0.0.11): one listener per user network, on its gateway
//   networks.ts   network create and remove
//   recovery.ts   engine start: state re-read, dead endpoints released, crash leftovers removed
// and the host's side lives in cni.ts (plugin calls), host.ts (netns, iptables, claims), ports.ts, subnets.ts.
import { log } from '../log';
import { type AttachRequest, type ConnectRequest, createEndpoints } from './endpoints';
import { createBridges } from './bridges';
import { DnsServer } from './dns';
import { type CreateNetworkOptions, createNetworks } from './networks';
import { recover } from './recovery';
import { createSandboxFiles, type EndpointInfo } from './sandboxes';
import { type NetworkInfo, type NetworkServiceOptions, NetworkStore } from './store';

export type { PortMap, PortMapping } from './ports';
export type { AttachRequest, ConnectRequest } from './endpoints';
export type { CreateNetworkOptions } from './networks';
export type { AttachmentInfo, EndpointInfo } from './sandboxes';
export type { NetworkEndpointSummary, NetworkInfo, NetworkRecord, NetworkServiceOptions } from './store';
export { defaultBridgeName } from './store';
export { cniBinDir } from './cni';
export { defaultGateway, parseVmHostPorts, vmHostPorts, type VmHostPortsAddress } from './vm-host-ports';
import { firewalld } from './firewalld';

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
  /** Replaces a running container's extra /etc/hosts lines (--add-host and legacy links) and rewrites the file. */
  setExtraHosts(containerId: string, extraHosts: string[]): Promise<void>;
  /** Detaches every container not in `live` (called by containers once it knows which still run). */
  reconcile(live: Set<string>): Promise<void>;
  /**
   * The daemon is stopping: idle bridges go now, held host ports are let go; endpoints of running containers
   * stay as they are (live restore), and the next init picks them up.
   */
  close(): Promise<void>;
}

/** Logs how long a network operation took (debug), including time queued behind others. */
function timed<T>(op: string, containerId: string, p: Promise<T>): Promise<T> {
  if (!log.isDebug()) return p;
  const t0 = Date.now();
  return p.finally(() => log.debug(`network ${op}`, { container: containerId.slice(0, 12), ms: Date.now() - t0 }));
}

export function createNetworkService(opts: NetworkServiceOptions): NetworkService {
  const store = new NetworkStore(opts);
  const files = createSandboxFiles(store);
  const dns = new DnsServer((networkId, source) => files.dnsAsker(networkId, source));
  const bridges = createBridges(store, dns);
  const endpoints = createEndpoints(store, bridges, files, dns);
  const networks = createNetworks(store, bridges);
  const serial = <T>(fn: () => Promise<T>) => store.serial(fn);
  const stopRepublishing = firewalld().onReloaded(() => serial(() => endpoints.republish()));

  return {
    init: () => serial(() => recover(store, bridges, endpoints, dns)),
    create: (o) => serial(() => networks.create(o)),
    list: () =>
      [...store.networks.values()].sort((a, b) => a.created.localeCompare(b.created)).map((n) => store.info(n)),
    get: (idOrName) => store.info(store.mustFind(idOrName)),
    remove: (idOrName) => serial(() => networks.remove(store.mustFind(idOrName))),
    prune: (match) =>
      serial(async () => {
        const removed: string[] = [];
        for (const n of [...store.networks.values()]) {
          if (n.predefined || store.endpointsOn(n.id).length || (match && !match(store.info(n)))) continue;
          await networks.remove(n);
          removed.push(n.name);
        }
        return removed;
      }),
    attach: (req) =>
      timed(
        'attach',
        req.containerId,
        serial(() => endpoints.attach(req)),
      ),
    detach: (containerId) =>
      timed(
        'detach',
        containerId,
        serial(() => endpoints.detach(containerId)),
      ),
    connect: (network, containerId, o = {}) => serial(() => endpoints.connect(network, containerId, o)),
    disconnect: (network, containerId) => serial(() => endpoints.disconnect(network, containerId)),
    setExtraHosts: (containerId, extraHosts) =>
      serial(async () => {
        const s = store.sandboxes.get(containerId);
        if (!s) return;
        s.extraHosts = extraHosts;
        store.saveSandbox(s);
        files.writeInPlace(s.hostsPath, files.hostsFor(s));
      }),
    endpoint: (containerId) => {
      const s = store.sandboxes.get(containerId);
      return s ? files.endpointInfo(s) : undefined;
    },
    reconcile: (live) =>
      serial(async () => {
        for (const s of [...store.sandboxes.values()])
          if (!live.has(s.containerId)) await endpoints.detach(s.containerId);
      }),
    close: () =>
      serial(async () => {
        await bridges.flushIdle();
        await dns.close();
        store.ports.releaseAll();
        stopRepublishing();
        await firewalld().close();
      }),
  };
}
