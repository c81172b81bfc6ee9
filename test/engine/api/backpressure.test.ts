// Streams to a client that does not read: /events keeps a bounded backlog (then drops for that subscriber, as
// dockerd does) instead of buffering without end; a log follower whose client is gone lets go of everything.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';
import { eventually } from '../../helpers/net';

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
    const filter = '/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D';
    const slow = await stalledGet(target.engine.socket, filter);
    // A subscriber that reads: once it has the last rename, berthd has handed every event to the slow one too.
    const reader = await stalledGet(target.engine.socket, filter);
    let seen = '';
    reader.on('data', (d) => (seen = (seen + d.toString('utf8')).slice(-300_000)));
    reader.resume();
    const rss0 = rssKb(pid);
    // 400 events of ~100 kB each: 40 MB that a buffer without bound would hold.
    for (let i = 1; i <= 400; i++) await c.renameContainer(Id, `chatty-${i}`);
    await eventually(
      () => seen.includes('"name":"chatty-400"'),
      Boolean,
      'the reading subscriber to get the last rename',
      30_000,
    );
    reader.destroy();
    const grown = rssKb(pid) - rss0;
    assert.ok(grown < 25 * 1024, `berthd grew by ${grown} kB for a subscriber that reads nothing`);
    // What it does get is whole events.
    let text = '';
    slow.on('data', (d) => (text += d.toString('utf8')));
    slow.resume();
    // Once its backlog has drained, new events reach it again (renamed until one does: the first may still meet a
    // full backlog).
    let n = 0;
    await eventually(
      async () => {
        if (!text.includes('"name":"chatty-final')) await c.renameContainer(Id, `chatty-final-${n++}`);
        return text.includes('"name":"chatty-final');
      },
      Boolean,
      'an event after the slow subscriber caught up',
      30_000,
    );
    slow.destroy();
    const lines = text.split('\n').filter((l) => l.startsWith('{'));
    assert.ok(lines.length > 0);
    for (const l of lines.slice(0, -1)) assert.equal(JSON.parse(l).Action, 'rename');
    assert.ok(n < 50, `${n} renames before one reached the subscriber`);
    await c.removeContainer(Id, { force: true });
  });

  it("a log follower whose client does not read keeps berthd's memory bounded", async () => {
    const c = target.engine.client;
    const pid = target.engine.process().pid!;
    // 100 MB of log, written as fast as the container can, to a `logs -f` client that reads nothing.
    const { Id } = await c.json('POST', '/containers/create', {
      body: { Image: 'busybox', Cmd: ['sh', '-c', 'head -c 100000000 /dev/zero | tr "\\0" x | fold -w 100'] },
    });
    const rss0 = rssKb(pid);
    await c.startContainer(Id);
    const slow = await stalledGet(target.engine.socket, `/containers/${Id}/logs?stdout=1&follow=1`);
    let peak = 0;
    await eventually(
      async () => {
        peak = Math.max(peak, rssKb(pid));
        return (await c.json('GET', `/containers/${Id}/json`)).State.Status;
      },
      (status) => status === 'exited',
      'the container to write all its log',
      120_000,
    );
    const logBytes = fs.statSync((await c.json('GET', `/containers/${Id}/json`)).LogPath).size;
    assert.ok(logBytes > 100_000_000, `the log holds ${logBytes} bytes`);
    peak = Math.max(peak, rssKb(pid));
    console.log(`      ${(logBytes / 1e6).toFixed(0)} MB of log; berthd's RSS ${rss0} kB → peak ${peak} kB`);
    assert.ok(peak - rss0 < 24 * 1024, `berthd grew by ${peak - rss0} kB (peak) for a follower that reads nothing`);
    slow.destroy();
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
    // Each follower holds the log file open while it waits for its client.
    await eventually(
      () => fds(pid),
      (n) => n >= base + 5,
      'the followers to open the log',
      30_000,
    );
    for (const f of followers) f.destroy();
    await eventually(
      () => fds(pid),
      (n) => n <= base + 2,
      `open files back near ${base} after the followers left`,
      15_000,
    );
    await c.removeContainer(Id, { force: true });
  });
});
