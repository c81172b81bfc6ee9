// GET /distribution/{name}/json trusts nothing a registry says without checking it: a manifest asked for by digest
// must hash to it, and an image config (read for its platform) must be what its digest says and of bounded size.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { pushFixture, type Registry, registryBlobFile, startRegistry } from '../../fixtures';
import { startEngine, type TestEngine } from '../../helpers/engine';

describe('engine API: distribution inspect against a lying registry', function () {
  this.timeout(120_000);
  let reg: Registry;
  let engine: TestEngine;
  before(async () => {
    reg = await startRegistry();
    engine = await startEngine();
  });
  after(async () => {
    await engine?.cleanup();
    await reg?.stop();
  });

  const inspect = async (name: string) => {
    try {
      return { ok: await engine.client.json('GET', `/distribution/${name}/json`) };
    } catch (err: any) {
      return { status: err.status ?? err.statusCode, message: String(err.message) };
    }
  };

  // Each test spoils the blobs of a fixture of its own: the registry keeps one file per digest, so two tests that
  // pushed the same image would see each other's damage (in another order).
  it('describes an honest image, by tag and by digest', async () => {
    const pushed = await pushFixture(reg, 'busybox', 'test/honest');
    const byTag = await inspect(`${reg.host}/test/honest`);
    assert.equal(byTag.ok?.Descriptor.digest, pushed.manifestDigest);
    assert.ok(byTag.ok?.Platforms.length);
    const byDigest = await inspect(`${reg.host}/test/honest@${pushed.manifestDigest}`);
    assert.equal(byDigest.ok?.Descriptor.digest, pushed.manifestDigest);
  });

  it('refuses a manifest that is not the digest asked for', async () => {
    const pushed = await pushFixture(reg, 'hello-world', 'test/swapped');
    // Still a valid manifest, one byte more: another digest.
    const file = registryBlobFile(reg, pushed.manifestDigest);
    fs.appendFileSync(file, ' ');
    const r = await inspect(`${reg.host}/test/swapped@${pushed.manifestDigest}`);
    assert.match(r.message ?? '', new RegExp(`manifest verification failed for digest ${pushed.manifestDigest}`));
  });

  it('refuses a config that is not what its digest says', async () => {
    const pushed = await pushFixture(reg, 'whiteouts', 'test/badconfig');
    fs.appendFileSync(registryBlobFile(reg, pushed.configDigest!), ' ');
    const r = await inspect(`${reg.host}/test/badconfig`);
    assert.match(r.message ?? '', new RegExp(`image config verification failed for digest ${pushed.configDigest}`));
  });

  it('stops reading a config past 8 MiB', async () => {
    const pushed = await pushFixture(reg, 'web', 'test/hugeconfig');
    fs.appendFileSync(registryBlobFile(reg, pushed.configDigest!), Buffer.alloc(9 * 1024 * 1024, 0x20));
    const r = await inspect(`${reg.host}/test/hugeconfig`);
    assert.match(r.message ?? '', /is larger than 8388608 bytes/);
  });
});
