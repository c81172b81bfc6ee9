// A container's view of its network: the hosts and resolv.conf it gets (peers on shared user networks by name and
// alias, rewritten in place as they come and go) and the EndpointInfo that containers and the API read.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log } from '../log';
import { buildHosts, buildResolvConf, type HostsEntry, hostResolvConfPath, parseExtraHost } from './hostfiles';
import { type PortMap, portMap } from './ports';
import type { NetworkStore, Sandbox } from './store';

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

export function createSandboxFiles(store: NetworkStore) {
  const { networks, sandboxes } = store;

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

  const defaultGateway = () => store.find('bridge')?.gateway;

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
      for (const p of store.endpointsOn(a.networkId)) {
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

  return { defaultGateway, hostsFor, resolvFor, writeInPlace, refreshHosts, endpointInfo };
}

export type SandboxFiles = ReturnType<typeof createSandboxFiles>;
