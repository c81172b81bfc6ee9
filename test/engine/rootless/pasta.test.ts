// Rootless Berth with pasta (passt) as the network namespace's link out instead of slirp4netns
// (BERTH_ROOTLESS_NET=pasta): pulls through the host's loopback, containers' outbound connections to the host's
// other addresses, -p from the host's 127.0.0.1 through the parent's port relay (pasta has no port API) for TCP and
// UDP, a busy host port refused with dockerd's words, and nothing left — pasta included — when the engine stops.
import * as assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { spawnSync } from 'node:child_process';
import { type Registry, seedMirror, startRegistry } from '../../fixtures';
import { DOCKER_CLI, requireDeps } from '../../helpers/deps';
import { freePort, otherMachine } from '../../helpers/net';
import {
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

const PASTA = {
  what: 'pasta (package passt)',
  install: 'bash scripts/install-deps.sh --test',
  present: () => spawnSync('sh', ['-c', 'command -v pasta'], { stdio: 'ignore' }).status === 0,
};

/** The host's address on its outbound interface (not loopback): where a container's outbound connection goes. */
function outboundAddress(): string {
  const r = spawnSync('ip', ['-4', '-o', 'route', 'get', '192.0.2.254'], { encoding: 'utf8' });
  const m = / src (\S+)/.exec(r.stdout);
  assert.ok(m, `no outbound address: ${r.stdout}${r.stderr}`);
  return m[1];
}

async function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port });
    let text = '';
    c.setEncoding('utf8');
    c.on('data', (d) => (text += d));
    c.on('end', () => resolve(text));
    c.on('error', reject);
    c.end('GET / HTTP/1.0\r\n\r\n');
  });
}

describe('rootless engine with pasta', function () {
  this.timeout(120_000);
  let reg: Registry;
  let user: TestUser;
  let engine: RootlessEngine;

  before(async function () {
    requireDeps(this, ROOTLESS_TOOLS, DOCKER_CLI, PASTA);
    stockTunDevice();
    user = testUser('berth-rl-d', true);
    reg = await startRegistry();
    await seedMirror(reg);
    engine = await startRootlessEngine(user, {
      config: { 'registry-mirrors': [reg.url] },
      env: { BERTH_ROOTLESS_NET: 'pasta' },
    });
  });
  after(async () => {
    await engine?.cleanup();
    await reg?.stop();
  });

  it('pasta is the link: it runs for the engine and slirp4netns does not; pulls reach the host loopback', () => {
    const procs = processesOf(user);
    assert.ok(
      procs.some((l) => / pasta /.test(` ${l.split(' ').slice(1).join(' ')} `)),
      procs.join('\n'),
    );
    assert.ok(!procs.some((l) => /slirp4netns/.test(l)), procs.join('\n'));
    const pull = engine.docker(['pull', 'busybox']);
    assert.equal(pull.code, 0, pull.stderr);
  });

  it('a container connects out to the host’s own address', async () => {
    // What the host's server receives: the container's connection got out with its data.
    let received = '';
    const server = net.createServer((c) => {
      c.setEncoding('utf8');
      c.on('data', (d) => {
        received += d;
        if (received.endsWith('\n')) c.end();
      });
    });
    const host = outboundAddress();
    await new Promise<void>((r) => server.listen(0, host, r));
    const { port } = server.address() as net.AddressInfo;
    try {
      const r = engine.docker([
        'run',
        '--rm',
        'busybox',
        'sh',
        '-c',
        `echo out of the container | nc -w 3 ${host} ${port}`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      for (let i = 0; i < 50 && !received; i++) await new Promise((res) => setTimeout(res, 100));
      assert.equal(received, 'out of the container\n');
    } finally {
      server.close();
    }
  });

  it('-p from the host’s 127.0.0.1 through the relay; a port the host holds fails as dockerd’s does', async () => {
    const port = await freePort();
    const id = engine
      .docker([
        ...['run', '-d', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sh', '-c'],
        'mkdir /www; echo served > /www/index.html; exec httpd -f -p 80 -h /www',
      ])
      .stdout.trim();
    assert.ok(id, engine.log());
    try {
      let body = '';
      for (let i = 0; i < 50 && !/200 OK/.test(body); i++) {
        body = await httpGet(port).catch(() => '');
        if (!/200 OK/.test(body)) await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(body, /200 OK[\s\S]*\r\n\r\nserved\n$/);
      const held = net.createServer();
      await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
      const busy = (held.address() as net.AddressInfo).port;
      try {
        const r = engine.docker(['run', '-d', '-p', `127.0.0.1:${busy}:80`, 'busybox', 'sleep', '60']);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`listen tcp4 127\\.0\\.0\\.1:${busy}: bind: address already in use`));
      } finally {
        held.close();
      }
    } finally {
      engine.docker(['rm', '-f', id]);
    }
    // Removed with the container: the host port is free again.
    await new Promise<void>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
    });
  });

  it('-p on every address through the relay answers at a non-loopback address of the host', async () => {
    const id = engine
      .docker(['run', '-d', '-p', '80', 'busybox', 'sh', '-c', 'echo wide > /i; exec httpd -f -p 80 -h /'])
      .stdout.trim();
    assert.ok(id, engine.log());
    const port = Number(engine.docker(['port', id, '80']).stdout.trim().split('\n')[0].split(':').pop());
    const other = otherMachine();
    try {
      let body = '';
      for (let i = 0; i < 50 && !/\r\n\r\nwide\n$/.test(body); i++) {
        body = other.httpGet(port, '/i');
        if (!/200 OK/.test(body)) await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(body, /200 OK[\s\S]*\r\n\r\nwide\n$/, `from ${other.hostAddress}:${port}`);
    } finally {
      other.close();
      engine.docker(['rm', '-f', id]);
    }
  });

  it('-p …/udp through the relay: each sender’s datagrams echoed back from the host port; a held one refused', async () => {
    const echo = udpEchoFor(engine);
    const run = ['run', '-d', '-p', '127.0.0.1::5353/udp', '-v', `${echo}:/udpecho:ro`, 'busybox', '/udpecho', '5353'];
    const id = engine.docker(run).stdout.trim();
    assert.ok(id, engine.log());
    const port = Number(engine.docker(['port', id, '5353/udp']).stdout.trim().split(':').pop());
    try {
      // Two senders at once: each its own flow through the relay, each answer to its own sender.
      const [a, b] = await Promise.all([
        udpRoundTrip('127.0.0.1', port, 'from a'),
        udpRoundTrip('127.0.0.1', port, 'from b'),
      ]);
      assert.deepEqual([a, b], [`from a from 127.0.0.1:${port}`, `from b from 127.0.0.1:${port}`]);
      const held = dgram.createSocket('udp4');
      await new Promise<void>((r) => held.bind(0, '127.0.0.1', r));
      const busy = held.address().port;
      try {
        const r = engine.docker(['run', '-d', '-p', `127.0.0.1:${busy}:53/udp`, 'busybox', 'sleep', '60']);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, new RegExp(`listen udp4 127\\.0\\.0\\.1:${busy}: bind: address already in use`));
      } finally {
        held.close();
      }
    } finally {
      engine.docker(['rm', '-f', id]);
    }
    // Removed with the container: the host port binds again.
    await new Promise<void>((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.once('error', reject);
      s.bind(port, '127.0.0.1', () => s.close(() => resolve()));
    });
  });

  it('stops with nothing of the user left, pasta included', async () => {
    assert.equal(await engine.stop(), 0);
    assert.deepEqual(processesOf(user), []);
  });
});
