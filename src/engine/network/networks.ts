// Network records: `docker network create` checked as dockerd checks it (names, drivers, IPAM: subnet, gateway,
// ip-range, overlaps with routes and other engines' claims) and `docker network rm`, which takes the host bridge,
// its rules and its address leases along.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { conflict, forbidden, invalidParameter, notFound, notImplemented, system } from '../errdefs';
import { type Bridges, checkBridgeOptions } from './bridges';
import { claimed6ByOthers, claimedByOthers, dropClaim, withHostLock, writeClaim } from './host';
import { type NetworkRecord, type NetworkStore, randomId } from './store';
import {
  type Cidr,
  type Cidr6,
  contains,
  contains6,
  firstHost,
  firstHost6,
  formatCidr,
  formatCidr6,
  formatIp6,
  overlaps,
  overlaps6,
  parseCidr,
  parseCidr6,
  parseIp,
  parseIp6,
  pickSubnet,
  pickUla64,
} from './subnets';

export interface CreateNetworkOptions {
  name: string;
  driver?: string;
  internal?: boolean;
  attachable?: boolean;
  labels?: Record<string, string>;
  options?: Record<string, string>;
  ipam?: {
    driver?: string;
    config?: { subnet?: string; gateway?: string; ipRange?: string; auxAddresses?: Record<string, string> }[];
    options?: Record<string, string>;
  };
  enableIPv6?: boolean;
  checkDuplicate?: boolean;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function createNetworks(store: NetworkStore, bridges: Pick<Bridges, 'conflistFor' | 'teardownBridge'>) {
  const { networks, opts, pools, netDir, ipamDir } = store;
  const { conflistFor, teardownBridge } = bridges;

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
    if (o.ipam?.driver && o.ipam.driver !== 'default') throw notFound(`plugin "${o.ipam.driver}" not found`);
    // One IPv4 and (with --ipv6) one IPv6 config: which is which goes by the subnet's form.
    const configs = o.ipam?.config ?? [];
    const isV6 = (c: { subnet?: string; gateway?: string }) => !!(c.subnet ?? c.gateway ?? '').includes(':');
    const v4Configs = configs.filter((c) => !isV6(c));
    const v6Configs = configs.filter(isV6);
    if (v4Configs.length > 1 || v6Configs.length > 1)
      throw notImplemented('more than one IPAM config (subnet) per address family is not supported');
    if (v6Configs.length && !o.enableIPv6)
      throw invalidParameter('an IPv6 subnet was given but IPv6 is not enabled on the network (--ipv6)');
    const cfg = v4Configs[0] ?? {};
    const cfg6 = v6Configs[0];
    const id = randomId();
    const options = { ...(o.options ?? {}) };
    checkBridgeOptions(options);
    const bridge = options['com.docker.network.bridge.name'] || `br-${id.slice(0, 12)}`;
    if (bridge.length > 15) throw invalidParameter(`bridge name ${bridge} is longer than 15 characters`);
    if ([...networks.values()].some((n) => n.bridge === bridge))
      throw conflict(`bridge name ${bridge} is already in use by another network`);

    return withHostLock(async () => {
      const taken = await store.takenSubnets();
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
        const others = claimedByOthers(opts.dataRoot);
        if ([...ours, ...others].some((t) => overlaps(t, c)))
          throw forbidden('Pool overlaps with other one on this address space');
        subnet = c;
      } else {
        if (cfg.gateway || cfg.ipRange || Object.keys(cfg.auxAddresses ?? {}).length)
          throw invalidParameter('a gateway, ip-range or aux-address needs a subnet');
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
      const v6 = o.enableIPv6 ? ipv6Config(cfg6) : undefined;
      const n = store.newRecord(name, 'bridge', {
        id,
        subnet: formatCidr(subnet),
        gateway,
        ipRange: cfg.ipRange,
        auxAddresses: auxAddresses(cfg.auxAddresses, subnet, gateway),
        subnet6: v6?.subnet,
        gateway6: v6?.gateway,
        bridge,
        internal: !!o.internal,
        attachable: !!o.attachable,
        labels: o.labels ?? {},
        options,
        ipamOptions: o.ipam?.options ?? {},
      });
      networks.set(n.id, n);
      store.saveNetwork(n);
      reserveAuxAddresses(n);
      writeClaim({ subnet: n.subnet!, dataRoot: opts.dataRoot, networkId: n.id });
      if (n.subnet6) writeClaim({ subnet: n.subnet6, dataRoot: opts.dataRoot, networkId: n.id });
      store.publish('create', n);
      return { id: n.id, warning: '' };
    });
  }

  /** --aux-address name=ip: IPv4 addresses of the subnet, not its gateway (moby's words when outside it). */
  function auxAddresses(
    given: Record<string, string> | undefined,
    subnet: Cidr,
    gateway: string,
  ): Record<string, string> | undefined {
    if (!given || !Object.keys(given).length) return undefined;
    for (const [k, v] of Object.entries(given)) {
      const ip = parseIp(v);
      if (ip === undefined) throw invalidParameter(`invalid auxiliary address ${k}=${v}`);
      if (!contains(subnet, ip))
        throw forbidden(`auxiliary address: (${k}:${v}) must belong to the master pool: ${formatCidr(subnet)}`);
      if (v === gateway) throw forbidden(`auxiliary address: (${k}:${v}) is the network's gateway`);
    }
    return { ...given };
  }

  /** host-local never hands out an address that has a lease file: the aux addresses get one each. */
  function reserveAuxAddresses(n: NetworkRecord): void {
    if (!n.auxAddresses) return;
    const dir = path.join(ipamDir, conflistFor(n).name);
    fs.mkdirSync(dir, { recursive: true });
    for (const ip of Object.values(n.auxAddresses)) fs.writeFileSync(path.join(dir, ip), 'aux-address\n');
  }

  /**
   * The IPv6 subnet and gateway of an --ipv6 network: the one given (no host bits, not overlapping any network of
   * this or another engine), or a unique local /64 of the engine's own. Runs under the host lock.
   */
  function ipv6Config(c: { subnet?: string; gateway?: string } | undefined): { subnet: string; gateway: string } {
    const ours = [...networks.values()].map((n) => n.subnet6).filter((x): x is string => !!x);
    const taken = [...ours.map((x) => parseCidr6(x)!), ...claimed6ByOthers(opts.dataRoot)];
    let subnet: Cidr6;
    if (c?.subnet) {
      const p = parseCidr6(c.subnet, true);
      if (!p || !c.subnet.includes('/'))
        throw invalidParameter(`invalid subnet ${c.subnet}: want a network address with a prefix, e.g. 2001:db8::/64`);
      if (p.prefix > 124) throw invalidParameter(`subnet ${c.subnet} is too small`);
      if (taken.some((t) => overlaps6(t, p))) throw forbidden('Pool overlaps with other one on this address space');
      subnet = p;
    } else {
      const seed = crypto.createHash('sha256').update(path.resolve(opts.dataRoot)).digest();
      const p = pickUla64(seed, taken);
      if (!p)
        throw system(
          'could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network',
        );
      subnet = p;
    }
    let gateway = firstHost6(subnet);
    if (c?.gateway) {
      const g = parseIp6(c.gateway);
      if (g === undefined || !contains6(subnet, g))
        throw invalidParameter(`gateway ${c.gateway} is not in subnet ${formatCidr6(subnet)}`);
      gateway = formatIp6(g);
    }
    return { subnet: formatCidr6(subnet), gateway };
  }

  async function doRemove(n: NetworkRecord): Promise<void> {
    if (n.predefined) throw forbidden(`${n.name} is a pre-defined network and cannot be removed`);
    const eps = store.endpointsOn(n.id);
    if (eps.length) {
      throw conflict(`error while removing network: network ${n.name} id ${n.id} has active endpoints`);
    }
    // The bridge, its rules and its DNS listener go as when it idles out.
    await teardownBridge(n);
    await withHostLock(async () => {
      fs.rmSync(path.join(ipamDir, conflistFor(n).name), { recursive: true, force: true });
      fs.rmSync(path.join(netDir, `${n.id}.json`), { force: true });
      networks.delete(n.id);
      dropClaim(n.subnet!, opts.dataRoot);
      if (n.subnet6) dropClaim(n.subnet6, opts.dataRoot);
    });
    store.publish('destroy', n);
  }

  return { create: doCreate, remove: doRemove };
}
