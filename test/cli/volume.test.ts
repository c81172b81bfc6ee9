// The volume lifecycle through berth: create, ls, inspect, rm, prune — compared with docker's output.
import * as assert from 'node:assert/strict';
import { berth, normalizeTimes } from '../helpers/cli';
import { dockerCliComparable } from '../helpers/engine';
import { type CliTarget, startCliTarget } from '../helpers/cli-target';

describe('berth CLI: volumes', function () {
  this.timeout(60000);
  let t: CliTarget;
  const run = (args: string[], input?: string) => berth(t.host, args, { input });
  // Compared with the docker CLI where it prints what berth follows (docker 28); the assertions below stand alone.
  const same = (args: string[]) => {
    const mine = run(args);
    if (!dockerCliComparable()) return mine;
    const theirs = t.docker(args);
    assert.equal(mine.code, theirs.code, `${args.join(' ')}: ${mine.stderr} / docker: ${theirs.stderr}`);
    assert.equal(normalizeTimes(mine.stdout), normalizeTimes(theirs.stdout), `berth ${args.join(' ')}`);
    return mine;
  };
  const name = (n: string) => `cli-${n}-${process.pid}`;

  before(async () => {
    t = await startCliTarget();
  });
  // Each test starts without this suite's volumes; givenVolumes() makes the two most of them look at.
  beforeEach(() => {
    run(['volume', 'rm', '-f', name('a'), name('b'), name('c')]);
  });
  const givenVolumes = () => {
    assert.equal(run(['volume', 'create', name('a')]).code, 0);
    assert.equal(run(['volume', 'create', '--name', name('b'), '--label', 'team=cli']).code, 0);
  };
  after(async () => {
    if (!t) return;
    run(['volume', 'rm', '-f', name('a'), name('b'), name('c')]);
    await t.cleanup();
  });

  it('creates named volumes and lists them like docker volume ls', () => {
    assert.deepEqual(run(['volume', 'create', name('a')]), { code: 0, stdout: `${name('a')}\n`, stderr: '' });
    assert.deepEqual(run(['volume', 'create', '--name', name('b'), '--label', 'team=cli']), {
      code: 0,
      stdout: `${name('b')}\n`,
      stderr: '',
    });
    const anon = run(['volume', 'create']);
    assert.match(anon.stdout, /^[0-9a-f]{64}\n$/);
    const ls = same(['volume', 'ls']);
    assert.match(ls.stdout, /^DRIVER    VOLUME NAME\n/);
    assert.match(ls.stdout, new RegExp(`^local     ${name('a')}$`, 'm'));
    assert.match(same(['volume', 'ls', '-q']).stdout, new RegExp(`^${name('a')}\n${name('b')}\n`, 'm'));
    const json = same(['volume', 'ls', '--format', '{{json .}}'])
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      json.find((v) => v.Name === name('b')),
      {
        Availability: 'N/A',
        Driver: 'local',
        Group: 'N/A',
        Labels: 'team=cli',
        Links: 'N/A',
        Mountpoint: json.find((v) => v.Name === name('b')).Mountpoint,
        Name: name('b'),
        Scope: 'local',
        Size: 'N/A',
        Status: 'N/A',
      },
    );
    assert.equal(
      same(['volume', 'ls', '--filter', 'label=team=cli', '--format', 'table {{.Name}}\t{{.Labels}}\t{{.Driver}}'])
        .stdout,
      `VOLUME NAME${' '.repeat(Math.max(11, name('b').length) + 3 - 11)}LABELS     DRIVER\n${name('b')}${' '.repeat(Math.max(11, name('b').length) + 3 - name('b').length)}team=cli   local\n`,
    );
    run(['volume', 'rm', anon.stdout.trim()]);
  });

  it('inspects volumes (JSON and -f) like docker volume inspect', () => {
    givenVolumes();
    same(['volume', 'inspect', name('a')]);
    same(['volume', 'inspect', '-f', '{{.Name}} {{.Driver}} {{.Scope}} {{.Labels.team}}', name('b')]);
    assert.equal(run(['volume', 'inspect', '-f', '{{.Labels.team}}', name('b')]).stdout, 'cli\n');
    same(['inspect', '--type', 'volume', '-f', '{{.Name}}', name('a')]);
    const missing = run(['volume', 'inspect', 'no-such-volume']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '[]\n');
  });

  it('system df counts the volumes as docker system df does', () => {
    givenVolumes();
    const df = same(['system', 'df']);
    assert.match(
      df.stdout,
      /^TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\nImages +\d+ +\d+ +\S+ +\S+( \(\d+%\))?\nContainers +\d+ +\d+ +\S+ +\S+\nLocal Volumes   2 +0 +\S+ +\S+( \(\d+%\))?\nBuild Cache +0 +0 +0B +0B\n$/,
    );
    const verbose = same(['system', 'df', '-v']);
    assert.match(
      verbose.stdout,
      new RegExp(`\\nLocal Volumes space usage:\\n\\nVOLUME NAME +LINKS +SIZE\\n(.+\\n)*${name('a')} +0 +\\S+\\n`),
    );
    same(['system', 'df', '--format', '{{json .}}']);
  });

  it('removes volumes, reporting unknown ones like docker (exit 1)', () => {
    givenVolumes();
    assert.deepEqual(run(['volume', 'rm', name('a')]), { code: 0, stdout: `${name('a')}\n`, stderr: '' });
    const again = run(['volume', 'rm', name('a')]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^Error response from daemon: .*no such volume/i);
    if (dockerCliComparable()) assert.equal(again.stderr, t.docker(['volume', 'rm', name('a')]).stderr);
  });

  it('prune asks first, and with -f -a removes unused volumes', () => {
    assert.equal(run(['volume', 'create', name('c')]).code, 0);
    const declined = run(['volume', 'prune', '-a'], 'n\n');
    assert.equal(declined.code, 0);
    assert.match(
      declined.stdout,
      /^WARNING! This will remove all local volumes not used by at least one container\.\nAre you sure you want to continue\? \[y\/N\] $/,
    );
    assert.match(run(['volume', 'ls', '-q']).stdout, new RegExp(name('c')));
    const pruned = run(['volume', 'prune', '-a', '-f']);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(
      pruned.stdout,
      new RegExp(`^Deleted Volumes:\\n(.+\\n)*${name('c')}\\n(.+\\n)*\\nTotal reclaimed space: \\S+\\n$`),
    );
    assert.doesNotMatch(run(['volume', 'ls', '-q']).stdout, new RegExp(name('c')));
  });
});
