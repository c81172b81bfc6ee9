// The wsl driver's parts that run on Linux (WSL itself cannot: no Windows here). The guest as WSL runs it: the root
// tarball the image build makes, unpacked as `wsl --import` would, and the command the driver has WSL run in it
// (wsl-init with the seed at its /mnt/<drive> path) in fresh mount, PID and network namespaces under chroot, with
// what WSL gives a distribution (proc, sys with its hybrid cgroup mounts, dev, the drive under /mnt/c). It answers
// `_ping` and `docker run` over mutual TLS on its port with the VM's certificates: the tarball is complete. Then what
// `berth vm status` says of a wsl VM, whose size WSL decides.
import * as assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeVmTls, writeVmTls } from '../../src/vm/certs';
import { GUEST_API_PORT } from '../../src/vm/driver';
import { VmPaths } from '../../src/vm/paths';
import { hostLoopbackFor, writeSeed } from '../../src/vm/supervisor';
import { wslRunArgs } from '../../src/vm/wsl';
import { buildFixture, writeDockerArchive } from '../fixtures';
import { CLI_JS } from '../helpers/cli';
import { requireDockerCli } from '../helpers/engine';
import { eventually } from '../helpers/net';
import { ensureGuestImage } from '../helpers/vm';

describe('vm: the wsl driver on Linux', () => {
  describe("WSL's root tarball and wsl-init, in namespaces standing for WSL", function () {
    this.timeout(300_000);
    const netns = `berth-wsl-${crypto.randomBytes(3).toString('hex')}`;
    let work: string;
    let root: string;
    let paths: VmPaths;
    let distro: ChildProcess | undefined;
    let consoleLog: string;

    /** A command in the distribution's network namespace (WSL forwards its localhost to the host's). */
    const inNetns = (cmd: string[], input?: string) =>
      spawnSync('nsenter', [`--net=/run/netns/${netns}`, ...cmd], { encoding: 'utf8', input, timeout: 120_000 });
    const docker = (args: string[]) =>
      inNetns([
        'docker',
        '--tlsverify',
        '--tlscacert',
        path.join(paths.tlsDir, 'ca.pem'),
        '--tlscert',
        path.join(paths.tlsDir, 'cert.pem'),
        '--tlskey',
        path.join(paths.tlsDir, 'key.pem'),
        '-H',
        `tcp://127.0.0.1:${GUEST_API_PORT}`,
        ...args,
      ]);
    const curlPing = (withClientCert: boolean) =>
      inNetns([
        'curl',
        '-sS',
        '--max-time',
        '10',
        '--cacert',
        path.join(paths.tlsDir, 'ca.pem'),
        ...(withClientCert
          ? ['--cert', path.join(paths.tlsDir, 'cert.pem'), '--key', path.join(paths.tlsDir, 'key.pem')]
          : []),
        `https://127.0.0.1:${GUEST_API_PORT}/_ping`,
      ]);

    before(async function () {
      requireDockerCli(this);
      const image = ensureGuestImage('x64');
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-wsl-'));
      root = path.join(work, 'distro');
      fs.mkdirSync(root);
      execFileSync('tar', ['-xzf', path.join(image, 'rootfs.tar.gz'), '-C', root, '--numeric-owner']);

      // The VM's directory as the driver has it: certificates, the seed (no port service: WSL forwards ports).
      paths = new VmPaths('default', path.join(work, 'home'));
      paths.ensureDir();
      writeVmTls(paths.tlsDir, makeVmTls('default'));
      assert.equal(hostLoopbackFor('wsl'), undefined);
      writeSeed(paths);
      // What the driver has WSL run, with the seed's Windows path as WSL sees it (/mnt/c/…).
      const run = wslRunArgs('default', 'C:\\Users\\me\\AppData\\Local\\berth\\vm\\default\\seed');
      const command = run.slice(run.indexOf('--exec') + 1);
      assert.deepEqual(command, [
        '/bin/sh',
        '/etc/berth/wsl-init',
        '/mnt/c/Users/me/AppData/Local/berth/vm/default/seed',
      ]);
      const seedInDistro = command[2];

      execFileSync('ip', ['netns', 'add', netns]);
      execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
      consoleLog = path.join(work, 'console.log');
      const out = fs.openSync(consoleLog, 'w');
      const q = (p: string) => `'${p.replace(/'/g, "'\\''")}'`;
      const r = q(root);
      // What WSL gives the distribution before running the command: proc, sys (its hybrid cgroup mounts under
      // /sys/fs/cgroup), dev, a tmpfs /run, drive C: under /mnt/c.
      const prepare = [
        // The distribution's root is a file system of its own (ext4.vhdx) — runc remounts / — not a plain folder.
        `mount --bind ${r} ${r}`,
        `mount -t proc proc ${r}/proc`,
        `mount --rbind /sys ${r}/sys`,
        `mount --rbind /dev ${r}/dev`,
        `mount -t tmpfs tmpfs ${r}/run`,
        `mkdir -p ${r}${q(seedInDistro)}`,
        `mount --bind ${q(paths.seedDir)} ${r}${q(seedInDistro)}`,
        `exec chroot ${r} ${command.map(q).join(' ')}`,
      ].join(' && ');
      distro = spawn(
        'nsenter',
        [
          `--net=/run/netns/${netns}`,
          'unshare',
          '--mount',
          '--pid',
          '--kill-child',
          '--propagation',
          'private',
          'sh',
          '-c',
          prepare,
        ],
        // A distribution gets a fresh environment from WSL, not the test run's (which other suites change).
        { stdio: ['ignore', out, out], env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' } },
      );
      fs.closeSync(out);
      const log = () => fs.readFileSync(consoleLog, 'utf8');
      await eventually(
        () => (distro!.exitCode === null ? curlPing(true).stdout : `exited: ${log()}`),
        (s) => s === 'OK' || s.startsWith('exited'),
        `the distribution's berthd answering _ping (console: ${consoleLog})`,
        120_000,
      );
      assert.equal(distro.exitCode, null, log());
      const archive = path.join(work, 'busybox.tar');
      await writeDockerArchive(archive, [{ image: await buildFixture('busybox'), tags: ['busybox:latest'] }]);
      const load = docker(['load', '-i', archive]);
      assert.equal(load.status, 0, load.stderr);
    });

    after(async () => {
      if (distro && distro.exitCode === null) {
        const gone = new Promise((r) => distro!.once('exit', r));
        // unshare ignores SIGTERM while its child runs; with --kill-child its end takes the distribution's PID 1
        // (berthd) and with it everything in the PID namespace.
        distro.kill('SIGKILL');
        await gone;
      }
      try {
        execFileSync('ip', ['netns', 'del', netns]);
      } catch {
        /* not made */
      }
      if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    it('answers _ping over mutual TLS on its port, and nothing without the VM client certificate', () => {
      assert.equal(curlPing(true).stdout, 'OK');
      const anonymous = curlPing(false);
      assert.notEqual(anonymous.status, 0);
      assert.notEqual(anonymous.stdout, 'OK');
      const v = docker(['version', '--format', '{{.Server.Os}}/{{.Server.Arch}}']);
      assert.equal(v.stdout.trim(), 'linux/amd64', v.stderr);
    });

    it('runs a container (runc, overlay, the CNI bridge: all from the tarball)', () => {
      const r = docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo hello from wsl; ip -4 -o addr show eth0']);
      assert.equal(r.status, 0, `${r.stderr}\n${fs.readFileSync(consoleLog, 'utf8').slice(-3000)}`);
      assert.match(r.stdout, /^hello from wsl\n/);
      assert.match(r.stdout, /eth0\s+inet 172\.\d+\.\d+\.\d+\//);
    });

    it("publishes -p on the distribution's 127.0.0.1 (which WSL forwards to the host's), gone after rm", () => {
      const port = 18000 + crypto.randomInt(2000);
      const get = () => inNetns(['curl', '-sS', '--max-time', '5', `http://127.0.0.1:${port}/index.html`]);
      const run = docker([
        'run',
        '-d',
        '--name',
        'web',
        '-p',
        `${port}:80`,
        'busybox',
        'sh',
        '-c',
        'echo hello-from-wsl > /tmp/index.html && exec httpd -f -p 80 -h /tmp',
      ]);
      assert.equal(run.status, 0, `${run.stderr}\n${fs.readFileSync(consoleLog, 'utf8').slice(-3000)}`);
      try {
        let r = get();
        for (let i = 0; i < 50 && r.stdout !== 'hello-from-wsl\n'; i++) {
          spawnSync('sleep', ['0.2']);
          r = get();
        }
        assert.equal(r.stdout, 'hello-from-wsl\n', r.stderr);
      } finally {
        const rm = docker(['rm', '-f', 'web']);
        assert.equal(rm.status, 0, rm.stderr);
      }
      const after = get();
      assert.notEqual(after.status, 0, 'nothing answers on the port after rm');
      assert.match(after.stderr, /Connection refused|Couldn't connect/);
    });

    it('wsl-init left cgroup v2 alone; limits whose controller v1 still binds are refused, docker info warns', () => {
      const info = docker(['info', '--format', '{{.CgroupVersion}} {{.MemoryLimit}}']);
      assert.equal(info.stdout.trim(), '2 false', info.stderr);
      const warnings = docker(['info']);
      assert.match(warnings.stderr + warnings.stdout, /WARNING: No memory limit support/);
      const r = docker(['run', '--rm', '-m', '64m', 'busybox', 'true']);
      assert.equal(r.status, 125);
      assert.match(
        r.stderr,
        /--memory: this host's cgroup v2 hierarchy lacks the memory controller .*cgroup_no_v1=all/,
      );
    });
  });

  describe('berth vm status of a wsl VM', () => {
    let home: string;
    before(() => {
      home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-wsl-status-'));
    });
    after(() => fs.rmSync(home, { recursive: true, force: true }));

    const status = (name: string, config: object) => {
      fs.mkdirSync(path.join(home, 'vm', name), { recursive: true });
      fs.writeFileSync(path.join(home, 'vm', name, 'config.json'), JSON.stringify({ name, arch: 'x64', ...config }));
      const r = spawnSync(process.execPath, [CLI_JS, 'vm', 'status', name], {
        env: { ...process.env, BERTH_HOME: home },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };

    it("says that WSL sizes the VM (.wslconfig), not Berth's settings, and shows no sizes it would not apply", () => {
      const out = status('win', { driver: 'wsl', cpus: 4, memoryMiB: 4096, diskGiB: 64 });
      assert.match(out, /^win: stopped\n {2}driver wsl, x64\n/);
      assert.match(
        out,
        /^ {2}note: WSL sizes its VM itself: CPUs and memory come from %UserProfile%\\\.wslconfig \(\[wsl2\] processors=, memory=\) and the distribution's disk grows on its own; --cpus, --memory, --disk and berth\.vm\.\* do not apply$/m,
      );
      assert.doesNotMatch(out, /4 CPUs|4096 MiB|64 GiB/);
      // The drivers that take the settings show them, without the note.
      const qemu = status('lin', { driver: 'qemu', cpus: 4, memoryMiB: 4096, diskGiB: 64 });
      assert.match(qemu, /^ {2}driver qemu, x64, 4 CPUs, 4096 MiB memory, 64 GiB disk$/m);
      assert.doesNotMatch(qemu, /note:/);
    });
  });
});
