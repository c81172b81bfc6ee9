// Containers through the real docker CLI against berthd, images pulled from a local registry mirror.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { mountsUnder, requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';
import { type Registry, seedMirror, startRegistry } from '../../fixtures';

function curl(socket: string, args: string[]): { code: number; out: string } {
  const r = spawnSync('curl', ['-sS', '--unix-socket', socket, '-o', '-', '-w', '\n%{http_code}', ...args], {
    encoding: 'utf8',
  });
  const lines = r.stdout.trimEnd().split('\n');
  return { code: Number(lines.pop()), out: lines.join('\n') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | undefined | false, ms = 15000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function shimPids(engine: TestEngine): number[] {
  return fs
    .readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        return (
          fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(engine.execRoot) &&
          fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('berth-shim')
        );
      } catch {
        return false;
      }
    });
}

describe('engine API: containers (docker CLI)', function () {
  this.timeout(120000);
  let reg: Registry;
  let engine: TestEngine;
  let docker: TestEngine['docker'];
  const ok = (args: string[], input?: string) => {
    const r = docker(args, { input });
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async function () {
    requireDockerCli(this);
    reg = await startRegistry();
    await seedMirror(reg);
    engine = await startEngine({ config: { 'registry-mirrors': [reg.url] } });
    docker = engine.docker.bind(engine);
  });
  after(async () => {
    await engine?.cleanup();
    await reg?.stop();
  });

  it('docker run hello-world pulls through the mirror and prints its message', () => {
    const r = docker(['run', 'hello-world']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Unable to find image 'hello-world:latest' locally/);
    assert.match(r.stdout, /Hello from Berth!/);
    assert.match(r.stderr, /Status: Downloaded newer image for hello-world:latest/);
    // No --rm, as the seeds type it: the exited container stays until removed.
    const left = ok(['ps', '-aq', '--filter', 'ancestor=hello-world']).trim();
    assert.match(left, /^[0-9a-f]{12}$/);
    ok(['rm', left]);
  });

  it('docker run --rm busybox echo hi: output, exit code, nothing left', () => {
    const r = docker(['run', '--rm', 'busybox', 'echo', 'hi']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hi\n');
    const rc = docker(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    assert.equal(rc.code, 3);
    assert.equal(rc.stdout, 'out\n');
    assert.equal(rc.stderr, 'err\n');
    assert.equal(ok(['ps', '-aq']), '');
    assert.deepEqual(mountsUnder(engine.dataRoot + '/containers'), []);
  });

  it('starts without waiting out a runtime’s exec fifo (crun’s start writes where runc’s init writes: a 10 s stall)', () => {
    // The shim reads runc's exec.fifo itself instead of running `runc start`; crun's fifo works the other way round,
    // so reading it only timed out after 10 s before the shim fell back to `crun start`.
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const r = docker(['run', '--rm', 'busybox', 'true']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(Date.now() - t0 < 7000, `run --rm took ${Date.now() - t0} ms`);
    }
  });

  it('a container that exits 3: docker run exits 3 and docker wait prints 3', () => {
    const r = docker(['run', '--name', 'three', 'busybox', 'sh', '-c', 'exit 3']);
    assert.equal(r.code, 3);
    assert.equal(ok(['wait', 'three']), '3\n');
    assert.equal(ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'three']), 'exited 3\n');
    const missing = docker(['run', '--rm', 'busybox', 'nosuchcmd']);
    if (process.env.BERTH_TEST_RUNTIME === 'crun') {
      // crun's own words, passed on as containerd's shim does; the docker CLI matches "no such file or directory"
      // case-sensitively, so with crun it exits 125 (the container's ExitCode is 127, as moby lower-cases).
      assert.equal(missing.code, 125);
      assert.match(
        missing.stderr,
        /^docker: Error response from daemon: failed to create shim task: OCI runtime create failed: executable file `nosuchcmd` not found in \$PATH: No such file or directory: unknown\.?$/m,
      );
    } else {
      assert.equal(missing.code, 127);
      // dockerd's words exactly: runc's "runc create failed: " prefix is not repeated
      assert.match(
        missing.stderr,
        /^docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nosuchcmd": executable file not found in \$PATH: unknown\.?$/m,
      );
    }
    const kept = docker(['run', '--name', 'nocmd', 'busybox', 'nosuchcmd']);
    assert.notEqual(kept.code, 0);
    assert.equal(ok(['inspect', '-f', '{{.State.ExitCode}}', 'nocmd']), '127\n', 'moby: command not found is 127');
    ok(['rm', 'nocmd']);
    // --rm removes a container whose start failed too (docker run waits for exactly that).
    assert.equal(ok(['ps', '-aq', '--filter', 'status=created']), '');
    ok(['rm', 'three']);
  });

  it('detached web container: ps, logs -f -t --tail, stop/start/restart, update, rename, rm -f', async () => {
    const id = ok([
      'run',
      '-d',
      '--name',
      'web',
      '-e',
      'KEY=v',
      'busybox',
      'sh',
      '-c',
      'trap "exit 0" TERM; i=0; while true; do echo "$KEY $i"; i=$((i+1)); sleep 0.1; done',
    ]).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.match(ok(['ps']), /web\n$/);
    assert.match(
      ok(['ps', '-a', '--filter', 'name=web', '--format', '{{.ID}} {{.Status}} {{.Command}}']),
      new RegExp(`^${id.slice(0, 12)} Up .* "sh -c 'trap \\\\"exit 0…"\n$`),
    );
    await until('some output', () => ok(['logs', 'web']).split('\n').length > 5);
    const tail = ok(['logs', '-t', '--tail', '2', 'web']).trim().split('\n');
    assert.equal(tail.length, 2);
    assert.match(tail[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z v \d+$/);
    // logs -f follows new output and ends when the container stops.
    let followed = '';
    const follow = engine.dockerAsync(['logs', '-f', '--tail', '1', 'web'], { onStdout: (d) => (followed += d) });
    await until('logs -f following', () => followed.split('\n').length > 3);
    ok(['stop', 'web']);
    const f = await follow;
    assert.equal(f.code, 0);
    assert.ok(f.stdout.trim().split('\n').length >= 3, f.stdout);
    assert.equal(ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'web']), 'exited 0\n');
    ok(['start', 'web']);
    assert.equal(ok(['inspect', '-f', '{{.State.Running}}', 'web']), 'true\n');
    ok(['restart', '-t', '1', 'web']);
    assert.equal(ok(['inspect', '-f', '{{.State.Running}}', 'web']), 'true\n');
    ok(['update', '--restart=always', 'web']);
    assert.equal(ok(['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}', 'web']), 'always\n');
    ok(['rename', 'web', 'web2']);
    assert.equal(ok(['inspect', '-f', '{{.Name}} {{.Id}}', 'web2']), `/web2 ${id}\n`);
    assert.equal(docker(['inspect', 'web']).code, 1);
    ok(['rm', '-f', 'web2']);
    assert.equal(docker(['rm', '-f', 'web2']).code, 0, 'rm -f of a missing container succeeds (CLI ignores not-found)');
    assert.equal(ok(['ps', '-aq']), '');
  });

  it('--memory is visible in the cgroup; top; stats --no-stream; pause/unpause', () => {
    const id = ok([
      'run',
      '-d',
      '--name',
      'lim',
      '--memory',
      '64m',
      '--network',
      'none',
      'busybox',
      'sleep',
      '300',
    ]).trim();
    assert.equal(ok(['inspect', '-f', '{{.HostConfig.Memory}}', 'lim']), `${64 * 1024 * 1024}\n`);
    const cg = fs.existsSync('/sys/fs/cgroup/cgroup.controllers')
      ? `/sys/fs/cgroup/berth/${id}/memory.max`
      : `/sys/fs/cgroup/memory/berth/${id}/memory.limit_in_bytes`;
    assert.equal(fs.readFileSync(cg, 'utf8').trim(), String(64 * 1024 * 1024));
    const top = ok(['top', 'lim']);
    assert.match(top, /^UID\s+PID\s+PPID/);
    assert.match(top, /sleep 300/);
    const stats = ok(['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}} {{.PIDs}}', 'lim']);
    assert.match(stats, /^lim [\d.]+[KMG]?i?B \/ 64MiB 1\n$/);
    ok(['pause', 'lim']);
    assert.match(ok(['ps', '--filter', 'name=lim', '--format', '{{.Status}}']), /\(Paused\)/);
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', 'lim']), 'paused\n');
    ok(['unpause', 'lim']);
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', 'lim']), 'running\n');
    ok(['rm', '-f', 'lim']);
  });

  it('--privileged gets every capability this engine holds (a host may lack some) and no seccomp', () => {
    const host = /^CapBnd:\s*(\S+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1];
    const out = ok([
      'run',
      '--rm',
      '--privileged',
      '--network',
      'none',
      'busybox',
      'grep',
      '-E',
      '^(CapEff|Seccomp):',
      '/proc/self/status',
    ]);
    assert.equal(out, `CapEff:\t${host}\nSeccomp:\t0\n`);
  });

  it('create errors: name conflict 409, invalid name 400, unknown image 404', () => {
    ok(['create', '--name', 'dup', 'busybox', 'true']);
    const c = docker(['create', '--name', 'dup', 'busybox', 'true']);
    assert.notEqual(c.code, 0);
    assert.match(
      c.stderr,
      /Conflict. The container name "\/dup" is already in use by container "[0-9a-f]{64}". You have to remove \(or rename\) that container to be able to reuse that name./,
    );
    const bad = curl(engine.socket, [
      '-H',
      'Content-Type: application/json',
      '-d',
      '{"Image":"busybox"}',
      'http://d/v1.45/containers/create?name=bad%20name',
    ]);
    assert.equal(bad.code, 400);
    assert.match(JSON.parse(bad.out).message, /Invalid container name \(bad name\)/);
    const missing = curl(engine.socket, [
      '-H',
      'Content-Type: application/json',
      '-d',
      '{"Image":"nosuch-image:1"}',
      'http://d/v1.45/containers/create',
    ]);
    assert.equal(missing.code, 404);
    assert.match(JSON.parse(missing.out).message, /No such image: nosuch-image:1/);
    const gone = curl(engine.socket, ['http://d/v1.45/containers/nope/json']);
    assert.equal(gone.code, 404);
    assert.deepEqual(JSON.parse(gone.out), { message: 'No such container: nope' });
    ok(['rm', 'dup']);
  });

  it("diff and export show the container's own changes; prune removes stopped containers", () => {
    ok([
      'run',
      '--name',
      'chg',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'echo hello > /tmp/new.txt; rm /etc/group',
    ]);
    const diff = ok(['diff', 'chg']);
    assert.match(diff, /^A \/tmp\/new.txt$/m);
    assert.match(diff, /^D \/etc\/group$/m);
    assert.match(diff, /^C \/tmp$/m);
    // dockerd's export names entries relative to the root, without "./".
    const tar = spawnSync('sh', ['-c', `docker export chg | tar -xOf - tmp/new.txt`], {
      env: { ...process.env, DOCKER_HOST: engine.host },
      encoding: 'utf8',
    });
    assert.equal(tar.stdout, 'hello\n');
    assert.deepEqual(mountsUnder(engine.dataRoot + '/containers'), []);
    ok(['run', '-d', '--name', 'keeper', '--network', 'none', 'busybox', 'sleep', '300']);
    const pruned = ok(['container', 'prune', '-f']);
    assert.match(pruned, /Deleted Containers:\n[0-9a-f]{64}\n/);
    assert.equal(ok(['ps', '-a', '--format', '{{.Names}}']), 'keeper\n');
    ok(['rm', '-f', 'keeper']);
  });

  it('kill -9 of berthd: running containers keep running with their logs, exits while down are recorded, policies applied, no leaks', async () => {
    ok([
      'run',
      '-d',
      '--name',
      'alive',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done',
    ]);
    // dies and phoenix exit when the test says so (SIGUSR1), while the engine is down.
    ok([
      'run',
      '-d',
      '--name',
      'dies',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'trap "echo bye; exit 7" USR1; while true; do sleep 0.1; done',
    ]);
    ok([
      'run',
      '-d',
      '--name',
      'phoenix',
      '--restart',
      'always',
      '--network',
      'none',
      'busybox',
      'sh',
      '-c',
      'trap "exit 1" USR1; while true; do sleep 0.1; done',
    ]);
    const pid = (name: string) => Number(ok(['inspect', '-f', '{{.State.Pid}}', name]));
    const quitters = [pid('dies'), pid('phoenix')];
    const aliveLog = ok(['inspect', '-f', '{{.LogPath}}', 'alive']).trim();
    const shimsBefore = shimPids(engine);
    assert.equal(shimsBefore.length, 3);
    await engine.kill9();
    // The containers' shims outlive the engine.
    assert.deepEqual(shimPids(engine).sort(), shimsBefore.sort());
    for (const p of quitters) process.kill(p, 'SIGUSR1');
    const gone = (p: number) => {
      try {
        process.kill(p, 0);
        return false;
      } catch {
        return true;
      }
    };
    await until('dies and phoenix exited while nobody watches', () => quitters.every(gone));
    await until('alive logging while nobody watches', () => fs.readFileSync(aliveLog, 'utf8').split('\n').length > 15);
    await engine.restart();
    assert.equal(ok(['inspect', '-f', '{{.State.Status}}', 'alive']), 'running\n');
    assert.equal(ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'dies']), 'exited 7\n');
    assert.equal(ok(['logs', 'dies']), 'bye\n');
    const ticks = ok(['logs', 'alive']).trim().split('\n');
    assert.ok(ticks.length >= 15, `logged while the engine was down: ${ticks.length}`);
    ticks.forEach((l, i) => assert.equal(l, `tick ${i}`));
    await until('phoenix restarted', () =>
      /^running [1-9]/.test(ok(['inspect', '-f', '{{.State.Status}} {{.RestartCount}}', 'phoenix'])),
    );
    ok(['rm', '-f', 'alive', 'dies', 'phoenix']);
    await until('shims gone', () => shimPids(engine).length === 0);
    assert.deepEqual(mountsUnder(engine.dataRoot), []);
    assert.deepEqual(fs.readdirSync(engine.dataRoot + '/containers'), []);
    const runcLeft = spawnSync('runc', ['--root', engine.execRoot + '/runc', 'list', '-q'], {
      encoding: 'utf8',
    }).stdout.trim();
    assert.equal(runcLeft, '');
  });
});
