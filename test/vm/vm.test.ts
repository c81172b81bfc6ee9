// The Berth VM end to end, driven from the host through the VM's own socket (one guest for the whole run; QEMU
// without KVM here, so every step allows for TCG's slowness).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { startVm, VmPaths, vmStatus } from '../../src/vm';
import { requireDockerCli } from '../helpers/engine';
import { eventually, httpGet } from '../helpers/net';
import {
  assertOomKilled,
  assertPublishedThenGone,
  guestMemory,
  processesMentioning,
  qemuParts,
  requireQemu,
  sharedVm,
  type TestVm,
} from '../helpers/vm';

describe('vm: the engine in a Linux guest', function () {
  this.timeout(300_000);
  let vm: TestVm;

  before(async function () {
    this.timeout(900_000);
    requireQemu(this);
    requireDockerCli(this);
    vm = await sharedVm();
  });

  it('boots through its stages and answers on a 0600 socket in a 0700 directory', () => {
    const names = vm.status.state!.stages.map((s) => s.name);
    for (const s of ['hypervisor', 'initramfs', 'sysinit', 'network', 'data', 'shares', 'engine', 'ready'])
      assert.ok(names.includes(s), `stage ${s} in ${names.join(',')}`);
    assert.equal(fs.statSync(vm.socket).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(vm.socket)).mode & 0o777, 0o700);
  });

  it('runs hello-world through the host-side socket, pulled from the Docker Hub mirror the guest reaches', () => {
    const r = vm.docker(['run', '--rm', 'hello-world']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Hello from Berth!/);
  });

  it('is the guest: cgroup v2, its own kernel', () => {
    const r = vm.docker(['info', '--format', '{{.CgroupVersion}} {{.KernelVersion}} {{.OperatingSystem}}']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^2 \S+ Berth VM/);
    assert.notEqual(r.stdout.split(' ')[1], os.release());
  });

  it('idles lean: huge pages only on request, freed 32 KiB blocks reported to the host, its memory told on the control port', async () => {
    // One look into the guest (each costs a container run under TCG).
    const [thp, order, zoneinfo] = vm
      .guest(
        'cat /sys/kernel/mm/transparent_hugepage/enabled; echo @; cat /sys/module/page_reporting/parameters/page_reporting_order; echo @; cat /proc/zoneinfo',
      )
      .split('@\n');
    // Debian's default (always) gave node's heap whole 2 MiB pages it barely used.
    assert.match(thp, /\[madvise\]/);
    assert.equal(order.trim(), '3');
    // Per-CPU free lists at their floor (4 batches), not ~7,000 pages each that free page reporting never sees.
    const highs = [...zoneinfo.matchAll(/^\s+high:\s+(\d+)$/gm)].map((m) => Number(m[1]));
    assert.ok(highs.length > 0 && highs.every((h) => h <= 1024), `per-CPU list highs ${highs.join(',')}`);
    // What npm run bench reads without starting a container in the guest.
    const g = await guestMemory(vm.controlSocket);
    const configured = vm.status.config!.memoryMiB * 1024;
    assert.ok(g.kB('MemTotal') > configured * 0.8 && g.kB('MemTotal') < configured, `MemTotal ${g.kB('MemTotal')} kB`);
    assert.ok(g.kB('berthd.RssAnon') > 0, "the guest berthd's anonymous memory");
    assert.match(g.kernelLine, /^Memory: \d+K\/\d+K available \(\d+K kernel code, .*\d+K bss/);
    // The root image is virtio-pmem mounted with DAX: node's and berthd's files are read through QEMU's shared
    // mapping of root.img (the host's page cache), not copied into the guest's page cache (42 MB before).
    const qemu = vm.status.state!.hypervisorPid!;
    assert.match(fs.readFileSync(`/proc/${qemu}/cmdline`, 'utf8'), /virtio-pmem-pci/);
    assert.ok(
      g.kB('Cached') - g.kB('Shmem') < 8 * 1024,
      `guest page cache ${g.kB('Cached')} kB (Shmem ${g.kB('Shmem')})`,
    );
    const parts = qemuParts(qemu, vm.status.config!.memoryMiB);
    assert.ok(parts.rootImage > 10 * 1024, `root.img mapped ${parts.rootImage} kB`);
    // Guest RAM the host holds for this 1 GiB guest after a container ran: 151 MB measured, ~175 MB with the root as a
    // disk (node's libraries copied into the guest), ~240 MB with the 64 MiB bounce buffers the pmem slot set off.
    assert.ok(parts.guestRam < 170 * 1024, `guest RAM resident ${parts.guestRam} kB`);
  });

  it('refuses API clients without the VM client certificate on its TCP port', async () => {
    assert.match(vm.guest('cat /proc/cmdline'), /berth\.net=/);
    // The loopback port QEMU forwards to the guest's TLS listener (picked by QEMU): any local user can connect,
    // nobody without the client key gets an answer.
    const paths = new VmPaths(vm.name, vm.home);
    const ca = fs.readFileSync(path.join(paths.tlsDir, 'ca.pem'));
    const apiPort = vm.status.state!.apiPort!;
    assert.ok(apiPort > 0);
    const err = await new Promise<string>((resolve) => {
      const c = tls.connect({ host: '127.0.0.1', port: apiPort, ca, servername: 'localhost' }, () =>
        c.write('GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n'),
      );
      c.on('data', (d) => resolve(`answered: ${d}`));
      c.on('error', (e) => resolve(e.message));
      c.on('close', () => resolve('closed'));
    });
    assert.doesNotMatch(err, /answered: HTTP\/1.1 200/);
  });

  it('bind-mounts a host directory under the home, written from both sides', () => {
    const dir = fs.mkdtempSync(path.join(os.homedir(), '.berth-vm-test-'));
    try {
      fs.writeFileSync(path.join(dir, 'from-host.txt'), 'host wrote this\n');
      const r = vm.docker([
        'run',
        '--rm',
        '-v',
        `${dir}:/work`,
        'busybox',
        'sh',
        '-c',
        'cat /work/from-host.txt && echo guest wrote this > /work/from-guest.txt',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'host wrote this\n');
      assert.equal(fs.readFileSync(path.join(dir, 'from-guest.txt'), 'utf8'), 'guest wrote this\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('publishes -p on the host loopback and takes it away with the container', async () => {
    const port = 18000 + Math.floor(Math.random() * 2000);
    await assertPublishedThenGone(vm, 'vm-web', port, () =>
      // Forwarded on the host before the start answered.
      assert.ok((vmStatus(vm.name, vm.home).state?.ports ?? []).some((x) => x.hostPort === port)),
    );
  });

  it("a host port another program holds: the start fails with dockerd's words, nothing runs, that program untouched", async () => {
    const holder = net.createServer((c) => c.end('HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nholder'));
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const r = vm.docker(['run', '-d', '--name', 'vm-busy', '-p', `${port}:80`, 'web']);
      assert.notEqual(r.code, 0, r.stdout);
      assert.match(
        r.stderr,
        new RegExp(
          `Error response from daemon: driver failed programming external connectivity on endpoint vm-busy \\([0-9a-f]{64}\\): Error starting userland proxy: listen tcp4 0\\.0\\.0\\.0:${port}: bind: address already in use`,
        ),
      );
      // As dockerd: the container exists, never ran; no forward was left behind.
      const st = vm.docker(['inspect', '-f', '{{.State.Status}} {{.State.Running}} {{.State.Pid}}', 'vm-busy']);
      assert.equal(st.code, 0, st.stderr);
      assert.match(st.stdout.trim(), /^(created|exited) false 0$/);
      assert.equal(vm.docker(['ps', '-q', '--filter', 'name=vm-busy']).stdout.trim(), '');
      assert.ok(!(vmStatus(vm.name, vm.home).state?.ports ?? []).some((x) => x.hostPort === port));
      assert.match(await httpGet(port, '/'), /holder/);
      // Once the port is free the same container starts and is published.
      holder.close(); // stops listening at once (its callback would wait for the test's own connection)
      const again = vm.docker(['start', 'vm-busy']);
      assert.equal(again.code, 0, again.stderr);
      await eventually(
        () => httpGet(port, '/'),
        (b) => /200 OK/.test(b) && !/holder/.test(b),
        `127.0.0.1:${port} from the container`,
        60_000,
      );
    } finally {
      vm.docker(['rm', '-f', 'vm-busy']);
      holder.close();
    }
    await eventually(
      async () => vmStatus(vm.name, vm.home).state?.ports ?? [],
      (p) => !p.some((x) => x.hostPort === port),
      `port ${port} forgotten with its container`,
      30_000,
    );
  });

  it('enforces -m and reports OOMKilled from cgroup v2 memory.events', () => {
    assertOomKilled(vm.docker, 'vm-oom', 32);
  });

  it('pauses through cgroup.freeze and unpauses', () => {
    assert.equal(vm.docker(['run', '-d', '--name', 'vm-pause', 'busybox', 'sleep', '600']).code, 0);
    try {
      assert.equal(vm.docker(['pause', 'vm-pause']).code, 0);
      const id = vm.docker(['inspect', '-f', '{{.Id}}', 'vm-pause']).stdout.trim();
      assert.equal(
        vm.docker(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'vm-pause']).stdout.trim(),
        'paused true',
      );
      assert.equal(vm.guest(`cat /sys/fs/cgroup/berth/${id}/cgroup.freeze`).trim(), '1');
      assert.equal(vm.docker(['unpause', 'vm-pause']).code, 0);
      assert.equal(vm.docker(['inspect', '-f', '{{.State.Status}}', 'vm-pause']).stdout.trim(), 'running');
      assert.equal(vm.guest(`cat /sys/fs/cgroup/berth/${id}/cgroup.freeze`).trim(), '0');
    } finally {
      vm.docker(['rm', '-f', 'vm-pause']);
    }
  });

  it('refuses a second start while it runs', async () => {
    await assert.rejects(
      startVm(vm.name, { home: vm.home }),
      /VM "shared" is already running \(supervisor pid \d+.*berth vm stop shared/,
    );
  });

  it('keeps a pulled image across a VM restart, and a stop leaves no qemu or helper process', async function () {
    this.timeout(600_000);
    const image = `${vm.registryInGuest}/library/busybox`;
    assert.equal(vm.docker(['pull', '-q', image]).code, 0);
    const state = vm.status.state!;
    await vm.stop();
    assert.deepEqual(processesMentioning(path.join(vm.home, 'vm', vm.name)), []);
    for (const pid of [state.supervisorPid, state.hypervisorPid])
      assert.throws(() => process.kill(pid!, 0), /ESRCH/, `pid ${pid} is gone`);
    const dir = path.join(vm.home, 'vm', vm.name);
    for (const s of ['berth.sock', 'supervisor.sock', 'qmp.sock', 'guest-control.sock', 'start.lock'])
      assert.equal(fs.existsSync(path.join(dir, s)), false, `${s} removed`);
    await vm.start();
    const r = vm.docker(['image', 'inspect', '-f', '{{.Id}}', image]);
    assert.equal(r.code, 0, r.stderr);
  });
});
