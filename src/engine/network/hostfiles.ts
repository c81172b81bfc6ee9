// /etc/hosts and /etc/resolv.conf for containers, as pure functions of what the engine knows.
//
// Name resolution between containers on a user-defined network is done through /etc/hosts, not Docker's
// embedded DNS server at 127.0.0.11: each container's hosts file lists its peers on shared user networks (by
// name and --network-alias) and is rewritten in place when peers join or leave. It needs no resolver process
// per container and no NAT of port 53, works for every libc, and the file is the container's own (a bind mount
// of a file in its state directory). What it cannot do that the DNS server can: round-robin several containers
// under one alias (all lines are listed; resolvers use the first).
import { parseIp } from './subnets';

export interface HostsEntry {
  ip: string;
  names: string[];
}

const DEFAULT_HOSTS = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

/**
 * Docker's layout: the localhost block, `--add-host` entries, the container's own address with its hostname,
 * then (Berth) the peers that share a user-defined network with it.
 */
export function buildHosts(opts: { self?: HostsEntry; extraHosts?: HostsEntry[]; peers?: HostsEntry[] }): string {
  const lines = [...DEFAULT_HOSTS];
  for (const e of opts.extraHosts ?? []) lines.push(`${e.ip}\t${e.names.join(' ')}`);
  if (opts.self) lines.push(`${opts.self.ip}\t${opts.self.names.join(' ')}`);
  for (const e of opts.peers ?? []) if (e.names.length) lines.push(`${e.ip}\t${e.names.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** `--add-host name:ip` (or `name=ip`, Docker 25+); `host-gateway` stands for the default bridge's gateway. */
export function parseExtraHost(spec: string, hostGateway: string | undefined): HostsEntry {
  const i = spec.search(/[:=]/);
  const name = i < 0 ? '' : spec.slice(0, i);
  let ip = i < 0 ? '' : spec.slice(i + 1).replace(/^\[(.*)\]$/, '$1');
  if (ip === 'host-gateway') ip = hostGateway ?? '';
  if (!name || !ip || (parseIp(ip) === undefined && !ip.includes(':'))) {
    throw new Error(`invalid IP address in add-host: "${spec}"`);
  }
  return { ip, names: [name] };
}

function isLoopbackNameserver(ip: string): boolean {
  return /^127\./.test(ip) || ip === '::1' || ip === '0:0:0:0:0:0:0:1';
}

// dockerd's fallback when the host has only loopback resolvers (which a container cannot reach).
const DEFAULT_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

/**
 * The container's resolv.conf: the host's, without loopback nameservers (unreachable from the container's own
 * network namespace), with --dns/--dns-search/--dns-option replacing the host's lines. `keepLoopback` is for
 * --network host, where the host's resolvers are reachable.
 */
export function buildResolvConf(
  hostText: string,
  opts: { dns?: string[]; dnsSearch?: string[]; dnsOptions?: string[]; keepLoopback?: boolean },
): string {
  const lines = hostText.split('\n');
  const out: string[] = [];
  let nameservers = 0;
  for (const line of lines) {
    const t = line.trim();
    const ns = /^nameserver\s+(\S+)/.exec(t);
    if (ns) {
      if (opts.dns?.length) continue;
      if (!opts.keepLoopback && isLoopbackNameserver(ns[1])) continue;
      nameservers++;
    } else if (opts.dnsSearch?.length && /^(search|domain)\s/.test(t)) {
      continue;
    } else if (opts.dnsOptions?.length && /^options\s/.test(t)) {
      continue;
    }
    out.push(line);
  }
  while (out.length && out[out.length - 1].trim() === '') out.pop();
  if (opts.dns?.length) out.push(...opts.dns.map((d) => `nameserver ${d}`));
  else if (nameservers === 0) out.push(...DEFAULT_NAMESERVERS.map((d) => `nameserver ${d}`));
  if (opts.dnsSearch?.length) out.push(`search ${opts.dnsSearch.join(' ')}`);
  if (opts.dnsOptions?.length) out.push(`options ${opts.dnsOptions.join(' ')}`);
  return out.join('\n') + '\n';
}

/** Where the host's resolvers really are: systemd-resolved's stub (127.0.0.53) hides them, as dockerd knows. */
export function hostResolvConfPath(read: (p: string) => string | undefined): string {
  const main = read('/etc/resolv.conf');
  if (main !== undefined) {
    const servers = [...main.matchAll(/^\s*nameserver\s+(\S+)/gm)].map((m) => m[1]);
    if (
      servers.length &&
      servers.every((s) => s === '127.0.0.53') &&
      read('/run/systemd/resolve/resolv.conf') !== undefined
    ) {
      return '/run/systemd/resolve/resolv.conf';
    }
  }
  return '/etc/resolv.conf';
}
