// Platform differences are inputs of the pure spec generator and of small adapters: each combination of cgroup
// version, cgroup driver, runtime, SELinux and rootless gives the spec (and the paths and flags) dockerd's would.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  cgroupDir,
  cgroupDriverShown,
  cgroupsPath,
  checkCgroupnsMode,
  chooseCgroupDriver,
  defaultCgroupnsMode,
  oomFile,
  type Platform,
  runtimeGlobalArgs,
  V1_CGROUPFS,
} from '../../../src/engine/runtime/platform';
import {
  checkRelabel,
  containerLabels,
  contextMountOption,
  DEFAULT_CONTEXTS,
  labelOptions,
  levelOf,
  McsAllocator,
  protectedHomes,
  readBaseContexts,
  relabelContext,
  relabelPlan,
} from '../../../src/engine/runtime/selinux';
import { buildSpec, type SpecInput } from '../../../src/engine/runtime/spec';
import {
  limitsUnavailableReason,
  missingControllers,
  missingControllerWarnings,
  refuseUnusableLimits,
} from '../../../src/engine/runtime/limits';
import { ownCgroup } from '../../../src/engine/rootless/cgroup';

const platform = (over: Partial<Platform> & { version?: 1 | 2; driver?: 'cgroupfs' | 'systemd' } = {}): Platform => ({
  cgroup: { version: over.version ?? 2, driver: over.driver ?? 'cgroupfs' },
  runtime: over.runtime ?? { name: 'runc', path: '/usr/sbin/runc' },
  selinux: over.selinux ?? { enabled: false },
  rootless: over.rootless,
});

const input = (p: Platform, over: Partial<SpecInput> = {}): SpecInput => ({
  rootfs: '/r',
  args: ['sh'],
  env: [],
  cwd: '/',
  user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
  hostname: 'abc',
  network: { mode: 'private' },
  hostNofileHard: 20000,
  cgroupsPath: cgroupsPath(p, 'c1'),
  platform: p,
  resources: { memory: 64 << 20, nanoCpus: 1.5e9, pidsLimit: 50, blkioWeight: 300, cpusetCpus: '0' },
  ...over,
});

const nsTypes = (s: any) => s.linux.namespaces.map((n: any) => n.type).sort();

describe('runtime: platform inputs to the OCI spec', () => {
  describe('cgroup version and namespace', () => {
    it('v2: a private cgroup namespace by default, so the container sees its own memory.max', () => {
      const s = buildSpec(input(platform({ version: 2 })));
      assert.deepEqual(nsTypes(s), ['cgroup', 'ipc', 'mount', 'network', 'pid', 'uts']);
      assert.equal(defaultCgroupnsMode(platform({ version: 2 })), 'private');
    });

    it('v2 with --cgroupns host: no cgroup namespace', () => {
      const s = buildSpec(input(platform({ version: 2 }), { cgroupns: 'host' }));
      assert.deepEqual(nsTypes(s), ['ipc', 'mount', 'network', 'pid', 'uts']);
    });

    it('v1: the host cgroup namespace by default, private on request', () => {
      assert.deepEqual(nsTypes(buildSpec(input(platform({ version: 1 })))), ['ipc', 'mount', 'network', 'pid', 'uts']);
      assert.ok(nsTypes(buildSpec(input(platform({ version: 1 }), { cgroupns: 'private' }))).includes('cgroup'));
      assert.ok(!nsTypes(buildSpec({ ...input(V1_CGROUPFS), platform: undefined })).includes('cgroup'));
    });

    it('validates HostConfig.CgroupnsMode as Docker does', () => {
      assert.equal(checkCgroupnsMode(''), '');
      assert.equal(checkCgroupnsMode(undefined), '');
      assert.equal(checkCgroupnsMode('host'), 'host');
      assert.equal(checkCgroupnsMode('private'), 'private');
      assert.throws(() => checkCgroupnsMode('shared'), /invalid cgroup namespace mode: shared/);
    });

    it('keeps the same limits for both versions (runc translates them for v2)', () => {
      for (const version of [1, 2] as const) {
        const r = buildSpec(input(platform({ version }))).linux.resources;
        assert.deepEqual(r.memory, { limit: 64 << 20, swap: 128 << 20 });
        assert.deepEqual(r.cpu, { period: 100000, quota: 150000, cpus: '0' });
        assert.deepEqual(r.pids, { limit: 50 });
        assert.deepEqual(r.blockIO, { weight: 300 });
      }
    });
  });

  describe('cgroup driver', () => {
    it('cgroupfs: a path under /berth; systemd: slice:prefix:name and --systemd-cgroup', () => {
      const fsP = platform({ driver: 'cgroupfs' });
      const sdP = platform({ driver: 'systemd' });
      assert.equal(buildSpec(input(fsP)).linux.cgroupsPath, '/berth/c1');
      assert.equal(buildSpec(input(sdP)).linux.cgroupsPath, 'system.slice:berth:c1');
      assert.deepEqual(runtimeGlobalArgs(fsP), []);
      assert.deepEqual(runtimeGlobalArgs(sdP), ['--systemd-cgroup']);
    });

    it('finds the container cgroup on the host for each version and driver', () => {
      assert.equal(cgroupDir(platform({ version: 2 }), 'c1', ''), '/sys/fs/cgroup/berth/c1');
      assert.equal(cgroupDir(platform({ version: 1 }), 'c1', 'memory'), '/sys/fs/cgroup/memory/berth/c1');
      assert.equal(
        cgroupDir(platform({ version: 2, driver: 'systemd' }), 'c1', ''),
        '/sys/fs/cgroup/system.slice/berth-c1.scope',
      );
      assert.equal(
        cgroupDir(platform({ version: 1, driver: 'systemd' }), 'c1', 'pids'),
        '/sys/fs/cgroup/pids/system.slice/berth-c1.scope',
      );
      assert.equal(oomFile(platform({ version: 2 }), 'c1'), '/sys/fs/cgroup/berth/c1/memory.events');
      assert.equal(oomFile(platform({ version: 1 }), 'c1'), '/sys/fs/cgroup/memory/berth/c1/memory.oom_control');
      assert.equal(
        oomFile(platform({ version: 2, driver: 'systemd' }), 'c1'),
        '/sys/fs/cgroup/system.slice/berth-c1.scope/memory.events',
      );
    });

    it("chooses Docker's default: systemd on a v2 host booted with systemd, else cgroupfs; exec-opts win", () => {
      assert.equal(chooseCgroupDriver([], { cgroupVersion: 2, systemdRunning: true }), 'systemd');
      assert.equal(chooseCgroupDriver([], { cgroupVersion: 2, systemdRunning: false }), 'cgroupfs');
      assert.equal(chooseCgroupDriver([], { cgroupVersion: 1, systemdRunning: true }), 'cgroupfs');
      assert.equal(
        chooseCgroupDriver(['native.cgroupdriver=cgroupfs'], { cgroupVersion: 2, systemdRunning: true }),
        'cgroupfs',
      );
      assert.equal(
        chooseCgroupDriver(['native.cgroupdriver=systemd'], { cgroupVersion: 1, systemdRunning: true }),
        'systemd',
      );
    });

    it('rootless: cgroupfs below the engine’s delegated subtree, also where systemd runs; systemd refused', () => {
      const rootless = { cgroupVersion: 2 as const, systemdRunning: true, rootless: true };
      assert.equal(chooseCgroupDriver([], rootless), 'cgroupfs');
      assert.equal(chooseCgroupDriver(['native.cgroupdriver=cgroupfs'], rootless), 'cgroupfs');
      assert.throws(
        () => chooseCgroupDriver(['native.cgroupdriver=systemd'], rootless),
        /^InvalidParameterError: native.cgroupdriver=systemd is not supported when Berth runs rootless: its containers' cgroups go below the engine's own delegated subtree \(cgroupfs\)$/,
      );
    });

    it('refuses bad exec-opts with dockerd’s words', () => {
      const host = { cgroupVersion: 2 as const, systemdRunning: true };
      assert.throws(
        () => chooseCgroupDriver(['native.cgroupdriver=lxc'], host),
        /native.cgroupdriver option lxc not supported/,
      );
      assert.throws(() => chooseCgroupDriver(['foo=bar'], host), /unrecognized option: foo/);
      assert.throws(() => chooseCgroupDriver(['nonsense'], host), /Unable to parse key\/value option: nonsense/);
      assert.throws(
        () => chooseCgroupDriver(['native.cgroupdriver=systemd'], { cgroupVersion: 2, systemdRunning: false }),
        /systemd cgroup flag passed, but systemd support for managing cgroups is not available/,
      );
    });
  });

  describe('runtime', () => {
    it('passes daemon.json runtimeArgs before the systemd flag, the same for runc and crun', () => {
      const crun = platform({ driver: 'systemd', runtime: { name: 'crun', path: '/usr/bin/crun', args: ['--debug'] } });
      assert.deepEqual(runtimeGlobalArgs(crun), ['--debug', '--systemd-cgroup']);
      // Rootless says so to the runtime (as go-runc's Rootless option), unless runtimeArgs already do.
      const rootless = { delegatedControllers: [] };
      assert.deepEqual(runtimeGlobalArgs({ ...crun, rootless }), ['--debug', '--rootless=true', '--systemd-cgroup']);
      const asked = { ...crun, rootless, runtime: { ...crun.runtime, args: ['--rootless=false'] } };
      assert.deepEqual(runtimeGlobalArgs(asked), ['--rootless=false', '--systemd-cgroup']);
      // The spec itself does not depend on the runtime: crun reads runc's config.json.
      const a = buildSpec(input(crun));
      const b = buildSpec(input({ ...crun, runtime: { name: 'runc', path: '/usr/sbin/runc' } }));
      assert.deepEqual(a, b);
    });
  });

  describe('rootless', () => {
    it('drops limits on controllers not delegated to the user (v2), all of them on v1', () => {
      const p2 = platform({ version: 2, rootless: { delegatedControllers: ['memory', 'pids'] } });
      const r2 = buildSpec(input(p2)).linux.resources;
      assert.deepEqual(r2.memory, { limit: 64 << 20, swap: 128 << 20 });
      assert.deepEqual(r2.pids, { limit: 50 });
      assert.equal(r2.cpu, undefined);
      assert.equal(r2.blockIO, undefined);
      const p2cpu = platform({ version: 2, rootless: { delegatedControllers: ['cpu'] } });
      assert.deepEqual(buildSpec(input(p2cpu)).linux.resources.cpu, { period: 100000, quota: 150000 });
      const r1 = buildSpec(input(platform({ version: 1, rootless: { delegatedControllers: ['memory'] } }))).linux
        .resources;
      assert.equal(r1.memory, undefined);
      assert.equal(r1.pids, undefined);
      assert.ok(r1.devices.length > 0, 'device rules stay');
    });

    it('a delegated v2 subtree: containers get cgroups below it, the cgroupfs driver shows, limits are taken', () => {
      const base = '/user.slice/user-1000.slice/user@1000.service';
      const p = platform({
        version: 2,
        rootless: { delegatedControllers: ['cpu', 'io', 'memory', 'pids'], cgroupBase: base },
      });
      assert.equal(cgroupsPath(p, 'c1'), `${base}/berth/c1`);
      assert.equal(cgroupDir(p, 'c1', 'memory'), `/sys/fs/cgroup${base}/berth/c1`);
      assert.equal(oomFile(p, 'c1'), `/sys/fs/cgroup${base}/berth/c1/memory.events`);
      assert.equal(cgroupDriverShown(p), 'cgroupfs');
      assert.equal(limitsUnavailableReason(p), undefined);
      assert.deepEqual(missingControllers(p), ['cpuset']);
      refuseUnusableLimits(p, { memory: 1 << 26, nanoCpus: 1e9, pidsLimit: 5 });
      assert.throws(
        () => refuseUnusableLimits(p, { cpusetCpus: '0' }),
        /^InvalidParameterError: --cpuset-cpus: resource limits need the controller delegated to this user \(delegated: cpu, io, memory, pids\)$/,
      );
    });

    it('no delegated subtree: no cgroup path, driver none, every limit refused with the reason', () => {
      const v2 = platform({ version: 2, rootless: { delegatedControllers: [] } });
      assert.equal(cgroupsPath(v2, 'c1'), undefined);
      assert.equal(cgroupDriverShown(v2), 'none');
      assert.throws(
        () => refuseUnusableLimits(v2, { memory: 1 << 26 }),
        /--memory: resource limits need cgroup v2 with a delegated subtree \(a systemd user session\) when Berth runs rootless; the engine's cgroup is not delegated to this user: start it in a unit with Delegate=yes \(systemd-run --user -p Delegate=yes, as the extension does where the user's systemd answers\)$/,
      );
      const v1 = platform({ version: 1, rootless: { delegatedControllers: [] } });
      assert.match(limitsUnavailableReason(v1) ?? '', /this host has cgroup v1 \(or hybrid\)/);
    });

    it("reads the engine's own cgroup v2 path from /proc/self/cgroup (hybrid hosts list v1 hierarchies too)", () => {
      assert.equal(
        ownCgroup('0::/user.slice/user-1000.slice/user@1000.service/app.slice/berthd.service\n'),
        '/user.slice/user-1000.slice/user@1000.service/app.slice/berthd.service',
      );
      assert.equal(
        ownCgroup('12:memory:/user.slice\n1:name=systemd:/user.slice\n0::/user.slice/session-2.scope\n'),
        '/user.slice/session-2.scope',
      );
      assert.equal(ownCgroup('12:memory:/\n'), undefined);
    });
  });

  describe('a root engine on cgroup v2 with controllers missing (WSL: v1 still binds them)', () => {
    const p = (controllers?: string[]): Platform => ({
      ...platform({ version: 2 }),
      cgroup: { version: 2, driver: 'cgroupfs', ...(controllers ? { controllers } : {}) },
    });

    it('refuses the limits whose controller the hierarchy lacks, saying which and how to get it', () => {
      const some = p(['cpu', 'pids']);
      refuseUnusableLimits(some, { nanoCpus: 1e9, pidsLimit: 5, cpuShares: 512 });
      assert.throws(
        () => refuseUnusableLimits(some, { memory: 1 << 26, memorySwap: 1 << 27, pidsLimit: 5 }),
        /^InvalidParameterError: --memory, --memory-swap: this host's cgroup v2 hierarchy lacks the memory controller \(cgroup\.controllers: cpu pids; one bound to a cgroup v1 hierarchy is not offered on v2\): boot the kernel with cgroup_no_v1=all \(WSL: kernelCommandLine = cgroup_no_v1=all under \[wsl2\] in %UserProfile%\\\.wslconfig, then wsl --shutdown\)$/,
      );
      assert.throws(
        () => refuseUnusableLimits(p([]), { cpusetCpus: '0', blkioWeight: 300 }),
        /^InvalidParameterError: --cpuset-cpus, --blkio-weight: this host's cgroup v2 hierarchy lacks the cpuset, io controllers \(cgroup\.controllers: none;/,
      );
      // The spec never carries a limit runc could not set.
      const r = buildSpec(input(some)).linux.resources;
      assert.deepEqual([r.memory, r.blockIO, r.cpu?.cpus], [undefined, undefined, undefined]);
      assert.deepEqual(r.pids, { limit: 50 });
    });

    it("docker info warns in dockerd's words (none when every controller is there, or unknown)", () => {
      assert.deepEqual(missingControllerWarnings(p(['cpu', 'pids'])), [
        'WARNING: No memory limit support',
        'WARNING: No swap limit support',
        'WARNING: No cpuset support',
        'WARNING: No io.weight support',
        'WARNING: No io.weight (per device) support',
        'WARNING: No io.max (rbps) support',
        'WARNING: No io.max (wbps) support',
        'WARNING: No io.max (riops) support',
        'WARNING: No io.max (wiops) support',
        'WARNING: the cgroup v2 hierarchy lacks the memory, cpuset, io controllers: limits that need them are refused; boot the kernel with cgroup_no_v1=all (WSL: kernelCommandLine = cgroup_no_v1=all under [wsl2] in %UserProfile%\\.wslconfig, then wsl --shutdown)',
      ]);
      assert.deepEqual(missingControllerWarnings(p(['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids'])), []);
      assert.deepEqual(missingControllerWarnings(p()), []);
      assert.deepEqual(missingControllers(p()), []);
      refuseUnusableLimits(p(), { memory: 1 << 26 });
      const v1 = { ...p(), cgroup: { version: 1 as const, driver: 'cgroupfs' as const, controllers: [] } };
      refuseUnusableLimits(v1, { memory: 1 << 26 });
    });
  });

  describe('SELinux', () => {
    const on = { enabled: true };
    it('gives container_t and container_file_t with the container’s MCS pair', () => {
      const labels = containerLabels(on, DEFAULT_CONTEXTS, 's0:c12,c345');
      assert.deepEqual(labels, {
        process: 'system_u:system_r:container_t:s0:c12,c345',
        mount: 'system_u:object_r:container_file_t:s0:c12,c345',
      });
      const s = buildSpec(input(platform({ selinux: on }), { labels }));
      assert.equal(s.process.selinuxLabel, labels.process);
      assert.equal(s.linux.mountLabel, labels.mount);
      assert.equal(contextMountOption(labels.mount), `context="${labels.mount}"`);
    });

    it('label=disable, --privileged and a host without SELinux: no labels at all', () => {
      for (const labels of [
        containerLabels({ ...on, securityOpt: ['label=disable'] }, DEFAULT_CONTEXTS, 's0:c1,c2'),
        containerLabels({ ...on, securityOpt: ['label:disable'] }, DEFAULT_CONTEXTS, 's0:c1,c2'),
        containerLabels({ ...on, privileged: true }, DEFAULT_CONTEXTS, 's0:c1,c2'),
        containerLabels({ enabled: false, securityOpt: ['label=type:spc_t'] }, DEFAULT_CONTEXTS, 's0:c1,c2'),
      ]) {
        assert.deepEqual(labels, { process: '', mount: '' });
        const s = buildSpec(input(platform(), { labels }));
        assert.equal(s.process.selinuxLabel, undefined);
        assert.equal(s.linux.mountLabel, undefined);
        assert.equal(contextMountOption(labels.mount), undefined);
      }
    });

    it('label=type:, level:, user:, role:, filetype: change their part', () => {
      const l = containerLabels(
        { ...on, securityOpt: ['label=type:svirt_apache_t', 'label=level:s0:c1,c2', 'label=filetype:my_file_t'] },
        DEFAULT_CONTEXTS,
        's0:c7,c9',
      );
      assert.deepEqual(l, {
        process: 'system_u:system_r:svirt_apache_t:s0:c1,c2',
        mount: 'system_u:object_r:my_file_t:s0:c1,c2',
      });
      const u = containerLabels(
        { ...on, securityOpt: ['label=user:user_u', 'label=role:user_r'] },
        DEFAULT_CONTEXTS,
        's0:c7,c9',
      );
      assert.equal(u.process, 'user_u:user_r:container_t:s0:c7,c9');
      assert.equal(u.mount, 'user_u:object_r:container_file_t:s0:c7,c9');
    });

    it('refuses unknown label options with go-selinux’s words, ignores other security options', () => {
      assert.throws(
        () => labelOptions(['label=bogus:x']),
        /Bad label option "bogus", valid options 'disable, user, role, level, type, filetype'/,
      );
      assert.deepEqual(labelOptions(['seccomp=unconfined', 'no-new-privileges', 'label=type:a_t']), ['type:a_t']);
    });

    it(':z relabels with level s0 (shared), :Z with the container’s pair (private)', () => {
      const mount = 'system_u:object_r:container_file_t:s0:c1,c2';
      assert.equal(relabelContext(mount, true), 'system_u:object_r:container_file_t:s0');
      assert.equal(relabelContext(mount, false), mount);
    });

    it('refuses to relabel /, /usr, /etc, /home, the user’s home and the like', () => {
      for (const p of ['/', '/usr', '/etc/', '/home', '/var/lib', '/root'])
        assert.throws(() => checkRelabel(p), /SELinux relabeling of \/.* is not allowed/, p);
      assert.throws(() => checkRelabel('/home/alice', ['/home/alice']), /relabeling of \/home\/alice is not allowed/);
      assert.doesNotThrow(() => checkRelabel('/home/alice/project', ['/home/alice']));
      assert.doesNotThrow(() => checkRelabel('/srv/data'));
    });

    it('plans relabels: :z shared, :Z private, local volumes (z), the engine’s own files; none without a label', () => {
      const mount = 'system_u:object_r:container_file_t:s0:c1,c2';
      const shared = 'system_u:object_r:container_file_t:s0';
      const mounts = [
        { source: '/srv/shared', mode: 'z' },
        { source: '/srv/private', mode: 'ro,Z' },
        { source: '/srv/plain', mode: 'ro' },
        { source: '/var/lib/berth/volumes/v/_data', mode: 'z' },
      ];
      assert.deepEqual(relabelPlan(mount, mounts, ['/d/hosts']), [
        { path: '/srv/shared', context: shared },
        { path: '/srv/private', context: mount },
        { path: '/var/lib/berth/volumes/v/_data', context: shared },
        { path: '/d/hosts', context: mount },
      ]);
      assert.deepEqual(relabelPlan(mount, [], ['/d/hosts'], { sharedNetwork: true }), [
        { path: '/d/hosts', context: shared },
      ]);
      assert.deepEqual(relabelPlan('', mounts, ['/d/hosts']), []);
      assert.throws(
        () => relabelPlan(mount, [{ source: '/usr', mode: 'Z' }], []),
        /error setting label on mount source '\/usr': SELinux relabeling of \/usr is not allowed/,
      );
      assert.throws(
        () => relabelPlan(mount, [{ source: '/home/bob/', mode: 'z' }], [], { homes: ['/home/bob'] }),
        /SELinux relabeling of \/home\/bob is not allowed/,
      );
      // Where SELinux is off nothing is relabelled, not even / with :Z (Docker ignores the mode there).
      assert.deepEqual(relabelPlan('', [{ source: '/', mode: 'Z' }], []), []);
    });

    it('protects the engine user’s home and, under sudo, the invoking user’s', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'passwd-'));
      try {
        fs.writeFileSync(
          path.join(dir, 'passwd'),
          'root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n',
        );
        assert.deepEqual(protectedHomes({ HOME: '/root', SUDO_USER: 'bob' }, path.join(dir, 'passwd')), [
          '/root',
          '/home/bob',
        ]);
        assert.deepEqual(protectedHomes({ HOME: '/root' }, path.join(dir, 'passwd')), ['/root']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('allocates a distinct MCS pair per container, ordered, and reserves pairs after a restart', () => {
      let n = 0;
      const seq = [0.5, 0.1, 0.1, 0.5, 0.3, 0.3, 0.2, 0.9];
      const mcs = new McsAllocator(() => seq[n++ % seq.length]);
      const a = mcs.allocate();
      assert.match(a, /^s0:c(\d+),c(\d+)$/);
      const [, x, y] = /^s0:c(\d+),c(\d+)$/.exec(a)!;
      assert.ok(Number(x) < Number(y));
      const b = mcs.allocate(); // the same pair reversed is taken; equal numbers are skipped
      assert.notEqual(a, b);
      assert.equal(levelOf('system_u:system_r:container_t:s0:c1,c2'), 's0:c1,c2');
      let m = 0;
      const fresh = new McsAllocator(() => [0.5, 0.1][m++ % 2]);
      fresh.reserve('s0:c102,c512');
      assert.throws(() => fresh.allocate(), /no free SELinux MCS pair/);
    });

    it('reads the distribution’s lxc_contexts', () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'selinux-'));
      try {
        fs.mkdirSync(path.join(root, 'targeted/contexts'), { recursive: true });
        fs.writeFileSync(path.join(root, 'config'), 'SELINUX=enforcing\nSELINUXTYPE=targeted\n');
        fs.writeFileSync(
          path.join(root, 'targeted/contexts/lxc_contexts'),
          'process = "system_u:system_r:svirt_lxc_net_t:s0"\nfile = "system_u:object_r:svirt_sandbox_file_t:s0"\n',
        );
        assert.deepEqual(readBaseContexts(root), {
          process: 'system_u:system_r:svirt_lxc_net_t:s0',
          file: 'system_u:object_r:svirt_sandbox_file_t:s0',
        });
        assert.deepEqual(readBaseContexts(path.join(root, 'missing')), DEFAULT_CONTEXTS);
      } finally {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });
  });
});
