import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createEventBus, type EngineEvent } from '../../../src/engine/events';
import {
  ANONYMOUS_LABEL,
  createVolumeService,
  directorySize,
  mountsUnder,
  type VolumeService,
} from '../../../src/engine/volumes';
import { planMounts } from '../../../src/engine/volumes/mounts';
import {
  copyUp,
  createMountPoints,
  mayExistInLayers,
  releaseMounts,
  resolveInRoot,
  setupMounts,
  teardownMounts,
} from '../../../src/engine/volumes/setup';

const CID = 'c'.repeat(64);
const CID2 = 'd'.repeat(64);

async function rejects(p: Promise<unknown>, status: number, message: string | RegExp) {
  await assert.rejects(p, (err: any) => {
    assert.equal(err.status, status, err.message);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

describe('volumes: the local driver service', function () {
  let dir: string;
  let dataRoot: string;
  let svc: VolumeService;
  let events: EngineEvent[];

  const fresh = async () => {
    const bus = createEventBus();
    bus.subscribe({}, (e) => events.push(e));
    const s = createVolumeService({ dataRoot, events: bus });
    await s.init();
    return s;
  };

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vol-'));
    dataRoot = path.join(dir, 'data');
    events = [];
    svc = await fresh();
  });
  afterEach(() => {
    for (const m of mountsUnder(dir)) spawnSync('umount', ['-l', m]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates named and anonymous volumes at <data-root>/volumes/<name>/_data', async () => {
    const v = await svc.create({ name: 'my-vol', labels: { app: 'web' } });
    assert.equal(v.mountpoint, path.join(dataRoot, 'volumes/my-vol/_data'));
    assert.ok(fs.statSync(v.mountpoint).isDirectory());
    assert.equal(fs.statSync(v.mountpoint).mode & 0o777, 0o755);
    assert.match(v.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(v.labels, { app: 'web' });
    assert.equal(v.anonymous, false);
    const a = await svc.create({});
    assert.match(a.name, /^[0-9a-f]{64}$/);
    assert.deepEqual(a.labels, { [ANONYMOUS_LABEL]: '' });
    assert.equal(a.anonymous, true);
    assert.deepEqual(
      events.filter((e) => e.type === 'volume').map((e) => `${e.action} ${e.actor.id}`),
      ['create my-vol', `create ${a.name}`],
    );
  });

  it("rejects bad names and options with Docker's messages, creating nothing", async () => {
    await rejects(
      svc.create({ name: 'a/b' }),
      400,
      'create a/b: "a/b" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path',
    );
    await rejects(svc.create({ name: '..' }), 400, /^create \.\.: "\.\." includes invalid characters/);
    await rejects(svc.create({ name: '../../etc' }), 400, /includes invalid characters/);
    await rejects(
      svc.create({ name: 'a' }),
      400,
      'create a: volume name is too short, names should be at least two alphanumeric characters',
    );
    await rejects(svc.create({ name: 'v1', driverOpts: { foo: 'bar' } }), 400, 'create v1: invalid option: "foo"');
    await rejects(
      svc.create({ name: 'v1', driverOpts: { type: 'tmpfs' } }),
      400,
      'create v1: missing required option: "device"',
    );
    await rejects(
      svc.create({ name: 'v1', driverOpts: { device: '/tmp' } }),
      400,
      'create v1: missing required option: "type"',
    );
    await rejects(
      svc.create({ name: 'v1', driver: 'nope' }),
      404,
      'create v1: error looking up volume plugin nope: plugin "nope" not found',
    );
    assert.deepEqual(fs.readdirSync(path.join(dataRoot, 'volumes')), []);
  });

  it('makes concurrent creates of one name one volume, returning the existing one', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => svc.create({ name: 'same', labels: { n: String(i) } })),
    );
    assert.ok(results.every((r) => r.name === 'same' && r.createdAt === results[0].createdAt && r.labels.n === '0'));
    assert.deepEqual(fs.readdirSync(path.join(dataRoot, 'volumes')), ['same']);
    assert.equal(events.filter((e) => e.action === 'create').length, 1);
  });

  it('lists with dangling/name/label/driver filters', async () => {
    await svc.create({ name: 'alpha', labels: { tier: 'db', keep: '' } });
    await svc.create({ name: 'beta', labels: { tier: 'web' } });
    await svc.create({ name: 'gamma' });
    svc.acquire('beta', CID);
    const names = (f: Parameters<VolumeService['list']>[0]) => svc.list(f).map((v) => v.name);
    assert.deepEqual(names({}), ['alpha', 'beta', 'gamma']);
    assert.deepEqual(names({ dangling: true }), ['alpha', 'gamma']);
    assert.deepEqual(names({ dangling: false }), ['beta']);
    assert.deepEqual(names({ name: ['et'] }), ['beta']);
    assert.deepEqual(names({ name: ['^a', 'ma$'] }), ['alpha', 'gamma']);
    assert.deepEqual(names({ label: ['tier'] }), ['alpha', 'beta']);
    assert.deepEqual(names({ label: ['tier=db', 'keep'] }), ['alpha']);
    assert.deepEqual(names({ labelNot: ['tier=db'] }), ['beta', 'gamma']);
    assert.deepEqual(names({ driver: ['local'] }), ['alpha', 'beta', 'gamma']);
    assert.deepEqual(names({ driver: ['nfs'] }), []);
  });

  it('refuses to remove a volume in use (409), force only forgives a missing one', async () => {
    const v = await svc.create({ name: 'used' });
    fs.writeFileSync(path.join(v.mountpoint, 'f'), 'data');
    svc.acquire('used', CID);
    svc.acquire('used', CID); // idempotent
    assert.deepEqual(svc.usedBy('used'), [CID]);
    await rejects(svc.remove('used'), 409, `remove used: volume is in use - [${CID}]`);
    await rejects(svc.remove('used', { force: true }), 409, /volume is in use/);
    assert.equal(fs.readFileSync(path.join(v.mountpoint, 'f'), 'utf8'), 'data');
    await svc.release('used', CID);
    await svc.remove('used');
    assert.ok(!fs.existsSync(path.dirname(v.mountpoint)));
    await rejects(svc.remove('used'), 404, 'get used: no such volume');
    await svc.remove('used', { force: true });
    assert.throws(() => svc.get('nope'), /get nope: no such volume/);
  });

  it('keeps references across an engine restart, and reconcile drops those of vanished containers', async () => {
    await svc.create({ name: 'kept', reference: CID });
    svc.acquire('kept', CID2);
    const again = await fresh();
    assert.deepEqual(again.usedBy('kept').sort(), [CID, CID2]);
    await rejects(again.remove('kept'), 409, /volume is in use/);
    await again.reconcile(new Set([CID2]));
    assert.deepEqual(again.usedBy('kept'), [CID2]);
    assert.deepEqual((await fresh()).usedBy('kept'), [CID2]);
  });

  it('prunes only unused anonymous volumes by default, named ones too with all, honouring labels', async () => {
    const anon = await svc.create({});
    fs.writeFileSync(path.join(anon.mountpoint, 'blob'), Buffer.alloc(12345));
    const anonUsed = await svc.create({ reference: CID });
    await svc.create({ name: 'named' });
    await svc.create({ name: 'keepme', labels: { keep: '1' } });
    await svc.create({ name: 'opts', driverOpts: { type: 'tmpfs', device: 'tmpfs' } });
    const r1 = await svc.prune();
    assert.deepEqual(r1, { deleted: [anon.name], spaceReclaimed: 12345 });
    assert.ok(!fs.existsSync(anon.mountpoint));
    assert.deepEqual(
      svc
        .list()
        .map((v) => v.name)
        .sort(),
      [anonUsed.name, 'keepme', 'named', 'opts'].sort(),
    );
    const r2 = await svc.prune({ all: true, labelNot: ['keep'] });
    assert.deepEqual(r2.deleted, ['named']);
    assert.deepEqual(
      svc
        .list()
        .map((v) => v.name)
        .sort(),
      [anonUsed.name, 'keepme', 'opts'].sort(),
    );
    const r3 = await svc.prune({ all: true, label: ['keep=1'] });
    assert.deepEqual(r3.deleted, ['keepme']);
    assert.ok(events.some((e) => e.action === 'prune' && e.actor.attributes.reclaimed === '12345'));
  });

  it('mounts tmpfs volumes on demand and unmounts them when the last container lets go', async () => {
    const v = await svc.create({
      name: 'scratch',
      driverOpts: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,mode=0700' },
    });
    assert.deepEqual(v.options, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,mode=0700' });
    assert.deepEqual(mountsUnder(v.mountpoint), [], 'not mounted until used');
    assert.equal(await svc.mount('scratch', CID), v.mountpoint);
    await svc.mount('scratch', CID2);
    assert.deepEqual(mountsUnder(v.mountpoint), [v.mountpoint]);
    assert.equal(fs.statSync(v.mountpoint).mode & 0o777, 0o700);
    await svc.unmount('scratch', CID);
    assert.deepEqual(mountsUnder(v.mountpoint), [v.mountpoint], 'still used by the second container');
    await svc.unmount('scratch', CID2);
    assert.deepEqual(mountsUnder(v.mountpoint), []);
    await svc.mount('scratch', CID);
    await svc.release('scratch', CID);
    assert.deepEqual(mountsUnder(v.mountpoint), [], 'release unmounts too');
    await svc.release('scratch', CID2);
    await svc.remove('scratch');
  });

  it('never deletes the host directory behind a bind-backed volume', async () => {
    const host = path.join(dir, 'host-data');
    fs.mkdirSync(host);
    fs.writeFileSync(path.join(host, 'precious'), 'keep me');
    const v = await svc.create({ name: 'bound', driverOpts: { type: 'none', o: 'bind', device: host } });
    await svc.mount('bound', CID);
    assert.equal(fs.readFileSync(path.join(v.mountpoint, 'precious'), 'utf8'), 'keep me');
    await rejects(svc.remove('bound'), 409, /in use/);
    // The engine dies with the volume mounted; the new one finds it mounted and the container gone.
    const again = await fresh();
    await again.reconcile(new Set());
    assert.deepEqual(mountsUnder(v.mountpoint), []);
    await again.remove('bound');
    assert.equal(fs.readFileSync(path.join(host, 'precious'), 'utf8'), 'keep me');
  });

  it("reports a failed mount with Docker's wording and stays usable", async () => {
    await svc.create({ name: 'broken', driverOpts: { type: 'none', o: 'bind', device: path.join(dir, 'missing') } });
    await rejects(
      svc.mount('broken', CID),
      500,
      /^error while mounting volume '.*broken\/_data': failed to mount local volume: mount .*missing:.*broken\/_data/,
    );
    await svc.remove('broken');
  });

  it('finishes a crashed create or remove at start and loads volumes made without metadata', async () => {
    const vols = path.join(dataRoot, 'volumes');
    fs.mkdirSync(path.join(vols, '.creating-0123/_data'), { recursive: true });
    fs.mkdirSync(path.join(vols, '.removing-4567/_data'), { recursive: true });
    fs.mkdirSync(path.join(vols, 'legacy/_data'), { recursive: true });
    fs.writeFileSync(path.join(vols, 'legacy/_data/x'), 'y');
    const s = await fresh();
    assert.deepEqual(fs.readdirSync(vols).sort(), ['legacy']);
    assert.equal(s.get('legacy').anonymous, false);
    assert.equal(await s.size('legacy'), 1);
  });

  it('sizes a directory like Docker (apparent sizes, hard links once)', async () => {
    const v = await svc.create({ name: 'sized' });
    fs.mkdirSync(path.join(v.mountpoint, 'sub'));
    fs.writeFileSync(path.join(v.mountpoint, 'sub/a'), Buffer.alloc(1000));
    fs.linkSync(path.join(v.mountpoint, 'sub/a'), path.join(v.mountpoint, 'hard'));
    fs.writeFileSync(path.join(v.mountpoint, 'b'), Buffer.alloc(24));
    fs.symlinkSync('sub/a', path.join(v.mountpoint, 'link'));
    assert.equal(await directorySize(v.mountpoint), 1000 + 24 + 'sub/a'.length);
  });

  describe('container mounts', () => {
    it("creates, mounts (with copy-up) and releases a container's mounts; rm -v removes anonymous volumes only", async () => {
      // The container's root filesystem as the runtime would have it mounted.
      const rootfs = path.join(dir, 'rootfs');
      fs.mkdirSync(path.join(rootfs, 'srv/data/sub'), { recursive: true });
      fs.writeFileSync(path.join(rootfs, 'srv/data/hello.txt'), 'from the image');
      fs.chmodSync(path.join(rootfs, 'srv/data/hello.txt'), 0o640);
      fs.chownSync(path.join(rootfs, 'srv/data/hello.txt'), 1234, 5678);
      fs.chownSync(path.join(rootfs, 'srv/data'), 33, 33);
      fs.chmodSync(path.join(rootfs, 'srv/data'), 0o750);
      fs.symlinkSync('hello.txt', path.join(rootfs, 'srv/data/link'));
      fs.symlinkSync('/srv/data', path.join(rootfs, 'data-link'));
      const xattr = spawnSync('setfattr', ['-n', 'user.berth', '-v', 'yes', path.join(rootfs, 'srv/data/hello.txt')]);
      assert.equal(xattr.status, 0, `setfattr (package attr): ${xattr.stderr}`);
      const hostDir = path.join(dir, 'host/log');

      const plan = planMounts({
        binds: [`${hostDir}:/var/log`, 'named:/named:ro'],
        volumes: ['/data-link'],
        mounts: [{ type: 'tmpfs', target: '/run/t' }],
      });
      const mps = await createMountPoints(svc, CID, plan);
      assert.ok(fs.statSync(hostDir).isDirectory(), '-v creates the missing host directory');
      const anon = mps.find((m) => m.destination === '/data-link')!;
      assert.match(anon.name!, /^[0-9a-f]{64}$/);
      assert.equal(svc.get(anon.name!).anonymous, true);
      assert.deepEqual(svc.usedBy('named'), [CID]);

      const oci = await setupMounts(svc, CID, mps, rootfs);
      assert.deepEqual(
        oci.map((m) => [m.destination, m.type, m.options.join(',')]),
        [
          ['/named', 'bind', 'rbind,ro,rprivate'],
          ['/data-link', 'bind', 'rbind,rw,rprivate'],
          ['/var/log', 'bind', 'rbind,rw,rprivate'],
          ['/run/t', 'tmpfs', 'noexec,nosuid,nodev,rprivate'],
        ],
        'parents before children',
      );
      // Copy-up followed the image's symlink inside the rootfs and kept owners, modes, links and xattrs.
      const vol = svc.get(anon.name!).mountpoint;
      assert.equal(oci[1].source, vol);
      const copied = path.join(vol, 'hello.txt');
      assert.equal(fs.readFileSync(copied, 'utf8'), 'from the image');
      assert.equal(fs.statSync(copied).mode & 0o777, 0o640);
      assert.equal(fs.statSync(copied).uid, 1234);
      assert.equal(fs.statSync(copied).gid, 5678);
      assert.equal(fs.readlinkSync(path.join(vol, 'link')), 'hello.txt');
      assert.ok(fs.statSync(path.join(vol, 'sub')).isDirectory());
      assert.match(
        spawnSync('getfattr', ['-n', 'user.berth', copied], { encoding: 'utf8' }).stdout,
        /user.berth="yes"/,
      );
      assert.equal(fs.statSync(vol).uid, 33);
      assert.equal(fs.statSync(vol).mode & 0o777, 0o750);
      // A volume with content is never overwritten by a later copy-up.
      fs.writeFileSync(copied, 'changed by the container');
      await setupMounts(svc, CID, mps, rootfs);
      assert.equal(fs.readFileSync(copied, 'utf8'), 'changed by the container');

      await teardownMounts(svc, CID, mps);
      await releaseMounts(svc, CID, mps, true);
      assert.throws(() => svc.get(anon.name!), /no such volume/, 'rm -v removes the anonymous volume');
      assert.deepEqual(svc.usedBy('named'), [], 'the named volume stays, unused');
      assert.ok(fs.existsSync(hostDir));
    });

    it('keeps anonymous volumes on plain rm and undoes a half-made set of mounts', async () => {
      const mps = await createMountPoints(svc, CID, planMounts({ volumes: ['/a'] }));
      await releaseMounts(svc, CID, mps, false);
      assert.equal(svc.list({ dangling: true }).length, 1);
      await assert.rejects(
        createMountPoints(svc, CID2, planMounts({ binds: ['fresh:/f', 'bad/name:/g'] })),
        /includes invalid characters/,
      );
      assert.throws(() => svc.get('fresh'), /no such volume/, 'the volume made for the failed create is gone again');
    });

    it('tells without mounting anything whether an image path can exist in its layers', () => {
      const upper = path.join(dir, 'upper');
      const lower = path.join(dir, 'lower');
      fs.mkdirSync(path.join(lower, 'srv/data'), { recursive: true });
      fs.mkdirSync(path.join(upper, 'var'), { recursive: true });
      fs.symlinkSync('/srv', path.join(upper, 'var/www'));
      assert.equal(mayExistInLayers([upper, lower], '/srv/data'), true);
      assert.equal(mayExistInLayers([upper, lower], '/var/www/data'), true, 'a symlinked parent may lead anywhere');
      assert.equal(mayExistInLayers([upper, lower], '/anon'), false);
      assert.equal(mayExistInLayers([upper, lower], '/srv/other'), false);
    });

    it('copies nothing for an image path that is missing or not a directory, and resolves paths inside the root', async () => {
      const rootfs = path.join(dir, 'r2');
      fs.mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
      fs.writeFileSync(path.join(rootfs, 'etc/file'), 'x');
      fs.symlinkSync('../../../../etc', path.join(rootfs, 'escape'));
      assert.equal(resolveInRoot(rootfs, '/escape'), path.join(rootfs, 'etc'), '.. never climbs out of the root');
      assert.equal(resolveInRoot(rootfs, '/nope/x'), undefined);
      const v = await svc.create({ name: 'empty' });
      assert.equal(await copyUp(path.join(rootfs, 'etc/file'), v.mountpoint), false);
      assert.equal(await copyUp(path.join(rootfs, 'missing'), v.mountpoint), false);
      assert.deepEqual(fs.readdirSync(v.mountpoint), []);
    });
  });
});
