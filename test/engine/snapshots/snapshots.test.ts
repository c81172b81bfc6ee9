// Layer unpacking: secure extraction, overlay whiteouts, metadata, and a merged overlay tree.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import { sha256 } from '../../../src/engine/content';
import { chainIds, createSnapshotter, type Snapshotter } from '../../../src/engine/snapshots';
import { DIST } from '../../helpers/engine';

type Entry = Partial<tar.Header> & { name: string; body?: string | Buffer };

async function makeTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  for (const { body, ...h } of entries) {
    await new Promise<void>((resolve, reject) =>
      pack.entry({ ...h, mtime: h.mtime ?? new Date(1_600_000_000_000) } as tar.Header, body ?? '', (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function getxattr(file: string, name: string): string | undefined {
  const r = spawnSync('getfattr', ['--only-values', '-h', '-n', name, file], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
}

describe('snapshots: layer unpack', function () {
  let dir: string;
  let snaps: Snapshotter;
  const outside = () => fs.readdirSync(dir).filter((n) => n !== 'snapshots');
  before(function () {
    process.env.BERTH_UNPACK_HELPER = path.join(DIST, 'bin', 'berth-unpack');
    if (!fs.existsSync(process.env.BERTH_UNPACK_HELPER))
      throw new Error(`build first: ${process.env.BERTH_UNPACK_HELPER} is missing`);
  });
  // Engines that later suites start (a chroot's among them) inherit this process's environment.
  after(() => delete process.env.BERTH_UNPACK_HELPER);
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-snap-'));
    snaps = createSnapshotter(path.join(dir, 'snapshots'));
  });
  afterEach(() => {
    spawnSync('umount', ['-l', path.join(dir, 'merged')]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function unpack(entries: Entry[], gzip = true, parent?: string) {
    const raw = await makeTar(entries);
    const diffId = sha256(raw);
    const chain = parent ? sha256(`${parent} ${diffId}`) : diffId;
    const meta = await snaps.unpack(chain, diffId, parent, Readable.from([gzip ? zlib.gzipSync(raw) : raw]));
    return { chain, meta, dir: snaps.dir(chain) };
  }

  it('computes chain IDs as the OCI spec says', () => {
    const a = 'sha256:' + 'a'.repeat(64);
    const b = 'sha256:' + 'b'.repeat(64);
    assert.deepEqual(chainIds([a, b]), [a, sha256(`${a} ${b}`)]);
  });

  it('keeps owners, modes, mtimes, symlinks, hardlinks, devices and xattrs', async () => {
    const { dir: root, meta } = await unpack([
      { name: 'etc/', type: 'directory', mode: 0o755 },
      { name: 'etc/passwd', mode: 0o644, uid: 0, gid: 0, body: 'root:x:0:0::/root:/bin/sh\n' },
      { name: 'bin/', type: 'directory', mode: 0o750, uid: 1000, gid: 1001 },
      { name: 'bin/tool', mode: 0o4755, uid: 1000, gid: 1001, body: 'x', pax: { 'SCHILY.xattr.user.berth': 'hello' } },
      { name: 'bin/link', type: 'symlink', linkname: 'tool', uid: 1000, gid: 1001 },
      { name: 'bin/hard', type: 'link', linkname: 'bin/tool' },
      { name: 'dev/', type: 'directory', mode: 0o755 },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/fifo', type: 'fifo', mode: 0o600 },
      { name: 'big', mode: 0o600, body: Buffer.alloc(700 * 1024, 7) },
    ]);
    const tool = fs.statSync(path.join(root, 'bin/tool'));
    assert.equal(tool.mode & 0o7777, 0o4755);
    assert.equal(tool.uid, 1000);
    assert.equal(tool.gid, 1001);
    assert.equal(tool.mtimeMs, 1_600_000_000_000);
    assert.equal(fs.statSync(path.join(root, 'bin')).mode & 0o777, 0o750);
    assert.equal(fs.statSync(path.join(root, 'bin')).mtimeMs, 1_600_000_000_000, 'dir mtime set after its children');
    assert.equal(fs.readlinkSync(path.join(root, 'bin/link')), 'tool');
    assert.equal(fs.lstatSync(path.join(root, 'bin/link')).uid, 1000);
    assert.equal(fs.statSync(path.join(root, 'bin/hard')).ino, tool.ino);
    const dev = fs.statSync(path.join(root, 'dev/null'));
    assert.ok(dev.isCharacterDevice());
    assert.equal(dev.rdev, (1 << 8) | 3);
    assert.ok(fs.statSync(path.join(root, 'dev/fifo')).isFIFO());
    assert.equal(getxattr(path.join(root, 'bin/tool'), 'user.berth'), 'hello');
    assert.equal(fs.statSync(path.join(root, 'big')).size, 700 * 1024);
    assert.equal(meta.size, 26 + 1 + 700 * 1024 + 'tool'.length); // a symlink counts its target's length, as dockerd's sizes
  });

  it('turns whiteouts into overlay whiteouts and the merged tree is right', async function () {
    const base = await unpack([
      { name: 'keep', body: 'k' },
      { name: 'gone', body: 'g' },
      { name: 'dir/', type: 'directory' },
      { name: 'dir/old', body: 'o' },
      { name: 'dir/sub/', type: 'directory' },
      { name: 'dir/sub/deep', body: 'd' },
    ]);
    const top = await unpack(
      [
        { name: '.wh.gone', body: '' },
        { name: 'dir/', type: 'directory' },
        { name: 'dir/.wh..wh..opq', body: '' },
        { name: 'dir/new', body: 'n' },
      ],
      false,
      base.chain,
    );
    const wh = fs.statSync(path.join(top.dir, 'gone'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0, 'whiteout is a 0/0 char device');
    assert.equal(getxattr(path.join(top.dir, 'dir'), 'trusted.overlay.opaque'), 'y');
    assert.ok(!fs.existsSync(path.join(top.dir, '.wh.gone')));

    const merged = path.join(dir, 'merged');
    fs.mkdirSync(merged);
    const m = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${top.dir}:${base.dir}`, merged], {
      encoding: 'utf8',
    });
    assert.equal(m.status, 0, m.stderr);
    const tree = spawnSync('find', ['.', '-mindepth', '1'], { cwd: merged, encoding: 'utf8' })
      .stdout.trim()
      .split('\n')
      .sort();
    assert.deepEqual(tree, ['./dir', './dir/new', './keep']);
  });

  const hostile: [string, Entry[]][] = [
    ['a .. path', [{ name: '../escaped', body: 'x' }]],
    ['a nested .. path', [{ name: 'a/../../escaped', body: 'x' }]],
    ['an absolute path', [{ name: '/escaped', body: 'x' }]],
    [
      'a write through a symlink',
      [
        { name: 'link', type: 'symlink', linkname: '..' },
        { name: 'link/escaped', body: 'x' },
      ],
    ],
    [
      'a write through an absolute symlink',
      [
        { name: 'etc', type: 'symlink', linkname: '/tmp' },
        { name: 'etc/escaped', body: 'x' },
      ],
    ],
    ['a hardlink to outside', [{ name: 'h', type: 'link', linkname: '../../etc/passwd' }]],
    ['a hardlink to a file it does not have', [{ name: 'h', type: 'link', linkname: 'etc/shadow' }]],
    [
      'a whiteout through a symlink',
      [
        { name: 'l', type: 'symlink', linkname: '/' },
        { name: 'l/.wh.etc', body: '' },
      ],
    ],
    // A pax path may hold a NUL; it must not split the helper's NUL-separated record into a second operation.
    ['a NUL in a name', [{ name: 'nul', body: 'x', pax: { path: 'a\0r\0/tmp/escaped' } }]],
    [
      'a NUL in a symlink target',
      [{ name: 'l', type: 'symlink', linkname: 'x', pax: { linkpath: 'x\0r\0/tmp/escaped' } }],
    ],
  ];
  for (const [what, entries] of hostile) {
    it(`refuses ${what} and leaves nothing behind`, async () => {
      await assert.rejects(unpack([{ name: 'fine', body: 'ok' }, ...entries]), /refusing to unpack/);
      assert.deepEqual(outside(), []);
      assert.deepEqual(snaps.list(), []);
      assert.deepEqual(fs.readdirSync(path.join(dir, 'snapshots', '.tmp')), []);
      assert.ok(!fs.existsSync('/tmp/escaped'));
    });
  }

  it('refuses a layer whose content does not match its diff ID, leaving nothing', async () => {
    const raw = await makeTar([{ name: 'f', body: 'x' }]);
    const wrong = 'sha256:' + '0'.repeat(64);
    await assert.rejects(snaps.unpack(wrong, wrong, undefined, Readable.from([raw])), /diff ID/);
    assert.deepEqual(snaps.list(), []);
  });

  it('shares one unpack between concurrent callers', async () => {
    const raw = await makeTar([{ name: 'f', body: 'x' }]);
    const d = sha256(raw);
    const [a, b] = await Promise.all([
      snaps.unpack(d, d, undefined, Readable.from([raw])),
      snaps.unpack(d, d, undefined, Readable.from([raw])),
    ]);
    assert.deepEqual(a, b);
    assert.deepEqual(snaps.list(), [d]);
  });

  it('asks ext4 to spread layers being unpacked over block groups (chattr +T on the temp root)', async () => {
    const probe = path.join(dir, 'probe');
    fs.mkdirSync(probe);
    const hasFlag = spawnSync('chattr', ['+T', probe]).status === 0;
    await unpack([{ name: 'f', body: 'x' }]);
    const flags = spawnSync('lsattr', ['-d', path.join(dir, 'snapshots', '.tmp')], { encoding: 'utf8' }).stdout.split(
      ' ',
    )[0];
    // Where the filesystem has no such flag (tmpfs, overlay), the unpack above still worked: the flag is a hint.
    if (hasFlag) assert.match(flags, /T/);
    else console.log(`      (${os.tmpdir()} has no chattr +T: only the unpack without it was checked)`);
  });
});
