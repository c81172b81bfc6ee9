// `berth cp` against berthd's archive API (with a registry mirror for busybox), checked against what the docker
// CLI does with the same engine where it is installed: files, directories, "dir/.", symlinks, stdin/stdout tars,
// stopped containers, volumes, -a, and docker's errors and exit codes.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { berth } from '../helpers/cli';
import { type CliTarget, cleanUpCliTarget, startCliTarget } from '../helpers/cli-target';
import { dockerCliComparable } from '../helpers/engine';

describe('berth CLI: cp', function () {
  this.timeout(180000);
  let t: CliTarget;
  let dir: string;
  const run = (args: string[], input?: string) => berth(t.host, args, { input });
  const ok = (args: string[]) => {
    const r = run(args);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const unique = (n: string) => `cli-${n}-${process.pid}`;
  const created: string[] = [];
  const container = (name: string, args: string[]) => {
    created.push(name);
    ok([...args.slice(0, 1), '--name', name, ...args.slice(1)]);
    return name;
  };

  before(async () => {
    t = await startCliTarget({ images: true });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cp-'));
    fs.mkdirSync(path.join(dir, 'src/sub'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'src/a.txt'), 'alpha\n');
    fs.writeFileSync(path.join(dir, 'src/sub/b.txt'), 'beta\n');
    fs.symlinkSync('a.txt', path.join(dir, 'src/link'));
  });
  after(async () => {
    await cleanUpCliTarget(t, created);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('copies files and directories both ways through the archive API', () => {
    const name = container(unique('sleeper'), ['run', '-d', t.image, 'sleep', '300']);
    ok(['cp', path.join(dir, 'src'), `${name}:/tmp/`]);
    ok(['cp', path.join(dir, 'src/a.txt'), `${name}:/tmp/renamed.txt`]);
    ok(['cp', `${name}:/tmp/src`, path.join(dir, 'back')]);
    assert.equal(fs.readFileSync(path.join(dir, 'back/a.txt'), 'utf8'), 'alpha\n');
    assert.equal(fs.readFileSync(path.join(dir, 'back/sub/b.txt'), 'utf8'), 'beta\n');
    assert.equal(fs.readlinkSync(path.join(dir, 'back/link')), 'a.txt');
    ok(['cp', `${name}:/tmp/renamed.txt`, path.join(dir, 'renamed.txt')]);
    assert.equal(fs.readFileSync(path.join(dir, 'renamed.txt'), 'utf8'), 'alpha\n');
    fs.mkdirSync(path.join(dir, 'into'));
    ok(['cp', `${name}:/tmp/src/.`, path.join(dir, 'into')]);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'into')).sort(), ['a.txt', 'link', 'sub']);
    // Into an existing directory: the source's name below it.
    fs.mkdirSync(path.join(dir, 'parent'));
    ok(['cp', `${name}:/tmp/src`, path.join(dir, 'parent')]);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'parent')), ['src']);
    if (dockerCliComparable()) {
      // What berth put there is what the docker CLI gets out.
      assert.equal(t.docker(['cp', `${name}:/tmp/src`, path.join(dir, 'by-docker')]).code, 0);
      assert.equal(fs.readFileSync(path.join(dir, 'by-docker/sub/b.txt'), 'utf8'), 'beta\n');
      assert.equal(fs.readlinkSync(path.join(dir, 'by-docker/link')), 'a.txt');
    }
    // A symlink comes out as itself; -L copies what it points to, under the link's name.
    ok(['cp', `${name}:/tmp/src/link`, path.join(dir, 'link-itself')]);
    assert.equal(fs.readlinkSync(path.join(dir, 'link-itself')), 'a.txt');
    ok(['cp', '-L', `${name}:/tmp/src/link`, path.join(dir, 'link-followed')]);
    assert.equal(fs.readFileSync(path.join(dir, 'link-followed'), 'utf8'), 'alpha\n');
    fs.mkdirSync(path.join(dir, 'followed-into'));
    ok(['cp', '-L', `${name}:/tmp/src/link`, path.join(dir, 'followed-into')]);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'followed-into')), ['link']);
    assert.equal(fs.readFileSync(path.join(dir, 'followed-into/link'), 'utf8'), 'alpha\n');
    const missing = run(['cp', `${name}:/nonexistent`, dir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`Could not find the file /nonexistent in container ${name}`));
    if (dockerCliComparable()) assert.equal(missing.stderr, t.docker(['cp', `${name}:/nonexistent`, dir]).stderr);
    const dirOntoFile = run(['cp', path.join(dir, 'src'), `${name}:/tmp/renamed.txt`]);
    assert.equal(dirOntoFile.code, 1);
    assert.match(dirOntoFile.stderr, /cannot copy a directory to a file/);
  });

  it('streams tars through stdin and stdout with "-"', () => {
    const name = container(unique('tars'), ['run', '-d', t.image, 'sleep', '300']);
    const tarFile = path.join(dir, 'in.tar');
    const packed = ok(['cp', `${name}:/etc/passwd`, '-']);
    assert.match(packed, /^passwd\0/);
    assert.match(packed, /root:x:0:0:/);
    fs.writeFileSync(tarFile, packed, 'latin1');
    const r = berth(t.host, ['cp', '-', `${name}:/tmp`], { input: fs.readFileSync(tarFile, 'latin1') });
    assert.equal(r.code, 0, r.stderr);
    ok(['cp', `${name}:/tmp/passwd`, path.join(dir, 'passwd-back')]);
    assert.match(fs.readFileSync(path.join(dir, 'passwd-back'), 'utf8'), /root:x:0:0:/);
  });

  it('copies into a created container and its volume before it starts', () => {
    const vol = unique('vol');
    const name = container(unique('created'), [
      'create',
      '-v',
      `${vol}:/data`,
      t.image,
      'sh',
      '-c',
      'cat /greeting /data/a.txt',
    ]);
    ok(['cp', path.join(dir, 'src/a.txt'), `${name}:/greeting`]);
    ok(['cp', path.join(dir, 'src/a.txt'), `${name}:/data/`]);
    assert.equal(ok(['start', '-a', name]), 'alpha\nalpha\n');
    ok(['cp', `${name}:/data/a.txt`, path.join(dir, 'from-volume.txt')]);
    assert.equal(fs.readFileSync(path.join(dir, 'from-volume.txt'), 'utf8'), 'alpha\n');
    run(['rm', '-f', name]);
    run(['volume', 'rm', vol]);
  });
});
