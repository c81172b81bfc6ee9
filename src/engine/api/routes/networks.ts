// /networks in Docker's shapes: create, list, inspect, remove, connect, disconnect, prune.
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import type { EngineServices } from '../services';
import { invalidParameter, notFound } from '../../errdefs';
import type { EndpointInfo, NetworkInfo, NetworkService } from '../../network';
import { filterBool, fuzzyMatch, matchLabels } from '../../../common/docker';
import { parseFilters, pruneUntil } from '../filters';
import { decodeGoJson } from '../gojson';
import type { Router } from '../router';
import { NETWORK_CONNECT, NETWORK_CREATE, NETWORK_DISCONNECT } from '../bodies';

export function renderNetwork(n: NetworkInfo, withContainers: boolean): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  if (withContainers) {
    for (const [id, c] of Object.entries(n.containers)) {
      containers[id] = {
        Name: c.name,
        EndpointID: c.endpointId,
        MacAddress: c.macAddress,
        IPv4Address: c.ipv4Address,
        IPv6Address: c.ipv6Address,
      };
    }
  }
  const config: Record<string, unknown>[] = n.subnet
    ? [
        {
          Subnet: n.subnet,
          Gateway: n.gateway,
          ...(n.ipRange ? { IPRange: n.ipRange } : {}),
          ...(n.auxAddresses && Object.keys(n.auxAddresses).length ? { AuxiliaryAddresses: n.auxAddresses } : {}),
        },
      ]
    : [];
  if (n.subnet6) config.push({ Subnet: n.subnet6, Gateway: n.gateway6 });
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: !!n.subnet6,
    IPAM: { Driver: 'default', Options: n.predefined ? null : n.ipamOptions, Config: config },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: n.options,
    Labels: n.labels,
  };
}

/** EndpointSettings' IPAMConfig.LinkLocalIPs: each an IP address (moby's check and words). */
export function validLinkLocal(ips: string[]): string[] {
  for (const ip of ips) if (!net.isIP(ip)) throw invalidParameter(`invalid link-local IP address: ${ip}`);
  return ips;
}
const LIST_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'] as const;

/** Docker's filters.Match over several values: any may match; none given matches everything. */
const matchAny = (want: string[] | undefined, value: string) => !want || want.some((w) => fuzzyMatch(w, value));

function bool(values: string[] | undefined, key: string): boolean | undefined {
  if (!values) return undefined;
  const b = filterBool(values);
  if (b === undefined) throw invalidParameter(`invalid filter '${key}=${values[0]}'`);
  return b;
}

export function registerNetworkRoutes(router: Router, s: EngineServices): void {
  router.get('/networks', (ctx) => {
    const f = parseFilters(ctx.query.get('filters'), LIST_FILTERS);
    const dangling = bool(f.get('dangling'), 'dangling');
    const type = f.get('type');
    if (type?.some((t) => t !== 'custom' && t !== 'builtin'))
      throw invalidParameter(`invalid filter: 'type'='${type.join(',')}'`);
    const out = s.network
      .list()
      .filter(
        (n) =>
          matchAny(f.get('name'), n.name) &&
          matchAny(f.get('id'), n.id) &&
          (!f.get('driver') || f.get('driver')!.includes(n.driver)) &&
          (!f.get('scope') || f.get('scope')!.includes('local')) &&
          (!type || type.includes(n.predefined ? 'builtin' : 'custom')) &&
          matchLabels(f.get('label'), n.labels) &&
          (dangling === undefined || dangling === (!n.predefined && Object.keys(n.containers).length === 0)),
      );
    ctx.send(
      200,
      out.map((n) => renderNetwork(n, false)),
    );
  });

  router.get('/networks/:id', (ctx) => {
    ctx.send(200, renderNetwork(s.network.get(ctx.params.id), true));
  });

  router.post('/networks/create', async (ctx) => {
    const body = decodeGoJson<any>(await ctx.json(), NETWORK_CREATE);
    const ipam = body.IPAM ?? {};
    const res = await s.network.create({
      name: body.Name,
      driver: body.Driver,
      internal: body.Internal === true,
      attachable: body.Attachable === true,
      labels: body.Labels ?? {},
      options: body.Options ?? {},
      enableIPv6: body.EnableIPv6 === true,
      checkDuplicate: body.CheckDuplicate !== false,
      ipam: {
        driver: ipam.Driver,
        options: ipam.Options ?? {},
        config: (ipam.Config ?? []).map((c: any) => ({
          subnet: c.Subnet || undefined,
          gateway: c.Gateway || undefined,
          ipRange: c.IPRange || undefined,
          auxAddresses: c.AuxiliaryAddresses ?? undefined,
        })),
      },
    });
    ctx.send(201, { Id: res.id, Warning: res.warning });
  });

  router.delete('/networks/:id', async (ctx) => {
    await s.network.remove(ctx.params.id);
    ctx.send(204);
  });

  /** A container's full ID from a name or ID prefix, when the containers subsystem knows it. */
  const knownContainer = (ref: string): string | undefined => {
    try {
      return s.containers.get(ref).id;
    } catch {
      return undefined;
    }
  };

  /** The container a connect/disconnect names: by the containers subsystem when it knows, else by endpoint. */
  const containerOf = (ref: unknown): string => {
    if (typeof ref !== 'string' || !ref) throw invalidParameter('Container is required');
    const id = knownContainer(ref);
    if (id) return id;
    const known = s.network
      .list()
      .flatMap((n) => Object.entries(n.containers))
      .find(([cid, c]) => cid === ref || c.name === ref || cid.startsWith(ref));
    if (known) return known[0];
    if (s.network.endpoint(ref)) return ref;
    throw notFound(`No such container: ${ref}`);
  };

  router.post('/networks/:id/connect', async (ctx) => {
    const body = decodeGoJson<any>(await ctx.json(), NETWORK_CONNECT);
    const ep = body.EndpointConfig ?? {};
    const cfg = {
      aliases: ep.Aliases ?? [],
      ipv4Address: ep.IPAMConfig?.IPv4Address || undefined,
      linkLocalIps: ep.IPAMConfig?.LinkLocalIPs?.length ? validLinkLocal(ep.IPAMConfig.LinkLocalIPs) : undefined,
      macAddress: ep.MacAddress || undefined,
    };
    const n = s.network.get(ctx.params.id);
    const id = containerOf(body.Container);
    // The containers subsystem records the connection (it survives restarts) and applies it if running.
    if (knownContainer(id)) await s.containers.connectNetwork(id, n.name, cfg);
    else await s.network.connect(n.name, id, cfg);
    ctx.send(200);
  });

  router.post('/networks/:id/disconnect', async (ctx) => {
    const body = decodeGoJson<any>(await ctx.json(), NETWORK_DISCONNECT);
    const n = s.network.get(ctx.params.id);
    const id = containerOf(body.Container);
    if (knownContainer(id)) await s.containers.disconnectNetwork(id, n.name);
    else await s.network.disconnect(n.name, id);
    ctx.send(200);
  });

  router.post('/networks/prune', async (ctx) => {
    const f = parseFilters(ctx.query.get('filters'), ['until', 'label', 'label!']);
    const until = pruneUntil(f);
    const deleted = await s.network.prune((n) => {
      if (until !== undefined && BigInt(Date.parse(n.created)) * 1_000_000n >= until) return false;
      if (!matchLabels(f.get('label'), n.labels)) return false;
      const not = f.get('label!');
      if (not && not.some((l) => matchLabels([l], n.labels))) return false;
      return true;
    });
    ctx.send(200, { NetworksDeleted: deleted.length ? deleted : null });
  });
}

/**
 * A container's NetworkSettings in Docker's shape. `networkMode` is HostConfig.NetworkMode; `configured` the
 * networks the container is set up for (names → aliases), shown with empty addresses while it is not running.
 * The top-level IPAddress/Gateway/MacAddress fields describe the default bridge only, as in dockerd.
 */
export function renderNetworkSettings(
  endpoint: EndpointInfo | undefined,
  networkMode: string,
  configured: Record<string, { aliases?: string[]; ipv4Address?: string; linkLocalIps?: string[] }>,
  networks: NetworkService,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    Bridge: '',
    SandboxID: endpoint?.netnsPath ? crypto.createHash('sha256').update(endpoint.netnsPath).digest('hex') : '',
    SandboxKey: endpoint?.netnsPath ?? '',
    Ports: endpoint
      ? Object.fromEntries(
          Object.entries(endpoint.ports).map(([k, v]) => [
            k,
            v && v.map((b) => ({ HostIp: b.hostIp, HostPort: b.hostPort })),
          ]),
        )
      : {},
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: '',
    Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    MacAddress: '',
  };
  const nets: Record<string, unknown> = {};
  const attached = new Map((endpoint?.networks ?? []).map((a) => [a.networkName, a]));
  // Configured keys may be IDs or "default"; Docker shows each network once, by name.
  const canonical = (key: string) => {
    try {
      return networks.get(key).name;
    } catch {
      return key;
    }
  };
  const cfgByName: Record<string, { aliases?: string[]; ipv4Address?: string; linkLocalIps?: string[] }> = {};
  for (const [k, v] of Object.entries(configured)) cfgByName[canonical(k)] = v;
  configured = cfgByName;
  const names = new Set([...Object.keys(configured), ...attached.keys()]);
  // host and none are shown as networks, as in dockerd (the bridge ones are among `configured` from create on).
  if (names.size === 0 && ['host', 'none'].includes(networkMode)) names.add(networkMode);
  for (const name of names) {
    let id = '';
    try {
      id = networks.get(name).id;
    } catch {
      /* removed since */
    }
    const a = attached.get(name);
    const cfg = configured[name] ?? {};
    nets[name] = {
      IPAMConfig:
        cfg.ipv4Address || cfg.linkLocalIps?.length
          ? {
              ...(cfg.ipv4Address ? { IPv4Address: cfg.ipv4Address } : {}),
              ...(cfg.linkLocalIps?.length ? { LinkLocalIPs: cfg.linkLocalIps } : {}),
            }
          : null,
      Links: null,
      Aliases: a?.aliases.length ? a.aliases : cfg.aliases?.length ? cfg.aliases : null,
      MacAddress: a?.macAddress ?? '',
      DriverOpts: null,
      NetworkID: id,
      EndpointID: a?.endpointId ?? '',
      Gateway: a?.gateway ?? '',
      IPAddress: a?.ipAddress ?? '',
      IPPrefixLen: a?.prefixLen ?? 0,
      IPv6Gateway: a?.ipv6Gateway ?? '',
      GlobalIPv6Address: a?.ipv6Address ?? '',
      GlobalIPv6PrefixLen: a?.ipv6PrefixLen ?? 0,
      DNSNames: a?.dnsNames.length ? a.dnsNames : null,
    };
    if (name === 'bridge' && a) {
      Object.assign(out, {
        EndpointID: a.endpointId,
        Gateway: a.gateway,
        IPAddress: a.ipAddress,
        IPPrefixLen: a.prefixLen,
        MacAddress: a.macAddress,
      });
    }
  }
  out.Networks = nets;
  return out;
}
