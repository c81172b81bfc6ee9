// Streams to a client that does not read: /events keeps a bounded backlog (then drops for that subscriber, as
// dockerd does) instead of buffering without end; a log follower whose client is gone lets go of everything.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';

const rssKb = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
const fds = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;

/** A GET whose response headers are read, then nothing more until the test says so. */
async function stalledGet(socketPath: string, path: string): Promise<net.Socket> {
  const s = net.connect(socketPath);
  await new Promise((r) => s.once('connect', r));
  s.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  await new Promise<void>((resolve) => {
    let head = '';
    const onData = (c: Buffer) => {
      head += c.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        s.off('data', onData);
        s.pause();
        resolve();
      }
    };
    s.on('data', onData);
  });
  return s;
}

describe('engine API: slow clients', function () {
  this.timeout(180_000);
  let target: MirroredEngine;
  before(async () => {
    target = await startMirroredEngine();
  });
  after(async () => target?.cleanup());

  it('/events holds a bounded backlog for a subscriber that does not read', async () => {
    const c = target.engine.client;
    const pid = target.engine.process().pid!;
    const { Id } = await c.json('POST', '/containers/create', {
      query: { name: 'chatty-0' },
      body: { Image: 'busybox', Labels: { big: 'x'.repeat(100_000) } },
    });
    const slow = await stalledGet(target.engine.socket, '/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D');
    const rss0 = rssKb(pid);
    // 400 events of ~100 kB each: 40 MB that a buffer without bound would hold.
    for (let i = 1; i <= 400; i++) await c.renameContainer(Id, `chatty-${i}`);
    await new Promise((r) => setTimeout(r, 500));
    const grown = rssKb(pid) - rss0;
    assert.ok(grown < 25 * 1024, `berthd grew by ${grown} kB for a subscriber that reads nothing`);
    // What it does get is whole events.
    let text = '';
    slow.on('data', (d) => (text += d.toString('utf8')));
    slow.resume();
    await new Promise((r) => setTimeout(r, 1000));
    slow.destroy();
    const lines = text.split('\n').filter((l) => l.startsWith('{'));
    assert.ok(lines.length > 0);
    for (const l of lines.slice(0, -1)) assert.equal(JSON.parse(l).Action, 'rename');
    await c.removeContainer(Id, { force: true });
  });

  it('a log follower whose client left lets go of its files', async () => {
    const c = target.engine.client;
    const pid = target.engine.process().pid!;
    const { Id } = await c.json('POST', '/containers/create', {
      body: { Image: 'busybox', Cmd: ['sh', '-c', 'head -c 30000000 /dev/zero | tr "\\0" x | fold -w 100; sleep 600'] },
    });
    await c.startContainer(Id);
    const base = fds(pid);
    const followers: net.Socket[] = [];
    for (let i = 0; i < 5; i++)
      followers.push(await stalledGet(target.engine.socket, `/containers/${Id}/logs?stdout=1&follow=1`));
    await new Promise((r) => setTimeout(r, 1000));
    for (const f of followers) f.destroy();
    const deadline = Date.now() + 15_000;
    while (fds(pid) > base + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.ok(fds(pid) <= base + 2, `open files: ${base} before the followers, ${fds(pid)} after they left`);
    await c.removeContainer(Id, { force: true });
  });
});
