// The extension's VM mode without booting anything: when the VM is the engine, what the settings make of the VM,
// and the message a user gets when no VM driver can run here (what to install, exactly) — nothing left behind.
import '../helpers/fake-vscode';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { recorded } from '../helpers/fake-vscode';
import { stageText, startVmEngine, usesVm, vmStartOptions } from '../../src/extension/engine/vm';
import { vmStatus } from '../../src/vm';

describe('extension: the engine in the Linux VM', () => {
  it('is the VM on macOS and Windows whatever the mode, on Linux only with berth.engine.mode=vm', () => {
    assert.equal(usesVm('native', 'linux'), false);
    assert.equal(usesVm('vm', 'linux'), true);
    assert.equal(usesVm('native', 'darwin'), true);
    assert.equal(usesVm('native', 'win32'), true);
  });

  it('makes the VM from the settings (auto leaves the driver to the platform)', () => {
    const s = { driver: 'auto' as const, cpus: 3, memoryMiB: 3072, diskGiB: 20 };
    assert.deepEqual(vmStartOptions(s, '/ext'), { cpus: 3, memoryMiB: 3072, diskGiB: 20, bundleDir: '/ext/dist' });
    assert.equal(vmStartOptions({ ...s, driver: 'qemu' }, '/ext').driver, 'qemu');
  });

  it('names each boot stage for the progress notification', () => {
    assert.equal(stageText('hypervisor'), 'booting the Linux kernel');
    assert.equal(stageText('engine'), 'starting berthd');
    assert.equal(stageText('something-new'), 'something-new');
  });

  it('says what to install when no VM driver can run, and starts nothing', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ext-vm-'));
    const saved = { home: process.env.BERTH_HOME, qemu: process.env.BERTH_QEMU };
    process.env.BERTH_HOME = home;
    process.env.BERTH_QEMU = path.join(home, 'no-qemu-here');
    recorded.messages.length = 0;
    const log: string[] = [];
    try {
      const ok = await startVmEngine({ driver: 'auto', cpus: 1, memoryMiB: 512, diskGiB: 1 }, '/ext', {
        appendLine: (l) => log.push(l),
      });
      assert.equal(ok, false);
      const msg = recorded.messages.join('\n');
      assert.match(msg, /Berth needs a Linux VM to run containers on/);
      assert.match(msg, /qemu-system-x86_64: install QEMU: apt-get install qemu-system-x86/);
      assert.match(log.join('\n'), /no usable VM driver/);
      assert.equal(vmStatus('default', home).phase, 'absent');
    } finally {
      if (saved.home === undefined) delete process.env.BERTH_HOME;
      else process.env.BERTH_HOME = saved.home;
      if (saved.qemu === undefined) delete process.env.BERTH_QEMU;
      else process.env.BERTH_QEMU = saved.qemu;
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
