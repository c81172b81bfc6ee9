// The embedded DNS server at 127.0.0.11 on user-defined networks, with the real docker CLI: names, aliases and
// short IDs on the network (several containers behind one alias in turn, containers that join later), the
// "name.network" and PTR forms, network scope, other names forwarded to the host's resolvers — a resolver this
// test runs on a loopback address of its own namespace, named by the engine's host resolv.conf — none forwarded
// for a container only on internal networks, Docker's resolv.conf, the default bridge left as it was, and the
// server back after the engine restarts (live restore) or is killed.
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as dnsPacket from 'dns-packet';
import { type Registry, seedMirror, startRegistry } from '../../fixtures';
import { requireDockerCli, startEngine, type TestEngine } from '../../helpers/engine';

const UPSTREAM = '127.77.0.53';
const OUTSIDE = { 'outside.test': '192.0.2.77', 'web1.elsewhere.test': '192.0.2.78' } as Record<string, string>;

/** The host's resolver as far as the engine knows: answers OUTSIDE's names, NXDOMAIN for the rest. */
function startUpstream(): Promise<{ socket: dgram.Socket; asked: string[] }> {
  const asked: string[] = [];
  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions![0];
    asked.push(question.name);
    const ip = question.type === 'A' ? OUTSIDE[question.name.toLowerCase()] : undefined;
    const known = OUTSIDE[question.name.toLowerCase()] !== undefined;
    const resp = dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER | (known ? 0 : 3),
      questions: q.questions,
      answers: ip ? [{ type: 'A', name: question.name, ttl: 60, data: ip }] : [],
    });
    socket.send(resp, rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(53, UPSTREAM, () => resolve({ socket, asked }));
  });
}

describe('network: the embedded DNS server (127.0.0.11)', function () {
  this.timeout(180000);
  let registry: Registry;
  let engine: TestEngine;
  let upstream: { socket: dgram.Socket; asked: string[] };
  let hostResolv: string;
  const ok = (...args: string[]) => {
    const r = engine.docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const ip = (name: string, network: string) =>
    JSON.parse(ok('inspect', name))[0].NetworkSettings.Networks[network].IPAddress as string;
  /**
   * busybox nslookup's addresses for `name` (none when it cannot be found), and its whole output. Asynchronous:
   * the upstream resolver lives in this process and must answer while the command runs.
   */
  const lookup = async (container: string, name: string) => {
    const r = await engine.dockerAsync(['exec', container, 'nslookup', name]);
    // Answers read "Address: IP" (the server's own line has a tab); AAAA answers are left out.
    const addrs = [...r.stdout.matchAll(/^Address: (\S+)$/gm)].map((m) => m[1]).filter((a) => !a.includes(':'));
    return { addrs, out: r.stdout + r.stderr };
  };

  before(async function () {
    requireDockerCli(this);
    upstream = await startUpstream();
    hostResolv = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'berth-resolv-')), 'resolv.conf');
    // No search domain: busybox's nslookup tries only name.<search> when there is one (Docker's resolver would not
    // find those either).
    fs.writeFileSync(hostResolv, `nameserver ${UPSTREAM}\noptions timeout:2 attempts:2\n`);
    registry = await startRegistry();
    await seedMirror(registry);
    engine = await startEngine({
      config: { 'registry-mirrors': [registry.url], 'default-address-pools': [{ base: '10.197.0.0/16', size: 24 }] },
      env: { BERTH_HOST_RESOLV_CONF: hostResolv },
    });
    ok('pull', 'busybox');
    ok('network', 'create', 'app');
    ok('network', 'create', 'other');
    ok('network', 'create', '--internal', 'sealed');
  });

  after(async () => {
    if (engine) {
      engine.docker([
        'rm',
        '-f',
        'web1',
        'web2',
        'client',
        'late',
        'stranger',
        'inside',
        'plain',
        'looped',
        'unroutable',
      ]);
      await engine.cleanup();
    }
    await registry?.stop();
    upstream?.socket.close();
    if (hostResolv) fs.rmSync(path.dirname(hostResolv), { recursive: true, force: true });
  });

  it("writes Docker's resolv.conf: 127.0.0.11 alone, the host's options, ndots:0, the host's servers kept aside", () => {
    const text = ok('run', '--rm', '--network', 'app', 'busybox', 'cat', '/etc/resolv.conf');
    assert.equal(
      text + '\n',
      [
        '# Generated by Docker Engine.',
        '# This file can be edited; Docker Engine will not make further changes once it',
        '# has been modified.',
        '',
        'nameserver 127.0.0.11',
        'options timeout:2 attempts:2 ndots:0',
        '',
        `# Based on host file: '${hostResolv}' (internal resolver)`,
        `# ExtServers: [host(${UPSTREAM})]`,
        '# Overrides: []',
        '# Option ndots from: internal',
        '',
      ].join('\n'),
    );
    // --dns-search and --dns-option replace the host's; --dns servers are the ones forwarded to.
    const custom = ok(
      'run',
      '--rm',
      '--network',
      'app',
      '--dns',
      '192.0.2.53',
      '--dns-search',
      'corp.test',
      '--dns-option',
      'ndots:2',
      'busybox',
      'cat',
      '/etc/resolv.conf',
    );
    assert.match(custom, /^nameserver 127\.0\.0\.11\nsearch corp\.test\noptions ndots:2$/m);
    assert.match(
      custom,
      /^# ExtServers: \[192\.0\.2\.53\]\n# Overrides: \[nameservers search options\]\n# Option ndots from: override$/m,
    );
    // The default bridge has no embedded DNS server, as in Docker: the host's servers (loopback ones dropped).
    const plain = ok('run', '--rm', 'busybox', 'cat', '/etc/resolv.conf');
    assert.doesNotMatch(plain, /127\.0\.0\.11/);
  });

  it('answers names, aliases and short IDs on the network; several behind one alias in turn; name.network; PTR', async () => {
    const serve = (text: string) => ['sh', '-c', `echo ${text} > /tmp/index.html && exec httpd -f -p 80 -h /tmp`];
    const id1 = ok(
      'run',
      '-d',
      '--name',
      'web1',
      '--network',
      'app',
      '--network-alias',
      'web',
      'busybox',
      ...serve('one'),
    );
    ok('run', '-d', '--name', 'web2', '--network', 'app', '--network-alias', 'web', 'busybox', ...serve('two'));
    ok('run', '-d', '--name', 'client', '--network', 'app', 'busybox', 'sleep', '600');
    const [ip1, ip2] = [ip('web1', 'app'), ip('web2', 'app')];

    assert.deepEqual((await lookup('client', 'web1')).addrs, [ip1]);
    assert.deepEqual((await lookup('client', 'WEB2')).addrs, [ip2], 'names are case-insensitive');
    assert.deepEqual((await lookup('client', id1.slice(0, 12))).addrs, [ip1], 'the short ID');
    assert.deepEqual((await lookup('client', 'web1.app')).addrs, [ip1], 'name.network');
    // One alias, two containers: both every time, the first one in turn.
    const firsts = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const { addrs } = await lookup('client', 'web');
      assert.deepEqual([...addrs].sort(), [ip1, ip2].sort());
      firsts.add(addrs[0]);
    }
    assert.deepEqual([...firsts].sort(), [ip1, ip2].sort(), 'each address comes first in turn');
    // Reverse lookup gives name.network, as dockerd's resolver does.
    assert.match((await lookup('client', ip2)).out, /name = web2\.app/);
    // Reached by name, with wget and with nc.
    assert.equal((await engine.dockerAsync(['exec', 'client', 'wget', '-qO-', 'http://web2/'])).stdout, 'two\n');
    const got = ok('exec', 'client', 'sh', '-c', "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc web1 80");
    assert.match(got, /^one$/m);
  });

  it('a container that joins later is found at once, and forgotten when it leaves', async () => {
    assert.deepEqual((await lookup('client', 'late')).addrs, []);
    ok('run', '-d', '--name', 'late', '--network', 'app', 'busybox', 'sleep', '600');
    assert.deepEqual((await lookup('client', 'late')).addrs, [ip('late', 'app')]);
    ok('rm', '-f', 'late');
    assert.deepEqual((await lookup('client', 'late')).addrs, []);
  });

  it("forwards other names to the host's resolvers; names are scoped to the asker's networks", async () => {
    upstream.asked.length = 0;
    assert.deepEqual((await lookup('client', 'outside.test')).addrs, ['192.0.2.77']);
    assert.ok(upstream.asked.includes('outside.test'), 'the host resolver was asked');
    // A container on another network does not see app's names: they go out, and the host's resolver has none.
    ok('run', '-d', '--name', 'stranger', '--network', 'other', 'busybox', 'sleep', '600');
    const r = await lookup('stranger', 'web1');
    assert.deepEqual(r.addrs, []);
    assert.match(r.out, /NXDOMAIN|can't find/);
    // Connected to app later (while running), it finds them.
    ok('network', 'connect', 'app', 'stranger');
    assert.deepEqual((await lookup('stranger', 'web1')).addrs, [ip('web1', 'app')]);
    ok('network', 'disconnect', 'app', 'stranger');
    assert.deepEqual((await lookup('stranger', 'web1')).addrs, []);
    assert.deepEqual(
      (await lookup('stranger', 'outside.test')).addrs,
      ['192.0.2.77'],
      'its other network still resolves',
    );
  });

  it('an upstream it cannot even send to (--dns 255.255.255.255: EACCES, like a host without a route) is a failed lookup, not a dead engine', async () => {
    ok('run', '-d', '--name', 'unroutable', '--network', 'app', '--dns', '255.255.255.255', 'busybox', 'sleep', '600');
    const r = await lookup('unroutable', 'outside.test');
    assert.deepEqual(r.addrs, [], r.out);
    assert.deepEqual((await lookup('unroutable', 'web1')).addrs, [ip('web1', 'app')], 'the engine still answers');
  });

  it('on internal networks only: names on the network resolve, nothing is forwarded', async () => {
    ok('run', '-d', '--name', 'inside', '--network', 'sealed', '--network-alias', 'vault', 'busybox', 'sleep', '600');
    assert.deepEqual((await lookup('inside', 'vault')).addrs, [ip('inside', 'sealed')]);
    upstream.asked.length = 0;
    const r = await lookup('inside', 'outside.test');
    assert.deepEqual(r.addrs, []);
    assert.deepEqual(upstream.asked, [], 'nothing reached the host resolver');
  });

  it('a default-bridge container connected to a user network switches to 127.0.0.11', async () => {
    ok('run', '-d', '--name', 'plain', 'busybox', 'sleep', '600');
    assert.doesNotMatch(ok('exec', 'plain', 'cat', '/etc/resolv.conf'), /127\.0\.0\.11/);
    ok('network', 'connect', 'app', 'plain');
    assert.match(ok('exec', 'plain', 'cat', '/etc/resolv.conf'), /^nameserver 127\.0\.0\.11$/m);
    assert.deepEqual((await lookup('plain', 'web2')).addrs, [ip('web2', 'app')]);
    // inspect lists Docker's DNSNames: name, aliases, short ID, hostname.
    const web1 = JSON.parse(ok('inspect', 'web1'))[0];
    assert.deepEqual(web1.NetworkSettings.Networks.app.DNSNames, ['web1', 'web', web1.Id.slice(0, 12)]);
  });

  it('answers on a host whose INPUT drops what comes from the bridge (ufw, a DROP policy)', async () => {
    const bridge = `br-${JSON.parse(ok('network', 'inspect', 'app'))[0].Id.slice(0, 12)}`;
    const drop = ['INPUT', '-i', bridge, '-j', 'DROP'];
    execFileSync('iptables', ['-A', ...drop]);
    try {
      assert.deepEqual((await lookup('client', 'web1')).addrs, [ip('web1', 'app')]);
    } finally {
      execFileSync('iptables', ['-D', ...drop]);
    }
  });

  it("--dns on the container's loopback: forwarded from the container's namespace, as moby's resolver does", async () => {
    ok('run', '-d', '--name', 'looped', '--network', 'app', '--dns', UPSTREAM, 'busybox', 'sleep', '600');
    const pid = JSON.parse(ok('inspect', 'looped'))[0].State.Pid;
    // A resolver inside the container's namespace on the same address as the host's one (UPSTREAM): only it
    // knows loop.test. It prints each name it is asked.
    const server = spawn(
      'nsenter',
      [
        `--net=/proc/${pid}/ns/net`,
        process.execPath,
        '-e',
        `const s = require('dgram').createSocket('udp4');
         s.on('message', (m, r) => {
           let i = 12, labels = [];
           while (m[i]) { labels.push(m.subarray(i + 1, i + 1 + m[i]).toString()); i += m[i] + 1; }
           const qtype = m.readUInt16BE(i + 1), q = m.subarray(12, i + 5), name = labels.join('.');
           console.log(name);
           const hit = name === 'loop.test' && qtype === 1;
           const head = Buffer.from([m[0], m[1], 0x85, hit ? 0x80 : 0x83, 0, 1, 0, hit ? 1 : 0, 0, 0, 0, 0]);
           const ans = hit ? Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 99]) : Buffer.alloc(0);
           s.send(Buffer.concat([head, q, ans]), r.port, r.address);
         });
         s.bind(53, '${UPSTREAM}', () => console.log('ready'));`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let asked = '';
    server.stdout!.on('data', (c) => (asked += c));
    try {
      const deadline = Date.now() + 10000;
      while (!asked.includes('ready') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.match(asked, /ready/, 'the in-container resolver started');
      upstream.asked.length = 0;
      assert.deepEqual((await lookup('looped', 'loop.test')).addrs, ['192.0.2.99']);
      assert.match(asked, /^loop\.test$/m, 'the resolver in the container was asked');
      assert.ok(!upstream.asked.includes('loop.test'), "the host's resolver at the same address was not");
      // Names on the network are still the embedded server's.
      assert.deepEqual((await lookup('looped', 'web1')).addrs, [ip('web1', 'app')]);
    } finally {
      server.kill();
    }
    ok('rm', '-f', 'looped');
  });

  it('answers again after the engine restarts with its containers running (and after a kill -9)', async () => {
    const before = (await lookup('client', 'web1')).addrs;
    assert.equal(before.length, 1);
    await engine.stop();
    await engine.restart();
    assert.deepEqual((await lookup('client', 'web1')).addrs, before);
    await engine.kill9();
    await engine.restart();
    assert.deepEqual((await lookup('client', 'web1')).addrs, before);
  });
});
