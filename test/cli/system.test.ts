// berth version/info/events/inspect and the CLI's plumbing (-H, BERTH_HOST, DOCKER_HOST, exit codes) against a
// live berthd, compared with what the docker CLI prints for the same engine.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeTlsMaterial } from '../helpers/tls';
import { dockerCliComparable, startEngine, type TestEngine } from '../helpers/engine';
import { berth, CLI_JS } from '../helpers/cli';

describe('berth CLI: system commands', function () {
  let engine: TestEngine;
  before(async () => {
    engine = await startEngine({ config: { 'registry-mirrors': ['http://127.0.0.1:5999'] } });
  });
  after(async () => engine?.cleanup());

  it('version shows the client and the Berth engine like docker version', () => {
    const r = berth(engine, ['version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Client: Berth\n Version: {11}\d+\.\d+\.\d+\n API version: {7}1\.45\n/);
    assert.match(
      r.stdout,
      /\nServer: Berth Engine\n Engine:\n  Version: {10}\S+\n  API version: {6}1\.45 \(minimum version 1\.24\)\n/,
    );
    const fmt = '{{.Server.Version}} {{.Server.APIVersion}} {{.Server.Os}}/{{.Server.Arch}}';
    const mine = berth(engine, ['version', '--format', fmt]);
    assert.equal(mine.code, 0, mine.stderr);
    if (dockerCliComparable()) assert.equal(mine.stdout, engine.docker(['version', '--format', fmt]).stdout);
    else assert.match(mine.stdout, /^\S+ 1\.45 linux\/\w+\n$/);
  });

  it('info prints the engine facts and --format reads the raw /info', () => {
    const r = berth(engine, ['info']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\n Storage Driver: overlay2\n/);
    assert.match(r.stdout, new RegExp(`\\n Docker Root Dir: ${engine.dataRoot}\\n`));
    assert.match(r.stdout, /\n Registry Mirrors:\n  http:\/\/127\.0\.0\.1:5999\/\n/);
    const fmt = '{{json .RegistryConfig.Mirrors}} {{.Driver}} {{.NCPU}}';
    const mine = berth(engine, ['info', '--format', fmt]);
    assert.equal(
      mine.stdout,
      `["http://127.0.0.1:5999/"] overlay2 ${JSON.parse(berth(engine, ['info', '--format', '{{json .}}']).stdout).NCPU}\n`,
    );
    if (dockerCliComparable()) assert.equal(mine.stdout, engine.docker(['info', '--format', fmt]).stdout);
  });

  it("events replays history in docker's line format (same as docker events)", async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    engine.process().kill('SIGHUP');
    // Until the reload shows up (SIGHUP is handled when the engine gets to it), then up to that moment.
    let until = '';
    let r = { code: -1, stdout: '', stderr: '' };
    for (const deadline = Date.now() + 10_000; !/ daemon reload /.test(r.stdout); ) {
      assert.ok(Date.now() < deadline, `no reload event: ${r.stdout}`);
      until = (Date.now() / 1000).toFixed(3);
      r = berth(engine, ['events', '--since', since, '--until', until]);
    }
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) daemon reload \S+ \(.*name=.*\)\n/m,
    );
    if (dockerCliComparable())
      assert.equal(r.stdout, engine.docker(['events', '--since', since, '--until', until]).stdout);
    const f = berth(engine, [
      'events',
      '--since',
      since,
      '--until',
      until,
      '--filter',
      'type=daemon',
      '--format',
      '{{.Type}}/{{.Action}}',
    ]);
    assert.match(f.stdout, /^daemon\/reload\n/);
  });

  it('inspect of an unknown name fails like docker (exit 1, "No such object")', () => {
    const r = berth(engine, ['inspect', 'no-such-thing']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '[]\n');
    assert.equal(r.stderr, 'Error: No such object: no-such-thing\n');
    if (dockerCliComparable()) {
      const d = engine.docker(['inspect', 'no-such-thing']);
      assert.equal(d.code, r.code);
      assert.equal(d.stderr, r.stderr);
    }
  });

  it('finds the engine through -H, BERTH_HOST and DOCKER_HOST, in that order', () => {
    const run = (args: string[], env: Record<string, string>) => {
      const e: NodeJS.ProcessEnv = { ...process.env };
      delete e.BERTH_HOST;
      delete e.DOCKER_HOST;
      return spawnSync(process.execPath, [CLI_JS, ...args], { env: { ...e, ...env }, encoding: 'utf8' });
    };
    const fmt = ['version', '--format', '{{.Server.Platform.Name}}'];
    assert.equal(run(fmt, { BERTH_HOST: engine.host }).stdout, 'Berth Engine\n');
    assert.equal(run(fmt, { DOCKER_HOST: engine.host }).stdout, 'Berth Engine\n');
    assert.equal(
      run(fmt, { BERTH_HOST: engine.host, DOCKER_HOST: 'unix:///nonexistent.sock' }).stdout,
      'Berth Engine\n',
    );
    const bad = run(['-H', 'unix:///nonexistent.sock', ...fmt], { BERTH_HOST: engine.host });
    assert.equal(bad.status, 1);
    assert.match(
      bad.stderr,
      /Cannot connect to the Berth engine at unix:\/\/\/nonexistent\.sock\. Is the engine running\?/,
    );
  });

  it('exits 125 on usage errors and 0 for --help', () => {
    const r = berth(engine, ['ps', '--bogus']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /unknown option '--bogus'/);
    assert.equal(berth(engine, ['run', '--help']).code, 0);
  });

  it("talks TLS to a tcp:// engine with docker's --tlsverify flags and DOCKER_CERT_PATH", async () => {
    const tls = makeTlsMaterial();
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const tlsEngine = await startEngine({
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
    const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-certs-'));
    try {
      const host = `tcp://127.0.0.1:${port}`;
      const fmt = ['version', '--format', '{{.Server.Platform.Name}}'];
      const flags = berth(host, [
        '--tlsverify',
        '--tlscacert',
        tls.ca,
        '--tlscert',
        tls.clientCert,
        '--tlskey',
        tls.clientKey,
        ...fmt,
      ]);
      assert.deepEqual(flags, { code: 0, stdout: 'Berth Engine\n', stderr: '' });
      fs.copyFileSync(tls.ca, path.join(certDir, 'ca.pem'));
      fs.copyFileSync(tls.clientCert, path.join(certDir, 'cert.pem'));
      fs.copyFileSync(tls.clientKey, path.join(certDir, 'key.pem'));
      const env = berth(host, fmt, { env: { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certDir } });
      assert.deepEqual(env, { code: 0, stdout: 'Berth Engine\n', stderr: '' });
      // Without a client certificate the engine refuses the connection.
      const refused = berth(host, ['--tlsverify', '--tlscacert', tls.ca, ...fmt]);
      assert.equal(refused.code, 1);
      assert.doesNotMatch(refused.stdout, /Berth Engine/);
      assert.notEqual(refused.stderr, '');
    } finally {
      await tlsEngine.cleanup();
      fs.rmSync(tls.dir, { recursive: true, force: true });
      fs.rmSync(certDir, { recursive: true, force: true });
    }
  });
});
