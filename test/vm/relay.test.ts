// The VM's API relay without a VM: a local berthd on loopback TCP with the VM's mutual TLS, reached through the relay's
// unix socket by the docker CLI (attach with stdin closed, as docker run does), and refused without the certificate.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { spawn } from 'node:child_process';
import { EngineClient } from '../../src/client';
import { makeVmTls, writeVmTls, TLS_FILES } from '../../src/vm/certs';
import { type Relay, startRelay } from '../../src/vm/relay';
import { seedMirror, startRegistry, type Registry } from '../fixtures';
import { requireDockerCli, startEngine, type TestEngine } from '../helpers/engine';
import { freePort } from '../helpers/net';

describe('vm relay: unix socket to the guest engine over mutual TLS', function () {
  this.timeout(120_000);
  let dir: string;
  let engine: TestEngine;
  let relay: Relay;
  let registry: Registry;
  let sock: string;
  let port: number;
  const cuts: string[] = [];

  before(async function () {
    requireDockerCli(this);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-relay-'));
    const material = makeVmTls('relay-test');
    writeVmTls(path.join(dir, 'tls'), material);
    registry = await startRegistry();
    await seedMirror(registry);
    port = await freePort();
    const t = (f: string) => path.join(dir, 'tls', f);
    engine = await startEngine({
      config: { 'registry-mirrors': [registry.url] },
      args: [
        '-H',
        `tcp://127.0.0.1:${port}`,
        '--tlsverify',
        '--tlscacert',
        t(TLS_FILES.ca),
        '--tlscert',
        t(TLS_FILES.serverCert),
        '--tlskey',
        t(TLS_FILES.serverKey),
      ],
    });
    sock = path.join(dir, 'api.sock');
    relay = await startRelay(sock, { host: '127.0.0.1', port }, material, (line) => cuts.push(line));
  });

  after(async () => {
    await relay?.close();
    await engine?.cleanup();
    await registry?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  // Not spawnSync: the relay runs in this process and must keep serving while docker runs.
  const docker = (args: string[], input?: string) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn('docker', args, { env: { ...process.env, DOCKER_HOST: `unix://${sock}` } });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d) => (stdout += d));
      c.stderr.on('data', (d) => (stderr += d));
      const t = setTimeout(() => c.kill(), 60_000);
      c.on('close', (status) => {
        clearTimeout(t);
        resolve({ status, stdout, stderr });
      });
      c.stdin.end(input ?? '');
    });

  it('is a 0600 socket', () => {
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
  });

  it('carries docker run with an attached output (stdin closed by the client)', async () => {
    const r = await docker(['run', '--rm', 'hello-world']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Hello from Berth!/);
    assert.deepEqual(cuts, [], 'no connection reported cut');
  });

  it('carries stdin to the container and its output back after the client closed its side', async () => {
    const r = await docker(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done'], 'from stdin\n');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'from stdin\ndone\n');
    // The client's stdin had no answer of its own when it ended its side: that is no cut.
    assert.deepEqual(cuts, [], 'no connection reported cut');
  });

  it('carries concurrent requests, each on its own TLS connection', async () => {
    const c = new EngineClient(`unix://${sock}`);
    try {
      const before = relay.connections;
      await Promise.all(Array.from({ length: 10 }, () => c.version()));
      assert.ok(relay.connections > before);
    } finally {
      await c.close();
    }
  });

  it('refuses a TLS client without the VM client certificate', async () => {
    const ca = fs.readFileSync(path.join(dir, 'tls', TLS_FILES.ca));
    const answer = await new Promise<string>((resolve) => {
      const c = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () =>
        c.write('GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n'),
      );
      let out = '';
      c.on('data', (d) => (out += d));
      c.on('error', (e) => resolve(`error: ${e.message}`));
      c.on('close', () => resolve(out));
    });
    assert.doesNotMatch(answer, /200 OK/);
  });
});

describe('vm relay: says which side cut a connection', function () {
  this.timeout(30_000);
  let dir: string;
  let guest: tls.Server;
  let relay: Relay;
  let sock: string;
  let material: ReturnType<typeof makeVmTls>;
  const cuts: string[] = [];
  // What the fake guest does with the next connection once it has read a request.
  let next: (socket: tls.TLSSocket, request: Buffer) => void = () => undefined;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-relay-'));
    material = makeVmTls('relay-cut-test');
    guest = tls.createServer(
      {
        ca: material.ca,
        cert: material.serverCert,
        key: material.serverKey,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => socket.once('data', (request: Buffer) => next(socket, request)),
    );
    await new Promise<void>((resolve) => guest.listen(0, '127.0.0.1', () => resolve()));
    sock = path.join(dir, 'api.sock');
    const { port } = guest.address() as { port: number };
    relay = await startRelay(sock, { host: '127.0.0.1', port }, material, (line) => cuts.push(line));
  });

  after(async () => {
    await relay?.close();
    guest?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Sends a request through the relay and waits for the connection to close; what came back. */
  const exchange = (request: string) =>
    new Promise<string>((resolve) => {
      const c = net.connect(sock, () => c.write(request));
      let out = '';
      c.on('data', (d) => (out += d));
      c.on('error', () => undefined);
      c.on('close', () => resolve(out));
    });
  const settled = () => new Promise((r) => setTimeout(r, 100));

  it('a request the guest closed the connection on without answering (what docker shows as EOF)', async () => {
    cuts.length = 0;
    next = (socket) => socket.end();
    const request = 'POST /images/load HTTP/1.1\r\nHost: api.moby.localhost\r\nContent-Length: 4\r\n\r\ntar!';
    assert.equal(await exchange(request), '');
    await settled();
    assert.equal(cuts.length, 1, cuts.join('\n'));
    assert.match(cuts[0], /^berth: relay: connection \d+ closed by the guest with \d+ bytes of the client unanswered$/);
  });

  it("a reset on the guest's side", async () => {
    // A guest port that resets every connection (an engine gone mid-start): through a relay of its own.
    const resetting = net.createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((resolve) => resetting.listen(0, '127.0.0.1', () => resolve()));
    const own: string[] = [];
    const other = await startRelay(
      path.join(dir, 'reset.sock'),
      { host: '127.0.0.1', port: (resetting.address() as net.AddressInfo).port },
      material,
      (line) => own.push(line),
    );
    try {
      const out = await new Promise<string>((resolve) => {
        const c = net.connect(path.join(dir, 'reset.sock'), () => c.write('GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n'));
        let text = '';
        c.on('data', (d) => (text += d));
        c.on('error', () => undefined);
        c.on('close', () => resolve(text));
      });
      assert.equal(out, '');
      await settled();
      assert.equal(own.length, 1, own.join('\n'));
      assert.match(
        own[0],
        /^berth: relay: connection \d+ failed on the guest's side: .+ \(\d+ bytes of the client unanswered\)$/,
      );
    } finally {
      await other.close();
      resetting.close();
    }
  });

  it('an answer the client reads only after its end, larger than the socket holds, arrives whole', async () => {
    cuts.length = 0;
    // The guest answers and closes while the client, its side ended after the request (`docker save` and the like
    // through a client that half-closes), reads nothing yet: what the unix socket cannot take waits in the relay,
    // and must still be delivered once the guest is done. Sizes around what a socket buffer holds (212992 bytes
    // here by default, net.core.wmem_default), one connection each: some leave the last of the answer in the relay
    // just as the guest closes.
    const sizes = Array.from({ length: 170 }, (_, i) => 100_000 + i * 3_000);
    next = (socket, request) => {
      const size = Number(/size=(\d+)/.exec(request.toString())![1]);
      socket.end(
        Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`), Buffer.alloc(size, 0x61)]),
      );
    };
    const fetch = (size: number) =>
      new Promise<number>((resolve) => {
        const c = net.connect(sock, () => c.end(`GET /images/get?size=${size} HTTP/1.1\r\nHost: x\r\n\r\n`));
        c.pause();
        setTimeout(() => c.resume(), 500);
        const parts: Buffer[] = [];
        c.on('data', (d: Buffer) => parts.push(d));
        c.on('error', () => undefined);
        c.on('close', () => {
          const all = Buffer.concat(parts);
          resolve(all.length - all.indexOf('\r\n\r\n') - 4);
        });
      });
    const got = await Promise.all(sizes.map(fetch));
    const short = sizes.flatMap((size, i) => (got[i] === size ? [] : [`${size}: ${got[i]}`]));
    assert.deepEqual(short, [], 'answers cut short (size: bytes received)');
    await settled();
    assert.deepEqual(cuts, []);
  });

  it('an answered request and a close is no cut', async () => {
    cuts.length = 0;
    next = (socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK');
    assert.match(await exchange('GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n'), /200 OK/);
    await settled();
    assert.deepEqual(cuts, []);
  });
});
