// The seeds' volume flows with the real docker CLI against berthd, images from the fixtures' registry mirror:
// my-vol with busybox httpd, a read-only bind, the mysql-style run with several binds and -e, copy-up of an image
// VOLUME, rm -v vs named volumes, system df against the disk, data through an engine kill -9 + restart.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { busyboxEntries, buildImage, pushImage, type Registry, seedMirror, startRegistry } from '../../fixtures';
import { directorySize } from '../../../src/engine/volumes';
import { apiAtLeast, requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function until<T>(fn: () => Promise<T | undefined> | T | undefined, ms = 15000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('volumes with the real docker CLI (containers from the registry mirror)', function () {
  this.timeout(180000);
  let reg: Registry;
  let engine: TestEngine;
  let withVolume: string;

  /** API 1.42 (Docker 23) made `volume prune` leave named volumes alone; an older CLI still gets the old rule. */
  const namedSurvivePrune = () => apiAtLeast(engine.dockerApiVersion(), '1.42');
  const ok = (args: string[], input?: string) => {
    const r = engine.docker(args, { input });
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  before(async function () {
    requireDockerCli(this);
    reg = await startRegistry();
    await seedMirror(reg);
    // FROM busybox; COPY site /srv/www; VOLUME /srv/www
    const img = await buildImage({
      layers: [
        busyboxEntries(),
        [
          { path: 'srv', type: 'dir', mode: 0o755 },
          { path: 'srv/www', type: 'dir', mode: 0o750, uid: 1000, gid: 1000 },
          {
            path: 'srv/www/index.html',
            type: 'file',
            content: '<h1>from the image</h1>\n',
            mode: 0o640,
            uid: 1000,
            gid: 1000,
          },
          { path: 'srv/www/home.html', type: 'symlink', linkname: 'index.html' },
        ],
      ],
      config: {
        config: {
          Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
          Cmd: ['sh'],
          Volumes: { '/srv/www': {} },
        },
      },
    });
    await pushImage(reg, img, 'test/withvolume');
    withVolume = `${reg.host}/test/withvolume`;
    engine = await startEngine({ config: { 'registry-mirrors': [reg.url] } });
  });
  // Each test starts from the same engine, whatever ran before: busybox and the image with a VOLUME pulled, no
  // containers, no volumes.
  beforeEach(async () => {
    const c = engine.client;
    for (const ctr of await c.listContainers({ all: true })) await c.removeContainer(ctr.Id, { force: true });
    for (const v of (await c.listVolumes()).Volumes ?? []) await c.removeVolume(v.Name, true);
    for (const ref of ['busybox', withVolume])
      for await (const m of c.pullImage(ref, 'latest')) assert.equal(m.error, undefined, m.error);
  });
  after(async () => {
    if (engine)
      for (const id of engine.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean)) engine.docker(['rm', '-f', id]);
    await engine?.cleanup();
    await reg?.stop();
  });

  it('my-vol: create, ls, inspect, httpd serving it, file on the host, survives rm, volume rm, prune', async () => {
    assert.equal(ok(['volume', 'create', 'my-vol']).trim(), 'my-vol');
    assert.match(ok(['volume', 'ls']), /local\s+my-vol/);
    const mountpoint = ok(['volume', 'inspect', '--format', '{{ .Mountpoint }}', 'my-vol']).trim();
    assert.equal(mountpoint, path.join(engine.dataRoot, 'volumes/my-vol/_data'));
    ok([
      'run',
      '-d',
      '--name',
      'web',
      '-p',
      '127.0.0.1::80',
      '--mount',
      'source=my-vol,target=/www',
      'busybox',
      'httpd',
      '-f',
      '-p',
      '80',
      '-h',
      '/www',
    ]);
    // The seeds write the page through exec, into the running container's volume.
    ok(['exec', 'web', 'sh', '-c', 'echo "hello from my-vol" > /www/index.html']);
    const port = ok(['port', 'web', '80']).trim().split(':').pop();
    const page = await until(async () => {
      const r = await get(`http://127.0.0.1:${port}/index.html`);
      return r.status === 200 ? r : undefined;
    });
    assert.equal(page.body, 'hello from my-vol\n');
    assert.equal(fs.readFileSync(path.join(mountpoint, 'index.html'), 'utf8'), 'hello from my-vol\n');
    const [m] = JSON.parse(ok(['inspect', '--format', '{{json .Mounts}}', 'web']));
    assert.deepEqual(m, {
      Type: 'volume',
      Name: 'my-vol',
      Source: mountpoint,
      Destination: '/www',
      Driver: 'local',
      Mode: 'z',
      RW: true,
      Propagation: '',
    });
    const inUse = engine.docker(['volume', 'rm', 'my-vol']);
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /Error response from daemon: remove my-vol: volume is in use - \[[0-9a-f]{64}\]/);
    ok(['rm', '-f', 'web']);
    assert.equal(
      fs.readFileSync(path.join(mountpoint, 'index.html'), 'utf8'),
      'hello from my-vol\n',
      'the data outlives the container',
    );
    const pruned = ok(['volume', 'prune', '-f']);
    if (namedSurvivePrune()) {
      assert.equal(pruned.includes('my-vol'), false, 'prune leaves named volumes alone');
      assert.equal(ok(['volume', 'rm', 'my-vol']).trim(), 'my-vol');
    } else assert.match(pruned, /^my-vol$/m, 'API < 1.42: prune removes every unused volume');
    assert.ok(!fs.existsSync(mountpoint));
  });

  it('a read-only bind mount refuses writes', () => {
    const host = path.join(engine.dir, 'ro-data');
    fs.mkdirSync(host);
    fs.writeFileSync(path.join(host, 'conf'), 'v1\n');
    const r = engine.docker([
      'run',
      '--rm',
      '-v',
      `${host}:/data:ro`,
      'busybox',
      'sh',
      '-c',
      'cat /data/conf && echo x > /data/conf',
    ]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, 'v1\n');
    assert.match(r.stderr, /can't create \/data\/conf: Read-only file system/);
    assert.equal(fs.readFileSync(path.join(host, 'conf'), 'utf8'), 'v1\n');
    const m = engine.docker([
      'run',
      '--rm',
      '--mount',
      `type=bind,source=${host}/missing,target=/p`,
      'busybox',
      'true',
    ]);
    assert.equal(m.code, 125);
    assert.match(
      m.stderr,
      new RegExp(`invalid mount config for type "bind": bind source path does not exist: ${host}/missing`),
    );
  });

  it('the mysql-style run: several -v binds (host dirs created) and -e', async () => {
    const mydata = path.join(engine.dir, 'mydata');
    ok([
      'run',
      '-d',
      '--name',
      'db',
      '-v',
      `${mydata}/log:/var/log`,
      '-v',
      `${mydata}/data:/var/lib/mysql`,
      '-v',
      `${mydata}/conf:/etc/mysql/conf.d:ro`,
      '-e',
      'MYSQL_ROOT_PASSWORD=my-secret-pw',
      '-e',
      'MYSQL_DATABASE=app',
      'busybox',
      'sh',
      '-c',
      'echo "db=$MYSQL_DATABASE" > /var/log/mysqld.log; echo "$MYSQL_ROOT_PASSWORD" > /var/lib/mysql/auth; exec sleep 300',
    ]);
    await until(() => (fs.existsSync(path.join(mydata, 'data/auth')) ? true : undefined));
    assert.equal(fs.readFileSync(path.join(mydata, 'log/mysqld.log'), 'utf8'), 'db=app\n');
    assert.equal(fs.readFileSync(path.join(mydata, 'data/auth'), 'utf8'), 'my-secret-pw\n');
    const mounts = JSON.parse(ok(['inspect', '--format', '{{json .Mounts}}', 'db']));
    assert.deepEqual(mounts.map((x: any) => [x.Type, x.Source, x.Destination, x.Mode, x.RW, x.Propagation]).sort(), [
      ['bind', `${mydata}/conf`, '/etc/mysql/conf.d', 'ro', false, 'rprivate'],
      ['bind', `${mydata}/data`, '/var/lib/mysql', '', true, 'rprivate'],
      ['bind', `${mydata}/log`, '/var/log', '', true, 'rprivate'],
    ]);
    ok(['rm', '-f', 'db']);
    assert.ok(fs.existsSync(path.join(mydata, 'data/auth')));
  });

  it("copies an image VOLUME's content into its anonymous volume (owners, modes, symlinks); rm -v vs named volumes", () => {
    const out = ok([
      'run',
      '--name',
      'cu',
      withVolume,
      'sh',
      '-c',
      'cat /srv/www/home.html; stat -c "%u:%g %a" /srv/www /srv/www/index.html',
    ]);
    assert.equal(out, '<h1>from the image</h1>\n1000:1000 750\n1000:1000 640\n');
    const [m] = JSON.parse(ok(['inspect', '--format', '{{json .Mounts}}', 'cu']));
    assert.equal(m.Type, 'volume');
    assert.match(m.Name, /^[0-9a-f]{64}$/);
    assert.equal(m.Destination, '/srv/www');
    assert.equal(m.Mode, '');
    assert.equal(fs.readlinkSync(path.join(m.Source, 'home.html')), 'index.html');
    assert.deepEqual(JSON.parse(ok(['volume', 'inspect', '--format', '{{json .Labels}}', m.Name])), {
      'com.docker.volume.anonymous': '',
    });
    ok(['rm', '-v', 'cu']);
    assert.equal(engine.docker(['volume', 'inspect', m.Name]).code, 1, 'rm -v removed the anonymous volume');

    ok(['create', '--name', 'both', '-v', 'keepme:/named', '-v', '/anon', 'busybox', 'true']);
    const names = JSON.parse(ok(['inspect', '--format', '{{json .Mounts}}', 'both'])).map((x: any) => x.Name);
    const anon = names.find((n: string) => n !== 'keepme');
    ok(['rm', '-v', 'both']);
    assert.equal(ok(['volume', 'ls', '-q']).trim(), 'keepme', 'named volume kept, anonymous one gone');
    assert.ok(anon);
    ok(['run', '--rm', '-v', '/scratch', 'busybox', 'true']);
    assert.equal(ok(['volume', 'ls', '-q']).trim(), 'keepme', '--rm removes its anonymous volume');
    ok(['volume', 'rm', 'keepme']);
  });

  it('system df numbers match the disk (volumes, containers, images); system prune --volumes cleans containers and anonymous volumes', async () => {
    ok(['volume', 'create', 'dfvol']);
    const mp = path.join(engine.dataRoot, 'volumes/dfvol/_data');
    fs.writeFileSync(path.join(mp, 'a'), Buffer.alloc(300_000));
    fs.mkdirSync(path.join(mp, 'sub'));
    fs.writeFileSync(path.join(mp, 'sub/b'), Buffer.alloc(45_000));
    ok(['run', '--name', 'writer', '-v', 'dfvol:/v', 'busybox', 'sh', '-c', 'head -c 50000 /dev/zero > /written']);
    const df = await engine.client.systemDf();
    const v = df.Volumes!.find((x: any) => x.Name === 'dfvol')!;
    assert.deepEqual(v.UsageData, { Size: 345_000, RefCount: 1 });
    const c = df.Containers!.find((x: any) => x.Names[0] === '/writer')!;
    const sizeRw = c.SizeRw ?? 0;
    assert.ok(sizeRw >= 50_000 && sizeRw < 60_000, `SizeRw ${sizeRw}`);
    assert.equal(
      sizeRw,
      await directorySize(path.join(engine.dataRoot, 'containers', c.Id, 'upper')),
      'SizeRw is the writable layer on disk',
    );
    // Images: busybox and the copy-up image share busybox's layer; each layer counts once in LayersSize.
    const busybox = df.Images!.find((i: any) => i.RepoTags.includes('busybox:latest'))!;
    const withVol = df.Images!.find((i: any) => i.RepoTags.includes(`${withVolume}:latest`))!;
    assert.equal(df.Images!.length, 2);
    const upper = ok(['image', 'inspect', '--format', '{{.GraphDriver.Data.UpperDir}}', 'busybox']).trim();
    assert.equal(busybox.Size, await directorySize(upper), 'image size is its unpacked layer on disk');
    assert.equal(c.SizeRootFs, sizeRw + busybox.Size, 'SizeRootFs is the writable layer plus the image on disk');
    const inspected = await engine.client.inspectContainer('writer', { size: true });
    assert.deepEqual(
      [inspected.SizeRw, inspected.SizeRootFs],
      [sizeRw, sizeRw + busybox.Size],
      'inspect --size agrees',
    );
    assert.equal(busybox.SharedSize, busybox.Size);
    assert.equal(withVol.SharedSize, busybox.Size);
    assert.equal(df.LayersSize, withVol.Size);
    assert.equal(busybox.Containers, 1);
    const table = ok(['system', 'df']);
    assert.match(table, /Images\s+2\s+1\s/);
    assert.match(table, /Containers\s+1\s+0\s/);
    assert.match(table, /Local Volumes\s+1\s+1\s+345kB\s+0B \(0%\)/);
    assert.match(ok(['system', 'df', '-v']), /dfvol\s+1\s+345kB/);
    ok(['rm', 'writer']);
    assert.match(ok(['system', 'df']), /Local Volumes\s+1\s+0\s+345kB\s+345kB \(100%\)/);

    // system prune --volumes: stopped containers and anonymous volumes go, named volumes and used images stay.
    ok(['create', '--name', 'leftover', '-v', '/anon-data', 'busybox', 'true']);
    ok(['volume', 'create']);
    const pruned = ok(['system', 'prune', '-f', '--volumes']);
    assert.match(pruned, /Deleted Containers:\n[0-9a-f]{64}\n/);
    assert.match(pruned, /Deleted Volumes:\n([0-9a-f]{64}\n){2}/);
    assert.match(pruned, /Total reclaimed space: /);
    assert.equal(ok(['ps', '-aq']), '');
    if (namedSurvivePrune()) {
      assert.equal(ok(['volume', 'ls', '-q']).trim(), 'dfvol');
      ok(['volume', 'rm', 'dfvol']);
    } else {
      assert.match(pruned, /^dfvol$/m, 'API < 1.42: prune removes named volumes too');
      assert.equal(ok(['volume', 'ls', '-q']).trim(), '');
    }
  });

  it('keeps volume data through an engine kill -9 and restart, with the container still using it', async () => {
    ok([
      'run',
      '-d',
      '--name',
      'keeper',
      '-v',
      'durable:/d',
      'busybox',
      'sh',
      '-c',
      'echo precious > /d/file; exec sleep 300',
    ]);
    const file = path.join(engine.dataRoot, 'volumes/durable/_data/file');
    await until(() => (fs.existsSync(file) ? true : undefined));
    await engine.kill9();
    await engine.restart();
    assert.equal(fs.readFileSync(file, 'utf8'), 'precious\n');
    const inUse = engine.docker(['volume', 'rm', 'durable']);
    assert.match(inUse.stderr, /volume is in use/);
    ok(['rm', '-f', 'keeper']);
    assert.equal(fs.readFileSync(file, 'utf8'), 'precious\n');
    ok(['volume', 'rm', 'durable']);
  });
});
