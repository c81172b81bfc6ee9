// --security-opt as dockerd reads it and what it means in the spec. The seccomp profiles themselves:
// seccomp-profile.test.ts; the in-container proof: seccomp.test.ts.
import * as assert from 'node:assert/strict';
import { buildSpec } from '../../../src/engine/runtime';
import { parseSecurityOpt } from '../../../src/engine/runtime/securityopt';

const base = {
  rootfs: '/r',
  args: ['sh'],
  env: [],
  cwd: '/',
  user: { uid: 0, gid: 0, additionalGids: [], home: '/' },
  hostname: 'h',
  network: { mode: 'private' as const },
  hostNofileHard: 1024,
  cgroupsPath: undefined,
  arch: 'x64',
};

describe('runtime: --security-opt', () => {
  it('parses as dockerd: flags, = and the old : separator, booleans as Go', () => {
    assert.deepEqual(parseSecurityOpt(['no-new-privileges', 'seccomp:unconfined', 'label=disable', 'apparmor=x']), {
      seccomp: 'unconfined',
      noNewPrivileges: true,
      unconfinedSystemPaths: false,
      writableCgroups: false,
    });
    assert.equal(parseSecurityOpt(['no-new-privileges=T', 'no-new-privileges=0']).noNewPrivileges, false);
    assert.equal(parseSecurityOpt(['writable-cgroups']).writableCgroups, true);
    assert.throws(() => parseSecurityOpt(['x']), /invalid --security-opt 1: "x"/);
    assert.throws(() => parseSecurityOpt(['systempaths=confined']), /invalid --security-opt 2/);
  });

  it('in the spec: no seccomp when unconfined or privileged, nnp, system paths, writable cgroups', () => {
    const def = buildSpec(base);
    assert.equal(def.process.noNewPrivileges, false);
    assert.equal(def.linux.seccomp.defaultAction, 'SCMP_ACT_ERRNO');
    const open = buildSpec({
      ...base,
      securityOpt: ['seccomp=unconfined', 'no-new-privileges:true', 'systempaths=unconfined', 'writable-cgroups=true'],
    });
    assert.equal(open.linux.seccomp, undefined);
    assert.equal(open.process.noNewPrivileges, true);
    assert.deepEqual([open.linux.maskedPaths, open.linux.readonlyPaths], [[], []]);
    assert.ok(open.mounts.find((m: any) => m.destination === '/sys/fs/cgroup').options.includes('rw'));
    // HostConfig.MaskedPaths/ReadonlyPaths as given (the docker CLI's systempaths=unconfined sends both empty) —
    // even when privileged, as moby applies them last
    const given = buildSpec({ ...base, maskedPaths: ['/proc/cpuinfo'], readonlyPaths: [] });
    assert.deepEqual([given.linux.maskedPaths, given.linux.readonlyPaths], [['/proc/cpuinfo'], []]);
    assert.deepEqual(buildSpec({ ...base, privileged: true, maskedPaths: ['/proc/cpuinfo'] }).linux.maskedPaths, [
      '/proc/cpuinfo',
    ]);
    assert.deepEqual(buildSpec({ ...base, privileged: true }).linux.readonlyPaths, []);
    // privileged: a profile the container names itself still applies (Docker 27), the daemon's does not
    assert.deepEqual(
      buildSpec({ ...base, privileged: true, securityOpt: ['seccomp={"defaultAction":"SCMP_ACT_LOG"}'] }).linux.seccomp,
      { defaultAction: 'SCMP_ACT_LOG', architectures: [], syscalls: [] },
    );
    const daemonSecurityOpt = ['seccomp={"defaultAction":"SCMP_ACT_LOG"}', 'no-new-privileges'];
    const privileged = buildSpec({ ...base, privileged: true, daemonSecurityOpt });
    assert.equal(privileged.linux.seccomp, undefined);
    assert.equal(privileged.process.noNewPrivileges, true);
  });
});
