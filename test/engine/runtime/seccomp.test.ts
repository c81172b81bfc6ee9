// The default seccomp profile, enforced for real: a static probe (test/fixtures/seccomp/probe.c) run in a
// container sees EPERM for io_uring_setup and AF_VSOCK sockets, which it is allowed on the host.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';

describe('runtime: the default seccomp profile in a container', function () {
  this.timeout(120_000);
  let target: MirroredEngine;
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-seccomp-'));
    execFileSync('gcc', [
      '-static',
      '-O2',
      '-o',
      path.join(dir, 'probe'),
      path.join(__dirname, '../../fixtures/seccomp/probe.c'),
    ]);
    target = await startMirroredEngine();
  });
  after(async () => {
    await target?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const probe = async () => {
    const c = target.engine.client;
    const { Id } = await c.json('POST', '/containers/create', {
      body: {
        Image: 'busybox',
        Cmd: ['/probe/probe'],
        Tty: true,
        HostConfig: { Binds: [`${dir}:/probe:ro`], NetworkMode: 'none' },
      },
    });
    await c.startContainer(Id);
    await c.json('POST', `/containers/${Id}/wait`);
    const logs = await c.containerLogs(Id, { stdout: true, stderr: true });
    let text = '';
    for await (const chunk of logs) text += chunk;
    await c.removeContainer(Id, { force: true });
    return text.replace(/\r/g, '');
  };

  it('the probe can do everything on the host', () => {
    const out = execFileSync(path.join(dir, 'probe'), { encoding: 'utf8' });
    assert.match(out, /^io_uring_setup 0 errno=0$/m);
    assert.match(out, /^vsock 0 errno=0$/m);
  });

  it('io_uring_setup and AF_VSOCK sockets get EPERM; AF_UNIX sockets work', async () => {
    const out = await probe();
    assert.match(out, /^io_uring_setup -1 errno=1$/m, out);
    assert.match(out, /^vsock -1 errno=1$/m, out);
    assert.match(out, /^unix 0 errno=0$/m, out);
  });
});
