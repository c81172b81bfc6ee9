// The shim's fast exec (native/berth-shim/enter.c) against `runc exec`: two engines, one entering containers itself and one
// forced through runc (BERTH_EXEC_RUNC=1), run the same containers and the same execs; what the process sees of
// itself (ids, groups, capabilities, seccomp, signals, namespaces, cgroups, rlimits, oom score, env, stdio
// ownership, session) and the errors users get must be the same. Both use a runc that logs its calls, so the test
// also shows which path ran. And the shim binary the containers could reach is read-only (CVE-2019-5736).
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireDockerCli } from '../../helpers/engine';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';

// What an exec'd shell can tell about itself, with the container's own ids written as CTR.
const PROBE = `
grep -E '^(Uid|Gid|Groups|Cap|NoNewPrivs|Seccomp|SigBlk|SigIgn|SigCgt)' /proc/self/status
sed 's/[0-9a-f]\\{64\\}/CTR/' /proc/self/cgroup
for n in cgroup ipc mnt net pid uts user; do
  if [ "$(readlink /proc/self/ns/$n)" = "$(readlink /proc/1/ns/$n)" ]; then echo "$n joined"; else echo "$n other"; fi
done
cat /proc/self/limits
echo "oom $(cat /proc/self/oom_score_adj) umask $(umask) cwd $(pwd) marker $(cat /marker)"
env | grep -v '^HOSTNAME=' | sort
stat -L -c 'stdio %u %g' /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2
echo "fds $(ls /proc/self/fd | wc -l)"
set -- $(cat /proc/$$/stat)
echo "session leader $([ "$1" = "$6" ] && echo yes || echo no) ppid $4"
unshare -U true 2>&1; echo "unshare $?"
`;

describe('fast exec: the shim enters containers the way runc exec does', function () {
  this.timeout(240000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-fastexec-'));
  const runcPath = execFileSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).trim();
  let fast: MirroredEngine;
  let slow: MirroredEngine;
  const runcLog = (name: string) => path.join(tmp, `${name}.log`);
  /** A runc that appends its arguments to a log, so we can see whether an exec went through it. */
  const loggingRunc = (name: string) => {
    const file = path.join(tmp, `runc-${name}`);
    fs.writeFileSync(file, `#!/bin/sh\necho "$*" >> ${runcLog(name)}\nexec ${runcPath} "$@"\n`, { mode: 0o755 });
    return file;
  };
  const both = () => [fast, slow];
  const profileFile = path.join(tmp, 'profile.json');
  fs.writeFileSync(
    profileFile,
    JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['unshare'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
    }),
  );
  const containers: Record<string, string[]> = {
    'fx-default': [],
    'fx-custom': [
      '--cap-drop',
      'ALL',
      '--cap-add',
      'NET_ADMIN',
      '--cap-add',
      'SETUID',
      '--cap-add',
      'SETGID',
      '--ulimit',
      'nofile=1000:2000',
      '--oom-score-adj',
      '300',
      '--group-add',
      '4242',
      '--network',
      'none',
      '-e',
      'FROM_RUN=1',
    ],
    // --security-opt: no filter at all, and no-new-privileges (the shim must not look for the init's filter)
    'fx-unconfined': ['--security-opt', 'seccomp=unconfined', '--security-opt', 'no-new-privileges'],
    // a profile of the user's (the CLI sends the file's content): everything allowed but unshare
    'fx-profile': ['--security-opt', `seccomp=${profileFile}`, '--security-opt', 'no-new-privileges=false'],
    // a cgroup namespace of its own (the default on cgroup v2): the exec's cgroup paths are relative to it
    'fx-cgroupns': ['--cgroupns', 'private'],
  };

  before(async function () {
    requireDockerCli(this);
    fast = await startMirroredEngine({ env: { BERTH_RUNC: loggingRunc('fast') } });
    slow = await startMirroredEngine({ env: { BERTH_RUNC: loggingRunc('slow'), BERTH_EXEC_RUNC: '1' } });
    for (const e of both()) {
      for (const [name, flags] of Object.entries(containers)) {
        e.ok([
          'run',
          '-d',
          '--name',
          name,
          ...flags,
          'busybox',
          'sh',
          '-c',
          'echo from-init > /marker; printf "#!/proc/self/exe\\n" > /evil; chmod +x /evil; printf garbage > /bad; chmod +x /bad; sleep 600',
        ]);
      }
    }
    for (const e of both())
      for (const name of Object.keys(containers)) {
        const deadline = Date.now() + 15_000;
        while (e.engine.docker(['exec', name, 'test', '-e', '/bad']).code !== 0) {
          assert.ok(Date.now() < deadline, `${name} never wrote its files`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
  });
  after(async () => {
    for (const e of [fast, slow]) {
      if (!e) continue;
      for (const name of Object.keys(containers)) e.engine.docker(['rm', '-f', name]);
      await e.cleanup();
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const cases: { title: string; container: string; flags: string[]; expect?: RegExp[] }[] = [
    { title: "as the container's user", container: 'fx-default', flags: [] },
    {
      title: 'with -u, -w and -e',
      container: 'fx-default',
      flags: ['-u', '65534:65534', '-w', '/tmp', '-e', 'GREETING=hi'],
    },
    { title: 'with --privileged', container: 'fx-default', flags: ['--privileged'] },
    {
      title: 'in a container with its own caps, ulimits, oom score, groups and no network',
      container: 'fx-custom',
      flags: [],
    },
    { title: 'as another user in that container', container: 'fx-custom', flags: ['-u', '1000:1000'] },
    {
      title: 'in a container with seccomp=unconfined and no-new-privileges',
      container: 'fx-unconfined',
      flags: [],
      expect: [/^Seccomp:\t0$/m, /^NoNewPrivs:\t1$/m, /^unshare 0$/m],
    },
    {
      title: "in a container with the user's own seccomp profile",
      container: 'fx-profile',
      flags: [],
      expect: [/^Seccomp:\t2$/m, /^NoNewPrivs:\t0$/m, /^unshare 1$/m],
    },
    {
      title: 'in a container with a cgroup namespace of its own',
      container: 'fx-cgroupns',
      flags: [],
      expect: [/^cgroup joined$/m, /^0::\/$/m, /^Seccomp:\t2$/m, /^unshare 1$/m],
    },
  ];
  for (const c of cases) {
    it(`sees the same process ${c.title}`, () => {
      const [a, b] = both().map((e) => e.engine.docker(['exec', ...c.flags, c.container, 'sh', '-c', PROBE]));
      assert.equal(a.code, 0, a.stderr);
      assert.equal(a.stderr, b.stderr);
      // The container's own nofile limit, on the fast path always; runc 1.1 (Debian's 1.1.5) sometimes hands its
      // exec the limit Go raised for runc itself (soft = hard: opencontainers/runc#4195), so that
      // one line is compared once it is known to be right on the fast side.
      const nofile = /^Max open files .*$/m;
      if (c.container === 'fx-custom') assert.match(a.stdout, /^Max open files\s+1000\s+2000\s+files\s*$/m);
      assert.equal(a.stdout.replace(nofile, ''), b.stdout.replace(nofile, ''));
      // and it is what an exec should be, not the same mistake twice (only root may look at the init's namespaces)
      for (const re of c.expect ?? []) assert.match(a.stdout, re);
      const defaultProfile = !c.flags.includes('--privileged') && !c.expect;
      if (defaultProfile) assert.match(a.stdout, /^Seccomp:\t2$/m);
      if (!c.flags.includes('-u'))
        for (const ns of ['pid', 'mnt', 'net', 'ipc', 'uts']) assert.match(a.stdout, new RegExp(`^${ns} joined$`, 'm'));
      assert.match(a.stdout, /marker from-init/);
      if (defaultProfile) assert.match(a.stdout, /^unshare 1$/m, "the container's seccomp profile applies");
      assert.match(a.stdout, /^session leader yes ppid 0$/m);
      assert.match(a.stdout, /^fds 4$/m, "stdio and ls's own directory: nothing of the shim");
    });
  }

  it('gives the same errors and exit codes', () => {
    const runs: string[][] = [
      ['fx-default', 'nosuchcmd'],
      ['fx-default', '/nosuch'],
      ['fx-default', '/etc'],
      ['fx-default', '/marker'],
      ['-w', '/nonexist', 'fx-default', 'true'],
      ['-w', '/marker', 'fx-default', 'true'],
      ['fx-default', '/bad'],
      ['-e', 'PATH=', 'fx-default', 'ls'],
      ['fx-default', 'sh', '-c', 'exit 7'],
    ];
    for (const args of runs) {
      const [a, b] = both().map((e) => e.engine.docker(['exec', ...args]));
      assert.deepEqual(
        { code: a.code, stderr: a.stderr, stdout: a.stdout },
        { code: b.code, stderr: b.stderr, stdout: b.stdout },
        args.join(' '),
      );
    }
    assert.equal(fast.engine.docker(['exec', 'fx-default', 'nosuchcmd']).code, 127);
    assert.equal(fast.engine.docker(['exec', 'fx-default', '/etc']).code, 126);
  });

  it('gives the same terminal', () => {
    const [a, b] = both().map((e) =>
      e.engine.docker([
        'exec',
        '-t',
        '-u',
        '65534',
        'fx-default',
        'sh',
        '-c',
        "tty; ls -ln $(tty) | awk '{print $3}'; echo $TERM",
      ]),
    );
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.match(a.stdout, /^\/dev\/pts\/\d+\r\n65534\r\nxterm\r\n$/);
  });

  it("gives an exec's TTY the start request's ConsoleSize before the process runs (Docker 23+), both ways", async () => {
    for (const e of both()) {
      const sizes: string[] = [];
      for (let i = 0; i < 5; i++) {
        const { Id } = await e.engine.client.json('POST', '/containers/fx-default/exec', {
          body: { Cmd: ['stty', 'size'], Tty: true, AttachStdout: true, AttachStderr: true },
        });
        const stream = await e.engine.client.hijack('POST', `/exec/${Id}/start`, {
          Detach: false,
          Tty: true,
          ConsoleSize: [33, 101],
        });
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        sizes.push(Buffer.concat(chunks).toString().trim());
      }
      // Before, the size came with a resize after the start: `stty size` saw 0 0 whenever it was quicker.
      assert.deepEqual(sizes, Array(5).fill('33 101'), e === fast ? 'fast exec' : 'runc exec');
    }
  });

  it('holds against a hostile container: a swapped /dev/null, a /dev/ptmx link, a command name forging a reply', () => {
    const before = fs.statSync('/dev/null');
    try {
      // runc tells the host's /dev/null (an exec's stdin without -i) by the container's /dev/null; we do not
      fast.ok(['exec', 'fx-default', 'sh', '-c', 'rm /dev/null && mknod /dev/null c 1 7']);
      assert.equal(fast.engine.docker(['exec', '-u', '65534', 'fx-default', 'true']).code, 0);
      const after = fs.statSync('/dev/null');
      assert.deepEqual(
        [after.uid, after.gid, after.mode],
        [before.uid, before.gid, before.mode],
        "the host's /dev/null is untouched",
      );
    } finally {
      fs.chownSync('/dev/null', before.uid, before.gid);
      fs.chmodSync('/dev/null', before.mode & 0o7777);
    }
    // the pty comes from the container's devpts, never through a link the container made
    fast.ok(['exec', 'fx-default', 'sh', '-c', 'rm -f /dev/ptmx && ln -s /etc/passwd /dev/ptmx']);
    const passwd = fast.ok(['exec', 'fx-default', 'cat', '/etc/passwd']);
    assert.match(fast.ok(['exec', '-t', 'fx-default', 'tty']), /^\/dev\/pts\/\d+\r\n$/);
    assert.equal(fast.ok(['exec', 'fx-default', 'cat', '/etc/passwd']), passwd);
    // an error message carrying a newline cannot pass for the helper's "pid" line
    const forged = fast.engine.docker(['exec', 'fx-default', 'nosuch\npid 1']);
    assert.equal(forged.code, 127);
    assert.match(forged.stdout + forged.stderr, /exec: "nosuch pid 1": executable file not found/);
    assert.equal(fast.ok(['inspect', '-f', '{{.State.Running}}', 'fx-default']), 'true\n');
    assert.equal(fast.ok(['exec', 'fx-default', 'echo', 'still here']), 'still here\n');
  });

  it("keeps serving the container while an exec is stuck (its cgroup frozen behind the engine's back), and the exec goes on once thawed", async () => {
    fast.ok(['run', '-d', '--name', 'fx-frozen', '--network', 'none', 'busybox', 'sleep', '600']);
    try {
      const id = fast.ok(['inspect', '-f', '{{.Id}}', 'fx-frozen']).trim();
      const runcRoot = path.join(fast.engine.dir, 'exec', 'runc');
      execFileSync(runcPath, ['--root', runcRoot, 'pause', id]); // berthd still thinks it runs
      const init = Number(fast.ok(['inspect', '-f', '{{.State.Pid}}', 'fx-frozen']));
      // The freezer's cgroup (v1), or the unified one (v2).
      const cgroupOf = (pid: string | number) => {
        try {
          const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
          return lines.find((l) => /^\d+:freezer:/.test(l)) ?? lines.find((l) => l.startsWith('0::'));
        } catch {
          return undefined; // gone meanwhile
        }
      };
      const inContainer = () =>
        fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p) && cgroupOf(p) === cgroupOf(init)).length;
      const stuck = fast.engine.dockerAsync(['exec', 'fx-frozen', 'echo', 'thawed']);
      // the exec's helper joined the container's cgroup and is frozen there; the shim answers others meanwhile
      for (const deadline = Date.now() + 15_000; inContainer() < 2; ) {
        assert.ok(Date.now() < deadline, 'the exec never reached the frozen container');
        await new Promise((r) => setTimeout(r, 50));
      }
      const t0 = Date.now();
      assert.equal(fast.engine.docker(['kill', '-s', 'USR1', 'fx-frozen']).code, 0);
      assert.ok(Date.now() - t0 < 3000, `kill took ${Date.now() - t0} ms`);
      execFileSync(runcPath, ['--root', runcRoot, 'resume', id]);
      const r = await stuck;
      assert.deepEqual([r.code, r.stdout], [0, 'thawed\n'], r.stderr);
    } finally {
      fast.engine.docker(['rm', '-f', 'fx-frozen']);
    }
  });

  it('went through runc only on the engine told to', () => {
    const execs = (name: string) =>
      fs
        .readFileSync(runcLog(name), 'utf8')
        .split('\n')
        .filter((l) => / exec /.test(l)).length;
    const slowBefore = execs('slow');
    for (const e of both()) for (const c of cases) e.ok(['exec', ...c.flags, c.container, 'true']);
    assert.equal(execs('fast'), 0, 'the fast engine never ran runc exec');
    assert.equal(execs('slow') - slowBefore, cases.length, 'the other one ran it for each exec');
  });

  it('runs containers from a shim binary that cannot be written, even by root', () => {
    const id = fast.ok(['inspect', '-f', '{{.Id}}', 'fx-default']).trim();
    const shims = fs
      .readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return (
            fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(id) &&
            fs.readlinkSync(`/proc/${p}/exe`).includes('berth-shim')
          );
        } catch {
          return false;
        }
      });
    assert.equal(shims.length, 1);
    const exe = fs.readlinkSync(`/proc/${shims[0]}/exe`);
    const mount = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .filter((l) => l.split(' ')[4] === exe)
      .pop();
    assert.ok(mount?.split(' ')[5].split(',').includes('ro'), `${exe} is on a read-only mount: ${mount}`);
    assert.throws(() => fs.openSync(`/proc/${shims[0]}/exe`, 'r+'), /EROFS|ETXTBSY/);
    // "#!/proc/self/exe" makes the container run that binary: it starts (and fails its arguments) but stays read-only
    const r = fast.engine.docker(['exec', 'fx-default', '/evil']);
    assert.match(r.stderr, /berth-shim: missing arguments/);
  });
});
