// Rootless Berth: an ordinary user's engine in its own user, mount and network namespaces (parent.ts outside,
// child.ts inside), what the inside knows of the outside (info.ts), and the host port forwards (ports.ts).
export { runRootlessParent } from './parent';
export { prepareRootlessChild, watchParent } from './child';
export { slirpPorts } from './ports';
export { relayPorts } from './relay';
export { type DelegatedCgroup, delegatedCgroup, ENGINE_LEAF, ownCgroup } from './cgroup';
export {
  rootlessInfo,
  type RootlessInfo,
  rootlessNetwork,
  ROOTLESS_ENV,
  SLIRP_GATEWAY,
  SLIRP_NAMESPACE_ADDRESS,
} from './info';
