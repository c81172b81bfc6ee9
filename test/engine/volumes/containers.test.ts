// Volumes and mounts in real containers (runc + berth-shim), with a busybox layer instead of a pulled image:
// named volumes outliving their container, read-only binds, several binds with env, copy-up of an image VOLUME,
// rm -v vs named volumes, tmpfs, volumes-from, 409 on volume rm while used, references across a restart.
import type { Image } from '../../../src/engine/images';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type ContainerService, createContainerService, type ImageSource } from '../../../src/engine/containers';
import { createEventBus } from '../../../src/engine/events';
import { createRuntime } from '../../../src/engine/runtime';
import { createVolumeService, type VolumeService } from '../../../src/engine/volumes';
import { DIST, mountsUnder } from '../../helpers/engine';
import { makeBusyboxLayer } from '../../helpers/rootfs';

const SHIM = path.join(DIST, 'bin', 'berth-shim');

describe('volumes in containers (runc + berth-shim)', function () {
  this.timeout(60000);
  let dir: string;
  let base: string;
  let appLayer: string;
  let containers: ContainerService;
  let volumes: VolumeService;
  const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  const blank = { repoTags: [], repoDigests: [], created: '', size: 0, chainIds: [] };
  const images: Record<string, Image & { layers: () => string[] }> = {
    busybox: {
      ...blank,
      id: 'sha256:' + 'b'.repeat(64),
      config: { rootfs: { type: 'layers', diff_ids: [] }, config: { Env: [PATH], Cmd: ['sh'] } },
      layers: () => [base],
    },
    // Like `FROM busybox; COPY site /srv/data; VOLUME /srv/data`.
    withvolume: {
      ...blank,
      id: 'sha256:' + 'e'.repeat(64),
      config: {
        rootfs: { type: 'layers', diff_ids: [] },
        config: { Env: [PATH], Cmd: ['sh'], Volumes: { '/srv/data': {} } },
      },
      layers: () => [appLayer, base],
    },
  };
  const imageSource: ImageSource = {
    get: async (ref) => {
      const i = images[ref];
      if (!i) throw new Error(`No such image: ${ref}`);
      return i;
    },
    layerDirs: (i) => images[Object.keys(images).find((k) => images[k].id === i.id)!].layers(),
  };
  const make = async () => {
    const events = createEventBus();
    volumes = createVolumeService({ dataRoot: path.join(dir, 'data'), events });
    await volumes.init();
    containers = createContainerService({
      dataRoot: path.join(dir, 'data'),
      runtime: createRuntime({ execRoot: path.join(dir, 'exec'), runcPath: 'runc', shimPath: SHIM }),
      images: imageSource,
      events,
      volumes,
      logDefaults: () => ({ type: 'json-file', config: {} }),
    });
    await containers.init();
  };
  const logOf = (id: string) =>
    fs
      .readFileSync(containers.get(id).logPath, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).log)
      .join('');
  const run = async (req: Parameters<ContainerService['create']>[0]) => {
    const { id } = await containers.create(req);
    const wait = containers.wait(id, 'next-exit');
    await containers.start(id);
    const { exitCode } = await wait;
    return { id, exitCode, log: logOf(id) };
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-volctr-'));
    base = makeBusyboxLayer(path.join(dir, 'base'));
    appLayer = path.join(dir, 'app');
    fs.mkdirSync(path.join(appLayer, 'srv/data/css'), { recursive: true });
    fs.writeFileSync(path.join(appLayer, 'srv/data/index.html'), '<h1>from the image</h1>\n');
    fs.writeFileSync(path.join(appLayer, 'srv/data/css/site.css'), 'body{}\n');
    fs.chownSync(path.join(appLayer, 'srv/data/index.html'), 1000, 1000);
    fs.chmodSync(path.join(appLayer, 'srv/data/index.html'), 0o640);
    fs.symlinkSync('index.html', path.join(appLayer, 'srv/data/home.html'));
    fs.chownSync(path.join(appLayer, 'srv/data'), 1000, 1000);
    await make();
  });
  after(async () => {
    for (const c of containers.list()) await containers.remove(c.id, { force: true }).catch(() => {});
    for (const m of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', m]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("keeps a named volume's data after its container is gone; 409 on volume rm while a container uses it", async () => {
    const vol = await volumes.create({ name: 'my-vol' });
    const r = await run({
      config: {
        image: 'busybox',
        cmd: ['sh', '-c', 'echo "hello from the container" > /www/index.html && cat /www/index.html'],
      },
      hostConfig: { mounts: [{ type: 'volume', source: 'my-vol', target: '/www' }] },
    });
    assert.equal(r.exitCode, 0, r.log);
    assert.equal(fs.readFileSync(path.join(vol.mountpoint, 'index.html'), 'utf8'), 'hello from the container\n');
    assert.deepEqual(
      containers.get(r.id).mountPoints!.map((m) => [m.type, m.name, m.source, m.destination, m.rw, m.mode]),
      [['volume', 'my-vol', vol.mountpoint, '/www', true, 'z']],
    );
    await assert.rejects(
      volumes.remove('my-vol'),
      (e: any) => e.status === 409 && e.message === `remove my-vol: volume is in use - [${r.id}]`,
    );
    await containers.remove(r.id, { volumes: true });
    assert.equal(
      fs.readFileSync(path.join(vol.mountpoint, 'index.html'), 'utf8'),
      'hello from the container\n',
      'rm -v never removes a named volume',
    );
    await volumes.remove('my-vol');
    assert.ok(!fs.existsSync(vol.mountpoint));
  });

  it('makes a read-only bind refuse writes while a read-write one takes them', async () => {
    const ro = path.join(dir, 'ro-src');
    fs.mkdirSync(ro);
    fs.writeFileSync(path.join(ro, 'config'), 'v1');
    const r = await run({
      config: {
        image: 'busybox',
        cmd: ['sh', '-c', 'cat /cfg/config; echo; echo x > /cfg/new && echo WROTE; echo ok > /out/result'],
      },
      hostConfig: { binds: [`${ro}:/cfg:ro`, `${dir}/rw-out:/out`] },
    });
    assert.match(r.log, /^v1\n/);
    assert.match(r.log, /Read-only file system/);
    assert.doesNotMatch(r.log, /WROTE/);
    assert.ok(!fs.existsSync(path.join(ro, 'new')));
    assert.equal(
      fs.readFileSync(path.join(dir, 'rw-out/result'), 'utf8'),
      'ok\n',
      '-v creates the missing host dir and writes land there',
    );
    await containers.remove(r.id);
  });

  it('runs the mysql-style container: several -v binds and -e', async () => {
    const hostRoot = path.join(dir, 'mydata');
    const r = await run({
      config: {
        image: 'busybox',
        env: ['MYSQL_ROOT_PASSWORD=secret', 'MYSQL_DATABASE=app'],
        cmd: [
          'sh',
          '-c',
          'echo "started db=$MYSQL_DATABASE" > /var/log/mysql.log; echo "pw=$MYSQL_ROOT_PASSWORD" > /var/lib/mysql/ibdata; cat /etc/mysql/conf.d/my.cnf',
        ],
      },
      hostConfig: {
        binds: [`${hostRoot}/log:/var/log`, `${hostRoot}/data:/var/lib/mysql`, `${hostRoot}/conf:/etc/mysql/conf.d:ro`],
      },
    });
    assert.equal(r.exitCode, 1, 'cat of the empty (freshly created) conf dir fails');
    assert.equal(fs.readFileSync(path.join(hostRoot, 'log/mysql.log'), 'utf8'), 'started db=app\n');
    assert.equal(fs.readFileSync(path.join(hostRoot, 'data/ibdata'), 'utf8'), 'pw=secret\n');
    assert.deepEqual(fs.readdirSync(path.join(hostRoot, 'conf')), []);
    fs.writeFileSync(path.join(hostRoot, 'conf/my.cnf'), '[mysqld]\n');
    await containers.start(r.id);
    await containers.wait(r.id, 'not-running');
    assert.match(logOf(r.id), /\[mysqld\]/);
    await containers.remove(r.id);
    assert.ok(fs.existsSync(path.join(hostRoot, 'data/ibdata')), 'bind-mounted host data is never touched by rm');
  });

  it("copies an image VOLUME's content into its new anonymous volume; rm -v removes it, plain rm keeps it", async () => {
    const r = await run({
      config: {
        image: 'withvolume',
        cmd: ['sh', '-c', 'cat /srv/data/home.html; ls -ln /srv/data/index.html; echo more > /srv/data/added'],
      },
    });
    assert.equal(r.exitCode, 0, r.log);
    assert.match(r.log, /^<h1>from the image<\/h1>\n-rw-r----- +1 1000 +1000 /);
    const [mp] = containers.get(r.id).mountPoints!;
    assert.equal(mp.destination, '/srv/data');
    assert.match(mp.name!, /^[0-9a-f]{64}$/);
    assert.equal(volumes.get(mp.name!).anonymous, true);
    assert.equal(fs.readlinkSync(path.join(mp.source, 'home.html')), 'index.html');
    assert.equal(fs.statSync(path.join(mp.source, 'index.html')).uid, 1000);
    assert.equal(fs.statSync(mp.source).uid, 1000, "the volume root takes the image directory's owner");
    assert.equal(fs.readFileSync(path.join(mp.source, 'added'), 'utf8'), 'more\n');
    assert.equal(
      fs.readFileSync(path.join(appLayer, 'srv/data/index.html'), 'utf8'),
      '<h1>from the image</h1>\n',
      'the image is untouched',
    );
    // A second start copies nothing over what the container wrote.
    fs.writeFileSync(path.join(mp.source, 'index.html'), 'changed');
    await containers.start(r.id);
    await containers.wait(r.id, 'not-running');
    assert.equal(fs.readFileSync(path.join(mp.source, 'index.html'), 'utf8'), 'changed');
    await containers.remove(r.id, { volumes: true });
    assert.throws(() => volumes.get(mp.name!), /no such volume/);

    const kept = await run({ config: { image: 'withvolume', cmd: ['true'] } });
    const anon = containers.get(kept.id).mountPoints![0].name!;
    await containers.remove(kept.id);
    assert.deepEqual(volumes.usedBy(anon), [], 'plain rm keeps the anonymous volume, unused');
    await volumes.remove(anon);
  });

  it('fills a new empty named volume from the image too, and mounts a named volume over an image VOLUME', async () => {
    const r = await run({
      config: { image: 'withvolume', cmd: ['ls', '/srv/data'] },
      hostConfig: { binds: ['site:/srv/data'] },
    });
    assert.equal(r.log, 'css\nhome.html\nindex.html\n');
    assert.deepEqual(
      containers.get(r.id).mountPoints!.map((m) => m.name),
      ['site'],
      'no anonymous volume where a named one is mounted',
    );
    assert.ok(fs.existsSync(path.join(volumes.get('site').mountpoint, 'css/site.css')));
    await containers.remove(r.id, { volumes: true });
    assert.equal(volumes.get('site').name, 'site');
    await volumes.remove('site');
  });

  it('mounts tmpfs from --mount and shares volumes with --volumes-from (read-only on request)', async () => {
    const a = await run({
      config: { image: 'busybox', cmd: ['sh', '-c', 'echo shared > /data/file; grep " /scratch " /proc/mounts'] },
      hostConfig: {
        binds: ['sharevol:/data'],
        mounts: [{ type: 'tmpfs', target: '/scratch', tmpfsOptions: { sizeBytes: 1 << 20 } }],
      },
    });
    assert.match(a.log, /^tmpfs \/scratch tmpfs rw,nosuid,nodev,noexec,.*size=1024k/m);
    const b = await run({
      config: { image: 'busybox', cmd: ['sh', '-c', 'cat /data/file; echo x > /data/other || echo REFUSED'] },
      hostConfig: { volumesFrom: [`${a.id.slice(0, 12)}:ro`] },
    });
    // stdout and stderr interleave in no fixed order.
    assert.match(b.log, /^shared\n/);
    assert.match(b.log, /can't create \/data\/other: Read-only file system\n/);
    assert.match(b.log, /REFUSED\n/);
    const bm = containers.get(b.id).mountPoints!;
    assert.deepEqual(
      bm.map((m) => [m.type, m.name, m.destination, m.rw]),
      [
        ['volume', 'sharevol', '/data', false],
        ['tmpfs', undefined, '/scratch', false],
      ],
    );
    assert.deepEqual(volumes.usedBy('sharevol').sort(), [a.id, b.id].sort());
    await assert.rejects(
      containers.create({ config: { image: 'busybox' }, hostConfig: { volumesFrom: ['nosuch'] } }),
      /No such container: nosuch/,
    );
    await containers.remove(a.id, { volumes: true });
    await containers.remove(b.id, { volumes: true });
    await volumes.remove('sharevol');
  });

  it("rejects bad mounts at create with Docker's messages and leaves no volume behind", async () => {
    const before = containers.list().length;
    await assert.rejects(
      containers.create({
        config: { image: 'busybox' },
        hostConfig: { mounts: [{ type: 'bind', source: '/x/nonexist', target: '/p' }] },
      }),
      (e: any) =>
        e.status === 400 &&
        e.message === 'invalid mount config for type "bind": bind source path does not exist: /x/nonexist',
    );
    await assert.rejects(
      containers.create({ config: { image: 'busybox' }, hostConfig: { binds: ['fresh-one:/a', 'bad/name:/b'] } }),
      /includes invalid characters/,
    );
    assert.throws(() => volumes.get('fresh-one'), /no such volume/);
    assert.equal(containers.list().length, before);
  });

  it('keeps volume references across an engine restart (kill -9 equivalent: services dropped, state re-read)', async () => {
    const { id } = await containers.create({
      config: { image: 'busybox', cmd: ['true'] },
      hostConfig: { binds: ['survivor:/s'] },
    });
    fs.writeFileSync(path.join(volumes.get('survivor').mountpoint, 'data'), 'kept');
    await make();
    assert.deepEqual(volumes.usedBy('survivor'), [id]);
    await assert.rejects(volumes.remove('survivor'), /volume is in use/);
    await containers.remove(id, { volumes: true });
    assert.equal(fs.readFileSync(path.join(volumes.get('survivor').mountpoint, 'data'), 'utf8'), 'kept');
    await volumes.remove('survivor');
  });
});
