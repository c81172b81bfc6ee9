// The container and image commands end to end against berthd with a registry mirror, compared with what the
// docker CLI prints for the same state of the same engine where it is installed: the first run pulling through
// the mirror, an nginx-style -d -p --mount service, ps/images tables, logs -f -t --tail, update --restart,
// save/load, and docker's exit codes. (cp: test/cli/cp.test.ts; exec and -it terminals:
// test/cli/exec.test.ts.)
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { berth, berthAsync, normalizeTimes } from '../helpers/cli';
import { type CliTarget, cleanUpCliTarget, sharedSleeper, startCliTarget } from '../helpers/cli-target';
import { dockerCliComparable } from '../helpers/engine';

/** Shell: waits until /tmp/go exists in the container (the test makes it with exec when it is ready). */
const UNTIL_GO = 'while [ ! -e /tmp/go ]; do sleep 0.1; done';

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('berth CLI: containers and images', function () {
  this.timeout(180000);
  let t: CliTarget;
  const run = (args: string[], input?: string) => berth(t.host, args, { input });
  // Compared with the docker CLI against the same engine where it is installed; the other assertions stand alone.
  const same = (args: string[]) => {
    const mine = run(args);
    if (!dockerCliComparable()) return mine;
    const theirs = t.docker(args);
    assert.equal(
      mine.code,
      theirs.code,
      `${args.join(' ')}: exit ${mine.code} vs docker ${theirs.code}\n${mine.stderr}`,
    );
    assert.equal(normalizeTimes(mine.stdout), normalizeTimes(theirs.stdout), `berth ${args.join(' ')}`);
    return mine;
  };
  /** Like same(), for lists whose order the engine leaves open (images created in the same second). */
  const sameRows = (args: string[]) => {
    const mine = run(args);
    if (!dockerCliComparable()) return mine;
    const theirs = t.docker(args);
    const rows = (out: string) => {
      const [head, ...rest] = normalizeTimes(out).split('\n');
      return [head, ...rest.sort()];
    };
    assert.equal(mine.code, theirs.code, `${args.join(' ')}: ${mine.stderr}`);
    assert.deepEqual(rows(mine.stdout), rows(theirs.stdout), `berth ${args.join(' ')}`);
    return mine;
  };
  const unique = (n: string) => `cli-${n}-${process.pid}`;
  const created: string[] = [];
  const sleeper = () => sharedSleeper(t, unique('sleeper'), created, ['--label', 'role=test']);

  before(async () => {
    t = await startCliTarget({ images: true });
  });
  after(() => cleanUpCliTarget(t, created));

  it('run pulls a missing image first ("Unable to find image … locally") and exits with the container\'s status', () => {
    run(['rmi', '-f', t.image]);
    const name = unique('first');
    created.push(name);
    const r = run(['run', '--name', name, t.image, 'sh', '-c', 'echo hello from busybox; echo to-stderr >&2; exit 3']);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stdout, 'hello from busybox\n');
    const shown = `${t.image}:latest`;
    assert.ok(r.stderr.startsWith(`Unable to find image '${shown}' locally\n`), r.stderr);
    assert.match(r.stderr, new RegExp(`Status: Downloaded newer image for ${shown.replace(/[.]/g, '\\.')}\\n`));
    assert.match(r.stderr, /to-stderr\n/);
    // The image is there now: no pull the second time.
    const again = run(['run', '--rm', t.image, 'echo', 'again']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'again\n');
    assert.equal(again.stderr, '');
  });

  it('runs an nginx-style service: -d -p and --mount, reachable on the published port', async function () {
    if (t.reference) this.skip(); // the reference dockerd here runs without bridge networking
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-www-'));
    const name = unique('web');
    created.push(name);
    try {
      fs.writeFileSync(path.join(dir, 'index.html'), '<h1>served by berth</h1>\n');
      const d = run([
        'run',
        '-d',
        '--name',
        name,
        '-p',
        '127.0.0.1::80',
        '--mount',
        `type=bind,source=${dir},target=/www,readonly`,
        t.image,
        'httpd',
        '-f',
        '-p',
        '80',
        '-h',
        '/www',
      ]);
      assert.equal(d.code, 0, d.stderr);
      const port = run(['port', name, '80']);
      assert.match(port.stdout, /^127\.0\.0\.1:\d+\n$/);
      const hostPort = port.stdout.trim();
      assert.equal(run(['port', name]).stdout, `80/tcp -> ${hostPort}\n`);
      const ps = same(['ps', '--filter', `name=${name}`, '--format', '{{.Names}} {{.Ports}} {{.Mounts}}']);
      assert.equal(ps.stdout, `${name} ${hostPort}->80/tcp ${dir.length > 15 ? `${dir.slice(0, 14)}…` : dir}\n`);
      let body = '';
      for (const deadline = Date.now() + 15_000; !body && Date.now() < deadline; ) {
        body = await fetch(`http://${hostPort}/index.html`)
          .then((r) => r.text())
          .catch(() => '');
        if (!body) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(body, '<h1>served by berth</h1>\n');
      assert.equal(
        run(['inspect', '-f', '{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}}{{end}}', name]).stdout,
        `bind ${dir} /www false\n`,
      );
    } finally {
      run(['rm', '-f', name]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ps, ps -a, -q, --no-trunc, --filter and --format print what docker prints', () => {
    const name = sleeper();
    const exited = unique('exited');
    if (!created.includes(exited)) {
      created.push(exited);
      assert.equal(run(['run', '--name', exited, t.image, 'sh', '-c', 'exit 3']).code, 3);
    }
    const ps = same(['ps']);
    assert.match(ps.stdout, /^CONTAINER ID   IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES\n/);
    assert.match(
      ps.stdout,
      new RegExp(`^[0-9a-f]{12}   ${t.image.replace(/[.]/g, '\\.')} +"sleep 300" +.+ ago +Up .+ ${name}$`, 'm'),
    );
    assert.match(same(['ps', '-a']).stdout, /Exited \(3\) /);
    const ids = same(['ps', '-a', '-q']).stdout.trim().split('\n');
    assert.ok(ids.length >= 2 && ids.every((id) => /^[0-9a-f]{12}$/.test(id)));
    assert.match(same(['ps', '-a', '--no-trunc']).stdout, /^[0-9a-f]{64} /m);
    const filtered = same([
      'ps',
      '-a',
      '--filter',
      `name=${name}`,
      '--format',
      'table {{.Names}}\t{{.Image}}\t{{.Status}}\t{{.Label "role"}}',
    ]);
    assert.match(
      filtered.stdout,
      new RegExp(`^NAMES +IMAGE +STATUS +role\\n${name} +${t.image.replace(/[.]/g, '\\.')} +Up .+ +test\\n$`),
    );
    const json = JSON.parse(same(['ps', '-a', '--filter', `name=${name}`, '--format', '{{json .}}']).stdout);
    assert.deepEqual(Object.keys(json), [
      'Command',
      'CreatedAt',
      'ID',
      'Image',
      'Labels',
      'LocalVolumes',
      'Mounts',
      'Names',
      'Networks',
      'Platform',
      'Ports',
      'RunningFor',
      'Size',
      'State',
      'Status',
    ]);
    assert.equal(json.Names, name);
    assert.equal(json.Labels, 'role=test');
    assert.equal(json.State, 'running');
    assert.match(
      same(['ps', '--filter', 'status=exited', '-a', '--format', '{{.Names}} {{.State}}']).stdout,
      new RegExp(`^${exited} exited$`, 'm'),
    );
    assert.match(
      same(['ps', '-s']).stdout,
      /^CONTAINER ID .+ NAMES +SIZE\n(.+ \d+(\.\d+)?[kMG]?B \(virtual \d+(\.\d+)?[kMG]?B\)\n)+$/,
    );
  });

  it('images, -q, --digests, --no-trunc and --format print what docker prints', () => {
    const table = sameRows(['images']);
    assert.match(table.stdout, /^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE\n/);
    sameRows(['images', '-q']);
    sameRows(['images', '--digests']);
    sameRows(['images', '--no-trunc']);
    sameRows(['images', '--format', 'table {{.Repository}}:{{.Tag}}\t{{.ID}}\t{{.Size}}']);
    sameRows(['images', '--format', '{{json .}}']);
    const one = same(['image', 'ls', t.image]);
    assert.match(
      one.stdout,
      new RegExp(
        `^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE\\n${t.image.replace(/[.]/g, '\\.')} +latest +[0-9a-f]{12} +.+ ago +\\d+(\\.\\d+)?[kM]B\\n$`,
      ),
    );
  });

  it('logs -t --tail 100 and logs -f follow a container like docker logs', async () => {
    const name = unique('logger');
    created.push(name);
    run([
      'run',
      '-d',
      '--name',
      name,
      t.image,
      'sh',
      '-c',
      'i=1; while [ $i -le 150 ]; do echo line $i; i=$((i+1)); done; echo err-line >&2',
    ]);
    assert.equal(run(['wait', name]).stdout, '0\n');
    const tail = same(['logs', '-t', '--tail', '100', name]);
    // The last 100 lines of both streams: err-line went to stderr.
    const lines = tail.stdout.trimEnd().split('\n');
    assert.equal((tail.stdout + tail.stderr).split('\n').filter(Boolean).length, 100);
    assert.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line 5[12]$/);
    assert.match(tail.stderr, /^(\S+Z err-line\n)?$/);
    // stdout and stderr stay apart.
    const both = run(['logs', name]);
    assert.equal(both.stderr, 'err-line\n');
    assert.equal(both.stdout.split('\n').length, 151);
    assert.ok(!both.stdout.includes('err-line'));
    const follower = unique('follow');
    created.push(follower);
    // It writes its second line when the test says so (a file appears), while logs -f is following.
    run(['run', '-d', '--name', follower, t.image, 'sh', '-c', `echo first; ${UNTIL_GO}; echo second`]);
    let followed = '';
    let told = false;
    const f = berthAsync(t.host, ['logs', '-f', '-t', '--tail', '100', follower], {
      onStdout: (d) => (followed += d),
    }).then((r) => ({ ...r, afterGo: told }));
    await until(() => followed.includes(' first\n'), 'logs -f showing the first line');
    told = true;
    assert.equal(run(['exec', follower, 'touch', '/tmp/go']).code, 0);
    const done = await f;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /^\S+Z first\n\S+Z second\n$/);
    assert.ok(done.afterGo, 'logs -f returned before the container finished');
  });

  it('stop, start, restart, kill, pause, unpause, rename and wait answer like docker', () => {
    const name = unique('life');
    created.push(name);
    run(['run', '-d', '--name', name, t.image, 'sleep', '300']);
    assert.deepEqual(run(['stop', '-t', '1', name]), { code: 0, stdout: `${name}\n`, stderr: '' });
    assert.equal(run(['inspect', '-f', '{{.State.Status}}', name]).stdout, 'exited\n');
    assert.equal(run(['start', name]).stdout, `${name}\n`);
    assert.equal(run(['restart', '-t', '1', name]).stdout, `${name}\n`);
    assert.equal(run(['pause', name]).stdout, `${name}\n`);
    assert.match(run(['ps', '--filter', `name=${name}`, '--format', '{{.Status}}']).stdout, /\(Paused\)/);
    assert.equal(run(['unpause', name]).stdout, `${name}\n`);
    assert.equal(run(['kill', name]).stdout, `${name}\n`);
    assert.equal(run(['wait', name]).stdout, '137\n');
    const renamed = `${name}-2`;
    assert.equal(run(['rename', name, renamed]).code, 0);
    created.push(renamed);
    assert.equal(run(['inspect', '-f', '{{.Name}}', renamed]).stdout, `/${renamed}\n`);
    const bad = run(['stop', 'no-such-container']);
    assert.deepEqual(bad, {
      code: 1,
      stdout: '',
      stderr: 'Error response from daemon: No such container: no-such-container\n',
    });
    if (dockerCliComparable()) assert.equal(bad.stderr, t.docker(['stop', 'no-such-container']).stderr);
  });

  it("attach and start -a stream the container's output and return its exit status", async () => {
    const bg = unique('attached');
    created.push(bg);
    // It says "waiting" until the test makes a file; attach (which replays nothing) shows it once connected.
    const script = `while [ ! -e /tmp/go ]; do echo waiting; sleep 0.2; done; echo later; echo on-stderr >&2; exit 6`;
    assert.equal(run(['run', '-d', '--name', bg, t.image, 'sh', '-c', script]).code, 0);
    let seen = '';
    const attaching = berthAsync(t.host, ['attach', bg], { onStdout: (d) => (seen += d) });
    await until(() => seen.includes('waiting\n'), 'attach connected');
    assert.equal(run(['exec', bg, 'touch', '/tmp/go']).code, 0);
    const attached = await attaching;
    assert.equal(attached.code, 6, attached.stderr);
    assert.match(attached.stdout, /^(waiting\n)*later\n$/);
    assert.equal(attached.stderr, 'on-stderr\n');
    const fg = unique('start-a');
    created.push(fg);
    assert.match(
      run(['create', '--name', fg, t.image, 'sh', '-c', 'echo from start; exit 2']).stdout,
      /^[0-9a-f]{64}\n$/,
    );
    assert.deepEqual(run(['start', '-a', fg]), { code: 2, stdout: 'from start\n', stderr: '' });
    const stopped = run(['attach', fg]);
    assert.deepEqual(stopped, {
      code: 1,
      stdout: '',
      stderr: 'You cannot attach to a stopped container, start it first\n',
    });
  });

  it('update --restart=always changes the restart policy (inspect agrees with docker inspect)', () => {
    const name = sleeper();
    assert.deepEqual(run(['update', '--restart=always', name]), { code: 0, stdout: `${name}\n`, stderr: '' });
    same(['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}', name]);
    assert.equal(run(['inspect', '-f', '{{.HostConfig.RestartPolicy.Name}}', name]).stdout, 'always\n');
    assert.equal(run(['update', '--restart=on-failure:2', name]).code, 0);
    assert.match(same(['inspect', '-f', '{{json .HostConfig.RestartPolicy}}', name]).stdout, /"Name":"on-failure"/);
  });

  it('inspect finds containers and images, with -f templates, like docker inspect', () => {
    const name = sleeper();
    const full = JSON.parse(same(['inspect', name]).stdout);
    assert.equal(full.length, 1);
    assert.equal(full[0].Name, `/${name}`);
    assert.match(
      same([
        'inspect',
        '-f',
        '{{.Config.Image}} {{json .Config.Cmd}} {{.State.Running}} {{range .Config.Env}}[{{.}}]{{end}}',
        name,
      ]).stdout,
      new RegExp(`^${t.image.replace(/[.]/g, '\\.')} \\["sleep","300"\\] true (\\[[^\\]]*\\])*\\n$`),
    );
    assert.equal(same(['container', 'inspect', '--format', '{{.Name}}', name]).stdout, `/${name}\n`);
    assert.match(same(['image', 'inspect', '-f', '{{.Id}} {{.Os}}', t.image]).stdout, /^sha256:[0-9a-f]{64} linux\n$/);
    assert.match(
      same(['inspect', '--type', 'image', '-f', '{{index .RepoTags 0}}', t.image]).stdout,
      new RegExp(`^${t.image.replace(/[.]/g, '\\.')}:latest\\n$`),
    );
  });

  it('rm -f removes running containers; errors name the container and exit 1 like docker', () => {
    const name = unique('doomed');
    run(['run', '-d', '--name', name, t.image, 'sleep', '300']);
    const plain = run(['rm', name]);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /^Error response from daemon: /);
    assert.deepEqual(run(['rm', '-f', name]), { code: 0, stdout: `${name}\n`, stderr: '' });
    const gone = run(['rm', name]);
    assert.equal(gone.code, 1);
    assert.equal(gone.stderr, `Error response from daemon: No such container: ${name}\n`);
    if (dockerCliComparable()) assert.equal(gone.stderr, t.docker(['rm', name]).stderr);
  });

  it("run maps start failures to docker's exit codes (127 not found, 126 not executable)", () => {
    const [notFound, notExecutable] = [unique('enoent'), unique('eacces')];
    created.push(notFound, notExecutable);
    const r127 = run(['run', '--name', notFound, t.image, 'no-such-binary']);
    assert.equal(r127.code, 127);
    assert.match(r127.stderr, /^berth: Error response from daemon: .*executable file not found/m);
    assert.equal(run(['run', '--name', notExecutable, t.image, '/etc/passwd']).code, 126);
  });

  it('save and load round-trip an image', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-save-'));
    const tar = path.join(dir, 'img.tar');
    try {
      const tag = `${t.image}:cli-roundtrip`;
      assert.equal(run(['tag', t.image, tag]).code, 0);
      assert.equal(run(['save', '-o', tar, tag]).code, 0);
      assert.ok(fs.statSync(tar).size > 100_000);
      assert.match(run(['rmi', tag]).stdout, /^Untagged: /);
      const loaded = run(['load', '-i', tar]);
      assert.equal(loaded.code, 0, loaded.stderr);
      assert.match(loaded.stdout, /Loaded image: .*:cli-roundtrip\n/);
      assert.equal(
        run(['images', '-q', tag]).stdout,
        `${run(['inspect', '-f', '{{.Id}}', t.image]).stdout.slice(7, 19)}\n`,
      );
      run(['rmi', tag]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("top and stats --no-stream show docker's columns", () => {
    const name = sleeper();
    const top = run(['top', name]);
    assert.equal(top.code, 0, top.stderr);
    assert.match(top.stdout, /^UID {17}PID {17}PPID {16}C {19}STIME {15}TTY {17}TIME {16}CMD\n.*sleep 300\n/);
    const stats = run(['stats', '--no-stream', name]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(
      stats.stdout,
      /^CONTAINER ID   NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS\n[0-9a-f]{12}   cli-sleeper-\d+ +\d+\.\d\d% +\S+ \/ \S+ +\d+\.\d\d% +\S+ \/ \S+ +\S+ \/ \S+ +1\n$/,
    );
  });
});
