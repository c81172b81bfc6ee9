// berthd on cgroup v2 (the unified hierarchy current distributions boot with), in the Berth VM guest: this host
// is cgroup v1 hybrid, where neither these files nor crun can be had. One guest for the run (helpers/vm.ts).
// Each limit is checked where the kernel keeps it and from inside the container (its own cgroup namespace), and
// the same container paths run on runc and on crun (RHEL 10 ships only crun).
import * as assert from 'node:assert/strict';
import { requireDockerCli } from '../helpers/engine';
import { assertOomKilled, dockerOk, requireQemu, sharedVm, type TestVm } from '../helpers/vm';

describe('vm: cgroup v2 in the guest (limits, update, stats, OOM, freeze, cgroupns, crun)', function () {
  this.timeout(300_000);
  let vm: TestVm;
  const ok = dockerOk((args) => vm.docker(args));
  // The container's cgroup files as the guest sees them (one guest command: each costs a container under TCG)…
  const guestFiles = (id: string, files: string[]) =>
    vm
      .guest(`cd /sys/fs/cgroup/berth/${id} && cat ${files.join(' ')}`)
      .trim()
      .split('\n');
  // …and as the container itself sees them: the same files at /sys/fs/cgroup (its own cgroup namespace).
  const ownFiles = (id: string, files: string[]) =>
    ok(['exec', id, 'cat', ...files.map((f) => `/sys/fs/cgroup/${f}`)])
      .trim()
      .split('\n');

  before(async function () {
    this.timeout(900_000);
    requireQemu(this);
    requireDockerCli(this);
    vm = await sharedVm();
  });

  it('docker info: cgroup v2, the cgroupfs driver (no systemd in this guest), cgroupns, runc and crun', () => {
    const info = JSON.parse(ok(['info', '--format', '{{json .}}']));
    assert.equal(info.CgroupVersion, '2');
    assert.equal(info.CgroupDriver, 'cgroupfs');
    assert.ok(info.SecurityOptions.includes('name=cgroupns'), info.SecurityOptions.join(','));
    assert.equal(info.DefaultRuntime, 'runc');
    assert.ok(info.Runtimes.crun?.path, `crun in ${JSON.stringify(info.Runtimes)}`);
  });

  for (const runtime of ['runc', 'crun']) {
    describe(`on ${runtime}`, () => {
      // What depends on berthd alone (paths it reads, namespaces it asks for) runs once: TCG is slow.
      const runcOnly = (title: string, fn: Mocha.Func | Mocha.AsyncFunc) => runtime === 'runc' && it(title, fn);
      it('a private cgroup namespace by default: the container sees its own limits; --pids-limit stops a fork storm', () => {
        const out = ok([
          'run',
          '--rm',
          '--runtime',
          runtime,
          '-m',
          '64m',
          '--cpus',
          '0.5',
          '--pids-limit',
          '10',
          'busybox',
          'sh',
          '-c',
          [
            'cat /proc/self/cgroup /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max',
            // A subshell (ash gives up at the first fork the limit refuses), then builtins only: at the limit a
            // cat could not be forked.
            '(for i in $(seq 30); do sleep 5 & done) 2>/dev/null',
            'read c < /sys/fs/cgroup/pids.current; read e < /sys/fs/cgroup/pids.events; echo $c; echo $e',
          ].join('; '),
        ]);
        const lines = out.trim().split('\n');
        assert.deepEqual(lines.slice(0, 4), ['0::/', String(64 << 20), '50000 100000', '10']);
        assert.ok(Number(lines[4]) <= 10, `pids.current ${lines[4]}`);
        assert.match(lines[5], /^max [1-9]/);
      });

      runcOnly('--cgroupns host: the container sees where it is in the host tree', () => {
        const id = ok(['create', '--cgroupns', 'host', 'busybox', 'cat', '/proc/self/cgroup']).trim();
        try {
          ok(['start', '-a', id]);
          assert.equal(ok(['logs', id]).trim(), `0::/berth/${id}`);
        } finally {
          ok(['rm', '-f', id]);
        }
      });

      it('docker update changes memory.max, cpu.max and pids.max of a running container', () => {
        const id = ok(['run', '-d', '--runtime', runtime, '-m', '64m', 'busybox', 'sleep', '600']).trim();
        try {
          assert.deepEqual(ownFiles(id, ['memory.max']), [String(64 << 20)]);
          ok(['update', '--memory', '96m', '--memory-swap', '192m', '--cpus', '1.5', '--pids-limit', '33', id]);
          const want = [String(96 << 20), String(96 << 20), '150000 100000', '33'];
          const files = ['memory.max', 'memory.swap.max', 'cpu.max', 'pids.max'];
          assert.deepEqual(guestFiles(id, files), want);
          assert.deepEqual(ownFiles(id, files), want);
          const hc = ok([
            'inspect',
            '-f',
            '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}',
            id,
          ]);
          assert.equal(hc.trim(), `${96 << 20} 1500000000 33`);
        } finally {
          ok(['rm', '-f', id]);
        }
      });

      runcOnly('stats from the v2 files: memory.current/stat, memory.max, cpu.stat, pids, io.stat', async () => {
        const id = ok([
          'run',
          '-d',
          '--runtime',
          runtime,
          '-m',
          '80m',
          '--pids-limit',
          '40',
          'busybox',
          'sh',
          '-c',
          'dd if=/dev/zero of=/tmp/f bs=1M count=8 conv=fsync 2>/dev/null; i=0; while :; do i=$((i+1)); done',
        ]).trim();
        try {
          await new Promise((r) => setTimeout(r, 1500));
          const s: any = await vm.client.json('GET', `/containers/${id}/stats`, { query: { stream: false } });
          assert.equal(s.memory_stats.limit, 80 << 20);
          assert.ok(s.memory_stats.usage > 0, 'memory.current');
          assert.ok('anon' in s.memory_stats.stats && 'inactive_file' in s.memory_stats.stats, 'memory.stat keys');
          assert.ok(s.cpu_stats.cpu_usage.total_usage > 0, 'cpu.stat usage_usec');
          assert.ok(s.cpu_stats.system_cpu_usage > 0);
          assert.ok(s.pids_stats.current >= 1, `pids ${JSON.stringify(s.pids_stats)}`);
          assert.equal(s.pids_stats.limit, 40);
          const written = (s.blkio_stats.io_service_bytes_recursive ?? []).filter((b: any) => b.op === 'write');
          assert.ok(written.length > 0, `io.stat: ${JSON.stringify(s.blkio_stats)}`);
          const line = ok(['stats', '--no-stream', '--format', '{{.MemUsage}}|{{.PIDs}}', id]).trim();
          assert.match(line, /\/ 80MiB\|[1-9]/);
        } finally {
          ok(['rm', '-f', id]);
        }
      });

      it('OOM: State.OOMKilled from memory.events, exit 137', () => {
        assertOomKilled(vm.docker, `oom-${runtime}`, 24, ['--runtime', runtime]);
      });

      it('pause freezes through cgroup.freeze; unpause thaws', () => {
        const id = ok(['run', '-d', '--runtime', runtime, 'busybox', 'sleep', '600']).trim();
        try {
          ok(['pause', id]);
          const [freeze, ...events] = guestFiles(id, ['cgroup.freeze', 'cgroup.events']);
          assert.equal(freeze, '1');
          assert.ok(events.includes('frozen 1'), events.join(','));
          ok(['unpause', id]);
          assert.deepEqual(ownFiles(id, ['cgroup.freeze']), ['0']);
          assert.equal(ok(['exec', id, 'echo', 'thawed']).trim(), 'thawed');
        } finally {
          ok(['rm', '-f', id]);
        }
      });

      runcOnly('nested delegation: a privileged container manages a cgroup tree of its own under its limits', () => {
        const out = ok([
          'run',
          '--rm',
          '--runtime',
          runtime,
          '--privileged',
          '-m',
          '64m',
          'busybox',
          'sh',
          '-c',
          [
            'cd /sys/fs/cgroup',
            'mkdir init && echo $$ > init/cgroup.procs', // no processes in an inner node (cgroup v2's rule)
            'echo +memory +pids > cgroup.subtree_control',
            'mkdir job && echo 16M > job/memory.max && echo 5 > job/pids.max',
            'cat job/memory.max job/pids.max memory.max',
          ].join(' && '),
        ]);
        assert.deepEqual(out.trim().split('\n'), [String(16 << 20), '5', String(64 << 20)]);
      });
    });
  }
});
