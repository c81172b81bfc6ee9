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

// ---- IPv6 (networks created with --ipv6) ----

export interface Cidr6 {
  base: bigint;
  prefix: number;
}

const ALL6 = (1n << 128n) - 1n;
const mask6 = (prefix: number) => (prefix === 0 ? 0n : (ALL6 << BigInt(128 - prefix)) & ALL6);

export function parseIp6(ip: string): bigint | undefined {
  if (!/^[0-9a-fA-F:]+$/.test(ip) || !ip.includes(':')) return undefined;
  const halves = ip.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...new Array(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** The shortest form (RFC 5952): lowercase, the longest run of zero groups as "::". */
export function formatIp6(n: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** "2001:db8::/64"; `strict` refuses host bits, as `docker network create --subnet` does. */
export function parseCidr6(text: string, strict = false): Cidr6 | undefined {
  const [ip, p] = text.split('/');
  const addr = parseIp6(ip);
  const prefix = p === undefined ? 128 : /^\d{1,3}$/.test(p) ? Number(p) : NaN;
  if (addr === undefined || !(prefix >= 0 && prefix <= 128)) return undefined;
  const base = addr & mask6(prefix);
  if (strict && base !== addr) return undefined;
  return { base, prefix };
}

export const formatCidr6 = (c: Cidr6) => `${formatIp6(c.base)}/${c.prefix}`;
export const overlaps6 = (a: Cidr6, b: Cidr6) => {
  const m = mask6(Math.min(a.prefix, b.prefix));
  return (a.base & m) === (b.base & m);
};
export const contains6 = (net: Cidr6, ip: bigint) => (ip & mask6(net.prefix)) === net.base;
export const firstHost6 = (c: Cidr6) => formatIp6(c.base + 1n);

/**
 * A unique local /64 for an --ipv6 network given no IPv6 subnet (as Docker 27 does): in a /48 of fd00::/8 drawn
 * from `seed` (the engine's data root), the first /64 that overlaps nothing in `taken`.
 */
export function pickUla64(seed: Buffer, taken: Cidr6[]): Cidr6 | undefined {
  const global = BigInt(`0x${seed.subarray(0, 5).toString('hex')}`);
  const base48 = (0xfdn << 120n) | (global << 80n);
  for (let i = 0n; i < 65536n; i++) {
    const c = { base: base48 | (i << 64n), prefix: 64 };
    if (!taken.some((t) => overlaps6(t, c))) return c;
  }
  return undefined;
}
