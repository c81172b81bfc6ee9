// docker network connect/disconnect as dockerd does them, for created and running containers: any network may be
// left, the primary one included (docker-compose 1.x disconnects a created container from its only network and
// reconnects it with the service's aliases), a container left with no network starts with only lo and can be
// connected later; dockerd's refusals with their words and statuses.
import * as assert from 'node:assert/strict';
import type { EngineApiError } from '../../../src/client';
import { requireDockerCli } from '../../helpers/engine';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';

describe('network connect/disconnect of created and running containers', function () {
  this.timeout(180_000);
  let t: MirroredEngine;
  const ok = (...args: string[]) => t.ok(args).trim();
  const fails = (...args: string[]) => {
    const r = t.engine.docker(args);
    assert.notEqual(r.code, 0, `docker ${args.join(' ')} should fail`);
    return r.stderr.trim();
  };
  const nets = (c: string) => JSON.parse(ok('inspect', c))[0].NetworkSettings.Networks;
  const ifaces = (c: string) =>
    ok('exec', c, 'ip', '-o', '-4', 'addr')
      .split('\n')
      .map((l) => l.split(/\s+/)[1])
      .sort();
  /** A POST to the API: its status and error message ('' on success). */
  const post = (path: string, body: unknown) =>
    t.engine.client.json('POST', path, { body }).then(
      () => ({ status: 200, message: '' }),
      (err: EngineApiError) => ({ status: err.status, message: err.message }),
    );

  before(async function () {
    requireDockerCli(this);
    t = await startMirroredEngine();
    ok('network', 'create', 'front');
    ok('network', 'create', 'back');
  });
  after(async () => t?.cleanup());

  it('a created container leaves its only network and rejoins it with new aliases, as docker-compose 1.x does', async () => {
    const id = ok('create', '--name', 'svc', '--network', 'front', '--network-alias', 'web', 'busybox', 'sleep', '300');
    assert.deepEqual(Object.keys(nets('svc')), ['front']);
    assert.deepEqual(nets('svc').front.Aliases, ['web']);
    ok('network', 'disconnect', 'front', 'svc');
    assert.deepEqual(nets('svc'), {});
    assert.equal(JSON.parse(ok('inspect', 'svc'))[0].HostConfig.NetworkMode, 'front');
    ok('network', 'connect', '--alias', 'www', '--alias', 'svc', 'front', 'svc');
    assert.deepEqual(nets('svc').front.Aliases, ['www', 'svc']);
    ok('start', 'svc');
    const front = nets('svc').front;
    assert.match(front.IPAddress, /^\d+\.\d+\.\d+\.\d+$/);
    assert.deepEqual(ifaces('svc'), ['eth0', 'lo']);
    // The aliases given at the reconnect are the names peers find it by.
    const seen = ok('run', '--rm', '--network', 'front', 'busybox', 'ping', '-c', '1', '-W', '1', 'www');
    assert.match(seen, new RegExp(`^PING www \\(${front.IPAddress.replace(/\./g, '\\.')}\\)`));
    const inNet = JSON.parse(ok('network', 'inspect', 'front'))[0].Containers;
    assert.deepEqual(Object.keys(inNet), [id]);
    ok('rm', '-f', 'svc');
  });

  it('a container disconnected from every network starts with only lo; connect and disconnect then work while it runs', async () => {
    ok('create', '--name', 'bare', '--network', 'front', 'busybox', 'sleep', '300');
    ok('network', 'disconnect', 'front', 'bare');
    ok('start', 'bare');
    assert.deepEqual(nets('bare'), {});
    assert.deepEqual(ifaces('bare'), ['lo']);
    ok('network', 'connect', 'back', 'bare');
    assert.deepEqual(Object.keys(nets('bare')), ['back']);
    assert.deepEqual(ifaces('bare'), ['eth0', 'lo']);
    // A running container may leave its only network too (dockerd allows it).
    ok('network', 'disconnect', 'back', 'bare');
    assert.deepEqual(ifaces('bare'), ['lo']);
    assert.deepEqual(nets('bare'), {});
    // Stopped with no network, it starts again with none.
    ok('restart', '-t', '0', 'bare');
    assert.deepEqual(ifaces('bare'), ['lo']);
    ok('rm', '-f', 'bare');
  });

  it('the default bridge can be left and joined again by a created container', async () => {
    ok('create', '--name', 'def', 'busybox', 'sleep', '300');
    assert.deepEqual(Object.keys(nets('def')), ['bridge']);
    ok('network', 'disconnect', 'bridge', 'def');
    assert.deepEqual(nets('def'), {});
    ok('network', 'connect', 'back', 'def');
    ok('start', 'def');
    assert.deepEqual(Object.keys(nets('def')), ['back']);
    assert.deepEqual(ifaces('def'), ['eth0', 'lo']);
    ok('rm', '-f', 'def');
  });

  it("refuses what dockerd refuses, with dockerd's words and statuses", async () => {
    const id = ok('run', '-d', '--name', 'run1', '--network', 'front', 'busybox', 'sleep', '300');
    ok('create', '--name', 'idle', '--network', 'front', 'busybox', 'true');
    const idle = JSON.parse(ok('inspect', 'idle'))[0].Id;
    ok('run', '-d', '--name', 'solo', '--network', 'none', 'busybox', 'sleep', '300');
    ok('run', '-d', '--name', 'hosted', '--network', 'host', 'busybox', 'sleep', '300');
    ok('run', '-d', '--name', 'joined', '--network', 'container:run1', 'busybox', 'sleep', '300');
    const cases: [string, unknown, number, string][] = [
      ['/networks/back/disconnect', { Container: 'run1' }, 500, `container ${id} is not connected to network back`],
      [
        '/networks/back/disconnect',
        { Container: 'idle' },
        500,
        `container ${idle} is not connected to the network back`,
      ],
      [
        '/networks/front/connect',
        { Container: 'run1' },
        403,
        'endpoint with name run1 already exists in network front',
      ],
      [
        '/networks/front/connect',
        { Container: 'solo' },
        400,
        'container cannot be connected to multiple networks with one of the networks in private (none) mode',
      ],
      [
        '/networks/front/connect',
        { Container: 'hosted' },
        400,
        'container sharing network namespace with another container or host cannot be connected to any other network',
      ],
      [
        '/networks/front/connect',
        { Container: 'joined' },
        400,
        'container sharing network namespace with another container or host cannot be connected to any other network',
      ],
      [
        '/networks/host/connect',
        { Container: 'run1' },
        400,
        'container cannot be disconnected from host network or connected to host network',
      ],
      ['/networks/nosuch/connect', { Container: 'run1' }, 404, 'network nosuch not found'],
      ['/networks/front/connect', { Container: 'nosuch' }, 404, 'No such container: nosuch'],
    ];
    for (const [path, body, status, message] of cases) {
      const res = await post(path, body);
      assert.deepEqual(res, { status, message }, `${path} ${JSON.stringify(body)}`);
    }
    // A stopped container connected twice keeps the newer settings (dockerd: 200 both times).
    assert.equal((await post('/networks/back/connect', { Container: 'idle' })).status, 200);
    assert.equal(
      (await post('/networks/back/connect', { Container: 'idle', EndpointConfig: { Aliases: ['b2'] } })).status,
      200,
    );
    assert.deepEqual(nets('idle').back.Aliases, ['b2']);
    assert.match(fails('network', 'disconnect', 'back', 'run1'), /is not connected to network back/);
    ok('rm', '-f', 'run1', 'idle', 'solo', 'hosted', 'joined');
  });
});
