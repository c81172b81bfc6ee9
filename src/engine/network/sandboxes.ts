// A container's view of its network: the hosts and resolv.conf it gets, what the embedded DNS server answers it
// (names and aliases on the user-defined networks it is on, its upstream servers), and the EndpointInfo that
// containers and the API read.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log } from '../log';
import type { DnsAsker } from './dns';
import type { DnsNetwork } from './dnsanswers';
import { EMBEDDED_DNS, LOOPBACK_DNS_PORT } from './host';
import {
  buildHosts,
  buildInternalResolvConf,
  buildResolvConf,
  type HostsEntry,
  hostResolvConfPath,
  parseExtraHost,
} from './hostfiles';
import { type PortMap, portMap } from './ports';
import type { Attachment, NetworkStore, Sandbox } from './store';

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
  /** On an IPv6 network ('' and 0 otherwise). */
  ipv6Address: string;
  ipv6PrefixLen: number;
  ipv6Gateway: string;
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

  /** The host's resolv.conf and its path (BERTH_HOST_RESOLV_CONF names another file: tests, unusual hosts). */
  function hostResolv(): { text: string; path: string } {
    const read = (p: string) => {
      try {
        return fs.readFileSync(p, 'utf8');
      } catch {
        return undefined;
      }
    };
    const p = process.env.BERTH_HOST_RESOLV_CONF || hostResolvConfPath(read);
    return { text: read(p) ?? '', path: p };
  }

  /** User-defined networks have the embedded DNS server; the default bridge has not, as in Docker. */
  const hasDns = (a: Attachment) => {
    const n = networks.get(a.networkId);
    return !!n && !n.predefined && n.driver === 'bridge';
  };
  /** The gateway a sandbox's 127.0.0.11 goes to: its first user-defined network's ('' with none). */
  const dnsTarget = (s: Sandbox) => (s.mode === 'bridge' ? (s.attachments.find(hasDns)?.gateway ?? '') : '');

  /** Docker's DNSNames of an endpoint: container name, aliases, short ID, hostname. */
  const dnsNames = (s: Sandbox, a: Attachment) =>
    [...new Set([s.containerName, ...a.aliases, s.containerId.slice(0, 12), s.hostname])].filter(Boolean);

  function internalResolv(s: Sandbox) {
    const host = hostResolv();
    return buildInternalResolvConf(host.text, host.path, {
      dns: s.dns,
      dnsSearch: s.dnsSearch,
      dnsOptions: s.dnsOptions,
      internalNs: EMBEDDED_DNS,
    });
  }

  /**
   * Who asks the embedded DNS server on network `networkId` from `source`, and what it may see: the names on
   * every user-defined network it is on, in its order. A source no endpoint has (the host itself) sees that
   * network's names. A container only on internal networks gets nothing forwarded, as in dockerd.
   */
  function dnsAsker(networkId: string, source: string): DnsAsker {
    const s = [...sandboxes.values()].find(
      (x) => x.mode === 'bridge' && x.attachments.some((a) => a.networkId === networkId && a.ip === source),
    );
    const ids = s ? s.attachments.filter(hasDns).map((a) => a.networkId) : [networkId];
    const view: DnsNetwork[] = [];
    for (const id of ids) {
      const n = networks.get(id);
      if (!n) continue;
      const endpoints = store.endpointsOn(id).map((p) => {
        const a = p.attachments.find((x) => x.networkId === id)!;
        return { names: dnsNames(p, a), ipv4: a.ip, ipv6: a.ip6 };
      });
      view.push({ name: n.name, endpoints });
    }
    if (!s) return { view: { networks: view }, upstreams: [], ndotsSet: false };
    const external = s.attachments.some((a) => !networks.get(a.networkId)?.internal);
    const rc = internalResolv(s);
    // A --dns server on the container's loopback is asked at the container's address on the network that
    // carries its 127.0.0.11 (installDnsRedirect turns that port into the loopback server's).
    const via = s.attachments.find((a) => a.gateway === dnsTarget(s))?.ip;
    const upstreams = rc.upstreams.flatMap((u) => {
      const i = rc.containerLoopback.indexOf(u);
      if (i < 0) return [u];
      return via ? [`${via}:${LOOPBACK_DNS_PORT + i}`] : [];
    });
    return { view: { networks: view }, upstreams: external ? upstreams : [], ndotsSet: rc.ndotsSet };
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
    // Peers are not listed: the embedded DNS server answers their names, as in Docker (several behind one
    // alias in turn, containers that join later at once).
    return buildHosts({ self, extraHosts: extra });
  }

  const resolvFor = (s: Sandbox) =>
    dnsTarget(s)
      ? internalResolv(s).content
      : buildResolvConf(hostResolv().text, {
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
        const names = n && !n.predefined ? dnsNames(src, a) : [];
        return {
          networkId: a.networkId,
          networkName: n?.name ?? a.networkId,
          endpointId: a.endpointId,
          ipAddress: a.ip,
          prefixLen: a.prefixLen,
          gateway: a.gateway,
          macAddress: a.mac,
          aliases: a.aliases,
          dnsNames: names,
          ipv6Address: a.ip6 ?? '',
          ipv6PrefixLen: a.prefixLen6 ?? 0,
          ipv6Gateway: a.gateway6 ?? '',
        };
      }),
    };
  }

  return { defaultGateway, hostsFor, resolvFor, writeInPlace, endpointInfo, dnsTarget, dnsAsker };
}

export type SandboxFiles = ReturnType<typeof createSandboxFiles>;
