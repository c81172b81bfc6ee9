// --security-opt as dockerd reads it, and Docker-format seccomp profiles turned into the OCI spec's (moby's
// setupSeccomp): archMap, includes/excludes by arch, capability and kernel. The in-container proof is seccomp.test.ts.
import * as assert from 'node:assert/strict';
import { buildSpec } from '../../../src/engine/runtime';
import { parseSecurityOpt } from '../../../src/engine/runtime/securityopt';
import { seccompFromProfile } from '../../../src/engine/runtime/seccomp';

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
    assert.equal(
      buildSpec({ ...base, privileged: true, securityOpt: ['seccomp={"defaultAction":"SCMP_ACT_LOG"}'] }).linux.seccomp,
      undefined,
    );
  });

  it('turns a Docker-format profile into the OCI one for this arch, capabilities and kernel', () => {
    const profile = JSON.stringify({
      DefaultAction: 'SCMP_ACT_ERRNO', // Go's decoder ignores case
      defaultErrnoRet: 1,
      archMap: [
        { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
        { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
      ],
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
        { name: 'arch_prctl', action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64'] } },
        { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['clone'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['new_call'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '6.9' } },
        { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] },
      ],
    });
    const names = (p: any) => p.syscalls.flatMap((s: any) => s.names);
    const x64 = seccompFromProfile(profile, ['CAP_CHOWN'], 'x64', '6.1.0-13-amd64')!;
    assert.deepEqual(x64.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.equal(x64.defaultAction, 'SCMP_ACT_ERRNO');
    assert.deepEqual(names(x64), ['read', 'arch_prctl', 'clone', 'socket']);
    assert.deepEqual(x64.syscalls[3].args, [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }]);
    const arm = seccompFromProfile(profile, ['CAP_SYS_ADMIN'], 'arm64', '6.18.0')!;
    assert.deepEqual(arm.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    assert.deepEqual(names(arm), ['read', 'mount', 'new_call', 'socket']);
    // no default action and no rules: no filter (moby)
    assert.equal(seccompFromProfile('{}', [], 'x64'), undefined);
  });
});
