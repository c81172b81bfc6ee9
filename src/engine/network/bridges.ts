// Bridge networks on the host: the configuration the CNI plugins get for a network, the default bridge brought
// up from daemon.json (bip, default-address-pools) and its subnet claimed host-wide only while in use, and a
// network's host bridge and rules removed once its last endpoint has left (after a short grace period).
import { parseGoBool } from '../../common/docker/bool';
import { invalidParameter, system } from '../errdefs';
import { isIP } from 'node:net';
import { log } from '../log';
import { CNI_VERSION, type CniConflist } from './cni';
import type { DnsServer } from './dns';
import {
  type BridgeRuleSet,
  dropClaim,
  removeBridge,
  removeBridgeRules,
  removeIsolationRules,
  sweepSharedChains,
  withHostLock,
  writeClaim,
} from './host';
import type { Attachment, NetworkRecord, NetworkStore } from './store';
import { firstHost, formatCidr, formatIp, overlaps, parseCidr, parseIp, pickSubnet } from './subnets';

export const ENABLE_ICC = 'com.docker.network.bridge.enable_icc';
export const HOST_BINDING_IPV4 = 'com.docker.network.bridge.host_binding_ipv4';

/** dockerd's checks of the bridge driver's boolean and address options at create (its words, a 500 there). */
export function checkBridgeOptions(options: Record<string, string>): void {
  for (const key of [ENABLE_ICC, 'com.docker.network.bridge.enable_ip_masquerade']) {
    const v = options[key];
    if (v !== undefined && parseGoBool(v) === undefined)
      throw system(
        `failed to parse ${key} value: ${v} (strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax)`,
      );
  }
  const ip = options[HOST_BINDING_IPV4];
  if (ip !== undefined && !isIP(ip)) throw system(`failed to parse ${HOST_BINDING_IPV4} value: ${ip} (nil ip)`);
}

export function createBridges(store: NetworkStore, dns: DnsServer) {
  const { networks, opts, pools, defaultBridge, ipamDir } = store;

  function conflistFor(n: NetworkRecord): CniConflist {
    const range: Record<string, string> = { subnet: n.subnet!, gateway: n.gateway! };
    if (n.ipRange) {
      // As dockerd's allocator: every address of the range, but the subnet's own network and broadcast ones.
      const r = parseCidr(n.ipRange)!;
      const sub = parseCidr(n.subnet!)!;
      const subLast = sub.base + 2 ** (32 - sub.prefix) - 1;
      range.rangeStart = formatIp(Math.max(r.base, sub.base + 1));
      range.rangeEnd = formatIp(Math.min(r.base + 2 ** (32 - r.prefix) - 1, subLast - 1));
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
          // An --ipv6 network: a second range set, so each container gets one address of each family.
          ipam: {
            type: 'host-local',
            dataDir: ipamDir,
            ranges: n.subnet6 ? [[range], [{ subnet: n.subnet6, gateway: n.gateway6! }]] : [[range]],
          },
          capabilities: { ips: true, mac: true },
        },
        // snat: masquerades hairpin and 127.0.0.1-sourced traffic to published ports and turns on
        // route_localnet on the bridge, which is what makes `-p` reachable on the host's 127.0.0.1.
        { type: 'portmap', capabilities: { portMappings: true }, snat: true },
        // No firewall plugin: forwarding and isolation between networks are per-network rules (ensureBridgeRules).
      ],
    };
  }

  /** Removes a network's host bridge and its rules (and CNI chains older endpoints left, once unused). */
  async function teardownBridge(n: NetworkRecord): Promise<void> {
    await dns.stop(n.id);
    await withHostLock(async () => {
      await removeBridgeRules(n.bridge!);
      await removeBridge(n.bridge!);
      await removeIsolationRules(n.bridge!);
      await sweepSharedChains();
      if (n.predefined && n.subnet) dropClaim(n.subnet, opts.dataRoot);
    });
  }

  /** A network's host rules: enable_ip_masquerade and enable_icc default to true, as dockerd's. */
  const ruleSet = (n: NetworkRecord): BridgeRuleSet => ({
    bridge: n.bridge!,
    subnet: n.subnet!,
    masquerade:
      !n.internal && parseGoBool(n.options['com.docker.network.bridge.enable_ip_masquerade'] ?? 'true') !== false,
    internal: n.internal,
    // The embedded DNS server serves user-defined networks only (the default bridge uses the host's resolvers).
    dnsAddress: n.predefined ? undefined : n.gateway,
    icc: parseGoBool(n.options[ENABLE_ICC] ?? 'true') !== false,
  });
  /** host_binding_ipv4: the host address a `-p` without one binds on this network (dockerd's default 0.0.0.0). */
  const defaultHostIp = (n: NetworkRecord) => n.options[HOST_BINDING_IPV4] || '0.0.0.0';
  /** Endpoints made before the per-network rules carry the bridge plugin's own NAT chain: its DEL needs the netns. */
  const pluginMasquerade = (a: Attachment) => a.conflist.plugins.some((p) => p.type === 'bridge' && p.ipMasq);

  // A bridge outlives its last endpoint by a short grace period, so `docker run --rm` in a loop does not pay
  // for making and unmaking it (and the shared chains) every time.
  const idleTimers = new Map<string, NodeJS.Timeout>();
  const idleMs = opts.idleBridgeMs ?? 3000;

  async function teardownIfUnused(networkIds: Iterable<string>): Promise<void> {
    for (const id of new Set(networkIds)) {
      const n = networks.get(id);
      if (!n?.bridge || store.endpointsOn(id).length) continue;
      clearTimeout(idleTimers.get(id));
      if (idleMs <= 0) {
        await teardownBridge(n);
        continue;
      }
      const timer = setTimeout(() => {
        idleTimers.delete(id);
        void store
          .serial(async () => {
            const cur = networks.get(id);
            if (cur?.bridge && !store.endpointsOn(id).length) await teardownBridge(cur);
          })
          .catch((err) => log.warn('cannot remove an idle bridge', { network: n.name, error: err.message }));
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
      if (n?.bridge && !store.endpointsOn(id).length) await teardownBridge(n);
    }
  }

  async function ensureDefaultBridge(): Promise<void> {
    let n = networks.get([...networks.values()].find((x) => x.name === 'bridge')?.id ?? '');
    const busy = n ? store.endpointsOn(n.id).length > 0 : false;
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
        const taken = await store.takenSubnets(n?.id);
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
        [ENABLE_ICC]: String(opts.icc ?? true),
        'com.docker.network.bridge.enable_ip_masquerade': 'true',
        [HOST_BINDING_IPV4]: opts.hostBindingIp ?? '0.0.0.0',
        'com.docker.network.bridge.name': defaultBridge,
        'com.docker.network.driver.mtu': '1500',
      };
      if (n && n.subnet !== subnet) dropClaim(n.subnet!, opts.dataRoot);
      if (n?.bridge && n.bridge !== defaultBridge) await teardownBridge(n); // renamed in daemon.json: the old one goes
      n = n
        ? { ...n, subnet, gateway, bridge: defaultBridge, options }
        : store.newRecord('bridge', 'bridge', { subnet, gateway, bridge: defaultBridge, options, predefined: true });
      networks.set(n.id, n);
      store.saveNetwork(n);
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
      if ((await store.takenSubnets(n.id)).some((t) => overlaps(t, mine))) {
        if (opts.bip)
          throw system(`the default bridge's subnet ${n.subnet} (bip) is in use by another network on this host`);
        const c = pickSubnet(pools, await store.takenSubnets(n.id));
        if (!c)
          throw system(
            'could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network',
          );
        log.info('the default bridge moves to a free subnet', { from: n.subnet, to: formatCidr(c) });
        n.subnet = formatCidr(c);
        n.gateway = firstHost(c);
        store.saveNetwork(n);
      }
      writeClaim({ subnet: n.subnet!, dataRoot: opts.dataRoot, networkId: n.id });
    });
  }

  return {
    conflistFor,
    ruleSet,
    defaultHostIp,
    pluginMasquerade,
    teardownBridge,
    teardownIfUnused,
    flushIdle,
    ensureDefaultBridge,
    claimDefaultSubnet,
  };
}

export type Bridges = ReturnType<typeof createBridges>;
