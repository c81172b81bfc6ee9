// IPv4 subnet arithmetic and the choice of a free subnet, the way dockerd does it: `bip` wins for the default
// bridge, otherwise the first subnet from the address pools that overlaps no host route and no network of this
// or another Berth engine on the host.
import { invalidParameter } from '../errdefs';
import type { AddressPool } from '../config';

export interface Cidr {
  base: number;
  prefix: number;
}

export function parseIp(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "a.b.c.d/n" (or a bare address, /32). `strict` refuses host bits, as `docker network create --subnet` does. */
export function parseCidr(text: string, strict = false): Cidr | undefined {
  const [ip, p] = text.split('/');
  const addr = parseIp(ip);
  const prefix = p === undefined ? 32 : /^\d{1,2}$/.test(p) ? Number(p) : NaN;
  if (addr === undefined || !(prefix >= 0 && prefix <= 32)) return undefined;
  const base = (addr & mask(prefix)) >>> 0;
  if (strict && base !== addr) return undefined;
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & mask(p)) >>> 0 === (b.base & mask(p)) >>> 0;
}

export function contains(net: Cidr, ip: number): boolean {
  return (ip & mask(net.prefix)) >>> 0 === net.base;
}

/** The first usable address: Docker's default gateway. */
export function firstHost(c: Cidr): string {
  return formatIp(c.base + 1);
}

/** Docker's default-address-pools when daemon.json sets none: 172.17–172.31 as /16s, then 192.168/16 as /20s. */
export function defaultPools(): AddressPool[] {
  const pools: AddressPool[] = [];
  for (let i = 17; i <= 31; i++) pools.push({ base: `172.${i}.0.0/16`, size: 16 });
  pools.push({ base: '192.168.0.0/16', size: 20 });
  return pools;
}

/** Every subnet the pools can hand out, in order. */
export function* poolSubnets(pools: AddressPool[]): Generator<Cidr> {
  for (const pool of pools) {
    const base = parseCidr(pool.base);
    if (!base || pool.size < base.prefix || pool.size > 30)
      throw invalidParameter(`invalid default-address-pools entry ${pool.base} size ${pool.size}`);
    const step = 2 ** (32 - pool.size);
    const count = 2 ** (pool.size - base.prefix);
    for (let i = 0; i < count; i++) yield { base: (base.base + i * step) >>> 0, prefix: pool.size };
  }
}

/** The first pool subnet that overlaps nothing in `taken`. */
export function pickSubnet(pools: AddressPool[], taken: Cidr[]): Cidr | undefined {
  for (const c of poolSubnets(pools)) {
    if (!taken.some((t) => overlaps(t, c))) return c;
  }
  return undefined;
}

/**
 * Host routes (from `ip -j -4 route`) as subnets, minus the default route and routes on devices we own. A
 * network whose subnet overlaps one of these would make the host's own traffic go astray.
 */
export function routeSubnets(routes: { dst: string; dev?: string }[], ownDevices: Set<string>): Cidr[] {
  const out: Cidr[] = [];
  for (const r of routes) {
    if (r.dst === 'default' || (r.dev && ownDevices.has(r.dev))) continue;
    const c = parseCidr(r.dst);
    if (c) out.push(c);
  }
  return out;
}
