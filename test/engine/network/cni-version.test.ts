// CNI spec version negotiation: berthd asks the installed plugins (CNI_COMMAND=VERSION) instead of assuming 1.0.0,
// so RHEL 8's plugins (up to 0.4.0) work; plugins that speak nothing we do are refused with what to install.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cniBinDir, negotiateCniVersion, pickCniVersion } from '../../../src/engine/network/cni';
import { requireDeps } from '../../helpers/deps';

/** A plugin directory whose plugins answer VERSION with `versions` (and record what they were sent). */
function fakePlugins(versions: Record<string, string[]>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cni-'));
  for (const [name, list] of Object.entries(versions)) {
    const answer = JSON.stringify({ cniVersion: '0.4.0', supportedVersions: list });
    fs.writeFileSync(
      path.join(dir, name),
      `#!/bin/sh\ncat > "${dir}/${name}.stdin"\necho "$CNI_COMMAND" > "${dir}/${name}.cmd"\necho '${answer}'\n`,
      { mode: 0o755 },
    );
  }
  return dir;
}

describe('network: CNI version negotiation', () => {
  it('picks the newest version every plugin and berthd speak', () => {
    assert.equal(
      pickCniVersion([
        ['0.3.1', '0.4.0', '1.0.0'],
        ['0.4.0', '1.0.0'],
      ]),
      '1.0.0',
    );
    assert.equal(
      pickCniVersion([
        ['0.3.0', '0.3.1', '0.4.0'],
        ['0.3.1', '0.4.0', '1.0.0'],
      ]),
      '0.4.0',
    );
    assert.equal(pickCniVersion([['0.3.1'], ['0.3.1', '0.4.0']]), '0.3.1');
    assert.equal(pickCniVersion([['0.1.0', '0.2.0']]), undefined);
    assert.equal(pickCniVersion([['1.1.0']]), undefined);
  });

  it('asks each plugin with CNI_COMMAND=VERSION (RHEL 8-like plugins: 0.4.0)', async () => {
    const old = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0'];
    const dir = fakePlugins({ bridge: old, 'host-local': old, portmap: old, firewall: old, loopback: old });
    try {
      assert.equal(await negotiateCniVersion(dir), '0.4.0');
      assert.equal(fs.readFileSync(path.join(dir, 'bridge.cmd'), 'utf8').trim(), 'VERSION');
      assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'portmap.stdin'), 'utf8')).cniVersion, '1.0.0');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses plugins that speak no version it does, naming the package', async () => {
    const ancient = ['0.1.0', '0.2.0'];
    const dir = fakePlugins({
      bridge: ancient,
      'host-local': ['0.4.0'],
      portmap: ['0.4.0'],
      firewall: ['0.4.0'],
      loopback: ['0.4.0'],
    });
    try {
      await assert.rejects(
        negotiateCniVersion(dir),
        /speak none of the spec versions 1\.0\.0, 0\.4\.0.*containernetworking-plugins/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('negotiates with the plugins installed here (Debian 12: 1.0.0)', async function () {
    requireDeps(this, {
      what: 'the CNI plugins (containernetworking-plugins)',
      install: 'bash scripts/install-deps.sh',
      present: () => cniBinDir() !== undefined,
    });
    assert.equal(await negotiateCniVersion(cniBinDir()!), '1.0.0');
  });
});
