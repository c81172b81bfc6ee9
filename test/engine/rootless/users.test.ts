// Rootless engines of different users: one with no subordinate ids (a single id: root only, said clearly), and
// two users' engines side by side, neither able to see or touch the other's.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { type Registry, seedMirror, startRegistry } from '../../fixtures';
import { DOCKER_CLI, requireDeps } from '../../helpers/deps';
import { eventually } from '../../helpers/net';
import {
  processesOf,
  ROOTLESS_TOOLS,
  type RootlessEngine,
  startRootlessEngine,
  stockTunDevice,
  testUser,
  type TestUser,
} from '../../helpers/rootless';

describe('rootless engines of several users', function () {
  this.timeout(180_000);
  let reg: Registry;
  const engines: RootlessEngine[] = [];
  const start = async (user: TestUser) => {
    const e = await startRootlessEngine(user, { config: { 'registry-mirrors': [reg.url] } });
    engines.push(e);
    return e;
  };
  const ok = (e: RootlessEngine, args: string[]) => {
    const r = e.docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async function () {
    requireDeps(this, ROOTLESS_TOOLS, DOCKER_CLI);
    stockTunDevice();
    reg = await startRegistry();
    await seedMirror(reg);
  });
  after(async () => {
    for (const e of engines) await e.cleanup();
    await reg?.stop();
  });

  it('a user with no sub-ids: warned with the fix, images still unpack, root is the only user', async () => {
    const user = testUser('berth-rl-nosub', false);
    const e = await start(user);
    const fix =
      /warning: sub-ids: none for berth-rl-nosub.*as root: (usermod --add-subuids (\d+)-(\d+) --add-subgids (\d+)-(\d+) berth-rl-nosub)/.exec(
        e.log(),
      );
    assert.ok(fix, e.log());
    // The ids it suggests are nobody's yet (100000-165535 is usually the host's first user's): following the advice
    // never makes two users share host ids.
    const [uidStart, uidEnd, gidStart, gidEnd] = fix.slice(2).map(Number);
    for (const [file, start, end] of [
      ['/etc/subuid', uidStart, uidEnd],
      ['/etc/subgid', gidStart, gidEnd],
    ] as const) {
      assert.equal(end - start + 1, 65536);
      for (const line of fs.readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
        const [, s, c] = line.split(':').map(Number);
        assert.ok(end < s || start > s + c - 1, `${file}: ${start}-${end} overlaps ${line}`);
      }
    }
    const warnings = JSON.parse(ok(e, ['info', '--format', '{{json .Warnings}}']));
    assert.ok(
      warnings.some((w: string) => w.includes(`no subordinate ids for berth-rl-nosub`) && w.endsWith(fix[1])),
      warnings.join('\n'),
    );
    ok(e, ['pull', 'busybox']);
    // The image's /home/app (owner 1000) cannot keep an owner that does not exist here: it is root's.
    assert.equal(ok(e, ['run', '--rm', 'busybox', 'stat', '-c', '%u', '/home/app']).trim(), '0');
    assert.equal(ok(e, ['run', '--rm', '-t', 'busybox', 'tty']).trim(), '/dev/pts/0');
    const as1000 = e.docker(['run', '--rm', '-u', '1000', 'busybox', 'id']);
    assert.notEqual(as1000.code, 0);
    assert.match(as1000.stderr, /cannot run as 1000:1000: this rootless engine maps only root/);
  });

  it('a second user’s engine cannot see or touch the first’s', async () => {
    const [ann, bob] = [testUser('berth-rl-a', true), testUser('berth-rl-b', true)];
    const a = await start(ann);
    const b = await start(bob);
    ok(a, ['pull', 'busybox']);
    ok(b, ['pull', 'busybox']);
    ok(a, ['run', '-d', '--name', 'anns', 'busybox', 'sleep', '600']);
    assert.equal(ok(b, ['ps', '-aq']).trim(), '', 'bob’s engine lists none of ann’s containers');
    assert.notEqual(b.docker(['inspect', 'anns']).code, 0);

    // Bob's own CLI cannot open Ann's socket (0600, in her runtime dir) nor read her data root.
    const viaBob = a.docker(['ps'], { asUser: bob });
    assert.notEqual(viaBob.code, 0);
    assert.match(viaBob.stderr, /permission denied/);
    const list = spawnSync('ls', [a.dataRoot], { uid: bob.uid, gid: bob.gid, encoding: 'utf8' });
    assert.notEqual(list.status, 0);

    // Ann's container process is hers (root of her namespace is her uid): bob cannot signal it.
    const sleeper = processesOf(ann).find((l) => l.includes('sleep 600'));
    assert.ok(sleeper, processesOf(ann).join('\n'));
    const kill = spawnSync('kill', ['-0', sleeper.trim().split(/\s+/)[0]], {
      uid: bob.uid,
      gid: bob.gid,
      encoding: 'utf8',
    });
    assert.notEqual(kill.status, 0);
    assert.match(kill.stderr, /not permitted/);
    ok(a, ['rm', '-f', 'anns']);
  });

  it('when the outer berthd is killed, the engine inside stops too and nothing of the user is left', async () => {
    const user = testUser('berth-rl-c', true);
    const e = await start(user);
    ok(e, ['pull', 'busybox']);
    ok(e, ['run', '-d', '--stop-timeout', '1', 'busybox', 'sleep', '600']);
    process.kill(e.pid(), 'SIGKILL');
    await eventually(
      async () => processesOf(user),
      (left) => left.length === 0,
      'every process of the user gone',
      20_000,
    );
  });

  it('when the engine inside crashes, its containers and slirp4netns go with it', async () => {
    const user = testUser('berth-rl-c', true);
    const e = await start(user);
    ok(e, ['pull', 'busybox']);
    ok(e, ['run', '-d', 'busybox', 'sleep', '600']);
    // The inner engine: the outer one's child that runs engine.js too.
    const ps = spawnSync('ps', ['--ppid', String(e.pid()), '-o', 'pid=,args='], { encoding: 'utf8' }).stdout;
    const inner = ps.split('\n').find((l) => l.includes('engine.js'));
    assert.ok(inner, ps);
    process.kill(Number(inner.trim().split(/\s+/)[0]), 'SIGKILL');
    assert.notEqual(await e.stop(), 0, 'the outer berthd exits with the failure');
    await eventually(
      async () => processesOf(user),
      (left) => left.length === 0,
      'every process of the user gone',
      20_000,
    );
  });

  it('containers an engine killed outright left are ended by the user’s next engine', async () => {
    const user = testUser('berth-rl-c', true);
    const first = await start(user);
    ok(first, ['pull', 'busybox']);
    ok(first, ['run', '-d', 'busybox', 'sleep', '600']);
    // Both berthd processes killed at once (as an OOM killer or `kill -9 -1` would): nobody is left to clean up.
    const ps = spawnSync('ps', ['--ppid', String(first.pid()), '-o', 'pid=,args='], { encoding: 'utf8' }).stdout;
    const inner = ps.split('\n').find((l) => l.includes('engine.js'));
    assert.ok(inner, ps);
    process.kill(Number(inner.trim().split(/\s+/)[0]), 'SIGKILL');
    process.kill(first.pid(), 'SIGKILL');
    await first.stop();
    await eventually(
      async () => processesOf(user).filter((l) => l.includes('engine.js')),
      (left) => left.length === 0,
      'both berthd gone',
    );
    assert.ok(
      processesOf(user).some((l) => l.includes('sleep 600')),
      'the container outlived its engine',
    );
    const next = await start(user);
    assert.match(next.log(), /ended \d+ processes an earlier rootless engine of berth-rl-c left behind/);
    assert.ok(!processesOf(user).some((l) => l.includes('sleep 600')), processesOf(user).join('\n'));
  });
});
