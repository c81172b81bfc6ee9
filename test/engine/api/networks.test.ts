import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';

function curl(socket: string, args: string[]): { code: number; body: any } {
  const r = spawnSync('curl', ['-sS', '--unix-socket', socket, '-o', '-', '-w', '\n%{http_code}', ...args], {
    encoding: 'utf8',
  });
  const lines = r.stdout.trimEnd().split('\n');
  const code = Number(lines.pop());
  const text = lines.join('\n');
  return { code, body: text ? JSON.parse(text) : undefined };
}

describe('engine API: networks (docker network create/ls/inspect/rm/prune)', function () {
  let engine: TestEngine;
  // A pool of its own, so this engine's networks cannot collide with other engines' on the machine.
  const config = { 'default-address-pools': [{ base: '10.197.0.0/16', size: 24 }] };
  // Subnets and names of this run's own: the same test may run in another process at the same time.
  const o = 200 + crypto.randomInt(50);
  const bridgeName = `bt-${crypto.randomBytes(4).toString('hex')}`;
  before(async function () {
    requireDockerCli(this);
    engine = await startEngine({ config });
  });
  // Each test starts with the predefined networks only, whatever ran before.
  beforeEach(() => {
    for (const n of curl(engine.socket, ['http://d/networks']).body)
      if (!['bridge', 'host', 'none'].includes(n.Name))
        curl(engine.socket, ['-X', 'DELETE', `http://d/networks/${n.Id}`]);
  });
  after(async () => engine?.cleanup());

  const docker = (...args: string[]) => engine.docker(args);

  it('lists the predefined networks like dockerd', () => {
    const r = docker('network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Scope}}');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), ['bridge bridge local', 'host host local', 'none null local']);
    const inspect = JSON.parse(docker('network', 'inspect', 'bridge').stdout)[0];
    assert.equal(inspect.Driver, 'bridge');
    assert.equal(inspect.Options['com.docker.network.bridge.default_bridge'], 'true');
    assert.match(
      inspect.IPAM.Config[0].Subnet,
      /^10\.197\.\d+\.0\/24$/,
      'the default bridge comes from default-address-pools',
    );
    assert.equal(inspect.IPAM.Config[0].Gateway, inspect.IPAM.Config[0].Subnet.replace(/0\/24$/, '1'));
    assert.equal(inspect.Options['com.docker.network.bridge.name'].length <= 15, true);
  });

  it('creates, inspects, filters and removes a user network', () => {
    const c = docker('network', 'create', '--label', 'team=a', 'app');
    assert.equal(c.code, 0, c.stderr);
    const id = c.stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const n = JSON.parse(docker('network', 'inspect', 'app').stdout)[0];
    assert.equal(n.Id, id);
    assert.equal(n.Name, 'app');
    assert.equal(n.Scope, 'local');
    assert.equal(n.Driver, 'bridge');
    assert.deepEqual(n.Labels, { team: 'a' });
    assert.deepEqual(n.Containers, {});
    assert.match(n.IPAM.Config[0].Subnet, /^10\.197\.\d+\.0\/24$/);
    assert.notEqual(
      n.IPAM.Config[0].Subnet,
      JSON.parse(docker('network', 'inspect', 'bridge').stdout)[0].IPAM.Config[0].Subnet,
    );
    assert.ok(!Number.isNaN(Date.parse(n.Created)));
    // By ID prefix too.
    assert.equal(JSON.parse(docker('network', 'inspect', id.slice(0, 12)).stdout)[0].Name, 'app');

    const dup = docker('network', 'create', 'app');
    assert.equal(dup.code, 1);
    assert.equal(dup.stderr.trim(), 'Error response from daemon: network with name app already exists');
    assert.equal(
      curl(engine.socket, [
        '-X',
        'POST',
        '-H',
        'Content-Type: application/json',
        '-d',
        '{"Name":"app"}',
        'http://d/v1.45/networks/create',
      ]).code,
      409,
    );

    const sub = docker(
      'network',
      'create',
      '--subnet',
      `10.${o}.5.0/24`,
      '--gateway',
      `10.${o}.5.254`,
      '--internal',
      'backend',
    );
    assert.equal(sub.code, 0, sub.stderr);
    const b = JSON.parse(docker('network', 'inspect', 'backend').stdout)[0];
    assert.deepEqual(b.IPAM.Config, [{ Subnet: `10.${o}.5.0/24`, Gateway: `10.${o}.5.254` }]);
    assert.equal(b.Internal, true);
    const overlap = docker('network', 'create', '--subnet', `10.${o}.0.0/16`, 'clash');
    assert.equal(
      overlap.stderr.trim(),
      'Error response from daemon: Pool overlaps with other one on this address space',
    );
    assert.equal(
      docker('network', 'create', '-d', 'foo', 'x').stderr.trim(),
      'Error response from daemon: plugin "foo" not found',
    );

    const byLabel = docker('network', 'ls', '--filter', 'label=team=a', '--format', '{{.Name}}');
    assert.equal(byLabel.stdout.trim(), 'app');
    const custom = docker('network', 'ls', '--filter', 'type=custom', '--format', '{{.Name}}');
    assert.deepEqual(custom.stdout.trim().split('\n').sort(), ['app', 'backend']);
    assert.equal(docker('network', 'ls', '-q', '--filter', 'name=backe').stdout.trim(), b.Id.slice(0, 12));

    const rmBridge = docker('network', 'rm', 'bridge');
    // The CLI adds "exit status 1" after rm errors, as it does against dockerd.
    assert.equal(
      rmBridge.stderr.split('\n')[0],
      'Error response from daemon: bridge is a pre-defined network and cannot be removed',
    );
    assert.equal(curl(engine.socket, ['-X', 'DELETE', 'http://d/v1.45/networks/host']).code, 403);
    const missing = curl(engine.socket, ['-X', 'DELETE', 'http://d/v1.45/networks/nosuch']);
    assert.deepEqual([missing.code, missing.body], [404, { message: 'network nosuch not found' }]);

    assert.equal(docker('network', 'rm', 'backend').code, 0);
    assert.equal(docker('network', 'inspect', 'backend').code, 1);
  });

  it("refuses wrongly typed create bodies with Go's decoding errors (400), host/null drivers and predefined names, changing nothing", () => {
    const create = (body: unknown) =>
      curl(engine.socket, [
        '-X',
        'POST',
        '-H',
        'Content-Type: application/json',
        '-d',
        JSON.stringify(body),
        'http://d/v1.45/networks/create',
      ]);
    const field = (f: string, type: string, got: string) =>
      `json: cannot unmarshal ${got} into Go struct field ${f} of type ${type}`;
    const cases: [unknown, number, string][] = [
      [{ Name: 'typed', Labels: { a: 1 } }, 400, field('NetworkCreateRequest.Labels', 'string', 'number')],
      [{ Name: 'typed', labels: ['a'] }, 400, field('NetworkCreateRequest.Labels', 'map[string]string', 'array')],
      [{ Name: 'typed', Options: { mtu: 1500 } }, 400, field('NetworkCreateRequest.Options', 'string', 'number')],
      [{ Name: 'typed', Internal: 'yes' }, 400, field('NetworkCreateRequest.Internal', 'bool', 'string')],
      [{ Name: 'typed', EnableIPv6: 1 }, 400, field('NetworkCreateRequest.EnableIPv6', 'bool', 'number')],
      [{ Name: 'typed', IPAM: 'x' }, 400, field('NetworkCreateRequest.IPAM', 'network.IPAM', 'string')],
      [{ Name: 'typed', IPAM: { Config: {} } }, 400, field('IPAM.IPAM.Config', '[]network.IPAMConfig', 'object')],
      [
        { Name: 'typed', IPAM: { Config: [{ Subnet: 10 }] } },
        400,
        field('IPAMConfig.IPAM.Config.Subnet', 'string', 'number'),
      ],
      [{ Name: 7 }, 400, field('NetworkCreateRequest.Name', 'string', 'number')],
      [['typed'], 400, 'json: cannot unmarshal array into Go value of type types.NetworkCreateRequest'],
      [{ Name: 'typed', Driver: 'host' }, 403, 'only one instance of "host" network is allowed'],
      [{ Name: 'typed', Driver: 'null' }, 403, 'only one instance of "null" network is allowed'],
      [{ Name: 'host' }, 403, 'host is a pre-defined network and cannot be created'],
      [{ Name: 'none', Driver: 'bridge' }, 403, 'none is a pre-defined network and cannot be created'],
    ];
    for (const [body, code, message] of cases)
      assert.deepEqual(create(body), { code, body: { message } }, JSON.stringify(body));
    const cli = docker('network', 'create', '-d', 'host', 'typed');
    assert.equal(cli.stderr.trim(), 'Error response from daemon: only one instance of "host" network is allowed');
    assert.equal(docker('network', 'inspect', 'typed').code, 1, 'nothing was created');
    // null is a map's zero value, as in Go: "" for a label.
    const nulls = create({ Name: 'typed', Labels: { a: null }, Options: null, IPAM: null });
    assert.equal(nulls.code, 201, JSON.stringify(nulls.body));
    assert.deepEqual(JSON.parse(docker('network', 'inspect', 'typed').stdout)[0].Labels, { a: '' });
    assert.equal(docker('network', 'rm', 'typed').code, 0);
  });

  it('prunes unused user networks with label filters and keeps them across a restart', async () => {
    assert.equal(docker('network', 'create', '--label', 'keep=yes', 'kept').code, 0);
    assert.equal(docker('network', 'create', 'scratch').code, 0);
    assert.equal(docker('network', 'create', 'scratch2').code, 0);
    const pruneKept = curl(engine.socket, [
      '-X',
      'POST',
      `http://d/v1.45/networks/prune?filters=${encodeURIComponent(JSON.stringify({ 'label!': ['keep=yes'] }))}`,
    ]);
    assert.equal(pruneKept.code, 200);
    assert.deepEqual(pruneKept.body.NetworksDeleted.sort(), ['scratch', 'scratch2']);

    // Networks are state: a crashed engine comes back with them (and with the same default subnet).
    const before = JSON.parse(docker('network', 'inspect', 'bridge', 'kept').stdout);
    await engine.kill9();
    await engine.restart();
    const after = JSON.parse(docker('network', 'inspect', 'bridge', 'kept').stdout);
    assert.deepEqual(
      after.map((n: any) => [n.Id, n.IPAM.Config]),
      before.map((n: any) => [n.Id, n.IPAM.Config]),
    );

    const nothing = curl(engine.socket, [
      '-X',
      'POST',
      `http://d/v1.45/networks/prune?filters=${encodeURIComponent(JSON.stringify({ label: ['nosuch'] }))}`,
    ]);
    assert.deepEqual(nothing, { code: 200, body: { NetworksDeleted: null } }, 'none pruned: null, as dockerd says it');
    const p = docker('network', 'prune', '-f');
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /Deleted Networks:\nkept/);
    assert.deepEqual(docker('network', 'ls', '--format', '{{.Name}}').stdout.trim().split('\n').sort(), [
      'bridge',
      'host',
      'none',
    ]);
  });

  it('honours bip for the default bridge and emits network events', async () => {
    const other = await startEngine({ config: { bip: `10.${o}.3.1/24`, bridge: bridgeName } });
    try {
      const n = JSON.parse(other.docker(['network', 'inspect', 'bridge']).stdout)[0];
      assert.deepEqual(n.IPAM.Config, [{ Subnet: `10.${o}.3.0/24`, Gateway: `10.${o}.3.1` }]);
      assert.equal(n.Options['com.docker.network.bridge.name'], bridgeName);
      const since = Math.floor(Date.now() / 1000) - 1;
      assert.equal(other.docker(['network', 'create', 'evt']).code, 0);
      assert.equal(other.docker(['network', 'rm', 'evt']).code, 0);
      const ev = other.docker([
        'events',
        '--since',
        String(since),
        '--until',
        String(Math.floor(Date.now() / 1000) + 1),
        '--filter',
        'type=network',
        '--format',
        '{{.Action}} {{.Actor.Attributes.name}}',
      ]);
      assert.deepEqual(ev.stdout.trim().split('\n'), ['create evt', 'destroy evt']);
    } finally {
      await other.cleanup();
    }
    // The engine's state dir is gone: its subnet claims must not block anyone.
    assert.ok(!fs.existsSync(other.dataRoot));
  });
});
