// The rootless engine under the user's systemd (src/extension/engine/user-service.ts): when the launcher starts it
// as a transient user service, the systemd-run command line, and what Diagnose says. The guest test that runs it
// for real as a logged-in user is test/vm/rhel-rootless.test.ts.
import * as assert from 'node:assert/strict';
import { diagnose, type HostReader } from '../../src/extension/engine/diagnose';
import { bundledEngineLaunch, withSbin } from '../../src/extension/engine/launcher';
import {
  probeUserManager,
  ROOTLESS_UNIT,
  rootlessStart,
  type UserManager,
  unitEnvironment,
  userServiceLaunch,
} from '../../src/extension/engine/user-service';

const MANAGER_CG = '/user.slice/user-1000.slice/user@1000.service';
const RHEL9: UserManager = {
  cgroupV2: true,
  version: 252,
  controlGroup: MANAGER_CG,
  controllers: ['cpu', 'memory', 'pids'],
  linger: false,
};

/** A host as the user sees it: files, and what `systemctl --user show` prints (undefined: no manager answers). */
function reader(files: Record<string, string>, systemctl?: string) {
  return {
    read: (p: string) => files[p],
    exists: (p: string) => p in files,
    run: (cmd: string) => (cmd === 'systemctl' ? systemctl : undefined),
  };
}

describe('extension: the rootless engine as a systemd user service', () => {
  it('reads the user manager: version, its cgroup and controllers, lingering', () => {
    const files = {
      '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory pids',
      [`/sys/fs/cgroup${MANAGER_CG}/cgroup.controllers`]: 'cpu memory pids\n',
    };
    const shown = `Version=252.39-1~deb12u2\nControlGroup=${MANAGER_CG}\n`;
    assert.deepEqual(probeUserManager(reader(files, shown), 'cloud-user'), RHEL9);
    assert.deepEqual(
      probeUserManager(reader({ ...files, '/var/lib/systemd/linger/cloud-user': '' }, shown), 'cloud-user').linger,
      true,
    );
    assert.deepEqual(probeUserManager(reader(files), 'cloud-user'), { cgroupV2: true, linger: false });
    assert.deepEqual(probeUserManager(reader({}), 'cloud-user'), { cgroupV2: false, linger: false });
  });

  it('starts as the user service only where a user manager can delegate (cgroup v2, systemd ≥ 240)', () => {
    assert.deepEqual(rootlessStart(RHEL9), { how: 'user-service', unit: 'berthd.service' });
    assert.deepEqual(rootlessStart({ ...RHEL9, cgroupV2: false }), {
      how: 'direct',
      why: 'cgroup v1 (or hybrid): no cgroup can be delegated to an ordinary user there',
    });
    assert.deepEqual(rootlessStart({ cgroupV2: true, linger: false }), {
      how: 'direct',
      why: "no systemd user manager answers (systemctl --user): the engine runs in the login session's cgroup, which is root's",
    });
    assert.deepEqual(rootlessStart({ ...RHEL9, version: 239 }), {
      how: 'direct',
      why: "the user manager's systemd 239 is older than 240",
    });
  });

  it('the systemd-run command line: a collected transient service, delegated, stopped as Docker’s, output to the log', () => {
    const env = {
      PATH: '/usr/local/bin:/usr/bin',
      HOME: '/home/cloud-user',
      XDG_RUNTIME_DIR: '/run/user/1000',
      BERTH_ROOTLESS_NET: 'pasta',
      https_proxy: 'http://proxy:3128',
      VSCODE_IPC_HOOK_CLI: '/run/user/1000/vscode-ipc-1.sock',
      SSH_CONNECTION: '10.0.2.2 5555 10.0.2.15 22',
    };
    const engine = bundledEngineLaunch(
      '/home/cloud-user/.vscode-server/extensions/berth.berth',
      'unix:///run/user/1000/berth/berth.sock',
      '/home/cloud-user/.vscode-server/bin/node',
      env,
      { pidfile: '/run/user/1000/berth/berthd.pid' },
    );
    const log = '/home/cloud-user/.vscode-server/data/User/globalStorage/berth.berth/berthd.log';
    const unit = userServiceLaunch(engine, log);
    assert.equal(unit.command, 'systemd-run');
    assert.deepEqual(unit.args, [
      '--user',
      '--unit=berthd.service',
      '--description=Berth container engine (rootless)',
      '--collect',
      '--quiet',
      ...['-p', 'Type=exec', '-p', 'Delegate=yes', '-p', 'KillMode=mixed'],
      ...['-p', `StandardOutput=append:${log}`, '-p', `StandardError=append:${log}`],
      // The engine's settings (its memory bounds, PATH with the sbin folders iptables is in), none of the session's.
      '--setenv=MALLOC_MMAP_THRESHOLD_=65536',
      '--setenv=PATH=/usr/local/bin:/usr/bin:/usr/local/sbin:/usr/sbin:/sbin',
      '--setenv=HOME=/home/cloud-user',
      '--setenv=XDG_RUNTIME_DIR=/run/user/1000',
      '--setenv=BERTH_ROOTLESS_NET=pasta',
      '--setenv=https_proxy=http://proxy:3128',
      '--setenv=ELECTRON_RUN_AS_NODE=1',
      '--',
      '/home/cloud-user/.vscode-server/bin/node',
      '--max-semi-space-size=4',
      '/home/cloud-user/.vscode-server/extensions/berth.berth/dist/engine.js',
      ...['-H', 'unix:///run/user/1000/berth/berth.sock', '--pidfile', '/run/user/1000/berth/berthd.pid'],
    ]);
    assert.equal(ROOTLESS_UNIT, 'berthd.service');
    assert.deepEqual(Object.keys(unitEnvironment({ LC_ALL: 'C', ELECTRON_NO_ASAR: '1', NO_PROXY: 'x' })), [
      'LC_ALL',
      'NO_PROXY',
    ]);
    assert.equal(withSbin('/sbin:/usr/bin'), '/sbin:/usr/bin:/usr/local/sbin:/usr/sbin');
    assert.equal(withSbin(undefined), '/usr/local/sbin:/usr/sbin:/sbin');
  });

  it('Diagnose: where the engine runs, which limits the delegation allows, and what lingering off means', () => {
    const base: Record<string, string> = {
      '/etc/os-release': 'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\nPRETTY_NAME="Red Hat Enterprise Linux 9.4"',
      '/proc/sys/kernel/osrelease': '5.14.0-427.el9.x86_64',
      '/proc/mounts': 'cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n',
      '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory pids',
      [`/sys/fs/cgroup${MANAGER_CG}/cgroup.controllers`]: 'cpu memory pids',
    };
    const host = (files: Record<string, string>, systemctl?: string): HostReader => ({
      read: (p) => files[p],
      exists: (p) => p in files,
      run: (c) => (c === 'systemctl' ? systemctl : c === 'sh' ? '/usr/bin/x' : undefined),
      platform: 'linux',
      isRoot: false,
      user: { name: 'cloud-user', uid: 1000 },
    });
    const shown = `Version=252-32.el9\nControlGroup=${MANAGER_CG}`;
    const by = (files: Record<string, string>, systemctl?: string) =>
      Object.fromEntries(diagnose(host(files, systemctl)).checks.map((c) => [c.name, c]));

    const rhel = by(base, shown);
    assert.equal(rhel["rootless engine's cgroup"].ok, true);
    assert.equal(
      rhel["rootless engine's cgroup"].found,
      'systemd 252 user manager: Berth runs the engine as berthd.service with Delegate=yes',
    );
    assert.equal(rhel['delegated controllers'].ok, true);
    assert.equal(
      rhel['delegated controllers'].found,
      'cpu memory pids (refused: --cpuset-cpus, --cpuset-mems, --blkio-weight)',
    );
    assert.match(rhel['delegated controllers'].fix!.note!, /Delegate=cpu cpuset io memory pids/);
    assert.equal(rhel.lingering.ok, false);
    assert.match(rhel.lingering.found, /^off: your systemd, and with it the engine and its containers, stops when/);
    assert.equal(rhel.lingering.fix!.note, 'sudo loginctl enable-linger cloud-user');

    const lingering = by({ ...base, '/var/lib/systemd/linger/cloud-user': '' }, shown);
    assert.equal(lingering.lingering.ok, true);
    assert.equal(lingering.lingering.fix, undefined);

    // No user manager: the engine runs in the session scope, limits refused, and Diagnose says why.
    const none = by(base);
    assert.equal(none["rootless engine's cgroup"].ok, false);
    assert.match(none["rootless engine's cgroup"].found, /^started directly, limits refused: no systemd user manager/);
    assert.equal(none.lingering, undefined);
  });
});
