// Swarm and plugin endpoints answer as a dockerd outside a swarm: clients tell "no swarm" (503) from "old engine"
// (404) by the status, and list no plugins. Texts and statuses were taken from Debian's dockerd.
import * as assert from 'node:assert/strict';
import { EngineApiError } from '../../../src/client';
import { requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';

const NOT_A_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';

describe('engine API: swarm and plugins', function () {
  let engine: TestEngine;
  before(async () => {
    engine = await startEngine();
  });
  after(async () => engine?.cleanup());

  async function call(method: string, path: string, query?: Record<string, string>, body?: unknown) {
    try {
      return { status: 200, body: await engine.client.json(method, path, { query, body }) };
    } catch (err) {
      if (!(err instanceof EngineApiError)) throw err;
      return { status: err.status, body: { message: err.message } };
    }
  }

  it('answers every swarm read, create and delete with 503 "not a swarm manager"', async () => {
    const calls: [string, string][] = [
      ['GET', '/swarm'],
      ['GET', '/swarm/unlockkey'],
      ['POST', '/swarm/unlock'],
      ['GET', '/nodes'],
      ['GET', '/nodes/abc'],
      ['DELETE', '/nodes/abc'],
      ['GET', '/services'],
      ['GET', '/services/web'],
      ['POST', '/services/create'],
      ['DELETE', '/services/web'],
      ['GET', '/services/web/logs'],
      ['GET', '/tasks'],
      ['GET', '/tasks/t1'],
      ['GET', '/tasks/t1/logs'],
      ['GET', '/secrets'],
      ['GET', '/secrets/s1'],
      ['POST', '/secrets/create'],
      ['DELETE', '/secrets/s1'],
      ['GET', '/configs'],
      ['GET', '/configs/c1'],
      ['POST', '/configs/create'],
      ['DELETE', '/configs/c1'],
    ];
    for (const [method, path] of calls) {
      const r = await call(method, path, undefined, method === 'POST' ? {} : undefined);
      assert.deepEqual(r, { status: 503, body: { message: NOT_A_MANAGER } }, `${method} ${path}`);
    }
  });

  it('answers /swarm/leave with 503 "not part of a swarm"', async () => {
    assert.deepEqual(await call('POST', '/swarm/leave'), {
      status: 503,
      body: { message: 'This node is not part of a swarm' },
    });
  });

  it('checks an update\'s version first (400), as dockerd does, then says "not a manager"', async () => {
    assert.deepEqual(await call('POST', '/swarm/update', undefined, {}), {
      status: 400,
      body: { message: `invalid swarm version '': strconv.ParseUint: parsing "": invalid syntax` },
    });
    assert.deepEqual(await call('POST', '/services/web/update', { version: 'x' }, {}), {
      status: 400,
      body: { message: `invalid service version 'x': strconv.ParseUint: parsing "x": invalid syntax` },
    });
    assert.deepEqual(await call('POST', '/secrets/s1/update', undefined, {}), {
      status: 400,
      body: { message: 'invalid secret version' },
    });
    assert.equal((await call('POST', '/nodes/n1/update', { version: '3' }, {})).status, 503);
  });

  it('refuses to initialize or join a swarm, saying why', async () => {
    for (const p of ['/swarm/init', '/swarm/join']) {
      const r = await call('POST', p, undefined, { ListenAddr: '0.0.0.0:2377' });
      assert.equal(r.status, 501, p);
      assert.match(r.body.message, /swarm mode/);
    }
  });

  it('lists no plugins and knows none by name', async () => {
    assert.deepEqual(await call('GET', '/plugins'), { status: 200, body: [] });
    assert.deepEqual(await call('GET', '/plugins', { filters: '{"capability":["volumedriver"]}' }), {
      status: 200,
      body: [],
    });
    assert.equal((await call('GET', '/plugins', { filters: '{"foo":["x"]}' })).status, 400);
    assert.deepEqual(await call('GET', '/plugins/vieux/sshfs:latest/json'), {
      status: 404,
      body: { message: 'plugin "vieux/sshfs:latest" not found' },
    });
    assert.equal((await call('DELETE', '/plugins/x')).status, 404);
    assert.equal((await call('POST', '/plugins/x/enable')).status, 404);
    assert.equal((await call('POST', '/plugins/pull', { remote: 'vieux/sshfs' })).status, 501);
  });

  it("still answers unknown paths with Docker's 404 JSON", async () => {
    for (const p of ['/swarmy', '/nodes/a/b/c', '/session', '/v1.41/nope']) {
      assert.deepEqual(await call('GET', p), { status: 404, body: { message: 'page not found' } }, p);
    }
  });

  it('gives the docker CLI what it expects from a node outside a swarm', function () {
    requireDockerCli(this);
    const nodes = engine.docker(['node', 'ls']);
    assert.equal(nodes.code, 1);
    assert.match(nodes.stderr, /This node is not a swarm manager/);
    const leave = engine.docker(['swarm', 'leave']);
    assert.equal(leave.code, 1);
    assert.match(leave.stderr, /This node is not part of a swarm/);
    const plugins = engine.docker(['plugin', 'ls', '--format', '{{.Name}}']);
    assert.equal(plugins.code, 0, plugins.stderr);
    assert.equal(plugins.stdout, '');
    const info = engine.docker(['info', '--format', '{{.Swarm.LocalNodeState}}']);
    assert.equal(info.stdout.trim(), 'inactive');
  });
});
