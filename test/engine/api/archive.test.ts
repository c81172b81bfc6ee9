// The archive API (`docker cp`) with the real docker CLI against berthd: files, directories (with and without
// "/."), symlinks, volumes, tmpfs, stopped and created containers, read-only targets, owners, and above all
// confinement: hostile symlinks inside the container (absolute, relative climbing, on the way, raced) must not
// let a copy read or write anything outside the container.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import type { EngineApiError } from '../../../src/client';
import { mountsUnder, requireDockerCli, type TestEngine } from '../../helpers/engine';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';

interface TarEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device' | 'block-device';
  content?: string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  devmajor?: number;
  devminor?: number;
}

async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    pack.entry(
      {
        name: e.name,
        type,
        linkname: e.linkname,
        mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        mtime: new Date(1_700_000_000_000),
        devmajor: e.devmajor,
        devminor: e.devminor,
      },
      type === 'file' ? (e.content ?? '') : '',
    );
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function entriesOf(
  stream: Readable,
): Promise<{ name: string; type: string; linkname?: string | null; content: string; uid: number; mode: number }[]> {
  const out: { name: string; type: string; linkname?: string | null; content: string; uid: number; mode: number }[] =
    [];
  const ex = tar.extract();
  const feeding = (async () => {
    for await (const c of stream) {
      if (!ex.write(c)) await new Promise<void>((r) => ex.once('drain', () => r()));
    }
    ex.end(undefined as never);
  })();
  for await (const e of ex) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.push({
      name: e.header.name,
      type: e.header.type ?? 'file',
      linkname: e.header.linkname,
      content: Buffer.concat(chunks).toString(),
      uid: e.header.uid ?? 0,
      mode: e.header.mode ?? 0,
    });
  }
  await feeding;
  return out;
}

/**
 * How `docker cp` reports the engine's 404 for a path: CLIs since Docker 23 print the engine's message, older ones
 * (Debian's 20.10) their own; the engine's own message is checked over the API below.
 */
const NOT_FOUND_IN_CP = (p: string, container: string) => {
  const q = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return new RegExp(
    `Error response from daemon: Could not find the file ${q(p)} in container ${container}|No such container:path: ${container}:${q(p)}`,
  );
};

describe('archive API: docker cp against berthd', function () {
  this.timeout(180000);
  let target: MirroredEngine;
  let engine: TestEngine;
  let work: string;
  // Outside every container: nothing may read or change these.
  let canaryDir: string;
  const secret = `host secret ${process.pid}\n`;
  const hostFile = `/etc/berth-archive-canary-${process.pid}`;

  const ok = (args: string[], input?: string) => target.ok(args, input);
  const idOf = (name: string) => ok(['inspect', '-f', '{{.Id}}', name]).trim();
  /** A file as the container's own layer holds it (what a copy into the rootfs wrote). */
  const upper = (name: string, p: string) => path.join(engine.dataRoot, 'containers', idOf(name), 'upper', p);
  const sleeper = (name: string, ...args: string[]) =>
    ok(['run', '-d', '--name', name, ...args, 'busybox', 'sleep', '600']).trim();
  const canaryUntouched = () => {
    assert.deepEqual(fs.readdirSync(canaryDir).sort(), ['canary']);
    assert.equal(fs.readFileSync(path.join(canaryDir, 'canary'), 'utf8'), 'untouched\n');
    assert.equal(fs.readFileSync(hostFile, 'utf8'), secret);
  };

  before(async function () {
    requireDockerCli(this);
    target = await startMirroredEngine();
    engine = target.engine;
    work = fs.mkdtempSync(path.join(engine.dir, 'work-'));
    canaryDir = fs.mkdtempSync('/tmp/berth-archive-canary-');
    fs.writeFileSync(path.join(canaryDir, 'canary'), 'untouched\n');
    fs.writeFileSync(hostFile, secret);
    fs.mkdirSync(path.join(work, 'src/sub'), { recursive: true });
    fs.writeFileSync(path.join(work, 'src/a.txt'), 'alpha\n');
    fs.writeFileSync(path.join(work, 'src/sub/b.txt'), 'beta\n');
    fs.chmodSync(path.join(work, 'src/sub/b.txt'), 0o600);
    fs.symlinkSync('a.txt', path.join(work, 'src/link'));
  });
  after(async () => {
    if (engine)
      for (const id of engine.docker(['ps', '-aq']).stdout.split('\n').filter(Boolean)) engine.docker(['rm', '-f', id]);
    await target?.cleanup();
    if (canaryDir) fs.rmSync(canaryDir, { recursive: true, force: true });
    fs.rmSync(hostFile, { force: true });
  });

  it('copies files, directories, "dir/." and symlinks both ways with a running container', async () => {
    sleeper('cp-run');
    ok(['cp', path.join(work, 'src'), 'cp-run:/tmp/']);
    assert.equal(fs.readFileSync(upper('cp-run', 'tmp/src/a.txt'), 'utf8'), 'alpha\n');
    assert.equal(fs.readFileSync(upper('cp-run', 'tmp/src/sub/b.txt'), 'utf8'), 'beta\n');
    assert.equal(fs.statSync(upper('cp-run', 'tmp/src/sub/b.txt')).mode & 0o777, 0o600);
    assert.equal(fs.readlinkSync(upper('cp-run', 'tmp/src/link')), 'a.txt');
    ok(['cp', path.join(work, 'src/a.txt'), 'cp-run:/tmp/renamed.txt']);
    assert.equal(fs.readFileSync(upper('cp-run', 'tmp/renamed.txt'), 'utf8'), 'alpha\n');

    const back = path.join(work, 'back');
    ok(['cp', 'cp-run:/tmp/src', back]);
    assert.deepEqual(fs.readdirSync(back).sort(), ['a.txt', 'link', 'sub']);
    assert.equal(fs.readFileSync(path.join(back, 'sub/b.txt'), 'utf8'), 'beta\n');
    assert.equal(fs.readlinkSync(path.join(back, 'link')), 'a.txt');
    const into = path.join(work, 'into');
    fs.mkdirSync(into);
    ok(['cp', 'cp-run:/tmp/src/.', into]);
    assert.deepEqual(fs.readdirSync(into).sort(), ['a.txt', 'link', 'sub']);
    const nested = path.join(work, 'nested');
    fs.mkdirSync(nested);
    ok(['cp', 'cp-run:/tmp/src', nested]);
    assert.deepEqual(fs.readdirSync(nested), ['src']);
    // A symlink comes as itself; -L follows it (within the container).
    ok(['cp', 'cp-run:/tmp/src/link', path.join(work, 'link-itself')]);
    assert.equal(fs.readlinkSync(path.join(work, 'link-itself')), 'a.txt');
    ok(['cp', '-L', 'cp-run:/tmp/src/link', path.join(work, 'link-followed')]);
    assert.equal(fs.readFileSync(path.join(work, 'link-followed'), 'utf8'), 'alpha\n');
    // The image's own files and the engine-provided /etc/hostname (a bind mount inside the container).
    assert.match(ok(['cp', 'cp-run:/etc/passwd', '-']), /root:x:0:0:/);
    ok(['cp', 'cp-run:/etc/hostname', path.join(work, 'hostname')]);
    assert.equal(fs.readFileSync(path.join(work, 'hostname'), 'utf8'), `${idOf('cp-run').slice(0, 12)}\n`);

    const dir = await engine.client.statContainerPath('cp-run', '/tmp/src/');
    assert.equal(dir.name, 'src');
    assert.equal(dir.mode, 2 ** 31 + 0o755, 'Go os.ModeDir | 0755');
    const link = await engine.client.statContainerPath('cp-run', '/tmp/src/link');
    assert.deepEqual([link.name, link.mode, link.linkTarget], ['link', 2 ** 27 + 0o777, '/tmp/src/a.txt']);
    const file = await engine.client.statContainerPath('cp-run', 'tmp/renamed.txt');
    assert.deepEqual([file.name, file.size, file.mode], ['renamed.txt', 6, 0o644]);
    assert.ok(!Number.isNaN(Date.parse(file.mtime)));

    const { tar: stream, stat } = await engine.client.getArchive('cp-run', '/tmp/src/.');
    assert.equal(stat.name, '.');
    assert.deepEqual((await entriesOf(stream)).map((e) => e.name).sort(), [
      './',
      './a.txt',
      './link',
      './sub/',
      './sub/b.txt',
    ]);
  });

  it("answers Docker's errors: missing paths, not a directory, empty path", async () => {
    sleeper('cp-err');
    const missing = engine.docker(['cp', 'cp-err:/nonexistent', work]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, NOT_FOUND_IN_CP('/nonexistent', 'cp-err'));
    await assert.rejects(
      engine.client.statContainerPath('cp-err', '/nonexistent'),
      (e: EngineApiError) => e.status === 404,
    );
    await assert.rejects(
      engine.client.putArchive('cp-err', '/nonexistent', await tarOf([{ name: 'x', content: 'x' }])),
      (e: EngineApiError) =>
        e.status === 404 && /Could not find the file \/nonexistent in container cp-err/.test(e.message),
    );
    await assert.rejects(
      engine.client.putArchive('cp-err', '/etc/passwd', await tarOf([{ name: 'x', content: 'x' }])),
      (e: EngineApiError) => e.status === 400 && e.message === 'extraction point is not a directory',
    );
    await assert.rejects(engine.client.getArchive('cp-err', ''), (e: EngineApiError) => e.status === 400);
    await assert.rejects(
      engine.client.getArchive('no-such-container', '/'),
      (e: EngineApiError) => e.status === 404 && /No such container: no-such-container/.test(e.message),
    );
  });

  it("copies into and out of volumes, binds and tmpfs mounts, and refuses read-only ones with Docker's messages", async () => {
    const bind = path.join(work, 'bind');
    const roBind = path.join(work, 'ro-bind');
    fs.mkdirSync(bind);
    fs.mkdirSync(roBind);
    sleeper('cp-vol', '-v', 'cpvol:/data', '-v', `${bind}:/bind`, '-v', `${roBind}:/robind:ro`, '--tmpfs', '/scratch');
    const volDir = ok(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'cpvol']).trim();
    ok(['cp', path.join(work, 'src/a.txt'), 'cp-vol:/data/']);
    assert.equal(fs.readFileSync(path.join(volDir, 'a.txt'), 'utf8'), 'alpha\n');
    assert.ok(!fs.existsSync(upper('cp-vol', 'data/a.txt')), 'not into the rootfs under the mount');
    ok(['cp', path.join(work, 'src'), 'cp-vol:/bind/']);
    assert.equal(fs.readFileSync(path.join(bind, 'src/sub/b.txt'), 'utf8'), 'beta\n');
    ok(['cp', path.join(work, 'src/a.txt'), 'cp-vol:/scratch/t.txt']);
    assert.ok(!fs.existsSync(upper('cp-vol', 'scratch/t.txt')), 'a tmpfs copy lives in the tmpfs');
    assert.equal(ok(['cp', 'cp-vol:/scratch/t.txt', '-']).includes('alpha\n'), true);
    assert.equal(ok(['cp', 'cp-vol:/data/a.txt', '-']).includes('alpha\n'), true);
    const ro = engine.docker(['cp', path.join(work, 'src/a.txt'), 'cp-vol:/robind/']);
    assert.equal(ro.code, 1);
    assert.match(ro.stderr, /mounted volume is marked read-only/);
    assert.deepEqual(fs.readdirSync(roBind), []);
    // The whole tree of a path holding mounts comes with the mounts' content, as the container sees it.
    const all = await entriesOf((await engine.client.getArchive('cp-vol', '/')).tar);
    const names = new Set(all.map((e) => e.name));
    for (const n of ['/data/a.txt', '/bind/src/a.txt', '/scratch/t.txt', '/bin/busybox', '/etc/passwd'])
      assert.ok(names.has(n), n);
    assert.ok(names.has('/proc/') && names.has('/sys/'));
    assert.ok(![...names].some((n) => /^\/(proc|sys)\/./.test(n)), "the container's /proc and /sys are not its files");

    ok(['run', '-d', '--name', 'cp-rofs', '--read-only', '-v', 'cprw:/rw', 'busybox', 'sleep', '600']);
    const rofs = engine.docker(['cp', path.join(work, 'src/a.txt'), 'cp-rofs:/tmp/']);
    assert.equal(rofs.code, 1);
    assert.match(rofs.stderr, /container rootfs is marked read-only/);
    ok(['cp', path.join(work, 'src/a.txt'), 'cp-rofs:/rw/']);
  });

  it('works on created and stopped containers, mounting their root only for the copy; start waits for copies', async () => {
    ok(['create', '--name', 'cp-created', '-v', 'cpvol2:/data', 'busybox', 'sh', '-c', 'cat /hello.txt /data/a.txt']);
    ok(['cp', path.join(work, 'src/a.txt'), 'cp-created:/hello.txt']);
    ok(['cp', path.join(work, 'src/a.txt'), 'cp-created:/data/']);
    const rootfs = path.join(engine.dataRoot, 'containers', idOf('cp-created'), 'rootfs');
    assert.deepEqual(mountsUnder(rootfs), [], 'the temporary mount is gone');
    assert.equal(ok(['cp', 'cp-created:/hello.txt', '-']).includes('alpha\n'), true);
    assert.equal(ok(['start', '-a', 'cp-created']), 'alpha\nalpha\n');
    // Exited now: copies in and out still work.
    ok(['cp', path.join(work, 'src'), 'cp-created:/']);
    assert.equal(fs.readFileSync(upper('cp-created', 'src/sub/b.txt'), 'utf8'), 'beta\n');
    const out = path.join(work, 'from-stopped');
    ok(['cp', 'cp-created:/src', out]);
    assert.equal(fs.readFileSync(path.join(out, 'a.txt'), 'utf8'), 'alpha\n');
    assert.deepEqual(mountsUnder(rootfs), []);
    // Two copies and a start at once: nobody fights over the mount.
    const big = path.join(work, 'big.bin');
    fs.writeFileSync(big, Buffer.alloc(32 << 20, 7));
    ok(['cp', big, 'cp-created:/big.bin']);
    let copying = 2;
    const copy = (to: string) =>
      engine.dockerAsync(['cp', 'cp-created:/big.bin', path.join(work, to)]).finally(() => copying--);
    // The start comes while a copy holds the root mounted (or, on a machine fast enough, once both are done).
    const startMeanwhile = async () => {
      while (copying && !mountsUnder(rootfs).length) await new Promise((r) => setTimeout(r, 5));
      return engine.dockerAsync(['start', '-a', 'cp-created']);
    };
    const [c1, c2, st] = await Promise.all([copy('big1'), copy('big2'), startMeanwhile()]);
    assert.equal(c1.code, 0, c1.stderr);
    assert.equal(c2.code, 0, c2.stderr);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(st.stdout, 'alpha\nalpha\n');
    assert.equal(fs.statSync(path.join(work, 'big1')).size, 32 << 20);
    assert.equal(fs.statSync(path.join(work, 'big2')).size, 32 << 20);
    assert.deepEqual(mountsUnder(rootfs), []);
  });

  it('never reads or writes outside the container through hostile symlinks', async () => {
    const name = `berth-archive-canary-${process.pid}`;
    sleeper('cp-evil');
    // The container's own symlinks, pointing at host paths as the host would read them.
    await engine.client.putArchive(
      'cp-evil',
      '/',
      await tarOf([
        { name: 'evil', type: 'symlink', linkname: '/etc' },
        { name: 'x', type: 'symlink', linkname: '../../../../../../etc' },
        { name: 'canarydir', type: 'symlink', linkname: canaryDir },
        { name: 'up', type: 'directory' },
        { name: 'up/dirlink', type: 'symlink', linkname: '../../../../tmp/..' },
        { name: 'secretlink', type: 'symlink', linkname: hostFile },
      ]),
    );
    // Reads: each resolves inside the container, where the host's files do not exist.
    for (const p of [
      `/evil/${name}`,
      `/x/${name}`,
      `/up/dirlink/etc/${name}`,
      `/up/dirlink/..${hostFile}`,
      `/canarydir/canary`,
    ]) {
      const r = engine.docker(['cp', `cp-evil:${p}`, '-']);
      assert.equal(r.code, 1, p);
      assert.match(r.stderr, NOT_FOUND_IN_CP(p, 'cp-evil'), p);
      assert.ok(!r.stdout.includes('host secret') && !r.stdout.includes('untouched'), p);
    }
    const followed = engine.docker(['cp', '-L', 'cp-evil:/secretlink', '-']);
    assert.ok(!followed.stdout.includes('host secret'));
    // /evil/passwd is the container's /etc/passwd (busybox's), not the host's.
    assert.equal(
      ok(['cp', 'cp-evil:/x/passwd', '-']).includes(fs.readFileSync('/etc/passwd', 'utf8').split('\n')[1]),
      false,
    );
    const stat = await engine.client.statContainerPath('cp-evil', '/x');
    assert.equal(stat.linkTarget, '/etc', 'a climbing link ends at the container root');

    // Writes through the same links land inside the container.
    ok(['cp', path.join(work, 'src/a.txt'), `cp-evil:/evil/${name}`]);
    assert.equal(fs.readFileSync(upper('cp-evil', `etc/${name}`), 'utf8'), 'alpha\n');
    ok(['cp', path.join(work, 'src/a.txt'), 'cp-evil:/up/dirlink/']);
    assert.equal(fs.readFileSync(upper('cp-evil', 'a.txt'), 'utf8'), 'alpha\n');
    const intoCanary = engine.docker(['cp', path.join(work, 'src/a.txt'), 'cp-evil:/canarydir/']);
    assert.equal(intoCanary.code, 1, 'the link leads to a path that does not exist in the container');

    // A tar that makes a symlink and then writes through it, or climbs out: refused. (An absolute name is taken
    // relative to the destination, as by moby: below.)
    for (const entries of [
      [
        { name: 'trap', type: 'symlink' as const, linkname: canaryDir },
        { name: 'trap/pwned', content: 'pwned\n' },
      ],
      [{ name: 'up/dirlink/tmp/pwned', content: 'pwned\n' }],
      [{ name: '../../../../../../../..' + canaryDir + '/pwned', content: 'pwned\n' }],
      [{ name: 'ok/../../pwned', content: 'pwned\n' }],
      [{ name: 'hard', type: 'link' as const, linkname: '../../../../../..' + hostFile }],
    ]) {
      await assert.rejects(
        engine.client.putArchive('cp-evil', '/', await tarOf(entries)),
        (e: EngineApiError) => e.status === 400,
        JSON.stringify(entries),
      );
    }
    await engine.client.putArchive(
      'cp-evil',
      '/tmp',
      await tarOf([{ name: canaryDir + '/pwned', content: 'inside\n' }]),
    );
    assert.equal(fs.readFileSync(upper('cp-evil', path.join('tmp', canaryDir, 'pwned')), 'utf8'), 'inside\n');
    await assert.rejects(
      engine.client.putArchive('cp-evil', '/', await tarOf([{ name: 'evil/pwned', content: 'pwned\n' }])),
      (e: EngineApiError) =>
        e.status === 400 && /\/evil is a symbolic link in the container; refusing to write through it/.test(e.message),
    );
    canaryUntouched();

    // The symlink-exchange race (CVE-2018-15664): the container swaps a directory and a symlink to the host's
    // canary as fast as it can while copies go in and out through that path.
    ok([
      'run',
      '-d',
      '--name',
      'cp-race',
      'busybox',
      'sh',
      '-c',
      `mkdir -p /w/real; ln -s ${canaryDir} /w/link; while :; do mv -T /w/real /w/tmp; mv -T /w/link /w/real; mv -T /w/tmp /w/link; done`,
    ]);
    const payload = await tarOf([{ name: 'pwned', content: 'pwned\n' }]);
    let wrote = 0;
    let refused = 0;
    const deadline = Date.now() + 30000;
    for (let i = 0; (wrote < 5 || refused < 5 || i < 100) && Date.now() < deadline; i++) {
      await engine.client.putArchive('cp-race', '/w/real', payload).then(
        () => wrote++,
        () => refused++,
      );
      await engine.client.getArchive('cp-race', '/w/real/canary').then(
        async (r) => {
          const got = await entriesOf(r.tar);
          assert.ok(!got.some((e) => e.content.includes('untouched')), 'read the host canary');
        },
        () => {},
      );
    }
    canaryUntouched();
    // Both sides of the race happened: copies into the container's directory, and refusals when the name was
    // the symlink (its target does not exist inside the container).
    assert.ok(wrote > 0 && refused > 0, `wrote ${wrote}, refused ${refused}`);
    ok(['kill', 'cp-race']); // the directory holds still under one of the three names
    const landed = ['w/real/pwned', 'w/link/pwned', 'w/tmp/pwned'].filter((p) => fs.existsSync(upper('cp-race', p)));
    assert.ok(landed.length > 0, 'the copies landed inside the container');
  });

  it('noOverwriteDirNonDir refuses to replace a directory with a file and a file with a directory', async () => {
    sleeper('cp-over');
    await engine.client.putArchive(
      'cp-over',
      '/tmp',
      await tarOf([
        { name: 'd', type: 'directory' },
        { name: 'd/keep', content: 'keep\n' },
        { name: 'f', content: 'file\n' },
      ]),
    );
    await assert.rejects(
      engine.client.putArchive('cp-over', '/tmp', await tarOf([{ name: 'd', content: 'now a file\n' }]), {
        noOverwriteDirNonDir: true,
      }),
      (e: EngineApiError) =>
        e.status === 400 && /cannot overwrite directory "\/tmp\/d" with non-directory "d"/.test(e.message),
    );
    await assert.rejects(
      engine.client.putArchive('cp-over', '/tmp', await tarOf([{ name: 'f', type: 'directory' }]), {
        noOverwriteDirNonDir: true,
      }),
      (e: EngineApiError) =>
        e.status === 400 && /cannot overwrite non-directory "\/tmp\/f" with directory "f"/.test(e.message),
    );
    assert.equal(fs.readFileSync(upper('cp-over', 'tmp/d/keep'), 'utf8'), 'keep\n');
    assert.equal(fs.readFileSync(upper('cp-over', 'tmp/f'), 'utf8'), 'file\n');
    // Without the flag, Docker replaces either way.
    await engine.client.putArchive(
      'cp-over',
      '/tmp',
      await tarOf([
        { name: 'd', content: 'now a file\n' },
        { name: 'f', type: 'directory' },
      ]),
    );
    assert.equal(fs.readFileSync(upper('cp-over', 'tmp/d'), 'utf8'), 'now a file\n');
    assert.ok(fs.statSync(upper('cp-over', 'tmp/f')).isDirectory());
    // docker cp of a directory onto a file: the CLI's own refusal after its stat.
    const r = engine.docker(['cp', path.join(work, 'src'), 'cp-over:/tmp/d']);
    assert.equal(r.code, 1);
  });

  it("makes fifos and device nodes as Docker does; the container's device rules still decide what opens", async () => {
    sleeper('cp-nodes');
    await engine.client.putArchive(
      'cp-nodes',
      '/tmp',
      await tarOf([
        { name: 'pipe', type: 'fifo', mode: 0o640, uid: 1234, gid: 2345 },
        { name: 'mynull', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 },
        { name: 'mem', type: 'character-device', mode: 0o600, devmajor: 1, devminor: 1 },
        { name: 'disk', type: 'block-device', mode: 0o600, devmajor: 7, devminor: 0 },
      ]),
    );
    const st = (n: string) => fs.lstatSync(upper('cp-nodes', `tmp/${n}`));
    assert.ok(st('pipe').isFIFO());
    assert.deepEqual([st('pipe').mode & 0o7777, st('pipe').uid, st('pipe').gid], [0o640, 1234, 2345]);
    assert.ok(
      st('mynull').isCharacterDevice() && st('mynull').rdev === st('mem').rdev + 2,
      'makedev(1, 3) and makedev(1, 1)',
    );
    assert.ok(st('disk').isBlockDevice());
    assert.equal(
      ok(['exec', 'cp-nodes', 'sh', '-c', 'test -p /tmp/pipe && echo x > /tmp/mynull && echo fine']),
      'fine\n',
    );
    const mem = engine.docker(['exec', 'cp-nodes', 'head', '-c', '1', '/tmp/mem']);
    assert.notEqual(mem.code, 0);
    assert.match(mem.stderr, /Operation not permitted/);
    // and out again, as what they are
    const got = await entriesOf((await engine.client.getArchive('cp-nodes', '/tmp/pipe')).tar);
    assert.equal(got[0].type, 'fifo');
  });

  it("keeps the tar's owners; copyUIDGID (cp -a) gives the container user's when it has one", async () => {
    sleeper('cp-own');
    ok(['run', '-d', '--name', 'cp-own-user', '--user', 'nobody', 'busybox', 'sleep', '600']);
    const t = await tarOf([
      { name: 'owned', content: 'x\n', uid: 1234, gid: 2345 },
      { name: 'owned-dir', type: 'directory', uid: 1234, gid: 2345 },
    ]);
    await engine.client.putArchive('cp-own', '/tmp', t);
    assert.deepEqual(
      [fs.statSync(upper('cp-own', 'tmp/owned')).uid, fs.statSync(upper('cp-own', 'tmp/owned')).gid],
      [1234, 2345],
    );
    // without a User in the container, copyUIDGID keeps the tar's owners too (moby's tarCopyOptions)
    await engine.client.putArchive('cp-own', '/', t, { copyUIDGID: true });
    assert.deepEqual(
      [fs.statSync(upper('cp-own', 'owned')).uid, fs.statSync(upper('cp-own', 'owned-dir')).gid],
      [1234, 2345],
    );
    await engine.client.putArchive('cp-own-user', '/tmp', t, { copyUIDGID: true });
    assert.deepEqual(
      [fs.statSync(upper('cp-own-user', 'tmp/owned')).uid, fs.statSync(upper('cp-own-user', 'tmp/owned')).gid],
      [65534, 65534],
    );
    // Out of the container, the entries carry the container's owners.
    const [e] = await entriesOf((await engine.client.getArchive('cp-own', '/tmp/owned')).tar);
    assert.deepEqual([e.name, e.uid, e.content], ['owned', 1234, 'x\n']);
  });
});
