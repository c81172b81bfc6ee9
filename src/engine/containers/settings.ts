// Changes to a container after create: its name, its restart policy and resources (applied at once to a
// running container), and the networks it is connected to.
import { conflict, forbidden, invalidParameter, notImplemented, system } from '../errdefs';
import { validateName } from './names';
import { parseRestartPolicy, type Resources, type RestartPolicy } from './state';
import type { ContainerStore } from './store';

export function createSettings(store: ContainerStore) {
  const { runtime } = store.deps;
  return {
    async connectNetwork(
      ref: string,
      network: string,
      cfg: { aliases?: string[]; ipv4Address?: string },
    ): Promise<void> {
      const c = store.lookup(ref);
      if (!store.deps.network) throw notImplemented('networking is not available');
      const n = store.deps.network.get(network);
      const mode = c.hostConfig.networkMode || 'default';
      if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
        throw forbidden(
          'container sharing network namespace with another container or host cannot be connected to any other network',
        );
      }
      const primary = mode === 'default' ? 'bridge' : mode;
      const known = Object.keys(c.networks)
        .concat(primary)
        .some((k) => {
          try {
            return store.deps.network!.get(k).id === n.id;
          } catch {
            return false;
          }
        });
      if (known) throw forbidden(`endpoint with name ${c.name} already exists in network ${n.name}`);
      await store.withLock(c.id, async () => {
        if (c.state.status === 'running' || c.state.status === 'paused')
          await store.deps.network!.connect(n.name, c.id, cfg);
        c.networks[n.name] = cfg;
        store.save(c);
      });
    },

    async disconnectNetwork(ref: string, network: string): Promise<void> {
      const c = store.lookup(ref);
      if (!store.deps.network) throw notImplemented('networking is not available');
      const n = store.deps.network.get(network);
      const key = Object.keys(c.networks).find((k) => {
        try {
          return store.deps.network!.get(k).id === n.id;
        } catch {
          return false;
        }
      });
      const mode = c.hostConfig.networkMode || 'default';
      const primary = store.deps.network.get(mode === 'default' ? 'bridge' : mode);
      if (primary.id === n.id)
        throw forbidden(
          `container ${c.name} cannot be disconnected from its primary network ${n.name} in Berth; use docker network connect to add others`,
        );
      if (!key) throw forbidden(`container ${c.id} is not connected to network ${n.name}`);
      await store.withLock(c.id, async () => {
        if (c.state.status === 'running' || c.state.status === 'paused')
          await store.deps.network!.disconnect(n.name, c.id).catch(() => {});
        delete c.networks[key];
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
        if (u.restartPolicy && u.restartPolicy.name !== undefined) {
          let p: RestartPolicy;
          try {
            p = parseRestartPolicy(u.restartPolicy);
          } catch (err: any) {
            throw invalidParameter(err.message);
          }
          if (c.hostConfig.autoRemove && !['', 'no'].includes(p.name))
            throw invalidParameter('Restart policy cannot be updated because AutoRemove is enabled for the container');
          c.hostConfig.restartPolicy = p;
        }
        const r = Object.fromEntries(
          Object.entries(u.resources ?? {}).filter(([, v]) => v !== undefined && v !== null && v !== 0 && v !== ''),
        ) as Resources;
        if (r.memory !== undefined && r.memory < 6 * 1024 * 1024)
          throw invalidParameter('Minimum memory limit allowed is 6MB');
        const merged = { ...c.hostConfig.resources, ...r };
        if (store.live.has(c.id) && Object.keys(r).length) {
          const args: string[] = [];
          if (r.memory)
            args.push(
              '--memory',
              String(r.memory),
              '--memory-swap',
              String(merged.memorySwap && merged.memorySwap > 0 ? merged.memorySwap : r.memory * 2),
            );
          if (r.memoryReservation) args.push('--memory-reservation', String(r.memoryReservation));
          if (r.cpuShares) args.push('--cpu-shares', String(r.cpuShares));
          if (r.nanoCpus) args.push('--cpu-period', '100000', '--cpu-quota', String(Math.round(r.nanoCpus / 1e4)));
          if (r.cpuQuota) args.push('--cpu-quota', String(r.cpuQuota));
          if (r.cpuPeriod) args.push('--cpu-period', String(r.cpuPeriod));
          if (r.cpusetCpus) args.push('--cpuset-cpus', r.cpusetCpus);
          if (r.cpusetMems) args.push('--cpuset-mems', r.cpusetMems);
          if (r.pidsLimit) args.push('--pids-limit', String(r.pidsLimit));
          if (r.blkioWeight) args.push('--blkio-weight', String(r.blkioWeight));
          if (args.length)
            await runtime.update(c.id, args).catch((err) => {
              throw system(`Cannot update container ${c.id}: ${err.message}`);
            });
        }
        c.hostConfig.resources = merged;
        store.save(c);
        store.publish(c, 'update');
        return [];
      });
    },
  };
}
