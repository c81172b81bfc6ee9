// Engines: the switcher's list (Berth's own, Docker and Podman sockets found here, DOCKER_HOST, the docker CLI's
// contexts with their TLS files, engines the user added), which one the settings select, host validation, and the
// ssh:// tunnel — OpenSSH's command line, and the tunnel's lifecycle with a stand-in `ssh` that forwards the socket
// as `ssh -L` does, to a real berthd (there is no sshd on the test machine).
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../../src/client';
import { currentEngine, listEngines, readTls, validateHost } from '../../src/extension/engines/catalog';
import { parseSshHost, SshTunnel, sshTunnelArgs } from '../../src/extension/engines/ssh';
import { startEngine, type TestEngine } from '../helpers/engine';
import { freePort } from '../helpers/net';
import { makeTlsMaterial } from '../helpers/tls';

function writeContext(dir: string, name: string, host: string, opts: { tls?: boolean; skipVerify?: boolean } = {}) {
  const hash = crypto.createHash('sha256').update(name).digest('hex');
  const meta = path.join(dir, 'contexts/meta', hash);
  fs.mkdirSync(meta, { recursive: true });
  fs.writeFileSync(
    path.join(meta, 'meta.json'),
    JSON.stringify({
      Name: name,
      Metadata: { Description: `${name} box` },
      Endpoints: { docker: { Host: host, SkipTLSVerify: !!opts.skipVerify } },
    }),
  );
  if (opts.tls) {
    const tls = path.join(dir, 'contexts/tls', hash, 'docker');
    fs.mkdirSync(tls, { recursive: true });
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) fs.writeFileSync(path.join(tls, f), `${name}-${f}`);
  }
}

describe('extension: engines', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-engines-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("lists Berth's engines, sockets found here, DOCKER_HOST, docker contexts with TLS, and added engines", () => {
    const docker = path.join(dir, 'docker-config');
    writeContext(docker, 'remote', 'tcp://remote:2376', { tls: true });
    writeContext(docker, 'lab', 'ssh://me@lab', { skipVerify: true });
    writeContext(docker, 'dup', 'unix:///var/run/docker.sock');
    fs.mkdirSync(path.join(docker, 'contexts/meta/broken'), { recursive: true });
    const present = new Set(['/var/run/docker.sock', '/run/user/1000/podman/podman.sock']);
    const entries = listEngines({
      custom: [
        { name: 'build box', host: 'tcp://build:2376', certPath: '/certs' },
        { name: 'bad', host: 'ftp://nope' },
      ],
      env: { XDG_RUNTIME_DIR: '/run/user/1000', DOCKER_CONFIG: docker, DOCKER_HOST: 'tcp://env:2375' },
      home: '/nonexistent',
      vmHost: 'unix:///vm.sock',
      exists: (p) => present.has(p),
    });
    assert.deepEqual(
      entries.map((e) => [e.kind, e.name, e.host]),
      [
        ['berth', 'Berth', ''],
        ['berth-vm', 'Berth VM', ''],
        ['docker', 'Docker', 'unix:///var/run/docker.sock'],
        ['podman', 'Podman (rootless)', 'unix:///run/user/1000/podman/podman.sock'],
        ['custom', 'DOCKER_HOST', 'tcp://env:2375'],
        ['context', 'lab', 'ssh://me@lab'],
        ['context', 'remote', 'tcp://remote:2376'],
        ['custom', 'build box', 'tcp://build:2376'],
      ],
    );
    const remote = entries.find((e) => e.name === 'remote')!;
    assert.equal(remote.tls?.verify, true);
    assert.equal(readTls(remote.tls)?.ca?.toString(), 'remote-ca.pem');
    assert.equal(readTls(remote.tls)?.key?.toString(), 'remote-key.pem');
    assert.equal(entries.find((e) => e.name === 'lab')!.tls, undefined);
    assert.deepEqual(entries.find((e) => e.name === 'build box')!.tls, {
      ca: '/certs/ca.pem',
      cert: '/certs/cert.pem',
      key: '/certs/key.pem',
      verify: true,
    });
  });

  it('tells which engine the settings select', () => {
    const entries = listEngines({
      custom: [],
      env: {},
      home: '/nonexistent',
      vmHost: 'unix:///vm.sock',
      exists: () => false,
    });
    assert.equal(currentEngine(entries, '', false)?.kind, 'berth');
    assert.equal(currentEngine(entries, '', true)?.kind, 'berth-vm');
    const adHoc = currentEngine(entries, 'unix:///tmp/x.sock', false)!;
    assert.deepEqual([adHoc.kind, adHoc.name], ['custom', 'unix:///tmp/x.sock']);
  });

  it('validates engine addresses', () => {
    for (const h of [
      'unix:///run/x.sock',
      '/run/x.sock',
      'tcp://h:2376',
      'ssh://me@h',
      'ssh://h:2222/run/berth/berth.sock',
    ])
      assert.equal(validateHost(h), undefined, h);
    for (const h of ['h:2376', 'ftp://h', 'tcp://h:2376/x', 'ssh://']) assert.ok(validateHost(h), h);
  });

  it("builds OpenSSH's forward of the remote socket", () => {
    assert.deepEqual(parseSshHost('ssh://me@box:2222/run/berth/berth.sock'), {
      user: 'me',
      host: 'box',
      port: 2222,
      socket: '/run/berth/berth.sock',
    });
    assert.equal(parseSshHost('ssh://box').socket, '/var/run/docker.sock');
    assert.deepEqual(sshTunnelArgs(parseSshHost('ssh://me@box:2222/r.sock'), '/tmp/l.sock'), [
      '-nNT',
      '-o',
      'ExitOnForwardFailure=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'ServerAliveInterval=30',
      '-o',
      'StreamLocalBindUnlink=yes',
      '-p',
      '2222',
      '-L',
      '/tmp/l.sock:/r.sock',
      'me@box',
    ]);
  });
});

describe('extension: an ssh:// engine through its tunnel', function () {
  this.timeout(60_000);
  let engine: TestEngine;
  let dir: string;
  before(async () => {
    engine = await startEngine();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ssh-'));
    // A stand-in for OpenSSH: `-L local:remote host` becomes a local socket piped to the remote path.
    fs.writeFileSync(
      path.join(dir, 'fake-ssh'),
      `#!${process.execPath}
const net = require('net');
const args = process.argv.slice(2);
const target = args[args.length - 1];
if (target.startsWith('denied')) { process.stderr.write('Permission denied (publickey).\\n'); process.exit(255); }
const [local, remote] = args[args.indexOf('-L') + 1].split(':');
net.createServer((c) => { const r = net.connect(remote); c.pipe(r).pipe(c); r.on('error', () => c.destroy()); c.on('error', () => r.destroy()); }).listen(local);
`,
      { mode: 0o755 },
    );
  });
  after(async () => {
    await engine?.cleanup();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('opens the tunnel, reaches the engine through it, and closes it', async () => {
    const remote = engine.host.replace(/^unix:\/\//, '');
    const tunnel = new SshTunnel(`ssh://me@box${remote}`, path.join(dir, 'fake-ssh'), path.join(dir, 'socks'));
    try {
      const local = await tunnel.start();
      assert.equal(local, `unix://${tunnel.localSocket}`);
      assert.equal(await tunnel.start(), local, 'one tunnel per engine');
      const client = new EngineClient(local);
      assert.equal(await client.ping(), 'OK');
      assert.ok((await client.version()).ApiVersion);
      await client.close();
    } finally {
      tunnel.dispose();
    }
    assert.ok(!fs.existsSync(tunnel.localSocket));
  });

  it("reports ssh's own error when the tunnel cannot be made", async () => {
    const tunnel = new SshTunnel('ssh://denied@box', path.join(dir, 'fake-ssh'), path.join(dir, 'socks'));
    await assert.rejects(tunnel.start(), /ssh to box ended: Permission denied \(publickey\)/);
  });
});

describe('extension: a tcp:// engine with TLS from a docker context', function () {
  this.timeout(60_000);

  it("reaches berthd over TLS with the context's certificates, and is refused without them", async () => {
    const tls = makeTlsMaterial();
    const port = await freePort();
    const engine = await startEngine({
      args: [
        '-H',
        `tcp://127.0.0.1:${port}`,
        '--tlsverify',
        '--tlscacert',
        tls.ca,
        '--tlscert',
        tls.serverCert,
        '--tlskey',
        tls.serverKey,
      ],
    });
    const docker = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ctx-'));
    try {
      const host = `tcp://127.0.0.1:${port}`;
      const hash = crypto.createHash('sha256').update('secure').digest('hex');
      fs.mkdirSync(path.join(docker, 'contexts/meta', hash), { recursive: true });
      fs.writeFileSync(
        path.join(docker, 'contexts/meta', hash, 'meta.json'),
        JSON.stringify({ Name: 'secure', Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: false } } }),
      );
      const tlsDir = path.join(docker, 'contexts/tls', hash, 'docker');
      fs.mkdirSync(tlsDir, { recursive: true });
      fs.copyFileSync(tls.ca, path.join(tlsDir, 'ca.pem'));
      fs.copyFileSync(tls.clientCert, path.join(tlsDir, 'cert.pem'));
      fs.copyFileSync(tls.clientKey, path.join(tlsDir, 'key.pem'));
      const entry = listEngines({
        custom: [],
        env: { DOCKER_CONFIG: docker },
        home: '/nonexistent',
        vmHost: '',
        exists: () => false,
      }).find((e) => e.name === 'secure')!;
      const client = new EngineClient({ host: entry.host, tls: readTls(entry.tls) });
      assert.equal((await client.version()).Platform.Name, 'Berth Engine');
      await client.close();
      const without = new EngineClient({ host, tls: { ca: fs.readFileSync(tls.ca), verify: true } });
      await assert.rejects(without.version());
      await without.close();
    } finally {
      await engine.cleanup();
      fs.rmSync(docker, { recursive: true, force: true });
      fs.rmSync(tls.dir, { recursive: true, force: true });
    }
  });
});
