// SIGTERM with clients holding long-lived requests open: berthd must still exit within seconds, leave no socket,
// pidfile or data-root lock behind, and (live-restore) leave its containers running. A second signal means now.
import * as assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';
import { pushFixture, type Registry, startRegistry } from '../../fixtures';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A "registry" that accepts connections and never answers: a pull from it hangs for as long as the engine lets it. */
function startSilentRegistry(): Promise<{ host: string; connections(): number; close(): void }> {
  const held = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    held.add(s);
    s.on('error', () => {});
    s.on('close', () => held.delete(s));
  });
  return new Promise((resolve) =>
    srv.listen(0, '127.0.0.1', () =>
      resolve({
        host: `127.0.0.1:${(srv.address() as net.AddressInfo).port}`,
        connections: () => held.size,
        close: () => {
          for (const s of held) s.destroy();
          srv.close();
        },
      }),
    ),
  );
}

interface Held {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

function hold(engine: TestEngine, name: string, args: string[]): Held {
  const child = spawn('docker', args, {
    env: { ...process.env, DOCKER_HOST: engine.host, DOCKER_CONFIG: path.join(engine.dir, 'docker-config') },
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, exited };
}

/** Every unix-socket connection open to `socket` (from /proc/net/unix: the server side has the path). */
function connectionsTo(socket: string): number {
  return fs
    .readFileSync('/proc/net/unix', 'utf8')
    .split('\n')
    .filter((l) => l.endsWith(` ${socket}`) && / 03 /.test(l)).length;
}

async function until(what: string, fn: () => boolean, ms = 15000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function exitOf(engine: TestEngine): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const p = engine.process();
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve({ code: p.exitCode, signal: p.signalCode });
  return new Promise((resolve) => p.once('exit', (code, signal) => resolve({ code, signal })));
}

describe('engine: bounded shutdown', function () {
  this.timeout(180000);
  let reg: Registry;
  let silent: { host: string; connections(): number; close(): void };
  let engine: TestEngine | undefined;
  const held: Held[] = [];

  before(async function () {
    requireDockerCli(this);
    reg = await startRegistry();
    await pushFixture(reg, 'busybox', 'library/busybox');
    silent = await startSilentRegistry();
  });
  afterEach(async function () {
    for (const h of held.splice(0)) h.child.kill('SIGKILL');
    // A failed test may have left an engine that ignores SIGTERM: do not let cleanup wait for it.
    if (
      this.currentTest?.state === 'failed' &&
      engine?.process().exitCode === null &&
      engine.process().signalCode === null
    )
      await engine.kill9();
    await engine?.cleanup();
    engine = undefined;
  });
  after(async () => {
    silent?.close();
    await reg?.stop();
  });

  it('SIGTERM ends events, logs -f, wait, attach and a hanging pull, exits within 5 s and leaves containers running', async () => {
    const pidfile = path.join(fs.mkdtempSync('/tmp/berth-pid-'), 'berthd.pid');
    const withPid = (engine = await startEngine({
      config: { 'registry-mirrors': [reg.url] },
      args: ['--pidfile', pidfile],
    }));
    assert.equal(fs.readFileSync(pidfile, 'utf8'), String(withPid.process().pid));

    const run = withPid.docker([
      'run',
      '-d',
      '--name',
      'ctr',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'echo up; while true; do sleep 1; done',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    const before = connectionsTo(withPid.socket);
    held.push(
      hold(withPid, 'events', ['events']),
      hold(withPid, 'logs -f', ['logs', '-f', 'ctr']),
      hold(withPid, 'wait', ['wait', 'ctr']),
      hold(withPid, 'attach', ['attach', '--no-stdin', 'ctr']),
      hold(withPid, 'pull', ['pull', `${silent.host}/slow/image:latest`]),
    );
    // Every client is connected and waiting (the pull on the silent registry).
    await until('five open client connections', () => connectionsTo(withPid.socket) >= before + 5);
    await until('the pull waiting on the silent registry', () => silent.connections() > 0);
    for (const h of held) assert.equal(h.child.exitCode, null, `${h.name} is still running before the signal`);

    const t0 = Date.now();
    const exit = exitOf(withPid);
    withPid.process().kill('SIGTERM');
    const result = await Promise.race([exit, sleep(5000).then(() => undefined)]);
    const took = Date.now() - t0;
    assert.ok(result, `berthd still running 5 s after SIGTERM:\n${withPid.log().slice(-2000)}`);
    assert.deepEqual(result, { code: 0, signal: null }, withPid.log().slice(-2000));
    console.log(`      (berthd exited ${took} ms after SIGTERM with 5 clients attached)`);

    assert.ok(!fs.existsSync(withPid.socket), 'the socket is removed');
    assert.deepEqual(
      fs.readdirSync(path.dirname(withPid.socket)).filter((f) => f.includes(path.basename(withPid.socket))),
      [],
      'nothing of the socket is left beside it (its marker neither)',
    );
    assert.ok(!fs.existsSync(pidfile), 'the pidfile is removed');
    assert.ok(!fs.existsSync(path.join(withPid.dataRoot, 'berthd.lock')), 'the data-root lock is released');
    assert.match(withPid.log(), /Daemon shutdown complete/);
    // Every client was let go rather than left hanging on a dead connection.
    for (const h of held) {
      const code = await Promise.race([h.exited, sleep(5000).then(() => 'still running')]);
      assert.notEqual(code, 'still running', `${h.name} still waits after the engine exited`);
    }

    // live-restore (the default): the container kept running and the next engine finds it.
    await withPid.restart();
    const ps = withPid.docker(['inspect', '-f', '{{.State.Running}} {{.Id}}', 'ctr']);
    assert.equal(ps.stdout.trim(), `true ${id}`, ps.stderr);
    assert.equal(withPid.docker(['rm', '-f', 'ctr']).code, 0);
  });

  it('a second SIGTERM exits at once while the first is still stopping containers', async () => {
    const e = (engine = await startEngine({ config: { 'registry-mirrors': [reg.url], 'live-restore': false } }));
    // PID 1 ignores SIGTERM, so without live-restore the first signal waits out the stop timeout (30 s).
    const run = e.docker([
      'run',
      '-d',
      '--name',
      'stubborn',
      '--stop-timeout',
      '30',
      '--network',
      'none',
      'busybox',
      'sleep',
      '600',
    ]);
    assert.equal(run.code, 0, run.stderr);
    held.push(hold(e, 'events', ['events']));
    await until('the events client connected', () => connectionsTo(e.socket) >= 1);
    const exit = exitOf(e);
    e.process().kill('SIGTERM');
    // The API closes first (in-flight requests get a grace); then the engine waits for the container.
    await until('the engine to stop its containers', () => /Shutdown: containers/.test(e.log()));
    assert.equal(e.process().exitCode, null, 'the first signal is still stopping the container');
    const t0 = Date.now();
    e.process().kill('SIGTERM');
    const result = await Promise.race([exit, sleep(2000).then(() => undefined)]);
    assert.ok(result, 'berthd exits within 2 s of the second signal');
    assert.ok(Date.now() - t0 < 2000);
    assert.ok(!fs.existsSync(e.socket), 'the socket is removed');
    assert.ok(!fs.existsSync(path.join(e.dataRoot, 'berthd.lock')), 'the data-root lock is released');
  });
});
