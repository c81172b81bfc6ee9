// Endpoints: a container attached to its network (its own namespace pinned, or the host's, or another
// container's), joined to more networks with connect and left with disconnect, through the CNI plugins (ADD, DEL)
// with its published ports held on the host; a detach releases everything, also what a crash left half made.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { conflict, forbidden, invalidParameter, isEngineError, system } from '../errdefs';
import { log } from '../log';
import type { Bridges } from './bridges';
import {
  addNetworkList,
  cniBinDir,
  CNI_INSTALL_HINT,
  CNI_VERSION,
  type CniResult,
  delNetworkList,
  readdPlugin,
} from './cni';
import { parseExtraHost } from './hostfiles';
import type { DnsServer } from './dns';
import {
  createNetns,
  deleteNetns,
  ensureBridgeRules,
  addLinkLocalIps,
  bindBridgeInBackground,
  bridgeRules,
  iptablesRules,
  installDnsRedirect,
  loopbackUp,
  netnsAlive,
  sweepContainerRules,
  withHostLock,
} from './host';
import { PortConflictError, type PortMapping, type PortRequest, wantedBindings } from './ports';
import type { EndpointInfo, SandboxFiles } from './sandboxes';
import { type Attachment, type NetworkRecord, type NetworkStore, randomId, type Sandbox } from './store';
import { contains, parseCidr, parseIp } from './subnets';

export interface AttachRequest extends PortRequest {
  containerId: string;
  containerName: string;
  /** The container's network namespace; omitted = the network service pins a new one and returns its path. */
  netnsPath?: string;
  /**
   * 'bridge' | 'host' | 'none' | 'container:<id>' | a user network's name or ID ('default' = bridge), or '' for a
   * namespace of its own on no network yet (lo only; a container disconnected from all its networks), which
   * `connect` can join to networks later.
   */
  network: string;
  aliases?: string[];
  ipv4Address?: string;
  /** --link-local-ip: more addresses on eth0. */
  linkLocalIps?: string[];
  /** --mac-address: the MAC of eth0 (the bridge plugin's `mac` capability). */
  macAddress?: string;
  hostname?: string;
  domainname?: string;
  extraHosts?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** Where to write the container's hosts and resolv.conf (files in its state dir, bind-mounted read-write). */
  hostsPath?: string;
  resolvConfPath?: string;
  /**
   * Called once the container's own namespace exists, before its interfaces are made: a start creates the container
   * in it meanwhile, and lets its process run only when attach has returned.
   */
  netnsReady?: (netnsPath: string) => void;
}

export interface ConnectRequest {
  aliases?: string[];
  ipv4Address?: string;
  linkLocalIps?: string[];
  macAddress?: string;
}

export function createEndpoints(store: NetworkStore, bridges: Bridges, files: SandboxFiles, dns: DnsServer) {
  const { networks, sandboxes, ports, ipamDir, epDir } = store;
  const { conflistFor, defaultHostIp, ruleSet, pluginMasquerade, claimDefaultSubnet, teardownIfUnused } = bridges;
  const { defaultGateway, hostsFor, resolvFor, writeInPlace, endpointInfo, dnsTarget } = files;
  /** The container's --dns servers on its own loopback (moby asks them from the container's namespace). */
  const loopbackDns = (s: Sandbox) => s.dns.filter((d) => /^127\./.test(d));

  /**
   * Points the sandbox's 127.0.0.11 where its networks now say (its first user-defined network's gateway, or
   * nowhere), and rewrites its resolv.conf when it moves between the embedded server and the host's resolvers.
   */
  async function syncDns(s: Sandbox, hadInternalResolver: boolean): Promise<void> {
    const want = dnsTarget(s);
    if (want !== (s.dnsRedirect ?? '') && s.netnsPath && netnsAlive(s.netnsPath)) {
      await installDnsRedirect(s.netnsPath, want, s.dnsRedirect === undefined, loopbackDns(s));
      s.dnsRedirect = want;
      store.saveSandbox(s);
    }
    if (!!want !== hadInternalResolver) writeInPlace(s.resolvConfPath, resolvFor(s));
  }

  async function cniAdd(
    s: Sandbox,
    n: NetworkRecord,
    ifName: string,
    portMappings: PortMapping[],
    ipv4Address?: string,
    macAddress?: string,
  ): Promise<Attachment> {
    if (n.predefined && !store.endpointsOn(n.id).length) await claimDefaultSubnet(n);
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
        hostIP: ports.dnatAddress(m),
      }));
    if (ipv4Address) runtimeConfig.ips = [`${ipv4Address}/${parseCidr(n.subnet!)!.prefix}`];
    if (macAddress) runtimeConfig.mac = macAddress;
    s.pending = {
      networkId: n.id,
      ifName,
      conflist,
      runtimeConfig,
      prefixLen: parseCidr(n.subnet!)!.prefix,
      gateway: n.gateway!,
    };
    store.saveSandbox(s);
    let result: CniResult;
    try {
      result = await withHostLock(async () => {
        await ensureBridgeRules(ruleSet(n));
        return addNetworkList(conflist, { containerId: s.containerId, netns: s.netnsPath!, ifName, runtimeConfig });
      });
    } catch (err: any) {
      // dockerd's words for a --ip another container holds.
      if (ipv4Address && /requested IP address .* is not available/.test(err?.message ?? ''))
        throw forbidden('Address already in use');
      throw err;
    } finally {
      delete s.pending;
      store.saveSandbox(s);
    }
    // The bridge (and so the gateway address) exists now: the network's DNS server can listen on it.
    if (!n.predefined) await dns.serve(n.id, n.gateway!);
    const ipEntry = result.ips?.find((i) => i.address.includes('.'));
    if (!ipEntry) throw system(`network ${n.name}: the bridge plugin assigned no IPv4 address`);
    const [ip, prefix] = ipEntry.address.split('/');
    const iface =
      ipEntry.interface !== undefined
        ? result.interfaces?.[ipEntry.interface]
        : result.interfaces?.find((i) => i.sandbox);
    const ip6Entry = result.ips?.find((i) => i.address.includes(':'));
    const [ip6, prefix6] = ip6Entry ? ip6Entry.address.split('/') : [];
    return {
      networkId: n.id,
      endpointId: randomId(),
      ...(ip6 ? { ip6, prefixLen6: Number(prefix6), gateway6: ip6Entry!.gateway ?? n.gateway6 } : {}),
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
    // The container has ended: removing its netns lets the kernel drop the veths in the background (deleting
    // a veth waits ~30 ms for the network stack to settle), and DEL without a netns only has rules and the IP
    // lease to release — so the two go side by side (each is a process to wait for). Endpoints with the bridge
    // plugin's NAT chain need the netns for their DEL.
    const netnsFirst = s.ownNetns && !!s.netnsPath && !s.attachments.some(pluginMasquerade);
    const netnsGone = netnsFirst ? deleteNetns(s.netnsPath!) : undefined;
    for (const a of [...s.attachments].reverse()) await cniDel(s, a, netnsFirst);
    await netnsGone;
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
    const mode = req.network;

    if (mode.startsWith('container:')) {
      const target = sandboxes.get(mode.slice('container:'.length));
      if (!target || target.mode === 'container')
        throw conflict(`cannot join network of a non running container: ${mode.slice('container:'.length)}`);
      s.mode = 'container';
      s.joined = target.containerId;
      s.netnsPath = target.netnsPath;
      sandboxes.set(s.containerId, s);
      store.saveSandbox(s);
      return endpointInfo(s);
    }

    if (mode === 'host') {
      s.mode = 'host';
      s.netnsPath = undefined;
      sandboxes.set(s.containerId, s);
      store.saveSandbox(s);
      writeInPlace(s.hostsPath, hostsFor(s));
      writeInPlace(s.resolvConfPath, resolvFor(s));
      return endpointInfo(s);
    }

    const n = mode === 'none' || mode === '' ? undefined : store.mustFind(mode);
    if (n && n.driver === 'host') return doAttach({ ...req, network: 'host' });
    if (n && n.driver !== 'bridge' && n.driver !== 'null')
      throw invalidParameter(`network ${n.name} has unsupported driver ${n.driver}`);
    const onBridge = n && n.driver === 'bridge' ? n : undefined;
    if (!onBridge && mode !== '') s.mode = 'none';
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

    const { wanted, exposed } = wantedBindings(req, onBridge ? defaultHostIp(onBridge) : undefined);
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
      // A namespace made here has its lo up already; one given (a test's, a sandbox's) may not.
      const madeHere = !s.netnsPath;
      if (!s.netnsPath) {
        const t0 = performance.now();
        s.netnsPath = await createNetns(`berth-${s.containerId.slice(0, 16)}`);
        log.debug('netns create', { container: s.containerId.slice(0, 12), ms: Math.round(performance.now() - t0) });
        s.ownNetns = true;
      }
      // Saved before ADD: if the engine dies mid-way, init finds the record and cleans up.
      sandboxes.set(s.containerId, s);
      store.saveSandbox(s);
      if (madeHere) req.netnsReady?.(s.netnsPath);
      // lo, eth0 and the embedded DNS server's address are independent: made side by side (each is a process
      // to wait for).
      const lo = madeHere ? undefined : loopbackUp(s.netnsPath);
      const eth0 = onBridge ? cniAdd(s, onBridge, 'eth0', s.ports, req.ipv4Address, req.macAddress) : undefined;
      const dnsAt = onBridge && !onBridge.predefined ? onBridge.gateway! : '';
      const redirect = dnsAt ? installDnsRedirect(s.netnsPath, dnsAt, true, loopbackDns(s)) : undefined;
      const [loResult, ethResult, dnsResult] = await Promise.allSettled([lo, eth0, redirect]);
      if (ethResult.status === 'rejected') throw ethResult.reason;
      if (loResult.status === 'rejected') throw loResult.reason;
      if (dnsResult.status === 'rejected') throw dnsResult.reason;
      if (dnsAt) s.dnsRedirect = dnsAt;
      if (onBridge && req.linkLocalIps?.length) await addLinkLocalIps(s.netnsPath, 'eth0', req.linkLocalIps);
      if (onBridge) {
        const a = ethResult.value!;
        a.endpointId = endpointId;
        a.aliases = onBridge.predefined ? [] : [...new Set(req.aliases ?? [])];
        s.attachments.push(a);
        store.saveSandbox(s);
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
    if (onBridge) store.publish('connect', onBridge, { container: s.containerId });
    return endpointInfo(s);
  }

  async function doDetach(containerId: string): Promise<void> {
    const s = sandboxes.get(containerId);
    if (!s) return;
    const nets = s.attachments.map((a) => networks.get(a.networkId)).filter((n): n is NetworkRecord => !!n);
    await releaseSandbox(s);
    for (const n of nets) store.publish('disconnect', n, { container: containerId });
  }

  /** Joins a running container to one more network (`docker network connect`). */
  async function connect(network: string, containerId: string, o: ConnectRequest = {}): Promise<EndpointInfo> {
    const n = store.mustFind(network);
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
    const hadInternalResolver = !!dnsTarget(s);
    const a = await cniAdd(s, n, `eth${i}`, [], o.ipv4Address, o.macAddress);
    a.aliases = n.predefined ? [] : [...new Set(o.aliases ?? [])];
    s.attachments.push(a);
    store.saveSandbox(s);
    if (o.linkLocalIps?.length) await addLinkLocalIps(s.netnsPath!, a.ifName, o.linkLocalIps);
    await syncDns(s, hadInternalResolver);
    writeInPlace(s.hostsPath, hostsFor(s));
    store.publish('connect', n, { container: containerId });
    return endpointInfo(s);
  }

  /** Takes a running container off one of its networks (`docker network disconnect`). */
  async function disconnect(network: string, containerId: string): Promise<EndpointInfo> {
    const n = store.mustFind(network);
    const s = sandboxes.get(containerId);
    const a = s?.attachments.find((x) => x.networkId === n.id);
    if (!s || !a) throw system(`container ${containerId} is not connected to network ${n.name}`);
    const hadInternalResolver = !!dnsTarget(s);
    await cniDel(s, a);
    s.attachments = s.attachments.filter((x) => x !== a);
    if (!s.attachments.length) {
      ports.release(containerId);
      s.ports = [];
    }
    store.saveSandbox(s);
    await syncDns(s, hadInternalResolver);
    writeInPlace(s.hostsPath, hostsFor(s));
    await teardownIfUnused([n.id]);
    store.publish('disconnect', n, { container: containerId });
    return endpointInfo(s);
  }

  /**
   * The published ports' DNAT of `which` (every container) made again, after a firewalld reload flushed the host's
   * tables: portmap's ADD adds only what is missing.
   */
  async function republish(which: Iterable<Sandbox> = sandboxes.values()): Promise<void> {
    for (const s of which)
      for (const a of s.attachments) {
        if (!(a.runtimeConfig.portMappings as unknown[] | undefined)?.length || !a.result || !s.netnsPath) continue;
        const call = {
          containerId: s.containerId,
          netns: s.netnsPath,
          ifName: a.ifName,
          runtimeConfig: a.runtimeConfig,
        };
        await withHostLock(() => readdPlugin(a.conflist, 'portmap', call, a.result!)).catch((err) =>
          log.warn('cannot publish the ports again', { container: s.containerId.slice(0, 12), error: err.message }),
        );
      }
  }

  /**
   * Engine start, for containers that kept running while it was down: their networks' rules (each bridge back in
   * firewalld's berth zone with the reload watch on again, in the background) and their published ports' DNAT made
   * again where missing — a firewall-cmd --reload meanwhile took both — as dockerd's network controller re-programs
   * restored endpoints. A plain restart finds them in place: one iptables-save per network, no plugin run.
   */
  async function restoreRules(restored: Sandbox[]): Promise<void> {
    const onNetworks = new Set(restored.flatMap((s) => s.attachments.map((a) => a.networkId)));
    for (const id of onNetworks) {
      const n = networks.get(id);
      if (!n?.bridge || !n.subnet) continue;
      const rules = ruleSet(n);
      // The engine's start does not wait for the zone.
      bindBridgeInBackground(rules);
      await withHostLock(() => bridgeRules(rules)).catch((err) =>
        log.warn("cannot make a network's rules again", { network: n.name, error: err.message }),
      );
    }
    const nat = await iptablesRules('nat');
    // portmap's rules carry the container's ID in their comments (as sweepContainerRules finds them).
    await republish(restored.filter((s) => !nat.includes(`id: \\"${s.containerId}\\"`)));
  }

  return { releaseSandbox, attach: doAttach, detach: doDetach, connect, disconnect, republish, restoreRules };
}

export type Endpoints = ReturnType<typeof createEndpoints>;
