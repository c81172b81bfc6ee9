// The VSIX users install must carry the engine (bundles, the VM supervisor, launchers, the native helper) and nothing
// of src/ or test/.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT } from '../helpers/engine';

describe('packaging: the VSIX', function () {
  this.timeout(180_000);
  let entries: { name: string; mode: string }[] = [];
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vsix-'));
    // vsce packs ./dist, so build there (not into $BERTH_DIST).
    execFileSync(process.execPath, ['scripts/build.mjs', '--outdir', 'dist'], { cwd: ROOT, stdio: 'ignore' });
    const vsix = path.join(dir, 'berth.vsix');
    execFileSync(
      path.join(ROOT, 'node_modules/.bin/vsce'),
      ['package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '-o', vsix],
      { cwd: ROOT, stdio: 'pipe' },
    );
    // zipinfo lines: "-rwxr-xr-x  2.0 unx      226 b- defN 80-Jan-01 00:00 extension/engine-bin/berthd"
    entries = execFileSync('zipinfo', [vsix], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => /^[-d][rwx-]{9}/.test(l))
      .map((l) => {
        const parts = l.trim().split(/\s+/);
        return { mode: parts[0], name: parts.slice(8).join(' ') };
      });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('carries the extension, engine and CLI bundles and the launchers', () => {
    const names = entries.map((e) => e.name);
    for (const f of [
      'extension/package.json',
      'extension/dist/extension.js',
      'extension/dist/engine.js',
      'extension/dist/cli.js',
      'extension/dist/vm.js',
      'extension/engine-bin/berthd',
      'extension/engine-bin/berth',
      // the engine bundles moby's seccomp profile (Apache-2.0): its notice and licence go with it
      'extension/THIRD_PARTY_NOTICES.md',
    ]) {
      assert.ok(names.includes(f), `${f} in ${names.join(', ')}`);
    }
  });

  it('carries every native helper the build produced', () => {
    const built = fs.readdirSync(path.join(ROOT, 'dist/bin'));
    for (const b of built)
      assert.ok(
        entries.some((e) => e.name === `extension/dist/bin/${b}`),
        `dist/bin/${b} packed`,
      );
  });

  it('keeps the launchers executable', () => {
    for (const f of ['extension/engine-bin/berthd', 'extension/engine-bin/berth']) {
      const e = entries.find((x) => x.name === f)!;
      assert.match(e.mode, /^-rwx/, `${f} is ${e.mode}`);
    }
  });

  it('carries nothing of src/, test/, scripts/, third_party/ or source maps', () => {
    const leaked = entries.filter(
      (e) =>
        /^extension\/(src|test|scripts|node_modules|third_party)\//.test(e.name) ||
        e.name.endsWith('.map') ||
        e.name.endsWith('.ts'),
    );
    assert.deepEqual(
      leaked.map((e) => e.name),
      [],
    );
  });

  it('points main at the bundled extension', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.equal(pkg.main, './dist/extension.js');
    assert.deepEqual(pkg.extensionKind, ['workspace']);
  });
});
