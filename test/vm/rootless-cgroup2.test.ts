// Rootless berthd with resource limits, in the Berth VM guest (cgroup v2; this host is hybrid v1, where
// test/engine/rootless/run.test.ts shows the limits refused with the reason). The guest has no systemd, so the
// test set-up does, as root, what systemd's user@.service with Delegate=yes does for a logged-in user: the cgroup
// user.slice/user-1000.slice/user@1000.service with the controllers enabled down to it, the directory and its
// cgroup.procs, cgroup.subtree_control and cgroup.threads owned by the user, and /run/user/1000 (logind's). The
// engine is then started inside that cgroup as the user — as `systemctl --user start berthd` would. It also adds
// the user (with /etc/subuid and /etc/subgid lines) and makes /dev/net/tun 0666 as udev does on stock distributions.
// The host's docker CLI reaches the user's 0600 socket through a relay the guest's root engine runs (a container
// in PID 1's mount namespace, published with -p), as an administrator could.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireDockerCli } from '../helpers/engine';
import { freePort } from '../helpers/net';
import { assertOomKilled, dockerOk, requireQemu, sharedVm, type TestVm } from '../helpers/vm';

const USER = 'berth-rl';
const ID = 1000;
const DELEGATED = `/sys/fs/cgroup/user.slice/user-${ID}.slice/user@${ID}.service`;
const SOCKET = `/run/user/${ID}/berth/berth.sock`;
const CONTROLLERS = '+cpu +cpuset +io +memory +pids';

// The guest's root side: the user, its runtime dir and home (on the data disk: overlay's upper layer cannot be the
// guest's own tmpfs-backed root overlay), tun, and the delegated cgroup as systemd makes it.
const SETUP = `set -e
grep -q '^${USER}:' /etc/passwd || { echo '${USER}:x:${ID}:${ID}::/home/${USER}:/bin/sh' >>/etc/passwd; echo '${USER}:x:${ID}:' >>/etc/group; }
for f in /etc/subuid /etc/subgid; do grep -q '^${USER}:' $f 2>/dev/null || echo '${USER}:100000:65536' >>$f; done
mkdir -p /var/lib/berth/rootless-home /home/${USER} /run/user/${ID}
mountpoint -q /home/${USER} || mount --bind /var/lib/berth/rootless-home /home/${USER}
chown ${ID}:${ID} /home/${USER} /run/user/${ID}; chmod 0700 /run/user/${ID}
echo '{}' >/home/${USER}/daemon.json; chown ${ID}:${ID} /home/${USER}/daemon.json
modprobe tun; chmod 0666 /dev/net/tun
cd /sys/fs/cgroup
echo '${CONTROLLERS}' >cgroup.subtree_control
mkdir -p user.slice/user-${ID}.slice/user@${ID}.service
echo '${CONTROLLERS}' >user.slice/cgroup.subtree_control
echo '${CONTROLLERS}' >user.slice/user-${ID}.slice/cgroup.subtree_control
d=user.slice/user-${ID}.slice/user@${ID}.service
chown ${ID}:${ID} $d $d/cgroup.procs $d/cgroup.subtree_control $d/cgroup.threads
`;

// The engine started in the delegated cgroup as the user (node drops to the user's ids and no groups).
const START = `set -e
echo $$ >${DELEGATED}/cgroup.procs
cd /home/${USER}
node -e '
const fs = require("fs");
const out = fs.openSync("/home/${USER}/berthd.log", "a");
const child = require("child_process").spawn(process.execPath, ["/usr/lib/berth/engine.js", "--config-file", "/home/${USER}/daemon.json"], {
  uid: ${ID}, gid: ${ID}, detached: true, stdio: ["ignore", out, out],
  env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/home/${USER}", USER: "${USER}", LOGNAME: "${USER}", XDG_RUNTIME_DIR: "/run/user/${ID}" },
});
fs.writeFileSync("/run/user/${ID}/berthd.pid", String(child.pid));
child.unref();'
`;

// A TCP relay to the user's socket (root may open it); it runs in the relay container's network namespace. Half-open
// both ways: the docker CLI ends its side of an attach when it has no more input and still reads the output.
const RELAY = `const net = require("net");
net.createServer({ allowHalfOpen: true }, (c) => { const u = net.connect({ path: "${SOCKET}", allowHalfOpen: true });
  c.pipe(u); u.pipe(c);
  c.on("error", () => u.destroy()); u.on("error", () => c.destroy()); }).listen(2375);`;

describe('vm: rootless berthd in a delegated cgroup v2 subtree (limits, OOM, update, stats, freeze, info)', function () {
  this.timeout(300_000);
  let vm: TestVm;
  let rootlessHost = '';
  const dockerConfig = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rl-docker-'));
  const rl = (args: string[], timeoutMs = 180_000) => {
    const r = spawnSync('docker', args, {
      env: { ...process.env, DOCKER_HOST: rootlessHost, DOCKER_CONFIG: dockerConfig },
      encoding: 'utf8',
      timeout: timeoutMs,
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  };
  const ok = dockerOk(rl);
  // In the guest as root, in its own cgroup namespace (the set-up writes cgroup.procs, see vm.guest()).
  const asRoot = (command: string) => vm.guest(command);
  const engineLog = () => {
    try {
      return asRoot(`cat /home/${USER}/berthd.log`);
    } catch (err: any) {
      return err.message;
    }
  };
  const cgroupFiles = (id: string, files: string[]) =>
    asRoot(`cd ${DELEGATED}/berth/${id} && cat ${files.join(' ')}`)
      .trim()
      .split('\n');

  before(async function () {
    this.timeout(900_000);
    requireQemu(this);
    requireDockerCli(this);
    vm = await sharedVm();
    asRoot(SETUP);
    asRoot(START);
    const port = await freePort();
    const relay = vm.docker([
      ...['run', '-d', '--name', 'rl-relay', '--privileged', '--pid=host', '-p', `127.0.0.1:${port}:2375`],
      ...['busybox', 'nsenter', '-t', '1', '-m', '--', 'node', '-e', RELAY],
    ]);
    assert.equal(relay.code, 0, relay.stderr);
    rootlessHost = `tcp://127.0.0.1:${port}`;
    const deadline = Date.now() + 180_000;
    while (rl(['version', '--format', '{{.Server.Version}}'], 20_000).code !== 0) {
      if (Date.now() > deadline) throw new Error(`the rootless engine did not answer:\n${engineLog()}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    // busybox from the guest's root engine: the user's namespace reaches its own loopback at 10.0.2.2, not QEMU's.
    const load = spawnSync(
      'sh',
      ['-c', `DOCKER_HOST=${vm.host} docker save busybox | DOCKER_HOST=${rootlessHost} docker load -q`],
      { env: { ...process.env, DOCKER_CONFIG: dockerConfig }, encoding: 'utf8', timeout: 180_000 },
    );
    assert.equal(load.status, 0, `${load.stdout}${load.stderr}`);
  });

  after(async function () {
    this.timeout(120_000);
    if (!vm) return;
    vm.docker(['rm', '-f', 'rl-relay']);
    try {
      asRoot(
        `kill $(cat /run/user/${ID}/berthd.pid) 2>/dev/null; i=0; while [ $i -lt 60 ] && ps -o user | grep -q '^${USER}\\|^${ID}'; do sleep 1; i=$((i+1)); done; ` +
          `umount /home/${USER}; rmdir ${DELEGATED}/berth ${DELEGATED}/berthd 2>/dev/null; true`,
      );
    } catch {
      /* the VM went already */
    }
    fs.rmSync(dockerConfig, { recursive: true, force: true });
  });

  it('the engine moved itself into a leaf and handed the controllers down; docker info: cgroup v2, cgroupfs, limits', () => {
    const [subtree, leafProcs] = asRoot(
      `cat ${DELEGATED}/cgroup.subtree_control; wc -l < ${DELEGATED}/berthd/cgroup.procs`,
    )
      .trim()
      .split('\n');
    for (const c of ['cpu', 'io', 'memory', 'pids']) assert.ok(subtree.split(' ').includes(c), subtree);
    assert.ok(Number(leafProcs) >= 2, `engine and slirp4netns in the leaf: ${leafProcs}`);
    const info = JSON.parse(ok(['info', '--format', '{{json .}}']));
    assert.equal(info.CgroupVersion, '2');
    assert.equal(info.CgroupDriver, 'cgroupfs');
    // The guest has runc and crun: rootless takes crun (as rootless Podman), so the limits below run on crun.
    assert.equal(info.DefaultRuntime, 'crun', JSON.stringify(info.Runtimes));
    assert.ok(info.SecurityOptions.includes('name=rootless'), info.SecurityOptions.join(','));
    assert.ok(info.SecurityOptions.includes('name=cgroupns'), info.SecurityOptions.join(','));
    assert.deepEqual(
      [info.MemoryLimit, info.CpuCfsQuota, info.CpuCfsPeriod, info.CPUShares, info.PidsLimit],
      [true, true, true, true, true],
    );
    const limitWarnings = (info.Warnings ?? []).filter((w: string) => /limit|delegat|controller|cgroup/i.test(w));
    assert.deepEqual(limitWarnings, []);
  });

  it('--memory, --cpus, --pids-limit: in its own cgroup below the subtree, seen from inside; a fork storm stops', () => {
    const out = ok([
      ...['run', '--rm', '-m', '64m', '--cpus', '0.5', '--pids-limit', '10', 'busybox', 'sh', '-c'],
      [
        'cat /proc/self/cgroup /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max',
        '(for i in $(seq 30); do sleep 5 & done) 2>/dev/null',
        'read c < /sys/fs/cgroup/pids.current; read e < /sys/fs/cgroup/pids.events; echo $c; echo $e',
      ].join('; '),
    ]);
    const lines = out.trim().split('\n');
    assert.deepEqual(lines.slice(0, 4), ['0::/', String(64 << 20), '50000 100000', '10']);
    assert.ok(Number(lines[4]) <= 10, `pids.current ${lines[4]}`);
    assert.match(lines[5], /^max [1-9]/);
  });

  it('OOM: the kernel kills at --memory, State.OOMKilled from memory.events, exit 137', () => {
    assertOomKilled(rl, 'rl-oom', 24);
  });

  describe('a running container', () => {
    let id = '';
    before(() => {
      id = ok(['run', '-d', '-m', '64m', '--cpus', '0.5', '--pids-limit', '20', 'busybox', 'sleep', '600']).trim();
    });
    after(() => id && rl(['rm', '-f', id]));

    it('docker update rewrites memory.max, memory.swap.max, cpu.max and pids.max', () => {
      assert.deepEqual(cgroupFiles(id, ['memory.max', 'cpu.max', 'pids.max']), [
        String(64 << 20),
        '50000 100000',
        '20',
      ]);
      ok(['update', '--memory', '96m', '--memory-swap', '192m', '--cpus', '1.5', '--pids-limit', '33', id]);
      const want = [String(96 << 20), String(96 << 20), '150000 100000', '33'];
      assert.deepEqual(cgroupFiles(id, ['memory.max', 'memory.swap.max', 'cpu.max', 'pids.max']), want);
      const hc = ok(['inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}', id]);
      assert.equal(hc.trim(), `${96 << 20} 1500000000 33`);
    });

    it('stats come from the v2 files of its cgroup', async () => {
      const res = await fetch(`${rootlessHost.replace('tcp:', 'http:')}/containers/${id}/stats?stream=false`);
      const s: any = await res.json();
      assert.equal(s.memory_stats.limit, 96 << 20);
      assert.ok(s.memory_stats.usage > 0, 'memory.current');
      assert.ok('anon' in s.memory_stats.stats, 'memory.stat keys');
      assert.ok(s.cpu_stats.cpu_usage.total_usage > 0, 'cpu.stat usage_usec');
      assert.equal(s.pids_stats.limit, 33);
      assert.ok(s.pids_stats.current >= 1);
      assert.match(ok(['stats', '--no-stream', '--format', '{{.MemUsage}}|{{.PIDs}}', id]).trim(), /\/ 96MiB\|[1-9]/);
    });

    it('pause freezes it through cgroup.freeze; unpause thaws it', () => {
      ok(['pause', id]);
      const [freeze, ...events] = cgroupFiles(id, ['cgroup.freeze', 'cgroup.events']);
      assert.equal(freeze, '1');
      assert.ok(events.includes('frozen 1'), events.join(','));
      assert.equal(ok(['inspect', '-f', '{{.State.Status}}', id]).trim(), 'paused');
      ok(['unpause', id]);
      assert.deepEqual(cgroupFiles(id, ['cgroup.freeze']), ['0']);
      assert.equal(ok(['exec', id, 'echo', 'thawed']).trim(), 'thawed');
    });
  });

  // Last (mocha runs a suite's own tests before its nested suites).
  describe('stop', () =>
    it('stops with nothing of the user left in the guest and no container cgroup left', () => {
      asRoot(`kill $(cat /run/user/${ID}/berthd.pid)`);
      const left = asRoot(
        `i=0; while [ $i -lt 60 ]; do p=$(ps -o user,args | grep -E '^(${USER}|${ID}) ' || true); [ -z "$p" ] && break; sleep 1; i=$((i+1)); done; ` +
          `echo "$p"; find ${DELEGATED}/berth -mindepth 1 -maxdepth 1 -type d 2>/dev/null || true`,
      );
      assert.equal(left.trim(), '', `left behind:\n${left}\n${engineLog()}`);
    }));
});
