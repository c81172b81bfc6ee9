// The shared client's JSON-lines reader: a chunk boundary inside a multi-byte character must not break it.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../../src/client';

describe('client: JSON lines', () => {
  it('keeps a character whose bytes arrive in two chunks', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-lines-'));
    const sock = path.join(dir, 'api.sock');
    const line = Buffer.from(`${JSON.stringify({ status: 'Pulling 日本語 ✓ layer' })}\n`);
    const cut = line.indexOf(Buffer.from('本')) + 1; // inside the 3 bytes of 本
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(line.subarray(0, cut));
      // A pause so that the two parts travel as separate chunks.
      setTimeout(() => res.end(line.subarray(cut)), 50);
    });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const client = new EngineClient(`unix://${sock}`);
      const got: any[] = [];
      for await (const m of client.jsonLines('GET', '/events')) got.push(m);
      assert.deepEqual(got, [{ status: 'Pulling 日本語 ✓ layer' }]);
    } finally {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
