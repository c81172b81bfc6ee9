// The vfkit driver on Linux, where Virtualization.framework is not: the real driver (src/vm/vfkit.ts) launches
// stand-ins for vfkit and gvproxy (test/helpers/standins, found in the bundle's bin/ as a darwin VSIX would carry
// them), and the rest is real. The guest is a berthd in a network namespace of its own on gvproxy's guest address
// (192.168.127.2, a veth), told where the supervisor's port service is as the vfkit guest is (gvproxy's host address
// 192.168.127.254, NATed to the host's 127.0.0.1 as gvproxy does). So `-p` goes the whole way: the guest's engine
// asks the port service, which has gvproxy expose the port over its HTTP API; a client on the host's loopback reaches
// the container; rm takes the port away; a host port another program holds fails the start with dockerd's words.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Hypervisor, VmConfig } from '../../src/vm/driver';
import type { GuestImage } from '../../src/vm/image';
import { VmPaths } from '../../src/vm/paths';
import { GuestPortService, type PortState } from '../../src/vm/ports';
import { makeVmTls, writeVmTls } from '../../src/vm/certs';
import { defaultShares, hostLoopbackFor, writeSeed } from '../../src/vm/supervisor';
import { findVfkitTool, GVPROXY, natMac, VfkitDriver, vfkitNetworkKind, vfkitUnavailable } from '../../src/vm/vfkit';
import { buildFixture, writeDockerArchive } from '../fixtures';
import { requireDockerCli, ROOT, startEngine, type TestEngine } from '../helpers/engine';
import { eventually, freePort, httpGet } from '../helpers/net';

const STANDINS = path.join(ROOT, 'test/helpers/standins');

/** A dist/ whose bin/ holds the stand-ins under vfkit's and gvproxy's names (or vfkit's alone). */
function bundleWithStandins(tools = ['vfkit', 'gvproxy']): string {
  const dist = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vfkit-dist-'));
  fs.mkdirSync(path.join(dist, 'bin'));
  for (const tool of tools)
    fs.writeFileSync(
      path.join(dist, 'bin', tool),
      `#!/bin/sh\nexec '${process.execPath}' '${path.join(STANDINS, `${tool}.cjs`)}' "$@"\n`,
      { mode: 0o755 },
    );
  return dist;
}

function getUnix(socketPath: string, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ socketPath, path: urlPath }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
}

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });

/** `docker run -d -p BUSY:80` in the guest, whose host port another program holds: dockerd's words, left created. */
async function runOnBusyPort(guest: TestEngine, busy: number): Promise<void> {
  const r = await guest.dockerAsync(['run', '-d', '--name', 'clash', '-p', `${busy}:80`, 'busybox', 'httpd', '-f']);
  assert.equal(r.code, 125);
  assert.match(
    r.stderr,
    new RegExp(`Error starting userland proxy: listen tcp4 0\\.0\\.0\\.0:${busy}: bind: address already in use`),
  );
  assert.equal(guest.docker(['inspect', '--format', '{{.State.Status}}', 'clash']).stdout.trim(), 'created');
}

describe('vm: the vfkit driver on Linux (stand-ins for vfkit and gvproxy, the rest real)', function () {
  this.timeout(120_000);
  const suffix = crypto.randomBytes(3).toString('hex');
  const netns = `berth-vfguest-${suffix}`;
  const hostLink = `vfh${suffix}`;
  const nat = ['-t', 'nat', '-I', 'PREROUTING', '-i', hostLink, '-d', GVPROXY.host, '-j', 'DNAT'];
  let bundle: string;
  let home: string;
  let paths: VmPaths;
  let hv: Hypervisor | undefined;
  let consoleText = '';
  let service: GuestPortService;
  let guest: TestEngine | undefined;
  const logged: string[] = [];
  const portStates: PortState[][] = [];
  const gvApi = () => path.join(paths.dir, 'gvproxy.sock');
  const exposed = async () => JSON.parse(await getUnix(gvApi(), '/services/forwarder/all'));

  before(async function () {
    requireDockerCli(this);
    bundle = bundleWithStandins();
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vfkit-home-'));
    paths = new VmPaths('vf', home);
    paths.ensureDir();
    fs.writeFileSync(paths.dataDisk, '');
    const img = path.join(home, 'image');
    fs.mkdirSync(img);
    for (const f of ['vmlinuz', 'initrd.img', 'root.img']) fs.writeFileSync(path.join(img, f), f);
    const image: GuestImage = {
      dir: img,
      arch: 'x64',
      kernel: path.join(img, 'vmlinuz'),
      initrd: path.join(img, 'initrd.img'),
      root: path.join(img, 'root.img'),
      kernelVersion: '0',
      version: '0',
    };
    const config: VmConfig = { name: 'vf', driver: 'vfkit', cpus: 2, memoryMiB: 1024, diskGiB: 1, arch: 'x64' };
    hv = await new VfkitDriver().launch({
      paths,
      bundleDir: bundle,
      config,
      image,
      shares: defaultShares(paths, home),
      log: (l) => logged.push(l),
    });
    hv.console.on('data', (d: Buffer) => (consoleText += d));

    // gvproxy's network as the guest sees it: the guest at 192.168.127.2, the gateway and the host's address
    // (NATed to the host's loopback) on the other end.
    sh('ip', ['netns', 'add', netns]);
    sh('ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    sh('ip', ['addr', 'add', `${GVPROXY.gateway}/24`, 'dev', hostLink]);
    sh('ip', ['addr', 'add', `${GVPROXY.host}/32`, 'dev', hostLink]);
    sh('ip', ['link', 'set', hostLink, 'up']);
    sh('sysctl', ['-qw', `net.ipv4.conf.${hostLink}.route_localnet=1`]);
    sh('iptables', [...nat, '--to-destination', '127.0.0.1']);
    sh('ip', ['-n', netns, 'addr', 'add', `${GVPROXY.guest}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', netns, 'route', 'add', 'default', 'via', GVPROXY.gateway]);

    // The supervisor's side, as it runs for vfkit (src/vm/supervisor.ts): the port service on the hypervisor's
    // forwards, its address in the seed, which the guest's berthd.run exports as BERTH_VM_HOST_PORTS.
    service = new GuestPortService(
      () => hv,
      (l) => logged.push(l),
      (p) => portStates.push(p),
    );
    writeVmTls(paths.tlsDir, makeVmTls('vf'));
    writeSeed(paths, `${hostLoopbackFor('vfkit', bundle)}:${await service.listen()} ${service.token}`);
    const hostPorts = fs.readFileSync(path.join(paths.seedDir, 'host-ports'), 'utf8').trim();
    assert.match(hostPorts, /^192\.168\.127\.254:\d+ [0-9a-f]{48}$/);
    guest = await startEngine({
      // nsenter, not ip netns exec: that one remounts /sys, and runc needs the cgroup mounts below it.
      prefix: ['nsenter', `--net=/run/netns/${netns}`],
      env: { BERTH_VM_HOST_PORTS: hostPorts },
    });
    const archive = path.join(guest.dir, 'busybox.tar');
    await writeDockerArchive(archive, [{ image: await buildFixture('busybox'), tags: ['busybox:latest'] }]);
    const load = guest.docker(['load', '-i', archive]);
    assert.equal(load.code, 0, load.stderr);
  });

  after(async () => {
    await guest?.cleanup();
    service?.close();
    hv?.kill();
    for (const [cmd, args] of [
      ['iptables', [...nat.map((a) => (a === '-I' ? '-D' : a)), '--to-destination', '127.0.0.1']],
      ['ip', ['link', 'del', hostLink]],
      ['ip', ['netns', 'del', netns]],
    ] as [string, string[]][])
      try {
        sh(cmd, args);
      } catch {
        /* not made */
      }
    for (const d of [bundle, home]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it("finds vfkit and gvproxy in the extension's bundle first, and says what to install when absent", () => {
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vfkit-path-'));
    try {
      for (const tool of ['vfkit', 'gvproxy'])
        fs.writeFileSync(path.join(elsewhere, tool), '#!/bin/sh\n', { mode: 0o755 });
      const env = { PATH: elsewhere };
      assert.equal(findVfkitTool('vfkit', bundle, env), path.join(bundle, 'bin', 'vfkit'), 'bundled before PATH');
      assert.equal(findVfkitTool('gvproxy', bundle, env), path.join(bundle, 'bin', 'gvproxy'));
      assert.equal(findVfkitTool('vfkit', home, env), path.join(elsewhere, 'vfkit'), 'PATH when none is bundled');
      assert.equal(vfkitUnavailable(bundle, 'darwin', { PATH: '' }), undefined);
      assert.equal(vfkitUnavailable(home, 'darwin', { PATH: '' }), 'the vfkit driver needs vfkit: brew install vfkit');
      // Without gvproxy, vfkit runs on its own NAT (below).
      fs.rmSync(path.join(elsewhere, 'gvproxy'));
      assert.equal(vfkitUnavailable(home, 'darwin', env), undefined);
      assert.equal(vfkitNetworkKind(home, env), 'nat');
      assert.equal(vfkitNetworkKind(bundle, env), 'gvproxy');
      assert.equal(vfkitUnavailable(bundle, 'linux', env), 'the vfkit driver runs on macOS only');
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('launches the bundled vfkit with gvproxy as its network; its console log file is the console', async () => {
    assert.ok(logged.some((l) => l.startsWith(`vfkit: ${path.join(bundle, 'bin', 'vfkit')} --cpus 2 --memory 1024`)));
    const line = await eventually(
      () => consoleText,
      (t) => t.includes('vfkit stand-in: '),
      'the console',
    );
    const argv: string[] = JSON.parse(/vfkit stand-in: (.*)/.exec(line)![1]);
    assert.ok(
      argv.includes(`virtio-net,unixSocketPath=${path.join(paths.dir, 'gvproxy-vfkit.sock')},mac=5a:94:ef:e4:0c:ee`),
    );
    assert.deepEqual(argv.slice(-2), ['--restful-uri', `unix://${path.join(paths.dir, 'vfkit.sock')}`]);
    const gvPid = Number(fs.readFileSync(path.join(paths.dir, 'gvproxy.pid'), 'utf8'));
    assert.match(fs.readFileSync(`/proc/${gvPid}/cmdline`, 'utf8'), /gvproxy\.cjs\0-listen-vfkit\0unixgram:\/\//);
  });

  it("exposes the guest's API (2376) on a free loopback port through gvproxy's API", async () => {
    const api = await hv!.apiAddress();
    assert.equal(api.host, '127.0.0.1');
    assert.deepEqual(await exposed(), [
      { local: `127.0.0.1:${api.port}`, remote: `${GVPROXY.guest}:2376`, protocol: 'tcp' },
    ]);
    // The guest's TLS listener is not part of this stand-in: the forward itself is what is checked — it listens.
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(api.port, '127.0.0.1', () => s.destroy() && resolve());
      s.on('error', reject);
    });
  });

  it("publishes -p on the host's loopback through gvproxy's expose, and takes it away with the container", async () => {
    const port = await freePort();
    // Async: the port service the guest's engine calls runs in this process.
    const run = await guest!.dockerAsync([
      'run',
      '-d',
      '--name',
      'web',
      '-p',
      `${port}:80`,
      'busybox',
      'sh',
      '-c',
      'echo hello-from-the-guest > /tmp/index.html && exec httpd -f -p 80 -h /tmp',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(
      (await exposed()).filter((e: { remote: string }) => e.remote !== `${GVPROXY.guest}:2376`),
      [{ local: `127.0.0.1:${port}`, remote: `${GVPROXY.guest}:${port}`, protocol: 'tcp' }],
      'exposed before the start answered',
    );
    assert.deepEqual(portStates.at(-1), [
      { protocol: 'tcp', hostPort: port, container: run.stdout.trim().slice(0, 12) },
    ]);
    await eventually(
      () => httpGet(port, '/index.html'),
      (r) => r.includes('hello-from-the-guest'),
      'the container through the host loopback',
    );
    assert.equal((await guest!.dockerAsync(['rm', '-f', 'web'])).code, 0);
    await eventually(
      async () => (await exposed()).map((e: { local: string }) => e.local),
      (l) => !l.includes(`127.0.0.1:${port}`),
      'gvproxy unexposing the port',
    );
    assert.equal(await httpGet(port), '', 'nothing answers on the port any more');
    assert.deepEqual(portStates.at(-1), []);
  });

  it("a host port another program holds fails the start with dockerd's words; the container stays created", async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const busy = (holder.address() as net.AddressInfo).port;
    try {
      await runOnBusyPort(guest!, busy);
      assert.ok(!(await exposed()).some((e: { local: string }) => e.local.endsWith(`:${busy}`)));
      assert.ok(logged.some((l) => l.includes(`port ${busy}/tcp is not available on the host`)));
      // Once the port is free, the same container starts and is published.
      await new Promise<void>((r) => holder.close(() => r()));
      assert.equal((await guest!.dockerAsync(['start', 'clash'])).code, 0);
      assert.ok((await exposed()).some((e: { local: string }) => e.local === `127.0.0.1:${busy}`));
    } finally {
      holder.close();
      await guest!.dockerAsync(['rm', '-f', 'clash']);
    }
  });

  it("stops through vfkit's REST API, and gvproxy goes with it", async () => {
    const gvPid = Number(fs.readFileSync(path.join(paths.dir, 'gvproxy.pid'), 'utf8'));
    await hv!.requestPoweroff();
    assert.equal(await hv!.exited, 0);
    await eventually(
      () =>
        fs.existsSync(`/proc/${gvPid}`) && !/\bZ\b/.test(fs.readFileSync(`/proc/${gvPid}/stat`, 'utf8').split(' ')[2]),
      (alive) => !alive,
      'gvproxy ending',
    );
    hv = undefined;
  });
});

// Without gvproxy, vfkit's own NAT (Apple's vmnet): the guest takes a DHCP lease, macOS's bootpd writes it to
// /var/db/dhcpd_leases, the host is the guest's default gateway. Here the test stands for vmnet and bootpd: a veth
// whose host end is the gateway (192.168.64.1), the guest's berthd in a network namespace on 192.168.64.5, a lease
// file with the VM's MAC. The rest is real: the driver finds the guest by its lease, the port service listens on the
// gateway the guest reaches (the seed names it `gateway`), and the supervisor's own relay publishes -p on the
// host's 127.0.0.1.
describe("vm: the vfkit driver without gvproxy (vfkit's own NAT; stand-ins for vfkit and macOS's DHCP)", function () {
  this.timeout(120_000);
  const suffix = crypto.randomBytes(3).toString('hex');
  const netns = `berth-vfnat-${suffix}`;
  const hostLink = `vnh${suffix}`;
  const NAT = { gateway: '192.168.64.1', guest: '192.168.64.5' };
  let bundle: string;
  let home: string;
  let paths: VmPaths;
  let leases: string;
  let hv: Hypervisor | undefined;
  let consoleText = '';
  let service: GuestPortService;
  let guest: TestEngine | undefined;
  const logged: string[] = [];
  const portStates: PortState[][] = [];
  /** The VM's MAC as macOS's lease file writes it (bytes without leading zeros). */
  const leaseMac = () =>
    natMac(paths.dir)
      .split(':')
      .map((b) => Number.parseInt(b, 16).toString(16))
      .join(':');

  before(async function () {
    requireDockerCli(this);
    bundle = bundleWithStandins(['vfkit']);
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vfnat-home-'));
    paths = new VmPaths('vfnat', home);
    paths.ensureDir();
    fs.writeFileSync(paths.dataDisk, '');
    leases = path.join(home, 'dhcpd_leases');
    const img = path.join(home, 'image');
    fs.mkdirSync(img);
    for (const f of ['vmlinuz', 'initrd.img', 'root.img']) fs.writeFileSync(path.join(img, f), f);
    const image: GuestImage = {
      dir: img,
      arch: 'x64',
      kernel: path.join(img, 'vmlinuz'),
      initrd: path.join(img, 'initrd.img'),
      root: path.join(img, 'root.img'),
      kernelVersion: '0',
      version: '0',
    };
    // The supervisor's side first, as it runs (src/vm/supervisor.ts): the port service on the loopback, its port in
    // the seed under the name `gateway`.
    service = new GuestPortService(
      () => hv,
      (l) => logged.push(l),
      (p) => portStates.push(p),
    );
    const servicePort = await service.listen();
    writeVmTls(paths.tlsDir, makeVmTls('vfnat'));
    assert.equal(hostLoopbackFor('vfkit', bundle), 'gateway');
    writeSeed(paths, `${hostLoopbackFor('vfkit', bundle)}:${servicePort} ${service.token}`);
    const hostPorts = fs.readFileSync(path.join(paths.seedDir, 'host-ports'), 'utf8').trim();
    assert.match(hostPorts, /^gateway:\d+ [0-9a-f]{48}$/);

    // A lease of this VM's from an earlier start, on another address: not this start's.
    fs.writeFileSync(
      leases,
      `{\n\tname=berth\n\tip_address=192.168.64.99\n\thw_address=1,${leaseMac()}\n\tlease=0x6054c8f5\n}\n`,
    );
    const config: VmConfig = { name: 'vfnat', driver: 'vfkit', cpus: 1, memoryMiB: 512, diskGiB: 1, arch: 'x64' };
    hv = await new VfkitDriver(leases).launch({
      paths,
      bundleDir: bundle,
      config,
      image,
      shares: defaultShares(paths, home),
      log: (l) => logged.push(l),
    });
    hv.console.on('data', (d: Buffer) => (consoleText += d));

    // vmnet: the host's end of the guest's link is the NAT's gateway.
    sh('ip', ['netns', 'add', netns]);
    sh('ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    sh('ip', ['addr', 'add', `${NAT.gateway}/24`, 'dev', hostLink]);
    sh('ip', ['link', 'set', hostLink, 'up']);
    sh('ip', ['-n', netns, 'addr', 'add', `${NAT.guest}/24`, 'dev', 'eth0']);
    sh('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    sh('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', netns, 'route', 'add', 'default', 'via', NAT.gateway]);
    guest = await startEngine({
      prefix: ['nsenter', `--net=/run/netns/${netns}`],
      env: { BERTH_VM_HOST_PORTS: hostPorts },
    });
    const archive = path.join(guest.dir, 'busybox.tar');
    await writeDockerArchive(archive, [{ image: await buildFixture('busybox'), tags: ['busybox:latest'] }]);
    const load = guest.docker(['load', '-i', archive]);
    assert.equal(load.code, 0, load.stderr);
  });

  after(async () => {
    await guest?.cleanup();
    service?.close();
    hv?.kill();
    for (const [cmd, args] of [
      ['ip', ['link', 'del', hostLink]],
      ['ip', ['netns', 'del', netns]],
    ] as [string, string[]][])
      try {
        sh(cmd, args);
      } catch {
        /* not made */
      }
    for (const d of [bundle, home]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it("launches vfkit on its NAT with the VM's own MAC and the guest on DHCP; no gvproxy", async () => {
    const line = await eventually(
      () => consoleText,
      (t) => t.includes('vfkit stand-in: '),
      'the console',
    );
    const argv: string[] = JSON.parse(/vfkit stand-in: (.*)/.exec(line)![1]);
    assert.ok(argv.includes(`virtio-net,nat,mac=${natMac(paths.dir)}`), JSON.stringify(argv));
    assert.match(argv[argv.indexOf('--bootloader') + 1], / berth\.net=dhcp /);
    assert.ok(!fs.existsSync(path.join(paths.dir, 'gvproxy.pid')));
    assert.ok(logged.some((l) => /no gvproxy found: vfkit's own NAT/.test(l)));
  });

  it('finds the guest by its lease: the API on its address, the port service on the gateway it reaches', async () => {
    let api: { host: string; port: number } | undefined;
    void hv!.apiAddress().then((a) => (api = a));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(api, undefined, "no lease of this start's yet (the earlier start's is not it), no address");
    // bootpd's lease, as macOS writes it (the MAC's bytes without leading zeros), after another VM's.
    const hw = leaseMac();
    fs.writeFileSync(
      leases,
      `{\n\tname=other\n\tip_address=192.168.64.2\n\thw_address=1,2:0:0:0:0:1\n\tlease=0x6954c8f5\n}\n` +
        `{\n\tname=berth\n\tip_address=${NAT.guest}\n\thw_address=1,${hw}\n\tidentifier=1,${hw}\n\tlease=0x6954c8f5\n}\n`,
    );
    await eventually(
      () => api,
      (a) => a !== undefined,
      'the API address once leased',
    );
    assert.deepEqual(api, { host: NAT.guest, port: 2376 });
    const hostSide = await hv!.guestSideHost!();
    assert.equal(hostSide, NAT.gateway);
    // As the supervisor does: the port service on the gateway too, the port the seed names.
    const seedPort = Number(/:(\d+) /.exec(fs.readFileSync(path.join(paths.seedDir, 'host-ports'), 'utf8'))![1]);
    assert.equal(await service.listen(hostSide, seedPort), seedPort);
  });

  it("publishes -p on the host's loopback through the supervisor's relay, and takes it away with the container", async () => {
    const port = await freePort();
    const run = await guest!.dockerAsync([
      'run',
      '-d',
      '--name',
      'web',
      '-p',
      `${port}:80`,
      'busybox',
      'sh',
      '-c',
      'echo hello-through-the-nat > /tmp/index.html && exec httpd -f -p 80 -h /tmp',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(portStates.at(-1), [
      { protocol: 'tcp', hostPort: port, container: run.stdout.trim().slice(0, 12) },
    ]);
    // The relay listens on the host's loopback only.
    const listening = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/)[3]);
    assert.deepEqual(listening, [`127.0.0.1:${port}`]);
    await eventually(
      () => httpGet(port, '/index.html'),
      (r) => r.includes('hello-through-the-nat'),
      'the container through the host loopback',
    );
    assert.equal((await guest!.dockerAsync(['rm', '-f', 'web'])).code, 0);
    await eventually(
      () => execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }),
      (out) => out.trim() === '',
      'the relay closed',
    );
    assert.equal(await httpGet(port), '', 'nothing answers on the port any more');
    assert.deepEqual(portStates.at(-1), []);
  });

  it("a host port another program holds fails the start with dockerd's words; the container stays created", async () => {
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const busy = (holder.address() as net.AddressInfo).port;
    try {
      await runOnBusyPort(guest!, busy);
      assert.ok(logged.some((l) => l.includes(`port ${busy}/tcp is not available on the host`)));
    } finally {
      holder.close();
      await guest!.dockerAsync(['rm', '-f', 'clash']);
    }
  });

  it("stops through vfkit's REST API", async () => {
    await hv!.requestPoweroff();
    assert.equal(await hv!.exited, 0);
    hv = undefined;
  });
});
