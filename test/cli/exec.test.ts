// The berth CLI's interactive side against a live berthd: hello-world through the registry mirror, exec with
// -e -u -w and stdin, exit codes next to docker's, and -it flows under a real terminal (tmux): raw mode, the
// terminal's size inside, exit status, ctrl-p ctrl-q detach.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { berth, CLI_JS } from '../helpers/cli';
import { type CliTarget, cleanUpCliTarget, sharedSleeper, startCliTarget } from '../helpers/cli-target';
import { dockerCliComparable } from '../helpers/engine';
import { startPty } from '../helpers/pty';
import { requireDeps, TMUX } from '../helpers/deps';

describe('berth CLI: hello-world, exec, terminals', function () {
  this.timeout(180000);
  let t: CliTarget;
  const run = (args: string[], input?: string) => berth(t.host, args, { input });
  const unique = (n: string) => `cli-${n}-${process.pid}`;
  const created: string[] = [];
  const sleeper = () => sharedSleeper(t, unique('sleeper'), created);

  before(async () => {
    t = await startCliTarget({ images: true });
  });
  after(() => cleanUpCliTarget(t, created));

  it('runs hello-world through the registry mirror like docker run hello-world', () => {
    run(['rmi', '-f', t.helloWorld]);
    const r = run(['run', '--rm', t.helloWorld]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\nHello from Berth!\n/);
    assert.match(
      r.stderr,
      new RegExp(
        `^Unable to find image '${t.helloWorld.replace(/[.]/g, '\\.')}:latest' locally\\nlatest: Pulling from library/hello-world\\n`,
      ),
    );
    assert.match(r.stderr, /\n[0-9a-f]{12}: Pull complete\n/);
    assert.match(r.stderr, /\nDigest: sha256:[0-9a-f]{64}\nStatus: Downloaded newer image for .*hello-world:latest\n$/);
    assert.equal(
      run(['ps', '-a', '-q', '--filter', `ancestor=${t.helloWorld}`]).stdout,
      '',
      '--rm removed the container',
    );
  });

  it("exec runs in the container with -e -u -w and returns the command's exit code", () => {
    const name = sleeper();
    const r = run([
      'exec',
      '-e',
      'GREETING=hi',
      '-w',
      '/tmp',
      '-u',
      '65534',
      name,
      'sh',
      '-c',
      'echo $GREETING $(pwd) $(id -u); exit 4',
    ]);
    assert.equal(r.code, 4, r.stderr);
    assert.equal(r.stdout, 'hi /tmp 65534\n');
    const piped = run(['exec', '-i', name, 'cat'], 'through stdin\n');
    assert.equal(piped.stdout, 'through stdin\n');
    const missing = run(['exec', name, 'no-such-command']);
    if (dockerCliComparable()) assert.equal(missing.code, t.docker(['exec', name, 'no-such-command']).code);
    assert.notEqual(missing.code, 0);
  });

  it('exec -it and run -it work under a real terminal: raw mode, its size, exit status, ctrl-p ctrl-q', async function () {
    requireDeps(this, TMUX);
    const name = sleeper();
    const exec = startPty(`node ${CLI_JS} -H ${t.host} exec -it ${name} sh`, { cols: 97, rows: 31 });
    try {
      const { rows, cols } = exec.size();
      await exec.waitFor(/# $/m);
      await exec.typeUntil(
        'stty size; tty; echo marker-$((6*7))',
        new RegExp(`^${rows} ${cols}\\n/dev/pts/\\d+\\nmarker-42`, 'm'),
      );
      // The local terminal's resize (SIGWINCH) reaches the container's TTY.
      spawnSync('tmux', ['resize-window', '-t', exec.name, '-x', '111', '-y', '27']);
      await exec.typeUntil('stty size', /^27 111$/m);
      exec.send('exit 5', 'Enter');
      await exec.waitFor(/EXIT=5/);
    } finally {
      exec.close();
    }
    const it = unique('interactive');
    created.push(it);
    const runIt = startPty(`node ${CLI_JS} -H ${t.host} run -it --name ${it} ${t.image} sh`);
    try {
      await runIt.waitFor(/# $/m);
      await runIt.typeUntil('echo typed-$((2+3))', /typed-5/);
      runIt.send('C-p', 'C-q');
      await runIt.waitFor(/EXIT=0/);
    } finally {
      runIt.close();
    }
    assert.equal(run(['inspect', '-f', '{{.State.Running}}', it]).stdout, 'true\n');
  });
});
