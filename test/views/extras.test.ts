// The second round's row models: networks with their containers, disk usage summed as docker system df sums it,
// stats computed as docker stats computes them, health icons from the status text, and the shared stats feed
// opening one stream per container only while someone looks.
import * as assert from 'node:assert/strict';
import type { ContainerStats, ContainerSummary, Network, SystemDf } from '../../src/client/types';
import { StatsHub, RowStats } from '../../src/extension/stats/hub';
import { buildDiskUsageTree, diskUsageTotals } from '../../src/views/diskUsage';
import { buildContainerTree, containerHealth } from '../../src/views/model';
import { buildNetworkTree } from '../../src/views/networks';
import { cpuPercent, formatStatsShort, memoryUsage, toSample } from '../../src/views/stats';

function ctr(i: number, over: Partial<ContainerSummary> = {}): ContainerSummary {
  return {
    Id: `${i}`.padStart(64, '0'),
    Names: [`/c${i}`],
    Image: 'busybox',
    ImageID: '',
    Command: 'sleep 9',
    Created: 0,
    Ports: [],
    Labels: {},
    State: 'running',
    Status: 'Up 1 second',
    Mounts: [],
    ...over,
  };
}

function net(name: string, over: Partial<Network> = {}): Network {
  return {
    Name: name,
    Id: `${name}-id`,
    Created: '',
    Scope: 'local',
    Driver: 'bridge',
    EnableIPv6: false,
    Internal: false,
    Attachable: false,
    Ingress: false,
    IPAM: { Driver: 'default', Config: [] },
    Options: null,
    Labels: null,
    ...over,
  };
}

describe('views: networks', () => {
  it('lists built-in networks first, with driver, subnet, flags and attached containers as children', () => {
    const tree = buildNetworkTree(
      [
        net('zeta', { Internal: true, IPAM: { Driver: 'default', Config: [{ Subnet: '172.30.0.0/24' }] } }),
        net('bridge', { IPAM: { Driver: 'default', Config: [{ Subnet: '172.17.0.0/16' }] } }),
        net('host', { Driver: 'host' }),
      ],
      [
        ctr(1, { NetworkSettings: { Networks: { zeta: { NetworkID: 'zeta-id', IPAddress: '172.30.0.2' } } } }),
        ctr(2, {
          State: 'exited',
          NetworkSettings: {
            Networks: { bridge: { NetworkID: '', IPAddress: '' }, zeta: { NetworkID: 'zeta-id', IPAddress: '' } },
          },
        }),
        ctr(3, {
          Labels: { 'berth.helper': 'volume-files' },
          NetworkSettings: { Networks: { zeta: { NetworkID: 'zeta-id' } } },
        }),
      ],
    );
    assert.deepEqual(
      tree.map((r) => [r.label, r.description, r.contextValue]),
      [
        ['bridge', 'bridge · 172.17.0.0/16', 'network.builtin'],
        ['host', 'host', 'network.builtin'],
        ['zeta', 'bridge · 172.30.0.0/24 · internal', 'network.user.inuse'],
      ],
    );
    assert.deepEqual(
      tree[2].children!.map((r) => [r.label, r.description, r.contextValue, r.networkName]),
      [
        ['c1', '172.30.0.2 · running', 'network.container', 'zeta'],
        ['c2', 'exited', 'network.container', 'zeta'],
      ],
      'the helper container is not shown',
    );
    assert.equal(tree[0].children?.[0].label, 'c2', 'an engine that leaves NetworkID empty is matched by name');
  });
});

describe('views: disk usage', () => {
  const df: SystemDf = {
    LayersSize: 1000,
    Images: [
      { Id: 'sha256:a', RepoTags: ['a:1'], Size: 600, SharedSize: 100, Containers: 1 } as any,
      { Id: 'sha256:b', RepoTags: null, Size: 500, SharedSize: 100, Containers: 0 } as any,
    ],
    Containers: [ctr(1, { SizeRw: 10 }), ctr(2, { State: 'exited', SizeRw: 30 })],
    Volumes: [
      { Name: 'v1', UsageData: { Size: 70, RefCount: 1 } } as any,
      { Name: 'v2', UsageData: { Size: 20, RefCount: 0 } } as any,
    ],
    BuildCache: [
      { Size: 5, InUse: false, Shared: false },
      { Size: 7, InUse: true, Shared: false },
      { Size: 9, InUse: false, Shared: true },
    ],
  };
  it('sums sizes and reclaimable space as docker system df does', () => {
    assert.deepEqual(
      diskUsageTotals(df).map((t) => [t.label, t.count, t.active, t.size, t.reclaimable]),
      [
        ['Images', 2, 1, 1000, 500],
        ['Containers', 2, 1, 40, 30],
        ['Local Volumes', 2, 1, 90, 20],
        ['Build Cache', 3, 1, 12, 5],
      ],
    );
  });
  it('shows each category with its items largest first, and prune menus only where something is reclaimable', () => {
    const tree = buildDiskUsageTree(df);
    assert.equal(tree[0].description, '1.00 kB · 2 (1 active) · 500 B reclaimable');
    assert.equal(tree[0].contextValue, 'df.images.reclaimable');
    assert.deepEqual(
      tree[0].children!.map((r) => r.label),
      ['a:1', 'b'],
    );
    assert.equal(
      buildDiskUsageTree({ LayersSize: 0, Images: [], Containers: [], Volumes: [], BuildCache: [] })[1].contextValue,
      'df.containers',
    );
  });
});

describe('views: stats and health', () => {
  const raw = (over: Partial<ContainerStats> = {}): ContainerStats => ({
    read: '2026-01-01T00:00:01Z',
    cpu_stats: { cpu_usage: { total_usage: 3_000_000_000 }, system_cpu_usage: 20_000_000_000, online_cpus: 2 },
    precpu_stats: { cpu_usage: { total_usage: 2_000_000_000 }, system_cpu_usage: 10_000_000_000, online_cpus: 2 },
    memory_stats: { usage: 10_000_000, limit: 100_000_000, stats: { total_inactive_file: 2_000_000 } },
    blkio_stats: {
      io_service_bytes_recursive: [
        { op: 'Read', value: 4096 },
        { op: 'Write', value: 8192 },
      ],
    },
    networks: { eth0: { rx_bytes: 100, tx_bytes: 50 }, eth1: { rx_bytes: 1, tx_bytes: 2 } },
    ...over,
  });
  it('computes CPU %, memory without the page cache, network and block I/O as docker stats does', () => {
    assert.equal(cpuPercent(raw()), 20);
    assert.equal(memoryUsage(raw()), 8_000_000);
    assert.equal(memoryUsage(raw({ memory_stats: { usage: 5, stats: { inactive_file: 2 } } })), 3, 'cgroup v2 key');
    const s = toSample(raw());
    assert.deepEqual([s.netRx, s.netTx, s.blockRead, s.blockWrite, s.memPercent], [101, 52, 4096, 8192, 8]);
    assert.equal(cpuPercent(raw({ precpu_stats: { cpu_usage: { total_usage: 0 } } })), 0, 'first read: unknown');
    assert.equal(formatStatsShort(s), 'CPU 20% · 8.00 MB');
  });
  it('reads health from the status text and shows it as the row icon', () => {
    assert.equal(containerHealth({ State: 'running', Status: 'Up 3 minutes (healthy)' }), 'healthy');
    assert.equal(containerHealth({ State: 'running', Status: 'Up 3 minutes (unhealthy)' }), 'unhealthy');
    assert.equal(containerHealth({ State: 'running', Status: 'Up 1 second (health: starting)' }), 'starting');
    assert.equal(containerHealth({ State: 'running', Status: 'Up 3 minutes' }), undefined);
    const [healthy, sick, plain] = buildContainerTree([
      ctr(1, { Status: 'Up 3 minutes (healthy)' }),
      ctr(2, { Status: 'Up 3 minutes (unhealthy)' }),
      ctr(3),
    ]);
    assert.deepEqual(
      [healthy.icon, sick.icon, plain.icon],
      [
        { id: 'pass-filled', color: 'testing.iconPassed' },
        { id: 'warning', color: 'errorForeground' },
        { id: 'debug-start', color: 'testing.iconPassed' },
      ],
    );
    assert.match(sick.tooltip!, /Health: unhealthy/);
  });
  it('puts live stats in running rows only', () => {
    const stats = new Map([
      [ctr(1).Id, toSample(raw())],
      [ctr(2).Id, toSample(raw())],
    ]);
    const [running, exited] = buildContainerTree([ctr(1), ctr(2, { State: 'exited', Status: 'Exited (0)' })], {
      groupBy: 'none',
      label: 'name',
      description: ['status', 'stats'],
      stats,
    });
    assert.equal(running.description, 'Up 1 second · CPU 20% · 8.00 MB');
    assert.equal(exited.description, 'Exited (0)');
  });
});

describe('extension: the shared stats feed', () => {
  /** A client whose stats streams the test drives by hand. */
  function fakeClient() {
    const streams = new Map<string, { push: (s: ContainerStats) => void; end: () => void; aborted: boolean }>();
    let opened = 0;
    const client = {
      containerStatsStream(id: string, signal: AbortSignal) {
        opened++;
        const queue: ContainerStats[] = [];
        let wake: (() => void) | undefined;
        let done = false;
        const entry = {
          aborted: false,
          push: (s: ContainerStats) => {
            queue.push(s);
            wake?.();
          },
          end: () => {
            done = true;
            wake?.();
          },
        };
        streams.set(id, entry);
        signal.addEventListener('abort', () => {
          entry.aborted = true;
          done = true;
          wake?.();
        });
        return (async function* () {
          for (;;) {
            while (queue.length) yield queue.shift()!;
            if (done) return;
            await new Promise<void>((r) => (wake = r));
          }
        })();
      },
    };
    return { client: client as any, streams, opened: () => opened };
  }
  const sample = (n: number): ContainerStats => ({
    read: new Date(1000 * n).toISOString(),
    cpu_stats: { cpu_usage: { total_usage: n * 1e9 }, system_cpu_usage: n * 1e10, online_cpus: 1 },
    precpu_stats: { cpu_usage: { total_usage: (n - 1) * 1e9 }, system_cpu_usage: (n - 1) * 1e10, online_cpus: 1 },
    memory_stats: { usage: 1000 * n },
  });
  const tick = () => new Promise((r) => setImmediate(r));

  it('serves every subscriber of a container from one stream, closed when the last one leaves', async () => {
    const f = fakeClient();
    const hub = new StatsHub(() => f.client);
    const got: string[] = [];
    const a = hub.subscribe('c1', (_id, s) => got.push(`a${s.memUsage}`));
    const b = hub.subscribe('c1', (_id, s) => got.push(`b${s.memUsage}`));
    await tick();
    f.streams.get('c1')!.push(sample(2));
    await tick();
    assert.deepEqual(got, ['a2000', 'b2000']);
    assert.equal(f.opened(), 1);
    a.dispose();
    assert.equal(f.streams.get('c1')!.aborted, false);
    b.dispose();
    assert.equal(f.streams.get('c1')!.aborted, true, 'nobody looks: the stream is closed');
    assert.deepEqual(hub.open, []);
    hub.dispose();
  });

  it('rows subscribe to running containers only while the view is visible, one redraw per batch', async () => {
    const f = fakeClient();
    const hub = new StatsHub(() => f.client);
    let redraws = 0;
    const rows = new RowStats(hub, () => redraws++, 20);
    rows.setRunning(['c1', 'c2']);
    assert.equal(f.opened(), 0, 'hidden view: no stream');
    rows.setVisible(true);
    await tick();
    assert.deepEqual(hub.open.sort(), ['c1', 'c2']);
    f.streams.get('c1')!.push(sample(3));
    f.streams.get('c2')!.push(sample(3));
    await tick();
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(redraws, 1, 'two samples, one redraw');
    assert.equal(rows.samples.get('c1')?.memUsage, 3000);
    rows.setRunning(['c1']);
    assert.equal(f.streams.get('c2')!.aborted, true, 'a stopped container is let go');
    // c1 stops and starts again: its stream ended; the next list re-subscribes.
    f.streams.get('c1')!.end();
    await tick();
    rows.setRunning(['c1']);
    assert.equal(f.opened(), 3);
    rows.setVisible(false);
    assert.deepEqual(hub.open, []);
    rows.dispose();
    hub.dispose();
  });
});

describe('views: refresh cost with 500 containers and live stats on', () => {
  it('rebuilds and reconciles 500 rows with fresh stats well under 50 ms per refresh', () => {
    const list: ContainerSummary[] = [];
    for (let i = 0; i < 500; i++)
      list.push(
        ctr(i, {
          State: i % 5 === 0 ? 'exited' : 'running',
          Status: i % 5 === 0 ? 'Exited (0) 2 hours ago' : `Up ${i} minutes`,
          Labels: { 'com.docker.compose.project': `p${i % 20}` },
        }),
      );
    // What a stats-driven refresh does: no engine call, the cached list with every running row's new sample.
    const statsAt = (k: number) =>
      new Map(
        list
          .filter((c) => c.State === 'running')
          .map((c, i) => [
            c.Id,
            {
              time: k,
              cpuPercent: (i * 7 + k) % 100,
              memUsage: 1e6 * (1 + ((i + k) % 50)),
              memLimit: 1e9,
              memPercent: 0,
              netRx: 0,
              netTx: 0,
              blockRead: 0,
              blockWrite: 0,
              pids: 1,
            },
          ]),
      );
    const opts = (k: number) => ({
      groupBy: 'composeProject' as const,
      label: 'name' as const,
      description: ['status', 'stats', 'ports', 'image'] as const,
      stats: statsAt(k),
      files: true,
    });
    const { reconcile } = require('../../src/views/model');
    let shown = buildContainerTree(list, { ...opts(0), description: [...opts(0).description] });
    for (let k = 1; k < 4; k++)
      shown = reconcile(shown, buildContainerTree(list, { ...opts(k), description: [...opts(k).description] })).roots;
    const cpu: number[] = [];
    const wall: number[] = [];
    for (let k = 10; k < 31; k++) {
      const o = { ...opts(k), description: [...opts(k).description] };
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const diff = reconcile(shown, buildContainerTree(list, o));
      const c1 = process.cpuUsage(c0);
      wall.push(performance.now() - t0);
      cpu.push((c1.user + c1.system) / 1000);
      shown = diff.roots;
      assert.equal(diff.structural, false);
      assert.ok(diff.changed.length >= 390, `stats changed on the running rows (${diff.changed.length})`);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    console.log(
      `      500 containers (400 running) with live stats: refresh median ${median(cpu).toFixed(1)} ms CPU, ${median(wall).toFixed(1)} ms wall (max wall ${Math.max(...wall).toFixed(1)} ms)`,
    );
    assert.ok(median(cpu) < 50, `median CPU ${median(cpu)} ms`);
  });
});
