// The platform berthd finds and is told about (daemon.json exec-opts, runtimes, default-runtime,
// default-cgroupns-mode), seen through the docker CLI on this host (cgroup v1, no systemd): what /info says, what
// inspect shows, what a container sees of its cgroups, and dockerd's errors for bad settings and bad requests.
// The cgroup v2 side (private cgroupns by default, limits, the systemd driver, crun) runs in the VM guest:
// test/vm/cgroup2.test.ts.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type Registry, seedMirror, startRegistry } from '../../fixtures';
import { ENGINE_JS, requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';

/** berthd with this daemon.json, expected to refuse to start: its message. */
function refusal(config: Record<string, unknown>, env: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-platform-'));
  try {
    const file = path.join(dir, 'daemon.json');
    fs.writeFileSync(file, JSON.stringify(config));
    const r = spawnSync(
      process.execPath,
      [
        ENGINE_JS,
        '--config-file',
        file,
        '--data-root',
        path.join(dir, 'data'),
        '--exec-root',
        path.join(dir, 'exec'),
        '-H',
        `unix://${dir}/s.sock`,
      ],
      { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } },
    );
    assert.notEqual(r.status, 0, `berthd started with ${JSON.stringify(config)}`);
    return r.stderr;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('engine: platform (cgroup driver, cgroupns, runtimes) on this host', function () {
  this.timeout(120_000);
  let reg: Registry;
  let engine: TestEngine;
  const ok = (args: string[]) => {
    const r = engine.docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async function () {
    requireDockerCli(this);
    reg = await startRegistry();
    await seedMirror(reg);
    engine = await startEngine({
      config: {
        'registry-mirrors': [reg.url],
        runtimes: { 'runc-debug': { path: '/usr/sbin/runc', runtimeArgs: ['--debug'] } },
      },
    });
  });
  after(async () => {
    await engine?.cleanup();
    await reg?.stop();
  });

  it('reports the real cgroup version and driver, the runtimes and the default one in docker info', () => {
    const v1 = !fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
    const info = JSON.parse(ok(['info', '--format', '{{json .}}']));
    assert.equal(info.CgroupVersion, v1 ? '1' : '2');
    // No systemd on this host (or v1): Docker's default driver is cgroupfs.
    assert.equal(info.CgroupDriver, 'cgroupfs');
    assert.equal(info.DefaultRuntime, 'runc');
    assert.equal(info.Runtimes.runc.path, '/usr/sbin/runc');
    assert.deepEqual(info.Runtimes['runc-debug'], { path: '/usr/sbin/runc', runtimeArgs: ['--debug'] });
    assert.equal(info.SecurityOptions.includes('name=cgroupns'), !v1);
    assert.ok(info.SecurityOptions.includes('name=seccomp,profile=builtin'));
  });

  it('resolves CgroupnsMode and Runtime at create, as dockerd shows them in inspect', () => {
    ok(['create', '--name', 'plat-defaults', 'busybox', 'true']);
    try {
      const shown = ok(['inspect', '-f', '{{.HostConfig.CgroupnsMode}} {{.HostConfig.Runtime}}', 'plat-defaults']);
      const v1 = !fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
      assert.equal(shown.trim(), `${v1 ? 'host' : 'private'} runc`);
    } finally {
      ok(['rm', 'plat-defaults']);
    }
  });

  it('--cgroupns private: the container is the root of its own cgroup tree; host: it sees its path under /berth', () => {
    const priv = ok(['run', '--rm', '--cgroupns', 'private', 'busybox', 'cat', '/proc/self/cgroup']);
    for (const line of priv.trim().split('\n')) assert.match(line, /:\/$/, line);
    const id = ok(['create', '--cgroupns', 'host', 'busybox', 'cat', '/proc/self/cgroup']).trim();
    try {
      ok(['start', id]);
      ok(['wait', id]);
      const host = ok(['logs', id]);
      assert.match(host, new RegExp(`:/berth/${id}\\n`));
      assert.equal(ok(['inspect', '-f', '{{.HostConfig.CgroupnsMode}}', id]).trim(), 'host');
    } finally {
      ok(['rm', '-f', id]);
    }
  });

  it('runs a container on a runtime named in daemon.json (--runtime), with its runtimeArgs', () => {
    const id = ok(['run', '-d', '--runtime', 'runc-debug', 'busybox', 'sleep', '30']).trim();
    try {
      assert.equal(ok(['inspect', '-f', '{{.HostConfig.Runtime}}', id]).trim(), 'runc-debug');
      // Its state lives under the runtime's own root; exec and stop go through the same runtime.
      assert.ok(fs.existsSync(path.join(engine.execRoot, 'runc-debug', id)), 'state under exec-root/runc-debug');
      assert.equal(ok(['exec', id, 'echo', 'in']).trim(), 'in');
      ok(['pause', id]);
      assert.equal(ok(['inspect', '-f', '{{.State.Status}}', id]).trim(), 'paused');
      ok(['unpause', id]);
    } finally {
      ok(['rm', '-f', id]);
    }
    assert.equal(fs.existsSync(path.join(engine.execRoot, 'runc-debug', id)), false, 'runtime state removed');
  });

  it('refuses an unknown runtime, cgroupns mode or label option with dockerd’s words, creating nothing', () => {
    const before = ok(['ps', '-aq']);
    const bad = engine.docker(['create', '--runtime', 'nosuch', 'busybox', 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /unknown or invalid runtime name: nosuch/);
    // The CLI checks --cgroupns itself: the API is asked directly.
    const ns = spawnSync(
      'curl',
      [
        '-sS',
        '--unix-socket',
        engine.socket,
        '-H',
        'Content-Type: application/json',
        '-w',
        '\n%{http_code}',
        '-d',
        JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { CgroupnsMode: 'shared' } }),
        'http://d/v1.45/containers/create',
      ],
      { encoding: 'utf8' },
    ).stdout.split('\n');
    assert.equal(ns[1], '400');
    assert.equal(JSON.parse(ns[0]).message, 'invalid cgroup namespace mode: shared');
    const label = engine.docker(['create', '--security-opt', 'label=bogus:x', 'busybox', 'true']);
    assert.notEqual(label.code, 0);
    assert.match(label.stderr, /Bad label option "bogus"/);
    assert.equal(ok(['ps', '-aq']), before);
  });

  it('accepts label options where SELinux is off, and gives no labels', () => {
    const id = ok(['create', '--security-opt', 'label=type:spc_t', 'busybox', 'true']).trim();
    try {
      assert.equal(
        ok(['inspect', '-f', '{{.ProcessLabel}}|{{.MountLabel}}|{{.HostConfig.SecurityOpt}}', id]).trim(),
        '||[label=type:spc_t]',
      );
    } finally {
      ok(['rm', id]);
    }
  });

  it('default-runtime crun: containers are made for crun unless they ask for runc', async () => {
    const other = await startEngine({ config: { 'registry-mirrors': [reg.url], 'default-runtime': 'crun' } });
    try {
      const info = JSON.parse(other.docker(['info', '--format', '{{json .}}']).stdout);
      assert.equal(info.DefaultRuntime, 'crun');
      assert.equal(info.Runtimes.crun.path, '/usr/bin/crun');
      assert.equal(other.docker(['pull', '-q', 'busybox']).code, 0);
      const a = other.docker(['create', 'busybox', 'true']).stdout.trim();
      const b = other.docker(['create', '--runtime', 'runc', 'busybox', 'true']).stdout.trim();
      const shown = other.docker(['inspect', '-f', '{{.HostConfig.Runtime}}', a, b]).stdout.trim().split('\n');
      assert.deepEqual(shown, ['crun', 'runc']);
      // runc still runs containers here (crun refuses this host's hybrid cgroups; it runs in the VM guest's tests).
      assert.equal(other.docker(['start', '-a', b]).code, 0);
    } finally {
      await other.cleanup();
    }
  });

  it('refuses a data root whose file system has no d_type, in dockerd’s words', () => {
    // An xfs made with ftype=0 cannot be had here: the d_type probe is replaced by one that answers as on it.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-dtype-'));
    try {
      const probe = path.join(dir, 'probe');
      fs.writeFileSync(probe, '#!/bin/sh\necho false\n', { mode: 0o755 });
      const msg = refusal({}, { BERTH_DTYPE_HELPER: probe });
      assert.match(
        msg,
        /overlay2: the backing \S+ filesystem is formatted without d_type support, which leads to incorrect behavior\..* Running without d_type is not supported\./,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses bad exec-opts, runtimes and defaults in daemon.json at start, as dockerd', () => {
    assert.match(refusal({ 'exec-opts': ['native.cgroupdriver=lxc'] }), /native.cgroupdriver option lxc not supported/);
    assert.match(refusal({ 'exec-opts': ['bogus=1'] }), /unrecognized option: bogus/);
    // This host has no systemd: asking for its driver fails clearly instead of failing every container.
    assert.match(
      refusal({ 'exec-opts': ['native.cgroupdriver=systemd'] }),
      /systemd cgroup flag passed, but systemd support for managing cgroups is not available/,
    );
    assert.match(refusal({ runtimes: { runc: { path: '/bin/true' } } }), /runtime name 'runc' is reserved/);
    assert.match(refusal({ 'default-runtime': 'nosuch' }), /specified default runtime 'nosuch' does not exist/);
    assert.match(refusal({ 'default-cgroupns-mode': 'shared' }), /default cgroup namespace mode \(shared\) is invalid/);
  });
});
