// What a user does with containers on a rootless engine, through the docker CLI: -p reachable on the host's
// loopback, exec, -it, attach to a running container and start -a of an existing one, logs -f, restart policy,
// docker cp both ways, a named volume, a bind mount of the user's own files (their owner on both sides), and two
// containers on a user network reaching each other by name.
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { type Registry, seedMirror, startRegistry } from '../../fixtures';
import { DOCKER_CLI, requireDeps, TMUX } from '../../helpers/deps';
import { eventually, httpGet, otherMachine } from '../../helpers/net';
import { startPty } from '../../helpers/pty';
import {
  engineMounts,
  engineNetnsFiles,
  namespaceHolders,
  namespaceOf,
  processesOf,
  ROOTLESS_TOOLS,
  type RootlessEngine,
  startRootlessEngine,
  stockTunDevice,
  testUser,
  type TestUser,
  udpEchoFor,
  udpRoundTrip,
} from '../../helpers/rootless';

/** busybox httpd serving /etc (its hostname file among them) on ports 80 and 81. */
const SERVE_80_81 = 'httpd -p 80 -h /etc && httpd -f -p 81 -h /etc';

describe('rootless engine: containers', function () {
  this.timeout(120_000);
  let reg: Registry;
  let user: TestUser;
  let engine: RootlessEngine;
  const ok = (args: string[], input?: string) => {
    const r = engine.docker(args, { input });
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async function () {
    requireDeps(this, ROOTLESS_TOOLS, DOCKER_CLI);
    stockTunDevice();
    user = testUser('berth-rl-a', true);
    reg = await startRegistry();
    await seedMirror(reg);
    engine = await startRootlessEngine(user, { config: { 'registry-mirrors': [reg.url] } });
    ok(['pull', 'busybox']);
  });
  after(async () => {
    await engine?.cleanup();
    await reg?.stop();
  });

  it('-p publishes on the host loopback, a random -p too, and frees the port on rm -f', async () => {
    ok(['run', '-d', '--name', 'web', '-p', '127.0.0.1::80', '-p', '81', 'busybox', 'sh', '-c', SERVE_80_81]);
    const fixed = Number(ok(['port', 'web', '80']).trim().split(':').pop());
    const random = Number(ok(['port', 'web', '81']).trim().split('\n')[0].split(':').pop());
    assert.ok(fixed > 0 && random > 0);
    const id = ok(['inspect', '-f', '{{.Config.Hostname}}', 'web']).trim();
    for (const port of [fixed, random])
      await eventually(
        () => httpGet(port, '/hostname'),
        (t) => t.endsWith(`\r\n\r\n${id}\n`),
        `the page on ${port}`,
      );
    ok(['rm', '-f', 'web']);
    const connects = () =>
      new Promise<boolean>((resolve) => {
        const s = net.connect(fixed, '127.0.0.1');
        s.on('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
    await eventually(connects, (c) => !c, 'the forward gone');
  });

  it('-p on every address answers at the host’s other addresses too, a 127.0.0.1 one only on loopback', async () => {
    ok(['run', '-d', '--name', 'wide', '-p', '80', '-p', '127.0.0.1::81', 'busybox', 'sh', '-c', SERVE_80_81]);
    const all = Number(ok(['port', 'wide', '80']).trim().split('\n')[0].split(':').pop());
    const local = Number(ok(['port', 'wide', '81']).trim().split(':').pop());
    const id = ok(['inspect', '-f', '{{.Config.Hostname}}', 'wide']).trim();
    const other = otherMachine();
    try {
      await eventually(
        () => other.httpGet(all, '/hostname'),
        (t) => t.endsWith(`\r\n\r\n${id}\n`),
        `the page on ${other.hostAddress}:${all} from another machine`,
      );
      await eventually(
        () => httpGet(local, '/hostname'),
        (t) => t.endsWith(`\r\n\r\n${id}\n`),
        'the loopback page',
      );
      assert.equal(other.httpGet(local, '/hostname'), 'refused', 'a 127.0.0.1 binding is not on the other address');
    } finally {
      other.close();
      ok(['rm', '-f', 'wide']);
    }
  });

  it('-p on a port another process of the host holds fails with dockerd’s words', async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const r = engine.docker(['run', '-d', '--name', 'clash', '-p', `127.0.0.1:${port}:80`, 'busybox', 'true']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`listen tcp4 127.0.0.1:${port}: bind: address already in use`));
    } finally {
      holder.close();
      engine.docker(['rm', '-f', 'clash']);
    }
  });

  it('-p …/udp carries datagrams both ways through slirp4netns; sctp is refused with the reason', async () => {
    const echo = udpEchoFor(engine);
    ok([
      'run',
      '-d',
      '--name',
      'udp',
      '-p',
      '127.0.0.1::5353/udp',
      '-v',
      `${echo}:/udpecho:ro`,
      'busybox',
      '/udpecho',
      '5353',
    ]);
    const port = Number(ok(['port', 'udp', '5353/udp']).trim().split(':').pop());
    assert.ok(port > 0);
    assert.equal(await udpRoundTrip('127.0.0.1', port, 'ping over udp'), `ping over udp from 127.0.0.1:${port}`);
    ok(['rm', '-f', 'udp']);
    // The forward is gone with the container: the port binds again on the host.
    const binds = () =>
      new Promise<boolean>((resolve) => {
        const s = dgram.createSocket('udp4');
        s.once('error', () => resolve(false));
        s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
      });
    await eventually(binds, (b) => b, 'the udp forward gone');

    const r = engine.docker(['run', '-d', '--name', 'sctp', '-p', '127.0.0.1::9/sctp', 'busybox', 'true']);
    assert.equal(r.code, 125);
    assert.match(
      r.stderr,
      /Error response from daemon: sctp ports cannot be published by this engine: it runs rootless or in a VM, and what forwards its ports from the host \(slirp4netns, the pasta relay, the VM’s port forwarding\) carries tcp and udp only/,
    );
    assert.doesNotMatch(r.stderr, /address already in use/);
    engine.docker(['rm', '-f', 'sctp']);
  });

  it('exec, logs -f, restart policy and docker cp both ways', async () => {
    ok([
      'run',
      '-d',
      '--name',
      'box',
      'busybox',
      'sh',
      '-c',
      'echo started; while sleep 0.2; do [ -f /go ] && echo go && break; done; sleep 600',
    ]);
    assert.equal(ok(['exec', 'box', 'sh', '-c', 'id -u; hostname']).split('\n')[0], '0');
    const follow = engine.dockerAsync(['logs', '-f', 'box'], { timeoutMs: 20_000 });
    ok(['exec', 'box', 'touch', '/go']);
    await eventually(
      () => ok(['logs', 'box']),
      (l) => l === 'started\ngo\n',
      'go logged',
    );
    ok(['rm', '-f', 'box']);
    assert.match((await follow).stdout, /started\ngo/);

    const src = path.join(engine.dir, 'in.txt');
    fs.writeFileSync(src, 'from the host\n');
    fs.chownSync(src, user.uid, user.gid);
    ok(['run', '-d', '--name', 'cp', 'busybox', 'sleep', '600']);
    ok(['cp', src, 'cp:/tmp/in.txt']);
    assert.equal(ok(['exec', 'cp', 'cat', '/tmp/in.txt']), 'from the host\n');
    ok(['exec', 'cp', 'sh', '-c', 'echo from the container > /tmp/out.txt']);
    const out = path.join(engine.dir, 'out.txt');
    ok(['cp', 'cp:/tmp/out.txt', out]);
    assert.equal(fs.readFileSync(out, 'utf8'), 'from the container\n');
    ok(['rm', '-f', 'cp']);

    ok(['run', '-d', '--name', 'again', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 3']);
    await eventually(
      () => ok(['inspect', '-f', '{{.RestartCount}} {{.State.Status}}', 'again']).trim(),
      (s) => s === '2 exited',
      'two restarts',
      20_000,
    );
    ok(['rm', '-f', 'again']);
  });

  it('-it gives a terminal', async function () {
    requireDeps(this, TMUX);
    const pty = startPty(`DOCKER_HOST=${engine.host} docker run --rm -it busybox sh`);
    try {
      await pty.typeUntil('echo tty=$(tty)', /tty=\/dev\/pts\/0/);
      pty.send('exit', 'Enter');
      await pty.waitFor(/EXIT=0/);
    } finally {
      pty.close();
    }
  });

  it('docker attach to a running container and docker start -a / -ai of an existing one', async () => {
    // Attached after it started: its input from here on, its output from here on (not what it wrote before), and
    // attach ends with the container, with its exit status.
    ok([
      'run',
      '-d',
      '-i',
      '--name',
      'talk',
      'busybox',
      'sh',
      '-c',
      'echo early; while read l; do echo "got $l"; [ "$l" = bye ] && exit 7; done',
    ]);
    await eventually(
      () => ok(['logs', 'talk']),
      (l) => l === 'early\n',
      'it runs',
    );
    const attached = await engine.dockerAsync(['attach', 'talk'], { input: 'hello\nbye\n', timeoutMs: 20_000 });
    assert.deepEqual([attached.code, attached.stdout], [7, 'got hello\ngot bye\n'], attached.stderr);
    assert.equal(ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'talk']).trim(), 'exited 7');
    ok(['rm', 'talk']);

    // Created, then started attached: both streams apart and the exit status; started again, the same once more.
    ok(['create', '--name', 'once', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 5']);
    for (const run of [1, 2]) {
      const r = engine.docker(['start', '-a', 'once']);
      assert.deepEqual([r.code, r.stdout, r.stderr], [5, 'out\n', 'err\n'], `start -a, run ${run}`);
    }
    assert.equal(ok(['logs', 'once']), 'out\nout\n');
    ok(['rm', 'once']);
    ok(['create', '-i', '--name', 'reader', 'busybox', 'sh', '-c', 'read l; echo "got $l"']);
    const ai = engine.docker(['start', '-ai', 'reader'], { input: 'typed\n' });
    assert.deepEqual([ai.code, ai.stdout], [0, 'got typed\n'], ai.stderr);
    ok(['rm', 'reader']);
  });

  it('docker attach to a running -it container gives its terminal; ctrl-p ctrl-q leaves it running', async function () {
    requireDeps(this, TMUX);
    ok(['run', '-d', '-it', '--name', 'shell', 'busybox', 'sh']);
    const pty = startPty(`DOCKER_HOST=${engine.host} docker attach shell`);
    try {
      await pty.typeUntil('echo tty=$(tty)', /tty=\/dev\/pts\/0/);
      pty.send('C-p', 'C-q');
      // The docker CLI leaves with status 1 on a detach (against dockerd too).
      await pty.waitFor(/read escape sequence\s+EXIT=1/);
      assert.equal(ok(['inspect', '-f', '{{.State.Running}}', 'shell']).trim(), 'true');
    } finally {
      pty.close();
      ok(['rm', '-f', 'shell']);
    }
  });

  it('a named volume and a bind mount of the user’s files: the user’s own owner on both sides', () => {
    ok(['volume', 'create', 'keep']);
    ok(['run', '--rm', '-v', 'keep:/data', 'busybox', 'sh', '-c', 'echo kept > /data/f']);
    assert.equal(ok(['run', '--rm', '-v', 'keep:/data', 'busybox', 'cat', '/data/f']), 'kept\n');

    const dir = path.join(engine.dir, 'project');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'mine.txt'), 'mine\n');
    for (const p of [dir, path.join(dir, 'mine.txt')]) fs.chownSync(p, user.uid, user.gid);
    const inside = ok([
      'run',
      '--rm',
      '-v',
      `${dir}:/src`,
      'busybox',
      'sh',
      '-c',
      'stat -c %u:%g /src/mine.txt; echo new > /src/new.txt',
    ]);
    assert.equal(inside.trim(), '0:0', 'the user’s files are root’s inside');
    const made = fs.statSync(path.join(dir, 'new.txt'));
    assert.deepEqual([made.uid, made.gid], [user.uid, user.gid], 'what root makes inside is the user’s outside');
    ok(['volume', 'rm', 'keep']);
  });

  it('two containers on a user network reach each other by name', () => {
    ok(['network', 'create', 'team']);
    ok(['run', '-d', '--name', 'db', '--network', 'team', 'busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc']);
    const got = ok(['run', '--rm', '--network', 'team', 'busybox', 'wget', '-qO-', 'http://db:8080/hostname']);
    assert.equal(got.trim(), ok(['inspect', '-f', '{{.Config.Hostname}}', 'db']).trim());
    ok(['rm', '-f', 'db']);
    ok(['network', 'rm', 'team']);
  });

  it('rm -f leaves nothing: no mount in the engine’s namespace, no process, no network namespace', () => {
    ok(['run', '-d', '--name', 'gone', 'busybox', 'sleep', '600']);
    const id = ok(['inspect', '-f', '{{.Id}}', 'gone']).trim();
    const pid = Number(ok(['inspect', '-f', '{{.State.Pid}}', 'gone']));
    const netns = namespaceOf(pid, 'net');
    // Everything of the container, looked for where it lives: its root and pinned netns are mounts of the engine's
    // mount namespace (findmnt on the host never sees them), its shim and init are the user's processes.
    const leftovers = () => ({
      mounts: engineMounts(engine).filter((l) => l.includes(id) || l.includes(netns)),
      processes: processesOf(user).filter((l) => l.includes('sleep 600') || l.includes(id)),
      pinned: engineNetnsFiles(engine).filter((n) => n.startsWith('berth-') && id.startsWith(n.slice(6))),
      holders: namespaceHolders([netns]),
    });
    const running = leftovers();
    for (const [what, found] of Object.entries(running)) assert.ok(found.length, `${what} seen while it runs`);
    assert.ok(
      engineMounts(engine, 'overlay').some((l) => l.includes(id)),
      running.mounts.join('\n'),
    );
    assert.ok(
      engineMounts(engine, 'nsfs').some((l) => l.includes(netns)),
      running.mounts.join('\n'),
    );
    // runc is told it runs rootless (the shim passes its global flags on with -g), not left to guess.
    assert.ok(
      running.processes.some((l) => /berth-shim/.test(l) && l.includes('-g--rootless=true')),
      running.processes.join('\n'),
    );
    ok(['rm', '-f', 'gone']);
    assert.deepEqual(leftovers(), { mounts: [], processes: [], pinned: [], holders: [] });
    assert.equal(ok(['ps', '-aq', '--filter', 'name=gone']).trim(), '');
  });
});
