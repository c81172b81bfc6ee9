// Containers and networking together (runc + berth-shim, a busybox layer instead of a pulled image): start
// attaches, stop and rm detach; published ports serve the host on 127.0.0.1 and are released on stop; the port
// conflict is Docker's error with nothing half-made; peers by name; none/host; inspect's NetworkSettings. (The
// engine's kill -9 with containers running is in docker-run.test.ts.) Traffic: 127.0.0.1 and containers.
import type { Image } from '../../../src/engine/images';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { renderNetworkSettings } from '../../../src/engine/api/routes/networks';
import { createContainerService, type ContainerService, type ImageSource } from '../../../src/engine/containers';
import { createEventBus } from '../../../src/engine/events';
import { createNetworkService, type NetworkService } from '../../../src/engine/network';
import { createRuntime } from '../../../src/engine/runtime';
import { DIST, mountsUnder } from '../../helpers/engine';
import { makeBusyboxLayer } from '../../helpers/rootfs';
import { eventually, freePort, hostLinks, httpGet, iptablesRules } from '../../helpers/net';

const SHIM = path.join(DIST, 'bin', 'berth-shim');
const links = hostLinks;
const rules = iptablesRules;

describe('containers with networking (runc, CNI)', function () {
  this.timeout(120000);
  let dir: string;
  let layer: string;
  let network: NetworkService;
  let containers: ContainerService;
  const image: Image = {
    id: 'sha256:' + 'c'.repeat(64),
    repoTags: ['busybox:latest'],
    repoDigests: [],
    created: '',
    size: 0,
    chainIds: [],
    config: {
      rootfs: { type: 'layers', diff_ids: [] },
      config: { Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
    },
  };
  const images: ImageSource = { get: async () => image, layerDirs: () => [layer] };

  const make = async () => {
    const events = createEventBus();
    network = createNetworkService({
      dataRoot: path.join(dir, 'data'),
      events,
      idleBridgeMs: 0,
      defaultAddressPools: [{ base: '10.195.0.0/16', size: 24 }],
    });
    await network.init();
    containers = createContainerService({
      dataRoot: path.join(dir, 'data'),
      runtime: createRuntime({ execRoot: path.join(dir, 'exec'), runcPath: 'runc', shimPath: SHIM }),
      images,
      events,
      network,
      logDefaults: () => ({ type: 'json-file', config: {} }),
    });
    await containers.init();
  };

  const logs = (id: string) => {
    try {
      return fs
        .readFileSync(containers.get(id).logPath, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).log)
        .join('');
    } catch {
      return '';
    }
  };
  const serve = (text: string) => ['sh', '-c', `echo ${text} > /tmp/index.html && exec httpd -f -p 80 -h /tmp`];
  const settings = (id: string) => {
    const c = containers.get(id);
    return renderNetworkSettings(network.endpoint(c.id), c.hostConfig.networkMode, c.networks, network) as any;
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ctrnet-'));
    layer = makeBusyboxLayer(path.join(dir, 'layer'));
    await make();
  });

  after(async () => {
    for (const c of containers.list()) await containers.remove(c.id, { force: true }).catch(() => {});
    for (const n of network.list()) if (!n.predefined) await network.remove(n.id).catch(() => {});
    await network.close();
    for (const m of mountsUnder(dir).reverse()) spawnSync('umount', ['-l', m]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('publishes 127.0.0.1:PORT:80, shows it in NetworkSettings, refuses the port twice, releases it on stop', async () => {
    const port = await freePort();
    const { id } = await containers.create({
      name: 'web',
      config: { image: 'busybox', cmd: serve('served-by-berth'), exposedPorts: ['80/tcp'] },
      hostConfig: { portBindings: { '80/tcp': [{ hostIp: '127.0.0.1', hostPort: String(port) }] } },
    });
    await containers.start(id);
    await eventually(
      () => httpGet(port),
      (t) => t.includes('served-by-berth'),
      'the published port',
    );
    const ns = settings(id);
    const bridge = network.get('bridge');
    assert.equal(ns.Gateway, bridge.gateway);
    assert.match(ns.IPAddress, /^10\.195\.\d+\.\d+$/);
    assert.equal(ns.IPPrefixLen, 24);
    assert.deepEqual(ns.Ports, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] });
    assert.equal(ns.Networks.bridge.NetworkID, bridge.id);
    assert.equal(ns.Networks.bridge.IPAddress, ns.IPAddress);
    assert.match(ns.SandboxKey, /^\/run\/netns\/berth-/);
    // The container sees its address and its own hosts line.
    const hosts = fs.readFileSync(containers.get(id).hostsPath, 'utf8');
    assert.match(hosts, new RegExp(`^${ns.IPAddress.replace(/\./g, '\\.')}\\t${id.slice(0, 12)}$`, 'm'));

    const other = await containers.create({
      name: 'web2',
      config: { image: 'busybox', cmd: ['sleep', '60'] },
      hostConfig: { portBindings: { '80/tcp': [{ hostIp: '127.0.0.1', hostPort: String(port) }] } },
    });
    const linksBefore = links().split('\n').length;
    await assert.rejects(
      containers.start(other.id),
      (e: any) =>
        e.status === 500 &&
        new RegExp(
          `^driver failed programming external connectivity on endpoint web2 \\([0-9a-f]{64}\\): Bind for 127\\.0\\.0\\.1:${port} failed: port is already allocated$`,
        ).test(e.message),
    );
    assert.equal(containers.get(other.id).state.status, 'created');
    assert.equal(network.endpoint(other.id), undefined);
    assert.equal(links().split('\n').length, linksBefore, 'no veth or namespace was left');
    assert.ok(!rules().includes(other.id));
    await containers.remove(other.id);

    await containers.stop(id, { timeout: 1 });
    assert.equal(network.endpoint(id), undefined);
    assert.deepEqual(settings(id).Ports, {});
    assert.equal(settings(id).IPAddress, '');
    await new Promise<void>((resolve, reject) => {
      const s = net
        .createServer()
        .once('error', reject)
        .listen(port, '127.0.0.1', () => s.close(() => resolve()));
    });
    // Started again, it gets its port back.
    await containers.start(id);
    await eventually(
      () => httpGet(port),
      (t) => t.includes('served-by-berth'),
      'the port after a restart',
    );
    await containers.remove(id, { force: true });
    assert.ok(!rules().includes(id));
    assert.ok(!links().includes(`${bridge.bridge}:`), 'the bridge goes with the last container');
    assert.ok(!execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(`berth-${id.slice(0, 16)}`));
  });

  it('-p 80 gets a free host port; -P publishes exposed ports', async () => {
    const { id } = await containers.create({
      config: { image: 'busybox', cmd: serve('random'), exposedPorts: ['80/tcp', '9000/udp'] },
      hostConfig: { portBindings: { '80/tcp': [{ hostIp: '', hostPort: '' }] }, publishAllPorts: true },
    });
    await containers.start(id);
    const ports = settings(id).Ports;
    assert.equal(ports['80/tcp'][0].HostIp, '0.0.0.0');
    const hostPort = Number(ports['80/tcp'][0].HostPort);
    assert.ok(hostPort >= 1024);
    assert.ok(Number(ports['9000/udp'][0].HostPort) > 0);
    await eventually(
      () => httpGet(hostPort),
      (t) => t.includes('random'),
      'the random port on 127.0.0.1',
    );
    await containers.remove(id, { force: true });
  });

  it('containers on a user network reach each other by name and alias', async () => {
    await network.create({ name: 'app' });
    const script = (me: string, peer: string, expect: string) => [
      'sh',
      '-c',
      `echo ${me} > /tmp/index.html; httpd -p 80 -h /tmp; ` +
        `until printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc ${peer} 80 | grep -q '^${expect}$'; do sleep 0.2; done; echo reached-${peer}; exec sleep 300`,
    ];
    const a = await containers.create({
      name: 'alpha',
      config: { image: 'busybox', cmd: script('alpha', 'beta', 'beta') },
      hostConfig: { networkMode: 'app' },
      networks: { app: { aliases: ['api'] } },
    });
    const b = await containers.create({
      name: 'beta',
      config: { image: 'busybox', cmd: script('beta', 'api', 'alpha') },
      hostConfig: { networkMode: 'app' },
    });
    await containers.start(a.id);
    await containers.start(b.id);
    await eventually(
      () => logs(a.id),
      (t) => t.includes('reached-beta'),
      'alpha → beta by name',
      20000,
    );
    await eventually(
      () => logs(b.id),
      (t) => t.includes('reached-api'),
      'beta → alpha by alias',
      20000,
    );
    assert.deepEqual(Object.keys(network.get('app').containers).sort(), [a.id, b.id].sort());
    assert.deepEqual(settings(a.id).Networks.app.Aliases, ['api']);
    await assert.rejects(network.remove('app'), (e: any) => e.status === 409);
    for (const id of [a.id, b.id]) await containers.remove(id, { force: true });
    await network.remove('app');
  });

  it("none has only lo, host sees the host's interfaces, and --add-host/--dns/--hostname reach the files", async () => {
    const none = await containers.create({
      config: { image: 'busybox', cmd: ['ip', '-o', 'link'] },
      hostConfig: { networkMode: 'none' },
    });
    await containers.start(none.id);
    await containers.wait(none.id, 'not-running');
    assert.deepEqual(
      logs(none.id)
        .trim()
        .split('\n')
        .map((l) => l.split(':')[1].trim()),
      ['lo'],
    );
    const host = await containers.create({
      config: { image: 'busybox', cmd: ['ip', '-o', 'link'] },
      hostConfig: { networkMode: 'host' },
    });
    await containers.start(host.id);
    await containers.wait(host.id, 'not-running');
    assert.match(logs(host.id), /: eth0[:@]/);
    const files = await containers.create({
      config: { image: 'busybox', hostname: 'box1', cmd: ['sh', '-c', 'cat /etc/hosts /etc/resolv.conf; hostname'] },
      hostConfig: { extraHosts: ['db.test:10.9.8.7'], dns: ['10.1.2.3'] },
    });
    await containers.start(files.id);
    await containers.wait(files.id, 'not-running');
    const out = logs(files.id);
    assert.match(out, /^10\.9\.8\.7\tdb\.test$/m);
    assert.match(out, /^10\.195\.\d+\.\d+\tbox1$/m);
    assert.match(out, /^nameserver 10\.1\.2\.3$/m);
    assert.match(out, /^box1$/m);
    for (const id of [none.id, host.id, files.id]) await containers.remove(id);
  });
  it("releases a container's network as soon as its process is gone, while the shim still deletes runc's state", async () => {
    // A runc that, asked to delete, first waits (5 s at most) for the container's network namespace to go away:
    // the network is released on the shim's early exit notice, not after runc delete and the exit file.
    const wrapDir = path.join(dir, 'runc-wrap');
    fs.mkdirSync(wrapDir, { recursive: true });
    const seen = path.join(wrapDir, 'netns-at-delete');
    const runcWrap = path.join(wrapDir, 'runc');
    fs.writeFileSync(
      runcWrap,
      `#!/bin/bash
if [ "$1" != --root ] || [[ " $* " != *" delete "* ]]; then exec runc "$@"; fi
id=\${@: -1}
ns=/run/netns/berth-\${id:0:16}
for i in $(seq 100); do [ -e "$ns" ] || break; sleep 0.05; done
if [ -e "$ns" ]; then echo present >> ${seen}; else echo gone >> ${seen}; fi
exec runc "$@"
`,
      { mode: 0o755 },
    );
    const events = createEventBus();
    const wrapped = createContainerService({
      dataRoot: path.join(dir, 'data-wrapped'),
      runtime: createRuntime({ execRoot: path.join(dir, 'exec-wrapped'), runcPath: runcWrap, shimPath: SHIM }),
      images,
      events,
      network,
      logDefaults: () => ({ type: 'json-file', config: {} }),
    });
    await wrapped.init();
    try {
      const { id } = await wrapped.create({ name: 'early', config: { image: 'busybox', cmd: ['sh', '-c', 'exit 3'] } });
      await wrapped.start(id);
      const ns = network.endpoint(id)?.netnsPath;
      assert.ok(ns && fs.existsSync(ns), 'the container had a network namespace of its own');
      assert.equal((await wrapped.wait(id)).exitCode, 3);
      assert.equal(fs.readFileSync(seen, 'utf8'), 'gone\n');
      assert.equal(network.endpoint(id), undefined);
      assert.equal(wrapped.get(id).state.status, 'exited');
      await wrapped.remove(id, { force: true });
    } finally {
      for (const c of wrapped.list()) await wrapped.remove(c.id, { force: true }).catch(() => {});
    }
  });
});
