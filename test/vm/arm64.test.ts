// The arm64 guest (what darwin-arm64 users boot with HVF) booted here under qemu-system-aarch64 with TCG: every
// instruction emulated, so slow — bounded at ten minutes — but the same image, kernel, init and berthd, answering
// the docker CLI through the host-side socket as an aarch64 engine, running and exec'ing into an arm64 busybox (the
// cross-built shim and the guest's runc at work). Run once per CI run; no other guest meanwhile.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { arm64BusyboxImage, writeDockerArchive } from '../fixtures';
import { requireDockerCli } from '../helpers/engine';
import { bootVm, ensureGuestImage, processesMentioning, requireQemu, type TestVm } from '../helpers/vm';

describe('vm: the arm64 guest under emulation', function () {
  this.timeout(900_000);
  let vm: TestVm | undefined;

  before(async function () {
    requireQemu(this, 'arm64');
    requireDockerCli(this);
    ensureGuestImage('arm64');
    process.env.BERTH_VM_BOOT_TIMEOUT_MS = '600000';
    try {
      vm = await bootVm({ name: 'arm64', arch: 'arm64', cpus: 2, memoryMiB: 1024 });
    } finally {
      delete process.env.BERTH_VM_BOOT_TIMEOUT_MS;
    }
  });

  after(async function () {
    this.timeout(120_000);
    await vm?.stop();
    await vm?.client.close().catch(() => undefined);
    await vm?.registry.stop();
  });

  it('boots through its stages with TCG and answers as an aarch64 engine on cgroup v2', () => {
    const state = vm!.status.state!;
    assert.equal(state.accel, 'tcg');
    for (const s of ['hypervisor', 'initramfs', 'sysinit', 'engine', 'ready'])
      assert.ok(
        state.stages.some((x) => x.name === s),
        `stage ${s}`,
      );
    console.log(`      (arm64 guest answered after ${((state.bootMs ?? 0) / 1000).toFixed(0)} s under TCG)`);
    const r = vm!.docker(['info', '--format', '{{.Architecture}} {{.CgroupVersion}} {{.OperatingSystem}}']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.trim(), /^aarch64 2 Berth VM/);
    const v = vm!.docker(['version', '--format', '{{.Server.Os}}/{{.Server.Arch}}']);
    assert.equal(v.stdout.trim(), 'linux/arm64');
  });

  it("runs an arm64 busybox (Debian's busybox-static) and execs into it", async () => {
    const archive = path.join(vm!.home, 'busybox-arm64.tar');
    await writeDockerArchive(archive, [{ image: await arm64BusyboxImage(), tags: ['busybox-arm64:latest'] }]);
    const load = await vm!.dockerAsync(['load', '-i', archive]);
    assert.equal(load.code, 0, load.stderr + vm!.consoleTail());
    const run = await vm!.dockerAsync(['run', '--rm', 'busybox-arm64', 'sh', '-c', 'uname -m; echo "pid $$"']);
    assert.equal(run.code, 0, run.stderr + vm!.consoleTail());
    assert.equal(run.stdout, 'aarch64\npid 1\n');
    const started = await vm!.dockerAsync(['run', '-d', '--name', 'arm', 'busybox-arm64', 'sleep', '600']);
    assert.equal(started.code, 0, started.stderr + vm!.consoleTail());
    const exec = await vm!.dockerAsync(['exec', 'arm', 'sh', '-c', 'cat /proc/1/comm; uname -m']);
    assert.equal(exec.code, 0, exec.stderr + vm!.consoleTail());
    assert.equal(exec.stdout, 'sleep\naarch64\n');
    const rm = await vm!.dockerAsync(['rm', '-f', 'arm']);
    assert.equal(rm.code, 0, rm.stderr + vm!.consoleTail());
  });

  it('stops leaving no qemu-system-aarch64 or helper process', async () => {
    await vm!.stop();
    assert.deepEqual(processesMentioning(path.join(vm!.home, 'vm', vm!.name)), []);
  });
});
