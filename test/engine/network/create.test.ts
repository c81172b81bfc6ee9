// `docker network create` beyond the defaults, with the real docker CLI and the API, as dockerd answers: IPv6
// networks (addresses in inspect and inside, AAAA from the embedded DNS server, the subnet claimed host-wide),
// internal networks without egress, --ip-range, --aux-address, driver options, and the refusals (wrongly typed
// labels, -d host, duplicate names, overlapping pools). Traffic stays among the test's containers and the engine's
// own namespace.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { applyFileKeys, defaults } from '../../../src/engine/config';
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
      engine.docker([
        'rm',
        '-f',
        'six1',
        'six2',
        'sealed1',
        'sealed2',
        'ranged1',
        'ranged2',
        'opts1',
        'll1',
        'icc1',
        'icc2',
        'bound1',
      ]);
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

  it('--ip-range and --aux-address: addresses come from the range, never an aux address; both in inspect', async () => {
    const sub = `10.204.${n}`;
    ok(
      'network',
      'create',
      '--subnet',
      `${sub}.0/24`,
      '--ip-range',
      `${sub}.128/30`,
      '--aux-address',
      `router=${sub}.129`,
      '--aux-address',
      `printer=${sub}.130`,
      'ranged',
    );
    const cfg = inspect('ranged').IPAM.Config[0];
    assert.deepEqual(cfg, {
      Subnet: `${sub}.0/24`,
      Gateway: `${sub}.1`,
      IPRange: `${sub}.128/30`,
      AuxiliaryAddresses: { router: `${sub}.129`, printer: `${sub}.130` },
    });
    // The /30 holds .128-.131 (all of them host addresses of the /24, as dockerd counts); .129 and .130 are aux.
    const addr = (c: string) => JSON.parse(ok('inspect', c))[0].NetworkSettings.Networks.ranged.IPAddress;
    ok('run', '-d', '--name', 'ranged1', '--network', 'ranged', 'busybox', 'sleep', '600');
    ok('run', '-d', '--name', 'ranged2', '--network', 'ranged', 'busybox', 'sleep', '600');
    assert.deepEqual([addr('ranged1'), addr('ranged2')].sort(), [`${sub}.128`, `${sub}.131`]);
    assert.match(
      engine.docker(['run', '--rm', '--network', 'ranged', 'busybox', 'true']).stderr,
      /no IP addresses available/,
      'the range is full',
    );
    ok('rm', '-f', 'ranged2');
    ok('rm', '-f', 'ranged1');
    // (The docker CLI checks this itself; the API answers as dockerd.)
    const outside = await api('POST', '/networks/create', {
      Name: 'ranged-b',
      IPAM: { Config: [{ Subnet: `10.205.${n}.0/24`, AuxiliaryAddresses: { x: '10.9.9.9' } }] },
    });
    assert.equal(outside.status, 403);
    assert.match(outside.json.message, /auxiliary address: \(x:10\.9\.9\.9\) must belong to the master pool/);
    ok('network', 'rm', 'ranged');
  });

  it("driver options: the host bridge's name and the MTU, as given; labels and options in inspect", () => {
    const br = `brc${n}`;
    ok(
      'network',
      'create',
      '-o',
      `com.docker.network.bridge.name=${br}`,
      '-o',
      'com.docker.network.driver.mtu=1400',
      '--label',
      'team=blue',
      'opts',
    );
    const net = inspect('opts');
    assert.deepEqual(net.Options, { 'com.docker.network.bridge.name': br, 'com.docker.network.driver.mtu': '1400' });
    assert.deepEqual(net.Labels, { team: 'blue' });
    ok('run', '-d', '--name', 'opts1', '--network', 'opts', 'busybox', 'sleep', '600');
    assert.match(ok('exec', 'opts1', 'ip', 'link', 'show', 'eth0'), / mtu 1400 /);
    assert.ok(fs.existsSync(`/sys/class/net/${br}`), `the host bridge is ${br}`);
    assert.match(fails('network', 'create', '-o', `com.docker.network.bridge.name=${br}`, 'opts-b'), /already in use/);
    ok('rm', '-f', 'opts1');
    ok('network', 'rm', 'opts');
  });

  /** An address of the engine's namespace that is on no Berth bridge: what "outside" is for a container. */
  function ownAddress(): string {
    const own = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'scope', 'global'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l && !/ (br-|berth|brc)/.test(l))
      .map((l) => /inet (\S+)\//.exec(l)?.[1])
      .find(Boolean);
    assert.ok(own, 'the namespace has an address of its own');
    return own;
  }

  /** What an HTTP GET of host:port answers ('' when nothing does within 3 s). */
  function httpGet(host: string, port: number): Promise<string> {
    return new Promise((resolve) => {
      const req = http.get({ host, port, path: '/index.html', timeout: 3000 }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(''));
    });
  }

  const webServer = ['sh', '-c', 'echo peer > /tmp/index.html && exec httpd -f -p 80 -h /tmp'];

  it('enable_icc=false: peers cannot reach each other, egress and published ports still work; in inspect', async () => {
    const server = http.createServer((_req, res) => res.end('outside\n'));
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', () => r()));
    const port = (server.address() as any).port;
    try {
      const own = ownAddress();
      ok('network', 'create', '-o', 'com.docker.network.bridge.enable_icc=false', 'noicc');
      const net = inspect('noicc');
      assert.deepEqual(net.Options, { 'com.docker.network.bridge.enable_icc': 'false' });
      ok('run', '-d', '--name', 'icc1', '--network', 'noicc', '-p', '127.0.0.1::80', 'busybox', ...webServer);
      ok('run', '-d', '--name', 'icc2', '--network', 'noicc', 'busybox', 'sleep', '600');
      const ip1 = JSON.parse(ok('inspect', 'icc1'))[0].NetworkSettings.Networks.noicc.IPAddress;
      const fetch = (target: string, p: number) =>
        engine.dockerAsync([
          'exec',
          'icc2',
          'sh',
          '-c',
          `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${target} ${p}`,
        ]);
      assert.doesNotMatch((await fetch(ip1, 80)).stdout, /peer/, 'a peer on the network is unreachable');
      assert.doesNotMatch((await fetch('icc1', 80)).stdout, /peer/, 'by name neither');
      assert.match((await fetch(own, port)).stdout, /outside/, 'egress works');
      const hostPort = Number(JSON.parse(ok('inspect', 'icc1'))[0].NetworkSettings.Ports['80/tcp'][0].HostPort);
      assert.match(await httpGet('127.0.0.1', hostPort), /^peer$/m, 'the published port answers');
      const bridge = `br-${net.Id.slice(0, 12)}`;
      const filter = execFileSync('iptables-save', ['-t', 'filter'], { encoding: 'utf8' });
      assert.match(filter, new RegExp(`-A BERTH-FORWARD -i ${bridge} -o ${bridge} .*-j DROP`));
      ok('rm', '-f', 'icc1', 'icc2');
      ok('network', 'rm', 'noicc');
      assert.doesNotMatch(execFileSync('iptables-save', ['-t', 'filter'], { encoding: 'utf8' }), new RegExp(bridge));
      // dockerd's words (and status) for a value ParseBool refuses; nothing made.
      const bad = await api('POST', '/networks/create', {
        Name: 'icc-bad',
        Options: { 'com.docker.network.bridge.enable_icc': 'maybe' },
      });
      assert.equal(bad.status, 500);
      assert.equal(
        bad.json.message,
        'failed to parse com.docker.network.bridge.enable_icc value: maybe (strconv.ParseBool: parsing "maybe": invalid syntax)',
      );
      assert.equal(fails('network', 'inspect', 'icc-bad').length > 0, true);
    } finally {
      server.close();
    }
  });

  it('host_binding_ipv4: the host address of a -p without one, in NetworkSettings.Ports and as bound', async () => {
    const own = ownAddress();
    ok('network', 'create', '-o', 'com.docker.network.bridge.host_binding_ipv4=127.0.0.1', 'bound');
    assert.deepEqual(inspect('bound').Options, { 'com.docker.network.bridge.host_binding_ipv4': '127.0.0.1' });
    ok(
      'run',
      '-d',
      '--name',
      'bound1',
      '--network',
      'bound',
      '-p',
      '80',
      '-p',
      `${own}::8080`,
      'busybox',
      ...webServer,
    );
    const ports = JSON.parse(ok('inspect', 'bound1'))[0].NetworkSettings.Ports;
    assert.equal(ports['80/tcp'].length, 1);
    assert.equal(ports['80/tcp'][0].HostIp, '127.0.0.1');
    assert.equal(ports['8080/tcp'][0].HostIp, own, 'an explicit host IP is kept');
    const hostPort = Number(ports['80/tcp'][0].HostPort);
    assert.match(ok('port', 'bound1', '80'), new RegExp(`^127\\.0\\.0\\.1:${hostPort}$`));
    assert.match(await httpGet('127.0.0.1', hostPort), /^peer$/m, 'published on 127.0.0.1');
    assert.equal(await httpGet(own, hostPort), '', 'and only there');
    ok('rm', '-f', 'bound1');
    ok('network', 'rm', 'bound');
    const bad = await api('POST', '/networks/create', {
      Name: 'bound-bad',
      Options: { 'com.docker.network.bridge.host_binding_ipv4': 'nope' },
    });
    assert.equal(bad.status, 500);
    assert.equal(bad.json.message, 'failed to parse com.docker.network.bridge.host_binding_ipv4 value: nope (nil ip)');
  });

  it('--internal: no route out of the network, the host beyond its gateway unreachable; peers still are', async () => {
    // A server of this test, on every address of the engine's namespace.
    const server = http.createServer((_req, res) => res.end('outside\n'));
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', () => r()));
    const port = (server.address() as any).port;
    try {
      const own = ownAddress();
      ok('network', 'create', '--internal', 'sealed');
      ok('network', 'create', 'open');
      ok('run', '-d', '--name', 'sealed1', '--network', 'sealed', 'busybox', 'sleep', '600');
      const get = (c: string) =>
        engine.dockerAsync(['exec', c, 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${own} ${port}`]);
      const out = await engine.dockerAsync([
        'run',
        '--rm',
        '--network',
        'open',
        'busybox',
        'sh',
        '-c',
        `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${own} ${port}`,
      ]);
      assert.match(out.stdout, /outside/, 'a container on a normal network gets out');
      const sealed = await get('sealed1');
      assert.doesNotMatch(sealed.stdout, /outside/);
      assert.doesNotMatch(ok('exec', 'sealed1', 'ip', 'route'), /^default/m, 'no default route');
      assert.equal(inspect('sealed').Internal, true);
      // And were a route out added (a container with NET_ADMIN can), the host forwards nothing that leaves the
      // subnet, as dockerd's rules for internal networks.
      const sealedNet = inspect('sealed');
      const bridge = `br-${sealedNet.Id.slice(0, 12)}`;
      const subnet = sealedNet.IPAM.Config[0].Subnet.replace(/\./g, '\\.');
      const filter = execFileSync('iptables-save', ['-t', 'filter'], { encoding: 'utf8' });
      assert.match(filter, new RegExp(`-A BERTH-ISOLATION-STAGE-1 ! -d ${subnet} -i ${bridge} .*-j DROP`));
      assert.match(filter, new RegExp(`-A BERTH-ISOLATION-STAGE-1 ! -s ${subnet} -o ${bridge} .*-j DROP`));
      // Peers on it reach each other.
      ok(
        'run',
        '-d',
        '--name',
        'sealed2',
        '--network',
        'sealed',
        'busybox',
        'sh',
        '-c',
        'echo peer > /tmp/index.html && exec httpd -f -p 80 -h /tmp',
      );
      const peer = await engine.dockerAsync([
        'exec',
        'sealed1',
        'sh',
        '-c',
        "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 sealed2 80",
      ]);
      assert.match(peer.stdout, /^peer$/m);
      ok('rm', '-f', 'sealed1', 'sealed2');
      ok('network', 'rm', 'sealed', 'open');
    } finally {
      server.close();
    }
  });

  it('--link-local-ip on run and on network connect: on the interface, in inspect, kept across a restart', async () => {
    ok('network', 'create', 'linked');
    ok('network', 'create', 'linked2');
    ok(
      'run',
      '-d',
      '--name',
      'll1',
      '--network',
      'linked',
      '--link-local-ip',
      '169.254.7.7',
      'busybox',
      'sleep',
      '600',
    );
    assert.match(ok('exec', 'll1', 'ip', '-4', 'addr', 'show', 'eth0'), /inet 169\.254\.7\.7\/16 /);
    const cfg = () => JSON.parse(ok('inspect', 'll1'))[0].NetworkSettings.Networks;
    assert.deepEqual(cfg().linked.IPAMConfig, { LinkLocalIPs: ['169.254.7.7'] });
    ok('network', 'connect', '--link-local-ip', '169.254.8.8', 'linked2', 'll1');
    assert.match(ok('exec', 'll1', 'ip', '-4', 'addr', 'show', 'eth1'), /inet 169\.254\.8\.8\/16 /);
    assert.deepEqual(cfg().linked2.IPAMConfig, { LinkLocalIPs: ['169.254.8.8'] });
    ok('restart', '-t', '0', 'll1');
    const addrs = ok('exec', 'll1', 'ip', '-4', '-o', 'addr');
    assert.match(addrs, /169\.254\.7\.7\/16/);
    assert.match(addrs, /169\.254\.8\.8\/16/);
    const bad = await api('POST', '/containers/create', {
      Image: 'busybox',
      NetworkingConfig: { EndpointsConfig: { linked: { IPAMConfig: { LinkLocalIPs: ['nope'] } } } },
    });
    assert.equal(bad.status, 400);
    assert.match(bad.json.message, /invalid link-local IP address: nope/);
    ok('rm', '-f', 'll1');
    ok('network', 'rm', 'linked', 'linked2');
  });
});

describe("daemon.json icc and ip: the default bridge's enable_icc and host_binding_ipv4", function () {
  this.timeout(180000);
  let registry: Registry;
  let engine: TestEngine;
  const ok = (...args: string[]) => {
    const r = engine.docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };

  before(async function () {
    requireDockerCli(this);
    registry = await startRegistry();
    await seedMirror(registry);
    engine = await startEngine({
      config: {
        'registry-mirrors': [registry.url],
        'default-address-pools': [{ base: '10.207.0.0/16', size: 24 }],
        icc: false,
        ip: '127.0.0.1',
      },
    });
    ok('pull', 'busybox');
  });

  after(async () => {
    if (engine) {
      engine.docker(['rm', '-f', 'dflt1', 'dflt2']);
      await engine.cleanup();
    }
    await registry?.stop();
  });

  it('daemon.json refuses an icc that is not a boolean and an ip that is not an address', () => {
    assert.throws(() => applyFileKeys(defaults(), { icc: 'no' }), /icc must be true or false/);
    assert.throws(() => applyFileKeys(defaults(), { ip: 'localhost' }), /invalid ip address: localhost/);
    const cfg = applyFileKeys(defaults(), { icc: false, ip: '127.0.0.1' });
    assert.equal(cfg.icc, false);
    assert.equal(cfg.ip, '127.0.0.1');
  });

  it('containers on the default bridge cannot reach each other; -p binds 127.0.0.1; both in inspect', async () => {
    const options = JSON.parse(ok('network', 'inspect', 'bridge'))[0].Options;
    assert.equal(options['com.docker.network.bridge.enable_icc'], 'false');
    assert.equal(options['com.docker.network.bridge.host_binding_ipv4'], '127.0.0.1');
    ok(
      'run',
      '-d',
      '--name',
      'dflt1',
      '-p',
      '80',
      'busybox',
      'sh',
      '-c',
      'echo peer > /tmp/index.html && exec httpd -f -p 80 -h /tmp',
    );
    ok('run', '-d', '--name', 'dflt2', 'busybox', 'sleep', '600');
    const c1 = JSON.parse(ok('inspect', 'dflt1'))[0];
    const binding = c1.NetworkSettings.Ports['80/tcp'][0];
    assert.equal(binding.HostIp, '127.0.0.1');
    const got = await engine.dockerAsync([
      'exec',
      'dflt2',
      'sh',
      '-c',
      `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${c1.NetworkSettings.Networks.bridge.IPAddress} 80`,
    ]);
    assert.doesNotMatch(got.stdout, /peer/, 'a peer on the default bridge is unreachable');
    const viaHost = await new Promise<string>((resolve) => {
      const req = http.get(
        { host: '127.0.0.1', port: Number(binding.HostPort), path: '/index.html', timeout: 3000 },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve(text));
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(''));
    });
    assert.match(viaHost, /^peer$/m, 'the published port answers on 127.0.0.1');
  });
});
