// `berth vm start|stop|status|rm|env` run as a user runs them (node dist/cli.js on a private BERTH_HOME): flags and
// bad values (a clear error, nothing made or started), status with no VM, env/--unset as docker-machine env prints
// them, then one real cycle under QEMU — start with --cpus/--memory, status (text and json), the docker CLI through
// `eval "$(berth vm env)"` loading and running an image, stop leaving no process (env then refused) — and rm's
// confirmation.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildFixture, writeDockerArchive } from '../fixtures';
import { CLI_JS } from '../helpers/cli';
import { requireDockerCli } from '../helpers/engine';
import { startPty } from '../helpers/pty';
import { ensureGuestImage, processesMentioning, requireQemu, testVmHome } from '../helpers/vm';

describe('berth vm (the CLI, as a user runs it)', function () {
  this.timeout(120_000);
  let home: string;
  let image: string;

  before(function () {
    this.timeout(600_000);
    requireQemu(this);
    requireDockerCli(this);
    image = ensureGuestImage();
    home = testVmHome();
  });

  const env = () => {
    const e: NodeJS.ProcessEnv = { ...process.env, BERTH_HOME: home, BERTH_VM_IMAGE: image };
    delete e.DOCKER_HOST;
    delete e.BERTH_HOST;
    return e;
  };

  /** `berth vm …` (async: the VM's supervisor must be free to run while the CLI waits on it). */
  const vm = (args: string[], timeoutMs = 60_000) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [CLI_JS, 'vm', ...args], { env: env() });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d) => (stdout += d));
      c.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
      c.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      c.stdin.end();
    });

  const vmDir = (name = 'default') => path.join(home, 'vm', name);
  const nothingMade = () => {
    assert.equal(fs.existsSync(path.join(home, 'vm')) ? fs.readdirSync(path.join(home, 'vm')).length : 0, 0);
    assert.deepEqual(processesMentioning(home), []);
  };

  describe('without a VM', () => {
    it('refuses bad values with a clear error, making and starting nothing', async () => {
      const cases: [string[], number, RegExp][] = [
        [['--cpus', '0'], 125, /^invalid --cpus: 0$/m],
        [['--cpus', 'two'], 125, /^invalid --cpus: two$/m],
        [['--cpus', '1.5'], 125, /^invalid --cpus: 1\.5$/m],
        [['--memory', 'lots'], 125, /^invalid --memory: lots$/m],
        [['--memory', '0'], 125, /^invalid --memory: 0$/m],
        [['--memory', '128m'], 1, /^Error: invalid memory size: 128 MiB \(256 MiB at least\)$/m],
        [['--disk', '-1g'], 125, /^invalid --disk: -1g$/m],
        [['--driver', 'virtualbox'], 1, /^Error: unknown VM driver "virtualbox" \(qemu, vfkit or wsl\)$/m],
        [
          ['--driver', 'wsl', '--memory', '2g'],
          1,
          /^Error: no usable VM driver: the wsl driver runs on Windows only$/m,
        ],
        [['--driver', 'vfkit'], 1, /^Error: no usable VM driver: the vfkit driver runs on macOS only/m],
      ];
      for (const [args, code, message] of cases) {
        const r = await vm(['start', ...args]);
        assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, message, args.join(' '));
        assert.equal(r.stdout, '', args.join(' '));
        nothingMade();
      }
    });

    it('status says there is none (json: absent), stop/rm/env name the VM missing', async () => {
      const text = await vm(['status']);
      assert.equal(text.code, 1);
      assert.equal(text.stderr.trim(), 'Error: no VM named "default" (berth vm start creates it)');
      const json = await vm(['status', '--format', 'json']);
      assert.equal(json.code, 0, json.stderr);
      const s = JSON.parse(json.stdout);
      assert.deepEqual([s.name, s.exists, s.running, s.phase], ['default', false, false, 'absent']);
      assert.equal(s.socket, path.join(vmDir(), 'berth.sock'));
      const all = await vm(['ls', '--all', '--format', 'json']);
      assert.deepEqual(JSON.parse(all.stdout), []);
      for (const [cmd, name] of [
        [['stop'], 'default'],
        [['rm', '-f'], 'default'],
        [['stop', 'dev'], 'dev'],
      ] as const) {
        const r = await vm([...cmd]);
        assert.equal(r.code, 1, cmd.join(' '));
        assert.equal(r.stderr.trim(), `Error: no VM named "${name}"`);
      }
      const e = await vm(['env']);
      assert.equal(e.code, 1);
      assert.match(e.stderr, /^Error: no VM named "default" \(berth vm start creates it\)/);
      nothingMade();
    });

    it('env --unset prints what undoes it and how to apply it, in each shell, as docker-machine env -u', async () => {
      const sh = await vm(['env', '--unset']);
      assert.equal(sh.code, 0, sh.stderr);
      assert.equal(
        sh.stdout,
        'unset DOCKER_HOST\nunset BERTH_HOST\n# Run this command to configure your shell:\n# eval "$(berth vm env --unset)"\n',
      );
      const fish = await vm(['env', 'dev', '-u', '--shell', 'fish']);
      assert.equal(
        fish.stdout,
        'set -e DOCKER_HOST;\nset -e BERTH_HOST;\n# Run this command to configure your shell:\n# berth vm env dev --unset | source\n',
      );
      const ps = await vm(['env', '-u', '--shell', 'powershell']);
      assert.match(ps.stdout, /^Remove-Item Env:\\DOCKER_HOST\nRemove-Item Env:\\BERTH_HOST\n/);
      const cmd = await vm(['env', '-u', '--shell', 'cmd']);
      assert.match(cmd.stdout, /^SET DOCKER_HOST=\nSET BERTH_HOST=\nREM Run this command/);
      const bad = await vm(['env', '--shell', 'tcsh']);
      assert.equal(bad.code, 125);
      assert.equal(bad.stderr.trim(), 'unknown shell: tcsh');
    });
  });

  describe('one real VM: start, status, docker through env, stop, rm', function () {
    this.timeout(300_000);
    let archive: string;

    before(async function () {
      this.timeout(600_000);
      archive = path.join(home, 'hello.tar');
      await writeDockerArchive(archive, [{ image: await buildFixture('hello-world'), tags: ['hello-world:latest'] }]);
    });

    after(async function () {
      this.timeout(120_000);
      await vm(['stop']);
    });

    it('start --cpus 1 --memory 1g --disk 4g boots it and says how to use it', async () => {
      const r = await vm(['start', '--cpus', '1', '--memory', '1g', '--disk', '4g'], 300_000);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        /^VM "default" is running \(qemu, (kvm|tcg); engine answered after .+\)\.\nTo use it from this shell: eval "\$\(berth vm env\)"\n$/,
      );
      // The 4 GiB data disk is sparse: it takes what the guest wrote (its new file system's metadata).
      const disk = fs.statSync(path.join(home, 'vm', 'default', 'data.img'));
      assert.equal(disk.size, 4 * 1024 ** 3);
      assert.ok(disk.blocks * 512 < disk.size / 16, `data.img takes ${disk.blocks * 512} bytes`);
      const again = await vm(['start']);
      assert.equal(again.code, 1);
      assert.match(
        again.stderr,
        /^Error: VM "default" is already running \(supervisor pid \d+, since .+\); stop it first/,
      );
    });

    it('status shows it running with the sizes asked for (text and json)', async () => {
      const text = await vm(['status']);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^default: running\n {2}driver qemu, x64, 1 CPUs, 1024 MiB memory, 4 GiB disk\n/);
      assert.match(text.stdout, new RegExp(`^ {2}engine: unix://${vmDir()}/berth.sock$`, 'm'));
      assert.match(text.stdout, /^ {2}booted in \d+\.\d s \((kvm|tcg)\)$/m);
      const s = JSON.parse((await vm(['status', '--format', 'json'])).stdout);
      assert.deepEqual(
        [s.running, s.phase, s.config.cpus, s.config.memoryMiB, s.config.diskGiB],
        [true, 'running', 1, 1024, 4],
      );
      assert.ok(s.state.bootMs > 0);
    });

    it('eval "$(berth vm env)" points the docker CLI at the guest engine', async () => {
      const script = [
        `berth() { ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI_JS)} "$@"; }`,
        'eval "$(berth vm env)"',
        'echo "host=$DOCKER_HOST"',
        `docker load -i ${JSON.stringify(archive)} >/dev/null`,
        'docker run --rm hello-world',
        "docker info --format 'os={{.OperatingSystem}} cgroup={{.CgroupVersion}}'",
        'eval "$(berth vm env --unset)"',
        'echo "after=[$DOCKER_HOST$BERTH_HOST]"',
      ].join('\n');
      const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
        const c = spawn('bash', ['-c', script], { env: env() });
        let out = '';
        c.stdout.on('data', (d) => (out += d));
        c.stderr.on('data', (d) => (out += d));
        c.on('close', (code) => resolve({ code, out }));
      });
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`^host=unix://${vmDir()}/berth.sock$`, 'm'));
      assert.match(r.out, /Hello from Berth!/);
      assert.match(r.out, /^os=.* cgroup=2$/m);
      assert.match(r.out, /^after=\[\]$/m);
    });

    it('stop ends the guest and its supervisor; status says stopped', async () => {
      const r = await vm(['stop'], 120_000);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'VM "default" stopped.\n');
      assert.deepEqual(processesMentioning(vmDir()), []);
      assert.match((await vm(['status'])).stdout, /^default: stopped\n/);
      assert.equal((await vm(['stop'])).stdout, 'VM "default" is not running.\n');
      // env refuses a stopped VM, as docker-machine env does ("Host is not running"); --unset still answers.
      const e = await vm(['env']);
      assert.equal(e.code, 1);
      assert.equal(e.stdout, '');
      assert.equal(e.stderr.trim(), 'Error: VM "default" is not running (stopped): start it with berth vm start');
      const u = await vm(['env', '--unset']);
      assert.equal(u.code, 0, u.stderr);
      assert.match(u.stdout, /^unset DOCKER_HOST$/m);
    });

    it('rm asks on a terminal (no keeps it), then removes the VM and its disk', async () => {
      const cmd = `BERTH_HOME=${home} ${process.execPath} ${CLI_JS} vm rm`;
      const pty = startPty(cmd);
      try {
        await pty.waitFor(
          /Delete VM "default" with its images, containers and volumes\?\nAre you sure you want to continue\? \[y\/N\]/,
        );
        pty.send('n', 'Enter');
        await pty.waitFor(/EXIT=0/);
      } finally {
        pty.close();
      }
      assert.ok(fs.existsSync(path.join(vmDir(), 'config.json')));
      const pty2 = startPty(cmd);
      try {
        await pty2.waitFor(/\[y\/N\]/);
        pty2.send('y', 'Enter');
        await pty2.waitFor(/VM "default" removed\.\n.*EXIT=0/s);
      } finally {
        pty2.close();
      }
      assert.equal(fs.existsSync(vmDir()), false);
      const s = JSON.parse((await vm(['status', '--format', 'json'])).stdout);
      assert.equal(s.phase, 'absent');
    });
  });
});
