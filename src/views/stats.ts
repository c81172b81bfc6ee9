// Container stats as the extension shows them, free of `vscode`: one sample from each line of the engine's stats
// stream, computed as `docker stats` computes it (CPU % from the deltas against the previous read, memory without
// the page cache), and the short text a container row carries.
import type { ContainerStats } from '../client/types';
import { formatSize } from './format';

export interface StatsSample {
  /** ms since the epoch when the engine read it */
  time: number;
  cpuPercent: number;
  memUsage: number;
  memLimit: number;
  memPercent: number;
  netRx: number;
  netTx: number;
  blockRead: number;
  blockWrite: number;
  pids: number;
}

/** docker stats' CPU %: the container's share of the host's CPU time since the previous read, times the CPUs. */
export function cpuPercent(s: ContainerStats): number {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const systemDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 1;
  if (!s.precpu_stats?.system_cpu_usage || systemDelta <= 0 || cpuDelta < 0) return 0;
  return (cpuDelta / systemDelta) * cpus * 100;
}

/** docker stats' memory: usage less the inactive page cache (cgroup v2 `inactive_file`, v1 `total_inactive_file`). */
export function memoryUsage(s: ContainerStats): number {
  const usage = s.memory_stats?.usage ?? 0;
  const st = s.memory_stats?.stats ?? {};
  const cache = st.total_inactive_file ?? st.inactive_file ?? 0;
  return cache < usage ? usage - cache : usage;
}

export function toSample(s: ContainerStats): StatsSample {
  let netRx = 0;
  let netTx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    netRx += n.rx_bytes ?? 0;
    netTx += n.tx_bytes ?? 0;
  }
  let blockRead = 0;
  let blockWrite = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = e.op.toLowerCase();
    if (op === 'read') blockRead += e.value;
    else if (op === 'write') blockWrite += e.value;
  }
  const memUsage = memoryUsage(s);
  const memLimit = s.memory_stats?.limit ?? 0;
  const t = Date.parse(s.read);
  return {
    time: Number.isFinite(t) && t > 0 ? t : Date.now(),
    cpuPercent: cpuPercent(s),
    memUsage,
    memLimit,
    memPercent: memLimit ? (memUsage / memLimit) * 100 : 0,
    netRx,
    netTx,
    blockRead,
    blockWrite,
    pids: s.pids_stats?.current ?? 0,
  };
}

/** What a container row shows: "CPU 3.2% · 12.4 MB". Rounded so that noise below it does not redraw the row. */
export function formatStatsShort(s: StatsSample): string {
  const cpu = s.cpuPercent >= 10 ? s.cpuPercent.toFixed(0) : s.cpuPercent.toFixed(1);
  return `CPU ${cpu}% · ${formatSize(s.memUsage)}`;
}
