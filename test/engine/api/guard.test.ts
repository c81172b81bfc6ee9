// What the API refuses before any route runs (cross-site requests, rebound Hosts, JSON under another Content-Type),
// the TLS rules of TCP listeners, their timeouts, and the unix socket's birth (its mode) and death (only ours).
import * as assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkForJson,
  claimSocketPath,
  HostNames,
  listenUnix,
  removeUnixSocket,
  tcpTlsOptions,
} from '../../../src/engine/api/guard';
import { Router } from '../../../src/engine/api/router';
import { listen } from '../../../src/engine/api/server';
import { ENGINE_JS, startEngine, type TestEngine } from '../../helpers/engine';
import { makeTlsMaterial } from '../../helpers/tls';

function rawRequest(
  target: { socketPath: string } | { host: string; port: number },
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { ...target, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers, setHost: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const fakeReq = (headers: Record<string, string>) => ({ headers }) as unknown as http.IncomingMessage;

describe('API guard', () => {
  describe('Host names', () => {
    const names = new HostNames();
    for (const ok of [
      'api.moby.localhost', // the docker CLI since 23
      'docker', // the docker CLI before 23
      'localhost', // docker-py, docker-compose 1.x, dockerode, undici
      'localhost:2375',
      'd',
      '127.0.0.1:2375',
      '[::1]:2375',
      '10.0.2.2',
      os.hostname(),
    ]) {
      it(`lets ${ok} in`, () => assert.equal(names.allows(ok), true));
    }
    for (const bad of ['evil.example.com', 'evil.example.com:2375', '127.0.0.1.nip.io:2375', 'a.b', '[::1', 'x:y:z']) {
      it(`refuses ${bad}`, () => assert.equal(names.allows(bad), false));
    }
    it("lets a TLS listener's certificate names in", () => {
      const tls = makeTlsMaterial();
      try {
        fs.writeFileSync(
          path.join(tls.dir, 'named.ext'),
          'subjectAltName=DNS:engine.example.org,DNS:*.lab.example.org\n',
        );
        spawnSync('openssl', [
          'x509',
          '-req',
          '-in',
          path.join(tls.dir, 'server.csr'),
          '-CA',
          tls.ca,
          '-CAkey',
          tls.caKey,
          '-CAcreateserial',
          '-out',
          path.join(tls.dir, 'named.pem'),
          '-days',
          '1',
          '-extfile',
          path.join(tls.dir, 'named.ext'),
        ]);
        const withCert = new HostNames('0.0.0.0', fs.readFileSync(path.join(tls.dir, 'named.pem')));
        assert.equal(withCert.allows('engine.example.org:2376'), true);
        assert.equal(withCert.allows('box.lab.example.org:2376'), true);
        assert.equal(withCert.allows('evil.example.org:2376'), false);
      } finally {
        fs.rmSync(tls.dir, { recursive: true, force: true });
      }
    });
  });

  describe("moby's CheckForJSON", () => {
    it('lets JSON and a bodiless request without Content-Type through', () => {
      checkForJson(fakeReq({ 'content-type': 'application/json', 'content-length': '2' }));
      checkForJson(fakeReq({ 'content-type': 'application/json; charset=utf-8', 'transfer-encoding': 'chunked' }));
      checkForJson(fakeReq({}));
      checkForJson(fakeReq({ 'content-length': '0' }));
    });
    it("refuses a body under another type with dockerd's words", () => {
      assert.throws(() => checkForJson(fakeReq({ 'content-type': 'text/plain', 'content-length': '2' })), {
        status: 400,
        message: "unsupported Content-Type header (text/plain): must be 'application/json'",
      });
      assert.throws(() => checkForJson(fakeReq({ 'content-length': '2' })), {
        status: 400,
        message: 'malformed Content-Type header (): mime: no media type',
      });
      assert.throws(() => checkForJson(fakeReq({ 'content-type': 'json', 'transfer-encoding': 'chunked' })), {
        status: 400,
        message: 'malformed Content-Type header (json): mime: expected slash after first token',
      });
    });
  });

  describe('TLS rules', () => {
    const certs = { cert: '/nonexistent/cert.pem', key: '/nonexistent/key.pem' };
    it('--tlsverify without --tlscacert never falls back to public CAs', () => {
      assert.throws(
        () => tcpTlsOptions('tcp://0.0.0.0:2376', '0.0.0.0', { verify: true, ...certs }),
        /needs --tlscacert/,
      );
    });
    it('TLS without a certificate is an error, not plain HTTP', () => {
      assert.throws(
        () => tcpTlsOptions('tcp://127.0.0.1:2376', '127.0.0.1', { verify: true, ca: '/x/ca.pem' }),
        /will not fall back to plain HTTP/,
      );
    });
    it('--tls without --tlsverify is refused on a non-loopback address', () => {
      assert.throws(
        () => tcpTlsOptions('tcp://0.0.0.0:2376', '0.0.0.0', { verify: false, ...certs }),
        /with --tls but without --tlsverify/,
      );
    });
    it('plain HTTP only on loopback', () => {
      assert.equal(tcpTlsOptions('tcp://127.0.0.1:2375', '127.0.0.1', undefined), undefined);
      assert.throws(() => tcpTlsOptions('tcp://10.1.2.3:2375', '10.1.2.3', undefined), /without TLS/);
    });
    it('berthd does not start with --tlsverify but no certificates', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-guard-'));
      fs.writeFileSync(`${dir}/daemon.json`, '{}');
      try {
        const r = spawnSync(
          process.execPath,
          [
            ENGINE_JS,
            '-H',
            'tcp://127.0.0.1:23761',
            '--tlsverify',
            '--data-root',
            `${dir}/data`,
            '--exec-root',
            `${dir}/exec`,
            '--config-file',
            `${dir}/daemon.json`,
          ],
          { encoding: 'utf8', timeout: 15_000 },
        );
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, /will not fall back to plain HTTP/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('the unix socket', () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-sock-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('exists with mode 0660 from the moment it listens (no chmod after)', async () => {
      const p = path.join(dir, 'api.sock');
      const umask = process.umask();
      const server = net.createServer();
      let modeAtBirth = -1;
      // 'listening' comes before anything listenUnix does after bind: the mode a racing client would meet.
      server.once('listening', () => {
        modeAtBirth = fs.statSync(p).mode & 0o777;
      });
      await listenUnix(server, p, 0o660);
      try {
        assert.equal(modeAtBirth, 0o660);
        assert.equal(process.umask(), umask, 'the umask is restored');
      } finally {
        server.close();
        removeUnixSocket(p);
      }
      assert.equal(fs.existsSync(p), false, 'its own socket is removed');
    });

    it("a socket group's members reach the socket in a 0700 folder, others do not (berthd --group)", async () => {
      fs.chmodSync(dir, 0o755);
      const folder = path.join(dir, 'exec');
      fs.mkdirSync(folder, { mode: 0o700 });
      const p = path.join(folder, 'api.sock');
      const gid = 65534;
      const server = net.createServer((c) => c.end('hello\n'));
      await listenUnix(server, p, 0o660, gid);
      // Asynchronously: the server answers from this process's event loop.
      const connectAs = (groups: string) =>
        new Promise<string>((resolve) => {
          const code = `require('net').connect(${JSON.stringify(p)}).on('data', (d) => process.stdout.write(d)).on('error', (e) => console.log(e.code))`;
          execFile(
            'setpriv',
            ['--reuid=4242', '--regid=4242', `--groups=${groups}`, '--', process.execPath, '-e', code],
            (_err, stdout) => resolve(stdout.trim()),
          );
        });
      try {
        const st = fs.statSync(folder);
        assert.equal(st.mode & 0o777, 0o710);
        assert.equal(st.gid, gid);
        assert.equal(await connectAs(String(gid)), 'hello');
        assert.equal(await connectAs('4242'), 'EACCES');
      } finally {
        server.close();
        removeUnixSocket(p);
      }
    });

    it('never deletes a file that is not a socket', async () => {
      const p = path.join(dir, 'api.sock');
      fs.writeFileSync(p, 'precious');
      await assert.rejects(claimSocketPath(p), /is not a socket: refusing to replace it/);
      await assert.rejects(listen(new Router(), { hosts: [`unix://${p}`] }), /is not a socket/);
      assert.equal(fs.readFileSync(p, 'utf8'), 'precious');
    });

    it('never deletes a dead socket of another program, and replaces its own after a crash', async () => {
      const p = path.join(dir, 'api.sock');
      // A socket bound and left behind by someone else (bind without listen: nothing answers).
      const py = spawnSync('python3', [
        '-c',
        `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(p)})`,
      ]);
      assert.equal(py.status, 0, String(py.stderr));
      await assert.rejects(claimSocketPath(p), /a socket berthd did not make/);
      assert.ok(fs.lstatSync(p).isSocket(), 'still there');
      fs.rmSync(p);

      // Ours, left behind by a kill -9: the next start takes the path over.
      const engine = await startEngine({ args: ['-H', `unix://${p}`] });
      try {
        await engine.kill9();
        assert.ok(fs.lstatSync(p).isSocket(), 'the crash left the socket');
        await engine.restart();
        const r = await rawRequest({ socketPath: p }, { path: '/_ping', headers: { Host: 'localhost' } });
        assert.equal(r.status, 200);
      } finally {
        await engine.cleanup();
      }
    });

    it('refuses a socket something still answers on', async () => {
      const p = path.join(dir, 'api.sock');
      const other = net.createServer().listen(p);
      await new Promise((r) => other.once('listening', r));
      try {
        await assert.rejects(claimSocketPath(p), /in use by another daemon/);
      } finally {
        other.close();
      }
    });
  });

  describe('TCP timeouts', () => {
    it('an idle keep-alive connection is closed after a few seconds', async function () {
      this.timeout(20_000);
      const router = new Router();
      router.get('/_ping', (ctx) => ctx.send(200, 'OK'));
      const server = await listen(router, { hosts: ['tcp://127.0.0.1:0'] });
      try {
        const port = Number(server.addresses()[0].split(':').pop());
        const s = net.connect(port, '127.0.0.1');
        const started = Date.now();
        s.write('GET /_ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
        s.resume();
        await new Promise((r) => s.once('close', r));
        const idle = Date.now() - started;
        assert.ok(idle < 15_000, `closed after ${idle} ms`);
      } finally {
        await server.close(0);
      }
    });
    it('a client that never finishes its headers is cut', async function () {
      this.timeout(30_000);
      const server = await listen(new Router(), { hosts: ['tcp://127.0.0.1:0'], tcpTimeouts: { headersMs: 1000 } });
      try {
        const port = Number(server.addresses()[0].split(':').pop());
        const s = net.connect(port, '127.0.0.1');
        const started = Date.now();
        s.write('GET /_ping HTTP/1.1\r\nHost: 127.0.0.1\r\n');
        const timer = setInterval(() => s.write('X-Slow: 1\r\n'), 200);
        s.resume();
        s.on('error', () => {});
        await new Promise((r) => s.once('close', r));
        clearInterval(timer);
        // Cut near the bound (1 s, checked every 250 ms), not after node's default 30 s check interval.
        assert.ok(Date.now() - started < 15_000, `cut after ${Date.now() - started} ms`);
      } finally {
        await server.close(0);
      }
    });
  });

  describe('a running engine', () => {
    let engine: TestEngine;
    before(async () => {
      engine = await startEngine();
    });
    after(async () => engine?.cleanup());

    it('answers a request with an Origin header with 403', async () => {
      const r = await rawRequest(
        { socketPath: engine.socket },
        { path: '/containers/json', headers: { Host: 'localhost', Origin: 'http://evil.example.com' } },
      );
      assert.equal(r.status, 403);
      assert.match(JSON.parse(r.body).message, /Origin header/);
    });

    it('answers a rebound Host with 403 and the names real clients send with 200', async () => {
      const bad = await rawRequest(
        { socketPath: engine.socket },
        { path: '/_ping', headers: { Host: 'evil.example.com:2375' } },
      );
      assert.equal(bad.status, 403);
      for (const host of ['api.moby.localhost', 'docker', 'localhost', 'd']) {
        const ok = await rawRequest({ socketPath: engine.socket }, { path: '/_ping', headers: { Host: host } });
        assert.equal(ok.status, 200, host);
      }
    });

    it('refuses a create whose JSON body is sent as text/plain, and creates nothing', async () => {
      const body = JSON.stringify({ Image: 'busybox', HostConfig: { Privileged: true } });
      const r = await rawRequest(
        { socketPath: engine.socket },
        {
          method: 'POST',
          path: '/v1.45/containers/create?name=from-a-web-page',
          headers: { Host: 'localhost', 'Content-Type': 'text/plain', 'Content-Length': String(body.length) },
          body,
        },
      );
      assert.equal(r.status, 400);
      assert.equal(
        JSON.parse(r.body).message,
        "unsupported Content-Type header (text/plain): must be 'application/json'",
      );
      const list = await engine.client.json('GET', '/containers/json', { query: { all: '1' } });
      assert.ok(!list.some((c: any) => c.Names.includes('/from-a-web-page')));
    });
  });
});
