// The shared client's connection hijack over undici's upgrade: the 101 and bytes that follow it in the same packet,
// the request body (exec start's JSON) sent along, and Docker's JSON error when the engine answers otherwise.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../../src/client';

describe('client: hijack', () => {
  let dir: string;
  let server: http.Server;
  let client: EngineClient;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-hijack-'));
    const sock = path.join(dir, 'api.sock');
    server = http.createServer((_req, res) => {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: 'No such container: nope' }));
    });
    server.on('upgrade', (req, socket, head) => {
      if (req.url?.includes('nope')) {
        const body = '{"message":"No such container: nope"}\n';
        socket.end(
          `HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
        return;
      }
      // The body of an upgrade request is left to the server: the bytes after the head, as many as it says.
      const length = Number(req.headers['content-length'] ?? 0);
      let body = head.toString();
      const answer = () => {
        // The 101 and the first output in one write: the client must not lose what follows the head.
        socket.write(`HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nbody was ${body}\n`);
        socket.on('data', (x) => socket.write(`echo ${x}`));
      };
      if (body.length >= length) answer();
      else
        socket.once('data', (d) => {
          body += d.toString();
          answer();
        });
    });
    await new Promise<void>((r) => server.listen(sock, r));
    client = new EngineClient(`unix://${sock}`);
  });
  after(() => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sends the body, keeps the bytes after the 101, and streams both ways', async () => {
    const conn = await client.hijack('POST', '/exec/abc/start', { Detach: false, Tty: true });
    let got = '';
    conn.on('data', (d) => (got += d));
    conn.resume();
    const wait = async (re: RegExp) => {
      const deadline = Date.now() + 5000;
      while (!re.test(got) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.match(got, re);
    };
    await wait(/body was \{"Detach":false,"Tty":true\}/);
    conn.write('ping');
    await wait(/echo ping/);
    conn.destroy();
  });

  it("rejects with Docker's message and status when there is no upgrade", async () => {
    await assert.rejects(client.hijack('POST', '/containers/nope/attach'), {
      status: 404,
      message: 'No such container: nope',
    });
  });
});
