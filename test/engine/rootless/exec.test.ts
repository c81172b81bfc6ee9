// docker exec on a rootless engine: which way in the shim takes, and that both ways give the same process. The
// shim's own way in (fast exec, native/berth-shim/enter.c) cannot copy the init's seccomp filter rootless (the kernel
// shows a filter only to root of the initial user namespace): it builds the same program from the spec as runc does
// (enter_seccomp.c, libseccomp and runc's -ENOSYS stub). The engine runs a runc that logs its calls, so the test sees
// which path ran; a static probe makes the calls a filter decides on, once under runc's filter (the container's
// own process) and once exec'd by the shim.
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
grep -E '^(Uid|Gid|Groups|Cap|NoNewPrivs|Seccomp|SigBlk|SigIgn)' /proc/self/status
for n in cgroup ipc mnt net pid uts user; do
  if [ "$(readlink /proc/self/ns/$n)" = "$(readlink /proc/1/ns/$n)" ]; then echo "$n joined"; else echo "$n other"; fi
done
[ "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)" ] && echo "cgroups of the init"
grep -E '^Max (open files|processes)' /proc/self/limits
echo "oom $(cat /proc/self/oom_score_adj) cwd $(pwd) user-env $FROM_EXEC"
stat -L -c 'stdio %u %g' /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2
`;

// More calls a filter decides on: a syscall number past every table (runc's stub answers ENOSYS, so that a libc
// falls back), personality with an argument the default profile refuses and with the query it allows.
const MORE_PROBE = `
#include <errno.h>
#include <stdio.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>
static void report(const char *name, long r) { printf("%s %ld errno=%d\\n", name, r < 0 ? -1L : 0L, r < 0 ? errno : 0); }
int main(void) {
  report("beyond", syscall(1000));
  report("personality_exec", personality(READ_IMPLIES_EXEC));
  report("personality_query", personality(0xffffffff) < 0 ? -1 : 0);
  return 0;
}
`;
// An i386 probe needing no 32-bit libc (gcc -m32 -nostdlib, int $0x80): the filter's other architecture on x86_64.
// Run only inside containers: unfiltered, it would mount over the host's /tmp.
const I386_PROBE = `
/* An i386 probe without libc (no 32-bit libc needed to build it): each line a call and its errno (0: allowed). */
static long sys(long nr, long a, long b, long c, long d, long e) {
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
  return r;
}
static void line(const char *name, long r) {
  char buf[64];
  int n = 0;
  while (*name) buf[n++] = *name++;
  buf[n++] = ' ';
  long e = r < 0 && r > -4096 ? -r : 0;
  char digits[12];
  int k = 0;
  do digits[k++] = (char)('0' + e % 10); while ((e /= 10) && k < 11);
  while (k) buf[n++] = digits[--k];
  buf[n++] = '\\n';
  sys(4 /* write */, 1, (long)buf, n, 0, 0);
}
void _start(void) {
  line("beyond", sys(1000, 0, 0, 0, 0, 0));
  line("personality_exec", sys(136 /* personality */, 0x0400000 /* READ_IMPLIES_EXEC */, 0, 0, 0, 0));
  line("personality_query", sys(136, 0xffffffff, 0, 0, 0, 0) < 0 ? -1 : 0);
  line("mount", sys(21 /* mount */, (long)"p", (long)"/tmp", (long)"tmpfs", 0, 0));
  line("unshare_newns", sys(310 /* unshare */, 0x00020000 /* CLONE_NEWNS */, 0, 0, 0, 0));
  line("getpid", sys(20 /* getpid */, 0, 0, 0, 0, 0) < 0 ? -1 : 0);
  sys(1 /* exit */, 0, 0, 0, 0, 0);
  for (;;) {}
}
`;
// A user's profile: everything allowed but mount, and personality but for its query (argument rules).
const PROFILE = {
  defaultAction: 'SCMP_ACT_ALLOW',
  syscalls: [
    { names: ['mount'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
    {
      names: ['personality'],
      action: 'SCMP_ACT_ERRNO',
      errnoRet: 13,
      args: [{ index: 0, value: 4294967295, op: 'SCMP_CMP_NE' }],
    },
  ],
};

describe('rootless engine: exec', function () {
  this.timeout(180_000);
  let reg: Registry;
  let user: TestUser;
  // Two engines of the user, the same containers on each: `fast` enters them itself, `slow` through runc exec.
  let fast: RootlessEngine;
  let slow: RootlessEngine;
  let tmp: string;
  const runcLog = (e: string) => path.join(tmp, `runc-${e}.log`);
  const on = (engine: RootlessEngine) => (args: string[], input?: string) => {
    const r = engine.docker(args, { input });
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const ok = (args: string[], input?: string) => on(fast)(args, input);
  /** The `runc exec` calls the fast engine made for container `name` so far. */
  const runcExecs = (name: string) => {
    const id = ok(['inspect', '-f', '{{.Id}}', name]).trim();
    const log = fs.existsSync(runcLog('fast')) ? fs.readFileSync(runcLog('fast'), 'utf8') : '';
    return log.split('\n').filter((l) => / exec /.test(l) && l.endsWith(id)).length;
  };
  const profile = () => path.join(tmp, 'profile.json');

  before(async function () {
    requireDeps(this, ROOTLESS_TOOLS, DOCKER_CLI);
    stockTunDevice();
    user = testUser('berth-rl-c', true);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rootless-exec-'));
    // A runc that appends its arguments to a log the user (root of the engine's namespace) can write.
    const runc = execFileSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).trim();
    for (const e of ['fast', 'slow'])
      fs.writeFileSync(path.join(tmp, `runc-${e}`), `#!/bin/sh\necho "$*" >> ${runcLog(e)}\nexec ${runc} "$@"\n`, {
        mode: 0o755,
      });
    // The seccomp suite's probe and a few more calls (MORE_PROBE), and a user's profile.
    fs.writeFileSync(path.join(tmp, 'more.c'), MORE_PROBE);
    for (const [src, out] of [
      [path.join(__dirname, '../../fixtures/seccomp/probe.c'), 'probe'],
      [path.join(tmp, 'more.c'), 'more'],
    ]) {
      execFileSync('gcc', ['-static', '-O2', '-o', path.join(tmp, out), src]);
    }
    if (process.arch === 'x64') {
      fs.writeFileSync(path.join(tmp, 'i386.c'), I386_PROBE);
      const flags = ['-m32', '-static', '-nostdlib', '-ffreestanding', '-fno-pic', '-fno-stack-protector', '-O2'];
      execFileSync('gcc', [...flags, '-o', path.join(tmp, 'i386'), path.join(tmp, 'i386.c')]);
    }
    fs.writeFileSync(profile(), JSON.stringify(PROFILE));
    for (const f of ['.', ...fs.readdirSync(tmp)]) fs.chownSync(path.join(tmp, f), user.uid, user.gid);
    reg = await startRegistry();
    await seedMirror(reg);
    // The shim's exec against runc exec: both engines on runc (rootless, crun would be the default where installed).
    const config = { 'registry-mirrors': [reg.url], 'default-runtime': 'runc' };
    fast = await startRootlessEngine(user, { config, env: { BERTH_RUNC: path.join(tmp, 'runc-fast') } });
    slow = await startRootlessEngine(user, {
      config,
      env: { BERTH_RUNC: path.join(tmp, 'runc-slow'), BERTH_EXEC_RUNC: '1' },
    });
    for (const engine of [fast, slow]) {
      const run = ['run', '-d', '--ulimit', 'nofile=1000:2000', '--oom-score-adj', '300', '--cap-add', 'NET_ADMIN'];
      run.push('-v', `${tmp}:/probe:ro`);
      on(engine)(['pull', 'busybox']);
      on(engine)([...run, '--name', 'unconfined', '--security-opt', 'seccomp=unconfined', 'busybox', 'sleep', '600']);
      on(engine)([...run, '--name', 'confined', 'busybox', 'sleep', '600']);
      on(engine)([...run, '--name', 'profiled', '--security-opt', `seccomp=${profile()}`, 'busybox', 'sleep', '600']);
    }
  });
  after(async () => {
    // Both engines are the same user's: the helper's clean-up ends every process of the user, so one after the other.
    await slow?.stop();
    await fast?.cleanup();
    await slow?.cleanup();
    await reg?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('enters containers with and without a filter through the shim, never runc exec', () => {
    const before = ['unconfined', 'confined', 'profiled'].map(runcExecs);
    for (const name of ['unconfined', 'confined', 'profiled']) {
      assert.equal(ok(['exec', name, 'sh', '-c', 'echo in; exit 0']), 'in\n');
      assert.equal(fast.docker(['exec', name, 'sh', '-c', 'exit 7']).code, 7);
      assert.equal(ok(['exec', '-i', name, 'cat'], 'through stdin\n'), 'through stdin\n');
      assert.equal(ok(['exec', '-u', '1000:1000', name, 'id']), 'uid=1000(app) gid=1000(app)\n');
    }
    assert.deepEqual(['unconfined', 'confined', 'profiled'].map(runcExecs), before);
  });

  it('gives the same errors and exit codes as runc exec', () => {
    for (const args of [['no-such-command'], ['/etc'], ['sh', '-c', 'kill -TERM $$']]) {
      const [a, b] = [fast, slow].map((e) => e.docker(['exec', 'confined', ...args]));
      assert.deepEqual(a, b, args.join(' '));
    }
    // (the other engine did go through runc)
    assert.match(fs.readFileSync(runcLog('slow'), 'utf8'), / exec /);
    // Every runc call of a rootless engine on a container says so (--rootless=true), not left to runc's guess.
    for (const e of ['fast', 'slow']) {
      const calls = fs
        .readFileSync(runcLog(e), 'utf8')
        .trim()
        .split('\n')
        .filter((l) => l !== '--version');
      assert.ok(calls.length > 1);
      assert.deepEqual(
        // The global flags before --root (crun takes --rootless=VALUE as another --root).
        calls.filter((l) => !l.startsWith('--rootless=true --root ')),
        [],
        `${e}: runc calls without --rootless=true`,
      );
    }
  });

  it('the filter the shim builds decides as runc’s: the default profile and a user’s', () => {
    for (const [name, opt] of [
      ['confined', []],
      ['profiled', ['--security-opt', `seccomp=${profile()}`]],
    ] as const) {
      assert.equal(ok(['exec', name, 'grep', '^Seccomp:', '/proc/self/status']), 'Seccomp:\t2\n');
      for (const probe of ['/probe/probe', '/probe/more', ...(process.arch === 'x64' ? ['/probe/i386'] : [])]) {
        // Output and exit status (a profile without architectures kills an i386 process: SIGSYS, 159, both ways).
        const result = (e: RootlessEngine, args: string[]) => {
          const r = e.docker(args);
          return { code: r.code, stdout: r.stdout };
        };
        const byShim = result(fast, ['exec', name, probe]);
        assert.deepEqual(result(slow, ['exec', name, probe]), byShim, `${probe} in ${name}, runc exec`);
        // runc's filter once more: the container's own process.
        const run = ['run', '--rm', '--cap-add', 'NET_ADMIN', '-v', `${tmp}:/probe:ro`, ...opt, 'busybox', probe];
        assert.deepEqual(result(fast, run), byShim, `${probe} in ${name}, docker run`);
        if (name === 'confined') assert.equal(byShim.code, 0, `${probe}: ${byShim.stdout}`);
      }
    }
    // What the probes saw is the filters' doing, not the host's: the default profile refuses, the stub says ENOSYS.
    const seen = ok(['exec', 'confined', '/probe/more']);
    assert.match(seen, /^beyond -1 errno=38$/m);
    assert.match(seen, /^personality_exec -1 errno=1$/m);
    assert.match(seen, /^personality_query 0 errno=0$/m);
    if (process.arch === 'x64')
      assert.deepEqual(ok(['exec', 'confined', '/probe/i386']).trim().split('\n'), [
        'beyond 38',
        'personality_exec 1',
        'personality_query 0',
        'mount 1',
        'unshare_newns 1',
        'getpid 0',
      ]);
    assert.match(ok(['exec', 'profiled', '/probe/more']), /^personality_exec -1 errno=13$/m);
    assert.match(ok(['exec', 'profiled', '/probe/probe']), /^mount -1 errno=13$/m);
  });

  it('gives the same process as runc exec: ids, capabilities, signals, namespaces, cgroups, limits, stdio', () => {
    // runc 1.1's own soft nofile is not reliable: its Go runtime raises the soft limit in runc init, racing the
    // prlimit of the exec'd process (2000:2000 now and then instead of 1000:2000), so that line is compared apart.
    const nofile = (s: string) => s.replace(/^Max open files .*\n/m, '');
    for (const name of ['unconfined', 'confined'])
      for (const u of ['root', 'app']) {
        const seen = (e: RootlessEngine) =>
          on(e)(['exec', '-u', u, '-e', 'FROM_EXEC=1', '-w', '/tmp', name, 'sh', '-c', PROBE]);
        const shim = seen(fast);
        assert.equal(nofile(shim), nofile(seen(slow)), `${name} as ${u}`);
        // (another user than root cannot read the init's namespace links: "other" both ways)
        const lines = ['cgroups of the init', 'oom 300 cwd /tmp user-env 1', ...(u === 'root' ? ['mnt joined'] : [])];
        for (const line of lines) assert.ok(shim.includes(line), `${line} in:\n${shim}`);
        assert.match(shim, /Max open files\s+1000\s+2000/);
      }
  });
});
