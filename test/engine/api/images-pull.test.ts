// Pulling from Debian's docker-registry on loopback, over the API and with the real docker CLI: mirrors, digests,
// platforms, manifest formats, zstd, corruption, hostile layers, whiteouts, concurrency — and what it leaves on disk.
// Each test pulls what it looks at (any order works); the ones that need a pristine store start their own engine.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ARCH_MARKERS,
  buildFixture,
  buildImage,
  corruptBlob,
  pushSchema1,
  type PushedImage,
  pushFixture,
  pushImage,
  type Registry,
  seedMirror,
  startRegistry,
  WHITEOUTS_EXPECTED,
} from '../../fixtures';
import { requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';

function curl(socket: string, args: string[]): { code: number; out: string } {
  const r = spawnSync('curl', ['-sS', '--unix-socket', socket, '-o', '-', '-w', '\n%{http_code}', ...args], {
    encoding: 'utf8',
  });
  const lines = r.stdout.trimEnd().split('\n');
  return { code: Number(lines.pop()), out: lines.join('\n') };
}

/** POST /images/create: the status and the progress stream, whose last message carries a pull's error. */
function pullOverApi(socket: string, ref: string): { code: number; out: string; error?: string } {
  const [, name, tag] = /^(.*?)(?::([^:/@]+))?$/.exec(ref)!;
  const query = `fromImage=${encodeURIComponent(name)}${tag ? `&tag=${encodeURIComponent(tag)}` : ''}`;
  const r = curl(socket, ['-X', 'POST', `http://d/images/create?${query}`]);
  const last = r.out.split('\n').filter(Boolean).at(-1);
  return { ...r, error: last ? JSON.parse(last).error : undefined };
}

/** Every file below a dir, relative, sorted. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(path.relative(dir, p));
      if (e.isDirectory()) walk(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out.sort();
}

describe('engine API: pulling images', function () {
  this.timeout(180_000);
  let reg: Registry;
  let seeded: Record<string, PushedImage>;
  let engine: TestEngine;
  const snapshots = () =>
    fs.readdirSync(path.join(engine.dataRoot, 'snapshots')).filter((n) => /^[a-f0-9]{64}$/.test(n));

  before(async () => {
    reg = await startRegistry();
    seeded = await seedMirror(reg);
    // Docker Hub itself is unreachable here: point the origin at a closed loopback port so fallback fails fast.
    engine = await startEngine({
      config: { 'registry-mirrors': [reg.url] },
      env: { BERTH_DOCKER_IO_REGISTRY: 'http://127.0.0.1:9' },
    });
  });
  after(async () => {
    await engine?.cleanup();
    await reg?.stop();
  });

  it('streams the exact progress JSON on POST /images/create', () => {
    curl(engine.socket, ['-X', 'DELETE', 'http://d/images/hello-world?force=1']); // a fresh pull, whatever ran before
    const r = curl(engine.socket, ['-X', 'POST', 'http://d/v1.45/images/create?fromImage=hello-world&tag=latest']);
    assert.equal(r.code, 200);
    const lines = r.out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const layer = seeded['library/hello-world'].layers[0].digest.slice(7, 19);
    assert.deepEqual(lines[0], { status: 'Pulling from library/hello-world', id: 'latest' });
    assert.deepEqual(
      lines.find((l) => l.status === 'Pulling fs layer'),
      { status: 'Pulling fs layer', progressDetail: {}, id: layer },
    );
    const downloading = lines.find((l) => l.status === 'Downloading');
    if (downloading) {
      assert.equal(typeof downloading.progressDetail.current, 'number');
      assert.equal(typeof downloading.progressDetail.total, 'number');
      assert.match(downloading.progress, /^\[=*>\s*\] +[\d.]+[kM]?B\/[\d.]+[kM]?B$/);
    }
    assert.deepEqual(
      lines.find((l) => l.status === 'Verifying Checksum'),
      { status: 'Verifying Checksum', progressDetail: {}, id: layer },
    );
    assert.deepEqual(
      lines.find((l) => l.status === 'Pull complete'),
      { status: 'Pull complete', progressDetail: {}, id: layer },
    );
    assert.deepEqual(lines.at(-2), { status: `Digest: ${seeded['library/hello-world'].manifestDigest}` });
    assert.deepEqual(lines.at(-1), { status: 'Status: Downloaded newer image for hello-world:latest' });
  });

  it('answers bad references with 400 "invalid reference format"', () => {
    for (const bad of ['Bad:latest', 'a b', 'busybox:', '-x']) {
      const r = curl(engine.socket, ['-X', 'POST', `http://d/images/create?fromImage=${encodeURIComponent(bad)}`]);
      assert.equal(r.code, 400, bad);
      assert.match(JSON.parse(r.out).message, /^invalid reference format/);
    }
    const inspect = curl(engine.socket, ['http://d/images/nothing-here/json']);
    assert.equal(inspect.code, 404);
    assert.equal(JSON.parse(inspect.out).message, 'No such image: nothing-here');
  });

  it('describes remote images on GET /distribution/{name}/json', () => {
    const r = curl(engine.socket, ['http://d/distribution/multiarch/json']);
    assert.equal(r.code, 200, r.out);
    const d = JSON.parse(r.out);
    assert.equal(d.Descriptor.digest, seeded['library/multiarch'].manifestDigest);
    assert.equal(d.Descriptor.mediaType, 'application/vnd.docker.distribution.manifest.list.v2+json');
    assert.deepEqual(d.Platforms.map((p: any) => p.architecture).sort(), ['amd64', 'arm64']);
    const missing = curl(engine.socket, [`http://d/distribution/${reg.host}/no/such/json`]);
    assert.equal(missing.code, 404);
  });

  it('counts images in /info', async () => {
    assert.equal(pullOverApi(engine.socket, 'hello-world').error, undefined);
    const info = await engine.client.info();
    const listed = JSON.parse(curl(engine.socket, ['http://d/images/json']).out);
    assert.ok(listed.length >= 1);
    assert.equal(info.Images, listed.length);
  });

  describe('refusing bad content', () => {
    let bad: Registry;
    let clean: TestEngine;
    before(async () => {
      bad = await startRegistry();
      clean = await startEngine();
    });
    after(async () => {
      await clean?.cleanup();
      await bad?.stop();
    });

    it('a corrupted blob fails with a digest error and stores nothing', async () => {
      const pushed = await pushFixture(bad, 'busybox', 'test/corrupt');
      corruptBlob(bad, pushed.layers[0].digest);
      const r = pullOverApi(clean.socket, `${bad.host}/test/corrupt`);
      assert.match(
        r.error ?? '',
        new RegExp(`filesystem layer verification failed for digest ${pushed.layers[0].digest}`),
      );
      assert.equal(JSON.parse(curl(clean.socket, ['http://d/images/json']).out).length, 0);
      assert.deepEqual(
        tree(path.join(clean.dataRoot, 'snapshots')).filter((p) => !p.startsWith('.tmp')),
        [],
      );
      assert.deepEqual(tree(path.join(clean.dataRoot, 'snapshots', '.tmp')), []);
      const stored = fs.readdirSync(path.join(clean.dataRoot, 'content', 'blobs', 'sha256'));
      assert.ok(!stored.includes(pushed.layers[0].digest.slice(7)), 'the bad layer blob is not kept');
      assert.deepEqual(fs.readdirSync(path.join(clean.dataRoot, 'content', 'ingest')), []);
    });

    const escapes: [string, () => Parameters<typeof buildImage>[0]['layers']][] = [
      [
        'path traversal',
        () => [
          [
            { path: 'fine', type: 'file', content: 'ok' },
            { path: '../../../../../../tmp/berth-escaped-traversal', type: 'file', content: 'pwned', raw: true },
          ],
        ],
      ],
      [
        'a write through a symlink',
        () => [
          [
            { path: 'out', type: 'symlink', linkname: '/tmp' },
            { path: 'out/berth-escaped-symlink', type: 'file', content: 'pwned', raw: true },
          ],
        ],
      ],
      [
        'an absolute path',
        () => [[{ path: '/tmp/berth-escaped-absolute', type: 'file', content: 'pwned', raw: true }]],
      ],
    ];
    for (const [what, layers] of escapes) {
      it(`a malicious layer (${what}) is refused and nothing is written outside`, async () => {
        const img = await buildImage({ layers: layers() });
        const repo = `test/evil-${what.replace(/\W+/g, '-')}`;
        await pushImage(bad, img, repo);
        assert.match(pullOverApi(clean.socket, `${bad.host}/${repo}`).error ?? '', /refusing to unpack/);
        for (const f of ['/tmp/berth-escaped-traversal', '/tmp/berth-escaped-symlink', '/tmp/berth-escaped-absolute'])
          assert.ok(!fs.existsSync(f), f);
        assert.deepEqual(
          tree(path.dirname(clean.dataRoot)).filter((p) => /escaped|pwned/.test(p)),
          [],
        );
        assert.deepEqual(
          fs.readdirSync(path.join(clean.dataRoot, 'snapshots')).filter((n) => n !== '.tmp'),
          [],
        );
        assert.deepEqual(tree(path.join(clean.dataRoot, 'snapshots', '.tmp')), []);
        assert.equal(JSON.parse(curl(clean.socket, ['http://d/images/json']).out).length, 0);
      });
    }
  });

  describe('with the docker CLI', () => {
    before(function () {
      requireDockerCli(this);
    });

    it("docker pull busybox goes through the registry mirror, with Docker's progress", async () => {
      // An engine of its own: the progress of a first pull, whatever the other tests pulled.
      const fresh = await startEngine({ config: { 'registry-mirrors': [reg.url] } });
      try {
        pullsBusyboxFirstTime(fresh);
      } finally {
        await fresh.cleanup();
      }
    });
    const pullsBusyboxFirstTime = (engine: TestEngine) => {
      const r = engine.docker(['pull', 'busybox']);
      assert.equal(r.code, 0, r.stderr);
      const digest = seeded['library/busybox'].manifestDigest;
      const layer = seeded['library/busybox'].layers[0].digest.slice(7, 19);
      assert.match(r.stdout, /^latest: Pulling from library\/busybox$/m);
      assert.match(r.stdout, new RegExp(`^${layer}: Pulling fs layer$`, 'm'));
      assert.match(r.stdout, new RegExp(`^${layer}: Download complete$`, 'm'));
      assert.match(r.stdout, new RegExp(`^${layer}: Pull complete$`, 'm'));
      assert.match(r.stdout, new RegExp(`^Digest: ${digest}$`, 'm'));
      assert.match(r.stdout, /^Status: Downloaded newer image for busybox:latest$/m);
      const again = engine.docker(['pull', 'busybox']);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^Status: Image is up to date for busybox:latest$/m);
      assert.doesNotMatch(again.stdout, /Pull complete/);
      const inspect = JSON.parse(engine.docker(['image', 'inspect', 'busybox']).stdout)[0];
      assert.equal(inspect.Id, seeded['library/busybox'].configDigest);
      assert.deepEqual(inspect.RepoTags, ['busybox:latest']);
      assert.deepEqual(inspect.RepoDigests, [`busybox@${digest}`]);
      assert.equal(inspect.Os, 'linux');
      assert.equal(inspect.Architecture, 'amd64');
      assert.deepEqual(
        inspect.RootFS.Layers,
        seeded['library/busybox'].layers.map((l) => l.diffId),
      );
      assert.deepEqual(inspect.Config.Cmd, ['sh']);
      assert.ok(inspect.Size > 1_000_000);
    };

    it('fails cleanly when neither the mirror nor Docker Hub has the image', () => {
      const t = Date.now();
      const r = engine.docker(['pull', 'not-on-the-mirror'], { timeoutMs: 60_000 });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Error response from daemon: .*127\.0\.0\.1:9/);
      assert.ok(Date.now() - t < 30_000);
      const unknownTag = engine.docker(['pull', `${reg.host}/library/busybox:nope`]);
      assert.notEqual(unknownTag.code, 0);
      assert.match(
        unknownTag.stderr,
        new RegExp(`manifest for ${reg.host}/library/busybox:nope not found: manifest unknown`),
      );
    });

    it('pulls by digest from a registry host', () => {
      const digest = seeded['library/busybox'].manifestDigest;
      const r = engine.docker(['pull', `${reg.host}/library/busybox@${digest}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^${digest.replace(':', ':')}: Pulling from library/busybox$`, 'm'));
      assert.match(r.stdout, new RegExp(`Status: Downloaded newer image for ${reg.host}/library/busybox@${digest}`));
      const inspect = JSON.parse(
        engine.docker(['image', 'inspect', `${reg.host}/library/busybox@${digest}`]).stdout,
      )[0];
      assert.ok(inspect.RepoDigests.includes(`${reg.host}/library/busybox@${digest}`));
      const wrong = engine.docker(['pull', `${reg.host}/library/busybox@sha256:${'0'.repeat(64)}`]);
      assert.notEqual(wrong.code, 0);
    });

    it('picks linux/amd64 from a manifest list and an OCI index, or the platform asked for', () => {
      for (const name of ['multiarch', 'oci-index']) {
        const r = engine.docker(['pull', name]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(
          r.stdout,
          new RegExp(`Digest: ${seeded[`library/${name}`].manifestDigest}`),
          'the index digest is the repo digest',
        );
        const img = JSON.parse(engine.docker(['image', 'inspect', name]).stdout)[0];
        assert.equal(img.Architecture, 'amd64');
        const dirs = [
          img.GraphDriver.Data.UpperDir,
          ...(img.GraphDriver.Data.LowerDir ?? '').split(':').filter(Boolean),
        ];
        assert.ok(
          dirs.some((d: string) => fs.existsSync(path.join(d, ARCH_MARKERS.amd64))),
          'amd64 marker present',
        );
        assert.ok(!dirs.some((d: string) => fs.existsSync(path.join(d, ARCH_MARKERS.arm64))), 'no arm64 marker');
      }
      const arm = curl(engine.socket, [
        '-X',
        'POST',
        `http://d/images/create?fromImage=multiarch&tag=latest&platform=linux/arm64`,
      ]);
      assert.equal(arm.code, 200);
      const armId = JSON.parse(curl(engine.socket, ['http://d/images/multiarch/json']).out);
      assert.equal(armId.Architecture, 'arm64');
      const none = curl(engine.socket, [
        '-X',
        'POST',
        `http://d/images/create?fromImage=multiarch&tag=latest&platform=linux/s390x`,
      ]);
      assert.equal(none.code, 404);
      assert.match(JSON.parse(none.out).message, /no matching manifest for linux\/s390x/);
    });

    it('pulls OCI manifests and zstd layers', async () => {
      const oci = engine.docker(['pull', 'oci']);
      assert.equal(oci.code, 0, oci.stderr);
      assert.equal(JSON.parse(engine.docker(['image', 'inspect', 'oci']).stdout)[0].Os, 'linux');
      const zstdImage = await buildImage({
        layers: [[{ path: 'zstd-file', type: 'file', content: 'squeezed\n' }]],
        format: 'oci',
        compression: 'zstd',
      });
      await pushImage(reg, zstdImage, 'test/zstd');
      const r = engine.docker(['pull', `${reg.host}/test/zstd`]);
      assert.equal(r.code, 0, r.stderr);
      const img = JSON.parse(engine.docker(['image', 'inspect', `${reg.host}/test/zstd`]).stdout)[0];
      assert.equal(fs.readFileSync(path.join(img.GraphDriver.Data.UpperDir, 'zstd-file'), 'utf8'), 'squeezed\n');
    });

    it('unpacks whiteouts and opaque dirs into the right merged tree', function () {
      const r = engine.docker(['pull', 'whiteouts']);
      assert.equal(r.code, 0, r.stderr);
      const img = JSON.parse(engine.docker(['image', 'inspect', 'whiteouts']).stdout)[0];
      const lower = [img.GraphDriver.Data.UpperDir, ...img.GraphDriver.Data.LowerDir.split(':')].join(':');
      const merged = path.join(engine.dir, 'merged');
      fs.mkdirSync(merged, { recursive: true });
      const m = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower}`, merged], {
        encoding: 'utf8',
      });
      assert.equal(m.status, 0, m.stderr);
      try {
        for (const p of WHITEOUTS_EXPECTED.present) assert.ok(fs.existsSync(path.join(merged, p)), `${p} present`);
        for (const p of WHITEOUTS_EXPECTED.absent) assert.ok(!fs.existsSync(path.join(merged, p)), `${p} absent`);
      } finally {
        spawnSync('umount', [merged]);
      }
    });

    it('two concurrent pulls of one image share the work and both succeed', async () => {
      const img = await buildImage({
        layers: [
          [{ path: 'one', type: 'file', content: Buffer.alloc(2_000_000, 1) }],
          [{ path: 'two', type: 'file', content: Buffer.alloc(2_000_000, 2) }],
        ],
      });
      const pushed = await pushImage(reg, img, 'test/concurrent');
      const before = snapshots().length;
      const [a, b] = await Promise.all([
        engine.dockerAsync(['pull', `${reg.host}/test/concurrent`]),
        engine.dockerAsync(['pull', `${reg.host}/test/concurrent`]),
      ]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      for (const out of [a.stdout, b.stdout]) assert.match(out, new RegExp(`Digest: ${pushed.manifestDigest}`));
      assert.equal(snapshots().length, before + 2);
    });

    it('refuses schema1 manifests with a clear error', async () => {
      const old = await startRegistry({ schema1: true });
      try {
        await pushSchema1(old, await buildFixture('busybox'), 'test/old');
        const r = engine.docker(['pull', `${old.host}/test/old`]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /image manifest schema 1 is not supported/);
      } finally {
        await old.stop();
      }
    });

    it('publishes image events (pull, tag, untag, delete)', async () => {
      assert.equal(pullOverApi(engine.socket, 'busybox').error, undefined);
      const since = String(Math.floor(Date.now() / 1000) - 1);
      assert.equal(engine.docker(['tag', 'busybox', 'evt:1']).code, 0);
      assert.equal(engine.docker(['rmi', 'evt:1']).code, 0);
      const r = engine.docker([
        'events',
        '--since',
        since,
        '--until',
        String(Math.floor(Date.now() / 1000) + 1),
        '--filter',
        'type=image',
        '--format',
        '{{.Action}} {{.Actor.Attributes.name}}',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^tag evt:1$/m);
      assert.match(r.stdout, /^untag evt:1$/m);
      const pulls = engine.docker([
        'events',
        '--since',
        '0',
        '--until',
        String(Math.floor(Date.now() / 1000) + 1),
        '--filter',
        'event=pull',
        '--format',
        '{{.Actor.ID}}',
      ]);
      assert.match(pulls.stdout, /^busybox:latest$/m);
    });
  });
});
