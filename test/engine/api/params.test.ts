// Booleans in requests read by Docker's rules (src/common/docker/bool.ts), where a client can tell.
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { startEngine, type TestEngine } from '../../helpers/engine';

describe('engine API: booleans in requests as dockerd reads them', () => {
  let engine: TestEngine;
  before(async () => {
    engine = await startEngine();
  });
  after(async () => engine?.cleanup());

  const request = (method: string, path: string) =>
    new Promise<{ status: number }>((resolve, reject) => {
      const req = http.request({ socketPath: engine.socket, method, path }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      });
      req.on('error', reject);
      req.end();
    });

  it('takes force=yes as true (httputils.BoolValue): removing a missing volume with force succeeds', async () => {
    assert.equal((await request('DELETE', '/v1.45/volumes/no-such-volume?force=yes')).status, 204);
    assert.equal((await request('DELETE', '/v1.45/volumes/no-such-volume?force=no')).status, 404);
  });

  it('takes a boolean filter in any case (filters.GetBoolOrDefault)', async () => {
    const filters = encodeURIComponent(JSON.stringify({ dangling: ['TRUE'] }));
    assert.equal((await request('GET', `/v1.45/images/json?filters=${filters}`)).status, 200);
    const bad = encodeURIComponent(JSON.stringify({ dangling: ['maybe'] }));
    assert.equal((await request('GET', `/v1.45/images/json?filters=${bad}`)).status, 400);
  });
});
