// docker commit (a running container paused while its layer is read, --change, author and message, deletions as
// whiteouts) and docker import (export | import round trip, --change, message), with the real docker CLI.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireDockerCli } from '../../helpers/engine';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';

describe('engine API: commit and import', function () {
  this.timeout(180_000);
  let m: MirroredEngine;
  const inspect = (ref: string) => JSON.parse(m.ok(['image', 'inspect', ref]))[0];

  before(async function () {
    requireDockerCli(this);
    m = await startMirroredEngine();
  });
  after(async () => {
    await m?.cleanup();
  });

  it('commits a running container: its files (deletions too), --change, author and message, paused meanwhile', () => {
    const id = m
      .ok(['run', '-d', '--network', 'none', '--name', 'src', '-e', 'KEEP=1', 'busybox', 'sleep', '600'])
      .trim();
    m.ok(['exec', 'src', 'sh', '-c', 'echo committed > /f && mkdir -p /d/e && rm /etc/group']);
    const image = m
      .ok([
        'commit',
        '-a',
        'me <me@example.com>',
        '-m',
        'a message',
        '-c',
        'CMD ["cat", "/f"]',
        '-c',
        'ENV Z=2',
        '-c',
        'EXPOSE 8080',
        'src',
        'committed:1',
      ])
      .trim();
    assert.match(image, /^sha256:[0-9a-f]{64}$/);
    assert.equal(m.ok(['inspect', '-f', '{{.State.Status}}', 'src']).trim(), 'running', 'unpaused again');
    assert.equal(m.ok(['run', '--rm', '--network', 'none', 'committed:1']), 'committed\n');
    assert.equal(m.engine.docker(['run', '--rm', '--network', 'none', 'committed:1', 'cat', '/etc/group']).code, 1);
    assert.equal(
      m.ok(['run', '--rm', '--network', 'none', 'committed:1', 'sh', '-c', 'test -d /d/e && echo $KEEP$Z']),
      '12\n',
    );
    const img = inspect('committed:1');
    assert.equal(img.Id, image);
    assert.equal(img.Author, 'me <me@example.com>');
    assert.equal(img.Comment, 'a message');
    assert.equal(img.Parent, inspect('busybox').Id);
    assert.deepEqual(img.Config.Cmd, ['cat', '/f']);
    assert.ok(img.Config.Env.includes('KEEP=1') && img.Config.Env.includes('Z=2'));
    assert.deepEqual(Object.keys(img.Config.ExposedPorts), ['8080/tcp']);
    assert.equal(img.RootFS.Layers.length, inspect('busybox').RootFS.Layers.length + 1);
    const top = m
      .ok(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Comment}}', 'committed:1'])
      .split('\n')[0];
    assert.equal(top, 'sleep 600|a message');
    // the layer holds only the changes: not the engine's own mount points
    const diffs = m.ok(['diff', 'src']);
    assert.match(diffs, /A \/f\n/);
    // the new layer (stored uncompressed: its blob digest is its diff ID) holds the changes and nothing else
    const layer = img.RootFS.Layers[img.RootFS.Layers.length - 1].slice(7);
    const entries = spawnSync('tar', ['-tf', path.join(m.engine.dataRoot, 'content', 'blobs', 'sha256', layer)], {
      encoding: 'utf8',
    }).stdout;
    assert.deepEqual(entries.trim().split('\n').sort(), ['d/', 'd/e/', 'etc/', 'etc/.wh.group', 'f']);
    m.ok(['rm', '-f', id]);
    const until = (Date.now() / 1000).toFixed(3);
    const events = m.ok([
      'events',
      '--since',
      '0',
      '--until',
      until,
      ...['pause', 'unpause', 'commit'].flatMap((e) => ['--filter', `event=${e}`]),
      '--format',
      '{{.Action}} {{.Actor.Attributes.imageRef}}',
    ]);
    assert.equal(events, 'pause <no value>\nunpause <no value>\ncommit committed:1\n');
  });

  it('commits a stopped container with no changes as an empty layer; bad changes are refused', () => {
    m.ok(['create', '--name', 'idle', 'busybox', 'true']);
    m.ok(['commit', 'idle', 'idle:1']);
    const img = inspect('idle:1');
    assert.equal(img.RootFS.Layers.length, inspect('busybox').RootFS.Layers.length);
    const hist = JSON.parse(
      spawnSync('curl', ['-s', '--unix-socket', m.engine.socket, 'http://d/images/idle:1/history'], {
        encoding: 'utf8',
      }).stdout,
    );
    assert.equal(hist[0].Size, 0);
    const bad = m.engine.docker(['commit', '-c', 'RUN echo no', 'idle', 'idle:2']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /run is not a valid change command/);
    const missing = m.engine.docker(['commit', 'nope', 'x']);
    assert.match(missing.stderr, /No such container: nope/);
    m.ok(['rm', 'idle']);
  });

  it('export | import round trip, with --change and a message; import from a file', () => {
    m.ok(['run', '--name', 'exp', '--network', 'none', 'busybox', 'sh', '-c', 'echo exported > /data.txt']);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-import-'));
    try {
      const file = path.join(dir, 'rootfs.tar');
      m.ok(['export', '-o', file, 'exp']);
      const id = m
        .ok(['import', '-c', 'CMD ["cat", "/data.txt"]', '-c', 'ENV I=1', '-m', 'from a file', file, 'imported:1'])
        .trim();
      assert.match(id, /^sha256:[0-9a-f]{64}$/);
      assert.equal(m.ok(['run', '--rm', '--network', 'none', 'imported:1']), 'exported\n');
      const img = inspect('imported:1');
      assert.equal(img.Comment, 'from a file');
      assert.equal(img.RootFS.Layers.length, 1);
      assert.ok(img.Config.Env.includes('I=1'));
      assert.equal(img.Os, 'linux');
      // through stdin, gzip-compressed
      const gz = spawnSync('gzip', ['-c', file], { maxBuffer: 1 << 28 }).stdout;
      const r = spawnSync('docker', ['import', '-', 'imported:2'], {
        input: gz,
        env: { ...process.env, DOCKER_HOST: m.engine.host, DOCKER_CONFIG: path.join(m.engine.dir, 'docker-config') },
        encoding: 'utf8',
        maxBuffer: 1 << 28,
      });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(inspect('imported:2').Comment, 'Imported from -');
      assert.equal(inspect('imported:2').RootFS.Layers[0], img.RootFS.Layers[0], 'same content, same diff ID');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      m.ok(['rm', 'exp']);
    }
  });
});
