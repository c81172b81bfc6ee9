import * as assert from 'node:assert/strict';
import { mountSpecFromApi, renderMountPoint } from '../../../src/engine/api/routes/volumes';
import { parseBind, parseVolumesFrom, planMounts, tmpfsData, validMountMode } from '../../../src/engine/volumes/mounts';

const none = () => false;
const all = () => true;
const message = (fn: () => unknown) => {
  try {
    fn();
  } catch (err: any) {
    return `${err.status} ${err.message}`;
  }
  assert.fail('expected an error');
};

describe('volumes: mount-spec parsing (pure)', () => {
  it("parses -v name:/path[:ro] as a named local volume with Docker's mode", () => {
    const [m] = planMounts({ binds: ['data:/var/lib/data'] });
    assert.deepEqual(renderMountPoint(m), {
      Type: 'volume',
      Name: 'data',
      Source: '',
      Destination: '/var/lib/data',
      Driver: 'local',
      Mode: 'z',
      RW: true,
      Propagation: '',
    });
    assert.equal(m.copyData, true);
    const [ro] = planMounts({ binds: ['data:/d:ro,nocopy'] });
    assert.equal(ro.rw, false);
    assert.equal(ro.mode, 'ro,nocopy');
    assert.equal(ro.copyData, false);
  });

  it('parses -v /host:/path[:ro|rw|z|Z|propagation] as binds that create a missing host dir', () => {
    const [b] = planMounts({ binds: ['/srv/www:/www'] }, none);
    assert.deepEqual(renderMountPoint(b), {
      Type: 'bind',
      Source: '/srv/www',
      Destination: '/www',
      Mode: '',
      RW: true,
      Propagation: 'rprivate',
    });
    assert.equal(b.createSource, true);
    assert.equal(planMounts({ binds: ['/a:/b:ro'] })[0].rw, false);
    assert.equal(planMounts({ binds: ['/a:/b:rw'] })[0].rw, true);
    assert.equal(planMounts({ binds: ['/a:/b:Z'] })[0].mode, 'Z');
    const [p] = planMounts({ binds: ['/a:/b:ro,rshared'] });
    assert.equal(p.propagation, 'rshared');
    assert.equal(p.rw, false);
    assert.equal(planMounts({ binds: ['/a/:/b/'] })[0].destination, '/b');
  });

  it('parses -v /path (and Config.Volumes) as anonymous volumes', () => {
    const [a] = planMounts({ binds: ['/cache'] });
    assert.equal(a.type, 'volume');
    assert.equal(a.name, '');
    const [c] = planMounts({ volumes: ['/data/'] });
    assert.deepEqual(renderMountPoint(c), {
      Type: 'volume',
      Name: '',
      Source: '',
      Destination: '/data',
      Driver: 'local',
      Mode: '',
      RW: true,
      Propagation: '',
    });
    assert.equal(c.copyData, true);
  });

  it("rejects bad -v specs with Docker's messages", () => {
    assert.equal(
      message(() => parseBind('rel:/p:xyz')),
      '400 invalid mode: xyz',
    );
    assert.equal(
      message(() => parseBind('/tmp:/p:rw,ro')),
      '400 invalid mode: rw,ro',
    );
    assert.equal(
      message(() => parseBind('/tmp:/')),
      `400 invalid volume specification: '/tmp:/': invalid mount config for type "bind": invalid specification: destination can't be '/'`,
    );
    assert.equal(
      message(() => parseBind(':/p')),
      "400 invalid volume specification: ':/p'",
    );
    assert.equal(
      message(() => parseBind('/foo:rw')),
      "400 invalid volume specification: '/foo:rw'",
    );
    assert.equal(
      message(() => parseBind('data:rel')),
      `400 invalid volume specification: 'data:rel': invalid mount config for type "volume": invalid mount path: 'rel' mount path must be absolute`,
    );
  });

  it('validates --mount like Docker: bind source must exist, paths absolute, no mixed options', () => {
    assert.equal(
      message(() => planMounts({ mounts: [{ type: 'bind', source: '/x', target: '/p' }] }, none)),
      '400 invalid mount config for type "bind": bind source path does not exist: /x',
    );
    assert.equal(planMounts({ mounts: [{ type: 'bind', source: '/x', target: '/p' }] }, all)[0].createSource, false);
    assert.equal(
      message(() => planMounts({ mounts: [{ type: 'bind', source: 'relative', target: '/p' }] }, all)),
      `400 invalid mount config for type "bind": invalid mount path: 'relative' mount path must be absolute`,
    );
    assert.equal(
      message(() => planMounts({ mounts: [{ type: 'bind', target: '/p' }] }, all)),
      '400 invalid mount config for type "bind": field Source must not be empty',
    );
    assert.equal(
      message(() => planMounts({ mounts: [{ type: 'volume', target: 'relative' }] })),
      `400 invalid mount config for type "volume": invalid mount path: 'relative' mount path must be absolute`,
    );
    assert.equal(
      message(() => planMounts({ mounts: [{ type: 'volume', target: '/p', readOnly: true }] })),
      '400 invalid mount config for type "volume": must not set ReadOnly mode when using anonymous volumes',
    );
    assert.equal(
      message(() => planMounts({ mounts: [{ type: 'tmpfs', target: '/p', source: '/x' }] })),
      '400 invalid mount config for type "tmpfs": field Source must not be specified',
    );
    assert.equal(
      message(() => planMounts({ mounts: [{ type: 'volume', target: '/p', bindOptions: { propagation: 'shared' } }] })),
      '400 invalid mount config for type "volume": field BindOptions must not be specified',
    );
    assert.equal(
      message(() =>
        planMounts(
          { mounts: [{ type: 'bind', source: '/x', target: '/p', bindOptions: { propagation: 'weird' } }] },
          all,
        ),
      ),
      '400 invalid mount config for type "bind": invalid propagation mode: weird',
    );
    assert.equal(
      message(() => planMounts({ mounts: [{ type: 'nfs', target: '/p' }] })),
      '400 invalid mount config for type "nfs": mount type unknown',
    );
    assert.equal(
      message(() => planMounts({ mounts: [{ type: 'tmpfs', target: '/' }] })),
      `400 invalid mount config for type "tmpfs": invalid specification: destination can't be '/'`,
    );
  });

  it('turns --mount entries into mount points with volume options, propagation and tmpfs data', () => {
    const [v, b, t] = planMounts(
      {
        mounts: [
          {
            type: 'volume',
            source: 'cfg',
            target: '/cfg',
            readOnly: true,
            volumeOptions: { noCopy: true, driverConfig: { options: { type: 'tmpfs', device: 'tmpfs' } } },
          },
          { type: 'bind', source: '/etc', target: '/host-etc', readOnly: true, bindOptions: { propagation: 'rslave' } },
          { type: 'tmpfs', target: '/run/x', tmpfsOptions: { sizeBytes: 2 * 1024 * 1024, mode: 0o1770 } },
        ],
      },
      all,
    );
    assert.deepEqual(renderMountPoint(v), {
      Type: 'volume',
      Name: 'cfg',
      Source: '',
      Destination: '/cfg',
      Driver: 'local',
      Mode: 'z',
      RW: false,
      Propagation: '',
    });
    assert.equal(v.copyData, false);
    assert.deepEqual(v.volumeOptions, { driverOpts: { type: 'tmpfs', device: 'tmpfs' }, labels: undefined });
    assert.deepEqual(renderMountPoint(b), {
      Type: 'bind',
      Source: '/etc',
      Destination: '/host-etc',
      Mode: '',
      RW: false,
      Propagation: 'rslave',
    });
    assert.deepEqual(renderMountPoint(t), {
      Type: 'tmpfs',
      Source: '',
      Destination: '/run/x',
      Mode: '',
      RW: true,
      Propagation: '',
    });
    assert.equal(t.tmpfsData, 'mode=1770,size=2m');
  });

  it('converts tmpfs options like Docker (sizes with suffixes, exec/noexec only)', () => {
    assert.equal(tmpfsData({ sizeBytes: 1536 }, true), 'ro,size=1536');
    assert.equal(tmpfsData({ sizeBytes: 3 * 2 ** 30, options: [['exec']] }, false), 'size=3g,exec');
    assert.throws(() => tmpfsData({ options: [['uid', '5']] }, false), /invalid option: uid/);
  });

  it('refuses the same destination twice, lets binds override volumes-from, image VOLUMEs fill the rest', () => {
    assert.equal(
      message(() => planMounts({ binds: ['/a:/p'], mounts: [{ type: 'bind', source: '/b', target: '/p' }] }, all)),
      '400 Duplicate mount point: /p',
    );
    assert.equal(
      message(() => planMounts({ binds: ['/a:/p', 'v1:/p'] })),
      '400 Duplicate mount point: /p',
    );
    const from = planMounts({ binds: ['shared:/data', '/host:/h'] });
    from[0].source = '/var/lib/berth/volumes/shared/_data';
    const plan = planMounts({
      volumesFrom: [{ spec: 'src:ro', mountPoints: from }],
      binds: ['/other:/h'],
      volumes: ['/data', '/cache', '/t'],
      tmpfs: { '/t': '' },
    });
    const byDest = Object.fromEntries(plan.map((m) => [m.destination, m]));
    assert.deepEqual(Object.keys(byDest).sort(), ['/cache', '/data', '/h']);
    assert.equal(byDest['/data'].name, 'shared');
    assert.equal(byDest['/data'].rw, false, 'volumes-from :ro makes the copies read-only');
    assert.equal(byDest['/data'].copyData, false);
    assert.equal(byDest['/h'].source, '/other');
    assert.equal(byDest['/cache'].name, '', 'an image VOLUME not otherwise mounted is an anonymous volume');
  });

  it('parses --volumes-from specs', () => {
    assert.deepEqual(parseVolumesFrom('web'), { id: 'web', mode: 'rw' });
    assert.deepEqual(parseVolumesFrom('web:ro'), { id: 'web', mode: 'ro' });
    assert.equal(
      message(() => parseVolumesFrom('web:rshared')),
      '400 invalid mode: rshared',
    );
    assert.equal(
      message(() => parseVolumesFrom('web:nocopy')),
      '400 invalid mode: nocopy',
    );
    assert.equal(
      message(() => parseVolumesFrom('')),
      '400 volumes-from specification cannot be an empty string',
    );
  });

  it("knows Docker's mode grammar", () => {
    for (const ok of ['', 'ro', 'rw', 'z', 'Z', 'ro,Z', 'rshared', 'ro,nocopy', 'cached', 'rro'])
      assert.ok(validMountMode(ok), ok);
    for (const bad of ['xyz', 'ro,rw', 'z,Z', 'shared,rslave', 'ro,']) assert.ok(!validMountMode(bad), bad);
  });

  it('reads HostConfig.Mounts from the API shape', () => {
    const spec = mountSpecFromApi({
      Type: 'volume',
      Source: 'v',
      Target: '/v',
      ReadOnly: true,
      VolumeOptions: { NoCopy: true, Labels: { a: 'b' }, DriverConfig: { Name: 'local', Options: { o: 'size=1m' } } },
    });
    assert.deepEqual(spec, {
      type: 'volume',
      source: 'v',
      target: '/v',
      readOnly: true,
      consistency: undefined,
      volumeOptions: {
        noCopy: true,
        labels: { a: 'b' },
        driverConfig: { name: 'local', options: { o: 'size=1m' } },
        subpath: undefined,
      },
    });
    assert.deepEqual(
      mountSpecFromApi({ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1024, Mode: 448 } }).tmpfsOptions,
      { sizeBytes: 1024, mode: 448, options: undefined },
    );
  });
});

describe('volumes: host paths written the Windows way (the engine in the WSL VM, pure)', () => {
  const drives = { root: '/mnt', distro: 'berth-default' };

  it('-v C:\\…:/dst[:mode] binds the folder under /mnt/c, the mode kept', () => {
    const [b] = planMounts({ binds: ['C:\\Users\\me\\project\\:/src:ro'] }, none, drives);
    assert.equal(b.type, 'bind');
    assert.equal(b.source, '/mnt/c/Users/me/project');
    assert.equal(b.destination, '/src');
    assert.equal(b.rw, false);
    assert.equal(b.mode, 'ro');
    assert.equal(b.createSource, true);
    const [fwd] = planMounts({ binds: ['d:/data:/data'] }, none, drives);
    assert.equal(fwd.source, '/mnt/d/data');
  });

  it('--mount type=bind with a Windows source checks the translated folder', () => {
    const seen: string[] = [];
    const [m] = planMounts(
      { mounts: [{ type: 'bind', source: 'C:\\Users\\me', target: '/m' }] },
      (p) => {
        seen.push(p);
        return true;
      },
      drives,
    );
    assert.equal(m.source, '/mnt/c/Users/me');
    assert.deepEqual(seen, ['/mnt/c/Users/me']);
    assert.equal(
      message(() => planMounts({ mounts: [{ type: 'bind', source: 'C:\\nope', target: '/m' }] }, none, drives)),
      '400 invalid mount config for type "bind": bind source path does not exist: /mnt/c/nope',
    );
  });

  it("quotes the spec as sent in Docker's errors; unreachable paths are refused", () => {
    assert.equal(
      message(() => planMounts({ binds: ['C:\\p:/dst:bogus'] }, none, drives)),
      '400 invalid mode: bogus',
    );
    assert.equal(
      message(() => planMounts({ binds: ['C:\\p:relative'] }, none, drives)),
      "400 invalid volume specification: 'C:\\p:relative': invalid mount config for type \"bind\": invalid mount path: 'relative' mount path must be absolute",
    );
    assert.match(
      message(() => planMounts({ binds: ['\\\\server\\share:/s'] }, none, drives)),
      /^400 invalid volume specification: '\\\\server\\share:\/s': \\\\server\\share is on a network share/,
    );
  });

  it('without the WSL drives a C:\\ spec is what dockerd on Linux makes of it', () => {
    assert.match(
      message(() => planMounts({ binds: ['C:\\Users\\me\\p:/src'] }, none)),
      /^400 invalid/,
    );
    const [m] = planMounts({ mounts: [{ type: 'bind', source: '/srv', target: '/m' }] }, all, drives);
    assert.equal(m.source, '/srv');
  });
});
