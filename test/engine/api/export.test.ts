// GET /containers/{id}/export: the root filesystem as dockerd's TarWithOptions writes it, read by the same confined
// fd walk as docker cp (no GNU tar): relative names, hard links as links, special files, a volume's contents left
// out, a complete archive for a stopped and for a running container.
import * as assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';

interface Entry {
  name: string;
  type: string;
  linkname?: string | null;
  body: string;
}

async function entriesOf(body: Readable): Promise<Entry[]> {
  const out: Entry[] = [];
  const extract = tarStream.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.on('entry', (h, s, next) => {
    let text = '';
    s.on('data', (d) => (text += (d as Buffer).toString('utf8')));
    s.on('end', () => {
      out.push({ name: h.name, type: h.type ?? 'file', linkname: h.linkname, body: text });
      next();
    });
  });
  body.pipe(extract);
  await done;
  return out;
}

describe('engine API: container export', function () {
  this.timeout(120_000);
  let target: MirroredEngine;
  before(async () => {
    target = await startMirroredEngine();
  });
  after(async () => target?.cleanup());

  const script = [
    'echo exported > /data.txt',
    'ln /data.txt /hard.txt',
    'ln -s /data.txt /soft.txt',
    'mkfifo /pipe',
    'mkdir -p /deep/a/b && echo deep > /deep/a/b/c',
    'echo secret > /vol/secret',
  ].join(' && ');

  const make = async (name: string, keepRunning: boolean) => {
    const c = target.engine.client;
    await c.json('POST', '/containers/create', {
      query: { name },
      body: {
        Image: 'busybox',
        Cmd: ['sh', '-c', `${script}${keepRunning ? ' && sleep 600' : ''}`],
        Volumes: { '/vol': {} },
        HostConfig: { NetworkMode: 'none' },
      },
    });
    await c.startContainer(name);
    if (!keepRunning) await c.json('POST', `/containers/${name}/wait`);
    else {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const r = await c.statContainerPath(name, '/vol/secret').catch(() => undefined);
        if (r) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  for (const running of [false, true]) {
    it(`exports a ${running ? 'running' : 'stopped'} container's root filesystem`, async () => {
      const name = running ? 'exp-running' : 'exp-stopped';
      await make(name, running);
      const { body } = await target.engine.client.stream('GET', `/containers/${name}/export`);
      const entries = await entriesOf(body);
      const by = new Map(entries.map((e) => [e.name, e]));
      assert.ok(!entries.some((e) => e.name.startsWith('./') || e.name.startsWith('/')), 'names are relative');
      assert.ok(!by.has('') && !by.has('./'), 'no entry for the root itself');
      assert.equal(by.get('data.txt')?.body, 'exported\n');
      const hard = by.get('hard.txt');
      assert.ok(hard && (hard.type === 'link' ? hard.linkname === 'data.txt' : hard.body === 'exported\n'));
      assert.ok(
        by.get('data.txt')?.type === 'link' || hard?.type === 'link',
        'the second name of a file is a link entry',
      );
      assert.deepEqual([by.get('soft.txt')?.type, by.get('soft.txt')?.linkname], ['symlink', '/data.txt']);
      assert.equal(by.get('pipe')?.type, 'fifo');
      assert.equal(by.get('deep/a/b/c')?.body, 'deep\n');
      assert.equal(by.get('bin/')?.type, 'directory');
      assert.ok(by.has('bin/busybox') || by.has('bin/sh'));
      assert.equal(by.get('vol/')?.type, 'directory', 'the volume mount point is there');
      assert.ok(!by.has('vol/secret'), "a volume's contents are not the container's filesystem");
      await target.engine.client.removeContainer(name, { force: true, volumes: true });
    });
  }
});
