// Changes to a container after create: its name, its restart policy and resources (applied at once to a
// running container), and the networks it is connected to.
import { conflict, invalidParameter, notImplemented, system } from '../errdefs';
import { refuseUnusableLimits } from '../runtime';
import { checkCpuResources } from './create';
import { validateName } from './names';
import { configuredKey } from './networks';
import { type EndpointSettings, parseRestartPolicy, type Resources, type RestartPolicy } from './state';
import type { ContainerStore } from './store';

export function createSettings(store: ContainerStore) {
  const { runtime } = store.deps;
  return {
    async connectNetwork(ref: string, network: string, cfg: EndpointSettings): Promise<void> {
      const c = store.lookup(ref);
      const net = store.deps.network;
      if (!net) throw notImplemented('networking is not available');
      const n = net.get(network);
      const mode = c.hostConfig.networkMode || 'default';
      // dockerd's checks and words (all 400s).
      if (mode === 'host' || mode.startsWith('container:'))
        throw invalidParameter(
          'container sharing network namespace with another container or host cannot be connected to any other network',
        );
      if (mode === 'none' || n.driver === 'null')
        throw invalidParameter(
          'container cannot be connected to multiple networks with one of the networks in private (none) mode',
        );
      if (n.driver === 'host')
        throw invalidParameter('container cannot be disconnected from host network or connected to host network');
      await store.withLock(c.id, async () => {
        // A running container joins at once (a second endpoint on the same network is refused there); a stopped
        // one only has its settings recorded, replacing earlier ones for that network as dockerd does.
        if (c.state.status === 'running' || c.state.status === 'paused') await net.connect(n.name, c.id, cfg);
        const key = configuredKey(net, c, n.id);
        if (key) delete c.networks[key];
        c.networks[n.name] = cfg;
        store.save(c);
      });
    },

    async disconnectNetwork(ref: string, network: string): Promise<void> {
      const c = store.lookup(ref);
      const net = store.deps.network;
      if (!net) throw notImplemented('networking is not available');
      const n = net.get(network);
      if ((c.hostConfig.networkMode || 'default') === 'host' && n.driver === 'host')
        throw invalidParameter('container cannot be disconnected from host network or connected to host network');
      await store.withLock(c.id, async () => {
        const key = configuredKey(net, c, n.id);
        if (c.state.status === 'running' || c.state.status === 'paused') {
          if (!net.endpoint(c.id)?.networks.some((a) => a.networkId === n.id))
            throw system(`container ${c.id} is not connected to network ${n.name}`);
          await net.disconnect(n.name, c.id);
        } else if (!key) throw system(`container ${c.id} is not connected to the network ${n.name}`);
        // Any network may be left, the primary one included (docker-compose 1.x reconnects it with aliases).
        if (key) delete c.networks[key];
        store.save(c);
      });
    },

    async rename(ref: string, newName: string): Promise<void> {
      const c = store.lookup(ref);
      const name = validateName(newName);
      if (name === c.name) throw invalidParameter('Renaming a container with the same name as its current name');
      if (store.names.has(name)) {
        throw conflict(
          `Conflict. The container name "/${name}" is already in use by container "${store.names.get(name)}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      }
      const old = c.name;
      store.names.delete(old);
      store.names.set(name, c.id);
      c.name = name;
      store.save(c);
      store.publish(c, 'rename', { oldName: `/${old}` });
    },

    async update(
      ref: string,
      u: { restartPolicy?: { name?: string; maximumRetryCount?: number }; resources?: Resources },
    ): Promise<string[]> {
      const c = store.lookup(ref);
      return store.withLock(c.id, async () => {
        // As moby: an empty policy name means "leave the policy alone" (the CLI sends one with every update).
        // Nothing changes until every part of the update has been checked.
        let policy: RestartPolicy | undefined;
        if (u.restartPolicy?.name) {
          try {
            policy = parseRestartPolicy(u.restartPolicy);
          } catch (err: any) {
            throw invalidParameter(err.message);
          }
          if (c.hostConfig.autoRemove && !['', 'no'].includes(policy.name))
            throw invalidParameter('Restart policy cannot be updated because AutoRemove is enabled for the container');
        }
        const r = Object.fromEntries(
          Object.entries(u.resources ?? {}).filter(([, v]) => v !== undefined && v !== null && v !== 0 && v !== ''),
        ) as Resources;
        if (r.memory !== undefined && r.memory < 6 * 1024 * 1024)
          throw invalidParameter('Minimum memory limit allowed is 6MB');
        refuseUnusableLimits(store.deps.runtime.platform, r);
        checkCpuResources(r);
        // moby's UpdateContainer: a memory limit above the swap limit already set (none counts as 0) needs a
        // new swap limit with it; a new limit keeps the swap limit the container has.
        const cur = c.hostConfig.resources;
        const curSwap = cur.memorySwap ?? (cur.memory ? cur.memory * 2 : 0);
        if (r.memory && !r.memorySwap && r.memory > curSwap)
          throw conflict(
            `Cannot update container ${c.id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time`,
          );
        if (r.memory && !r.memorySwap) r.memorySwap = curSwap;
        // No pids limit is -1 to runc and 0 in inspect, as dockerd shows it after an update.
        const pidsLimit = r.pidsLimit;
        if (pidsLimit !== undefined && pidsLimit < 0) r.pidsLimit = 0;
        const merged = { ...c.hostConfig.resources, ...r };
        if (store.live.has(c.id) && Object.keys(r).length) {
          const args: string[] = [];
          if (r.memory) args.push('--memory', String(r.memory));
          if (r.memorySwap) args.push('--memory-swap', String(r.memorySwap));
          if (r.memoryReservation) args.push('--memory-reservation', String(r.memoryReservation));
          if (r.cpuShares) args.push('--cpu-share', String(r.cpuShares));
          if (r.nanoCpus) args.push('--cpu-period', '100000', '--cpu-quota', String(Math.round(r.nanoCpus / 1e4)));
          if (r.cpuQuota) args.push('--cpu-quota', String(r.cpuQuota));
          if (r.cpuPeriod) args.push('--cpu-period', String(r.cpuPeriod));
          if (r.cpusetCpus) args.push('--cpuset-cpus', r.cpusetCpus);
          if (r.cpusetMems) args.push('--cpuset-mems', r.cpusetMems);
          if (pidsLimit) args.push('--pids-limit', String(pidsLimit < 0 ? -1 : pidsLimit));
          if (r.blkioWeight) args.push('--blkio-weight', String(r.blkioWeight));
          if (args.length)
            await runtime.update(c.id, args).catch((err) => {
              throw system(`Cannot update container ${c.id}: ${err.message}`);
            });
        }
        c.hostConfig.resources = merged;
        if (policy) c.hostConfig.restartPolicy = policy;
        store.save(c);
        store.publish(c, 'update');
        return [];
      });
    },
  };
}
