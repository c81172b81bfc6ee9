// The extension with berth.engine.mode=vm in a real VS Code (code-server, driven by headless Chromium): opening its
// view boots Berth's Linux VM behind a progress notification naming the boot stages, the sidebar shows the guest's
// containers, "Show Engine Log" opens the VM's console, "Restart Engine" takes the VM down and boots it again (the
// sidebar repopulates from the data disk) and "Stop Engine" stops the VM leaving nothing running — what
// a macOS or Windows user gets, on the Linux path that CI can boot (QEMU with TCG). Screenshots: test/artifacts/ui-vm/.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_VM, stopVm, vmStatus } from '../../src/vm';
import {
  ARTIFACTS,
  CODE_SERVER_UI,
  launchBrowser,
  packageVsix,
  startCodeServer,
  type CodeServer,
} from '../helpers/codeserver';
import { requireDeps } from '../helpers/deps';
import { requireDockerCli, ROOT } from '../helpers/engine';
import { ensureGuestImage, processesMentioning, requireQemu, testVmHome } from '../helpers/vm';

const SHOTS = path.join(ARTIFACTS, 'ui-vm');

/** A one-file image tar (docker import makes an image of it: nothing to pull, the guest has no internet). */
function tinyTar(): Buffer {
  const header = Buffer.alloc(512);
  header.write('hello.txt', 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  const body = Buffer.from('hello from the host\n');
  header.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write(
    `${Math.floor(Date.now() / 1000)
      .toString(8)
      .padStart(11, '0')}\0`,
    136,
  );
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const pad = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([header, body, pad, Buffer.alloc(1024)]);
}

describe('UI: the extension with its engine in the Linux VM', function () {
  this.timeout(900_000);
  let home = '';
  let cs: CodeServer | undefined;
  let browser: any;
  let page: any;
  let step = 0;
  const container = `guest-box-${process.pid}`;
  const image = `tiny-${process.pid}:img`;
  const shot = async (label: string) => {
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, `${String(++step).padStart(2, '0')}-${label}.png`) });
  };
  const docker = (args: string[], input?: Buffer) =>
    spawnSync('docker', args, {
      env: { ...process.env, DOCKER_HOST: vmStatus(DEFAULT_VM, home).host, DOCKER_CONFIG: home },
      input,
      encoding: 'utf8',
      timeout: 120_000,
    });
  const vmDir = () => path.join(home, 'vm', DEFAULT_VM);

  before(async function () {
    requireDeps(this, CODE_SERVER_UI);
    requireQemu(this);
    requireDockerCli(this);
    fs.rmSync(SHOTS, { recursive: true, force: true });
    const imageDir = ensureGuestImage();
    home = testVmHome();
    const vsix = path.join(ROOT, 'dist/berth-ui-vm-test.vsix');
    packageVsix(vsix);
    cs = await startCodeServer(
      vsix,
      // One CPU and 1 GiB: the machine running the tests is small and shared.
      { 'berth.engine.mode': 'vm', 'berth.vm.cpus': 1, 'berth.vm.memory': 1024, 'berth.vm.diskSize': 4 },
      // The VM's home and the guest image of this checkout (a Linux VSIX carries no guest image).
      { env: { BERTH_HOME: home, BERTH_VM_IMAGE: imageDir } },
    );
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(cs.url);
    await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
  });

  after(async function () {
    this.timeout(120_000);
    await browser?.close().catch(() => undefined);
    await cs?.stop().catch(() => undefined);
    if (home) await stopVm(DEFAULT_VM, { home }).catch(() => undefined);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && page)
      await shot(`FAILED-${this.currentTest.title.slice(0, 40).replace(/\W+/g, '-')}`).catch(() => undefined);
  });

  const row = (text: string) => page.locator(`.part.sidebar .monaco-list-row[aria-label*="${text}"]`).first();

  async function palette(title: string) {
    await page.keyboard.press('F1');
    await page.waitForSelector('.quick-input-widget', { state: 'visible' });
    await page.keyboard.type(title);
    await page
      .locator(`.quick-input-widget .monaco-list-row.focused[aria-label*="${title}"]`)
      .first()
      .waitFor({ timeout: 10_000 });
    await page.keyboard.press('Enter');
  }

  it('boots the VM when the Berth view opens, behind a progress notification with the boot stages', async () => {
    // Opening Berth's view activates the extension, which finds no engine and boots the VM (berth.engine.autoStart).
    await page.locator('.activitybar [aria-label^="Berth"]').first().click();
    // The notification names the stage the guest is in ("booting the Linux kernel", "starting berthd"…).
    const toast = page.locator('.notifications-toasts .notification-toast', { hasText: 'starting the Linux VM' });
    await toast.first().waitFor({ timeout: 120_000 });
    // A stage's own text with its time, which the title ("Berth: starting the Linux VM") never matches: only the
    // stages reported on the progress make it appear.
    await page
      .locator('.notifications-toasts', {
        hasText:
          /(booting the Linux kernel|mounting the root image|starting the guest|loading kernel modules|network up|formatting the data disk \(first start\)|data disk mounted|home folder shared|starting berthd|berthd listening) \(\d+\.\d s\)/,
      })
      .first()
      .waitFor({ timeout: 120_000 });
    await shot('vm-booting');
    const deadline = Date.now() + 400_000;
    while (!vmStatus(DEFAULT_VM, home).running) {
      const s = vmStatus(DEFAULT_VM, home);
      assert.notEqual(s.phase, 'failed', `the VM failed: ${s.state?.error}`);
      assert.ok(Date.now() < deadline, `the VM is up (phase ${s.phase})`);
      await page.waitForTimeout(500);
    }
    const state = vmStatus(DEFAULT_VM, home).state!;
    // The settings made the VM: one CPU, 1 GiB, a 4 GiB data disk.
    const config = vmStatus(DEFAULT_VM, home).config!;
    assert.deepEqual([config.cpus, config.memoryMiB, config.diskGiB], [1, 1024, 4]);
    const disk = fs.statSync(path.join(vmDir(), 'data.img'));
    assert.equal(disk.size, 4 * 1024 ** 3);
    // Sparse: it takes what the guest wrote (its new file system's metadata), not the 4 GiB.
    assert.ok(disk.blocks * 512 < disk.size / 16, `data.img takes ${disk.blocks * 512} bytes`);
    assert.ok(state.stages.some((s) => s.name === 'engine'));
  });

  it('shows the guest engine’s containers in the sidebar', async () => {
    const imp = docker(['import', '-', image], tinyTar());
    assert.equal(imp.status, 0, imp.stderr);
    const made = docker(['create', '--name', container, image, '/hello']);
    assert.equal(made.status, 0, made.stderr);
    // In the Containers view (created, never started), with no manual refresh: the guest engine's events.
    const containers = page.locator('.pane:has(.pane-header[aria-label*="Containers"])').first();
    await containers.locator(`.monaco-list-row[aria-label*="${container}"]`).first().waitFor({ timeout: 60_000 });
    // The status bar says where the engine is: the VM's own socket under the Berth home.
    const status = page.locator('.statusbar-item', { hasText: 'Berth:' }).first();
    await status.waitFor({ timeout: 10_000 });
    await shot('sidebar-guest-containers');
    await row(`${container}:img`)
      .waitFor({ timeout: 30_000 })
      .catch(() => undefined);
  });

  it('opens the VM console as the engine log', async () => {
    await palette('Berth: Show Engine Log');
    const tab = page.locator('.tabs-container .tab[aria-label*="console.log"]').first();
    await tab.waitFor({ timeout: 20_000 });
    // The console carries the guest's boot: QEMU's command line, the init's stages and berthd's own log.
    const text = fs.readFileSync(path.join(vmDir(), 'console.log'), 'utf8');
    assert.match(text, /^qemu: .*qemu-system-x86_64/m);
    assert.match(text, /berth-stage: engine/);
    assert.match(text, /Berth daemon has completed initialization/);
    await shot('engine-log');
  });

  it('restarts the VM with Restart Engine: a new guest on the same disk, the sidebar repopulated', async () => {
    const before = vmStatus(DEFAULT_VM, home).state!;
    const containers = page.locator('.pane:has(.pane-header[aria-label*="Containers"])').first();
    const containerRow = containers.locator(`.monaco-list-row[aria-label*="${container}"]`).first();
    await palette('Berth: Restart Engine');
    const deadline = Date.now() + 400_000;
    let emptied = false; // the sidebar let go of the old guest's containers while the VM was down
    for (;;) {
      const s = vmStatus(DEFAULT_VM, home);
      assert.notEqual(s.phase, 'failed', `the VM failed: ${s.state?.error}`);
      if (s.running && s.state!.supervisorPid !== before.supervisorPid) break;
      assert.ok(Date.now() < deadline, `the VM is back (phase ${s.phase})`);
      if (!emptied && (await containerRow.count()) === 0) {
        emptied = true;
        await shot('vm-restarting');
      }
      await page.waitForTimeout(500);
    }
    assert.ok(emptied, 'the Containers view emptied while the VM restarted');
    // The old guest went down: its supervisor and hypervisor are gone, new ones run.
    for (const pid of [before.supervisorPid, before.hypervisorPid])
      assert.throws(() => process.kill(pid!, 0), /ESRCH/, `old pid ${pid} gone`);
    const after = vmStatus(DEFAULT_VM, home).state!;
    assert.notEqual(after.hypervisorPid, before.hypervisorPid);
    assert.ok(Date.parse(after.startedAt) > Date.parse(before.startedAt));
    // The container made before the restart, from the guest's data disk, back in the Containers view by itself.
    await containerRow.waitFor({ timeout: 60_000 });
    assert.equal(docker(['inspect', '--format', '{{.Name}}', container]).stdout.trim(), `/${container}`);
    // And its image, in the Images view.
    const images = page.locator('.pane:has(.pane-header[aria-label*="Images"])').first();
    await images
      .locator(`.monaco-list-row[aria-label*="tiny-${process.pid}"]`)
      .first()
      .waitFor({ timeout: 60_000 })
      .catch((err: Error) => {
        throw new Error(`${err.message}\n--- Berth output ---\n${cs!.berthLog()}`);
      });
    await shot('vm-restarted');
  });

  it('stops the VM with Stop Engine, leaving no qemu or helper process', async () => {
    const before = vmStatus(DEFAULT_VM, home).state!;
    await palette('Berth: Stop Engine');
    const deadline = Date.now() + 120_000;
    while (processesMentioning(vmDir()).length) {
      assert.ok(Date.now() < deadline, `still running: ${processesMentioning(vmDir()).join('\n')}`);
      await page.waitForTimeout(500);
    }
    for (const pid of [before.supervisorPid, before.hypervisorPid])
      assert.throws(() => process.kill(pid!, 0), /ESRCH/, `pid ${pid} gone`);
    assert.equal(vmStatus(DEFAULT_VM, home).phase, 'stopped');
    // The sidebar says no engine answers and offers to start it again.
    await page.locator('.part.sidebar', { hasText: 'No engine answers' }).first().waitFor({ timeout: 60_000 });
    await shot('vm-stopped');
  });
});
