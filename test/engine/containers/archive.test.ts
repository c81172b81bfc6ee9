// containers/archive/ on a plain directory standing in for a container's root: Docker's path rules, Go's
// FileMode, tar naming, extraction rules, mapped mounts, and confinement against hostile symlinks and a live
// symlink-exchange race (no engine needed).
import * as assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import {
  absContainerPath,
  archivePath,
  baseName,
  type ContainerFs,
  exportRootfs,
  entryParts,
  extractToDir,
  type FsMount,
  goFileMode,
  statPath,
  TAR_TRAILER,
} from '../../../src/engine/containers/archive';
import { isEngineError } from '../../../src/engine/errdefs';

interface Entry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  content?: string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

function tarStream(entries: Entry[]): Readable {
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
      },
      type === 'file' ? (e.content ?? '') : '',
    );
  }
  pack.finalize();
  return Readable.from(pack as AsyncIterable<Buffer>);
}

type TarEntry = { name: string; type: string; content: string; linkname: string; uid: number; gid: number };

async function readTar(stream: Readable): Promise<TarEntry[]> {
  const ex = tar.extract();
  const src = Readable.from(
    (async function* () {
      yield* stream;
      yield TAR_TRAILER;
    })(),
  );
  src.pipe(ex as any);
  const out: TarEntry[] = [];
  for await (const e of ex) {
    const chunks: Buffer[] = [];
    for await (const c of e) chunks.push(c as Buffer);
    out.push({
      name: e.header.name,
      type: e.header.type ?? 'file',
      content: Buffer.concat(chunks).toString(),
      linkname: e.header.linkname ?? '',
      // tar-stream's reader leaves PAX ids in header.pax (Go's archive/tar, the docker CLI's, applies them)
      uid: Number((e.header.pax as any)?.uid ?? e.header.uid ?? 0),
      gid: Number((e.header.pax as any)?.gid ?? e.header.gid ?? 0),
    });
  }
  return out;
}

describe('containers/archive: paths, tars and confinement', function () {
  this.timeout(60000);
  let tmp: string;
  let root: string;
  let outside: string;
  const opened: ContainerFs[] = [];

  const cfsOf = (o: Partial<ContainerFs> = {}): ContainerFs => {
    const rootFd = fs.openSync(root, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const cfs: ContainerFs = {
      ref: 'ctr',
      rootFd,
      mapped: [],
      mounts: [],
      readonlyRootfs: false,
      user: '',
      release: async () => fs.closeSync(rootFd),
      ...o,
    };
    opened.push(cfs);
    return cfs;
  };
  const untouched = () => {
    assert.deepEqual(fs.readdirSync(outside).sort(), ['secret']);
    assert.equal(fs.readFileSync(path.join(outside, 'secret'), 'utf8'), 'host secret\n');
  };

  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-archive-unit-'));
    root = path.join(tmp, 'root');
    outside = path.join(tmp, 'outside');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'secret'), 'host secret\n');
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    fs.writeFileSync(
      path.join(root, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
    );
    fs.mkdirSync(path.join(root, 'dir/sub'), { recursive: true });
    fs.writeFileSync(path.join(root, 'dir/a.txt'), 'alpha\n');
    fs.writeFileSync(path.join(root, 'dir/sub/b.txt'), 'beta\n');
    fs.linkSync(path.join(root, 'dir/a.txt'), path.join(root, 'dir/hard'));
    fs.symlinkSync('dir', path.join(root, 'link'));
    fs.symlinkSync('/', path.join(root, 'evil')); // "/" of the container
    fs.symlinkSync('../outside', path.join(root, 'climb'));
    fs.symlinkSync('../../../../../..' + outside, path.join(root, 'far'));
    fs.symlinkSync(outside, path.join(root, 'abs'));
    fs.symlinkSync('loop2', path.join(root, 'loop1'));
    fs.symlinkSync('loop1', path.join(root, 'loop2'));
  });
  afterEach(async () => {
    for (const c of opened.splice(0)) await c.release().catch(() => {});
    fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 5 });
  });

  it("follows Docker's path rules and Go's FileMode", () => {
    assert.equal(absContainerPath('tmp/x'), '/tmp/x');
    assert.equal(absContainerPath('/tmp/dir/'), '/tmp/dir/');
    assert.equal(absContainerPath('/tmp/dir/.'), '/tmp/dir/.');
    assert.equal(absContainerPath('/tmp//a/../dir/./'), '/tmp/dir/');
    assert.equal(absContainerPath('/'), '/');
    assert.equal(absContainerPath('.'), '/.');
    assert.equal(absContainerPath('../../etc'), '/etc');
    assert.deepEqual(['/tmp/dir/', '/tmp/dir/.', '/', '/a'].map(baseName), ['dir', '.', '/', 'a']);
    assert.equal(goFileMode(0o040755), 2147484141);
    assert.equal(goFileMode(0o100644), 0o644);
    assert.equal(goFileMode(0o120777), 2 ** 27 + 0o777);
    assert.equal(goFileMode(0o104755), 2 ** 23 + 0o755);
    assert.equal(goFileMode(0o041777), 2 ** 31 + 2 ** 20 + 0o777);
    assert.equal(goFileMode(0o020666), 2 ** 26 + 2 ** 21 + 0o666);
    assert.deepEqual(entryParts('./a//b/./c/'), ['a', 'b', 'c']);
    assert.throws(() => entryParts('../x'), /escapes/);
    assert.throws(() => entryParts('a/../../x'), /escapes/);
    // as moby: absolute names are relative to the destination, `..` is resolved, and only climbing out is refused
    assert.deepEqual(entryParts('/etc/passwd'), ['etc', 'passwd']);
    assert.deepEqual(entryParts('/../../etc/x'), ['etc', 'x']);
    assert.deepEqual(entryParts('a/../b'), ['b']);
  });

  it('writes long names, long link targets, non-ASCII names and big ids with PAX headers readers understand', async () => {
    const deep = path.join(root, 'p', 'd'.repeat(120));
    fs.mkdirSync(deep, { recursive: true });
    const long = path.join(deep, 'f'.repeat(150));
    fs.writeFileSync(long, 'abc');
    fs.chownSync(long, 5_000_000, 7_000_000);
    fs.writeFileSync(path.join(root, 'p', 'héllo ✓'), 'utf8\n');
    fs.symlinkSync('t'.repeat(200), path.join(root, 'p', 'longlink'));
    fs.writeFileSync(path.join(root, 'p', 'big'), Buffer.alloc(300_000, 1));
    const entries = await readTar(archivePath(cfsOf(), '/p').stream);
    const file = entries.find((e) => e.name === `p/${'d'.repeat(120)}/${'f'.repeat(150)}`);
    assert.ok(file, entries.map((e) => e.name).join('\n'));
    assert.deepEqual([file.content, file.uid, file.gid], ['abc', 5_000_000, 7_000_000]);
    assert.equal(entries.find((e) => e.name === 'p/héllo ✓')?.content, 'utf8\n');
    assert.equal(entries.find((e) => e.name === 'p/longlink')?.linkname, 't'.repeat(200));
    assert.equal(entries.find((e) => e.name === 'p/big')?.content.length, 300_000);
    // export: the same writer with the trailer at the end (two zero blocks), which archivePath leaves to its caller
    const raw: Buffer[] = [];
    for await (const c of exportRootfs(cfsOf())) raw.push(c);
    const whole = Buffer.concat(raw);
    assert.equal(whole.length % 512, 0);
    assert.ok(whole.subarray(-1024).equals(Buffer.alloc(1024)));
    const own: Buffer[] = [];
    for await (const c of archivePath(cfsOf(), '/etc/passwd').stream) own.push(c);
    assert.equal(Buffer.concat(own).length, 1024, 'one header and one block of content, no trailer');
  });

  it('reads no further ahead than the consumer takes (backpressure through the pack)', async () => {
    const many = path.join(root, 'many');
    fs.mkdirSync(many);
    for (let i = 0; i < 3000; i++) fs.symlinkSync('x', path.join(many, `l${i}`)); // header-only entries
    fs.writeFileSync(path.join(many, 'zbig'), Buffer.alloc(8 * 1024 * 1024));
    const { stream } = archivePath(cfsOf(), '/many');
    const it = stream[Symbol.asyncIterator]();
    let total = ((await it.next()).value as Buffer).length;
    // A window on purpose: time the walk would use to read ahead if nothing held it back (nothing to poll for).
    await new Promise((r) => setTimeout(r, 300));
    // what the pack holds plus the Node stream's buffer: a few chunks, never the 1.5 MB of headers or the 8 MB file
    assert.ok(stream.readableLength < 512 * 1024, `buffered ${stream.readableLength}`);
    for (let r = await it.next(); !r.done; r = await it.next()) total += (r.value as Buffer).length;
    assert.equal(total, 512 + 3000 * 512 + 512 + 8 * 1024 * 1024);
    // a consumer that leaves mid-way: the walk ends and lets its directory fds go
    const fds = () => fs.readdirSync('/proc/self/fd').length;
    const cfs = cfsOf();
    const before = fds();
    const left = archivePath(cfs, '/many').stream;
    await left[Symbol.asyncIterator]().next();
    left.destroy();
    const deadline = Date.now() + 5000;
    while (fds() > before - 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(fds() <= before, `fds ${fds()} > ${before}`);
  });

  it('stats paths with symlinks resolved inside the container, the last name as it is', () => {
    const cfs = cfsOf();
    const link = statPath(cfs, '/link');
    assert.deepEqual([link.name, link.mode, link.linkTarget], ['link', 2 ** 27 + 0o777, '/dir']);
    assert.equal(statPath(cfs, '/link/').mode, 2 ** 31 + 0o755, 'a trailing slash follows it');
    assert.equal(statPath(cfs, '/climb').linkTarget, '/outside', 'climbing stops at the root');
    assert.equal(statPath(cfs, '/far').linkTarget, outside);
    assert.equal(statPath(cfs, '/evil/etc/passwd').size, fs.statSync(path.join(root, 'etc/passwd')).size);
    for (const p of [
      '/climb/secret',
      '/far/secret',
      '/abs/secret',
      '/evil/../../outside/secret',
      '/dir/a.txt/x',
      '/missing',
    ]) {
      assert.throws(
        () => statPath(cfs, p),
        (e: any) => isEngineError(e, 'NotFound') && e.message === `Could not find the file ${p} in container ctr`,
        p,
      );
    }
    assert.throws(() => statPath(cfs, '/loop1/x'), /too many links/);
    assert.throws(
      () => statPath(cfs, '/dir/a\0b'),
      (e: any) => isEngineError(e, 'InvalidParameter'),
    );
  });

  it('tars paths with Docker\'s names: the path\'s base, "." contents, the root, symlinks themselves, hard links', async () => {
    const names = async (p: string) =>
      (await readTar(archivePath(cfsOf(), p).stream)).map(
        (e) => `${e.type}:${e.name}${e.linkname ? `->${e.linkname}` : ''}`,
      );
    assert.deepEqual(await names('/dir'), [
      'directory:dir/',
      'file:dir/a.txt',
      'link:dir/hard->dir/a.txt',
      'directory:dir/sub/',
      'file:dir/sub/b.txt',
    ]);
    assert.deepEqual(await names('/link/.'), [
      'directory:./',
      'file:./a.txt',
      'link:./hard->./a.txt',
      'directory:./sub/',
      'file:./sub/b.txt',
    ]);
    assert.deepEqual(await names('/link/'), [
      'directory:link/',
      'file:link/a.txt',
      'link:link/hard->link/a.txt',
      'directory:link/sub/',
      'file:link/sub/b.txt',
    ]);
    assert.deepEqual(await names('/link'), ['symlink:link->dir']);
    assert.deepEqual(await names('/evil/dir/sub/b.txt'), ['file:b.txt']);
    const all = await names('/');
    assert.equal(all[0], 'directory:/');
    assert.ok(all.includes('file:/etc/passwd') && all.includes('symlink:/abs->' + outside));
    const [file] = await readTar(archivePath(cfsOf(), '/climb/../dir/a.txt').stream);
    assert.equal(file.content, 'alpha\n');
    assert.throws(
      () => archivePath(cfsOf(), '/abs/secret'),
      (e: any) => isEngineError(e, 'NotFound'),
    );
  });

  it("extracts into a directory (followed if a symlink), with Docker's overwrite rules", async () => {
    await extractToDir(
      cfsOf(),
      '/link',
      tarStream([
        { name: 'new/', type: 'directory', mode: 0o750 },
        { name: 'new/f', content: 'f\n', mode: 0o640, uid: 1234, gid: 2345 },
        { name: 'new/l', type: 'symlink', linkname: '/etc/passwd' },
        { name: 'new/h', type: 'link', linkname: 'new/f' },
        { name: 'deep/er/file', content: 'd\n' },
      ]),
      { noOverwriteDirNonDir: true },
    );
    const st = fs.statSync(path.join(root, 'dir/new/f'));
    assert.deepEqual([st.mode & 0o777, st.uid, st.gid, st.nlink], [0o640, 1234, 2345, 2]);
    assert.equal(fs.statSync(path.join(root, 'dir/new')).mode & 0o777, 0o750);
    assert.equal(fs.readlinkSync(path.join(root, 'dir/new/l')), '/etc/passwd');
    assert.equal(fs.readFileSync(path.join(root, 'dir/deep/er/file'), 'utf8'), 'd\n');
    await assert.rejects(
      extractToDir(cfsOf(), '/dir', tarStream([{ name: 'sub', content: 'x' }]), { noOverwriteDirNonDir: true }),
      /cannot overwrite directory "\/dir\/sub" with non-directory "sub"/,
    );
    await assert.rejects(
      extractToDir(cfsOf(), '/dir', tarStream([{ name: 'a.txt/', type: 'directory' }]), { noOverwriteDirNonDir: true }),
      /cannot overwrite non-directory "\/dir\/a.txt"/,
    );
    await extractToDir(cfsOf(), '/dir', tarStream([{ name: 'sub', content: 'now a file\n' }]), {
      noOverwriteDirNonDir: false,
    });
    assert.equal(fs.readFileSync(path.join(root, 'dir/sub'), 'utf8'), 'now a file\n');
    await extractToDir(cfsOf(), '/', tarStream([{ name: 'etc/passwd', content: 'x' }]), {
      noOverwriteDirNonDir: false,
      owner: { uid: 7, gid: 8 },
    });
    assert.deepEqual(
      [fs.statSync(path.join(root, 'etc/passwd')).uid, fs.statSync(path.join(root, 'etc/passwd')).gid],
      [7, 8],
    );
    await assert.rejects(
      extractToDir(cfsOf(), '/dir/a.txt', tarStream([]), { noOverwriteDirNonDir: true }),
      (e: any) => isEngineError(e, 'InvalidParameter') && e.message === 'extraction point is not a directory',
    );
    await assert.rejects(extractToDir(cfsOf(), '/nope', tarStream([]), { noOverwriteDirNonDir: true }), (e: any) =>
      isEngineError(e, 'NotFound'),
    );
    await assert.rejects(
      extractToDir(cfsOf(), '/dir', Readable.from([Buffer.alloc(512, 'x')]), { noOverwriteDirNonDir: true }),
      (e: any) => isEngineError(e, 'InvalidParameter') && /not a valid tar archive/.test(e.message),
    );
  });

  it("refuses entries that climb out, are absolute, or go through a symlink; writes through the destination's links stay inside", async () => {
    const hostile: Entry[][] = [
      [{ name: '../outside/pwned', content: 'x' }],
      [{ name: 'a/../../../outside/pwned', content: 'x' }],
      [{ name: 'climb/pwned', content: 'x' }],
      [{ name: 'abs/pwned', content: 'x' }],
      [
        { name: 'trap', type: 'symlink', linkname: outside },
        { name: 'trap/pwned', content: 'x' },
      ],
      [{ name: 'hard', type: 'link', linkname: '../outside/secret' }],
      [{ name: 'hard', type: 'link', linkname: 'abs/secret' }],
    ];
    for (const entries of hostile) {
      await assert.rejects(
        extractToDir(cfsOf(), '/', tarStream(entries), { noOverwriteDirNonDir: true }),
        (e: any) => isEngineError(e, 'InvalidParameter'),
        JSON.stringify(entries),
      );
    }
    // An absolute name lands below the destination, inside the container.
    fs.mkdirSync(path.join(root, 'absdir'));
    await extractToDir(cfsOf(), '/absdir', tarStream([{ name: outside + '/pwned', content: 'x' }]), {
      noOverwriteDirNonDir: true,
    });
    assert.equal(fs.readFileSync(path.join(root, 'absdir', outside, 'pwned'), 'utf8'), 'x');
    // A file replacing a symlink replaces the link, it does not write through it.
    await extractToDir(cfsOf(), '/', tarStream([{ name: 'abs', content: 'replaced\n' }]), {
      noOverwriteDirNonDir: false,
    });
    assert.equal(fs.readFileSync(path.join(root, 'abs'), 'utf8'), 'replaced\n');
    // The destination itself is resolved inside the container.
    await extractToDir(cfsOf(), '/far', tarStream([{ name: 'pwned', content: 'x' }]), {
      noOverwriteDirNonDir: false,
    }).catch((e) => assert.ok(isEngineError(e, 'NotFound')));
    fs.mkdirSync(path.join(root, outside), { recursive: true });
    await extractToDir(cfsOf(), '/far', tarStream([{ name: 'pwned', content: 'inside\n' }]), {
      noOverwriteDirNonDir: false,
    });
    assert.equal(fs.readFileSync(path.join(root, outside, 'pwned'), 'utf8'), 'inside\n');
    untouched();
  });

  it("maps a stopped container's volumes at their destinations; read-only ones and a read-only rootfs refuse writes", async () => {
    const vol = path.join(tmp, 'vol');
    const ro = path.join(tmp, 'ro');
    fs.mkdirSync(vol);
    fs.mkdirSync(ro);
    fs.writeFileSync(path.join(ro, 'conf'), 'v1\n');
    fs.mkdirSync(path.join(root, 'data'));
    fs.mkdirSync(path.join(root, 'conf.d'));
    const mounts: FsMount[] = [
      { destination: '/data', source: vol, rw: true, type: 'volume' },
      { destination: '/conf.d', source: ro, rw: false, type: 'bind' },
    ];
    const cfs = () => cfsOf({ mapped: mounts, mounts, readonlyRootfs: true });
    await extractToDir(cfs(), '/data', tarStream([{ name: 'x', content: 'in the volume\n' }]), {
      noOverwriteDirNonDir: true,
    });
    assert.equal(fs.readFileSync(path.join(vol, 'x'), 'utf8'), 'in the volume\n');
    assert.ok(!fs.existsSync(path.join(root, 'data/x')));
    await extractToDir(cfs(), '/evil/data/', tarStream([{ name: 'y', content: 'y' }]), { noOverwriteDirNonDir: true });
    assert.ok(fs.existsSync(path.join(vol, 'y')));
    await assert.rejects(
      extractToDir(cfs(), '/conf.d', tarStream([{ name: 'x', content: 'x' }]), { noOverwriteDirNonDir: true }),
      /mounted volume is marked read-only/,
    );
    await assert.rejects(
      extractToDir(cfs(), '/', tarStream([{ name: 'x', content: 'x' }]), { noOverwriteDirNonDir: true }),
      /container rootfs is marked read-only/,
    );
    await assert.rejects(
      extractToDir(cfsOf({ mapped: mounts, mounts }), '/', tarStream([{ name: 'conf.d/new', content: 'x' }]), {
        noOverwriteDirNonDir: true,
      }),
      /mounted volume is marked read-only/,
    );
    assert.deepEqual(fs.readdirSync(ro), ['conf']);
    assert.equal(statPath(cfs(), '/conf.d/conf').size, 3);
    const names = (await readTar(archivePath(cfs(), '/').stream)).map((e) => e.name);
    assert.ok(names.includes('/data/x') && names.includes('/conf.d/conf'));
  });

  it('holds against a live symlink-exchange race (CVE-2018-15664)', async () => {
    fs.mkdirSync(path.join(root, 'w/real'), { recursive: true });
    fs.symlinkSync(outside, path.join(root, 'w/link'));
    const w = path.join(root, 'w');
    // The "container": swaps the directory and the symlink to the host's directory as fast as it can.
    const racer: ChildProcess = spawn(
      'sh',
      ['-c', `cd ${w} && while :; do mv -T real tmp; mv -T link real; mv -T tmp link; done`],
      { stdio: 'ignore', detached: true },
    );
    const racerExited = new Promise((r) => racer.once('exit', r));
    try {
      let wrote = 0;
      let refused = 0;
      // Until both sides of the race were seen several times (the racer needs a moment to start).
      const deadline = Date.now() + 20000;
      for (let i = 0; (wrote < 20 || refused < 20 || i < 400) && Date.now() < deadline; i++) {
        await extractToDir(cfsOf(), '/w/real', tarStream([{ name: 'pwned', content: 'x' }]), {
          noOverwriteDirNonDir: false,
        }).then(
          () => wrote++,
          () => refused++,
        );
        try {
          for (const e of await readTar(archivePath(cfsOf(), '/w/real/secret').stream))
            assert.ok(!e.content.includes('host secret'), 'read the host file');
        } catch (err: any) {
          if (!isEngineError(err)) throw err;
        }
        for (const c of opened.splice(0)) await c.release();
      }
      assert.ok(wrote > 0 && refused > 0, `both sides of the race: wrote ${wrote}, refused ${refused}`);
    } finally {
      process.kill(-racer.pid!, 'SIGKILL'); // the shell and its mv
      await racerExited;
    }
    untouched();
  });
});
