import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as dnsPacket from 'dns-packet';
import { DnsServer } from '../../../src/engine/network/dns';
import { answerLocally, type DnsView, ptrAddress } from '../../../src/engine/network/dnsanswers';
import {
  buildHosts,
  buildInternalResolvConf,
  buildResolvConf,
  hostResolvConfPath,
  parseExtraHost,
} from '../../../src/engine/network/hostfiles';
import { hostRoutes, ipRoutes, parseProcRoutes, parseRouteText } from '../../../src/engine/network/host';
import { hostPortCandidates, PortReservations, portMap, wantedBindings } from '../../../src/engine/network/ports';
import {
  defaultPools,
  formatCidr,
  overlaps,
  parseCidr,
  pickSubnet,
  routeSubnets,
} from '../../../src/engine/network/subnets';

describe('network: subnets', () => {
  it('parses and compares CIDRs', () => {
    assert.equal(formatCidr(parseCidr('172.17.5.9/16')!), '172.17.0.0/16');
    assert.equal(parseCidr('172.17.5.9/16', true), undefined, 'host bits are refused in strict mode');
    assert.equal(parseCidr('300.1.1.1/8'), undefined);
    assert.equal(parseCidr('10.0.0.0/33'), undefined);
    assert.ok(overlaps(parseCidr('10.0.0.0/8')!, parseCidr('10.1.2.0/24')!));
    assert.ok(!overlaps(parseCidr('172.17.0.0/16')!, parseCidr('172.18.0.0/16')!));
  });

  it('picks 172.17.0.0/16 first, and the next free /16 when a host route or another network covers it', () => {
    const pools = defaultPools();
    assert.equal(formatCidr(pickSubnet(pools, [])!), '172.17.0.0/16');
    const routes = routeSubnets(
      [
        { dst: 'default', dev: 'eth0' },
        { dst: '172.17.3.0/24', dev: 'eth1' },
        { dst: '192.0.2.0/24', dev: 'eth0' },
      ],
      new Set(),
    );
    assert.equal(formatCidr(pickSubnet(pools, routes)!), '172.18.0.0/16');
    // Our own bridge's route does not count against us.
    const own = routeSubnets([{ dst: '172.17.0.0/16', dev: 'berth0' }], new Set(['berth0']));
    assert.equal(formatCidr(pickSubnet(pools, own)!), '172.17.0.0/16');
    // Past 172.31 come the /20s of 192.168.
    const all172 = [parseCidr('172.16.0.0/12')!];
    assert.equal(formatCidr(pickSubnet(pools, all172)!), '192.168.0.0/20');
    assert.equal(formatCidr(pickSubnet(pools, [...all172, parseCidr('192.168.0.0/20')!])!), '192.168.16.0/20');
  });

  it('honours default-address-pools and reports exhaustion', () => {
    const pools = [{ base: '10.20.0.0/22', size: 24 }];
    const taken = [parseCidr('10.20.0.0/24')!, parseCidr('10.20.1.0/24')!];
    assert.equal(formatCidr(pickSubnet(pools, taken)!), '10.20.2.0/24');
    assert.equal(pickSubnet(pools, [parseCidr('10.20.0.0/22')!]), undefined);
  });
});

describe('network: hosts and resolv.conf', () => {
  it("writes Docker's hosts layout with add-hosts and the container itself", () => {
    const text = buildHosts({
      self: { ip: '10.5.0.2', names: ['abc123', 'web'] },
      extraHosts: [parseExtraHost('db.local:10.9.9.9', undefined), parseExtraHost('gw:host-gateway', '172.17.0.1')],
    });
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], '127.0.0.1\tlocalhost');
    assert.equal(lines[1], '::1\tlocalhost ip6-localhost ip6-loopback');
    assert.deepEqual(lines.slice(6), ['10.9.9.9\tdb.local', '172.17.0.1\tgw', '10.5.0.2\tabc123 web']);
    assert.throws(() => parseExtraHost('nocolon', undefined), /invalid IP address in add-host/);
    assert.throws(() => parseExtraHost('x:notanip', undefined), /invalid IP address/);
  });

  it("drops loopback nameservers from the host's resolv.conf and falls back to Docker's defaults", () => {
    const host = '# comment\nnameserver 127.0.0.53\nnameserver 10.1.1.1\nsearch corp.example\noptions edns0\n';
    assert.equal(buildResolvConf(host, {}), '# comment\nnameserver 10.1.1.1\nsearch corp.example\noptions edns0\n');
    assert.equal(
      buildResolvConf('nameserver 127.0.0.1\nnameserver ::1\n', {}),
      'nameserver 8.8.8.8\nnameserver 8.8.4.4\n',
    );
    assert.equal(buildResolvConf(host, { keepLoopback: true }), host);
    assert.equal(
      buildResolvConf(host, { dns: ['9.9.9.9'], dnsSearch: ['a.test'], dnsOptions: ['ndots:2'] }),
      '# comment\nnameserver 9.9.9.9\nsearch a.test\noptions ndots:2\n',
    );
  });

  it("looks past systemd-resolved's stub to the real resolvers", () => {
    const files: Record<string, string> = {
      '/etc/resolv.conf': 'nameserver 127.0.0.53\n',
      '/run/systemd/resolve/resolv.conf': 'nameserver 10.0.0.2\n',
    };
    assert.equal(
      hostResolvConfPath((p) => files[p]),
      '/run/systemd/resolve/resolv.conf',
    );
    files['/etc/resolv.conf'] = 'nameserver 10.0.0.2\n';
    assert.equal(
      hostResolvConfPath((p) => files[p]),
      '/etc/resolv.conf',
    );
  });
});

describe('network: the embedded DNS server', () => {
  it("writes moby's resolv.conf for the internal resolver, keeping the host's servers aside", () => {
    const host =
      'nameserver 127.0.0.53\nnameserver 10.1.1.1\nsearch corp.example\noptions edns0 ndots:x\nsortlist 10.0.0.0\n';
    const rc = buildInternalResolvConf(host, '/etc/resolv.conf', { internalNs: '127.0.0.11' });
    assert.deepEqual(rc.upstreams, ['127.0.0.53', '10.1.1.1']);
    assert.deepEqual(rc.containerLoopback, [], "the host's loopback servers are asked from the host");
    assert.equal(rc.ndotsSet, false);
    const own = buildInternalResolvConf(host, '/etc/resolv.conf', {
      internalNs: '127.0.0.11',
      dns: ['10.2.2.2', '127.0.0.1'],
    });
    assert.deepEqual(own.containerLoopback, ['127.0.0.1'], "--dns on loopback: the container's own");
    assert.match(own.content, /^# ExtServers: \[10\.2\.2\.2 127\.0\.0\.1\]$/m);
    assert.equal(
      rc.content,
      [
        '# Generated by Docker Engine.',
        '# This file can be edited; Docker Engine will not make further changes once it',
        '# has been modified.',
        '',
        'nameserver 127.0.0.11',
        'search corp.example',
        'options edns0 ndots:0',
        'sortlist 10.0.0.0',
        '',
        "# Based on host file: '/etc/resolv.conf' (internal resolver)",
        '# ExtServers: [host(127.0.0.53) 10.1.1.1]',
        '# Overrides: []',
        '# Option ndots from: internal',
        '',
      ].join('\n'),
    );
    const none = buildInternalResolvConf('', '/etc/resolv.conf', {
      internalNs: '127.0.0.11',
      dnsOptions: ['ndots:3'],
    });
    assert.deepEqual(none.upstreams, ['8.8.8.8', '8.8.4.4']);
    assert.equal(none.ndotsSet, true);
    assert.match(none.content, /^# Used default nameservers\.$/m);
    assert.match(none.content, /^# Option ndots from: override$/m);
  });

  const view: DnsView = {
    networks: [
      {
        name: 'app',
        endpoints: [
          { names: ['web1', 'web', 'aaaaaaaaaaaa'], ipv4: '10.0.0.2' },
          { names: ['web2', 'web'], ipv4: '10.0.0.3', ipv6: 'fd00::3' },
        ],
      },
      { name: 'back.end', endpoints: [{ names: ['db'], ipv4: '10.1.0.2' }] },
    ],
  };
  const ask = (type: any, name: string, turn = 0) => answerLocally(view, { type, name, class: 'IN' }, turn);
  const datas = (a: ReturnType<typeof ask>) => (a.kind === 'answer' ? a.answers.map((x: any) => x.data) : a.kind);

  it('answers A/AAAA/PTR/MX for names it owns, in turn behind one alias, and forwards the rest', () => {
    assert.deepEqual(datas(ask('A', 'web1')), ['10.0.0.2']);
    assert.deepEqual(datas(ask('A', 'WEB1.')), ['10.0.0.2']);
    assert.deepEqual(datas(ask('A', 'web', 0)), ['10.0.0.2', '10.0.0.3']);
    assert.deepEqual(datas(ask('A', 'web', 1)), ['10.0.0.3', '10.0.0.2']);
    assert.deepEqual(datas(ask('A', 'db.back.end')), ['10.1.0.2'], 'name.network, the network name with a dot');
    assert.deepEqual(datas(ask('A', 'web1.app')), ['10.0.0.2']);
    assert.deepEqual(datas(ask('AAAA', 'web1')), [], 'known without IPv6: empty NOERROR, not forwarded');
    assert.deepEqual(datas(ask('AAAA', 'web2')), ['fd00::3']);
    assert.deepEqual(datas(ask('MX', 'web1')), []);
    assert.deepEqual(datas(ask('PTR', '3.0.0.10.in-addr.arpa')), ['web2.app']);
    const fd003 = `3.0.0.0.${'0.'.repeat(24)}0.0.d.f.ip6.arpa`;
    assert.equal(ptrAddress(fd003), 'fd00:0000:0000:0000:0000:0000:0000:0003');
    assert.deepEqual(datas(ask('PTR', fd003)), ['web2.app']);
    assert.equal(ask('A', 'example.com').kind, 'forward');
    assert.equal(ask('TXT', 'web1').kind, 'forward');
    assert.equal(ask('PTR', '9.9.9.9.in-addr.arpa').kind, 'forward');
  });

  it('answers over its own rules: SERVFAIL with no upstreams, NOERROR for single labels with ndots set, a bad packet ignored', async () => {
    let asker = { view, upstreams: [] as string[], ndotsSet: false };
    const server = new DnsServer(() => asker);
    const query = (name: string, type: any = 'A') =>
      dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });
    const decode = async (name: string, type: any = 'A') =>
      dnsPacket.decode((await server.handle('n', query(name, type), '10.0.0.9', 'udp'))!) as any;
    const web = await decode('web');
    assert.equal(web.id, 7);
    assert.equal(web.rcode, 'NOERROR');
    assert.ok(web.flag_ra && web.flag_rd);
    assert.deepEqual(
      web.answers.map((a: any) => [a.type, a.ttl, a.data]),
      [
        ['A', 600, '10.0.0.2'],
        ['A', 600, '10.0.0.3'],
      ],
    );
    assert.equal((await decode('web')).answers[0].data, '10.0.0.3', 'the next query gets the other first');
    assert.equal((await decode('example.com')).rcode, 'SERVFAIL');
    asker = { ...asker, ndotsSet: true };
    const single = await decode('nosuchhost');
    assert.equal(single.rcode, 'NOERROR');
    assert.deepEqual(single.answers, []);
    assert.equal(await server.handle('n', Buffer.from('junk'), '10.0.0.9', 'udp'), undefined);
  });
});

describe('network: port bindings', () => {
  it('turns PortBindings, ExposedPorts and PublishAllPorts into bindings', () => {
    const { wanted, exposed } = wantedBindings({
      portBindings: { '80/tcp': [{ hostIp: '127.0.0.1', hostPort: '8080' }], '53/udp': [{ hostPort: '' }] },
      exposedPorts: ['443/tcp', '80/tcp'],
      publishAll: true,
    });
    assert.deepEqual(exposed.sort(), ['443/tcp', '53/udp', '80/tcp']);
    assert.deepEqual(
      wanted.map((w) => [w.key, w.hostIp, w.candidates]),
      [
        ['80/tcp', '127.0.0.1', [8080]],
        ['53/udp', '0.0.0.0', [0]],
        ['443/tcp', '0.0.0.0', [0]],
      ],
    );
    assert.deepEqual(hostPortCandidates('8000-8002'), [8000, 8001, 8002]);
    assert.throws(() => hostPortCandidates('70000'), /invalid hostPort/);
    assert.throws(() => wantedBindings({ portBindings: { 'x/tcp': [] } }), /invalid port specification/);
    assert.deepEqual(
      portMap(['443/tcp', '80/tcp'], [{ hostIp: '0.0.0.0', hostPort: 32768, containerPort: 80, protocol: 'tcp' }]),
      { '443/tcp': null, '80/tcp': [{ hostIp: '0.0.0.0', hostPort: '32768' }] },
    );
  });

  it("holds ports: a second claim fails with Docker's message and a random port is a real free one", async () => {
    const res = new PortReservations();
    try {
      const [a] = await res.reserve('c1', [
        { hostIp: '127.0.0.1', candidates: [0], containerPort: 80, protocol: 'tcp', key: '80/tcp' },
      ]);
      assert.ok(a.hostPort > 0);
      // The port really is held: nobody else on the host can bind it.
      await assert.rejects(
        new Promise((resolve, reject) => {
          const s = net
            .createServer()
            .once('error', reject)
            .listen(a.hostPort, '127.0.0.1', () => {
              s.close();
              resolve(undefined);
            });
        }),
        /EADDRINUSE/,
      );
      await assert.rejects(
        res.reserve('c2', [
          { hostIp: '0.0.0.0', candidates: [a.hostPort], containerPort: 80, protocol: 'tcp', key: '80/tcp' },
        ]),
        new RegExp(`^Error: Bind for 0\\.0\\.0\\.0:${a.hostPort} failed: port is already allocated$`),
      );
      // All or nothing: the first port of a failing request is let go again.
      const [free] = await res.reserve('probe', [
        { hostIp: '127.0.0.1', candidates: [0], containerPort: 1, protocol: 'tcp', key: '1/tcp' },
      ]);
      res.release('probe');
      await assert.rejects(
        res.reserve('c3', [
          { hostIp: '127.0.0.1', candidates: [free.hostPort], containerPort: 81, protocol: 'tcp', key: '81/tcp' },
          { hostIp: '127.0.0.1', candidates: [a.hostPort], containerPort: 80, protocol: 'tcp', key: '80/tcp' },
        ]),
        /port is already allocated/,
      );
      await res.reserve('c4', [
        { hostIp: '127.0.0.1', candidates: [free.hostPort], containerPort: 81, protocol: 'tcp', key: '81/tcp' },
      ]);
      res.release('c1');
      await res.reserve('c5', [
        { hostIp: '0.0.0.0', candidates: [a.hostPort], containerPort: 80, protocol: 'tcp', key: '80/tcp' },
      ]);
    } finally {
      res.releaseAll();
    }
  });
});

describe('network: host routes from /proc/net/route', () => {
  it("reads the main table as ip does: default, device routes, a host route, a blackhole's missing device", () => {
    const ns = `berth-routes-${process.pid}`;
    const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
    ip('netns', 'add', ns);
    try {
      ip('-n', ns, 'link', 'add', 'dummy0', 'type', 'veth', 'peer', 'name', 'dummy1');
      ip('-n', ns, 'link', 'set', 'dummy1', 'up');
      ip('-n', ns, 'link', 'set', 'dummy0', 'up');
      ip('-n', ns, 'addr', 'add', '10.77.0.1/16', 'dev', 'dummy0');
      ip('-n', ns, 'route', 'add', 'default', 'via', '10.77.0.254');
      ip('-n', ns, 'route', 'add', '10.5.5.5', 'dev', 'dummy0');
      ip('-n', ns, 'route', 'add', 'blackhole', '10.99.0.0/16');
      const routes = parseProcRoutes(ip('netns', 'exec', ns, 'cat', '/proc/net/route'));
      const viaIp = (JSON.parse(ip('-n', ns, '-j', '-4', 'route', 'show', 'table', 'main')) as any[]).map((r) => ({
        dst: r.dst === 'default' || r.dst.includes('/') ? r.dst : `${r.dst}/32`,
        ...(r.dev ? { dev: r.dev } : {}),
      }));
      const key = (r: { dst: string; dev?: string }) => `${r.dst} ${r.dev ?? '-'}`;
      assert.deepEqual(routes.map(key).sort(), viaIp.map(key).sort());
      assert.deepEqual(routes.map(key).sort(), [
        '10.5.5.5/32 dummy0',
        '10.77.0.0/16 dummy0',
        '10.99.0.0/16 -',
        'default dummy0',
      ]);
    } finally {
      ip('netns', 'del', ns);
    }
  });

  it("hostRoutes is this namespace's table", async () => {
    const key = (r: { dst: string; dev?: string }) => `${r.dst} ${r.dev ?? '-'}`;
    const viaIp = (await ipRoutes()).map((r) => ({
      dst: r.dst === 'default' || r.dst.includes('/') ? r.dst : `${r.dst}/32`,
      dev: r.dev,
    }));
    assert.deepEqual((await hostRoutes()).map(key).sort(), viaIp.map(key).sort());
  });
});

describe('network: host routes on an iproute2 without -j (CentOS 7)', () => {
  it('reads the text form of `ip route`', () => {
    const routes = parseRouteText(
      [
        'default via 10.0.2.2 dev eth0 proto dhcp metric 100',
        '10.0.2.0/24 dev eth0 proto kernel scope link src 10.0.2.15',
        'blackhole 10.99.0.0/16 proto static',
        '172.18.0.0/16 dev br-1 proto kernel scope link src 172.18.0.1 linkdown',
        '',
      ].join('\n'),
    );
    assert.deepEqual(routes, [
      { dst: 'default', dev: 'eth0' },
      { dst: '10.0.2.0/24', dev: 'eth0' },
      { dst: '10.99.0.0/16' },
      { dst: '172.18.0.0/16', dev: 'br-1' },
    ]);
    assert.deepEqual(routeSubnets(routes, new Set(['br-1'])).map(formatCidr), ['10.0.2.0/24', '10.99.0.0/16']);
  });

  it('falls back to the text form when ip refuses -j, so subnet picking still sees the host routes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-oldip-'));
    // An ip as iproute2 4.11 answers: -j is an unknown option.
    fs.writeFileSync(
      path.join(dir, 'ip'),
      '#!/bin/sh\nfor a; do [ "$a" = -j ] && { echo \'Option "-j" is unknown, try "ip -help".\' >&2; exit 255; }; done\n' +
        'echo "10.77.0.0/16 dev eth9 proto kernel scope link src 10.77.0.1"\n',
      { mode: 0o755 },
    );
    const saved = process.env.PATH;
    process.env.PATH = `${dir}:${saved}`;
    try {
      assert.deepEqual(await ipRoutes(), [{ dst: '10.77.0.0/16', dev: 'eth9' }]);
    } finally {
      process.env.PATH = saved;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
