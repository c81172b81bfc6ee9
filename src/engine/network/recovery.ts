// Recovery at engine start: networks and sandboxes re-read; endpoints whose container died while the engine was
// down released; restored ones re-hold their ports and are CHECKed, their networks' rules and published ports' DNAT
// made again where missing (firewalld reloaded meanwhile); the default bridge brought up to date with
// daemon.json; subnet claims rewritten; bridges and rules a crash left behind removed; the embedded DNS server
// listening again for the networks that still have containers.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isEngineError } from '../errdefs';
import { log } from '../log';
import { readJson } from '../util/fsx';
import type { Bridges } from './bridges';
import { checkNetworkList, cniBinDir, CNI_INSTALL_HINT } from './cni';
import type { DnsServer } from './dns';
import type { Endpoints } from './endpoints';
import { dropClaim, iptablesRules, linkExists, netnsAlive, sweepSharedChains, withHostLock, writeClaim } from './host';
import type { NetworkRecord, NetworkStore, Sandbox } from './store';

export async function recover(
  store: NetworkStore,
  bridges: Pick<Bridges, 'ensureDefaultBridge' | 'teardownBridge'>,
  endpoints: Pick<Endpoints, 'releaseSandbox' | 'restoreRules'>,
  dns: Pick<DnsServer, 'serve'>,
): Promise<void> {
  const { networks, sandboxes, ports, opts, netDir, epDir, ipamDir, defaultBridge } = store;
  const { ensureDefaultBridge, teardownBridge } = bridges;
  const { releaseSandbox, restoreRules } = endpoints;
  for (const d of [netDir, epDir, ipamDir]) fs.mkdirSync(d, { recursive: true, mode: 0o700 });
  for (const f of fs.readdirSync(netDir)) {
    if (!f.endsWith('.json')) continue;
    const n = readJson<NetworkRecord>(path.join(netDir, f));
    if (n?.id) networks.set(n.id, n);
  }
  for (const f of fs.readdirSync(epDir)) {
    if (!f.endsWith('.json')) continue;
    const s = readJson<Sandbox>(path.join(epDir, f));
    if (s?.containerId) sandboxes.set(s.containerId, s);
  }
  for (const [name, driver] of [
    ['host', 'host'],
    ['none', 'null'],
  ] as const) {
    if (![...networks.values()].some((n) => n.name === name)) {
      const n = store.newRecord(name, driver, { predefined: true });
      networks.set(n.id, n);
      store.saveNetwork(n);
    }
  }
  // Endpoints whose namespace is gone belong to containers that died with (or while) the engine was down.
  for (const s of [...sandboxes.values()]) {
    if (s.mode === 'host' || s.mode === 'container') continue;
    if (!s.netnsPath || !netnsAlive(s.netnsPath)) {
      log.info('releasing the network of a container that is gone', { container: s.containerId });
      await releaseSandbox(s);
      continue;
    }
    const lost = await ports.readopt(s.containerId, s.ports);
    for (const m of lost)
      log.warn('a published port was taken while the engine was down', {
        container: s.containerId,
        port: `${m.hostIp}:${m.hostPort}`,
      });
    for (const a of s.attachments) {
      // portmap 1.1's CHECK also demands ip6tables chains it never made for IPv4-only endpoints: skip it.
      const list = { ...a.conflist, plugins: a.conflist.plugins.filter((p) => p.type !== 'portmap') };
      await checkNetworkList(
        list,
        { containerId: s.containerId, netns: s.netnsPath, ifName: a.ifName, runtimeConfig: a.runtimeConfig },
        a.result!,
      ).catch((err) =>
        log.warn('CNI CHECK failed for a restored endpoint', { container: s.containerId, error: err.message }),
      );
    }
  }
  await restoreRules([...sandboxes.values()].filter((s) => s.attachments.length));
  for (const s of [...sandboxes.values()]) {
    if (s.mode === 'container' && (!s.joined || !sandboxes.has(s.joined))) {
      sandboxes.delete(s.containerId);
      fs.rmSync(path.join(epDir, `${s.containerId}.json`), { force: true });
    }
  }
  try {
    await ensureDefaultBridge();
  } catch (err: any) {
    // The engine still serves everything else (and host/none networking); attaching to `bridge` says why not.
    if (isEngineError(err, 'InvalidParameter')) throw err;
    log.error('the default bridge network has no subnet', { error: err.message });
    if (![...networks.values()].some((n) => n.name === 'bridge')) {
      const n = store.newRecord('bridge', 'bridge', {
        bridge: defaultBridge,
        predefined: true,
        options: {
          'com.docker.network.bridge.default_bridge': 'true',
          'com.docker.network.bridge.name': defaultBridge,
        },
      });
      networks.set(n.id, n);
      store.saveNetwork(n);
    }
  }
  await withHostLock(async () => {
    for (const n of networks.values()) {
      if (!n.subnet || n.driver !== 'bridge') continue;
      if (n.predefined && !store.endpointsOn(n.id).length) dropClaim(n.subnet, opts.dataRoot);
      else writeClaim({ subnet: n.subnet, dataRoot: opts.dataRoot, networkId: n.id });
      if (n.subnet6) writeClaim({ subnet: n.subnet6, dataRoot: opts.dataRoot, networkId: n.id });
    }
  });
  // Bridges of networks without endpoints are leftovers of a crash (a live engine removes them).
  // Bridges (or their rules) of networks without endpoints are leftovers of a crash: a live engine removes
  // them. The crash may have come between deleting the link and its rules, so both are looked for.
  const filterRules = await iptablesRules('filter');
  const natRules = await iptablesRules('nat');
  for (const n of networks.values()) {
    if (
      n.bridge &&
      !store.endpointsOn(n.id).length &&
      (linkExists(n.bridge) || filterRules.includes(` ${n.bridge} `) || natRules.includes(` ${n.bridge} `))
    ) {
      await teardownBridge(n);
    }
  }
  if (!sandboxes.size && /CNI-/.test(filterRules + natRules)) await withHostLock(sweepSharedChains);
  // Containers that kept running while the engine was down ask the embedded DNS server again.
  for (const n of networks.values())
    if (!n.predefined && n.gateway && store.endpointsOn(n.id).length) await dns.serve(n.id, n.gateway);
  if (!cniBinDir()) log.warn(CNI_INSTALL_HINT);
}
