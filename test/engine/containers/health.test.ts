// Healthchecks as dockerd runs them: --health-* flags and the image's HEALTHCHECK, State.Health with its log,
// health_status events, "(healthy)" in docker ps, health= filters, the start period, timeouts, --no-healthcheck,
// and what stopping and pausing do to the status.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { requireDockerCli } from '../../helpers/engine';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';

describe('containers: healthchecks', function () {
  this.timeout(180_000);
  let m: MirroredEngine;
  const health = (name: string) => JSON.parse(m.ok(['inspect', name]))[0].State.Health;
  const until = async (what: string, fn: () => boolean, ms = 30_000) => {
    const deadline = Date.now() + ms;
    while (!fn()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const run = (name: string, flags: string[], cmd = ['sleep', '600']) =>
    m.ok(['run', '-d', '--name', name, '--network', 'none', ...flags, 'busybox', ...cmd]).trim();

  before(async function () {
    requireDockerCli(this);
    m = await startMirroredEngine();
  });
  // Each test's containers go with it: the health= filters of one test must not meet another's (in any order).
  afterEach(() => {
    m?.engine.docker(['rm', '-f', 'waiting', 'ok', 'bad', 'restarted', 'late', 'timeout', 'img', 'none']);
  });
  after(async () => {
    await m?.cleanup();
  });

  it('a passing check: starting, then healthy, with its log, events, ps status and filters', async () => {
    const since = (Date.now() / 1000).toFixed(3);
    // the first probe comes one interval after the start: until then the container is starting
    run('waiting', ['--health-cmd', 'true', '--health-interval', '1h']);
    assert.deepEqual(health('waiting'), { Status: 'starting', FailingStreak: 0, Log: [] });
    assert.match(m.ok(['ps', '--filter', 'name=waiting', '--format', '{{.Status}}']), /^Up .* \(health: starting\)\n$/);
    assert.equal(m.ok(['ps', '--filter', 'health=starting', '--format', '{{.Names}}']), 'waiting\n');
    run('ok', ['--health-cmd', 'echo fine', '--health-interval', '200ms']);
    await until('healthy', () => health('ok').Status === 'healthy');
    const h = health('ok');
    assert.equal(h.FailingStreak, 0);
    assert.ok(h.Log.length >= 1 && h.Log.length <= 5);
    assert.deepEqual({ ExitCode: h.Log[0].ExitCode, Output: h.Log[0].Output }, { ExitCode: 0, Output: 'fine\n' });
    assert.ok(Date.parse(h.Log[0].End) >= Date.parse(h.Log[0].Start));
    assert.match(m.ok(['ps', '--filter', 'name=ok', '--format', '{{.Status}}']), /^Up .* \(healthy\)\n$/);
    assert.equal(m.ok(['ps', '-q', '--filter', 'health=healthy']).trim().length, 12);
    assert.equal(m.ok(['ps', '-q', '--filter', 'health=unhealthy']).trim(), '');
    const inspect = JSON.parse(m.ok(['inspect', 'ok']))[0];
    assert.deepEqual(inspect.Config.Healthcheck, { Test: ['CMD-SHELL', 'echo fine'], Interval: 200e6 });
    await until('five log entries', () => health('ok').Log.length === 5);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(health('ok').Log.length, 5, 'the log keeps the last five');
    const events = m.ok([
      'events',
      '--since',
      since,
      '--until',
      (Date.now() / 1000).toFixed(3),
      '--filter',
      'container=ok',
      '--format',
      '{{.Action}}',
    ]);
    const actions = events.trim().split('\n');
    assert.equal(actions.filter((a) => a.startsWith('health_status')).join(','), 'health_status: healthy');
    assert.ok(actions.includes('exec_create: /bin/sh -c echo fine'), events);
    assert.ok(actions.includes('exec_die'), events);
    const bad = m.engine.docker(['ps', '--filter', 'health=sick']);
    assert.match(bad.stderr, /Unrecognised filter value for health: sick/);
  });

  it('a failing check turns unhealthy after its retries; stop leaves it unhealthy, a start starts over', async () => {
    run('bad', ['--health-cmd', 'echo nope >&2; exit 1', '--health-interval', '200ms', '--health-retries', '2']);
    await until('unhealthy', () => health('bad').Status === 'unhealthy');
    const h = health('bad');
    assert.ok(h.FailingStreak >= 2);
    assert.deepEqual({ ExitCode: h.Log[0].ExitCode, Output: h.Log[0].Output }, { ExitCode: 1, Output: 'nope\n' });
    assert.match(m.ok(['ps', '--filter', 'name=bad', '--format', '{{.Status}}']), /\(unhealthy\)\n$/);
    m.ok(['stop', '-t', '0', 'bad']);
    assert.equal(health('bad').Status, 'unhealthy');
    // a start starts over (checked where no probe can run in between: the first is an hour away)
    run('restarted', ['--health-cmd', 'false', '--health-interval', '1h']);
    m.ok(['stop', '-t', '0', 'restarted']);
    assert.equal(health('restarted').Status, 'unhealthy', 'a stopped container is unhealthy, as in dockerd');
    m.ok(['start', 'restarted']);
    assert.deepEqual(health('restarted'), { Status: 'starting', FailingStreak: 0, Log: [] });
  });

  it('failures in the start period do not count until the first success', async () => {
    run('late', [
      '--health-cmd',
      'test -f /tmp/ready',
      '--health-interval',
      '200ms',
      '--health-retries',
      '1',
      '--health-start-period',
      '60s',
      '--health-start-interval',
      '200ms',
    ]);
    await until('three failed probes', () => (health('late').Log ?? []).length >= 3);
    assert.equal(health('late').Status, 'starting');
    assert.equal(health('late').FailingStreak, 0);
    m.ok(['exec', 'late', 'touch', '/tmp/ready']);
    await until('healthy', () => health('late').Status === 'healthy');
    m.ok(['exec', 'late', 'rm', '/tmp/ready']);
    await until('unhealthy once healthy before', () => health('late').Status === 'unhealthy');
  });

  it('a probe that outlives its timeout fails with dockerd’s message', async () => {
    run('timeout', ['--health-cmd', 'sleep 5', '--health-interval', '200ms', '--health-timeout', '300ms']);
    await until('a timed-out probe', () => (health('timeout').Log ?? []).length >= 1, 20_000);
    assert.deepEqual(
      { ExitCode: health('timeout').Log[0].ExitCode, Output: health('timeout').Log[0].Output },
      { ExitCode: -1, Output: 'Health check exceeded timeout (300ms)' },
    );
  });

  it("the image's HEALTHCHECK runs; --no-healthcheck and pausing turn it off", async () => {
    const r = m.engine.docker(['build', '-t', 'healthy-img', '-'], {
      env: { DOCKER_BUILDKIT: '0' },
      input: 'FROM busybox\nHEALTHCHECK --interval=200ms --retries=1 CMD ["true"]\nCMD ["sleep", "600"]\n',
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    m.ok(['run', '-d', '--name', 'img', '--network', 'none', 'healthy-img']);
    await until('healthy from the image', () => health('img').Status === 'healthy');
    assert.deepEqual(JSON.parse(m.ok(['inspect', 'img']))[0].Config.Healthcheck.Test, ['CMD', 'true']);
    m.ok(['pause', 'img']);
    assert.equal(health('img').Status, 'unhealthy');
    const n = health('img').Log.length;
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(health('img').Log.length, n, 'no probes while paused');
    m.ok(['unpause', 'img']);
    await until('healthy again', () => health('img').Status === 'healthy');
    m.ok(['run', '-d', '--name', 'none', '--network', 'none', '--no-healthcheck', 'healthy-img']);
    assert.equal(health('none'), undefined);
    // moby's merge: the image's durations stay beside the request's NONE
    assert.deepEqual(JSON.parse(m.ok(['inspect', 'none']))[0].Config.Healthcheck.Test, ['NONE']);
    assert.ok(m.ok(['ps', '--filter', 'health=none', '--format', '{{.Names}}']).includes('none\n'));
  });

  it('bad healthcheck settings are refused with dockerd’s words', () => {
    const body = JSON.stringify({ Image: 'busybox', Healthcheck: { Test: ['CMD', 'true'], Interval: 1000 } });
    const res = spawnSync(
      'curl',
      [
        '-s',
        '--unix-socket',
        m.engine.socket,
        '-H',
        'Content-Type: application/json',
        '-d',
        body,
        'http://d/containers/create',
      ],
      { encoding: 'utf8' },
    ).stdout;
    assert.equal(JSON.parse(res).message, 'Interval in Healthcheck cannot be less than 1ms');
    const cli = m.engine.docker(['run', '--no-healthcheck', '--health-cmd', 'true', 'busybox']);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /--no-healthcheck conflicts with --health-\* options/);
  });
});
