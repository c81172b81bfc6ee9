// berth build, commit, import and builder prune: docker's flags and output, the context made as the docker CLI
// makes it (so both share the engine's cache), .dockerignore left out client side, -f outside the context or
// from stdin, -q, the failing step's exit code.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { berth } from '../helpers/cli';
import { type CliTarget, startCliTarget } from '../helpers/cli-target';
import { DOCKER_CLI, has } from '../helpers/deps';

describe('berth CLI: build, commit, import', function () {
  this.timeout(180_000);
  let t: CliTarget;
  let dir: string;
  const run = (args: string[], opts: { input?: string; env?: Record<string, string> } = {}) =>
    berth(t.host, args, opts);
  const put = (p: string, s: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), s);
  };
  const mask = (s: string) => s.replace(/[0-9a-f]{12}/g, 'ID');

  before(async () => {
    t = await startCliTarget({ images: true });
    assert.equal(run(['pull', '-q', t.image]).code, 0);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-build-'));
    put(
      'Dockerfile',
      `FROM ${t.image}\nARG FROM_ENV\nCOPY . /ctx/\nRUN echo "env=$FROM_ENV" && find /ctx -type f | sort\nCMD ["cat", "/ctx/a.txt"]\n`,
    );
    put('a.txt', 'A\n');
    put('ignored.log', 'x');
    put('sub/keep.txt', 'k');
    put('.dockerignore', '*.log\nDockerfile\n');
  });
  after(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await t.cleanup();
  });

  it("builds like docker build: docker's output, .dockerignore, --build-arg from the environment, --label, --iidfile", () => {
    const iid = path.join(dir, '..', `iid-${process.pid}`);
    const r = run(
      ['build', '-t', 'cli-built', '--build-arg', 'FROM_ENV', '--label', 'by=berth', '--iidfile', iid, dir],
      { env: { FROM_ENV: 'set' } },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Sending build context to Docker daemon {2}\d+(\.\d+)?kB\r\r\nStep 1\/6 : FROM /);
    assert.match(r.stdout, /env=set\n\/ctx\/\.dockerignore\n\/ctx\/a\.txt\n\/ctx\/sub\/keep\.txt\n/);
    assert.match(r.stdout, /Successfully tagged cli-built:latest\n$/);
    assert.equal(run(['run', '--rm', '--network', 'none', 'cli-built']).stdout, 'A\n');
    assert.equal(run(['inspect', '-f', '{{.Config.Labels.by}}', 'cli-built']).stdout, 'berth\n');
    const id = fs.readFileSync(iid, 'utf8');
    fs.rmSync(iid);
    assert.equal(run(['inspect', '-f', '{{.Id}}', 'cli-built']).stdout.trim(), id);
  });

  it('shares the cache with the docker CLI (same context sums), and prints what it prints', function () {
    if (t.reference || !has(DOCKER_CLI)) this.skip();
    const viaBerth = run(['build', '--no-cache', dir]);
    const viaDocker = t.docker(['build', '--no-cache', dir], { env: { DOCKER_BUILDKIT: '0' } } as any);
    assert.equal(viaDocker.code, 0, viaDocker.stderr);
    assert.equal(mask(viaBerth.stdout), mask(viaDocker.stdout));
    const cached = t.docker(['build', dir], { env: { DOCKER_BUILDKIT: '0' } } as any);
    assert.equal(cached.stdout.match(/Using cache/g)?.length, 4, cached.stdout);
  });

  it('-f outside the context and from stdin, -q, and a failing step’s exit code', () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-df-'));
    try {
      fs.writeFileSync(
        path.join(other, 'Build.file'),
        `FROM ${t.image}\nRUN cat /etc/hostname > /dev/null && echo outside\n`,
      );
      let r = run(['build', '-f', path.join(other, 'Build.file'), dir]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\noutside\n/);
      r = run(['build', '-q', '-f', '-', dir], { input: `FROM ${t.image}\nRUN echo from-stdin\n` });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
      r = run(['build', '-q', '-f', '-', dir], { input: `FROM ${t.image}\nRUN echo partial && exit 7\n` });
      assert.equal(r.code, 7);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /Step 2\/2 : RUN echo partial && exit 7\n ---> Running in \w+\npartial\n/);
      assert.match(r.stderr, /The command '\/bin\/sh -c echo partial && exit 7' returned a non-zero code: 7\n$/);
      r = run(['build', '--target', 'nope', dir]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /failed to reach build target nope in Dockerfile/);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  it('commit, import and builder prune', () => {
    const name = `cli-commit-${process.pid}`;
    const made = run(['run', '--name', name, '--network', 'none', t.image, 'sh', '-c', 'echo c > /c']);
    assert.equal(made.code, 0, made.stderr);
    const c = run(['commit', '-c', 'CMD ["cat", "/c"]', '-m', 'msg', name, 'cli-committed:v1']);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /^sha256:[0-9a-f]{64}\n$/);
    assert.equal(run(['run', '--rm', '--network', 'none', 'cli-committed:v1']).stdout, 'c\n');
    // a root file system: Debian's static busybox as cat, and a file
    const rootfs = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-rootfs-'));
    fs.mkdirSync(path.join(rootfs, 'bin'));
    fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'cat'));
    fs.chmodSync(path.join(rootfs, 'bin', 'cat'), 0o755);
    fs.writeFileSync(path.join(rootfs, 'c'), 'c\n');
    const tarFile = `${rootfs}.tar`;
    assert.equal(spawnSync('tar', ['-C', rootfs, '-cf', tarFile, '.']).status, 0);
    const i = run(['import', '-c', 'CMD ["/bin/cat", "/c"]', tarFile, 'cli-imported']);
    fs.rmSync(tarFile);
    fs.rmSync(rootfs, { recursive: true });
    assert.equal(i.code, 0, i.stderr);
    assert.equal(run(['run', '--rm', '--network', 'none', 'cli-imported']).stdout, 'c\n');
    run(['rm', name]);
    const p = run(['builder', 'prune', '-f']);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /Total reclaimed space: /);
  });
});
