// A root berthd on a cgroup v2 hierarchy that lacks controllers — what WSL gives when its hybrid is remounted as v2
// alone while v1 hierarchies still bind memory, cpu, pids… (scripts/vm/guest/wsl-init). Made here the same way: the
// engine in a mount (and cgroup) namespace of its own where /sys/fs/cgroup is a fresh cgroup2 mount; this host's v1
// hierarchies keep those controllers, so the v2 one offers what is left (hugetlb here). Containers still run; a
// limit whose controller is missing is refused with the reason (never left to fail at runc or to hold nothing), and
// `docker info` warns as dockerd does.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildFixture, writeDockerArchive } from '../../fixtures';
import { requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';

/** Runs the engine where /sys/fs/cgroup is cgroup v2 alone, as wsl-init leaves it. */
const CGROUP2_ONLY = [
  'unshare',
  '--mount',
  '--cgroup',
  '--propagation',
  'private',
  'sh',
  '-c',
  'umount -R /sys/fs/cgroup 2>/dev/null; mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$0" "$@"',
];

describe('runtime: a root engine on cgroup v2 without the controllers its limits need', function () {
  this.timeout(120_000);
  let engine: TestEngine;
  let offered: string[];

  before(async function () {
    requireDockerCli(this);
    engine = await startEngine({ prefix: CGROUP2_ONLY });
    const pid = engine.process().pid;
    offered = fs
      .readFileSync(`/proc/${pid}/root/sys/fs/cgroup/cgroup.controllers`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    // This host is hybrid: memory and pids stay bound to their v1 hierarchies (the point of the test).
    assert.ok(!offered.includes('memory') && !offered.includes('pids'), `v2 offers ${offered.join(' ')}`);
    const archive = path.join(engine.dir, 'busybox.tar');
    await writeDockerArchive(archive, [{ image: await buildFixture('busybox'), tags: ['busybox:latest'] }]);
    const load = engine.docker(['load', '-i', archive]);
    assert.equal(load.code, 0, load.stderr);
  });

  after(async () => {
    await engine?.cleanup();
  });

  it('runs containers on it (cgroup v2, the cgroupfs driver)', () => {
    const info = engine.docker(['info', '--format', '{{.CgroupVersion}} {{.CgroupDriver}} {{.MemoryLimit}}']);
    assert.equal(info.stdout.trim(), '2 cgroupfs false', info.stderr);
    const run = engine.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo hi; cat /proc/self/cgroup']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^hi\n/);
    assert.match(run.stdout, /^0::\/$/m);
  });

  it('refuses -m and --pids-limit at create, saying which controller is missing and how to get it', () => {
    const r = engine.docker(['run', '--rm', '--name', 'limited', '-m', '64m', '--pids-limit', '10', 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.match(
      r.stderr,
      new RegExp(
        `Error response from daemon: --memory, --pids-limit: this host's cgroup v2 hierarchy lacks the memory, pids controllers \\(cgroup\\.controllers: ${offered.join(' ') || 'none'}; one bound to a cgroup v1 hierarchy is not offered on v2\\): boot the kernel with cgroup_no_v1=all \\(WSL: kernelCommandLine = cgroup_no_v1=all`,
      ),
    );
    assert.equal(engine.docker(['ps', '-aq', '--filter', 'name=limited']).stdout.trim(), '', 'nothing created');
  });

  it('refuses docker update of a missing controller and leaves the container as it was', () => {
    const id = engine.docker(['run', '-d', 'busybox', 'sleep', '60']).stdout.trim();
    try {
      const r = engine.docker(['update', '--memory', '32m', id]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /--memory: this host's cgroup v2 hierarchy lacks the memory controller/);
      assert.equal(engine.docker(['inspect', '--format', '{{.HostConfig.Memory}}', id]).stdout.trim(), '0');
    } finally {
      engine.docker(['rm', '-f', id]);
    }
  });

  it("docker info warns in dockerd's words, and says how to get the controllers", () => {
    const r = engine.docker(['info']);
    for (const w of ['WARNING: No memory limit support', 'WARNING: No swap limit support'])
      assert.ok(r.stderr.includes(w) || r.stdout.includes(w), `${w} in ${r.stdout}${r.stderr}`);
    assert.match(r.stdout + r.stderr, /WARNING: the cgroup v2 hierarchy lacks the .*memory.* controllers: limits/);
  });
});
