// A container keeps the runtime and the cgroup driver it was started with (its runtime.json in the exec root) for as
// long as it runs, also after berthd restarts with another native.cgroupdriver: runc's --systemd-cgroup and where its
// cgroup is (stats, update) follow the container, not the engine's new choice — as dockerd's shims keep theirs.
// A fake runtime binary records the arguments it is called with.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRuntime, type Platform } from '../../../src/engine/runtime';

describe('runtime: the cgroup driver a container was started with', () => {
  let dir: string;
  let calls: string;
  let fake: string;
  const engine = (driver: 'cgroupfs' | 'systemd'): Platform => ({
    cgroup: { version: 2, driver },
    runtime: { name: 'runc', path: fake },
    selinux: { enabled: false },
  });
  /** A container as an earlier engine left it: its state dir with what it recorded. */
  const leftBy = (id: string, recorded: Record<string, unknown>) => {
    fs.mkdirSync(path.join(dir, 'exec', 'containers', id), { recursive: true });
    fs.writeFileSync(path.join(dir, 'exec', 'containers', id, 'runtime.json'), JSON.stringify(recorded));
  };
  const lastCall = () => fs.readFileSync(calls, 'utf8').trim().split('\n').pop();

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'started-with-'));
    calls = path.join(dir, 'calls');
    fake = path.join(dir, 'runc');
    fs.writeFileSync(fake, `#!/bin/sh\necho "$*" >> ${calls}\n`, { mode: 0o755 });
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a systemd container under an engine now on cgroupfs: --systemd-cgroup and its scope', async () => {
    const rt = createRuntime({ execRoot: path.join(dir, 'exec'), platform: engine('cgroupfs') });
    leftBy('sd', { name: 'runc', path: fake, cgroupDriver: 'systemd' });
    await rt.pause('sd');
    assert.equal(lastCall(), `--systemd-cgroup --root ${dir}/exec/runc pause sd`);
    await rt.update('sd', ['--memory', '1000000']);
    assert.equal(lastCall(), `--systemd-cgroup --root ${dir}/exec/runc update --memory 1000000 sd`);
    assert.equal(rt.cgroupDir('sd', ''), '/sys/fs/cgroup/system.slice/berth-sd.scope');
  });

  it('a cgroupfs container under an engine now on systemd: no flag, its /berth cgroup', async () => {
    const rt = createRuntime({ execRoot: path.join(dir, 'exec'), platform: engine('systemd') });
    leftBy('fs', { name: 'runc', path: fake, cgroupDriver: 'cgroupfs' });
    await rt.resume('fs');
    assert.equal(lastCall(), `--root ${dir}/exec/runc resume fs`);
    assert.equal(rt.cgroupDir('fs', ''), '/sys/fs/cgroup/berth/fs');
  });

  it("one recorded before drivers were (runtime only), or nothing recorded: the engine's driver", async () => {
    const rt = createRuntime({ execRoot: path.join(dir, 'exec'), platform: engine('systemd') });
    leftBy('old', { name: 'runc', path: fake });
    await rt.pause('old');
    assert.equal(lastCall(), `--systemd-cgroup --root ${dir}/exec/runc pause old`);
    assert.equal(rt.cgroupDir('none', ''), '/sys/fs/cgroup/system.slice/berth-none.scope');
  });
});
