// The OCI spec generator is pure: these tests pin Docker's defaults and the translation of each option.
import * as assert from 'node:assert/strict';
import {
  ALL_CAPABILITIES,
  buildExecProcess,
  buildSpec,
  capabilities,
  capabilitiesOfMask,
  DEFAULT_CAPABILITIES,
  DEFAULT_PATH,
  mergeEnv,
  parseSize,
  type SpecInput,
} from '../../../src/engine/runtime/spec';
import { resolveUser } from '../../../src/engine/runtime/user';

const base = (over: Partial<SpecInput> = {}): SpecInput => ({
  rootfs: '/r',
  args: ['sh', '-c', 'true'],
  env: [],
  cwd: '/',
  user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
  hostname: 'abc',
  network: { mode: 'private' },
  hostNofileHard: 20000,
  cgroupsPath: '/berth/x',
  ...over,
});

describe('runtime: OCI spec generation', () => {
  it('uses Docker defaults: capabilities, namespaces, masked and read-only paths, mounts, seccomp', () => {
    const s = buildSpec(base());
    assert.deepEqual(s.process.capabilities.bounding.sort(), [
      'CAP_AUDIT_WRITE',
      'CAP_CHOWN',
      'CAP_DAC_OVERRIDE',
      'CAP_FOWNER',
      'CAP_FSETID',
      'CAP_KILL',
      'CAP_MKNOD',
      'CAP_NET_BIND_SERVICE',
      'CAP_NET_RAW',
      'CAP_SETFCAP',
      'CAP_SETGID',
      'CAP_SETPCAP',
      'CAP_SETUID',
      'CAP_SYS_CHROOT',
    ]);
    assert.deepEqual(s.linux.namespaces.map((n: any) => n.type).sort(), ['ipc', 'mount', 'network', 'pid', 'uts']);
    assert.ok(s.linux.maskedPaths.includes('/proc/kcore'));
    assert.ok(s.linux.readonlyPaths.includes('/proc/sys'));
    const dests = s.mounts.map((m: any) => m.destination);
    for (const d of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup'])
      assert.ok(dests.includes(d), d);
    assert.ok(s.mounts.find((m: any) => m.destination === '/sys').options.includes('ro'));
    assert.equal(s.linux.seccomp.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(s.linux.cgroupsPath, '/berth/x');
    assert.equal(s.hostname, 'abc');
    assert.equal(s.root.path, '/r');
    assert.deepEqual(s.process.env, [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=abc', 'HOME=/root']);
  });

  it('never asks for more open files than the host allows', () => {
    const s = buildSpec(base({ hostNofileHard: 20000 }));
    assert.deepEqual(s.process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 }]);
    const u = buildSpec(
      base({
        hostNofileHard: 20000,
        ulimits: [
          { name: 'nofile', soft: 1024, hard: 999999 },
          { name: 'nproc', soft: 10, hard: 20 },
        ],
      }),
    );
    assert.deepEqual(u.process.rlimits, [
      { type: 'RLIMIT_NOFILE', soft: 1024, hard: 20000 },
      { type: 'RLIMIT_NPROC', soft: 10, hard: 20 },
    ]);
    assert.throws(
      () => buildSpec(base({ ulimits: [{ name: 'bogus', soft: 1, hard: 1 }] })),
      /invalid ulimit type: bogus/,
    );
  });

  it('translates resources: memory (swap twice by default), NanoCpus to quota/period, shares, pids', () => {
    const s = buildSpec(base({ resources: { memory: 64 << 20, nanoCpus: 1.5e9, cpuShares: 512, pidsLimit: 100 } }));
    assert.deepEqual(s.linux.resources.memory, { limit: 64 << 20, swap: 128 << 20 });
    assert.deepEqual(s.linux.resources.cpu, { shares: 512, period: 100000, quota: 150000 });
    assert.deepEqual(s.linux.resources.pids, { limit: 100 });
    assert.equal(buildSpec(base()).linux.resources.memory, undefined);
  });

  it('network modes: private namespace, host (none), or a given namespace path', () => {
    const net = (spec: any) => spec.linux.namespaces.find((n: any) => n.type === 'network');
    assert.deepEqual(net(buildSpec(base())), { type: 'network' });
    assert.equal(net(buildSpec(base({ network: { mode: 'host' } }))), undefined);
    assert.deepEqual(net(buildSpec(base({ network: { mode: 'path', netnsPath: '/run/netns/x' } }))), {
      type: 'network',
      path: '/run/netns/x',
    });
  });

  it("pid, ipc and uts: own namespaces, the host's (none), or joined by path; /dev/shm as the ipc mode wants", () => {
    const nsOf = (spec: any, type: string) => spec.linux.namespaces.find((n: any) => n.type === type);
    const shm = (spec: any) => spec.mounts.find((m: any) => m.destination === '/dev/shm');
    const own = buildSpec(base());
    assert.deepEqual(
      ['pid', 'ipc', 'uts'].map((t) => nsOf(own, t)),
      [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }],
    );
    assert.equal(shm(own).type, 'tmpfs');
    const host = buildSpec(base({ pid: { mode: 'host' }, ipc: { mode: 'host' }, utsHost: true }));
    assert.deepEqual(
      ['pid', 'ipc', 'uts'].map((t) => nsOf(host, t)),
      [undefined, undefined, undefined],
    );
    assert.equal(host.hostname, undefined);
    assert.deepEqual(shm(host), {
      destination: '/dev/shm',
      type: 'bind',
      source: '/dev/shm',
      options: ['rbind', 'rprivate'],
    });
    const joined = buildSpec(
      base({
        pid: { mode: 'path', path: '/proc/9/ns/pid' },
        ipc: { mode: 'path', path: '/proc/9/ns/ipc', shm: '/d/shm' },
      }),
    );
    assert.deepEqual(nsOf(joined, 'pid'), { type: 'pid', path: '/proc/9/ns/pid' });
    assert.deepEqual(nsOf(joined, 'ipc'), { type: 'ipc', path: '/proc/9/ns/ipc' });
    assert.equal(shm(joined).source, '/d/shm');
    assert.equal(shm(buildSpec(base({ ipc: { mode: 'private', shm: '/mine/shm' } }))).source, '/mine/shm');
    assert.equal(shm(buildSpec(base({ ipc: { mode: 'none' } }))), undefined);
    // A /dev/shm of the user's own stays.
    const tmpfs = buildSpec(base({ ipc: { mode: 'host' }, tmpfs: { '/dev/shm': 'size=1m' } }));
    assert.equal(shm(tmpfs).type, 'tmpfs');
  });

  it('--init runs the command under the bundled init, mounted read-only; device cgroup rules are appended', () => {
    const spec = buildSpec(base({ init: '/opt/berth/bin/berth-init', deviceCgroupRules: ['c 42:* rmw', 'a *:* r'] }));
    assert.deepEqual(spec.process.args, ['/sbin/docker-init', '--', 'sh', '-c', 'true']);
    assert.deepEqual(
      spec.mounts.find((m: any) => m.destination === '/sbin/docker-init'),
      { destination: '/sbin/docker-init', type: 'bind', source: '/opt/berth/bin/berth-init', options: ['bind', 'ro'] },
    );
    assert.deepEqual(spec.linux.resources.devices.slice(-2), [
      { allow: true, type: 'c', major: 42, access: 'rmw' },
      { allow: true, type: 'a', access: 'r' },
    ]);
    assert.throws(
      () => buildSpec(base({ deviceCgroupRules: ['c 42 rmw'] })),
      /invalid device cgroup rule format: 'c 42 rmw'/,
    );
  });

  it('privileged: all capabilities, no seccomp, no masked paths, all devices, rw /sys', () => {
    const s = buildSpec(base({ privileged: true }));
    assert.ok(s.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
    assert.equal(s.linux.seccomp, undefined);
    assert.deepEqual(s.linux.maskedPaths, []);
    assert.deepEqual(s.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
    assert.ok(s.mounts.find((m: any) => m.destination === '/sys').options.includes('rw'));
  });

  it('"all capabilities" is what the host can grant: privileged, --cap-add ALL and a privileged exec', () => {
    const host = capabilitiesOfMask('000001fffeffffff'); // this project's CI VM: no CAP_SYS_RESOURCE (bit 24)
    assert.equal(host.length, 40);
    assert.ok(
      !host.includes('CAP_SYS_RESOURCE') && host.includes('CAP_CHECKPOINT_RESTORE') && host.includes('CAP_CHOWN'),
    );
    assert.deepEqual(
      capabilitiesOfMask('a80425fb'),
      [...DEFAULT_CAPABILITIES].sort((a, b) => ALL_CAPABILITIES.indexOf(a) - ALL_CAPABILITIES.indexOf(b)),
    );
    const s = buildSpec(base({ privileged: true, hostCapabilities: host }));
    assert.deepEqual(s.process.capabilities.bounding, host);
    assert.deepEqual(buildSpec(base({ capAdd: ['ALL'], hostCapabilities: host })).process.capabilities.effective, host);
    const exec = buildExecProcess(buildSpec(base({ hostCapabilities: host })).process, {
      args: ['sh'],
      tty: false,
      privileged: true,
      hostCapabilities: host,
    });
    assert.deepEqual(exec.capabilities.permitted, host);
  });

  it('CapAdd/CapDrop with and without the CAP_ prefix, ALL, and unknown names', () => {
    assert.deepEqual(capabilities(['CAP_CHOWN', 'CAP_KILL'], ['net_admin'], ['CAP_KILL']), [
      'CAP_CHOWN',
      'CAP_NET_ADMIN',
    ]);
    assert.deepEqual(capabilities(['CAP_CHOWN'], ['CAP_KILL'], ['ALL']), ['CAP_KILL']);
    assert.ok(capabilities([], ['ALL']).length > 30);
    assert.throws(() => capabilities([], ['CAP_FLY']), /unknown capability: "CAP_FLY"/);
    const s = buildSpec(base({ capAdd: ['SYS_ADMIN'] }));
    // With CAP_SYS_ADMIN the seccomp profile opens mount & co and drops the clone restriction.
    assert.ok(s.linux.seccomp.syscalls.some((r: any) => r.names.includes('mount') && r.action === 'SCMP_ACT_ALLOW'));
    assert.ok(!s.linux.seccomp.syscalls.some((r: any) => r.names.includes('clone3') && r.action === 'SCMP_ACT_ERRNO'));
  });

  it('readonly rootfs, tmpfs mounts, extra bind mounts replace defaults at the same destination', () => {
    const s = buildSpec(
      base({
        readonlyRootfs: true,
        tmpfs: { '/run': 'size=1m' },
        shmSize: 1 << 20,
        mounts: [{ destination: '/etc/hosts', source: '/x/hosts', type: 'bind', options: ['rbind'] }],
      }),
    );
    assert.equal(s.root.readonly, true);
    assert.deepEqual(
      s.mounts.find((m: any) => m.destination === '/run'),
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', 'size=1m'] },
    );
    assert.ok(s.mounts.find((m: any) => m.destination === '/dev/shm').options.includes(`size=${1 << 20}`));
    assert.equal(s.mounts.filter((m: any) => m.destination === '/etc/hosts').length, 1);
    assert.throws(() => buildSpec(base({ tmpfs: { relative: '' } })), /must be absolute/);
  });

  it('env: PATH default, request overrides image, HOME from the user, TERM with a tty', () => {
    assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['B=3', 'C=4']), ['A=1', 'B=3', 'C=4']);
    const s = buildSpec(
      base({
        env: ['PATH=/bin', 'X=1'],
        tty: true,
        user: { uid: 1000, gid: 1000, additionalGids: [50], home: '/home/app' },
      }),
    );
    assert.deepEqual(s.process.env, ['PATH=/bin', 'HOSTNAME=abc', 'TERM=xterm', 'X=1', 'HOME=/home/app']);
    assert.deepEqual(s.process.user, { uid: 1000, gid: 1000, additionalGids: [50] });
  });

  it('sizes', () => {
    assert.equal(parseSize('64m'), 64 * 1024 * 1024);
    assert.equal(parseSize('1g'), 1024 ** 3);
    assert.equal(parseSize('100'), 100);
    assert.throws(() => parseSize('lots'), /invalid size/);
  });
});

describe('runtime: user resolution', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n';
  const group = 'root:x:0:\napp:x:1000:\nstaff:x:50:app\nwheel:x:10:\n';
  it('resolves names, numeric ids, user:group and supplementary groups', () => {
    assert.deepEqual(resolveUser('', passwd, group), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
    assert.deepEqual(resolveUser('app', passwd, group), {
      uid: 1000,
      gid: 1000,
      additionalGids: [50],
      home: '/home/app',
    });
    assert.deepEqual(resolveUser('1000', passwd, group), {
      uid: 1000,
      gid: 1000,
      additionalGids: [50],
      home: '/home/app',
    });
    assert.deepEqual(resolveUser('app:wheel', passwd, group), {
      uid: 1000,
      gid: 10,
      additionalGids: [],
      home: '/home/app',
    });
    assert.deepEqual(resolveUser('4242:4343', passwd, group), { uid: 4242, gid: 4343, additionalGids: [], home: '/' });
    assert.deepEqual(resolveUser('app', passwd, group, ['wheel', '77']).additionalGids, [50, 10, 77]);
    assert.throws(
      () => resolveUser('ghost', passwd, group),
      /unable to find user ghost: no matching entries in passwd file/,
    );
    assert.throws(() => resolveUser('app:ghosts', passwd, group), /unable to find group ghosts/);
    assert.deepEqual(resolveUser('0', undefined, undefined), { uid: 0, gid: 0, additionalGids: [], home: '/' });
  });
});
