// Dockerfile builds through POST /build (the classic builder's API) and `DOCKER_BUILDKIT=0 docker build`: the
// output byte for byte as dockerd writes it, every instruction, the cache, multi-stage, .dockerignore, failures,
// hostile contexts, a 100 MB context, and the images' parent chain.
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { requireDockerCli } from '../../helpers/engine';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';
import { build, contextTar, outline, postBuild } from './helpers';

/** What dockerd 20.10 wrote for this Dockerfile (captured from the reference dockerd; IDs masked). */
const DOCKERD_TRANSCRIPT = [
  '{"stream":"Step 1/6 : FROM busybox"}',
  '{"stream":"\\n"}',
  '{"stream":" ---\\u003e ID\\n"}',
  '{"stream":"Step 2/6 : ENV FOO=bar"}',
  '{"stream":"\\n"}',
  '{"stream":" ---\\u003e Running in ID\\n"}',
  '{"stream":"Removing intermediate container ID\\n"}',
  '{"stream":" ---\\u003e ID\\n"}',
  '{"stream":"Step 3/6 : COPY a.txt /app/"}',
  '{"stream":"\\n"}',
  '{"stream":" ---\\u003e ID\\n"}',
  '{"stream":"Step 4/6 : RUN cat /app/a.txt \\u0026\\u0026 true"}',
  '{"stream":"\\n"}',
  '{"stream":" ---\\u003e Running in ID\\n"}',
  '{"stream":"hello\\n"}',
  '{"stream":"Removing intermediate container ID\\n"}',
  '{"stream":" ---\\u003e ID\\n"}',
  '{"stream":"Step 5/6 : WORKDIR /app"}',
  '{"stream":"\\n"}',
  '{"stream":" ---\\u003e Running in ID\\n"}',
  '{"stream":"Removing intermediate container ID\\n"}',
  '{"stream":" ---\\u003e ID\\n"}',
  '{"stream":"Step 6/6 : CMD [\\"cat\\", \\"a.txt\\"]"}',
  '{"stream":"\\n"}',
  '{"stream":" ---\\u003e Running in ID\\n"}',
  '{"stream":"Removing intermediate container ID\\n"}',
  '{"stream":" ---\\u003e ID\\n"}',
  '{"aux":{"ID":"sha256:ID"}}',
  '{"stream":"Successfully built ID\\n"}',
  '{"stream":"Successfully tagged t1:latest\\n"}',
  '{"stream":"Successfully tagged t1:v2\\n"}',
  '',
].join('\r\n');

const SIMPLE = {
  Dockerfile:
    'FROM busybox\nENV FOO=bar\nCOPY a.txt /app/\nRUN cat /app/a.txt && true\nWORKDIR /app\nCMD ["cat", "a.txt"]\n',
  'a.txt': 'hello\n',
};

const mask = (s: string) => s.replace(/[0-9a-f]{64}|[0-9a-f]{12}/g, 'ID');

describe('engine API: building images (POST /build)', function () {
  this.timeout(240_000);
  let m: MirroredEngine;
  const sock = () => m.engine.socket;
  const inspect = (ref: string) => JSON.parse(m.ok(['image', 'inspect', ref]))[0];
  const run = (args: string[]) => m.ok(['run', '--rm', '--network', 'none', ...args]);

  before(async function () {
    requireDockerCli(this);
    m = await startMirroredEngine();
  });
  after(async () => {
    await m?.cleanup();
  });

  it('streams dockerd’s exact output (CRLF JSON lines, Step/Running in/Removing/aux/Successfully)', async () => {
    const r = await build(sock(), SIMPLE, { t: ['t1:latest', 't1:v2'] });
    assert.equal(r.status, 200, r.raw);
    assert.equal(mask(r.raw), DOCKERD_TRANSCRIPT);
    assert.equal(run(['t1']), 'hello\n');
    assert.equal(inspect('t1:v2').Id, r.id);
  });

  it('an unchanged rebuild is all "Using cache" and gives the same image; a changed file reruns only what follows', async () => {
    const first = await build(sock(), SIMPLE, { t: 'cache:1' });
    const again = await build(sock(), SIMPLE, { t: 'cache:2' });
    assert.equal(again.id, first.id);
    assert.deepEqual(
      outline(again.text).filter((l) => !l.startsWith('Step')),
      Array(5).fill(' ---> Using cache'),
    );
    const changed = await build(sock(), { ...SIMPLE, 'a.txt': 'changed\n' }, { t: 'cache:3' });
    assert.deepEqual(outline(changed.text), [
      'Step 1/6 : FROM busybox',
      'Step 2/6 : ENV FOO=bar',
      ' ---> Using cache',
      'Step 3/6 : COPY a.txt /app/',
      'Step 4/6 : RUN cat /app/a.txt && true',
      ' ---> Running in ID',
      'Step 5/6 : WORKDIR /app',
      ' ---> Running in ID',
      'Step 6/6 : CMD ["cat", "a.txt"]',
      ' ---> Running in ID',
    ]);
    assert.equal(run(['cache:3']), 'changed\n');
    assert.equal(run(['cache:1']), 'hello\n');
    // nocache: nothing from the cache
    const nocache = await build(sock(), SIMPLE, { nocache: '1' });
    assert.ok(!nocache.text.includes('Using cache'));
    assert.notEqual(nocache.id, first.id);
  });

  it('every step is an image: parents, docker history with IDs, images -a, and rmi removes the chain', async () => {
    const r = await build(sock(), SIMPLE, { t: 'chain:1', nocache: '1' });
    const img = inspect('chain:1');
    assert.match(img.Parent, /^sha256:/);
    const history = m.ok(['history', '--no-trunc', '--format', '{{.ID}}|{{.CreatedBy}}', 'chain:1']).trim().split('\n');
    assert.equal(history.length, 6);
    assert.equal(history[0], `${r.id}|/bin/sh -c #(nop)  CMD ["cat" "a.txt"]`);
    assert.match(history[2], /^sha256:[0-9a-f]{64}\|\/bin\/sh -c cat \/app\/a.txt && true$/);
    assert.match(history[3], /\|\/bin\/sh -c #\(nop\) COPY file:[0-9a-f]{64} in \/app\/ $/);
    const plain = m.ok(['images', '-q', '--no-trunc']);
    const all = m.ok(['images', '-a', '-q', '--no-trunc']);
    const intermediate = history[1].split('|')[0];
    assert.ok(!plain.includes(intermediate), 'intermediate images are hidden without -a');
    assert.ok(all.includes(intermediate));
    // an intermediate step runs like any image
    assert.equal(run([history[2].split('|')[0], 'cat', '/app/a.txt']), 'hello\n');
    const removed = m.ok(['rmi', 'chain:1']);
    assert.match(removed, /Untagged: chain:1/);
    for (const line of history.slice(0, 5)) assert.ok(removed.includes(line.split('|')[0]), `${line} deleted`);
    assert.equal(m.engine.docker(['image', 'inspect', intermediate]).code, 1);
  });

  it('DOCKER_BUILDKIT=0 docker build: every instruction, and the image they make', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-build-'));
    try {
      fs.mkdirSync(path.join(dir, 'src'));
      fs.writeFileSync(path.join(dir, 'src', 'a.txt'), 'A\n');
      fs.writeFileSync(path.join(dir, 'src', 'b.txt'), 'B\n');
      fs.writeFileSync(
        path.join(dir, 'Dockerfile'),
        [
          '# syntax=docker/dockerfile:1',
          'ARG BASE=busybox',
          'FROM ${BASE} AS base',
          'ARG V=1',
          'ENV A=1 B="two words" \\',
          '    C=three\\ four',
          'LABEL "x y"=z version=${V}',
          'MAINTAINER someone',
          'WORKDIR /work',
          'COPY src/ ./',
          'COPY --chown=app:app src/*.txt /owned/',
          'ADD --chmod=0600 src/a.txt /secret',
          'RUN echo built-$V > out.txt && ls -ln /owned && stat -c %a /secret',
          'EXPOSE 80/tcp 443',
          'VOLUME ["/data"]',
          'USER app',
          'HEALTHCHECK --interval=5s --retries=2 CMD true',
          'STOPSIGNAL SIGINT',
          'SHELL ["/bin/sh", "-xc"]',
          'ONBUILD RUN echo hi',
          'ENTRYPOINT ["cat"]',
          'CMD /work/out.txt',
        ].join('\n'),
      );
      const r = m.engine.docker(['build', '-t', 'every', '--build-arg', 'V=2', '--label', 'lab=v', dir], {
        env: { DOCKER_BUILDKIT: '0' },
      });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /^Sending build context to Docker daemon/);
      assert.match(r.stdout, /Step 1\/21 : ARG BASE=busybox\n/);
      assert.match(r.stdout, /Step 21\/21 : LABEL lab=v\n/);
      assert.match(r.stdout, / 1000 +1000 .* a\.txt\n/);
      assert.match(r.stdout, /\n600\n/);
      assert.match(r.stdout, /Successfully tagged every:latest\n/);
      const c = inspect('every').Config;
      assert.deepEqual(c.Env.slice(1), ['A=1', 'B=two words', 'C=three four']);
      assert.deepEqual(c.Labels, { 'x y': 'z', version: '2', lab: 'v' });
      assert.equal(c.WorkingDir, '/work');
      assert.equal(c.User, 'app');
      assert.deepEqual(Object.keys(c.ExposedPorts).sort(), ['443/tcp', '80/tcp']);
      assert.deepEqual(c.Volumes, { '/data': {} });
      assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 5e9, Retries: 2 });
      assert.equal(c.StopSignal, 'SIGINT');
      assert.deepEqual(c.Shell, ['/bin/sh', '-xc']);
      assert.deepEqual(c.OnBuild, ['RUN echo hi']);
      assert.deepEqual(c.Entrypoint, ['cat']);
      assert.deepEqual(c.Cmd, ['/bin/sh', '-xc', '/work/out.txt']);
      assert.equal(inspect('every').Author, 'someone');
      assert.equal(run(['--entrypoint', 'cat', 'every', '/work/out.txt']), 'built-2\n');
      // ONBUILD fires in the image built FROM it
      const child = m.engine.docker(['build', '-t', 'child', '-'], {
        env: { DOCKER_BUILDKIT: '0' },
        input: 'FROM every\nRUN test -f /work/out.txt\n',
      });
      assert.equal(child.code, 0, child.stderr + child.stdout);
      assert.match(child.stdout, /# Executing 1 build trigger\n/);
      assert.match(child.stdout, /\+ echo hi\n/);
      assert.match(child.stdout, /(\n|\x1b\[0m)hi\n/); // after stderr or not: the two streams race
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('multi-stage: AS names, --target, COPY --from a stage, an index and an image', async () => {
    const files = {
      Dockerfile: [
        'FROM busybox AS one',
        'RUN echo one > /one',
        'FROM busybox AS two',
        'COPY --from=one /one /from-name',
        'COPY --from=0 /one /from-index',
        'COPY --from=busybox /etc/group /from-image',
        'RUN cat /from-name /from-index && head -1 /from-image',
        'FROM two',
        'RUN echo three',
      ].join('\n'),
    };
    const r = await build(sock(), files, { target: 'two', t: 'staged' });
    assert.equal(r.status, 200);
    assert.equal(r.error, undefined, r.text);
    assert.match(r.text, /one\none\nroot:x:0:\n/);
    assert.ok(!r.text.includes('Step 8/9'), 'stops at the target');
    assert.equal(r.messages.filter((x) => x.aux).length, 2);
    const bad = await build(sock(), files, { target: 'nope' });
    assert.equal(bad.status, 400);
    assert.equal(bad.error?.message, 'failed to reach build target nope in Dockerfile');
  });

  it('a failing RUN: errorDetail with its exit code, nothing tagged, the container kept (removed with forcerm)', async () => {
    const files = { Dockerfile: 'FROM busybox\nRUN echo ok\nRUN echo oops >&2 && exit 3\n' };
    const before = m.ok(['ps', '-aq']).trim().split('\n').filter(Boolean).length;
    const r = await build(sock(), files, { t: 'never:1' });
    assert.equal(r.status, 200);
    assert.deepEqual(r.error, {
      code: 3,
      message: "The command '/bin/sh -c echo oops >&2 && exit 3' returned a non-zero code: 3",
    });
    assert.ok(r.raw.includes('{"stream":"\\u001b[91moops\\n\\u001b[0m"}'), r.raw);
    assert.ok(
      r.raw.endsWith(
        '{"errorDetail":{"code":3,"message":"The command \'/bin/sh -c echo oops \\u003e\\u00262 \\u0026\\u0026 exit 3\' returned a non-zero code: 3"},"error":"The command \'/bin/sh -c echo oops \\u003e\\u00262 \\u0026\\u0026 exit 3\' returned a non-zero code: 3"}\r\n',
      ),
    );
    assert.equal(m.engine.docker(['image', 'inspect', 'never:1']).code, 1);
    assert.equal(m.ok(['ps', '-aq']).trim().split('\n').filter(Boolean).length, before + 1);
    await build(sock(), files, { forcerm: '1' });
    assert.equal(m.ok(['ps', '-aq']).trim().split('\n').filter(Boolean).length, before + 1);
    // the docker CLI exits with the step's code
    const cli = m.engine.docker(['build', '-'], { env: { DOCKER_BUILDKIT: '0' }, input: files.Dockerfile });
    assert.equal(cli.code, 3);
    assert.match(cli.stderr, /returned a non-zero code: 3/);
  });

  it('quiet: only the image ID; on failure the whole output and the error', async () => {
    const ok = await build(sock(), SIMPLE, { q: '1' });
    assert.deepEqual(
      ok.messages.map((x) => x.stream),
      [`${ok.messages[0].stream.trim()}\n`],
    );
    assert.match(ok.messages[0].stream, /^sha256:[0-9a-f]{64}\n$/);
    const bad = await build(sock(), { Dockerfile: 'FROM busybox\nRUN exit 5\n' }, { q: '1' });
    assert.match(bad.text, /^Step 1\/2 : FROM busybox\n/);
    assert.equal(bad.error?.code, 5);
  });

  it('bad requests fail before any output, with dockerd’s words and statuses', async () => {
    const cases: [Record<string, string>, Record<string, string>, number, RegExp][] = [
      [{ Dockerfile: 'FROM busybox\nFOO bar\n' }, {}, 400, /^dockerfile parse error line 2: unknown instruction: FOO$/],
      // dockerd's words; its 500 becomes a 400 (issue 18: a client's bad input is never a 500)
      [{ Dockerfile: 'FROM busybox\n' }, { dockerfile: 'nope' }, 400, /^Cannot locate specified Dockerfile: nope$/],
      [{ Dockerfile: 'FROM busybox\nCOPY a\n' }, {}, 400, /COPY requires at least two arguments/],
      [{ Dockerfile: 'FROM a b\n' }, {}, 400, /FROM requires either one or three arguments/],
      [{ Dockerfile: 'FROM busybox\n' }, { t: 'Bad:Name:x' }, 400, /invalid reference format/],
      [{ Dockerfile: 'FROM busybox\n' }, { platform: 'linux/s390x' }, 400, /platform linux\/s390x is not supported/],
      [{ Dockerfile: 'FROM busybox\n' }, { buildargs: '{nope' }, 400, /error reading build args/],
      // Go's decoder: a wrong JSON type in buildargs/labels/cachefrom is a 400 with its text, never a build
      [
        { Dockerfile: 'FROM busybox\n' },
        { buildargs: '{"X":1}' },
        400,
        /^error reading build args: json: cannot unmarshal number into Go value of type string$/,
      ],
      [
        { Dockerfile: 'FROM busybox\n' },
        { buildargs: '["X"]' },
        400,
        /^error reading build args: json: cannot unmarshal array into Go value of type map\[string\]\*string$/,
      ],
      [
        { Dockerfile: 'FROM busybox\n' },
        { labels: '{"a":{"b":1}}' },
        400,
        /^error reading labels: json: cannot unmarshal object into Go value of type string$/,
      ],
      [
        { Dockerfile: 'FROM busybox\n' },
        { cachefrom: '"busybox"' },
        400,
        /^error reading cache-from: json: cannot unmarshal string into Go value of type \[\]string$/,
      ],
      [
        { Dockerfile: 'FROM busybox\n' },
        { cachefrom: '[true]' },
        400,
        /^error reading cache-from: json: cannot unmarshal bool into Go value of type string$/,
      ],
      [{ Dockerfile: '' }, {}, 400, /cannot be empty/],
      [{ Dockerfile: 'RUN true\n' }, {}, 400, /no build stage in current context/],
    ];
    for (const [files, query, status, message] of cases) {
      const r = await build(sock(), files, query);
      assert.equal(r.status, status, `${JSON.stringify(files)} ${r.raw}`);
      assert.match(r.error!.message, message);
    }
    const missing = await build(sock(), { Dockerfile: 'FROM busybox\nCOPY nope.txt /\n' });
    assert.equal(
      missing.error?.message,
      'COPY failed: file not found in build context or excluded by .dockerignore: stat nope.txt: file does not exist',
    );
  });

  it('dockerfile in a subfolder, lower-case dockerfile, heredocs, ADD of a local archive, wildcards, JSON forms', async () => {
    const gz = await tgz({ 'in/tar.txt': 'from the archive\n' });
    const r = await build(
      sock(),
      {
        'sub/dir/Dockerfile.dev': [
          'FROM busybox',
          'COPY <<EOF /here.txt',
          'doc $HOSTNAME',
          'EOF',
          'RUN <<EOT',
          'echo from heredoc',
          'echo line two',
          'EOT',
          'RUN cat <<A > /two.txt',
          'first',
          'A',
          'ADD a.tar.gz /unpacked/',
          'ADD a.tar.gz /dir/',
          'COPY ["w/*.txt", "/w/"]',
          'RUN cat /here.txt /two.txt /unpacked/in/tar.txt && ls /w && ls /dir',
        ].join('\n'),
        'a.tar.gz': { name: 'a.tar.gz', content: gz },
        'w/a.txt': 'a',
        'w/b.txt': 'b',
        'w/c.log': 'c',
      },
      { dockerfile: 'sub/dir/Dockerfile.dev' },
    );
    assert.equal(r.error, undefined, r.text);
    assert.match(r.text, /from heredoc\nline two\n/);
    assert.match(r.text, /doc \nfirst\nfrom the archive\na\.txt\nb\.txt\nin\n/);
    const lower = await build(sock(), { dockerfile: 'FROM busybox\nRUN echo lower\n' });
    assert.match(lower.text, /lower\n/);
  });

  it('build args, ARG before FROM, labels, network none, extra hosts and shm size reach the RUN container', async () => {
    const r = await build(
      sock(),
      {
        Dockerfile: [
          'ARG TAG=latest',
          'FROM busybox:${TAG}',
          'ARG X',
          'ARG Y=dflt',
          'RUN echo "x=$X y=$Y" && grep myhost /etc/hosts && df -k /dev/shm | tail -1 | awk \'{print $2}\' && ip -o link | cut -d: -f2',
        ].join('\n'),
      },
      {
        buildargs: JSON.stringify({ X: 'one', UNUSED: '1' }),
        labels: JSON.stringify({ 'com.example': 'yes' }),
        networkmode: 'none',
        extrahosts: 'myhost:10.1.2.3',
        shmsize: String(32 * 1024 * 1024),
      },
    );
    assert.equal(r.error, undefined, r.text);
    assert.match(r.text, /x=one y=dflt\n10\.1\.2\.3\tmyhost\n32768\n lo\n/);
    assert.match(r.text, /\[Warning\] One or more build-args \[UNUSED\] were not consumed\n/);
    assert.equal(inspect(r.id!).Config.Labels['com.example'], 'yes');
    // build args take part in the cache key: another value reruns the step
    const again = await build(sock(), { Dockerfile: 'FROM busybox\nARG X\nRUN echo $X\n' }, { buildargs: '{"X":"a"}' });
    const other = await build(sock(), { Dockerfile: 'FROM busybox\nARG X\nRUN echo $X\n' }, { buildargs: '{"X":"b"}' });
    const same = await build(sock(), { Dockerfile: 'FROM busybox\nARG X\nRUN echo $X\n' }, { buildargs: '{"X":"a"}' });
    assert.notEqual(again.id, other.id);
    assert.equal(same.id, again.id);
  });

  it('.dockerignore: the docker CLI leaves files out (Go patterns, ! exceptions); the engine drops Dockerfile and itself', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ignore-'));
    try {
      const put = (p: string, s: string) => {
        fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
        fs.writeFileSync(path.join(dir, p), s);
      };
      put('.dockerignore', '# comment\n*.log\n!keep.log\nnode_modules\n**/secret*\nDockerfile\n.dockerignore\n');
      put('Dockerfile', 'FROM busybox\nCOPY . /ctx/\nRUN cd /ctx && find . -type f | sort\n');
      put('a.txt', 'a');
      put('x.log', 'x');
      put('keep.log', 'k');
      put('node_modules/m/index.js', 'm');
      put('deep/er/secret.key', 's');
      put('deep/er/public.txt', 'p');
      const r = m.engine.docker(['build', dir], { env: { DOCKER_BUILDKIT: '0' } });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /\n\.\/a\.txt\n\.\/deep\/er\/public\.txt\n\.\/keep\.log\n/);
      assert.ok(!/Dockerfile|dockerignore|x\.log|secret|node_modules/.test(r.stdout.split('find')[1]), r.stdout);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hostile contexts: nothing outside the context is read, nothing outside the layer written', async () => {
    const marker = path.join(os.tmpdir(), `berth-pwned-${crypto.randomBytes(4).toString('hex')}`);
    // a name that climbs out of the context
    let r = await build(sock(), { Dockerfile: 'FROM busybox\n', [`../../../../..${marker}`]: 'x' });
    assert.equal(r.status, 400);
    assert.match(r.error!.message, /outside of the context/);
    // an entry below a symlink the archive made
    r = await build(sock(), {
      Dockerfile: 'FROM busybox\n',
      link: { name: 'link', type: 'symlink', linkname: path.dirname(marker) },
      [`link/${path.basename(marker)}`]: 'x',
    });
    assert.equal(r.status, 400);
    assert.match(r.error!.message, /below the symbolic link/);
    assert.ok(!fs.existsSync(marker));
    // symlinks that point out of the context are followed inside it only
    r = await build(sock(), {
      Dockerfile: 'FROM busybox\nCOPY etc/hostname /leak\n',
      etc: { name: 'etc', type: 'symlink', linkname: '/etc' },
    });
    assert.match(r.error!.message, /^COPY failed: too many links/); // /etc inside the context is the link itself
    r = await build(sock(), {
      Dockerfile: 'FROM busybox\nCOPY up /leak\nRUN cat /leak\n',
      up: { name: 'up', type: 'symlink', linkname: '../../../../../../etc/hostname' },
    });
    assert.match(r.error!.message, /file not found in build context/);
    // ADD of an archive that climbs out of its destination
    const evil = await tgz({ [`../../../../../../../..${marker}`]: 'x' });
    r = await build(sock(), {
      Dockerfile: 'FROM busybox\nADD evil.tgz /x/\n',
      'evil.tgz': { name: 'evil.tgz', content: evil },
    });
    assert.ok(r.error, r.text);
    assert.ok(!fs.existsSync(marker));
    // a COPY through a symlink in the image stays in the image
    r = await build(sock(), {
      Dockerfile: `FROM busybox\nRUN ln -s ${path.dirname(marker)} /escape\nCOPY f /escape/${path.basename(marker)}\nRUN cat /escape/${path.basename(marker)}\n`,
      f: 'inside\n',
    });
    assert.equal(r.error, undefined, r.text);
    assert.match(r.text, /inside\n/);
    assert.ok(!fs.existsSync(marker), 'written on the host');
  });

  it('a 100 MB context streams through (the engine never holds it)', async () => {
    const size = 100 * 1024 * 1024;
    const hash = crypto.createHash('sha256');
    const chunk = crypto.randomBytes(1 << 20);
    const pack = tar.pack();
    pack.entry(
      { name: 'Dockerfile' },
      'FROM busybox\nCOPY big.bin /big.bin\nRUN sha256sum /big.bin && stat -c %s /big.bin\n',
    );
    const sink = pack.entry({ name: 'big.bin', size }, () => pack.finalize()) as unknown as NodeJS.WritableStream;
    (async () => {
      for (let sent = 0; sent < size; sent += chunk.length) {
        hash.update(chunk);
        if (!sink.write(chunk)) await new Promise<void>((r) => sink.once('drain', () => r()));
      }
      sink.end();
    })();
    const pid = m.engine.process().pid!;
    const hwm = () => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
    const before = hwm();
    const r = await postBuild(sock(), pack as unknown as Readable);
    assert.equal(r.error, undefined, r.text);
    assert.ok(r.text.includes(`${hash.digest('hex')}  /big.bin\n${size}\n`), r.text);
    assert.ok(hwm() - before < 60 * 1024 * 1024, `engine peak RSS grew by ${(hwm() - before) >> 20} MB`);
  });

  it('ADD from a URL (kept as downloaded, named from the URL or Content-Disposition), docker import from a URL', async () => {
    const gz = await tgz({ 'x.txt': 'x' });
    const rootfs = await tgz({ 'hello.txt': 'imported over http\n' });
    const server = http.createServer((req, res) => {
      if (req.url === '/dl/a.tar.gz') {
        res.writeHead(200, { 'Last-Modified': 'Mon, 01 Jan 2024 00:00:00 GMT' });
        res.end(gz);
      } else if (req.url === '/named/') {
        res.writeHead(200, { 'Content-Disposition': 'attachment; filename="from-header.txt"' });
        res.end('cd\n');
      } else if (req.url === '/rootfs.tgz') res.end(rootfs);
      else {
        res.writeHead(404);
        res.end('nope');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as any).port}`;
    try {
      const r = await build(sock(), {
        Dockerfile: `FROM busybox\nADD ${base}/dl/a.tar.gz ${base}/named/ /dl/\nRUN ls /dl && date -u -r /dl/a.tar.gz +%Y && cat /dl/from-header.txt\n`,
      });
      assert.equal(r.error, undefined, r.text);
      assert.match(r.text, /a\.tar\.gz\nfrom-header\.txt\n2024\ncd\n/);
      const missing = await build(sock(), { Dockerfile: `FROM busybox\nADD ${base}/gone /x\n` });
      assert.match(
        missing.error!.message,
        /^ADD failed: failed to GET http:\/\/127\.0\.0\.1:\d+\/gone with status 404/,
      );
      const copy = await build(sock(), { Dockerfile: `FROM busybox\nCOPY ${base}/dl/a.tar.gz /x\n` });
      assert.equal(copy.error?.message, "COPY failed: source can't be a URL for COPY");
      // not spawnSync: the server answering the engine lives in this process
      const imported = await m.engine.dockerAsync(['import', `${base}/rootfs.tgz`, 'from-url']);
      assert.equal(imported.code, 0, imported.stderr);
      assert.match(imported.stdout, /^sha256:/);
      assert.equal(inspect('from-url').Comment, `Imported from ${base}/rootfs.tgz`);
    } finally {
      server.close();
    }
  });

  it('a context sent gzip-compressed, and cache-from an image', async () => {
    const plain = contextTar(SIMPLE);
    const zlib = await import('node:zlib');
    const r = await postBuild(sock(), plain.pipe(zlib.createGzip()), { t: 'gz' });
    assert.equal(r.error, undefined, r.text);
    const from = await build(sock(), SIMPLE, { nocache: '0', cachefrom: JSON.stringify(['gz']) });
    assert.equal(from.id, r.id);
  });

  it('POST /build/prune frees the build cache', async () => {
    await build(sock(), { Dockerfile: 'FROM busybox\nRUN echo prune > /p\nENV P=1\n' }, { t: 'prunable' });
    m.ok(['rmi', '--no-prune', 'prunable']);
    const res = await new Promise<any>((resolve) => {
      const req = http.request({ socketPath: sock(), method: 'POST', path: '/v1.41/build/prune' }, (rs) => {
        let b = '';
        rs.on('data', (c) => (b += c));
        rs.on('end', () => resolve(JSON.parse(b)));
      });
      req.end();
    });
    assert.ok(res.CachesDeleted.length >= 1, JSON.stringify(res));
    assert.ok(res.SpaceReclaimed > 0);
    const again = await build(sock(), { Dockerfile: 'FROM busybox\nRUN echo prune > /p\nENV P=1\n' });
    assert.ok(!again.text.includes('Using cache'));
  });
});

/** A gzipped tar of files. */
async function tgz(files: Record<string, string>): Promise<Buffer> {
  const zlib = await import('node:zlib');
  const pack = tar.pack();
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o644 }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of (pack as unknown as Readable).pipe(zlib.createGzip())) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
