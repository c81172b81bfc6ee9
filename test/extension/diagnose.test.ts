// Diagnose reads the host through an injected reader: a CentOS 7 host missing everything, a healthy Debian host.
import * as assert from 'node:assert/strict';
import { diagnose, renderDiagnosis, type HostReader } from '../../src/extension/engine/diagnose';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  answers,
  bundledEngineLaunch,
  candidateHosts,
  startBundledEngine,
  stopEngine,
  systemdInstallCommand,
  SYSTEM_SOCKET,
} from '../../src/extension/engine/launcher';
import { DIST } from '../helpers/engine';
import { ENGINE_ENV, ENGINE_NODE_FLAGS } from '../../src/common/host/engine-process';

function host(
  files: Record<string, string>,
  cmds: Record<string, string>,
  extra: Partial<HostReader> = {},
): HostReader {
  return {
    read: (p) => files[p],
    exists: (p) => p in files,
    run: (c) => cmds[c],
    platform: 'linux',
    isRoot: false,
    ...extra,
  };
}

describe('extension: diagnose', () => {
  it('reports what a bare CentOS 7 lacks, with yum commands marked for this host', () => {
    const d = diagnose(
      host(
        {
          '/etc/os-release': 'ID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"',
          '/proc/sys/kernel/osrelease': '3.10.0-1160.el7.x86_64\n',
          '/proc/mounts': 'cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n',
          '/proc/filesystems': 'nodev\tproc\n',
          '/proc/sys/user/max_user_namespaces': '0\n',
          '/sys/fs/selinux/enforce': '1',
        },
        {},
        { glibc: '2.17' },
      ),
    );
    assert.equal(d.family, 'yum');
    const by = Object.fromEntries(d.checks.map((c) => [c.name, c]));
    assert.equal(by['cgroups'].found, 'v1');
    assert.equal(by['overlayfs'].ok, false);
    assert.equal(by['runc'].ok, false);
    assert.equal(by['iptables'].ok, false);
    assert.equal(by['glibc'].ok, false);
    assert.equal(by['SELinux'].found, 'enforcing, container-selinux missing');
    assert.equal(by['SELinux'].ok, false);
    assert.equal(by['user namespaces'].found, 'disabled (user.max_user_namespaces = 0)');
    assert.equal(by['user namespaces'].fix?.note, 'sudo sysctl -w user.max_user_namespaces=28633');
    assert.equal(by['overlayfs in a user namespace'].ok, false, 'kernel 3.10');
    assert.equal(by['sub-ids'].ok, false);
    assert.equal(by['privileges'].ok, false);
    const md = renderDiagnosis(d);
    assert.match(md, /CentOS Linux 7/);
    assert.match(md, /yum \(this host\):\n```sh\nsudo yum install -y runc\n```/);
    assert.match(md, /apt:\n```sh\nsudo apt-get install -y containernetworking-plugins/);
    assert.match(md, /dnf:\n```sh\nsudo dnf install -y container-selinux/);
    assert.match(md, /\| glibc \| ✗ missing \| 2.17 \|/);
  });

  it('says a complete Debian host is ready', () => {
    const d = diagnose(
      host(
        {
          '/etc/os-release': 'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
          '/proc/sys/kernel/osrelease': '6.1.0-18-amd64',
          '/proc/mounts': 'cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n',
          '/proc/filesystems': 'nodev\toverlay\n',
          '/usr/lib/cni/bridge': '',
          '/proc/sys/user/max_user_namespaces': '63000',
        },
        { runc: 'runc version 1.1.5', iptables: 'iptables v1.8.9 (nf_tables)' },
        { glibc: '2.36', isRoot: true },
      ),
    );
    assert.equal(d.family, 'apt');
    assert.ok(
      d.checks.every((c) => c.ok),
      JSON.stringify(d.checks.filter((c) => !c.ok)),
    );
    assert.equal(d.checks.find((c) => c.name === 'cgroups')!.found, 'v2 (unified)');
    assert.match(renderDiagnosis(d), /Everything the engine needs is present/);
  });

  it('RHEL 10: crun without runc is enough; enforcing SELinux with container-selinux is fine', () => {
    const d = diagnose(
      host(
        {
          '/etc/os-release':
            'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="10.0"\nPRETTY_NAME="Red Hat Enterprise Linux 10.0"',
          '/proc/sys/kernel/osrelease': '6.12.0-55.el10.x86_64',
          '/proc/mounts': 'cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n',
          '/proc/filesystems': 'nodev\toverlay\n',
          '/usr/libexec/cni/bridge': '',
          '/sys/fs/selinux/enforce': '1',
          '/etc/selinux/config': 'SELINUX=enforcing\nSELINUXTYPE=targeted\n',
          '/etc/selinux/targeted/contexts/lxc_contexts': 'process = "system_u:system_r:container_t:s0"\n',
        },
        { crun: 'crun version 1.19', iptables: 'iptables v1.8.11 (nf_tables)' },
        { glibc: '2.39', isRoot: true },
      ),
    );
    assert.equal(d.family, 'dnf');
    const by = Object.fromEntries(d.checks.map((c) => [c.name, c]));
    assert.equal(by['runc'].ok, true);
    assert.equal(by['runc'].found, 'crun version 1.19 (no runc: containers run on crun)');
    assert.equal(by['SELinux'].ok, true);
    assert.equal(by['SELinux'].found, 'enforcing');
    assert.ok(
      d.checks.every((c) => c.ok),
      JSON.stringify(d.checks.filter((c) => !c.ok)),
    );
  });

  it('reads this host without throwing', () => {
    assert.ok(diagnose().checks.length >= 9);
  });
});

describe('extension: engine launcher', () => {
  it('uses the configured host alone, else the bundled engine sockets', () => {
    assert.deepEqual(candidateHosts(' tcp://127.0.0.1:2375 '), ['tcp://127.0.0.1:2375']);
    assert.ok(candidateHosts('').includes(SYSTEM_SOCKET));
  });

  it('launches the bundled engine with the extension host runtime in Node mode', () => {
    const spec = bundledEngineLaunch('/ext', SYSTEM_SOCKET, '/vscode/code', { PATH: '/bin' });
    assert.equal(spec.command, '/vscode/code');
    assert.deepEqual(spec.args.slice(0, 4), ['--max-semi-space-size=4', '/ext/dist/engine.js', '-H', SYSTEM_SOCKET]);
    assert.equal(spec.env.ELECTRON_RUN_AS_NODE, '1');
    // What bounds the engine's memory after work (src/common/host/engine-process.ts), also in engine-bin/berthd.
    assert.equal(spec.env.MALLOC_MMAP_THRESHOLD_, '65536');
    const wrapper = fs.readFileSync(path.join(__dirname, '../../engine-bin/berthd'), 'utf8');
    for (const flag of ENGINE_NODE_FLAGS) assert.ok(wrapper.includes(flag), `engine-bin/berthd lacks ${flag}`);
    for (const [k, v] of Object.entries(ENGINE_ENV))
      assert.ok(wrapper.includes(`${k}:-${v}`), `engine-bin/berthd lacks ${k}`);
  });

  it('installs the systemd service with a berth group in one sudo command that sh can parse', () => {
    const ext = "/home/o'neil/.vscode-server/extensions/berth.berth-0.1.0";
    const inner = (cmd: string) =>
      spawnSync('sh', ['-c', `set -- ${cmd.replace(/^sudo sh -c /, '')}; printf %s "$1"`], { encoding: 'utf8' }).stdout;
    const server = systemdInstallCommand(ext, "o'neil", "/home/o'neil/.vscode-server/bin/abc/node");
    assert.match(server, /^sudo sh -c '/);
    const script = inner(server);
    // The command is valid shell: sh -n parses it without running.
    assert.equal(spawnSync('sh', ['-n', '-c', script]).status, 0, script);
    assert.match(script, /groupadd --system berth/);
    assert.match(script, /usermod -aG berth 'o'\\''neil'/);
    assert.match(
      script,
      /cp -f '\/home\/o'\\''neil\/.vscode-server\/extensions\/berth.berth-0.1.0\/dist\/engine.js' \/usr\/local\/lib\/berth\/dist\//,
    );
    // The server's node is copied out of the folder VS Code updates replace, and the unit runs the copies.
    assert.match(
      script,
      /install -m 0755 '\/home\/o'\\''neil\/.vscode-server\/bin\/abc\/node' \/usr\/local\/lib\/berth\/node/,
    );
    assert.match(script, /BERTH_NODE=\/usr\/local\/lib\/berth\/node/);
    assert.match(
      script,
      /ExecStart=\/usr\/local\/lib\/berth\/engine-bin\/berthd -H unix:\/\/\/run\/berth\/berth.sock --group berth/,
    );
    assert.match(script, /systemctl enable --now berth.service/);
    assert.doesNotMatch(server, /\n/, 'one line, so the terminal runs it only when the user presses Enter');
    // The unit file the command writes is what systemd reads.
    const unit = spawnSync(
      'sh',
      [
        '-c',
        script
          .split('; ')
          .find((c) => c.startsWith('printf'))!
          .replace(/ > \/etc\/systemd\/system\/berth.service$/, ''),
      ],
      { encoding: 'utf8' },
    ).stdout;
    assert.match(unit, /^\[Unit\]\nDescription=Berth container engine\n/);
    assert.match(unit, /\n\[Service\]\n(.+\n)*ExecStart=\/usr\/local\/lib\/berth\/engine-bin\/berthd .*\n/);
    assert.match(unit, /\[Install\]\nWantedBy=multi-user.target\n$/);
    // Where SELinux is on, the data root gets Docker's file contexts by an equivalence rule (stand-ins record calls).
    const selinuxStep = /if command -v selinuxenabled .*?; fi/.exec(script)![0];
    for (const enabled of [true, false]) {
      const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-selinux-'));
      try {
        const calls = path.join(bin, 'calls');
        const stub = (name: string, rc: number) =>
          fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> ${calls}\nexit ${rc}\n`, {
            mode: 0o755,
          });
        stub('selinuxenabled', enabled ? 0 : 1);
        stub('semanage', 0);
        stub('restorecon', 0);
        stub('install', 0);
        const r = spawnSync('sh', ['-c', selinuxStep], { env: { ...process.env, PATH: `${bin}:/usr/bin:/bin` } });
        assert.equal(r.status, 0, String(r.stderr));
        const seen = fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8') : '';
        assert.equal(
          seen,
          enabled
            ? 'selinuxenabled \nsemanage fcontext -a -e /var/lib/docker /var/lib/berth\ninstall -d -m 0711 /var/lib/berth\nrestorecon -R /var/lib/berth\n'
            : 'selinuxenabled \n',
        );
      } finally {
        fs.rmSync(bin, { recursive: true, force: true });
      }
    }
    // A desktop VS Code's Electron stays where it is installed.
    const desktop = inner(systemdInstallCommand('/ext', 'me', '/usr/share/code/code'));
    assert.match(desktop, /BERTH_NODE=\/usr\/share\/code\/code/);
    assert.doesNotMatch(desktop, /install -m 0755 '\/usr\/share\/code\/code'/);
  });
});

describe('extension: starting the bundled engine', function () {
  this.timeout(60_000);
  it('starts berthd detached with this runtime in Node mode, sees it answer, and stops it by its pidfile', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-launch-'));
    // An extension folder as the VSIX lays it out: dist/engine.js next to the manifest.
    fs.symlinkSync(DIST, path.join(dir, 'dist'));
    const host = `unix://${dir}/berth.sock`;
    const pidfile = path.join(dir, 'berthd.pid');
    const spec = bundledEngineLaunch(dir, host, process.execPath, process.env, {
      pidfile,
      extraArgs: [
        '--data-root',
        path.join(dir, 'data'),
        '--exec-root',
        path.join(dir, 'exec'),
        '--config-file',
        path.join(dir, 'daemon.json'),
      ],
    });
    fs.writeFileSync(path.join(dir, 'daemon.json'), '{}');
    try {
      assert.equal(await answers(host, 300), false);
      await startBundledEngine(spec, host, path.join(dir, 'logs', 'berthd.log'));
      assert.equal(await answers(host), true);
      const pid = Number(fs.readFileSync(pidfile, 'utf8'));
      // Detached: its own session, so a window reload (the extension host exiting) does not take it down.
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      assert.equal(Number(stat[3]), pid, 'berthd leads its own session');
      assert.equal(await stopEngine(host, pidfile), true);
      assert.equal(await answers(host, 300), false);
      assert.match(fs.readFileSync(path.join(dir, 'logs', 'berthd.log'), 'utf8'), /starting .*engine\.js -H unix:/);
    } finally {
      await stopEngine(host, pidfile, 5000).catch(() => undefined);
      for (const m of fs
        .readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4])
        .filter((m) => m?.startsWith(dir + '/'))
        .reverse()) {
        spawnSync('umount', ['-l', m]);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
