// The seam the containers subsystem uses, with real containers: runc joins the namespace attach() pinned, with
// the hosts and resolv.conf files attach() wrote bind-mounted in. Shows that published ports reach a process in a
// container, that containers on a user network find each other by name through the embedded DNS server
// (127.0.0.11), and that a peer joining later is found at once from inside a running container.
import * as assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createNetworkService, type EndpointInfo, type NetworkService } from '../../../src/engine/network';

const BUSYBOX = ['/usr/bin/busybox', '/bin/busybox'].find((p) => fs.existsSync(p))!;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

describe('network service with runc containers', function () {
  this.timeout(90000);
  let dir: string;
  let rootfs: string;
  let svc: NetworkService;
  const containers: string[] = [];

  /** A busybox rootfs shared read-only by the test's containers. */
  function makeRootfs(): string {
    const r = path.join(dir, 'rootfs');
    for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'www'])
      fs.mkdirSync(path.join(r, d), { recursive: true });
    fs.copyFileSync(BUSYBOX, path.join(r, 'bin/busybox'));
    fs.chmodSync(path.join(r, 'bin/busybox'), 0o755);
    for (const applet of ['sh', 'httpd', 'nc', 'sleep', 'cat', 'ip', 'printf', 'nslookup'])
      fs.symlinkSync('busybox', path.join(r, 'bin', applet));
    fs.writeFileSync(path.join(r, 'etc/hosts'), '');
    fs.writeFileSync(path.join(r, 'etc/resolv.conf'), '');
    fs.writeFileSync(path.join(r, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\n');
    return r;
  }

  /** Starts a detached runc container in the endpoint's namespace, as the containers subsystem does. */
  function run(name: string, ep: EndpointInfo, args: string[], www?: string): string {
    const id = `berth-nt-${name}-${crypto.randomBytes(3).toString('hex')}`;
    const bundle = path.join(dir, id);
    fs.mkdirSync(bundle);
    execFileSync('runc', ['spec', '--bundle', bundle]);
    const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    spec.root = { path: rootfs, readonly: true };
    spec.process.terminal = false;
    spec.process.args = args;
    spec.process.env = ['PATH=/bin'];
    spec.hostname = name;
    spec.linux.namespaces = spec.linux.namespaces.map((n: any) =>
      n.type === 'network' ? { type: 'network', path: ep.netnsPath } : n,
    );
    const bind = (destination: string, source: string, ro = false) => ({
      destination,
      source,
      type: 'bind',
      options: ['rbind', 'rprivate', ...(ro ? ['ro'] : [])],
    });
    spec.mounts.push(bind('/etc/hosts', ep.hostsPath!), bind('/etc/resolv.conf', ep.resolvConfPath!));
    if (www) spec.mounts.push(bind('/www', www, true));
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
    const log = fs.openSync(path.join(bundle, 'out.log'), 'w');
    const r = spawnSync('runc', ['run', '--detach', '--bundle', bundle, id], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    assert.equal(r.status, 0, `runc run ${id} failed: ${fs.readFileSync(path.join(bundle, 'out.log'), 'utf8')}`);
    containers.push(id);
    return id;
  }

  const exec = (id: string, script: string) =>
    spawnSync('runc', ['exec', id, 'sh', '-c', script], { encoding: 'utf8', timeout: 15000 });

  /** runc exec without blocking this process: the embedded DNS server answering the container runs here. */
  const execAsync = (id: string, script: string) =>
    new Promise<string>((resolve) =>
      execFile('runc', ['exec', id, 'sh', '-c', script], { encoding: 'utf8', timeout: 15000 }, (_err, stdout) =>
        resolve(stdout ?? ''),
      ),
    );

  async function eventually(fn: () => boolean | Promise<boolean>, what: string): Promise<void> {
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
      if (await fn()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`timed out waiting for ${what}`);
  }

  function stateFiles(name: string) {
    const d = path.join(dir, 'state', name);
    fs.mkdirSync(d, { recursive: true });
    return { hostsPath: path.join(d, 'hosts'), resolvConfPath: path.join(d, 'resolv.conf') };
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-netrunc-'));
    rootfs = makeRootfs();
    // The host's resolver, as far as the embedded DNS server knows: nothing listens there, so names it does not
    // own fail at once instead of waiting on a real resolver this namespace cannot reach.
    fs.writeFileSync(path.join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    process.env.BERTH_HOST_RESOLV_CONF = path.join(dir, 'resolv.conf');
    svc = createNetworkService({ dataRoot: path.join(dir, 'data'), idleBridgeMs: 0 });
    await svc.init();
  });

  after(async () => {
    for (const id of containers) spawnSync('runc', ['delete', '--force', id]);
    for (const ep of svc.list().flatMap((n) => Object.keys(n.containers))) await svc.detach(ep).catch(() => {});
    for (const n of svc.list()) if (!n.predefined) await svc.remove(n.id).catch(() => {});
    await svc.close();
    delete process.env.BERTH_HOST_RESOLV_CONF;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('serves a published port from a container to the host on 127.0.0.1', async () => {
    const www = path.join(dir, 'www-web');
    fs.mkdirSync(www);
    fs.writeFileSync(path.join(www, 'index.html'), 'served from a runc container\n');
    const port = await freePort();
    const cid = crypto.randomBytes(32).toString('hex');
    const ep = await svc.attach({
      containerId: cid,
      containerName: 'web',
      network: 'bridge',
      portBindings: { '80/tcp': [{ hostIp: '127.0.0.1', hostPort: String(port) }] },
      ...stateFiles('web'),
    });
    const id = run('web', ep, ['httpd', '-f', '-p', '80', '-h', '/www'], www);
    const fetch = () => spawnSync('curl', ['-sS', '-m', '2', `http://127.0.0.1:${port}/`], { encoding: 'utf8' }).stdout;
    await eventually(
      () => fetch() === 'served from a runc container\n',
      'the container to serve on the published port',
    );
    // Inside: eth0 with the endpoint's address.
    assert.match(
      exec(id, 'ip -o addr show eth0').stdout,
      new RegExp(`inet ${ep.networks[0].ipAddress.replace(/\./g, '\\.')}/`),
    );
    spawnSync('runc', ['delete', '--force', id]);
    await svc.detach(cid);
    assert.notEqual(fetch(), 'served from a runc container\n');
  });

  it('finds peers on a user network by name and alias, including one that joins later', async () => {
    await svc.create({ name: 'runc-app' });
    const www = path.join(dir, 'www-api');
    fs.mkdirSync(www);
    fs.writeFileSync(path.join(www, 'index.html'), 'api says hi\n');
    const [apiId, clientId, lateId] = [0, 1, 2].map(() => crypto.randomBytes(32).toString('hex'));
    const client = run(
      'client',
      await svc.attach({
        containerId: clientId,
        containerName: 'client',
        network: 'runc-app',
        ...stateFiles('client'),
      }),
      ['sleep', '300'],
    );
    run(
      'api',
      await svc.attach({
        containerId: apiId,
        containerName: 'api',
        network: 'runc-app',
        aliases: ['backend'],
        ...stateFiles('api'),
      }),
      ['httpd', '-f', '-p', '80', '-h', '/www'],
      www,
    );
    // client was running before api joined: the DNS server knows api at once.
    const get = (host: string) => execAsync(client, `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc ${host} 80`);
    await eventually(async () => (await get('api')).endsWith('api says hi\n'), 'client → api by name');
    assert.ok((await get('backend')).endsWith('api says hi\n'), 'by alias');
    assert.match(exec(client, 'cat /etc/resolv.conf').stdout, /^nameserver 127\.0\.0\.11$/m);
    assert.doesNotMatch(exec(client, 'cat /etc/hosts').stdout, /api/, 'peers come from DNS, not /etc/hosts');
    const lookup = (name: string) => execAsync(client, `nslookup ${name}`);

    const late = run(
      'late',
      await svc.attach({ containerId: lateId, containerName: 'late', network: 'runc-app', ...stateFiles('late') }),
      ['sleep', '300'],
    );
    assert.match(await lookup('late'), new RegExp(`^Address: ${svc.endpoint(lateId)!.networks[0].ipAddress}$`, 'm'));
    assert.ok((await execAsync(late, `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc api 80`)).endsWith('api says hi\n'));
    // A container on the default bridge is isolated from the user network.
    const outsiderId = crypto.randomBytes(32).toString('hex');
    const outsider = run(
      'outsider',
      await svc.attach({
        containerId: outsiderId,
        containerName: 'outsider',
        network: 'bridge',
        ...stateFiles('outsider'),
      }),
      ['sleep', '300'],
    );
    const apiIp = svc.endpoint(apiId)!.networks[0].ipAddress;
    const r = exec(outsider, `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${apiIp} 80`);
    assert.ok(!r.stdout.includes('api says hi'), 'the other network cannot reach api');

    await svc.detach(lateId);
    assert.doesNotMatch(await lookup('late'), /^Address: /m, 'a peer that left is forgotten');
  });
});
