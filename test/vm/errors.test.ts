// Bad input to `berth vm start`: a missing or corrupt guest image, an absent driver, nonsense sizes, and a root image
// that boots but cannot be mounted. Each is a clear error and leaves nothing running.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startVm, vmStatus } from '../../src/vm';
import { DIST } from '../helpers/engine';
import { ensureGuestImage, processesMentioning, requireQemu, testVmHome } from '../helpers/vm';

describe('vm: bad input is a clear error and leaves nothing running', function () {
  this.timeout(120_000);
  let image: string;
  let home: string;

  before(function () {
    this.timeout(600_000);
    requireQemu(this);
    image = ensureGuestImage();
    home = testVmHome();
  });

  /** A copy of the image (hard links: the root image is large) to break. */
  function imageCopy(): string {
    const dir = fs.mkdtempSync(path.join(home, 'image-'));
    for (const f of fs.readdirSync(image)) fs.linkSync(path.join(image, f), path.join(dir, f));
    return dir;
  }

  const nothingLeft = (name: string) => {
    assert.deepEqual(processesMentioning(path.join(home, 'vm', name)), []);
    assert.notEqual(vmStatus(name, home).phase, 'running');
  };

  it('a missing image file', async () => {
    const dir = imageCopy();
    fs.rmSync(path.join(dir, 'initrd.img'));
    await assert.rejects(
      startVm('missing', { home, imageDir: dir, bundleDir: DIST }),
      /the guest image file .*initrd\.img is missing: rebuild it with "npm run vm-image"/,
    );
    nothingLeft('missing');
  });

  it('no image at all', async () => {
    await assert.rejects(
      startVm('none', { home, imageDir: path.join(home, 'nowhere'), bundleDir: DIST }),
      /no Berth guest image in .*nowhere \(manifest.json is missing\)/,
    );
  });

  it('a corrupt image file (truncated, or the same size with other bytes)', async () => {
    const dir = imageCopy();
    const kernel = path.join(dir, 'vmlinuz');
    const bytes = fs.readFileSync(kernel);
    fs.rmSync(kernel);
    fs.writeFileSync(kernel, bytes.subarray(0, bytes.length - 1));
    await assert.rejects(
      startVm('corrupt', { home, imageDir: dir, bundleDir: DIST }),
      /the guest image file .*vmlinuz is corrupt \(\d+ bytes, expected \d+\)/,
    );
    bytes[bytes.length - 100] ^= 0xff;
    fs.writeFileSync(kernel, bytes);
    await assert.rejects(
      startVm('corrupt', { home, imageDir: dir, bundleDir: DIST }),
      /the guest image file .*vmlinuz is corrupt \(its sha256 does not match the manifest\)/,
    );
    nothingLeft('corrupt');
  });

  it('an absent driver, an unknown one, nonsense sizes', async () => {
    await assert.rejects(
      startVm('nodriver', { home, driver: 'vfkit', imageDir: image, bundleDir: DIST }),
      /no usable VM driver: the vfkit driver runs on macOS only/,
    );
    await assert.rejects(
      startVm('nodriver', { home, driver: 'wsl', imageDir: image, bundleDir: DIST }),
      /no usable VM driver: the wsl driver runs on Windows only/,
    );
    const saved = process.env.BERTH_QEMU;
    process.env.BERTH_QEMU = path.join(home, 'no-qemu-here');
    try {
      await assert.rejects(
        startVm('nodriver', { home, imageDir: image, bundleDir: DIST }),
        /the qemu driver needs qemu-system-(x86_64|aarch64): install QEMU: apt-get install qemu-system-/,
      );
    } finally {
      if (saved === undefined) delete process.env.BERTH_QEMU;
      else process.env.BERTH_QEMU = saved;
    }
    await assert.rejects(startVm('nodriver', { home, driver: 'hyperkit' as never }), /unknown VM driver "hyperkit"/);
    await assert.rejects(
      startVm('nodriver', { home, memoryMiB: 64, imageDir: image, bundleDir: DIST }),
      /invalid memory size: 64 MiB/,
    );
    await assert.rejects(startVm('nodriver', { home, cpus: 0, imageDir: image, bundleDir: DIST }), /invalid CPU count/);
    await assert.rejects(startVm('../evil', { home }), /invalid VM name/);
    nothingLeft('nodriver');
  });

  it('a root image that is not a file system: the guest says so and powers off', async function () {
    this.timeout(300_000);
    const dir = imageCopy();
    const root = path.join(dir, 'root.img');
    const size = fs.statSync(root).size;
    fs.rmSync(root);
    fs.writeFileSync(root, Buffer.alloc(0));
    fs.truncateSync(root, size);
    const manifestFile = path.join(dir, 'manifest.json');
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
    manifest.files['root.img'].sha256 = require('../../src/vm/image').sha256File(root);
    fs.rmSync(manifestFile);
    fs.writeFileSync(manifestFile, JSON.stringify(manifest));
    await assert.rejects(
      startVm('badroot', { home, imageDir: dir, bundleDir: DIST, memoryMiB: 512 }),
      /VM "badroot" did not start: cannot mount the root image \/dev\/(pmem0|vda) \(corrupt\?\) \(console log: /,
    );
    nothingLeft('badroot');
    assert.equal(vmStatus('badroot', home).phase, 'failed');
  });
});
