// The qemu driver with Windows' host-side choices (src/vm/qemu.ts qemuHostIo('win32')), booted here on Linux under
// TCG: QEMU for Windows has no 9p and Node there reaches no AF_UNIX socket, so the seed goes in as fw_cfg files the
// guest's init copies out, and QMP and the control channel are loopback TCP connections QEMU makes to the supervisor.
// A working engine through the host-side socket proves the guest read its certificates (berthd's --tlscacert), its
// daemon.json (the test registry as its mirror) and its host-ports file (-p forwarded through QMP before the start
// answers). The same VM then shows that --cpus, --memory and a grown --disk reach the guest (driver-independent:
// config.json → QEMU's -smp/-m and the sparse disk the guest's init resizes), sharing one boot pair to spare CI.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startVm, VmPaths, type VmStartOptions, vmStatus } from '../../src/vm';
import { DIST, requireDockerCli } from '../helpers/engine';
import {
  assertPublishedThenGone,
  bootVm,
  ensureGuestImage,
  processesMentioning,
  requireQemu,
  type TestVm,
} from '../helpers/vm';

/** Runs `fn` with the qemu driver making Windows' choices (the supervisor it spawns inherits the variable). */
async function asWindows<T>(fn: () => Promise<T>): Promise<T> {
  process.env.BERTH_QEMU_PLATFORM = 'win32';
  try {
    return await fn();
  } finally {
    delete process.env.BERTH_QEMU_PLATFORM;
  }
}

/** TCP ports in LISTEN state that belong to process `pid` (its sockets' inodes in /proc/net/tcp). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  const ports: number[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6'])
    for (const line of fs.readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && inodes.has(f[9])) ports.push(Number.parseInt(f[1].split(':')[1], 16));
    }
  return ports.sort((a, b) => a - b);
}

describe('vm: the qemu driver with Windows host-side transports (fw_cfg seed, loopback TCP QMP/control)', function () {
  this.timeout(300_000);
  let vm: TestVm;
  let paths: VmPaths;
  let startOpts: VmStartOptions;

  before(async function () {
    this.timeout(900_000);
    requireQemu(this);
    requireDockerCli(this);
    vm = await asWindows(() => bootVm({ name: 'win', cpus: 1, memoryMiB: 1024, diskGiB: 4 }));
    paths = new VmPaths(vm.name, vm.home);
    startOpts = { home: vm.home, bundleDir: DIST, imageDir: ensureGuestImage() };
  });

  after(async function () {
    this.timeout(120_000);
    await vm?.stop();
  });

  it('runs QEMU with the seed as fw_cfg files, no 9p, no unix sockets, and says the home is not shared', () => {
    const log = fs.readFileSync(paths.consoleLog, 'utf8');
    const cmd = log.split('\n').find((l) => l.startsWith('qemu: -name berth-')) ?? '';
    for (const f of ['tls/ca.pem', 'tls/server-cert.pem', 'tls/server-key.pem', 'daemon.json', 'host-ports'])
      assert.ok(cmd.includes(`-fw_cfg name=opt/berth/seed/${f},file=${paths.seedDir}/${f}`), `${f} in ${cmd}`);
    assert.match(cmd, /-chardev socket,id=qmp,host=127\.0\.0\.1,port=\d+ -mon chardev=qmp,mode=control/);
    assert.match(cmd, /-chardev socket,id=control,host=127\.0\.0\.1,port=\d+ /);
    assert.doesNotMatch(cmd, /virtio-9p|-fsdev|-qmp |server=on/);
    for (const s of ['qmp.sock', 'guest-control.sock'])
      assert.equal(fs.existsSync(path.join(paths.dir, s)), false, `no ${s}`);
    const notes = vmStatus(vm.name, vm.home).state?.notes ?? [];
    assert.equal(notes.length, 1);
    assert.match(notes[0], /^your home is not shared with the guest: QEMU for Windows has no 9p .*--driver wsl$/);
  });

  it('the guest copied its seed out of fw_cfg: the same files, private, and nothing mounted over 9p', () => {
    const cmdline = vm.guest('cat /proc/cmdline');
    assert.match(cmdline, / berth\.seed=fw_cfg/);
    assert.doesNotMatch(cmdline, /berth\.share=/);
    assert.doesNotMatch(vm.guest('cat /proc/mounts'), / 9p /);
    for (const f of ['tls/ca.pem', 'tls/server-cert.pem', 'daemon.json', 'host-ports'])
      assert.equal(vm.guest(`cat /run/berth-seed/${f}`), fs.readFileSync(path.join(paths.seedDir, f), 'utf8'), f);
    assert.equal(vm.guest('stat -c %a /run/berth-seed /run/berth-seed/tls/server-key.pem'), '700\n600\n');
  });

  it('answers docker run through the host-side socket (its TLS files and daemon.json came from the seed)', () => {
    // hello-world comes from the test registry, which only the seed's daemon.json names as the guest's mirror.
    const r = vm.docker(['run', '--rm', 'hello-world']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Hello from Berth!/);
  });

  it('publishes -p through QMP over the TCP channel (host-ports came from the seed)', async () => {
    await assertPublishedThenGone(vm, 'win-web', 20000 + Math.floor(Math.random() * 2000));
  });

  it('QEMU listens on no port but the API forward; the supervisor only on its guest port service', () => {
    const s = vmStatus(vm.name, vm.home).state!;
    assert.deepEqual(listeningPorts(s.hypervisorPid!), [s.apiPort]);
    const hostPorts = fs.readFileSync(path.join(paths.seedDir, 'host-ports'), 'utf8');
    const guestService = Number(/^10\.0\.2\.2:(\d+) /.exec(hostPorts)?.[1]);
    assert.deepEqual(listeningPorts(s.supervisorPid), [guestService]);
  });

  it('a host folder under the home is not seen by the guest (as the note says)', () => {
    const dir = fs.mkdtempSync(path.join(os.homedir(), '.berth-win-test-'));
    try {
      fs.writeFileSync(path.join(dir, 'from-host.txt'), 'host wrote this\n');
      const r = vm.docker(['run', '--rm', '-v', `${dir}:/work`, 'busybox', 'ls', '-A', '/work']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--cpus 1 --memory 1g --disk 4g are what the guest has', () => {
    assert.equal(vm.guest('nproc').trim(), '1');
    const memKiB = Number(/^MemTotal:\s+(\d+) kB/m.exec(vm.guest('cat /proc/meminfo'))?.[1]);
    // The kernel keeps its own image and reserved pages out of MemTotal.
    assert.ok(memKiB > 900 * 1024 && memKiB <= 1024 * 1024, `MemTotal ${memKiB} kB`);
    const kib = Number(vm.guest('df -k /var/lib/berth | tail -1').trim().split(/\s+/)[1]);
    assert.ok(kib > 3.8 * 1024 * 1024 && kib <= 4 * 1024 * 1024, `/var/lib/berth ${kib} KiB`);
  });

  it('stops cleanly over the TCP control channel; restarted with --disk 6g --cpus 2 --memory 1536 the guest has them, its images kept', async function () {
    this.timeout(600_000);
    const image = `${vm.registryInGuest}/library/busybox`;
    assert.equal(vm.docker(['pull', '-q', image]).code, 0);
    const t0 = Date.now();
    await vm.stop();
    // The guest powered itself off when asked (not killed after the 30 s grace).
    assert.ok(Date.now() - t0 < 30_000, `stopped in ${Date.now() - t0} ms`);
    const log = fs.readFileSync(paths.consoleLog, 'utf8');
    assert.doesNotMatch(log, /clean shutdown request failed|did not power off/);
    assert.deepEqual(processesMentioning(paths.dir), []);
    await asWindows(() => startVm(vm.name, { ...startOpts, cpus: 2, memoryMiB: 1536, diskGiB: 6 }));
    assert.equal(fs.statSync(paths.dataDisk).size, 6 * 1024 ** 3);
    assert.equal(vm.guest('nproc').trim(), '2');
    const memKiB = Number(/^MemTotal:\s+(\d+) kB/m.exec(vm.guest('cat /proc/meminfo'))?.[1]);
    assert.ok(memKiB > 1400 * 1024 && memKiB <= 1536 * 1024, `MemTotal ${memKiB} kB`);
    const kib = Number(vm.guest('df -k /var/lib/berth | tail -1').trim().split(/\s+/)[1]);
    assert.ok(kib > 5.8 * 1024 * 1024 && kib <= 6 * 1024 * 1024, `/var/lib/berth grown to ${kib} KiB`);
    const r = vm.docker(['image', 'inspect', '-f', '{{.Id}}', image]);
    assert.equal(r.code, 0, r.stderr);
  });
});
