// What runs in a container and what it costs: `docker top` (ps filtered to the container's pids) and `docker
// stats` samples read from its cgroups (v1 and v2), in the units Docker reports.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { conflict, invalidParameter, system } from '../errdefs';
import { type ContainerStore, nowRfc3339Nano } from './store';

export interface StatsSample {
  read: string;
  cpu: {
    total: number;
    perCpu: number[];
    user: number;
    system: number;
    systemUsage: number;
    onlineCpus: number;
    throttling: { periods: number; throttledPeriods: number; throttledTime: number };
  };
  memory: { usage: number; maxUsage: number; limit: number; failcnt: number; stats: Record<string, number> };
  pids: { current: number; limit: number };
  blkio: { major: number; minor: number; op: string; value: number }[];
  /** Per interface of the container's own network namespace (lo left out, as dockerd does); empty with none/host. */
  networks: Record<string, NetworkCounters>;
}

export interface NetworkCounters {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

/** The interfaces' counters as the container's init sees them (/proc/<pid>/net/dev is per network namespace). */
function networkCounters(pid: number): Record<string, NetworkCounters> {
  const out: Record<string, NetworkCounters> = {};
  let text = '';
  try {
    text = fs.readFileSync(`/proc/${pid}/net/dev`, 'utf8');
  } catch {
    return out;
  }
  // "  eth0: rx_bytes packets errs drop fifo frame compressed multicast tx_bytes packets errs drop …"
  for (const line of text.split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === 'lo') continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    out[m[1]] = {
      rx_bytes: f[0],
      rx_packets: f[1],
      rx_errors: f[2],
      rx_dropped: f[3],
      tx_bytes: f[8],
      tx_packets: f[9],
      tx_errors: f[10],
      tx_dropped: f[11],
    };
  }
  return out;
}

const readNum = (p: string): number => {
  try {
    return Number(fs.readFileSync(p, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
};
const readKv = (p: string): Record<string, number> => {
  const out: Record<string, number> = {};
  try {
    for (const l of fs.readFileSync(p, 'utf8').split('\n')) {
      const [k, v] = l.split(' ');
      if (k && v !== undefined) out[k] = Number(v);
    }
  } catch {
    /* absent */
  }
  return out;
};
/**
 * cgroup v2 io.stat ("8:0 rbytes=1 wbytes=2 rios=3 …" per device) as Docker reports it on v2: the bytes read and
 * written per device, ops "read" and "write".
 */
export function ioStat(file: string): StatsSample['blkio'] {
  const out: StatsSample['blkio'] = [];
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return out; // no io controller for this cgroup
  }
  for (const line of text.split('\n')) {
    const [dev, ...fields] = line.trim().split(/\s+/);
    const m = /^(\d+):(\d+)$/.exec(dev ?? '');
    if (!m) continue;
    const kv = Object.fromEntries(fields.map((f) => f.split('=')).map(([k, v]) => [k, Number(v)]));
    for (const [key, op] of [
      ['rbytes', 'read'],
      ['wbytes', 'write'],
    ] as const)
      if (kv[key] !== undefined) out.push({ major: Number(m[1]), minor: Number(m[2]), op, value: kv[key] });
  }
  return out;
}

const systemUsage = (): number => {
  // Docker: the host's total CPU time in ns from /proc/stat (USER_HZ = 100).
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1, 8).map(Number);
  return line.reduce((a, b) => a + b, 0) * 1e7;
};

export function createStats(store: ContainerStore) {
  const { runtime } = store.deps;
  return {
    async top(ref: string, psArgs = '-ef'): Promise<{ titles: string[]; processes: string[][] }> {
      const c = store.lookup(ref);
      if (!store.live.has(c.id) || (c.state.status !== 'running' && c.state.status !== 'paused'))
        throw conflict(`Container ${c.id} is not running`);
      const pids = new Set(await runtime.pids(c.id));
      const args = psArgs.split(/\s+/).filter(Boolean);
      const out = await new Promise<string>((resolve, reject) =>
        execFile('ps', args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
          err ? reject(system(`Error running ps: ${stderr || err.message}`)) : resolve(stdout),
        ),
      );
      const lines = out.split('\n').filter((l) => l.trim());
      const titles = lines[0].trim().split(/\s+/);
      const pidCol = titles.indexOf('PID');
      if (pidCol < 0) throw invalidParameter(`Couldn't find PID field in ps output`);
      const processes = lines
        .slice(1)
        .map((l) => {
          const f = l.trim().split(/\s+/);
          return [...f.slice(0, titles.length - 1), f.slice(titles.length - 1).join(' ')];
        })
        .filter((f) => pids.has(Number(f[pidCol])));
      return { titles, processes };
    },

    async stats(ref: string): Promise<StatsSample | undefined> {
      const c = store.lookup(ref);
      if (!store.live.has(c.id)) return undefined;
      const v2 = runtime.platform.cgroup.version === 2;
      // With the host's network the container has no interfaces of its own: dockerd reports none.
      const networks = c.hostConfig.networkMode === 'host' || !c.state.pid ? {} : networkCounters(c.state.pid);
      const cg = (ctl: string, file: string) => path.join(runtime.cgroupDir(c.id, ctl), file);
      if (v2) {
        const cpu = readKv(cg('', 'cpu.stat'));
        const mem = readKv(cg('', 'memory.stat'));
        const max = fs.existsSync(cg('', 'memory.max')) ? fs.readFileSync(cg('', 'memory.max'), 'utf8').trim() : 'max';
        const pidsMax = fs.existsSync(cg('', 'pids.max')) ? fs.readFileSync(cg('', 'pids.max'), 'utf8').trim() : 'max';
        return {
          read: nowRfc3339Nano(),
          cpu: {
            total: (cpu.usage_usec ?? 0) * 1000,
            perCpu: [],
            user: (cpu.user_usec ?? 0) * 1000,
            system: (cpu.system_usec ?? 0) * 1000,
            systemUsage: systemUsage(),
            onlineCpus: os.cpus().length,
            throttling: {
              periods: cpu.nr_periods ?? 0,
              throttledPeriods: cpu.nr_throttled ?? 0,
              throttledTime: (cpu.throttled_usec ?? 0) * 1000,
            },
          },
          memory: {
            usage: readNum(cg('', 'memory.current')),
            maxUsage: 0,
            limit: max === 'max' ? os.totalmem() : Number(max),
            failcnt: 0,
            stats: mem,
          },
          pids: { current: readNum(cg('', 'pids.current')), limit: pidsMax === 'max' ? 0 : Number(pidsMax) },
          blkio: ioStat(cg('', 'io.stat')),
          networks,
        };
      }
      const perCpu = (() => {
        try {
          return fs.readFileSync(cg('cpuacct', 'cpuacct.usage_percpu'), 'utf8').trim().split(/\s+/).map(Number);
        } catch {
          return [];
        }
      })();
      const acct = readKv(cg('cpuacct', 'cpuacct.stat'));
      const throttle = readKv(cg('cpu', 'cpu.stat'));
      const limit = readNum(cg('memory', 'memory.limit_in_bytes'));
      const pidsMax = (() => {
        try {
          return fs.readFileSync(cg('pids', 'pids.max'), 'utf8').trim();
        } catch {
          return 'max';
        }
      })();
      const blkio: StatsSample['blkio'] = [];
      try {
        for (const l of fs.readFileSync(cg('blkio', 'blkio.throttle.io_service_bytes'), 'utf8').split('\n')) {
          const m = /^(\d+):(\d+) (\w+) (\d+)$/.exec(l.trim());
          if (m) blkio.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3], value: Number(m[4]) });
        }
      } catch {
        /* no blkio */
      }
      return {
        read: nowRfc3339Nano(),
        cpu: {
          total: readNum(cg('cpuacct', 'cpuacct.usage')),
          perCpu,
          user: (acct.user ?? 0) * 1e7,
          system: (acct.system ?? 0) * 1e7,
          systemUsage: systemUsage(),
          onlineCpus: os.cpus().length,
          throttling: {
            periods: throttle.nr_periods ?? 0,
            throttledPeriods: throttle.nr_throttled ?? 0,
            throttledTime: throttle.throttled_time ?? 0,
          },
        },
        memory: {
          usage: readNum(cg('memory', 'memory.usage_in_bytes')),
          maxUsage: readNum(cg('memory', 'memory.max_usage_in_bytes')),
          limit: Math.min(limit, os.totalmem()),
          failcnt: readNum(cg('memory', 'memory.failcnt')),
          stats: readKv(cg('memory', 'memory.stat')),
        },
        pids: { current: readNum(cg('pids', 'pids.current')), limit: pidsMax === 'max' ? 0 : Number(pidsMax) },
        blkio,
        networks,
      };
    },
  };
}
