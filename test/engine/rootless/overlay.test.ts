// fuse-overlayfs where the kernel refuses overlay in the rootless engine's user namespace (kernels before 5.11, or
// distributions that turn it off). This kernel allows it, so the engine's start-up probe is made to fail for real:
// BERTH_OVERLAY_PROBE_OPTIONS adds a mount option the kernel does not know, and the kernel refuses the probe's
// mount. Everything after that is the real fallback: containers' roots, docker cp and diff on fuse-overlayfs.
// The set-up makes /dev/fuse 0666 as distributions ship it (this machine has it 0600), like /dev/net/tun.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type Registry, seedMirror, startRegistry } from '../../fixtures';
import { DOCKER_CLI, requireDeps } from '../../helpers/deps';
import { mountsUnder } from '../../helpers/engine';
import {
  engineMounts,
  processesOf,
  ROOTLESS_TOOLS,
  type RootlessEngine,
  startRootlessEngine,
  stockTunDevice,
  testUser,
  type TestUser,
} from '../../helpers/rootless';

const REFUSED = { BERTH_OVERLAY_PROBE_OPTIONS: 'berth_refused_by_test' };

const FUSE_OVERLAYFS = {
  what: 'fuse-overlayfs and /dev/fuse',
  install: 'bash scripts/install-deps.sh --test',
  present: () => fs.existsSync('/usr/bin/fuse-overlayfs') && fs.existsSync('/dev/fuse'),
};

/** The mounts of a type under the engine's directory, in the engine's own mount namespace. */
const mountsOfType = (engine: RootlessEngine, type: string) =>
  engineMounts(engine, type).filter((l) => l.includes(engine.dir));

describe('rootless engine: fuse-overlayfs when the kernel refuses overlay in the user namespace', function () {
  this.timeout(120_000);
  let reg: Registry;
  let user: TestUser;
  let engine: RootlessEngine;

  before(async function () {
    requireDeps(this, ROOTLESS_TOOLS, DOCKER_CLI, FUSE_OVERLAYFS);
    stockTunDevice();
    fs.chmodSync('/dev/fuse', 0o666);
    user = testUser('berth-rl-d', true);
    reg = await startRegistry();
    await seedMirror(reg);
    engine = await startRootlessEngine(user, { config: { 'registry-mirrors': [reg.url] }, env: REFUSED });
  });
  after(async () => {
    await engine?.cleanup();
    await reg?.stop();
  });

  it('docker info names fuse-overlayfs and the kernel refusal', () => {
    const info = JSON.parse(engine.docker(['info', '--format', '{{json .}}']).stdout);
    assert.equal(info.Driver, 'fuse-overlayfs');
    const status = Object.fromEntries(info.DriverStatus);
    assert.match(status['Kernel overlay'], /^refused in the user namespace \(mount: .*: wrong fs type, bad option/);
    assert.match(engine.log(), /kernel overlay refused in the user namespace: using fuse-overlayfs/);
  });

  it('runs a container on a fuse-overlayfs root; docker diff and docker cp read it', () => {
    assert.equal(engine.docker(['pull', 'busybox']).code, 0);
    const id = engine
      .docker(['run', '-d', 'busybox', 'sh', '-c', 'echo hi > /made; rm /bin/true; sleep 600'])
      .stdout.trim();
    assert.ok(id, engine.log());
    try {
      const rootfs = mountsOfType(engine, 'fuse.fuse-overlayfs');
      assert.equal(rootfs.length, 1, `one fuse-overlayfs root mount:\n${rootfs.join('\n')}`);
      assert.equal(mountsOfType(engine, 'overlay').length, 0, 'no kernel overlay');
      assert.ok(
        processesOf(user).some((l) => /fuse-overlayfs/.test(l)),
        processesOf(user).join('\n'),
      );
      assert.equal(engine.docker(['exec', id, 'cat', '/made']).stdout, 'hi\n');
      const diff = engine.docker(['diff', id]).stdout.split('\n');
      assert.ok(diff.includes('A /made') && diff.includes('D /bin/true'), diff.join(','));
      engine.docker(['stop', '-t', '0', id]);
      // A stopped container's files: the archive path mounts the overlay itself (fuse-overlayfs again).
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-fuse-cp-'));
      try {
        const cp = engine.docker(['cp', `${id}:/made`, path.join(out, 'made')]);
        assert.equal(cp.code, 0, cp.stderr);
        assert.equal(fs.readFileSync(path.join(out, 'made'), 'utf8'), 'hi\n');
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
    } finally {
      engine.docker(['rm', '-f', id]);
    }
  });

  it('rm -f and stop leave no fuse-overlayfs process and no mount', async () => {
    const id = engine.docker(['run', '-d', 'busybox', 'sleep', '600']).stdout.trim();
    assert.equal(mountsOfType(engine, 'fuse.fuse-overlayfs').length, 1);
    assert.equal(engine.docker(['rm', '-f', id]).code, 0);
    assert.equal(await engine.stop(), 0);
    assert.deepEqual(processesOf(user), []);
    assert.deepEqual(mountsUnder(engine.dir), []);
  });

  it('without fuse-overlayfs the engine does not start and says what to install', async () => {
    await assert.rejects(
      startRootlessEngine(user, { env: { ...REFUSED, BERTH_FUSE_OVERLAYFS: '/nonexistent/fuse-overlayfs' } }),
      /the kernel refuses overlay in this user namespace \(.+\) and fuse-overlayfs is missing: install fuse-overlayfs \(Debian\/Ubuntu: apt-get install fuse-overlayfs; RHEL\/Fedora: dnf install fuse-overlayfs\)/,
    );
  });
});
