// scripts/vm-image.sh run twice at once, as two checkouts (or two test runs) on one machine do: they share the
// download cache, so each must unpack in its own work folder and take the cache's apt state under a lock; the outputs
// must both be whole images (the manifest's sizes and sha256s match), and neither build may leave its work behind.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadImage } from '../../src/vm/image';
import { DIST, ROOT } from '../helpers/engine';
import { requireQemu } from '../helpers/vm';

function build(out: string, cache: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', [path.join(ROOT, 'scripts/vm-image.sh'), '--arch', 'x64'], {
      env: { ...process.env, BERTH_VM_OUT: out, BERTH_VM_CACHE: cache },
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('vm: guest image builds', function () {
  this.timeout(900_000);

  before(function () {
    // The image tools come with QEMU (install-deps --vm). The x64 guest is unpacked, not run, so any host builds it.
    requireQemu(this);
  });

  it('two builds at once sharing one cache both make a whole image and leave no work folder', async () => {
    const cache = process.env.BERTH_VM_CACHE ?? path.join(os.homedir(), '.cache/berth/vm-image');
    const before = new Set(fs.existsSync(cache) ? fs.readdirSync(cache) : []);
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vm-image-'));
    try {
      // One of them is this checkout's own image (the VM suites boot it next), the other a throwaway one.
      const [a, b] = await Promise.all([build(path.join(DIST, 'vm'), cache), build(other, cache)]);
      assert.equal(a.code, 0, a.output);
      assert.equal(b.code, 0, b.output);
      for (const dir of [path.join(DIST, 'vm/x64'), path.join(other, 'x64')]) {
        const image = loadImage(dir, { verify: true, needTar: true });
        assert.equal(image.arch, 'x64');
        // The kernel unpacked for QEMU's PVH boot under TCG: an ELF, larger than the bzImage it came from.
        assert.ok(image.kernelElf, 'vmlinux in the image');
        assert.equal(fs.readFileSync(image.kernelElf!).subarray(0, 4).toString('latin1'), '\x7fELF');
        assert.ok(fs.statSync(image.kernelElf!).size > fs.statSync(image.kernel).size);
        assert.deepEqual(
          fs.readdirSync(dir).filter((f) => f.startsWith('.build.')),
          [],
          `no staging folder left in ${dir}`,
        );
      }
      const leftovers = fs.readdirSync(cache).filter((f) => f.startsWith('work-x64.') && !before.has(f));
      assert.deepEqual(leftovers, [], 'work folders removed');
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });
});
