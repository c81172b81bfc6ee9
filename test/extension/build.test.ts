// Build Image: the inputs (Dockerfile names, tags by Docker's reference rules, build arguments as the docker CLI
// reads --build-arg) and the build terminal against a real berthd — output streamed with the steps, the image
// tagged, build arguments reaching RUN, a Dockerfile outside its context, and a failing step named with its exit code
// and no image tagged.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDockerfile, normalizeTag, parseBuildArgs, suggestTag, validateTag } from '../../src/extension/build/options';
import { BuildTerminal } from '../../src/extension/build/terminal';
import { pushFixture, startRegistry, type Registry } from '../fixtures';
import { startEngine, type TestEngine } from '../helpers/engine';

describe('extension: Build Image inputs', () => {
  it('knows Dockerfiles by name', () => {
    for (const f of [
      'Dockerfile',
      'dockerfile',
      'Dockerfile.dev',
      'app.Dockerfile',
      'Containerfile',
      '/a/b/Dockerfile',
    ])
      assert.ok(isDockerfile(f), f);
    for (const f of ['README.md', 'MyDockerfile', 'dockerfile.md.bak/x']) assert.ok(!isDockerfile(f), f);
  });

  it('accepts the tags docker accepts and words the refusals as docker does', () => {
    for (const t of [
      'app',
      'app:1.0',
      'team/app:v2',
      'localhost:5000/team/app:latest',
      'Registry.Example:5000/a/b',
      'a__b',
      'a-b.c',
    ])
      assert.equal(validateTag(t), undefined, t);
    assert.match(validateTag('App:1')!, /must be lowercase/);
    assert.match(validateTag('')!, /required/);
    assert.match(validateTag('app:')!, /invalid reference format/);
    assert.match(validateTag('-app')!, /invalid reference format/);
    assert.match(validateTag('app:-x')!, /invalid reference format/);
  });

  it('normalizes and suggests tags', () => {
    assert.equal(normalizeTag('app'), 'app:latest');
    assert.equal(normalizeTag('app:1'), 'app:1');
    assert.equal(normalizeTag('localhost:5000/app'), 'localhost:5000/app:latest');
    assert.equal(suggestTag('/src/My Project', '/src/My Project/Dockerfile'), 'my-project:latest');
    assert.equal(suggestTag('/src/app', '/src/app/Dockerfile.dev'), 'app-dev:latest');
    assert.equal(suggestTag('/src/app', '/src/app/prod.Dockerfile'), 'app-prod:latest');
    assert.equal(suggestTag('/', '/Dockerfile'), 'image:latest');
  });

  it('reads build arguments as a shell and the docker CLI would', () => {
    assert.deepEqual(parseBuildArgs(''), {});
    assert.deepEqual(parseBuildArgs(`A=1 B="two words" 'C=it''s' D=x\\ y E=`, {}), {
      A: '1',
      B: 'two words',
      C: 'its',
      D: 'x y',
      E: '',
    });
    assert.deepEqual(parseBuildArgs('FROM_ENV UNSET', { FROM_ENV: 'v' }), { FROM_ENV: 'v' });
    assert.throws(() => parseBuildArgs('A="open'), /unterminated/);
    assert.throws(() => parseBuildArgs('1A=x'), /invalid build argument name/);
  });
});

describe('extension: the Build Image terminal against a real engine', function () {
  this.timeout(180_000);
  let engine: TestEngine;
  let registry: Registry | undefined;
  let dir: string;

  before(async () => {
    registry = await startRegistry();
    await pushFixture(registry, 'busybox', 'library/busybox');
    engine = await startEngine({ config: { 'registry-mirrors': [registry.url] } });
    for await (const m of engine.client.pullImage('busybox', 'latest')) if (m.error) throw new Error(m.error);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-build-ext-'));
  });
  after(async () => {
    await engine?.cleanup();
    await registry?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function collect(t: BuildTerminal): () => string {
    let out = '';
    t.onDidWrite((s) => (out += s));
    return () => out;
  }

  it('streams a build with its steps, passes build arguments and tags the image', async () => {
    const ctx = path.join(dir, 'ok');
    fs.mkdirSync(ctx);
    fs.writeFileSync(path.join(ctx, 'greeting.txt'), 'hello\n');
    fs.writeFileSync(
      path.join(ctx, 'Dockerfile'),
      'FROM busybox\nARG WHO\nCOPY greeting.txt /\nRUN echo "built for $WHO" && cat /greeting.txt > /out\n',
    );
    const t = new BuildTerminal(() => engine.client, {
      contextDir: ctx,
      dockerfile: path.join(ctx, 'Dockerfile'),
      tag: 'ext-built',
      buildArgs: { WHO: 'the tests' },
    });
    const out = collect(t);
    let closed = false;
    t.onDidClose(() => (closed = true));
    t.open();
    const r = await t.done;
    assert.ok(r.ok, JSON.stringify(r));
    assert.match(r.imageId, /^sha256:[0-9a-f]{64}$/);
    const text = out();
    assert.match(text, /\x1b\[1;36mStep 4\/4 : RUN echo/);
    assert.match(text, /built for the tests/);
    assert.match(text, /Successfully tagged ext-built:latest/);
    assert.ok(!/[^\r]\n/.test(text), 'terminal lines end in CRLF');
    const img = await engine.client.inspectImage('ext-built:latest');
    assert.equal(img.Id, r.imageId);
    t.handleInput();
    assert.ok(closed, 'a key closes the finished terminal');
  });

  it('builds a Dockerfile that lies outside its context folder', async () => {
    const ctx = path.join(dir, 'ctx');
    fs.mkdirSync(ctx);
    fs.writeFileSync(path.join(ctx, 'data.txt'), 'ctx\n');
    const df = path.join(dir, 'elsewhere.Dockerfile');
    fs.writeFileSync(df, 'FROM busybox\nCOPY data.txt /data.txt\n');
    const t = new BuildTerminal(() => engine.client, {
      contextDir: ctx,
      dockerfile: df,
      tag: 'ext-outside:1',
      buildArgs: {},
    });
    t.open();
    const r = await t.done;
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal((await engine.client.inspectImage('ext-outside:1')).Id, r.imageId);
  });

  it('names the failing step and its exit code, and tags nothing', async () => {
    const ctx = path.join(dir, 'fail');
    fs.mkdirSync(ctx);
    fs.writeFileSync(
      path.join(ctx, 'Dockerfile'),
      'FROM busybox\nRUN echo before\nRUN echo boom >&2; exit 7\nRUN echo after\n',
    );
    const t = new BuildTerminal(() => engine.client, {
      contextDir: ctx,
      dockerfile: path.join(ctx, 'Dockerfile'),
      tag: 'ext-failed',
      buildArgs: {},
    });
    const out = collect(t);
    const before = (await engine.client.listContainers({ all: true })).length;
    t.open();
    const r = await t.done;
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(
      (await engine.client.listContainers({ all: true })).length,
      before,
      "the failed step's container is removed",
    );
    assert.equal(r.step, 'Step 3/4 : RUN echo boom >&2; exit 7');
    assert.equal(r.code, 7);
    assert.match(r.message, /returned a non-zero code: 7/);
    assert.match(out(), /\x1b\[1;31m✗ Step 3\/4 : RUN echo boom >&2; exit 7 failed: .*non-zero code: 7/);
    assert.ok(!/echo after/.test(out()));
    await assert.rejects(engine.client.inspectImage('ext-failed:latest'), /No such image/);
  });

  it('reports a Dockerfile the engine cannot parse, and a context that is missing', async () => {
    const ctx = path.join(dir, 'bad');
    fs.mkdirSync(ctx);
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM busybox\nNOTANINSTRUCTION x\n');
    const t = new BuildTerminal(() => engine.client, {
      contextDir: ctx,
      dockerfile: path.join(ctx, 'Dockerfile'),
      tag: 'ext-bad',
      buildArgs: {},
    });
    t.open();
    const r = await t.done;
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.message, /unknown instruction: NOTANINSTRUCTION/i);
    const gone = new BuildTerminal(() => engine.client, {
      contextDir: path.join(dir, 'nope'),
      dockerfile: path.join(dir, 'nope', 'Dockerfile'),
      tag: 'ext-nope',
      buildArgs: {},
    });
    gone.open();
    const g = await gone.done;
    assert.equal(g.ok, false);
    if (!g.ok) assert.match(g.message, /no such file|not found/i);
  });
});
