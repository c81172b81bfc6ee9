// Rootless Berth end to end: an ordinary user (made by the test set-up) runs berthd, which re-executes itself in
// its own user, mount and network namespaces; pulls from the host's loopback registry, runs containers as root of
// that namespace with the image's ownership kept on the kernel's overlay, refuses limits it cannot apply, and
// leaves nothing behind. Its configuration is the user's ~/.config/berth/daemon.json (no --config-file).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type Registry, seedMirror, startRegistry } from '../../fixtures';
import { crunRefusal } from '../../../src/engine/host';
import { DOCKER_CLI, requireDeps } from '../../helpers/deps';
import { mountsUnder } from '../../helpers/engine';
import { eventually } from '../../helpers/net';
import {
  engineMounts,
  innerPid,
  namespaceHolders,
  namespaceOf,
  processesOf,
  ROOTLESS_TOOLS,
  type RootlessEngine,
  startRootlessEngine,
  stockTunDevice,
  testUser,
  type TestUser,
} from '../../helpers/rootless';

describe('rootless engine', function () {
  this.timeout(120_000);
  let reg: Registry;
  let user: TestUser;
  let engine: RootlessEngine;

  before(async function () {
    requireDeps(this, ROOTLESS_TOOLS, DOCKER_CLI);
    stockTunDevice();
    user = testUser('berth-rl-a', true);
    reg = await startRegistry();
    await seedMirror(reg);
    // No --config-file: the engine reads the user's ~/.config/berth/daemon.json, as a user's own engine does (the
    // mirror it names is how every pull below reaches the registry).
    engine = await startRootlessEngine(user, {
      config: { 'registry-mirrors': [reg.url], debug: true },
      configAt: 'default',
    });
  });
  after(async () => {
    await engine?.cleanup();
    await reg?.stop();
  });

  it('says it is rootless, listens on a 0600 socket of the user and keeps its data under $HOME', async () => {
    const info = JSON.parse(engine.docker(['info', '--format', '{{json .}}']).stdout);
    assert.ok(info.SecurityOptions.includes('name=rootless'), info.SecurityOptions);
    assert.equal(info.CgroupDriver, 'none');
    assert.equal(info.DockerRootDir, engine.dataRoot);
    assert.equal(info.LiveRestoreEnabled, false);
    // What ~/.config/berth/daemon.json says (the engine's defaults are no mirror and no debug).
    assert.equal(info.Debug, true);
    assert.deepEqual(info.RegistryConfig.Mirrors, [`${reg.url}/`]);
    const st = fs.statSync(engine.socket);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.uid, user.uid);
  });

  it('pulls from the host loopback registry and runs busybox as root of its namespace, owners kept', () => {
    const pull = engine.docker(['pull', 'busybox']);
    assert.equal(pull.code, 0, pull.stderr);
    const run = engine.docker(['run', '--rm', 'busybox', 'sh', '-c', 'id -u; stat -c %u:%g /home/app; echo ok > /x']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout.trim().split('\n'), ['0', '1000:1000']);
    // On the host, the image's user 1000 is the 1000th of the user's subordinate ids (root inside is the user).
    const snapshots = path.join(engine.dataRoot, 'snapshots');
    const homes = fs
      .readdirSync(snapshots)
      .map((d) => path.join(snapshots, d, 'fs', 'home', 'app'))
      .filter((p) => fs.existsSync(p));
    assert.ok(homes.length, 'the unpacked layer holds /home/app');
    assert.equal(fs.statSync(homes[0]).uid, 400000 + 999);
    assert.equal(fs.statSync(path.join(snapshots, fs.readdirSync(snapshots)[0])).uid, user.uid);
  });

  it('mounts containers’ roots with the kernel’s overlay inside the user namespace, not the fuse fallback', () => {
    const info = JSON.parse(engine.docker(['info', '--format', '{{json .}}']).stdout);
    assert.equal(info.Driver, 'overlay2');
    const status = Object.fromEntries(info.DriverStatus);
    assert.equal(status['Native Overlay Diff'], 'true');
    assert.equal(status['Kernel overlay'], undefined, 'no refusal recorded');
    const id = engine.docker(['run', '-d', 'busybox', 'sleep', '600']).stdout.trim();
    assert.ok(id, engine.log());
    try {
      const roots = engineMounts(engine, 'overlay').filter((l) => l.includes(id));
      assert.equal(roots.length, 1, `the container's root is a kernel overlay:\n${engineMounts(engine).join('\n')}`);
      assert.deepEqual(engineMounts(engine, 'fuse.fuse-overlayfs'), []);
      assert.ok(!processesOf(user).some((l) => /fuse-overlayfs/.test(l)), processesOf(user).join('\n'));
    } finally {
      engine.docker(['rm', '-f', id]);
    }
  });

  it('containers resolve through slirp4netns and cannot reach the host loopback the engine pulls from', () => {
    const port = new URL(reg.url).port;
    const r = engine.docker([
      'run',
      '--rm',
      'busybox',
      'sh',
      '-c',
      `grep nameserver /etc/resolv.conf; echo | nc -w 2 10.0.2.2 ${port} && echo reached || echo blocked`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'nameserver 10.0.2.3\nblocked\n');
  });

  it('refuses --memory and --cpus with the reason instead of ignoring them (cgroup v1 here)', () => {
    const r = engine.docker(['run', '--rm', '--memory', '64m', 'busybox', 'true']);
    assert.equal(r.code, 125, r.stderr);
    const reason =
      'resource limits need cgroup v2 with a delegated subtree (a systemd user session) when Berth runs rootless; ' +
      'this host has cgroup v1 (or hybrid), where an ordinary user cannot set limits';
    assert.equal(r.stderr.split('\n')[0], `docker: Error response from daemon: --memory: ${reason}`);
    const c = engine.docker(['create', '--cpus', '1', 'busybox', 'true']);
    assert.equal(c.code, 1, c.stderr); // docker create's exit code for a refused create
    assert.equal(c.stderr.trim(), `Error response from daemon: --cpus: ${reason}`);
    const info = JSON.parse(engine.docker(['info', '--format', '{{json .}}']).stdout);
    assert.ok(info.Warnings.includes(`WARNING: ${reason}`), info.Warnings.join('\n'));
    assert.deepEqual([info.MemoryLimit, info.CpuCfsQuota, info.PidsLimit], [false, false, false]);
    assert.equal(engine.docker(['ps', '-aq']).stdout.trim(), '', 'nothing was created');
  });

  // crun took --rootless=VALUE as another --root: the runtime's global flags came after Berth's --root, so every
  // call ran with a state root named "true" ("error opening file `true/<id>/status`"). Named, as a daemon.json
  // default-runtime of runc would leave it.
  it('runs its containers on crun, as rootless Podman — here too, where crun refuses the unified mount: covered in its namespace', () => {
    const info = JSON.parse(engine.docker(['info', '--format', '{{json .}}']).stdout);
    assert.ok(info.Runtimes.crun && info.Runtimes.runc, JSON.stringify(info.Runtimes));
    assert.equal(info.DefaultRuntime, 'crun');
    assert.doesNotMatch(engine.log(), /rootless containers run on runc|cannot cover the unified cgroup mount/);
    // This host's unified mount holds hugetlb: the engine's namespace has an empty tmpfs over it.
    const covered = engineMounts(engine, 'tmpfs').some((l) => l.split(' ')[4] === '/sys/fs/cgroup/unified');
    assert.equal(covered, !!crunRefusal(), 'the unified mount covered exactly where crun refuses it');
    const run = engine.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo on-the-default']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'on-the-default');
  });

  it('runs containers on crun too (--runtime crun): output, exec, stop, remove', () => {
    const run = engine.docker(['run', '--rm', '--runtime', 'crun', 'busybox', 'sh', '-c', 'id -u; echo on-crun']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout.trim().split('\n'), ['0', 'on-crun']);
    const id = engine.docker(['run', '-d', '--runtime', 'crun', 'busybox', 'sleep', '600']).stdout.trim();
    try {
      assert.equal(JSON.parse(engine.docker(['inspect', id]).stdout)[0].HostConfig.Runtime, 'crun');
      const exec = engine.docker(['exec', id, 'cat', '/proc/1/cmdline']);
      assert.equal(exec.code, 0, exec.stderr);
      assert.equal(exec.stdout.replace(/\0/g, ' ').trim(), 'sleep 600');
      const stop = engine.docker(['stop', '-t', '1', id]);
      assert.equal(stop.code, 0, stop.stderr);
      assert.equal(JSON.parse(engine.docker(['inspect', id]).stdout)[0].State.Running, false);
    } finally {
      assert.equal(engine.docker(['rm', '-f', id]).code, 0);
    }
  });

  it('stops with nothing left: no process of the user, no mount, no namespace', async () => {
    const run = engine.docker(['run', '-d', '--stop-timeout', '1', 'busybox', 'sleep', '600']);
    assert.equal(run.code, 0, run.stderr);
    const pid = Number(engine.docker(['inspect', '-f', '{{.State.Pid}}', run.stdout.trim()]).stdout);
    assert.ok(processesOf(user).some((l) => l.includes('sleep 600')));
    // The engine's user, mount and network namespaces and the container's network namespace (pinned in the
    // engine's /run/netns): each held while they run, by the engine, the container, or the pin.
    const inner = innerPid(engine);
    const namespaces = [
      namespaceOf(inner, 'user'),
      namespaceOf(inner, 'mnt'),
      namespaceOf(inner, 'net'),
      namespaceOf(pid, 'net'),
    ];
    assert.notEqual(namespaces[3], namespaces[2], 'the container has a network namespace of its own');
    for (const ns of namespaces) assert.ok(namespaceHolders([ns]).length, `${ns} is seen held while it runs`);
    assert.equal(await engine.stop(), 0);
    assert.deepEqual(processesOf(user), []);
    assert.deepEqual(mountsUnder(engine.dir), []);
    // SIGKILLed processes of the namespace finish dying on their own (the engine does not wait for each): a moment.
    await eventually(
      () => namespaceHolders(namespaces),
      (h) => h.length === 0,
      'no holder of the namespaces',
      3000,
    );
    assert.ok(!fs.existsSync(engine.socket), 'the socket is removed');
  });
});
