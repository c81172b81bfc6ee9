// The kernel's switches that container networking depends on, read in the engine's own network namespace (where
// its bridges are), as dockerd reports them in /info with its warnings: forwarding between interfaces, and
// bridged traffic passing through iptables (br_netfilter: without it, published ports between containers on one
// bridge bypass the engine's rules).
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface NetworkFacts {
  ipv4Forwarding: boolean;
  bridgeNfIptables: boolean;
  bridgeNfIp6tables: boolean;
}

/** Reads the switches under `procSys` (/proc/sys); a switch that is absent (module not loaded) is off. */
export function networkFacts(procSys = '/proc/sys'): NetworkFacts {
  const on = (file: string) => {
    try {
      return fs.readFileSync(path.join(procSys, file), 'utf8').trim() === '1';
    } catch {
      return false;
    }
  };
  return {
    ipv4Forwarding: on('net/ipv4/ip_forward'),
    bridgeNfIptables: on('net/bridge/bridge-nf-call-iptables'),
    bridgeNfIp6tables: on('net/bridge/bridge-nf-call-ip6tables'),
  };
}

/** dockerd's warnings for the switches that are off. */
export function networkWarnings(f: NetworkFacts): string[] {
  return [
    ...(f.ipv4Forwarding ? [] : ['WARNING: IPv4 forwarding is disabled']),
    ...(f.bridgeNfIptables ? [] : ['WARNING: bridge-nf-call-iptables is disabled']),
    ...(f.bridgeNfIp6tables ? [] : ['WARNING: bridge-nf-call-ip6tables is disabled']),
  ];
}
