// Managing images with the real docker CLI: images, tag, rmi (untag vs delete, 409 when in use), prune,
// history, save | load, push and pull back by digest, and docker login against a TLS registry with basic auth.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import { buildImage, type PushedImage, pushFixture, pushImage, type Registry, startRegistry } from '../../fixtures';
import { requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';
import { createRegistryService } from '../../../src/engine/registry';

function curl(socket: string, args: string[]): { code: number; out: string } {
  const r = spawnSync('curl', ['-sS', '--unix-socket', socket, '-o', '-', '-w', '\n%{http_code}', ...args], {
    encoding: 'utf8',
  });
  const lines = r.stdout.trimEnd().split('\n');
  return { code: Number(lines.pop()), out: lines.join('\n') };
}

async function tarNames(file: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const ex = tar.extract();
  fs.createReadStream(file).pipe(ex);
  for await (const e of ex as AsyncIterable<NodeJS.ReadableStream & { header: tar.Header }>) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.set(
      e.header.name,
      e.header.name.endsWith('.json') || !e.header.name.includes('/')
        ? Buffer.concat(chunks)
        : Buffer.from(String(Buffer.concat(chunks).length)),
    );
  }
  return out;
}

describe('engine API: managing images', function () {
  this.timeout(180_000);
  let reg: Registry;
  let busybox: PushedImage;
  let engine: TestEngine;
  const images = () => JSON.parse(curl(engine.socket, ['http://d/images/json']).out) as any[];
  const snapshots = () =>
    fs.readdirSync(path.join(engine.dataRoot, 'snapshots')).filter((n) => /^[a-f0-9]{64}$/.test(n));
  const blobs = () => fs.readdirSync(path.join(engine.dataRoot, 'content', 'blobs', 'sha256'));

  before(async function () {
    requireDockerCli(this);
    reg = await startRegistry();
    busybox = await pushFixture(reg, 'busybox', 'library/busybox');
    engine = await startEngine();
  });
  // Every test starts from the same store, whatever ran before: busybox under its registry name and nothing else.
  beforeEach(() => {
    for (const c of JSON.parse(curl(engine.socket, ['http://d/containers/json?all=1']).out))
      curl(engine.socket, ['-X', 'DELETE', `http://d/containers/${c.Id}?force=1`]);
    const name = `${reg.host}/library/busybox:latest`;
    for (const i of images()) {
      if (i.Id !== busybox.configDigest) curl(engine.socket, ['-X', 'DELETE', `http://d/images/${i.Id}?force=1`]);
      else for (const t of i.RepoTags) if (t !== name) curl(engine.socket, ['-X', 'DELETE', `http://d/images/${t}`]);
    }
    if (!images().some((i) => i.RepoTags.includes(name))) {
      const r = curl(engine.socket, ['-X', 'POST', `http://d/images/create?fromImage=${encodeURIComponent(name)}`]);
      assert.equal(r.code, 200, r.out);
    }
  });
  after(async () => {
    await engine?.cleanup();
    await reg?.stop();
  });

  it('docker images lists, docker tag adds tags, docker image inspect/history show them', () => {
    assert.equal(engine.docker(['tag', `${reg.host}/library/busybox`, 'my/box:1']).code, 0);
    assert.equal(engine.docker(['tag', `${reg.host}/library/busybox`, 'my/box:2']).code, 0);
    const list = engine
      .docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])
      .stdout.trim()
      .split('\n')
      .sort();
    const id = busybox.configDigest!.slice(7, 19);
    assert.deepEqual(list, [`${reg.host}/library/busybox:latest ${id}`, `my/box:1 ${id}`, `my/box:2 ${id}`]);
    const filtered = engine
      .docker(['images', '--filter', 'reference=my/*', '--format', '{{.Tag}}'])
      .stdout.trim()
      .split('\n')
      .sort();
    assert.deepEqual(filtered, ['1', '2']);
    const badTag = engine.docker(['tag', 'my/box:1', 'Bad/Name']);
    assert.notEqual(badTag.code, 0);
    assert.match(badTag.stderr, /invalid reference format/);
    const missing = engine.docker(['tag', 'nope:1', 'x:1']);
    assert.match(missing.stderr, /No such image: nope:1/);
    const history = engine.docker(['history', '--format', '{{.ID}} {{.CreatedBy}}', 'my/box:1']);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout.split('\n')[0], new RegExp(`^${id} `));
    const short = engine.docker(['image', 'inspect', '--format', '{{.Id}}', id.slice(0, 5)]);
    assert.equal(short.stdout.trim(), busybox.configDigest);
  });

  it('docker rmi untags while other tags remain, then deletes image, blobs and snapshots', async () => {
    const other = await buildImage({ layers: [[{ path: 'only-here', type: 'file', content: 'x' }]] });
    const pushed = await pushImage(reg, other, 'test/rmi');
    assert.equal(engine.docker(['pull', `${reg.host}/test/rmi`]).code, 0);
    assert.equal(engine.docker(['tag', `${reg.host}/test/rmi`, 'rmi:extra']).code, 0);
    const snapsBefore = snapshots().length;
    const untag = engine.docker(['rmi', 'rmi:extra']);
    assert.equal(untag.code, 0, untag.stderr);
    assert.equal(untag.stdout.trim(), 'Untagged: rmi:extra');
    const del = engine.docker(['rmi', `${reg.host}/test/rmi`]);
    assert.equal(del.code, 0, del.stderr);
    assert.deepEqual(del.stdout.trim().split('\n'), [
      `Untagged: ${reg.host}/test/rmi:latest`,
      `Untagged: ${reg.host}/test/rmi@${pushed.manifestDigest}`,
      `Deleted: ${pushed.configDigest}`,
      `Deleted: ${pushed.layers[0].diffId}`,
    ]);
    assert.equal(snapshots().length, snapsBefore - 1);
    assert.ok(!blobs().includes(pushed.layers[0].digest.slice(7)));
    assert.ok(!blobs().includes(pushed.configDigest!.slice(7)));
    const again = engine.docker(['rmi', `${reg.host}/test/rmi`]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, new RegExp(`No such image: ${reg.host}/test/rmi`));
  });

  it('rmi by ID refuses an image in several repositories unless forced', () => {
    assert.equal(engine.docker(['tag', `${reg.host}/library/busybox`, 'my/box:1']).code, 0);
    const id = busybox.configDigest!.slice(7, 19);
    const r = engine.docker(['rmi', id]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      new RegExp(
        `conflict: unable to delete ${id} \\(must be forced\\) - image is referenced in multiple repositories`,
      ),
    );
  });

  it('rmi answers 409 while a container uses the image, unless forced', async function () {
    for (const tag of ['my/box:1', 'my/box:2'])
      assert.equal(engine.docker(['tag', `${reg.host}/library/busybox`, tag]).code, 0);
    const created = engine.docker(['create', '--name', 'user-of-box', 'my/box:2', 'true']);
    if (created.code !== 0) throw new Error(`docker create failed: ${created.stderr}`);
    assert.equal(engine.docker(['rmi', 'my/box:1']).code, 0, 'untagging one of several tags is fine');
    const r = curl(engine.socket, [
      '-X',
      'DELETE',
      `http://d/images/${encodeURIComponent(`${reg.host}/library/busybox`)}`,
    ]);
    assert.equal(r.code, 200, 'still tagged as my/box:2');
    const last = curl(engine.socket, ['-X', 'DELETE', 'http://d/images/my/box:2']);
    assert.equal(last.code, 409);
    assert.match(
      JSON.parse(last.out).message,
      /conflict: unable to remove repository reference "my\/box:2" \(must force\) - container [0-9a-f]{12} is using its referenced image/,
    );
    const byId = curl(engine.socket, ['-X', 'DELETE', `http://d/images/${busybox.configDigest}`]);
    assert.equal(byId.code, 409);
    assert.match(JSON.parse(byId.out).message, /image is being used by stopped container/);
    assert.equal(engine.docker(['rm', 'user-of-box']).code, 0);
    assert.equal(engine.docker(['tag', busybox.configDigest!, `${reg.host}/library/busybox`]).code, 0);
  });

  it("rmi of an image's only repository (a tag and its digest) is a 409 while a container uses it, as in moby", async () => {
    const hello = await pushFixture(reg, 'hello-world', 'library/hello-world');
    const name = `${reg.host}/library/hello-world`;
    assert.equal(engine.docker(['pull', '-q', name]).code, 0);
    const created = engine.docker(['create', '--name', 'user-of-hello', name]);
    assert.equal(created.code, 0, created.stderr);
    const cid = created.stdout.trim().slice(0, 12);
    const refused = engine.docker(['rmi', name]);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr.trim(),
      `Error response from daemon: conflict: unable to remove repository reference "${name}" (must force) - container ${cid} is using its referenced image ${hello.configDigest!.slice(7, 19)}`,
    );
    assert.ok(
      images().some((i) => i.RepoTags?.includes(`${name}:latest`)),
      'the refusal changed nothing',
    );
    // A second repository makes the untag harmless: no force needed.
    assert.equal(engine.docker(['tag', name, 'hello-again']).code, 0);
    assert.equal(engine.docker(['rmi', 'hello-again']).code, 0);
    const forced = engine.docker(['rmi', '-f', name]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, new RegExp(`^Untagged: ${name}:latest\nUntagged: ${name}@sha256:`));
    assert.equal(engine.docker(['rm', 'user-of-hello']).code, 0);
    assert.equal(engine.docker(['rmi', hello.configDigest!]).code, 0);
  });

  it('docker image prune removes dangling images; -a with a label filter removes unused ones', async () => {
    const cfg = (n: string) => ({ config: { Cmd: ['sh'], Labels: { prunable: n } } });
    const first = await pushImage(
      reg,
      await buildImage({ layers: [[{ path: 'dangle', type: 'file', content: '1' }]], config: cfg('1') }),
      'test/dangle',
    );
    assert.equal(engine.docker(['pull', `${reg.host}/test/dangle`]).code, 0);
    const second = await pushImage(
      reg,
      await buildImage({ layers: [[{ path: 'dangle', type: 'file', content: '2' }]], config: cfg('2') }),
      'test/dangle',
    );
    assert.equal(engine.docker(['pull', `${reg.host}/test/dangle`]).code, 0);
    // The tag moved on: the first image keeps only its digest reference, a dangling <none> image.
    const dangling = JSON.parse(
      curl(engine.socket, ['http://d/images/json?filters=' + encodeURIComponent('{"dangling":["true"]}')]).out,
    );
    assert.deepEqual(
      dangling.map((i: any) => i.Id),
      [first.configDigest],
    );
    assert.deepEqual(dangling[0].RepoTags, []);
    const prune = engine.docker(['image', 'prune', '-f']);
    assert.equal(prune.code, 0, prune.stderr);
    assert.match(prune.stdout, new RegExp(`deleted: ${first.configDigest}`));
    assert.match(prune.stdout, /Total reclaimed space: \d/);
    assert.ok(!images().some((i) => i.Id === first.configDigest));
    assert.ok(images().some((i) => i.Id === second.configDigest));
    const all = engine.docker(['image', 'prune', '-a', '-f', '--filter', 'label=prunable']);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, new RegExp(`deleted: ${second.configDigest}`));
    assert.ok(!images().some((i) => i.Id === second.configDigest));
    assert.ok(
      images().some((i) => i.Id === busybox.configDigest),
      'images without the label stay',
    );
    assert.ok(!blobs().includes(second.layers[0].digest.slice(7)));
  });

  it('docker save | docker load round-trips images (Docker 25 archive: manifest.json and OCI index.json)', async () => {
    const file = path.join(engine.dir, 'box.tar');
    const save = engine.docker(['save', '-o', file, `${reg.host}/library/busybox:latest`]);
    assert.equal(save.code, 0, save.stderr);
    const names = await tarNames(file);
    const manifest = JSON.parse(names.get('manifest.json')!.toString());
    assert.deepEqual(manifest[0].RepoTags, [`${reg.host}/library/busybox:latest`]);
    assert.equal(manifest[0].Config, `blobs/sha256/${busybox.configDigest!.slice(7)}`);
    assert.deepEqual(
      manifest[0].Layers,
      busybox.layers.map((l) => `blobs/sha256/${l.diffId.slice(7)}`),
    );
    const index = JSON.parse(names.get('index.json')!.toString());
    assert.equal(index.manifests[0].annotations['io.containerd.image.name'], `${reg.host}/library/busybox:latest`);
    assert.ok(names.has('oci-layout'));

    assert.equal(engine.docker(['rmi', '-f', busybox.configDigest!]).code, 0);
    assert.ok(!images().some((i) => i.Id === busybox.configDigest));
    const load = engine.docker(['load', '-i', file]);
    assert.equal(load.code, 0, load.stderr);
    assert.match(load.stdout, new RegExp(`Loaded image: ${reg.host}/library/busybox:latest`));
    const img = JSON.parse(engine.docker(['image', 'inspect', `${reg.host}/library/busybox`]).stdout)[0];
    assert.equal(img.Id, busybox.configDigest);
    assert.ok(fs.existsSync(path.join(img.GraphDriver.Data.UpperDir, 'bin', 'busybox')));
    const run = engine.docker(['run', '--rm', `${reg.host}/library/busybox`, 'echo', 'loaded and running']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), 'loaded and running');
    const junk = spawnSync('docker', ['-H', engine.host, 'load'], { input: 'not a tar at all', encoding: 'utf8' });
    assert.notEqual(junk.status, 0);
  });

  it("a truncated or damaged docker load archive gets dockerd's error in the stream and leaves nothing behind", () => {
    const file = path.join(engine.dir, 'whole.tar');
    assert.equal(engine.docker(['save', '-o', file, `${reg.host}/library/busybox:latest`]).code, 0);
    const whole = fs.readFileSync(file);
    const before = { images: images().length, blobs: blobs().length };
    // Cut inside the layer, inside a header, and inside the last entries (each one dockerd calls unexpected EOF).
    for (const cut of [Math.floor(whole.length / 2), 1100, whole.length - 1536]) {
      const part = path.join(engine.dir, `cut-${cut}.tar`);
      fs.writeFileSync(part, whole.subarray(0, cut));
      const r = engine.docker(['load', '-i', part]);
      assert.equal(r.code, 1, `cut at ${cut}`);
      assert.equal(r.stderr.trim(), 'Error processing tar file(exit status 1): unexpected EOF', `cut at ${cut}`);
      // The API answers as dockerd does: 200, the error as the stream's last message (docker-py's ImageLoadError).
      const api = curl(engine.socket, ['-X', 'POST', '--data-binary', `@${part}`, 'http://d/images/load?quiet=1']);
      assert.equal(api.code, 200);
      assert.deepEqual(JSON.parse(api.out), {
        errorDetail: { message: 'Error processing tar file(exit status 1): unexpected EOF' },
        error: 'Error processing tar file(exit status 1): unexpected EOF',
      });
    }
    const junk = path.join(engine.dir, 'junk.tar');
    fs.writeFileSync(junk, Buffer.alloc(5000, 0x41));
    const bad = engine.docker(['load', '-i', junk]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr.trim(), 'Error processing tar file(exit status 1): archive/tar: invalid tar header');
    assert.deepEqual({ images: images().length, blobs: blobs().length }, before, 'nothing stored, nothing left');
  });

  it('docker push sends layers and manifest, then pulls back by digest', async () => {
    const target = `${reg.host}/pushed/box:v1`;
    assert.equal(engine.docker(['tag', `${reg.host}/library/busybox`, target]).code, 0);
    const push = engine.docker(['push', target]);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stdout, new RegExp(`The push refers to repository \\[${reg.host}/pushed/box\\]`));
    assert.match(push.stdout, /: (Pushed|Layer already exists)$/m);
    const m = /^v1: digest: (sha256:[a-f0-9]{64}) size: (\d+)$/m.exec(push.stdout);
    assert.ok(m, push.stdout);
    const again = engine.docker(['push', target]);
    assert.match(again.stdout, /Layer already exists/);
    assert.equal(engine.docker(['rmi', target]).code, 0);
    const fresh = await startEngine();
    try {
      const pull = fresh.docker(['pull', `${reg.host}/pushed/box@${m![1]}`]);
      assert.equal(pull.code, 0, pull.stderr);
      const img = JSON.parse(fresh.docker(['image', 'inspect', `${reg.host}/pushed/box@${m![1]}`]).stdout)[0];
      assert.equal(img.Id, busybox.configDigest);
    } finally {
      await fresh.cleanup();
    }
  });
});

describe('engine API: registry auth over TLS', function () {
  this.timeout(120_000);
  let reg: Registry;
  let engine: TestEngine;
  before(async () => {
    reg = await startRegistry({ tls: true, auth: { username: 'berth', password: 's3cret' } });
    await pushFixture(reg, 'hello-world', 'private/hello');
    engine = await startEngine();
    // Like /etc/docker/certs.d: the CA for host:port beside the daemon config.
    const certs = path.join(path.dirname(engine.configFile), 'certs.d', reg.host);
    fs.mkdirSync(certs, { recursive: true });
    fs.copyFileSync(reg.ca!, path.join(certs, 'ca.crt'));
  });
  after(async () => {
    await engine?.cleanup();
    await reg?.stop();
  });

  it('refuses anonymous pulls, logs in with docker login, then pulls and pushes', function () {
    requireDockerCli(this);
    const anon = engine.docker(['pull', `${reg.host}/private/hello`]);
    assert.notEqual(anon.code, 0);
    assert.match(anon.stderr, /unauthorized|access denied|authentication required/i);
    const bad = engine.docker(['login', '-u', 'berth', '--password-stdin', reg.host], { input: 'wrong' });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /401 Unauthorized|unauthorized/i);
    const login = engine.docker(['login', '-u', 'berth', '--password-stdin', reg.host], { input: 's3cret' });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    const pull = engine.docker(['pull', `${reg.host}/private/hello`]);
    assert.equal(pull.code, 0, pull.stderr);
    assert.equal(engine.docker(['tag', `${reg.host}/private/hello`, `${reg.host}/private/copy:1`]).code, 0);
    const push = engine.docker(['push', `${reg.host}/private/copy:1`]);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stdout, /1: digest: sha256:/);
  });

  it('verifies the registry certificate against certs.d when the registry is not insecure', async () => {
    const certsDir = path.join(path.dirname(engine.configFile), 'certs.d');
    // A TLS check only happens for secure registries; 127.0.0.0/8 is insecure by Docker's default, so ask for
    // the endpoint as a secure one would be made.
    const svc = createRegistryService(() => ({ mirrors: [], insecure: [], certsDir }));
    const [secure] = svc.endpoints(reg.host).filter((e) => e.url.startsWith('https:'));
    const creds = { username: 'berth', password: 's3cret' };
    const withCa = svc.open({ ...secure, skipVerify: false }, 'private/hello', creds, ['pull']);
    const m = await withCa.getManifest('latest');
    assert.ok(m.body.length > 0);
    const noCa = svc.open({ ...secure, skipVerify: false, ca: undefined }, 'private/hello', creds, ['pull']);
    await assert.rejects(noCa.getManifest('latest'), /certificate|self.signed|unable to verify/i);
  });
});
