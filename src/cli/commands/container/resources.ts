import type { Command } from 'commander';
import type { ContainerStats } from '../../../client';
import { type Cli, StatusError, describeError, forEachName } from '../../cli';
import {
  FormatContext,
  bytesSize,
  humanSizeWithPrecision,
  ramInBytes,
  pickFormat,
  renderFormat,
  tabwrite,
  truncateId,
} from '../../format';
import { parseRestart } from '../../runopts';

export function defineUpdate(cmd: Command, cli: Cli) {
  cmd
    .description('Update configuration of one or more containers')
    .argument('<container...>')
    .option('--cpus <n>', 'Number of CPUs')
    .option('-c, --cpu-shares <n>', 'CPU shares (relative weight)')
    .option('--cpuset-cpus <list>', 'CPUs in which to allow execution (0-3, 0,1)')
    .option('-m, --memory <bytes>', 'Memory limit')
    .option('--memory-swap <bytes>', 'Swap limit equal to memory plus swap: -1 to enable unlimited swap')
    .option('--memory-reservation <bytes>', 'Memory soft limit')
    .option('--pids-limit <n>', 'Tune container pids limit (set -1 for unlimited)')
    .option('--restart <policy>', 'Restart policy to apply when a container exits')
    .action(
      async (
        names: string[],
        o: {
          cpus?: string;
          cpuShares?: string;
          cpusetCpus?: string;
          memory?: string;
          memorySwap?: string;
          memoryReservation?: string;
          pidsLimit?: string;
          restart?: string;
        },
      ) => {
        const body: Record<string, unknown> = {};
        if (o.cpus) body.NanoCpus = Math.round(Number(o.cpus) * 1e9);
        if (o.cpuShares) body.CpuShares = Number(o.cpuShares);
        if (o.cpusetCpus) body.CpusetCpus = o.cpusetCpus;
        if (o.memory) body.Memory = ramInBytes(o.memory);
        if (o.memorySwap) body.MemorySwap = o.memorySwap === '-1' ? -1 : ramInBytes(o.memorySwap);
        if (o.memoryReservation) body.MemoryReservation = ramInBytes(o.memoryReservation);
        if (o.pidsLimit) body.PidsLimit = Number(o.pidsLimit);
        if (o.restart) {
          try {
            body.RestartPolicy = parseRestart(o.restart);
          } catch (err) {
            throw new StatusError(1, (err as Error).message.replace(/^berth: /, '').split('\n')[0]);
          }
        }
        if (!Object.keys(body).length)
          throw new StatusError(1, 'you must provide one or more flags when using this command');
        const client = await cli.client();
        await forEachName(cli, names, async (n) => {
          const r = await client.updateContainer(n, body);
          for (const w of r?.Warnings ?? []) cli.err.write(`${w}\n`);
          return n;
        });
      },
    );
}

export function defineTop(cmd: Command, cli: Cli) {
  cmd
    .description('Display the running processes of a container')
    .argument('<container>')
    .argument('[ps-options...]')
    .passThroughOptions()
    .allowUnknownOption()
    .action(async (name: string, psArgs: string[]) => {
      const client = await cli.client();
      const top = await client.topContainer(name, psArgs.length ? psArgs.join(' ') : undefined);
      const lines = [top.Titles.join('\t'), ...top.Processes.map((p) => p.join('\t'))].join('\n') + '\n';
      cli.out.write(tabwrite(lines, { minwidth: 20, padding: 3 }));
    });
}

class StatsContext extends FormatContext {
  constructor(
    private s: {
      id: string;
      name: string;
      cpu: number;
      mem: number;
      limit: number;
      memPerc: number;
      rx: number;
      tx: number;
      blkRead: number;
      blkWrite: number;
      pids: number;
    },
    private trunc: boolean,
    private ref: string,
  ) {
    super();
  }
  headers() {
    return {
      ID: 'CONTAINER ID',
      Container: 'CONTAINER',
      Name: 'NAME',
      CPUPerc: 'CPU %',
      MemUsage: 'MEM USAGE / LIMIT',
      MemPerc: 'MEM %',
      NetIO: 'NET I/O',
      BlockIO: 'BLOCK I/O',
      PIDs: 'PIDS',
    };
  }
  jsonFields() {
    return ['BlockIO', 'CPUPerc', 'Container', 'ID', 'MemPerc', 'MemUsage', 'Name', 'NetIO', 'PIDs'];
  }
  get ID() {
    return this.trunc ? truncateId(this.s.id) : this.s.id;
  }
  get Container() {
    return this.ref;
  }
  get Name() {
    return this.s.name.replace(/^\//, '') || '--';
  }
  get CPUPerc() {
    return `${this.s.cpu.toFixed(2)}%`;
  }
  get MemUsage() {
    return `${bytesSize(this.s.mem)} / ${bytesSize(this.s.limit)}`;
  }
  get MemPerc() {
    return `${this.s.memPerc.toFixed(2)}%`;
  }
  get NetIO() {
    return `${humanSizeWithPrecision(this.s.rx, 3)} / ${humanSizeWithPrecision(this.s.tx, 3)}`;
  }
  get BlockIO() {
    return `${humanSizeWithPrecision(this.s.blkRead, 3)} / ${humanSizeWithPrecision(this.s.blkWrite, 3)}`;
  }
  get PIDs() {
    return String(this.s.pids);
  }
}

/** docker's stats arithmetic (calculateCPUPercentUnix, memory minus inactive file cache, summed I/O). */
export function computeStats(st: ContainerStats) {
  const cpuDelta = st.cpu_stats.cpu_usage.total_usage - (st.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const sysDelta = (st.cpu_stats.system_cpu_usage ?? 0) - (st.precpu_stats?.system_cpu_usage ?? 0);
  const cpus = st.cpu_stats.online_cpus || st.cpu_stats.cpu_usage.percpu_usage?.length || 1;
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * cpus * 100 : 0;
  const ms = st.memory_stats ?? {};
  let mem = ms.usage ?? 0;
  const cache = ms.stats?.total_inactive_file ?? ms.stats?.inactive_file;
  if (cache !== undefined && cache < mem) mem -= cache;
  const limit = ms.limit ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(st.networks ?? {})) {
    rx += n.rx_bytes;
    tx += n.tx_bytes;
  }
  let blkRead = 0;
  let blkWrite = 0;
  for (const e of st.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = e.op.toLowerCase();
    if (op === 'read') blkRead += e.value;
    if (op === 'write') blkWrite += e.value;
  }
  return {
    cpu,
    mem,
    limit,
    memPerc: limit ? (mem / limit) * 100 : 0,
    rx,
    tx,
    blkRead,
    blkWrite,
    pids: st.pids_stats?.current ?? 0,
  };
}

const DEFAULT_STATS_FORMAT =
  'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';

export function defineStats(cmd: Command, cli: Cli) {
  cmd
    .description('Display a live stream of container(s) resource usage statistics')
    .argument('[container...]')
    .option('-a, --all', 'Show all containers (default shows just running)')
    .option('--format <format>', 'Format output using a custom template')
    .option('--no-stream', 'Disable streaming stats and only pull the first result')
    .option('--no-trunc', 'Do not truncate output')
    .action(async (names: string[], o: { all?: boolean; format?: string; stream: boolean; trunc: boolean }) => {
      const client = await cli.client();
      const targets: { ref: string; id: string; name: string }[] = [];
      if (names.length) {
        for (const n of names) {
          const c = await client.inspectContainer(n).catch((err) => {
            throw new StatusError(1, describeError(err, cli.host()));
          });
          targets.push({ ref: n, id: c.Id, name: c.Name });
        }
      } else {
        for (const c of await client.listContainers({ all: o.all }))
          targets.push({ ref: truncateId(c.Id), id: c.Id, name: c.Names?.[0] ?? '' });
      }
      const format = pickFormat(o.format, DEFAULT_STATS_FORMAT);
      const sample = new StatsContext(
        { id: '', name: '', cpu: 0, mem: 0, limit: 0, memPerc: 0, rx: 0, tx: 0, blkRead: 0, blkWrite: 0, pids: 0 },
        true,
        '',
      );
      const render = (latest: Map<string, ContainerStats | undefined>) =>
        renderFormat(
          format,
          targets.map((t) => {
            const st = latest.get(t.id);
            const s = st
              ? computeStats(st)
              : { cpu: 0, mem: 0, limit: 0, memPerc: 0, rx: 0, tx: 0, blkRead: 0, blkWrite: 0, pids: 0 };
            return new StatsContext({ id: t.id, name: t.name, ...s }, o.trunc, t.ref);
          }),
          sample,
        );
      if (!o.stream) {
        const latest = new Map<string, ContainerStats | undefined>();
        await Promise.all(
          targets.map(async (t) => latest.set(t.id, await client.containerStatsOnce(t.id).catch(() => undefined))),
        );
        cli.out.write(render(latest));
        return;
      }
      const latest = new Map<string, ContainerStats | undefined>();
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      for (const t of targets) {
        (async () => {
          for await (const st of client.containerStatsStream(t.id, abort.signal)) latest.set(t.id, st);
        })().catch(() => {});
      }
      while (!abort.signal.aborted) {
        await new Promise((r) => setTimeout(r, 1000));
        const text = render(latest);
        cli.out.write(cli.out.isTTY ? `\x1b[2J\x1b[H${text}` : text);
      }
    });
}
