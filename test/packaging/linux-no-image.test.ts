// The linux-x64 VSIX carries no guest image by design (platforms.test.ts): its own `berth vm start` must say so and
// how to get one (BERTH_VM_IMAGE, the macOS/Windows packages), not send a VSIX user to a checkout's npm script.
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../helpers/engine';
import { requireQemu } from '../helpers/vm';

describe('packaging: the linux-x64 VSIX asked for the VM', function () {
  this.timeout(600_000);
  let out: string;

  before(function () {
    requireQemu(this); // the driver is found first; the missing image is what is left to say
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-linux-vsix-'));
    execFileSync('bash', [path.join(ROOT, 'scripts/package-platforms.sh'), 'linux-x64'], {
      cwd: ROOT,
      env: { ...process.env, BERTH_PACKAGES_OUT: out },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    execFileSync('unzip', ['-q', path.join(out, 'berth-linux-x64.vsix'), '-d', path.join(out, 'unpacked')]);
  });
  after(() => out && fs.rmSync(out, { recursive: true, force: true }));

  it('berth vm start says the package has no guest image and how to get one; nothing is made', () => {
    const home = path.join(out, 'home');
    const env: NodeJS.ProcessEnv = { ...process.env, BERTH_HOME: home };
    delete env.BERTH_VM_IMAGE;
    const cli = path.join(out, 'unpacked', 'extension', 'dist', 'cli.js');
    const r = spawnSync(process.execPath, [cli, 'vm', 'start'], { env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stderr.trim(),
      `Error: no Berth guest image in ${path.join(out, 'unpacked', 'extension', 'dist', 'vm', 'x64')} (manifest.json is missing): the Berth package for Linux carries no guest image (on Linux the engine runs natively: berth.engine.mode "native"); for the VM, set BERTH_VM_IMAGE to a guest image folder — extension/dist/vm/x64 unzipped from berth-darwin-x64.vsix or berth-win32-x64.vsix, or dist/vm/x64 after "npm run vm-image" in a Berth checkout`,
    );
    assert.equal(fs.existsSync(path.join(home, 'vm')), false);
  });
});
