// docker exec on a rootless engine: which way in the shim takes, and that both ways give the same process. The
// shim's own way in (fast exec, native/berth-shim/enter.c) copies the init's seccomp filter with
// PTRACE_SECCOMP_GET_FILTER, which the kernel allows only with CAP_SYS_ADMIN in the initial user namespace: a
// rootless engine never has it, so a container with a filter (the default) is entered through `runc exec`, and a
// container without one (seccomp=unconfined, --privileged: dev containers with debuggers) through the shim. The
// engine runs a runc that logs its calls, so the test sees which path ran.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type Registry, seedMirror, startRegistry } from '../../fixtures';
import { DOCKER_CLI, requireDeps } from '../../helpers/deps';
import {
  ROOTLESS_TOOLS,
  type RootlessEngine,
  startRootlessEngine,
  stockTunDevice,
  testUser,
  type TestUser,
} from '../../helpers/rootless';

// What an exec'd shell can tell about itself and how it stands to the container's init.
const PROBE = `
grep -E '^(Uid|Gid|Groups|Cap|NoNewPrivs|SigBlk|SigIgn)' /proc/self/status
for n in cgroup ipc mnt net pid uts user; do
  if [ "$(readlink /proc/self/ns/$n)" = "$(readlink /proc/1/ns/$n)" ]; then echo "$n joined"; else echo "$n other"; fi
done
[ "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)" ] && echo "cgroups of the init"
grep -E '^Max (open files|processes)' /proc/self/limits
echo "oom $(cat /proc/self/oom_score_adj) cwd $(pwd) user-env $FROM_EXEC"
stat -L -c 'stdio %u %g' /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2
`;

describe('rootless engine: exec', function () {
  this.timeout(120_000);
  let reg: Registry;
  let user: TestUser;
  let engine: RootlessEngine;
  let tmp: string;
  const runcLog = () => path.join(tmp, 'runc.log');
  const ok = (args: string[], input?: string) => {
    const r = engine.docker(args, { input });
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** The `runc exec` calls the engine made for container `name` so far. */
  const runcExecs = (name: string) => {
    const id = ok(['inspect', '-f', '{{.Id}}', name]).trim();
    const log = fs.existsSync(runcLog()) ? fs.readFileSync(runcLog(), 'utf8') : '';
    return log.split('\n').filter((l) => / exec /.test(l) && l.endsWith(id)).length;
  };

  before(async function () {
    requireDeps(this, ROOTLESS_TOOLS, DOCKER_CLI);
    stockTunDevice();
    user = testUser('berth-rl-c', true);
    // A runc that appends its arguments to a log the user (root of the engine's namespace) can write.
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rootless-exec-'));
    const runc = execFileSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).trim();
    const logging = path.join(tmp, 'runc');
    fs.writeFileSync(logging, `#!/bin/sh\necho "$*" >> ${runcLog()}\nexec ${runc} "$@"\n`, { mode: 0o755 });
    for (const f of [tmp, logging]) fs.chownSync(f, user.uid, user.gid);
    reg = await startRegistry();
    await seedMirror(reg);
    engine = await startRootlessEngine(user, {
      config: { 'registry-mirrors': [reg.url] },
      env: { BERTH_RUNC: logging },
    });
    ok(['pull', 'busybox']);
    const run = ['run', '-d', '--ulimit', 'nofile=1000:2000', '--oom-score-adj', '300', '--cap-add', 'NET_ADMIN'];
    ok([...run, '--name', 'unconfined', '--security-opt', 'seccomp=unconfined', 'busybox', 'sleep', '600']);
    ok([...run, '--name', 'confined', 'busybox', 'sleep', '600']);
  });
  after(async () => {
    await engine?.cleanup();
    await reg?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('enters a container without a seccomp filter through the shim, never runc exec', () => {
    const before = runcExecs('unconfined');
    assert.equal(ok(['exec', 'unconfined', 'sh', '-c', 'echo in; exit 0']), 'in\n');
    assert.equal(engine.docker(['exec', 'unconfined', 'sh', '-c', 'exit 7']).code, 7);
    assert.equal(ok(['exec', '-i', 'unconfined', 'cat'], 'through stdin\n'), 'through stdin\n');
    assert.equal(ok(['exec', '-u', '1000:1000', 'unconfined', 'id']), 'uid=1000(app) gid=1000(app)\n');
    // The error a user gets is runc's, word for word, whichever way in.
    const missing = (name: string) => engine.docker(['exec', name, 'no-such-command']);
    const [shim, runc] = [missing('unconfined'), missing('confined')];
    assert.equal(shim.code, 127);
    assert.match(shim.stdout, /exec failed: unable to start container process: exec: "no-such-command"/);
    assert.deepEqual(shim, runc);
    assert.equal(runcExecs('unconfined'), before, 'no exec of this container went through runc');
    assert.equal(runcExecs('confined') > 0, true);
  });

  it('enters a container with the default filter through runc exec, filter and all', () => {
    const before = runcExecs('confined');
    assert.equal(ok(['exec', 'confined', 'grep', '^Seccomp:', '/proc/self/status']), 'Seccomp:\t2\n');
    assert.equal(runcExecs('confined'), before + 1);
  });

  it('gives the same process both ways: ids, capabilities, signals, namespaces, cgroups, limits, stdio', () => {
    // runc 1.1's own soft nofile is not reliable: its Go runtime raises the soft limit in runc init, racing the
    // prlimit of the exec'd process (2000:2000 now and then instead of 1000:2000), so that line is compared apart.
    const seen = (name: string, user = 'root') =>
      ok(['exec', '-u', user, '-e', 'FROM_EXEC=1', '-w', '/tmp', name, 'sh', '-c', PROBE]);
    const nofile = (s: string) => s.replace(/^Max open files .*\n/m, '');
    const shim = seen('unconfined');
    assert.equal(nofile(shim), nofile(seen('confined')));
    assert.equal(nofile(seen('unconfined', 'app')), nofile(seen('confined', 'app')));
    for (const line of ['mnt joined', 'pid joined', 'cgroups of the init', 'oom 300 cwd /tmp user-env 1'])
      assert.ok(shim.includes(line), `${line} in:\n${shim}`);
    assert.match(shim, /Max open files\s+1000\s+2000/);
  });
});
