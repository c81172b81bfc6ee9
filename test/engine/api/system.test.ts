import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { ENGINE_JS, requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';
import { makeTlsMaterial } from '../../helpers/tls';

function curl(socket: string, args: string[]): { code: number; out: string } {
  const r = spawnSync('curl', ['-sS', '--unix-socket', socket, '-o', '-', '-w', '\n%{http_code}', ...args], {
    encoding: 'utf8',
  });
  const lines = r.stdout.trimEnd().split('\n');
  return { code: Number(lines.pop()), out: lines.join('\n') };
}

describe('engine API: system', function () {
  let engine: TestEngine;
  before(async () => {
    engine = await startEngine({
      config: {
        'registry-mirrors': ['http://127.0.0.1:5999'],
        'insecure-registries': ['10.99.0.0/16', 'myreg.local:5000'],
      },
    });
  });
  after(async () => engine?.cleanup());

  it('answers /_ping (GET and HEAD) with Docker headers', () => {
    const r = spawnSync('curl', ['-sS', '-i', '--unix-socket', engine.socket, 'http://d/_ping'], { encoding: 'utf8' });
    assert.match(r.stdout, /^HTTP\/1.1 200/);
    assert.match(r.stdout, /Api-Version: 1\.45/i);
    assert.match(r.stdout, /Ostype: linux/i);
    assert.match(r.stdout, /\r\n\r\nOK$/);
    const h = spawnSync('curl', ['-sS', '-I', '--unix-socket', engine.socket, 'http://d/v1.40/_ping'], {
      encoding: 'utf8',
    });
    assert.match(h.stdout, /^HTTP\/1.1 200/);
  });

  it('serves /version on versioned and unversioned paths (curl)', () => {
    for (const p of ['/version', '/v1.24/version', '/v1.45/version']) {
      const r = curl(engine.socket, [`http://docker${p}`]);
      assert.equal(r.code, 200, p);
      const v = JSON.parse(r.out);
      assert.equal(v.Platform.Name, 'Berth Engine');
      assert.equal(v.ApiVersion, '1.45');
      assert.equal(v.MinAPIVersion, '1.24');
      assert.equal(v.Os, 'linux');
      assert.equal(v.GoVersion, `node ${process.version}`);
      assert.deepEqual(v.Components.map((c: any) => c.Name).slice(0, 1), ['Engine']);
    }
  });

  it('rejects API versions newer than 1.45 and older than 1.24 like dockerd', () => {
    const hi = curl(engine.socket, ['http://d/v1.46/version']);
    assert.equal(hi.code, 400);
    assert.equal(JSON.parse(hi.out).message, 'client version 1.46 is too new. Maximum supported API version is 1.45');
    const lo = curl(engine.socket, ['http://d/v1.12/version']);
    assert.equal(lo.code, 400);
    assert.match(JSON.parse(lo.out).message, /client version 1.12 is too old/);
  });

  it('answers unknown routes with 404 and a Docker error body', () => {
    const r = curl(engine.socket, ['http://d/v1.45/nope/nothing']);
    assert.equal(r.code, 404);
    assert.deepEqual(JSON.parse(r.out), { message: 'page not found' });
    const m = curl(engine.socket, ['-X', 'DELETE', 'http://d/version']);
    assert.equal(m.code, 404);
  });

  it('reports registry mirrors and insecure registries in /info', async () => {
    const info = await engine.client.info();
    assert.deepEqual(info.RegistryConfig.Mirrors, ['http://127.0.0.1:5999/']);
    assert.deepEqual(info.RegistryConfig.InsecureRegistryCIDRs, ['127.0.0.0/8', '10.99.0.0/16']);
    assert.equal(info.RegistryConfig.IndexConfigs['myreg.local:5000'].Secure, false);
    assert.equal(info.Driver, 'overlay2');
    assert.equal(info.DefaultRuntime, 'runc');
    assert.equal(info.DockerRootDir, engine.dataRoot);
    assert.match(info.CgroupVersion, /^[12]$/);
    assert.equal(typeof info.NCPU, 'number');
  });

  it('streams /events and replays history with since/until', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    // SIGHUP makes a daemon "reload" event; reading it back proves the stream and the filters.
    engine.process().kill('SIGHUP');
    const deadline = Date.now() + 5000;
    let events: any[] = [];
    while (Date.now() < deadline && events.length === 0) {
      await new Promise((r) => setTimeout(r, 100));
      const until = String(Math.floor(Date.now() / 1000) + 1);
      events = [];
      for await (const e of engine.client.events({ since: String(since), until, filters: { type: ['daemon'] } }))
        events.push(e);
    }
    assert.ok(events.length >= 1, 'a reload event');
    assert.equal(events[0].Type, 'daemon');
    assert.equal(events[0].Action, 'reload');
    assert.equal(events[0].scope, 'local');
    assert.equal(typeof events[0].timeNano, 'number');
    assert.ok(events[0].Actor.Attributes['registry-mirrors'].includes('127.0.0.1:5999'));
  });

  it('reloads registry mirrors on SIGHUP', async () => {
    // An engine of its own: the others' tests see the configuration they started with.
    const reloaded = await startEngine({ config: { 'registry-mirrors': ['http://127.0.0.1:5999'] } });
    try {
      fs.writeFileSync(
        reloaded.configFile,
        JSON.stringify({ 'registry-mirrors': ['http://127.0.0.1:5888'], 'insecure-registries': [] }),
      );
      reloaded.process().kill('SIGHUP');
      const deadline = Date.now() + 5000;
      let mirrors: string[] = [];
      while (Date.now() < deadline) {
        mirrors = (await reloaded.client.info()).RegistryConfig.Mirrors;
        if (mirrors[0] === 'http://127.0.0.1:5888/') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(mirrors, ['http://127.0.0.1:5888/']);
    } finally {
      await reloaded.cleanup();
    }
  });

  it('rejects malformed filters with 400', () => {
    const r = curl(engine.socket, ['http://d/events?filters=%7Bnot-json']);
    assert.equal(r.code, 400);
    assert.match(JSON.parse(r.out).message, /invalid filter/);
    const k = curl(engine.socket, ['http://d/events?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D']);
    assert.equal(k.code, 400);
    assert.equal(JSON.parse(k.out).message, "invalid filter 'bogus'");
  });

  it('refuses a second daemon on the same data root', () => {
    const r = spawnSync(
      process.execPath,
      [
        ENGINE_JS,
        '-H',
        `unix://${engine.dir}/other.sock`,
        '--data-root',
        engine.dataRoot,
        '--exec-root',
        `${engine.dir}/exec2`,
        '--config-file',
        engine.configFile,
      ],
      { encoding: 'utf8', timeout: 10000 },
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /another berthd \(pid \d+\) is already using data root/);
  });

  it('refuses plain TCP on a non-loopback address', () => {
    const r = spawnSync(
      process.execPath,
      [
        ENGINE_JS,
        '-H',
        'tcp://0.0.0.0:23750',
        '--data-root',
        `${engine.dir}/d3`,
        '--exec-root',
        `${engine.dir}/exec3`,
        '--config-file',
        engine.configFile,
      ],
      { encoding: 'utf8', timeout: 10000 },
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /refusing to listen on tcp:\/\/0\.0\.0\.0:23750 without TLS/);
  });

  it('creates the socket with mode 0660', () => {
    const st = fs.statSync(engine.socket);
    assert.equal(st.mode & 0o777, 0o660);
    assert.ok(st.isSocket());
  });

  describe('with the real docker CLI', function () {
    before(function () {
      requireDockerCli(this);
    });
    it('docker version shows Server: Berth Engine with API 1.45 negotiated', () => {
      const r = engine.docker(['version']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Server: Berth Engine/);
      assert.match(r.stdout, /API version:\s+1\.45 \(minimum version 1\.24\)/);
      // The client's line depends on the CLI: one made for an API newer than 1.45 (Docker 26+) negotiates down to
      // the engine's, an older one (Debian's 20.10: 1.41) keeps its own.
      const own = engine.docker(['version', '--format', '{{.Client.DefaultAPIVersion}}']).stdout.trim();
      assert.match(own, /^1\.\d+$/);
      const [major, minor] = own.split('.').map(Number);
      if (major === 1 && minor > 45)
        assert.match(r.stdout, new RegExp(`API version:\\s+1\\.45 \\(downgraded from ${own}\\)`));
      else assert.match(r.stdout, new RegExp(`Client:[\\s\\S]*API version:\\s+${own.replace('.', '\\.')}\\n`));
    });
    it('docker info shows the configured registry mirrors', () => {
      const r = engine.docker(['info']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Registry Mirrors:\n\s+http:\/\/127\.0\.0\.1:5999\//);
      assert.match(r.stdout, /Storage Driver: overlay2/);
      assert.match(r.stdout, /Default Runtime: runc/);
    });
    it('docker events streams daemon events', async () => {
      engine.process().kill('SIGHUP'); // a reload event of this test's own
      const deadline = Date.now() + 10_000;
      for (;;) {
        const r = await engine.dockerAsync([
          'events',
          '--filter',
          'type=daemon',
          '--format',
          '{{.Type}} {{.Action}}',
          '--since',
          '10m',
          '--until',
          '0s',
        ]);
        assert.equal(r.code, 0, r.stderr);
        if (/^daemon reload$/m.test(r.stdout)) break;
        assert.ok(Date.now() < deadline, `no reload event: ${r.stdout}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    });
  });
});

describe('engine: TCP with TLS', function () {
  it('serves https with --tlsverify and rejects clients without a certificate', async function () {
    const tls0 = makeTlsMaterial;
    const tls = tls0();
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
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
    try {
      const ok = spawnSync(
        'curl',
        [
          '-sS',
          '--cacert',
          tls.ca,
          '--cert',
          tls.clientCert,
          '--key',
          tls.clientKey,
          `https://127.0.0.1:${port}/version`,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(JSON.parse(ok.stdout).Platform.Name, 'Berth Engine');
      const bad = spawnSync('curl', ['-sS', '--cacert', tls.ca, `https://127.0.0.1:${port}/version`], {
        encoding: 'utf8',
      });
      assert.notEqual(bad.status, 0, 'a client without a certificate is refused');
    } finally {
      await engine.cleanup();
      fs.rmSync(tls.dir, { recursive: true, force: true });
    }
  });
});
