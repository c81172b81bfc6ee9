// Networking end to end with the real docker CLI: published ports, `docker port`, user networks with names,
// none/host, the port-conflict error, and nothing left behind after rm -f or a kill -9 + restart. Traffic goes
// only to 127.0.0.1 and to containers' addresses.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as net from 'node:net';
import { startEngine, type TestEngine } from '../../helpers/engine';
import { type Registry, seedMirror, startRegistry } from '../../fixtures';
import { removeBridgeRules, sweepContainerRules } from '../../../src/engine/network/host';
import { eventually, freePort, hostLinks, httpGet, iptablesRules } from '../../helpers/net';

const links = hostLinks;
const rules = iptablesRules;

describe('networking with the docker CLI', function () {
  this.timeout(180000);
  let registry: Registry;
  let engine: TestEngine;
  let bridge: string;
  const docker = (...args: string[]) => engine.docker(args);
  const ok = (...args: string[]) => {
    const r = engine.docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const ids: string[] = [];
  const run = (...args: string[]) => {
    const id = ok('run', '-d', ...args);
    ids.push(id);
    return id;
  };

  before(async () => {
    registry = await startRegistry();
    await seedMirror(registry);
    engine = await startEngine({
      config: { 'registry-mirrors': [registry.url], 'default-address-pools': [{ base: '10.196.0.0/16', size: 24 }] },
    });
    ok('pull', 'busybox');
    bridge = JSON.parse(ok('network', 'inspect', 'bridge'))[0].Options['com.docker.network.bridge.name'];
  });

  after(async () => {
    if (engine) {
      for (const id of ids) engine.docker(['rm', '-f', id]);
      await engine.cleanup();
    }
    await registry?.stop();
  });

  it('docker run -d -p 127.0.0.1:PORT:80 serves a file to the host; inspect and docker port show it', async () => {
    const port = await freePort();
    const id = run(
      '--name',
      'web',
      '-p',
      `127.0.0.1:${port}:80`,
      'busybox',
      'sh',
      '-c',
      'echo served-by-berth > /tmp/index.html && exec httpd -f -p 80 -h /tmp',
    );
    const body = await eventually(
      () => httpGet(port),
      (t) => t.includes('served-by-berth'),
      'the published port',
    );
    assert.match(body, /^HTTP\/1\.[01] 200/);
    assert.equal(ok('port', 'web'), `80/tcp -> 127.0.0.1:${port}`);
    const ns = JSON.parse(ok('inspect', id))[0].NetworkSettings;
    const subnet = JSON.parse(ok('network', 'inspect', 'bridge'))[0].IPAM.Config[0];
    assert.equal(ns.Gateway, subnet.Gateway);
    assert.match(ns.IPAddress, /^10\.196\.\d+\.\d+$/);
    assert.equal(ns.IPPrefixLen, 24);
    assert.match(ns.MacAddress, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    assert.deepEqual(ns.Ports, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] });
    assert.equal(ns.Networks.bridge.IPAddress, ns.IPAddress);
    assert.deepEqual(Object.keys(JSON.parse(ok('network', 'inspect', 'bridge'))[0].Containers), [id]);

    // The same port again: Docker's error, and the second container holds nothing.
    const clash = docker('run', '-d', '--name', 'web2', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sleep', '60');
    ids.push('web2');
    assert.equal(clash.code, 125);
    assert.match(
      clash.stderr,
      new RegExp(
        `Error response from daemon: driver failed programming external connectivity on endpoint web2 \\([0-9a-f]{64}\\): Bind for 127\\.0\\.0\\.1:${port} failed: port is already allocated`,
      ),
    );
    const web2 = JSON.parse(ok('inspect', 'web2'))[0];
    assert.equal(web2.State.Running, false);
    assert.deepEqual(Object.keys(JSON.parse(ok('network', 'inspect', 'bridge'))[0].Containers), [id]);

    // Stop releases the port (and the address); rm -f leaves nothing of the container.
    ok('stop', '-t', '1', 'web');
    assert.equal(ok('port', 'web'), '');
    await new Promise<void>((resolve, reject) => {
      const s = net
        .createServer()
        .once('error', reject)
        .listen(port, '127.0.0.1', () => s.close(() => resolve()));
    });
    ok('rm', '-f', 'web', 'web2');
    assert.ok(!rules().includes(id));
  });

  it('-p 80 picks a free host port that docker port reports; -P publishes what --expose declares', async () => {
    run('--name', 'rnd', '-p', '80', '--expose', '81', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/');
    const line = ok('port', 'rnd', '80');
    const m = /^0\.0\.0\.0:(\d+)$/m.exec(line);
    assert.ok(m, line);
    const hostPort = Number(m[1]);
    await eventually(
      () => httpGet(hostPort),
      (t) => /^HTTP\/1\.[01] /.test(t),
      'the random port',
    );
    run('--name', 'all', '-P', '--expose', '7000', '--expose', '7001/udp', 'busybox', 'sleep', '300');
    const ports = JSON.parse(ok('inspect', 'all'))[0].NetworkSettings.Ports;
    assert.deepEqual(Object.keys(ports).sort(), ['7000/tcp', '7001/udp']);
    for (const k of Object.keys(ports)) assert.ok(Number(ports[k][0].HostPort) > 0);
    ok('rm', '-f', 'rnd', 'all');
  });

  it('two containers on `docker network create app` reach each other by name and alias', async () => {
    ok('network', 'create', 'app');
    // busybox's wget (Debian's static build) cannot resolve names; nc can.
    const script = (me: string, peer: string) =>
      `echo ${me} > /tmp/i.html; httpd -p 80 -h /tmp; ` +
      `until printf 'GET /i.html HTTP/1.0\\r\\n\\r\\n' | nc ${peer} 80 | grep -q '^${peer === 'api' ? 'alpha' : peer}$'; do sleep 0.2; done; echo reached-${peer}; sleep 300`;
    run(
      '--name',
      'alpha',
      '--network',
      'app',
      '--network-alias',
      'api',
      'busybox',
      'sh',
      '-c',
      script('alpha', 'beta'),
    );
    run('--name', 'beta', '--network', 'app', 'busybox', 'sh', '-c', script('beta', 'api'));
    await eventually(
      () => ok('logs', 'alpha'),
      (t) => t.includes('reached-beta'),
      'alpha → beta by name',
      20000,
    );
    await eventually(
      () => ok('logs', 'beta'),
      (t) => t.includes('reached-api'),
      'beta → alpha by its alias',
      20000,
    );
    const app = JSON.parse(ok('network', 'inspect', 'app'))[0];
    assert.equal(Object.keys(app.Containers).length, 2);
    const rm = docker('network', 'rm', 'app');
    assert.match(rm.stderr, /has active endpoints/);
    ok('rm', '-f', 'alpha', 'beta');
    ok('network', 'rm', 'app');
  });

  it('docker network connect/disconnect: running and stopped containers, kept across a restart', async () => {
    ok('network', 'create', 'side');
    const id = run(
      '--name',
      'svc',
      'busybox',
      'sh',
      '-c',
      'echo from-svc > /tmp/index.html && exec httpd -f -p 80 -h /tmp',
    );
    ok('network', 'connect', '--alias', 'web', 'side', 'svc');
    const nets = () => JSON.parse(ok('inspect', id))[0].NetworkSettings.Networks;
    assert.deepEqual(Object.keys(nets()).sort(), ['bridge', 'side']);
    assert.deepEqual(nets().side.Aliases, ['web']);
    assert.match(nets().side.IPAddress, /^10\.196\./);
    const fetch = (host: string) =>
      engine.docker([
        'run',
        '--rm',
        '--network',
        'side',
        'busybox',
        'sh',
        '-c',
        `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc ${host} 80`,
      ]).stdout;
    assert.match(fetch('web'), /from-svc/);
    assert.match(docker('network', 'connect', 'side', 'svc').stderr, /already exists in network side/);
    ok('restart', '-t', '1', 'svc');
    assert.deepEqual(Object.keys(nets()).sort(), ['bridge', 'side'], 'still connected after a restart');
    assert.ok(nets().side.IPAddress);
    assert.match(
      await eventually(
        () => fetch('svc'),
        (t) => t.includes('from-svc'),
        'svc by name after the restart',
      ),
      /from-svc/,
    );
    ok('network', 'disconnect', 'side', 'svc');
    assert.deepEqual(Object.keys(nets()), ['bridge']);
    // A stopped container: connected now, attached when it starts.
    const later = ok('create', '--name', 'later', 'busybox', 'sleep', '300');
    ids.push(later);
    ok('network', 'connect', 'side', 'later');
    ok('start', 'later');
    const laterNets = JSON.parse(ok('inspect', later))[0].NetworkSettings.Networks;
    assert.ok(laterNets.side.IPAddress && laterNets.bridge.IPAddress);
    assert.ok(Object.keys(JSON.parse(ok('network', 'inspect', 'side'))[0].Containers).includes(later));
    ok('rm', '-f', 'svc', 'later');
    ok('network', 'rm', 'side');
  });

  it("none has only lo; host sees the host's interfaces; container:<name> shares a namespace; --add-host, --hostname and --dns reach the files", async () => {
    const none = ok('run', '--rm', '--network', 'none', 'busybox', 'ip', '-o', 'link');
    assert.deepEqual(
      none.split('\n').map((l) => l.split(':')[1].trim()),
      ['lo'],
    );
    const hostIfs = links()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(':')[1].trim().split('@')[0])
      .sort();
    const inHost = ok('run', '--rm', '--network', 'host', 'busybox', 'ip', '-o', 'link')
      .split('\n')
      .map((l) => l.split(':')[1].trim().split('@')[0])
      .sort();
    assert.ok(hostIfs.includes('eth0') && inHost.includes('eth0'));
    // container:<name> shares the owner's namespace: its loopback reaches the owner's server.
    run('--name', 'owner', 'busybox', 'sh', '-c', 'echo owner-here > /tmp/index.html && exec httpd -f -p 8080 -h /tmp');
    const shared = await eventually(
      () =>
        engine.docker([
          'run',
          '--rm',
          '--network',
          'container:owner',
          'busybox',
          'sh',
          '-c',
          `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 8080`,
        ]).stdout,
      (t) => t.includes('owner-here'),
      "the owner's server over the shared loopback",
    );
    assert.match(shared, /owner-here/);
    ok('rm', '-f', 'owner');
    const files = ok(
      'run',
      '--rm',
      '--hostname',
      'box1',
      '--add-host',
      'db.test:10.9.8.7',
      '--dns',
      '10.1.2.3',
      'busybox',
      'sh',
      '-c',
      'cat /etc/hosts /etc/resolv.conf; hostname',
    );
    assert.match(files, /^10\.9\.8\.7\tdb\.test$/m);
    assert.match(files, /^10\.196\.\d+\.\d+\tbox1$/m);
    assert.match(files, /^nameserver 10\.1\.2\.3$/m);
    assert.match(files, /^box1$/m);
  });

  // runc creates the container while its interfaces are made (containers/start.ts): its process must still start
  // with them whole. Before the shim's gate, a start could see no eth0 yet.
  it('a container starts with its network whole: eth0, the route, /etc/hosts and resolv.conf at its first instruction', () => {
    for (let i = 0; i < 5; i++) {
      const out = ok(
        ...['run', '--rm', 'busybox', 'sh', '-c'],
        'ip -4 -o addr show eth0; ip route; cat /etc/hosts; grep -c nameserver /etc/resolv.conf',
      );
      const ip = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out)?.[1];
      assert.ok(ip, `no address on eth0 at the start:\n${out}`);
      assert.match(out, /^default via \S+ dev eth0/m, out);
      assert.match(out, new RegExp(`^${ip.replace(/\./g, '\\.')}\t[0-9a-f]{12}$`, 'm'), out);
      assert.match(out, /^[1-9]\d*$/m, `no nameserver in resolv.conf:\n${out}`);
    }
  });

  it('a network that fails after the namespace exists (--ip another container holds) starts nothing and leaves nothing', () => {
    ok('network', 'create', '--subnet', '10.197.5.0/24', 'gatednet');
    try {
      run('--network', 'gatednet', '--ip', '10.197.5.9', 'busybox', 'sleep', '300');
      const id = ok('create', '--network', 'gatednet', '--ip', '10.197.5.9', 'busybox', 'sleep', '300');
      ids.push(id);
      const r = docker('start', id);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /Address already in use/);
      const state = JSON.parse(ok('inspect', id))[0].State;
      assert.equal(state.Running, false);
      assert.equal(state.Pid, 0);
      assert.match(state.Error, /Address already in use/);
      // The shim that created the container was told not to start it: it deleted it and went.
      const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
      assert.ok(!ps.split('\n').some((l) => l.includes('berth-shim') && l.includes(id)), 'a shim is left');
      const runcList = execFileSync('runc', ['--root', `${engine.execRoot}/runc`, 'list', '-q'], { encoding: 'utf8' });
      assert.ok(!runcList.includes(id), `runc still knows the container: ${runcList}`);
      assert.ok(!execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(`berth-${id.slice(0, 16)}`));
      // Started again once the address is free, it runs.
      ok('rm', '-f', ids[ids.length - 2]);
      ok('start', id);
      assert.equal(JSON.parse(ok('inspect', id))[0].State.Running, true);
      ok('rm', '-f', id);
    } finally {
      docker('network', 'rm', 'gatednet');
    }
  });

  it('leaves no veth, bridge, netns or iptables rule after rm -f, and after kill -9 + restart', async () => {
    const port = await freePort();
    const id = run(
      '--name',
      'survivor',
      '-p',
      `127.0.0.1:${port}:80`,
      'busybox',
      'sh',
      '-c',
      'echo alive > /tmp/index.html && exec httpd -f -p 80 -h /tmp',
    );
    await eventually(
      () => httpGet(port),
      (t) => t.includes('alive'),
      'the published port',
    );
    const gone = run('--name', 'gone', 'busybox', 'sleep', '300');
    await engine.kill9();
    // While the engine is down, one container dies.
    execFileSync('runc', ['--root', `${engine.execRoot}/runc`, 'kill', gone, 'KILL'], { stdio: 'ignore' });
    await engine.restart();
    await eventually(
      () => httpGet(port),
      (t) => t.includes('alive'),
      'the survivor to keep serving',
    );
    ok('rm', '-f', 'survivor', 'gone');
    // The bridge lingers a few seconds after its last container, then goes with its rules.
    await eventually(
      () => links() + rules(),
      (t) => !t.includes(bridge),
      'the bridge and its rules to go',
      10000,
    );
    const r = rules();
    for (const x of [id, gone, bridge]) assert.ok(!r.includes(x), `iptables still mentions ${x}`);
    assert.ok(!execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(`berth-${id.slice(0, 16)}`));
  });

  it('rules a firewall reload took while the engine was down (firewall-cmd --reload) are back once it starts', async () => {
    const port = await freePort();
    const id = run(
      '--name',
      'reloaded',
      '-p',
      `127.0.0.1:${port}:80`,
      'busybox',
      'sh',
      '-c',
      'echo back > /tmp/index.html && exec httpd -f -p 80 -h /tmp',
    );
    await eventually(
      () => httpGet(port),
      (t) => t.includes('back'),
      'the published port',
    );
    await engine.stop();
    // What a firewalld reload leaves of Berth's rules: nothing of the bridge's, nothing of portmap's.
    await removeBridgeRules(bridge);
    await sweepContainerRules(id);
    assert.ok(!rules().includes(id) && !rules().includes(`berth ${bridge}`), rules());
    await engine.restart();
    await eventually(
      () => httpGet(port),
      (t) => t.includes('back'),
      "the restored container's published port",
    );
    assert.match(rules(), new RegExp(`-A POSTROUTING -s \\S+ ! -o ${bridge} .*"berth ${bridge}" -j MASQUERADE`));
    ok('rm', '-f', 'reloaded');
  });
});
