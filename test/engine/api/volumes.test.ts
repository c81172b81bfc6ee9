import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { apiAtLeast, requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';

function curl(socket: string, args: string[]): { code: number; body: any } {
  const r = spawnSync('curl', ['-sS', '--unix-socket', socket, '-o', '-', '-w', '\n%{http_code}', ...args], {
    encoding: 'utf8',
  });
  const lines = r.stdout.trimEnd().split('\n');
  const code = Number(lines.pop());
  const text = lines.join('\n');
  return { code, body: text ? JSON.parse(text) : undefined };
}

const post = (socket: string, p: string, body?: unknown) =>
  curl(socket, [
    '-X',
    'POST',
    '-H',
    'Content-Type: application/json',
    ...(body === undefined ? [] : ['-d', JSON.stringify(body)]),
    `http://d${p}`,
  ]);

describe('engine API: volumes', function () {
  let engine: TestEngine;
  before(async () => {
    engine = await startEngine();
  });
  after(async () => engine?.cleanup());

  it("creates, inspects, lists and removes volumes in Docker's shapes", () => {
    const c = post(engine.socket, '/v1.45/volumes/create', { Name: 'api-vol', Labels: { a: 'b' } });
    assert.equal(c.code, 201);
    assert.deepEqual(Object.keys(c.body).sort(), [
      'CreatedAt',
      'Driver',
      'Labels',
      'Mountpoint',
      'Name',
      'Options',
      'Scope',
    ]);
    assert.equal(c.body.Mountpoint, path.join(engine.dataRoot, 'volumes/api-vol/_data'));
    assert.deepEqual(c.body.Labels, { a: 'b' });
    assert.equal(c.body.Options, null);
    assert.equal(c.body.Scope, 'local');
    const again = post(engine.socket, '/volumes/create', { Name: 'api-vol' });
    assert.equal(again.code, 201);
    assert.equal(again.body.CreatedAt, c.body.CreatedAt);
    const i = curl(engine.socket, ['http://d/volumes/api-vol']);
    assert.equal(i.code, 200);
    assert.deepEqual(i.body, c.body);
    const l = curl(engine.socket, [
      'http://d/volumes?filters=' + encodeURIComponent(JSON.stringify({ label: ['a=b'] })),
    ]);
    assert.deepEqual(l.body, { Volumes: [c.body], Warnings: null });
    assert.equal(curl(engine.socket, ['-X', 'DELETE', 'http://d/volumes/api-vol']).code, 204);
    const gone = curl(engine.socket, ['http://d/volumes/api-vol']);
    assert.deepEqual(gone, { code: 404, body: { message: 'get api-vol: no such volume' } });
    assert.equal(curl(engine.socket, ['-X', 'DELETE', 'http://d/volumes/api-vol?force=1']).code, 204);
  });

  it("answers bad requests with Docker's errors and changes nothing", () => {
    const bad = post(engine.socket, '/volumes/create', { Name: 'x/../../etc' });
    assert.equal(bad.code, 400);
    assert.match(bad.body.message, /includes invalid characters for a local volume name/);
    assert.equal(
      post(engine.socket, '/volumes/create', { Name: 'v2', DriverOpts: { type: 'tmpfs' } }).body.message,
      'create v2: missing required option: "device"',
    );
    assert.equal(post(engine.socket, '/volumes/create', { Name: 'v2', Driver: 'nfsplugin' }).code, 404);
    assert.equal(curl(engine.socket, ['-X', 'POST', '-d', '{bad', 'http://d/volumes/create']).code, 400);
    assert.deepEqual(curl(engine.socket, ['http://d/volumes?filters=' + encodeURIComponent('{"bogus":["x"]}')]), {
      code: 400,
      body: { message: "invalid filter 'bogus'" },
    });
    assert.deepEqual(
      curl(engine.socket, ['http://d/volumes?filters=' + encodeURIComponent('{"dangling":["maybe"]}')]),
      { code: 400, body: { message: "invalid filter 'dangling=[maybe]'" } },
    );
    assert.deepEqual(post(engine.socket, '/volumes/prune?filters=' + encodeURIComponent('{"name":["x"]}')), {
      code: 400,
      body: { message: "invalid filter 'name'" },
    });
    assert.equal(post(engine.socket, '/volumes/prune?filters=' + encodeURIComponent('{"all":["perhaps"]}')).code, 400);
    assert.deepEqual(fs.readdirSync(path.join(engine.dataRoot, 'volumes')), []);
  });

  it('prunes anonymous volumes only on API ≥ 1.42, everything unused on older APIs', () => {
    const anon = post(engine.socket, '/volumes/create', {}).body;
    assert.match(anon.Name, /^[0-9a-f]{64}$/);
    assert.deepEqual(anon.Labels, { 'com.docker.volume.anonymous': '' });
    fs.writeFileSync(path.join(anon.Mountpoint, 'f'), Buffer.alloc(4096));
    post(engine.socket, '/volumes/create', { Name: 'named-one' });
    const p1 = post(engine.socket, '/v1.45/volumes/prune');
    assert.deepEqual(p1, { code: 200, body: { VolumesDeleted: [anon.Name], SpaceReclaimed: 4096 } });
    const p2 = post(engine.socket, '/v1.41/volumes/prune');
    assert.deepEqual(p2.body.VolumesDeleted, ['named-one']);
  });

  it('creates one volume when many clients create the same name at once', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => engine.client.createVolume({ Name: 'raced' })));
    assert.ok(results.every((r) => r.Name === 'raced' && r.CreatedAt === results[0].CreatedAt));
    assert.deepEqual(fs.readdirSync(path.join(engine.dataRoot, 'volumes')), ['raced']);
    await engine.client.removeVolume('raced');
  });

  it('reports volume disk usage in /system/df (sizes from the disk, option volumes left out) and an empty build cache', () => {
    const a = post(engine.socket, '/volumes/create', { Name: 'df-a' }).body;
    post(engine.socket, '/volumes/create', { Name: 'df-tmpfs', DriverOpts: { type: 'tmpfs', device: 'tmpfs' } });
    fs.mkdirSync(path.join(a.Mountpoint, 'd'));
    fs.writeFileSync(path.join(a.Mountpoint, 'd/one'), Buffer.alloc(70_000));
    fs.writeFileSync(path.join(a.Mountpoint, 'two'), Buffer.alloc(5_000));
    const df = curl(engine.socket, ['http://d/v1.45/system/df']);
    assert.equal(df.code, 200);
    assert.deepEqual(
      df.body.Volumes.map((v: any) => [v.Name, v.UsageData]),
      [['df-a', { Size: 75_000, RefCount: 0 }]],
    );
    assert.deepEqual(df.body.BuildCache, []);
    assert.equal(curl(engine.socket, ['http://d/system/df?type=bogus']).code, 400);
    // nothing built: nothing to free (dockerd answers null, not [])
    assert.deepEqual(post(engine.socket, '/build/prune'), {
      code: 200,
      body: { CachesDeleted: null, SpaceReclaimed: 0 },
    });
    for (const n of ['df-a', 'df-tmpfs']) curl(engine.socket, ['-X', 'DELETE', `http://d/volumes/${n}`]);
  });

  describe('with the real docker CLI', function () {
    before(function () {
      requireDockerCli(this);
    });

    it("docker volume create / ls / inspect / rm / prune (the seeds' my-vol flow without containers)", () => {
      const ok = (args: string[]) => {
        const r = engine.docker(args);
        assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
        return r.stdout;
      };
      assert.equal(ok(['volume', 'create', 'my-vol']).trim(), 'my-vol');
      assert.match(ok(['volume', 'ls']), /^DRIVER\s+VOLUME NAME\nlocal\s+my-vol\n$/);
      const [insp] = JSON.parse(ok(['volume', 'inspect', 'my-vol']));
      assert.equal(insp.Mountpoint, path.join(engine.dataRoot, 'volumes/my-vol/_data'));
      assert.equal(insp.Driver, 'local');
      assert.equal(ok(['volume', 'inspect', '--format', '{{.Mountpoint}}', 'my-vol']).trim(), insp.Mountpoint);
      fs.writeFileSync(path.join(insp.Mountpoint, 'index.html'), '<h1>hi</h1>');

      ok([
        'volume',
        'create',
        '--label',
        'env=test',
        '--opt',
        'type=tmpfs',
        '--opt',
        'device=tmpfs',
        '--opt',
        'o=size=1m',
        'scratch',
      ]);
      const [s] = JSON.parse(ok(['volume', 'inspect', 'scratch']));
      assert.deepEqual(s.Options, { device: 'tmpfs', o: 'size=1m', type: 'tmpfs' });
      assert.deepEqual(s.Labels, { env: 'test' });
      assert.equal(ok(['volume', 'ls', '-q', '--filter', 'label=env=test']).trim(), 'scratch');
      assert.equal(ok(['volume', 'ls', '-q', '--filter', 'name=my']).trim(), 'my-vol');
      assert.equal(
        ok(['volume', 'ls', '-q', '--filter', 'dangling=true']).trim().split('\n').sort().join(' '),
        'my-vol scratch',
      );

      const bad = engine.docker(['volume', 'create', 'a/b']);
      assert.equal(bad.code, 1);
      assert.equal(
        bad.stderr.trim(),
        'Error response from daemon: create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path',
      );

      const nope = engine.docker(['volume', 'rm', 'nope']);
      // (A CLI before Docker 23 words the engine's 404 its own way.)
      assert.match(
        nope.stderr.trim(),
        /^(Error response from daemon: get nope: no such volume|Error: No such volume: nope)$/,
      );
      assert.equal(engine.docker(['volume', 'rm', '-f', 'nope']).code, 0);

      const anon = ok(['volume', 'create']).trim();
      assert.match(anon, /^[0-9a-f]{64}$/);
      const p = ok(['volume', 'prune', '-f']);
      assert.match(p, new RegExp(`Deleted Volumes:\\n(.+\\n)*${anon}\\n`));
      if (apiAtLeast(engine.dockerApiVersion(), '1.42')) {
        // Docker 23+ (API 1.42): prune leaves named volumes alone unless --all.
        assert.ok(fs.existsSync(path.join(insp.Mountpoint, 'index.html')), 'named volume data survives a plain prune');
        ok(['volume', 'create', '--label', 'env=test', 'labelled']);
        const pa = ok(['volume', 'prune', '-f', '--all', '--filter', 'label=env=test']);
        // Volumes with mount options hold no local data: prune leaves them out, as Docker does.
        assert.match(pa, /^Deleted Volumes:\nlabelled\n\nTotal reclaimed space: 0B\n$/);
        assert.equal(ok(['volume', 'rm', 'scratch']).trim(), 'scratch');
        assert.equal(ok(['volume', 'rm', 'my-vol']).trim(), 'my-vol');
      } else {
        // An older CLI speaks an API where prune removes every unused volume, named ones too (not those with mount
        // options: they hold no local data).
        assert.match(p, /^my-vol$/m);
        assert.doesNotMatch(p, /^scratch$/m);
        assert.equal(ok(['volume', 'rm', 'scratch']).trim(), 'scratch');
      }
      assert.ok(!fs.existsSync(insp.Mountpoint));
      assert.equal(ok(['volume', 'ls', '-q']), '');
    });

    it('keeps volume data through an engine kill -9 and restart', async () => {
      const mp =
        engine.docker(['volume', 'create', 'durable']).code === 0 &&
        path.join(engine.dataRoot, 'volumes/durable/_data');
      assert.ok(mp);
      fs.writeFileSync(path.join(mp, 'state'), 'important');
      await engine.kill9();
      await engine.restart();
      const [v] = JSON.parse(engine.docker(['volume', 'inspect', 'durable']).stdout);
      assert.equal(v.Mountpoint, mp);
      assert.equal(fs.readFileSync(path.join(mp, 'state'), 'utf8'), 'important');
      // Pruned with the current API: what an older CLI's API version would prune is another test's.
      assert.equal(post(engine.socket, '/v1.45/volumes/prune').code, 200);
      assert.equal(
        fs.readFileSync(path.join(mp, 'state'), 'utf8'),
        'important',
        "a named volume is never pruned behind the user's back",
      );
      assert.equal(engine.docker(['volume', 'rm', 'durable']).code, 0);
    });
  });
});
