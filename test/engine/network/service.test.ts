// The network service on its own, with network namespaces this test creates (`ip netns add`) standing in for
// containers. Traffic goes only to 127.0.0.1 and to addresses inside these namespaces.
import * as assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createNetworkService, type NetworkService } from '../../../src/engine/network';
import { isEngineError } from '../../../src/engine/errdefs';

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
const cid = () => crypto.randomBytes(32).toString('hex');
const links = () => sh('ip', ['-o', 'link', 'show']);
const rules = () => sh('iptables-save', []);
const netnsList = () => sh('ip', ['netns', 'list']);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function get(url: string, timeoutSec = 3): { code: number; body: string } {
  const r = spawnSync('curl', ['-sS', '-m', String(timeoutSec), url], { encoding: 'utf8' });
  return { code: r.status ?? -1, body: r.stdout };
}

describe('network service (bridge networks with CNI, in namespaces the test makes)', function () {
  this.timeout(60000);
  let dir: string;
  let svc: NetworkService;
  const namespaces: string[] = [];
  const servers: ChildProcess[] = [];
  const ids: string[] = [];

  /** A netns named for this test, with ip netns exec's per-namespace /etc (so /etc/hosts is the container's). */
  function makeNetns(): { name: string; path: string; hosts: string; resolv: string } {
    const name = `bt-${crypto.randomBytes(4).toString('hex')}`;
    sh('ip', ['netns', 'add', name]);
    namespaces.push(name);
    fs.mkdirSync(`/etc/netns/${name}`, { recursive: true });
    return {
      name,
      path: `/run/netns/${name}`,
      hosts: `/etc/netns/${name}/hosts`,
      resolv: `/etc/netns/${name}/resolv.conf`,
    };
  }

  function serve(ns: string, port: number, text: string): void {
    const www = fs.mkdtempSync(path.join(dir, 'www-'));
    fs.writeFileSync(path.join(www, 'index.html'), text);
    servers.push(
      spawn('ip', ['netns', 'exec', ns, 'busybox', 'httpd', '-f', '-p', String(port), '-h', www], { stdio: 'ignore' }),
    );
  }

  async function waitFor(check: () => boolean, what: string): Promise<void> {
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
      if (check()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`timed out waiting for ${what}`);
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-net-'));
    // The host's resolver as the embedded DNS server knows it: nothing listens there, so names it does not own
    // fail at once instead of waiting on a resolver this namespace cannot reach.
    fs.writeFileSync(path.join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    process.env.BERTH_HOST_RESOLV_CONF = path.join(dir, 'resolv.conf');
    svc = createNetworkService({ dataRoot: path.join(dir, 'data'), idleBridgeMs: 0 });
    await svc.init();
  });

  after(async () => {
    for (const s of servers) s.kill('SIGKILL');
    for (const id of ids) await svc.detach(id).catch(() => {});
    for (const n of svc.list()) if (!n.predefined) await svc.remove(n.id).catch(() => {});
    await svc.close();
    delete process.env.BERTH_HOST_RESOLV_CONF;
    for (const n of namespaces) {
      spawnSync('ip', ['netns', 'del', n]);
      fs.rmSync(`/etc/netns/${n}`, { recursive: true, force: true });
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates the predefined networks with a subnet that collides with no host route', async () => {
    const names = svc
      .list()
      .map((n) => n.name)
      .sort();
    assert.deepEqual(names, ['bridge', 'host', 'none']);
    const bridge = svc.get('bridge');
    assert.match(bridge.subnet!, /^\d+\.\d+\.\d+\.\d+\/\d+$/);
    const routes = JSON.parse(sh('ip', ['-j', '-4', 'route'])) as { dst: string; dev: string }[];
    assert.ok(
      !routes.some((r) => r.dst === bridge.subnet && r.dev !== bridge.bridge),
      'subnet is not a foreign host route',
    );
    assert.equal(bridge.bridge, svc.get(bridge.id.slice(0, 8)).bridge);
    // Lazily made: no bridge before the first container.
    assert.ok(!links().includes(`${bridge.bridge}:`));
  });

  it('publishes ports on 127.0.0.1 (fixed and random), refuses a taken port leaving nothing half-made, and cleans up', async () => {
    const ns = makeNetns();
    const id = cid();
    ids.push(id);
    const fixed = await freePort();
    const ep = await svc.attach({
      containerId: id,
      containerName: '/web',
      netnsPath: ns.path,
      network: 'bridge',
      portBindings: {
        '80/tcp': [{ hostIp: '127.0.0.1', hostPort: String(fixed) }],
        '81/tcp': [{ hostIp: '127.0.0.1' }],
      },
      exposedPorts: ['80/tcp', '81/tcp', '9000/tcp'],
      hostsPath: ns.hosts,
      resolvConfPath: ns.resolv,
    });
    assert.equal(ep.mode, 'bridge');
    assert.equal(ep.netnsPath, ns.path);
    const [att] = ep.networks;
    assert.equal(att.networkName, 'bridge');
    assert.equal(att.gateway, svc.get('bridge').gateway);
    assert.match(att.macAddress, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    assert.equal(ep.ports['80/tcp']![0].hostPort, String(fixed));
    const random = Number(ep.ports['81/tcp']![0].hostPort);
    assert.ok(random > 0 && random !== fixed);
    assert.equal(ep.ports['9000/tcp'], null);
    assert.match(
      fs.readFileSync(ns.hosts, 'utf8'),
      new RegExp(`^${att.ipAddress.replace(/\./g, '\\.')}\\t${id.slice(0, 12)}$`, 'm'),
    );
    assert.doesNotMatch(fs.readFileSync(ns.resolv, 'utf8'), /nameserver 127\./);
    // The container side: eth0 with the address, a default route via the gateway, lo up.
    const inside = sh('ip', ['netns', 'exec', ns.name, 'ip', '-o', 'addr']);
    assert.match(inside, new RegExp(`eth0\\s+inet ${att.ipAddress}/${att.prefixLen}`));
    assert.match(inside, /lo\s+inet 127\.0\.0\.1/);
    assert.match(sh('ip', ['netns', 'exec', ns.name, 'ip', 'route']), new RegExp(`default via ${att.gateway}`));

    serve(ns.name, 80, 'hello from 80\n');
    serve(ns.name, 81, 'hello from 81\n');
    await waitFor(() => get(`http://127.0.0.1:${fixed}/`).body === 'hello from 80\n', 'the published port');
    assert.equal(get(`http://127.0.0.1:${random}/`).body, 'hello from 81\n');
    assert.equal(get(`http://${att.ipAddress}:80/`).body, 'hello from 80\n', 'the host reaches the container directly');

    // Same port again: Docker's 500, and no trace of the second endpoint.
    const ns2 = makeNetns();
    const id2 = cid();
    const linksBefore = links().split('\n').length;
    await assert.rejects(
      svc.attach({
        containerId: id2,
        containerName: 'web2',
        netnsPath: ns2.path,
        network: 'bridge',
        portBindings: { '80/tcp': [{ hostIp: '127.0.0.1', hostPort: String(fixed) }] },
      }),
      (err: unknown) =>
        isEngineError(err, 'System') &&
        err.status === 500 &&
        new RegExp(
          `^driver failed programming external connectivity on endpoint web2 \\([0-9a-f]{64}\\): Bind for 127\\.0\\.0\\.1:${fixed} failed: port is already allocated$`,
        ).test(err.message),
    );
    assert.equal(svc.endpoint(id2), undefined);
    assert.equal(links().split('\n').length, linksBefore);
    assert.equal(
      sh('ip', ['netns', 'exec', ns2.name, 'ip', '-o', 'link']).split('\n').filter(Boolean).length,
      1,
      'only lo in the refused namespace',
    );
    assert.ok(!rules().includes(id2));

    // Detach: ports released (bindable again), no veth, no bridge, no rules, IP lease gone.
    const bridge = svc.get('bridge').bridge!;
    assert.ok(links().includes(`${bridge}:`));
    assert.ok(rules().includes(id));
    await svc.detach(id);
    await svc.detach(id); // idempotent
    assert.equal(sh('ip', ['netns', 'exec', ns.name, 'ip', '-o', 'link']).split('\n').filter(Boolean).length, 1);
    assert.ok(!links().includes(`${bridge}:`), 'the bridge goes with its last endpoint');
    assert.ok(!rules().includes(id), 'no iptables rule mentions the container');
    assert.ok(!rules().includes(bridge), 'no iptables rule mentions the bridge');
    assert.notEqual(get(`http://127.0.0.1:${fixed}/`, 1).body, 'hello from 80\n');
    await new Promise<void>((resolve, reject) => {
      const s = net
        .createServer()
        .once('error', reject)
        .listen(fixed, '127.0.0.1', () => s.close(() => resolve()));
    });
  });

  it('user-defined networks: peers by name and alias from the embedded DNS server, kept current; isolation from other networks; 409 while in use', async () => {
    const { id: appId } = await svc.create({ name: 'app', labels: { team: 'a' } });
    // Subnets of this run's own: the same test may run in another process at the same time.
    const o = 200 + crypto.randomInt(50);
    const { id: otherId } = await svc.create({
      name: 'other',
      ipam: { config: [{ subnet: `10.${o}.7.0/24`, gateway: `10.${o}.7.254` }] },
    });
    assert.equal(svc.get('other').gateway, `10.${o}.7.254`);
    await assert.rejects(
      svc.create({ name: 'app' }),
      (e: any) => e.status === 409 && e.message === 'network with name app already exists',
    );
    await assert.rejects(
      svc.create({ name: 'clash', ipam: { config: [{ subnet: `10.${o}.0.0/16` }] } }),
      (e: any) => e.status === 403 && /Pool overlaps/.test(e.message),
    );
    assert.notEqual(svc.get('app').subnet, svc.get('bridge').subnet);

    const [a, b, c] = [makeNetns(), makeNetns(), makeNetns()];
    const [ida, idb, idc] = [cid(), cid(), cid()];
    ids.push(ida, idb, idc);
    const epA = await svc.attach({
      containerId: ida,
      containerName: 'alpha',
      netnsPath: a.path,
      network: 'app',
      hostsPath: a.hosts,
      resolvConfPath: a.resolv,
    });
    const epB = await svc.attach({
      containerId: idb,
      containerName: 'beta',
      netnsPath: b.path,
      network: 'app',
      aliases: ['db'],
      hostsPath: b.hosts,
      resolvConfPath: b.resolv,
      extraHosts: ['gw.test:host-gateway'],
    });
    // Someone moved the isolation jump behind the ACCEPTs (the host's tables are shared with every other tool):
    // the next attach must put it first again, or gamma could reach app's containers.
    sh('iptables', ['-D', 'FORWARD', '-j', 'BERTH-ISOLATION-STAGE-1']);
    sh('iptables', ['-A', 'FORWARD', '-j', 'BERTH-ISOLATION-STAGE-1']);
    const epC = await svc.attach({
      containerId: idc,
      containerName: 'gamma',
      netnsPath: c.path,
      network: otherId,
      hostsPath: c.hosts,
      resolvConfPath: c.resolv,
    });
    assert.equal(epC.networks[0].gateway, `10.${o}.7.254`);
    const ipA = epA.networks[0].ipAddress;
    const ipB = epB.networks[0].ipAddress;
    assert.notEqual(ipA, ipB);
    assert.deepEqual(epB.networks[0].dnsNames, ['beta', 'db', idb.slice(0, 12)]);
    // Peers are not in the hosts files (the embedded DNS server answers for them, as in Docker); add-hosts are.
    assert.doesNotMatch(fs.readFileSync(a.hosts, 'utf8'), /beta/);
    assert.match(fs.readFileSync(a.resolv, 'utf8'), /^nameserver 127\.0\.0\.11$/m);
    assert.match(fs.readFileSync(b.hosts, 'utf8'), new RegExp(`^${svc.get('bridge').gateway}\\tgw\\.test$`, 'm'));
    assert.doesNotMatch(fs.readFileSync(c.hosts, 'utf8'), /alpha|beta/);
    assert.deepEqual(Object.keys(svc.get('app').containers).sort(), [ida, idb].sort());

    serve(b.name, 8080, 'beta here\n');
    serve(a.name, 8080, 'alpha here\n');
    // curl, not busybox wget: Debian's static busybox crashes resolving names through glibc's NSS. Run without
    // blocking this process: the embedded DNS server answering them lives here.
    const inNs = (ns: string, args: string[]) =>
      new Promise<{ status: number; stdout: string }>((resolve) =>
        execFile('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', timeout: 15000 }, (err, stdout) =>
          resolve({ status: err ? ((err as any).code ?? 1) : 0, stdout: stdout ?? '' }),
        ),
      );
    const wget = (ns: string, host: string) => inNs(ns, ['curl', '-sS', '-m', '2', `http://${host}:8080/`]);
    /** The IPv4 address glibc resolves `name` to inside the namespace ('' when none). */
    const resolve = async (ns: string, name: string) =>
      (await inNs(ns, ['getent', 'ahostsv4', name])).stdout.split(/\s+/)[0] ?? '';
    // `ip netns exec` shows /etc/netns/<ns>/resolv.conf as /etc/resolv.conf: 127.0.0.11, the service's DNS.
    let ready = false;
    for (const deadline = Date.now() + 15_000; !ready && Date.now() < deadline; ) {
      ready = (await wget(a.name, 'beta')).stdout === 'beta here\n';
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(ready, 'alpha → beta by name');
    assert.equal((await wget(a.name, 'db')).stdout, 'beta here\n', 'by alias');
    assert.equal((await wget(b.name, 'alpha')).stdout, 'alpha here\n');
    // gamma, on another network, neither finds nor reaches beta.
    assert.equal(await resolve(c.name, 'beta'), '');
    assert.notEqual((await wget(c.name, ipB)).status, 0);

    await assert.rejects(svc.remove('app'), (e: any) => e.status === 409 && /has active endpoints/.test(e.message));
    await assert.rejects(
      svc.remove('bridge'),
      (e: any) => e.status === 403 && e.message === 'bridge is a pre-defined network and cannot be removed',
    );

    // --ip: a fixed address, refused while another container holds it.
    const fixedIp = svc.get('app').subnet!.replace(/\.0\/\d+$/, '.200');
    const idFixed = cid();
    ids.push(idFixed);
    const epFixed = await svc.attach({
      containerId: idFixed,
      containerName: 'fixed',
      network: 'app',
      ipv4Address: fixedIp,
    });
    assert.equal(epFixed.networks[0].ipAddress, fixedIp);
    await assert.rejects(
      svc.attach({ containerId: cid(), containerName: 'fixed2', network: 'app', ipv4Address: fixedIp }),
      (e: any) => e.status === 403 && e.message === 'Address already in use',
    );
    await assert.rejects(
      svc.attach({
        containerId: cid(),
        containerName: 'fixed3',
        network: 'bridge',
        ipv4Address: svc.get('bridge').gateway,
      }),
      (e: any) => e.status === 400,
    );
    await svc.detach(idFixed);

    // connect/disconnect: gamma joins app as eth1 under an alias, and peers see it; then leaves.
    const epC2 = await svc.connect('app', idc, { aliases: ['cache'] });
    assert.deepEqual(
      epC2.networks.map((n) => n.networkName),
      ['other', 'app'],
    );
    assert.match(
      sh('ip', ['netns', 'exec', c.name, 'ip', '-o', 'addr']),
      new RegExp(`eth1\\s+inet ${epC2.networks[1].ipAddress}/`),
    );
    assert.equal(await resolve(a.name, 'cache'), epC2.networks[1].ipAddress);
    assert.equal((await wget(c.name, 'beta')).stdout, 'beta here\n');
    await assert.rejects(svc.connect('app', idc), (e: any) => e.status === 403);
    await svc.disconnect('app', idc);
    assert.equal(await resolve(a.name, 'gamma'), '');
    await assert.rejects(
      svc.disconnect('app', idc),
      (e: any) => e.status === 500 && /is not connected to network app/.test(e.message),
    );

    // beta leaves: alpha no longer finds it.
    await svc.detach(idb);
    assert.equal(await resolve(a.name, 'beta'), '');
    for (const id of [ida, idc]) await svc.detach(id);
    const bridges = [svc.get('app').bridge!, svc.get('other').bridge!];
    assert.deepEqual(await svc.prune((n) => n.labels.team === 'a'), ['app']);
    await svc.remove(otherId);
    assert.throws(
      () => svc.get(appId),
      (e: any) => e.status === 404,
    );
    for (const br of bridges) {
      assert.ok(!links().includes(`${br}:`));
      assert.ok(!rules().includes(br));
    }
    for (const id of [ida, idb, idc]) assert.ok(!rules().includes(id));
  });

  it("masquerades egress: a server outside the bridge sees the host's address, not the container's", async () => {
    // "Outside" is a namespace this test makes, routed from the host over a veth pair of its own.
    const o = 200 + crypto.randomInt(50);
    const outside = makeNetns();
    const [hostSide, nsSide] = [
      `bto-${crypto.randomBytes(3).toString('hex')}`,
      `btn-${crypto.randomBytes(3).toString('hex')}`,
    ];
    sh('ip', ['link', 'add', hostSide, 'type', 'veth', 'peer', 'name', nsSide]);
    try {
      sh('ip', ['link', 'set', nsSide, 'netns', outside.name]);
      sh('ip', ['addr', 'add', `10.${o}.250.1/24`, 'dev', hostSide]);
      sh('ip', ['link', 'set', hostSide, 'up']);
      sh('ip', ['-n', outside.name, 'addr', 'add', `10.${o}.250.2/24`, 'dev', nsSide]);
      sh('ip', ['-n', outside.name, 'link', 'set', nsSide, 'up']);
      const echo = spawn(
        'ip',
        [
          'netns',
          'exec',
          outside.name,
          process.execPath,
          '-e',
          `require('net').createServer((s) => s.end(s.remoteAddress.replace(/^::ffff:/, '') + '\\n')).listen(9999, '10.${o}.250.2')`,
        ],
        { stdio: 'ignore' },
      );
      servers.push(echo);
      const ns = makeNetns();
      const id = cid();
      ids.push(id);
      const ep = await svc.attach({ containerId: id, containerName: 'egress', netnsPath: ns.path, network: 'bridge' });
      const seen = () =>
        spawnSync(
          'ip',
          ['netns', 'exec', ns.name, 'curl', '-s', '-m', '2', '--http0.9', `http://10.${o}.250.2:9999/`],
          { encoding: 'utf8' },
        ).stdout.trim();
      await waitFor(() => seen() !== '', 'the outside server');
      assert.equal(seen(), `10.${o}.250.1`, `masqueraded (the container is ${ep.networks[0].ipAddress})`);
      // Docker's one rule for the network, not a NAT chain per container
      const natRules = () => sh('iptables-save', ['-t', 'nat']).split('\n');
      const bridge = svc.get('bridge').bridge!;
      assert.equal(natRules().filter((r) => r.includes(`! -o ${bridge} `) && r.includes('MASQUERADE')).length, 1);
      assert.ok(!natRules().some((r) => r.includes(id)), 'no per-container NAT rules');
      await svc.detach(id);
    } finally {
      spawnSync('ip', ['link', 'del', hostSide]);
    }
  });

  it('internal networks get no default route and no masquerade', async () => {
    await svc.create({ name: 'sealed', internal: true });
    const ns = makeNetns();
    const id = cid();
    ids.push(id);
    await svc.attach({ containerId: id, containerName: 'sealed1', netnsPath: ns.path, network: 'sealed' });
    const routes = sh('ip', ['netns', 'exec', ns.name, 'ip', 'route']);
    assert.doesNotMatch(routes, /default/);
    assert.match(routes, new RegExp(svc.get('sealed').subnet!.replace(/\./g, '\\.')));
    const bridge = svc.get('sealed').bridge!;
    assert.ok(
      !rules()
        .split('\n')
        .some((r) => (r.includes(id) || r.includes(` ${bridge} `)) && r.includes('MASQUERADE')),
    );
    await svc.detach(id);
    await svc.remove('sealed');
  });

  it("none has only lo; host shares the host's files; container:<id> joins another namespace", async () => {
    const id = cid();
    ids.push(id);
    const ep = await svc.attach({ containerId: id, containerName: 'solo', network: 'none', hostname: 'solo-host' });
    assert.equal(ep.mode, 'none');
    assert.ok(ep.netnsPath && fs.existsSync(ep.netnsPath), 'the service pinned a namespace');
    const nsName = path.basename(ep.netnsPath!);
    assert.deepEqual(
      sh('ip', ['netns', 'exec', nsName, 'ip', '-o', 'link'])
        .trim()
        .split('\n')
        .map((l) => l.split(':')[1].trim()),
      ['lo'],
    );
    assert.match(sh('ip', ['netns', 'exec', nsName, 'ip', '-o', 'addr']), /lo\s+inet 127\.0\.0\.1/);

    const joiner = cid();
    ids.push(joiner);
    const joined = await svc.attach({ containerId: joiner, containerName: 'side', network: `container:${id}` });
    assert.equal(joined.mode, 'container');
    assert.equal(joined.netnsPath, ep.netnsPath);
    await assert.rejects(
      svc.attach({ containerId: cid(), containerName: 'x', network: `container:${cid()}` }),
      (e: any) => e.status === 409,
    );

    const hostId = cid();
    ids.push(hostId);
    const h = await svc.attach({
      containerId: hostId,
      containerName: 'h',
      network: 'host',
      extraHosts: ['extra.test:10.1.2.3'],
      dns: ['10.9.8.7'],
    });
    assert.equal(h.mode, 'host');
    assert.equal(h.netnsPath, undefined);
    assert.ok(h.hostsContent.startsWith(fs.readFileSync('/etc/hosts', 'utf8')));
    assert.match(h.hostsContent, /^10\.1\.2\.3\textra\.test$/m);
    assert.match(h.resolvConfContent, /^nameserver 10\.9\.8\.7$/m);

    await svc.detach(id);
    assert.ok(!fs.existsSync(ep.netnsPath!), 'the pinned namespace is deleted');
    assert.ok(!netnsList().includes(nsName));
    assert.equal(svc.endpoint(joiner), undefined, 'the joined container lost the namespace with its owner');
    await svc.detach(joiner);
    await svc.detach(hostId);
  });

  it('an idle default bridge claims no subnet; a taken one moves to a free subnet when it comes up', async () => {
    const o = 200 + crypto.randomInt(50);
    const pools = [{ base: `10.${o}.0.0/23`, size: 24 }];
    const a = createNetworkService({
      dataRoot: path.join(dir, 'claim-a'),
      idleBridgeMs: 0,
      defaultAddressPools: pools,
    });
    const b = createNetworkService({
      dataRoot: path.join(dir, 'claim-b'),
      idleBridgeMs: 0,
      defaultAddressPools: pools,
    });
    await a.init();
    await b.init();
    try {
      assert.equal(a.get('bridge').subnet, `10.${o}.0.0/24`);
      assert.equal(b.get('bridge').subnet, `10.${o}.0.0/24`, 'neither holds it while idle');
      const [ida, idb] = [cid(), cid()];
      const epA = await a.attach({ containerId: ida, containerName: 'a', network: 'bridge' });
      assert.match(epA.networks[0].ipAddress, new RegExp(`^10\\.${o}\\.0\\.`));
      const epB = await b.attach({ containerId: idb, containerName: 'b', network: 'bridge' });
      assert.equal(b.get('bridge').subnet, `10.${o}.1.0/24`, 'b moved off the subnet a is using');
      assert.match(epB.networks[0].ipAddress, new RegExp(`^10\\.${o}\\.1\\.`));
      await a.detach(ida);
      await b.detach(idb);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('keeps an idle bridge for a grace period, then removes it (and at close)', async () => {
    const quick = createNetworkService({ dataRoot: path.join(dir, 'grace'), idleBridgeMs: 300 });
    await quick.init();
    const bridge = quick.get('bridge').bridge!;
    try {
      const [a, b] = [cid(), cid()];
      await quick.attach({ containerId: a, containerName: 'g1', network: 'bridge' });
      await quick.detach(a);
      assert.ok(links().includes(`${bridge}:`), 'still there right after the last endpoint left');
      await quick.attach({ containerId: b, containerName: 'g2', network: 'bridge' });
      // A window on purpose: past the 300 ms grace the bridge must still be there (nothing to poll for).
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(links().includes(`${bridge}:`), 'a new endpoint keeps it');
      await quick.detach(b);
      await waitFor(
        () => !links().includes(`${bridge}:`) && !rules().includes(bridge),
        'the idle bridge and its rules to go',
      );
      const c = cid();
      await quick.attach({ containerId: c, containerName: 'g3', network: 'bridge' });
      await quick.detach(c);
    } finally {
      await quick.close();
    }
    assert.ok(!links().includes(`${bridge}:`), 'close removes idle bridges at once');
    assert.ok(!rules().includes(bridge));
  });

  it('after a crash, a new engine cleans the endpoints of containers that are gone and keeps the live ones', async () => {
    const live = makeNetns();
    const dead = makeNetns();
    const [idLive, idDead] = [cid(), cid()];
    const port = await freePort();
    ids.push(idLive, idDead);
    await svc.attach({
      containerId: idLive,
      containerName: 'live',
      netnsPath: live.path,
      network: 'bridge',
      portBindings: { '80/tcp': [{ hostIp: '127.0.0.1', hostPort: String(port) }] },
    });
    // Published ports give each a rule of its own (portmap's, tagged with the container's ID) to be swept.
    const [portDead, portHalf] = [await freePort(), await freePort()];
    const epDead = await svc.attach({
      containerId: idDead,
      containerName: 'dead',
      netnsPath: dead.path,
      network: 'bridge',
      portBindings: { '80/tcp': [{ hostIp: '127.0.0.1', hostPort: String(portDead) }] },
    });
    // One more that the engine "died in the middle of" attaching: its ADD happened, its result was never saved.
    const half = makeNetns();
    const idHalf = cid();
    ids.push(idHalf);
    const epHalf = await svc.attach({
      containerId: idHalf,
      containerName: 'half',
      netnsPath: half.path,
      network: 'bridge',
      portBindings: { '80/tcp': [{ hostIp: '127.0.0.1', hostPort: String(portHalf) }] },
    });
    const halfIp = epHalf.networks[0].ipAddress;
    // "kill -9": the service's state stays on disk as it was; its held sockets die with it.
    await svc.close();
    const halfFile = path.join(dir, 'data', 'network', 'endpoints', `${idHalf}.json`);
    const halfState = JSON.parse(fs.readFileSync(halfFile, 'utf8'));
    const a = halfState.attachments.pop();
    halfState.pending = {
      networkId: a.networkId,
      ifName: a.ifName,
      conflist: a.conflist,
      runtimeConfig: a.runtimeConfig,
      prefixLen: a.prefixLen,
      gateway: a.gateway,
    };
    fs.writeFileSync(halfFile, JSON.stringify(halfState));
    assert.ok(
      rules().includes(idHalf) && rules().includes(idDead),
      'the port rules of the dead and the half-made endpoint are there',
    );
    spawnSync('ip', ['netns', 'del', dead.name]); // the dead container's namespace went with its processes
    spawnSync('ip', ['netns', 'del', half.name]);
    const crashedState = path.join(dir, 'data');
    svc = createNetworkService({ dataRoot: crashedState, idleBridgeMs: 0 });
    await svc.init();
    assert.equal(svc.endpoint(idDead), undefined);
    assert.ok(!rules().includes(idDead), "the dead container's NAT rules are swept");
    assert.equal(svc.endpoint(idHalf), undefined);
    assert.ok(!rules().includes(idHalf));
    assert.ok(!rules().includes(`${halfIp}:80`), "the half-made endpoint's port rules are gone too");
    const leases = fs.readdirSync(
      path.join(crashedState, 'network', 'ipam', `berth-${svc.get('bridge').id.slice(0, 12)}`),
    );
    assert.ok(
      !leases.includes(halfIp) && !leases.includes(epDead.networks[0].ipAddress),
      'their addresses are free again',
    );
    assert.ok(rules().includes(idLive));
    assert.deepEqual(Object.keys(svc.get('bridge').containers), [idLive]);
    // The live one's port is held again by the new engine.
    await assert.rejects(
      svc.attach({
        containerId: cid(),
        containerName: 'thief',
        network: 'bridge',
        portBindings: { '80/tcp': [{ hostIp: '127.0.0.1', hostPort: String(port) }] },
      }),
      /port is already allocated/,
    );
    // Its address is not handed out twice.
    const fresh = cid();
    ids.push(fresh);
    const epFresh = await svc.attach({ containerId: fresh, containerName: 'fresh', network: 'bridge' });
    assert.notEqual(epFresh.networks[0].ipAddress, svc.endpoint(idLive)!.networks[0].ipAddress);
    await svc.reconcile(new Set([idLive]));
    assert.equal(svc.endpoint(fresh), undefined);
    await svc.detach(idLive);
    const bridge = svc.get('bridge').bridge!;
    assert.ok(!links().includes(`${bridge}:`));
    assert.ok(!rules().includes(bridge));
  });
});
