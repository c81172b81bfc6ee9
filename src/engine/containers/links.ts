// Legacy links (--link name:alias, compose 1.x `links:`), as moby keeps them: on the default bridge the linked
// container must exist at create and run at start, and the linking one gets its address in /etc/hosts (alias,
// hostname and name) and Docker's link variables (ALIAS_PORT_80_TCP_ADDR…, ALIAS_NAME, ALIAS_ENV_…). On a
// user-defined network moby resolves links by its embedded DNS only; here they also go into /etc/hosts, so the
// alias resolves either way, and inspect shows no Links there (as moby).
import { conflict, invalidParameter } from '../errdefs';
import type { ContainerRecord, HostConfig } from './state';
import type { ContainerStore } from './store';

export interface Link {
  /** The linked container as given (name or ID); its ID once resolved at create on the default bridge. */
  container: string;
  alias: string;
}

const legacy = (networkMode: string) => ['', 'default', 'bridge'].includes(networkMode || 'default');

/** `name[:alias]` as moby's opts.ParseLink reads it (a leading / allowed on both). */
export function parseLink(spec: string): Link {
  const [name, alias, extra] = spec.split(':');
  if (!name || extra !== undefined) throw invalidParameter(`bad format for links: ${spec}`);
  const strip = (s: string) => s.replace(/^\//, '');
  return { container: strip(name), alias: strip(alias || name) };
}

/** Create's checks (moby's registerLinks): on the default bridge each linked container must exist. */
export function checkLinks(store: ContainerStore, hc: HostConfig, given: string[]): Link[] {
  const links = given.map(parseLink);
  if (!links.length) return links;
  if (hc.networkMode === 'host')
    throw invalidParameter(
      "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
    );
  if (!legacy(hc.networkMode)) return links;
  return links.map((l) => {
    let child: ContainerRecord;
    try {
      child = store.lookup(l.container);
    } catch (err: any) {
      throw invalidParameter(`could not get container for ${l.container}: ${err.message}`);
    }
    if (child.hostConfig.networkMode === 'host')
      throw invalidParameter(
        "conflicting options: host type networking can't be used with links. This would result in undefined behavior",
      );
    return { container: child.id, alias: l.alias };
  });
}

/** HostConfig.Links in inspect: "/child:/parent/alias" on the default bridge, none on user-defined networks. */
export function inspectLinks(c: ContainerRecord, byId: (id: string) => ContainerRecord | undefined): string[] | null {
  if (!legacy(c.hostConfig.networkMode) || !c.hostConfig.links?.length) return null;
  const out: string[] = [];
  for (const l of c.hostConfig.links) {
    const child = byId(l.container);
    if (child) out.push(`/${child.name}:/${c.name}/${l.alias}`);
  }
  return out.length ? out : null;
}

/**
 * What a start adds for the links: /etc/hosts lines (as --add-host specs) and the environment. `lenient` (a
 * linked container restarted while this one runs) leaves out the linked containers that are not up instead.
 */
export function resolveLinks(
  store: ContainerStore,
  c: ContainerRecord,
  lenient = false,
): { extraHosts: string[]; env: string[] } {
  const out = { extraHosts: [] as string[], env: [] as string[] };
  const net = store.deps.network;
  if (!c.hostConfig.links?.length || !net) return out;
  const isLegacy = legacy(c.hostConfig.networkMode);
  const joins = new Set(Object.keys(c.networks).map((k) => (k === 'default' ? 'bridge' : k)));
  for (const l of c.hostConfig.links) {
    let child: ContainerRecord | undefined;
    try {
      child = store.lookup(l.container);
    } catch {
      child = undefined;
    }
    const running = child && (child.state.status === 'running' || child.state.status === 'paused');
    if (!child || !running) {
      if (isLegacy && !lenient)
        throw conflict(
          `Cannot link to a non running container: /${child?.name ?? l.container} AS /${c.name}/${l.alias}`,
        );
      continue; // on a user-defined network a link to a container not up is no error (names come and go)
    }
    const shared = net.endpoint(child.id)?.networks.find((a) => joins.has(a.networkName) || joins.has(a.networkId));
    if (!shared?.ipAddress) {
      if (isLegacy && !lenient) throw invalidParameter(`container ${child.id} not attached to default bridge network`);
      continue;
    }
    // moby: the alias, the linked container's hostname, and its name when the alias differs.
    const names = [l.alias, child.config.hostname, ...(l.alias !== child.name ? [child.name] : [])];
    out.extraHosts.push(`${names.join(' ')}:${shared.ipAddress}`);
    if (isLegacy) out.env.push(...linkEnv(`/${c.name}/${l.alias}`, shared.ipAddress, child));
  }
  return out;
}

/** moby's links.Link.ToEnv(): ports (the lowest as ALIAS_PORT, contiguous runs as _START/_END), name, env. */
export function linkEnv(linkName: string, ip: string, child: Pick<ContainerRecord, 'config'>): string[] {
  const alias = linkName
    .slice(linkName.lastIndexOf('/') + 1)
    .toUpperCase()
    .replace(/-/g, '_');
  const ports = child.config.exposedPorts
    .map((p) => {
      const [port, proto = 'tcp'] = p.split('/');
      return { port: Number(port), proto: proto.toLowerCase() };
    })
    .sort((a, b) => a.port - b.port || (a.proto === 'tcp' ? -1 : b.proto === 'tcp' ? 1 : 0));
  const env: string[] = [];
  if (ports.length) env.push(`${alias}_PORT=${ports[0].proto}://${ip}:${ports[0].port}`);
  for (let i = 0; i < ports.length; ) {
    const p = ports[i];
    // moby's nextContiguous: the run goes on while each next port is at most one above the count so far.
    let j = i;
    for (let k = i + 1, value = p.port; k < ports.length && ports[k].port <= value + 1; k++, value++) j = k;
    if (j > i + 1) {
      const q = ports[j];
      const key = `${alias}_PORT_${p.port}_${p.proto.toUpperCase()}`;
      env.push(
        `${key}_START=${p.proto}://${ip}:${p.port}`,
        `${key}_ADDR=${ip}`,
        `${key}_PROTO=${p.proto}`,
        `${key}_PORT_START=${p.port}`,
        `${key}_END=${q.proto}://${ip}:${q.port}`,
        `${key}_PORT_END=${q.port}`,
      );
      i = j + 1;
    } else i++;
  }
  for (const p of ports) {
    const key = `${alias}_PORT_${p.port}_${p.proto.toUpperCase()}`;
    env.push(
      `${key}=${p.proto}://${ip}:${p.port}`,
      `${key}_ADDR=${ip}`,
      `${key}_PORT=${p.port}`,
      `${key}_PROTO=${p.proto}`,
    );
  }
  env.push(`${alias}_NAME=${linkName}`);
  for (const e of child.config.env) {
    const i = e.indexOf('=');
    if (i < 0) continue;
    const name = e.slice(0, i);
    if (name === 'HOME' || name === 'PATH') continue;
    env.push(`${alias}_ENV_${name}=${e.slice(i + 1)}`);
  }
  return env;
}

/**
 * A container started (maybe at another address): the running containers linked to it get their /etc/hosts
 * lines for it rewritten, as libnetwork updates a legacy link's parents. Their link variables stay as they were.
 */
export async function updateLinkParents(store: ContainerStore, child: ContainerRecord): Promise<void> {
  const net = store.deps.network;
  if (!net?.setExtraHosts) return;
  for (const parent of store.records.values()) {
    if (parent.id === child.id || parent.state.status !== 'running') continue;
    if (!parent.hostConfig.links?.some((l) => l.container === child.id || l.container === child.name)) continue;
    const { extraHosts } = resolveLinks(store, parent, true);
    await net.setExtraHosts(parent.id, [...parent.hostConfig.extraHosts, ...extraHosts]);
  }
}
