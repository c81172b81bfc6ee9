// The Networks view's rows: each network with driver, subnets and flags, and the containers attached to it as
// children (from the container list, which carries each container's networks: no inspect per network).
import type { ContainerSummary, Network } from '../client/types';
import { containerName, isHelper, type TreeRecord } from './model';

const BUILTIN = new Set(['bridge', 'host', 'none']);

interface Attachment {
  NetworkID?: string;
  IPAddress?: string;
  GlobalIPv6Address?: string;
  Aliases?: string[] | null;
}

export function buildNetworkTree(networks: Network[], containers: ContainerSummary[] = []): TreeRecord[] {
  const attached = new Map<string, { c: ContainerSummary; a: Attachment }[]>();
  for (const c of containers) {
    if (isHelper(c)) continue;
    for (const [name, a] of Object.entries((c.NetworkSettings?.Networks ?? {}) as Record<string, Attachment>)) {
      const key = a?.NetworkID || name;
      let list = attached.get(key);
      if (!list) attached.set(key, (list = []));
      list.push({ c, a });
    }
  }
  return [...networks]
    .sort((a, b) => (BUILTIN.has(a.Name) ? 0 : 1) - (BUILTIN.has(b.Name) ? 0 : 1) || a.Name.localeCompare(b.Name))
    .map((n) => {
      const subnets = (n.IPAM?.Config ?? []).map((c) => c.Subnet).filter((x): x is string => !!x);
      const members = attached.get(n.Id) ?? attached.get(n.Name) ?? [];
      const flags = [n.Internal ? 'internal' : '', n.EnableIPv6 ? 'IPv6' : ''].filter(Boolean);
      const description = [n.Driver, subnets.join(', '), ...flags].filter(Boolean).join(' · ');
      const builtin = BUILTIN.has(n.Name);
      const id = `network:${n.Id}`;
      const children: TreeRecord[] = members
        .map(({ c, a }) => {
          const name = containerName(c);
          const ip = a?.IPAddress || a?.GlobalIPv6Address || '';
          const desc = [ip, c.State].filter(Boolean).join(' · ');
          return {
            id: `${id}:container:${c.Id}`,
            kind: 'container' as const,
            label: name,
            description: desc,
            tooltip: `${name} on ${n.Name}${ip ? `\nAddress: ${ip}` : ''}${a?.Aliases?.length ? `\nAliases: ${a.Aliases.join(', ')}` : ''}`,
            contextValue: builtin && n.Name !== 'bridge' ? 'network.container.fixed' : 'network.container',
            icon: {
              id: c.State === 'running' ? 'debug-start' : 'debug-stop',
              color: c.State === 'running' ? 'testing.iconPassed' : 'disabledForeground',
            },
            containerId: c.Id,
            containerName: name,
            networkId: n.Id,
            networkName: n.Name,
            signature: `${name}|${desc}`,
          };
        })
        .sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
      const tooltip = [
        `${n.Name} (${n.Id.slice(0, 12)})`,
        `Driver: ${n.Driver}, scope ${n.Scope}`,
        subnets.length ? `Subnets: ${subnets.join(', ')}` : '',
        (n.IPAM?.Config ?? []).map((c) => c.Gateway).filter(Boolean).length
          ? `Gateway: ${(n.IPAM?.Config ?? [])
              .map((c) => c.Gateway)
              .filter(Boolean)
              .join(', ')}`
          : '',
        n.Internal ? 'Internal: no route to the outside' : '',
        `${children.length} container${children.length === 1 ? '' : 's'}`,
      ]
        .filter(Boolean)
        .join('\n');
      return {
        id,
        kind: 'network' as const,
        label: n.Name,
        description,
        tooltip,
        contextValue: builtin ? 'network.builtin' : children.length ? 'network.user.inuse' : 'network.user',
        icon: { id: n.Internal ? 'lock' : builtin ? 'globe' : 'type-hierarchy' },
        networkId: n.Id,
        networkName: n.Name,
        children: children.length ? children : undefined,
        signature: `${n.Name}|${description}|${tooltip}`,
      };
    });
}
