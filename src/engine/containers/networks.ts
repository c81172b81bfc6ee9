// The networks a container is configured to join (Docker's NetworkSettings.Networks while it is not running), by
// network name: its HostConfig.NetworkMode's network from create on, as moby records it, plus what `docker network
// connect` adds, minus what `disconnect` takes away — the primary included: docker-compose 1.x disconnects a
// created container from its only network and reconnects it with the service's aliases before starting it.
import type { ContainerRecord, EndpointSettings } from './state';
import type { NetworkHook } from './store';

/** The network NetworkMode names ('default' is the bridge); undefined for host, none and container:<id>. */
export function primaryNetwork(networkMode: string): string | undefined {
  const mode = networkMode || 'default';
  if (mode === 'default') return 'bridge';
  if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) return undefined;
  return mode;
}

/** A network's name when it exists (keys may be given as IDs or 'default'), else the key as given. */
function canonical(network: NetworkHook | undefined, key: string): string {
  try {
    return network?.get(key).name ?? key;
  } catch {
    return key;
  }
}

/** What create records: the EndpointsConfig by network name, the primary network always among them. */
export function initialNetworks(
  network: NetworkHook | undefined,
  networkMode: string,
  endpoints: Record<string, EndpointSettings> = {},
): Record<string, EndpointSettings> {
  const out: Record<string, EndpointSettings> = {};
  for (const [k, v] of Object.entries(endpoints)) out[canonical(network, k)] = v ?? {};
  const primary = primaryNetwork(networkMode);
  if (primary) out[canonical(network, primary)] ??= {};
  return out;
}

/**
 * Records written before the primary network was recorded with the container (networksIncludePrimary unset)
 * get it added once; true when the record changed.
 */
export function migrateNetworks(network: NetworkHook | undefined, c: ContainerRecord): boolean {
  if (c.networksIncludePrimary) return false;
  c.networks = initialNetworks(network, c.hostConfig.networkMode, c.networks ?? {});
  c.networksIncludePrimary = true;
  return true;
}

/** The key of `c.networks` that names network `id` (configured by name or ID), if any. */
export function configuredKey(network: NetworkHook, c: ContainerRecord, id: string): string | undefined {
  return Object.keys(c.networks).find((k) => {
    try {
      return network.get(k).id === id;
    } catch {
      return false;
    }
  });
}

/** The order a start joins them in: the primary network first (it gets eth0), the others as they were added. */
export function joinOrder(network: NetworkHook, c: ContainerRecord): [string, EndpointSettings][] {
  const entries = Object.entries(c.networks);
  const primary = primaryNetwork(c.hostConfig.networkMode);
  const name = primary && canonical(network, primary);
  const first = entries.findIndex(([k]) => k === name);
  if (first > 0) entries.unshift(...entries.splice(first, 1));
  return entries;
}
