// /containers/{id}/attach/ws served by the `ws` package: a real WebSocket client talks to it; what RFC 6455
// forbids (unmasked client frames) and what is too big (a message past 1 MiB) closes the connection; a browser's
// request (it carries an Origin) is refused before any upgrade.
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import WebSocket from 'ws';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';

describe('engine API: attach over a WebSocket', function () {
  this.timeout(120_000);
  let target: MirroredEngine;
  const name = 'ws-echo';
  before(async () => {
    target = await startMirroredEngine();
    const c = target.engine.client;
    await c.json('POST', '/containers/create', {
      query: { name },
      body: {
        Image: 'busybox',
        Cmd: ['sh', '-c', 'while read l; do echo "got $l"; done'],
        OpenStdin: true,
        HostConfig: { NetworkMode: 'none' },
      },
    });
    await c.startContainer(name);
  });
  after(async () => target?.cleanup());

  const url = () => `ws+unix://${target.engine.socket}:/containers/${name}/attach/ws?stream=1&stdin=1&stdout=1`;

  it('echoes through a real WebSocket client: stdin as messages, output as binary frames', async () => {
    const ws = new WebSocket(url());
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    let got = '';
    let binary = true;
    ws.on('message', (data, isBinary) => {
      got += data.toString();
      binary &&= isBinary;
    });
    ws.send('hello ws\n');
    const deadline = Date.now() + 10_000;
    while (!got.includes('got hello ws') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.match(got, /got hello ws/);
    assert.ok(binary, 'output frames are binary');
    ws.close();
  });

  const rawUpgrade = async () => {
    const sock = net.connect(target.engine.socket);
    await new Promise((r) => sock.once('connect', r));
    let got = Buffer.alloc(0);
    sock.on('data', (d) => (got = Buffer.concat([got, d])));
    const closed = new Promise((r) => sock.once('close', r));
    sock.write(
      `GET /containers/${name}/attach/ws?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n\r\n`,
    );
    const deadline = Date.now() + 10_000;
    while (!got.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.match(got.toString('latin1'), /^HTTP\/1.1 101 /);
    return { sock, closed, got: () => got.subarray(got.indexOf('\r\n\r\n') + 4) };
  };
  /** The status code of the close frame the server sent. */
  const closeCode = (frames: Buffer) => {
    for (let i = 0; i + 4 <= frames.length; ) {
      const op = frames[i] & 15;
      let len = frames[i + 1] & 127;
      let off = i + 2;
      if (len === 126) {
        len = frames.readUInt16BE(i + 2);
        off = i + 4;
      }
      if (op === 8) return frames.readUInt16BE(off);
      i = off + len;
    }
    return undefined;
  };

  it('closes with 1002 on an unmasked client frame', async () => {
    const c = await rawUpgrade();
    c.sock.write(Buffer.concat([Buffer.from([0x82, 3]), Buffer.from('hi\n')]));
    await c.closed;
    assert.equal(closeCode(c.got()), 1002);
  });

  it('closes with 1009 on a message past 1 MiB', async () => {
    const c = await rawUpgrade();
    const head = Buffer.alloc(14);
    head[0] = 0x82;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(2 << 20), 2);
    crypto.randomBytes(4).copy(head, 10);
    c.sock.write(head);
    await c.closed;
    assert.equal(closeCode(c.got()), 1009);
  });

  it("refuses a browser's upgrade (Origin) with 403", async () => {
    const ws = new WebSocket(url(), { origin: 'http://evil.example' });
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => resolve(101));
      ws.once('error', () => {});
    });
    assert.equal(status, 403);
  });
});
