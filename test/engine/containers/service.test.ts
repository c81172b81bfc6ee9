// The containers subsystem against real runc and berth-shim, with a busybox layer instead of a pulled image:
// lifecycle, logs, exit codes, OOM-free limits, restart policies, recovery after the service is dropped.
import type { Image } from '../../../src/engine/images';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createContainerService, type ContainerService, type ImageSource } from '../../../src/engine/containers';
import { createEventBus, type EngineEvent } from '../../../src/engine/events';
import { createRuntime } from '../../../src/engine/runtime';
import { DIST, mountsUnder } from '../../helpers/engine';
import { makeBusyboxLayer } from '../../helpers/rootfs';

const SHIM = path.join(DIST, 'bin', 'berth-shim');

describe('containers service (runc + berth-shim)', function () {
  this.timeout(60000);
  let dir: string;
  let layer: string;
  let svc: ContainerService;
  const events: EngineEvent[] = [];
  const image: Image = {
    id: 'sha256:' + 'b'.repeat(64),
    repoTags: ['busybox:latest'],
    repoDigests: [],
    created: '',
    size: 0,
    chainIds: [],
    config: {
      rootfs: { type: 'layers', diff_ids: [] },
      config: {
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'FROM_IMAGE=1'],
        Cmd: ['sh'],
      },
    },
  };
  const images: ImageSource = {
    get: async (ref) => {
      if (ref !== 'busybox' && ref !== 'busybox:latest') throw Object.assign(new Error(`No such image: ${ref}`), {});
      return image;
    },
    layerDirs: () => [layer],
  };
  const make = () => {
    const bus = createEventBus();
    bus.subscribe({}, (e) => events.push(e));
    return createContainerService({
      dataRoot: path.join(dir, 'data'),
      runtime: createRuntime({ execRoot: path.join(dir, 'exec'), runcPath: 'runc', shimPath: SHIM }),
      images,
      events: bus,
      logDefaults: () => ({ type: 'json-file', config: {} }),
    });
  };
  const logText = async (id: string) => {
    const chunks: Buffer[] = [];
    await svc.logs(
      id,
      { stdout: true, stderr: true, timestamps: false, follow: false },
      {
        write: (b) => {
          chunks.push(Buffer.from(b));
          return true;
        },
        once: () => undefined,
      },
    );
    // Strip the 8-byte frame headers.
    const all = Buffer.concat(chunks);
    const out: string[] = [];
    for (let i = 0; i < all.length; ) {
      const n = all.readUInt32BE(i + 4);
      out.push(all.subarray(i + 8, i + 8 + n).toString());
      i += 8 + n;
    }
    return out.join('');
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ctr-'));
    layer = makeBusyboxLayer(path.join(dir, 'layer'));
    svc = make();
    await svc.init();
  });
  after(async () => {
    for (const c of svc.list()) await svc.remove(c.id, { force: true }).catch(() => {});
    for (const m of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', m]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs a command, captures stdout/stderr in json-file lines and records the exit code', async () => {
    const { id } = await svc.create({
      config: {
        image: 'busybox',
        cmd: ['sh', '-c', 'echo out; echo err >&2; echo "$FROM_IMAGE $KEY $HOSTNAME"; exit 3'],
        env: ['KEY=v'],
      },
    });
    const wait = svc.wait(id, 'next-exit');
    await svc.start(id);
    assert.equal((await wait).exitCode, 3);
    const c = svc.get(id);
    assert.equal(c.state.status, 'exited');
    assert.equal(c.state.exitCode, 3);
    assert.notEqual(c.state.finishedAt, '0001-01-01T00:00:00Z');
    const lines = fs
      .readFileSync(c.logPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // Order between the two pipes is not defined; within one stream it is.
    assert.deepEqual(
      lines.filter((l) => l.stream === 'stdout').map((l) => l.log),
      ['out\n', `1 v ${id.slice(0, 12)}\n`],
    );
    assert.deepEqual(
      lines.filter((l) => l.stream === 'stderr').map((l) => l.log),
      ['err\n'],
    );
    assert.match(lines[0].time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.equal((await logText(id)).split('\n').sort().join('\n'), `\n1 v ${id.slice(0, 12)}\nerr\nout`);
    assert.equal(mountsUnder(path.join(dir, 'data')).length, 0, 'rootfs unmounted after exit');
    await svc.remove(id);
    assert.equal(fs.existsSync(path.dirname(c.logPath)), false);
    assert.ok(events.some((e) => e.actor.id === id && e.action === 'die' && e.actor.attributes.exitCode === '3'));
  });

  it('rotates the json-file log by max-size/max-file while the container writes', async () => {
    const { id } = await svc.create({
      config: {
        image: 'busybox',
        cmd: [
          'sh',
          '-c',
          'i=0; while [ $i -lt 300 ]; do echo "line $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; i=$((i+1)); done',
        ],
      },
      hostConfig: { logConfig: { type: 'json-file', config: { 'max-size': '5k', 'max-file': '3' } } },
    });
    await svc.start(id);
    await svc.wait(id, 'not-running');
    const log = svc.get(id).logPath;
    assert.ok(fs.existsSync(`${log}.1`) && fs.existsSync(`${log}.2`));
    assert.ok(!fs.existsSync(`${log}.3`));
    for (const f of [log, `${log}.1`, `${log}.2`])
      assert.ok(fs.statSync(f).size <= 5000, `${f}: ${fs.statSync(f).size}`);
    const lines = (await logText(id)).trim().split('\n');
    assert.match(lines[lines.length - 1], /^line 299 x+$/);
    // What is kept is a contiguous suffix of the output.
    const first = Number(/^line (\d+)/.exec(lines[0])![1]);
    assert.deepEqual(
      lines.map((l) => Number(/^line (\d+)/.exec(l)![1])),
      Array.from({ length: 300 - first }, (_, i) => first + i),
    );
    await svc.remove(id);
  });

  it('resolves the image user through /etc/passwd and /etc/group, and honours the working dir', async () => {
    const { id } = await svc.create({
      config: { image: 'busybox', user: 'app', workingDir: '/work/dir', cmd: ['sh', '-c', 'id; pwd; echo $HOME'] },
    });
    await svc.start(id);
    await svc.wait(id, 'not-running');
    assert.match(
      await logText(id),
      /^uid=1000\(app\) gid=1000\(app\) groups=.*50\(staff\).*\n\/work\/dir\n\/home\/app\n$/,
    );
    await svc.remove(id);
    const bad = await svc.create({ config: { image: 'busybox', user: 'nosuchuser', cmd: ['true'] } });
    await assert.rejects(svc.start(bad.id), /unable to find user nosuchuser: no matching entries in passwd file/);
    await svc.remove(bad.id);
  });

  it('reports a missing executable as runc does, with exit code 127 recorded', async () => {
    const { id } = await svc.create({ config: { image: 'busybox', cmd: ['nosuchcmd'] } });
    await assert.rejects(svc.start(id), /executable file not found in \$PATH/);
    assert.equal(svc.get(id).state.exitCode, 127);
    assert.equal(svc.get(id).state.status, 'created');
    await svc.remove(id);
    assert.equal(mountsUnder(path.join(dir, 'data')).length, 0);
  });

  it('stops with the stop signal, then SIGKILL after the timeout; kill and remove are idempotent', async () => {
    const { id } = await svc.create({
      name: 'stubborn',
      config: { image: 'busybox', cmd: ['sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done'] },
    });
    await svc.start(id);
    assert.equal(svc.get('stubborn').state.status, 'running');
    const t0 = Date.now();
    await svc.stop('stubborn', { timeout: 1 });
    const took = Date.now() - t0;
    assert.ok(took >= 1000 && took < 5000, `stop took ${took} ms`);
    assert.equal(svc.get(id).state.exitCode, 137);
    await assert.rejects(svc.stop(id), (e: any) => e.status === 304);
    await assert.rejects(svc.kill(id), /is not running/);
    await svc.remove(id, { force: true });
    await assert.rejects(svc.remove(id, { force: true }), /No such container/);
  });

  it('pauses and unpauses through the freezer, and refuses to remove a running container without force', async () => {
    const { id } = await svc.create({ config: { image: 'busybox', cmd: ['sleep', '60'] } });
    await svc.start(id);
    await svc.pause(id);
    assert.equal(svc.get(id).state.status, 'paused');
    await assert.rejects(svc.pause(id), /already paused/);
    await svc.unpause(id);
    assert.equal(svc.get(id).state.status, 'running');
    await assert.rejects(svc.remove(id), /You cannot remove a running container/);
    const top = await svc.top(id);
    assert.ok(
      top.processes.some((p) => p.join(' ').includes('sleep 60')),
      JSON.stringify(top),
    );
    await svc.remove(id, { force: true });
  });

  it('applies the memory limit to the cgroup', async () => {
    const { id } = await svc.create({
      config: { image: 'busybox', cmd: ['sleep', '30'] },
      hostConfig: { resources: { memory: 64 * 1024 * 1024, pidsLimit: 50 } },
    });
    await svc.start(id);
    const stats = await svc.stats(id);
    assert.equal(stats!.memory.limit, 64 * 1024 * 1024);
    assert.equal(stats!.pids.limit, 50);
    assert.ok(stats!.pids.current >= 1);
    await svc.update(id, { resources: { memory: 96 * 1024 * 1024 } });
    assert.equal((await svc.stats(id))!.memory.limit, 96 * 1024 * 1024);
    await svc.remove(id, { force: true });
  });

  it('restarts on-failure:2 with backoff and then gives up', async () => {
    const { id } = await svc.create({
      config: { image: 'busybox', cmd: ['sh', '-c', 'echo run; exit 1'] },
      hostConfig: { restartPolicy: { name: 'on-failure', maximumRetryCount: 2 } },
    });
    await svc.start(id);
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline && !(svc.get(id).state.restartCount === 2 && svc.get(id).state.status === 'exited'))
      await new Promise((r) => setTimeout(r, 100));
    assert.equal(svc.get(id).state.restartCount, 2);
    assert.equal(svc.get(id).state.status, 'exited');
    assert.equal(await logText(id), 'run\nrun\nrun\n');
    await svc.remove(id);
  });

  it('keeps containers running when the engine goes away, and records exits that happen meanwhile', async () => {
    const a = await svc.create({
      name: 'survivor',
      config: { image: 'busybox', cmd: ['sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done'] },
    });
    const b = await svc.create({
      name: 'quitter',
      // It exits when the test says so (SIGUSR1): after the service is gone, not after some time.
      config: { image: 'busybox', cmd: ['sh', '-c', 'trap "echo bye; exit 4" USR1; while true; do sleep 0.1; done'] },
    });
    await svc.start(a.id);
    await svc.start(b.id);
    // A new service on the same state: what berthd does after a crash (the old one's memory is gone; handing
    // over stops it from acting on exits, as the dead process would not).
    await svc.shutdown(true);
    svc = make();
    // quitter exits while nobody watches.
    const runcState = () => {
      const r = spawnSync('runc', ['--root', path.join(dir, 'exec', 'runc'), 'state', b.id], { encoding: 'utf8' });
      return r.status === 0 ? JSON.parse(r.stdout) : { status: 'deleted' }; // the shim deletes what exited
    };
    process.kill(runcState().pid, 'SIGUSR1');
    const deadline = Date.now() + 15_000;
    // …and its shim is done with it: the exit file written and the socket gone (runc says "stopped" while the
    // shim still drains and deletes; a service starting then would find the shim there and the quitter running).
    const shimDone = () =>
      fs.existsSync(path.join(dir, 'exec', 'containers', b.id, 'exit')) &&
      !fs.existsSync(path.join(dir, 'exec', 's', b.id.slice(0, 16)));
    while (runcState().status === 'running' || !shimDone()) {
      assert.ok(Date.now() < deadline, 'quitter did not exit on SIGUSR1');
      await new Promise((r) => setTimeout(r, 50));
    }
    await svc.init();
    assert.equal(svc.get('survivor').state.status, 'running');
    const q = svc.get('quitter');
    assert.equal(q.state.status, 'exited');
    assert.equal(q.state.exitCode, 4);
    assert.equal(await logText(q.id), 'bye\n');
    // survivor kept logging, and goes on.
    const ticking = Date.now() + 15_000;
    while (!/tick 0\ntick 1\n.*tick [5-9]/s.test(await logText(a.id))) {
      assert.ok(Date.now() < ticking, `survivor's log: ${await logText(a.id)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await svc.stop('survivor', { timeout: 1 });
    assert.equal(svc.get('survivor').state.status, 'exited');
    await svc.remove(a.id);
    await svc.remove(b.id);
  });
});
