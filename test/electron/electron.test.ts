// The @vscode/test-electron entry: downloads (or uses) a desktop VS Code and runs test/electron/suite.ts inside it
// with this extension under development. This machine has no internet for the download, so unless
// BERTH_VSCODE_EXECUTABLE points at a VS Code binary or BERTH_TEST_ELECTRON=1 allows the download, the suite
// reports that it was skipped and why. (The UI suite in test/ui/ covers a real VS Code via code-server here.)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { build } from 'esbuild';
import { ROOT } from '../helpers/engine';

describe('extension: @vscode/test-electron suite', function () {
  this.timeout(600_000);

  it('activates in a desktop VS Code and registers every command', async function () {
    const executable = process.env.BERTH_VSCODE_EXECUTABLE;
    if (!executable && process.env.BERTH_TEST_ELECTRON !== '1') {
      console.log(
        '      SKIPPED the @vscode/test-electron suite: no desktop VS Code here and no internet to download one. ' +
          'Set BERTH_VSCODE_EXECUTABLE=/path/to/code, or BERTH_TEST_ELECTRON=1 on a machine that can download it.',
      );
      return this.skip();
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-electron-'));
    try {
      await build({
        entryPoints: [path.join(ROOT, 'test/electron/suite.ts')],
        bundle: true,
        platform: 'node',
        format: 'cjs',
        external: ['vscode'],
        outfile: path.join(dir, 'suite.js'),
      });
      const { runTests } = await import('@vscode/test-electron');
      await runTests({
        vscodeExecutablePath: executable,
        extensionDevelopmentPath: ROOT,
        extensionTestsPath: path.join(dir, 'suite.js'),
        launchArgs: [
          '--disable-extensions',
          '--disable-workspace-trust',
          '--user-data-dir',
          path.join(dir, 'user'),
          dir,
        ],
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
