// What the rootless engine inside the namespaces knows about its outside (set by the parent, read once).
import type { DelegatedCgroup } from './cgroup';

export const ROOTLESS_ENV = 'BERTH_ROOTLESS';

/** slirp4netns's fixed addresses: the host (its loopback included) is 10.0.2.2 seen from the namespace. */
export const SLIRP_GATEWAY = '10.0.2.2';
export const SLIRP_NAMESPACE_ADDRESS = '10.0.2.100';
/** slirp4netns's DNS forwarder (it asks the host's resolver). */
export const SLIRP_DNS = '10.0.2.3';

export type RootlessNetwork = 'slirp4netns' | 'pasta';

/** BERTH_ROOTLESS_NET chooses the link, as DOCKERD_ROOTLESS_ROOTLESSKIT_NET does for rootless Docker. */
export function rootlessNetwork(env = process.env): RootlessNetwork {
  const asked = env.BERTH_ROOTLESS_NET || 'slirp4netns';
  if (asked !== 'slirp4netns' && asked !== 'pasta')
    throw new Error(`BERTH_ROOTLESS_NET=${asked}: the rootless network is slirp4netns or pasta`);
  return asked;
}

export interface RootlessInfo {
  /** The user's own ids outside (root inside maps to them). */
  uid: number;
  gid: number;
  user: string;
  /** Only the user's own id is mapped (no /etc/subuid lines). */
  singleId: boolean;
  /** With a single id: the command that adds free sub-ids for the user (none when no range is free). */
  addSubids?: string;
  /** The namespace's link out: slirp4netns (its API forwards published ports) or pasta (the parent relays them). */
  network: RootlessNetwork;
  /** The parent's directory for this run (removed when the engine exits). */
  stateDir: string;
  /** slirp4netns's API socket: host port forwards are added there. */
  slirpApi: string;
  /** The host's loopback as the namespace reaches it. */
  hostGateway: string;
  /** The cgroup v2 subtree delegated to the user that containers' cgroups go below (none: limits are refused). */
  cgroup?: DelegatedCgroup;
}

export function rootlessInfo(env = process.env): RootlessInfo | undefined {
  const text = env[ROOTLESS_ENV];
  if (!text) return undefined;
  return JSON.parse(text) as RootlessInfo;
}
