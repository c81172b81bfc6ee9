// `docker network create` beyond the defaults, with the real docker CLI and the API, as dockerd answers: IPv6
// networks (addresses in inspect and inside, AAAA from the embedded DNS server, the subnet claimed host-wide),
// internal networks without egress, --ip-range, --aux-address, driver options, and the refusals (wrongly typed
// labels, -d host, duplicate names, overlapping pools). Traffic stays among the test's containers and the engine's
// own namespace.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { HOST_STATE_DIR } from '../../../src/engine/network/host';
import { type Registry, seedMirror, startRegistry } from '../../fixtures';
import { requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';

describe('network create: IPv6, internal, ranges and options', function () {
  this.timeout(180000);
  let registry: Registry;
  let engine: TestEngine;
  const ok = (...args: string[]) => {
    const r = engine.docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const fails = (...args: string[]) => {
    const r = engine.docker(args);
    assert.notEqual(r.code, 0, `docker ${args.join(' ')} should fail`);
    return r.stderr.trim();
  };
  const inspect = (name: string) => JSON.parse(ok('network', 'inspect', name))[0];
  /** A raw API call (for bodies the CLI cannot send). */
  const api = (method: string, path: string, body?: unknown) =>
    new Promise<{ status: number; json: any }>((resolve, reject) => {
      const req = http.request(
        { socketPath: engine.socket, method, path, headers: { 'content-type': 'application/json' } },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, json: text ? JSON.parse(text) : undefined }));
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  // Subnets of this run's own: the same test may run in another engine on the machine at the same time.
  const n = 16 + Math.floor(Math.random() * 200);
  const v6 = `2001:db8:${n.toString(16)}::/64`;

  before(async function () {
    requireDockerCli(this);
    registry = await startRegistry();
    await seedMirror(registry);
    engine = await startEngine({
      config: { 'registry-mirrors': [registry.url], 'default-address-pools': [{ base: '10.203.0.0/16', size: 24 }] },
    });
    ok('pull', 'busybox');
  });

  after(async () => {
    if (engine) {
      engine.docker(['rm', '-f', 'six1', 'six2', 'sealed1', 'ranged', 'opts1']);
      await engine.cleanup();
    }
    await registry?.stop();
  });

  it('--ipv6 --subnet: IPv6 addresses in inspect and inside, reachable and named over IPv6; the subnet claimed', async () => {
    ok('network', 'create', '--ipv6', '--subnet', v6, 'six');
    const net = inspect('six');
    assert.equal(net.EnableIPv6, true);
    const v6cfg = net.IPAM.Config.find((c: any) => c.Subnet.includes(':'));
    assert.deepEqual(v6cfg, { Subnet: v6, Gateway: v6.replace('::/64', '::1') });
    assert.ok(
      net.IPAM.Config.some((c: any) => /^10\.203\./.test(c.Subnet)),
      'an IPv4 subnet too',
    );
    const claims = fs.readdirSync(`${HOST_STATE_DIR}/subnets`);
    assert.ok(claims.includes(v6.replace('/', '_')), 'the IPv6 subnet is claimed host-wide');

    ok('run', '-d', '--name', 'six1', '--network', 'six', 'busybox', 'sleep', '600');
    ok('run', '-d', '--name', 'six2', '--network', 'six', 'busybox', 'sleep', '600');
    const ep = JSON.parse(ok('inspect', 'six1'))[0].NetworkSettings.Networks.six;
    const prefix = v6.replace('::/64', '::');
    assert.ok(ep.GlobalIPv6Address.startsWith(prefix), ep.GlobalIPv6Address);
    assert.equal(ep.GlobalIPv6PrefixLen, 64);
    assert.equal(ep.IPv6Gateway, `${prefix}1`);
    assert.match(ep.IPAddress, /^10\.203\./);
    assert.match(
      ok('exec', 'six1', 'ip', '-6', 'addr', 'show', 'eth0'),
      new RegExp(`inet6 ${ep.GlobalIPv6Address}/64`),
    );
    assert.equal(
      inspect('six').Containers[JSON.parse(ok('inspect', 'six1'))[0].Id].IPv6Address,
      `${ep.GlobalIPv6Address}/64`,
    );
    const ip2 = JSON.parse(ok('inspect', 'six2'))[0].NetworkSettings.Networks.six.GlobalIPv6Address;
    const ping = await engine.dockerAsync(['exec', 'six1', 'ping', '-6', '-c', '1', '-W', '5', ip2]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    // The embedded DNS server answers AAAA with it.
    const ns = await engine.dockerAsync(['exec', 'six1', 'nslookup', '-type=aaaa', 'six2']);
    assert.match(ns.stdout, new RegExp(`^Address: ${ip2}$`, 'm'));

    // Another network on an overlapping IPv6 pool is refused as dockerd refuses it; an IPv6 subnet needs --ipv6.
    assert.match(fails('network', 'create', '--ipv6', '--subnet', v6.replace('/64', '/56'), 'six-b'), /Pool overlaps/);
    assert.match(fails('network', 'create', '--subnet', v6, 'six-c'), /IPv6 is not enabled/);
    // --ipv6 alone: a unique local /64 of the engine's own.
    ok('network', 'create', '--ipv6', 'ula');
    const ula = inspect('ula').IPAM.Config.find((c: any) => c.Subnet.includes(':'));
    assert.match(ula.Subnet, /^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
    ok('network', 'rm', 'ula');
    ok('rm', '-f', 'six1', 'six2');
    ok('network', 'rm', 'six');
    assert.ok(!fs.readdirSync(`${HOST_STATE_DIR}/subnets`).includes(v6.replace('/', '_')), 'the claim goes with it');
  });

  it('refuses what dockerd refuses: wrongly typed labels (400), -d host (403), a duplicate name (409)', async () => {
    const typed = await api('POST', '/networks/create', { Name: 'typed', Labels: { a: 1 } });
    assert.equal(typed.status, 400);
    assert.match(
      typed.json.message,
      /cannot unmarshal number into Go struct field NetworkCreateRequest\.Labels of type string/,
    );
    const typed2 = await api('POST', '/networks/create', { Name: 'typed', Internal: 'yes' });
    assert.equal(typed2.status, 400);
    assert.match(fails('network', 'create', '-d', 'host', 'myhost'), /only one instance of "host" network is allowed/);
    const r = await api('POST', '/networks/create', { Name: 'myhost', Driver: 'host' });
    assert.equal(r.status, 403);
    ok('network', 'create', 'twice');
    const dup = await api('POST', '/networks/create', { Name: 'twice' });
    assert.equal(dup.status, 409);
    assert.equal(dup.json.message, 'network with name twice already exists');
    ok('network', 'rm', 'twice');
    assert.ok(!ok('network', 'ls', '--format', '{{.Name}}').split('\n').includes('typed'), 'nothing was made');
  });
});
