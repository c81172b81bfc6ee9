// The wsl driver's parts that run on Linux (WSL itself cannot: no Windows here): what `berth vm status` says of a
// wsl VM, whose size WSL decides.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI_JS } from '../helpers/cli';

describe('vm: the wsl driver on Linux', () => {
  describe('berth vm status of a wsl VM', () => {
    let home: string;
    before(() => {
      home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-wsl-status-'));
    });
    after(() => fs.rmSync(home, { recursive: true, force: true }));

    const status = (name: string, config: object) => {
      fs.mkdirSync(path.join(home, 'vm', name), { recursive: true });
      fs.writeFileSync(path.join(home, 'vm', name, 'config.json'), JSON.stringify({ name, arch: 'x64', ...config }));
      const r = spawnSync(process.execPath, [CLI_JS, 'vm', 'status', name], {
        env: { ...process.env, BERTH_HOME: home },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };

    it("says that WSL sizes the VM (.wslconfig), not Berth's settings, and shows no sizes it would not apply", () => {
      const out = status('win', { driver: 'wsl', cpus: 4, memoryMiB: 4096, diskGiB: 64 });
      assert.match(out, /^win: stopped\n {2}driver wsl, x64\n/);
      assert.match(
        out,
        /^ {2}note: WSL sizes its VM itself: CPUs and memory come from %UserProfile%\\\.wslconfig \(\[wsl2\] processors=, memory=\) and the distribution's disk grows on its own; --cpus, --memory, --disk and berth\.vm\.\* do not apply$/m,
      );
      assert.doesNotMatch(out, /4 CPUs|4096 MiB|64 GiB/);
      // The drivers that take the settings show them, without the note.
      const qemu = status('lin', { driver: 'qemu', cpus: 4, memoryMiB: 4096, diskGiB: 64 });
      assert.match(qemu, /^ {2}driver qemu, x64, 4 CPUs, 4096 MiB memory, 64 GiB disk$/m);
      assert.doesNotMatch(qemu, /note:/);
    });
  });
});
