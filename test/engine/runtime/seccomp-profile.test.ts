// Docker-format seccomp profiles turned into a container's OCI filter (runtime/seccomp.ts, moby's semantics):
// small fixtures for each kind of condition, then the default profile — moby's default.json, kept unmodified in
// third_party/moby-profiles — judged call by call as the kernel's filter would. In containers: seccomp.test.ts.
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildSpec, DEFAULT_CAPABILITIES, type SpecInput } from '../../../src/engine/runtime/spec';
import {
  DEFAULT_SECCOMP_PROFILE,
  decodeSeccompProfile,
  type SeccompProfile,
  type SeccompTarget,
  seccompFor,
} from '../../../src/engine/runtime/seccomp';

const ROOT = path.join(__dirname, '../../..');
const names = (p: SeccompProfile | undefined) => p!.syscalls.flatMap((s) => s.names);
const target = (over: Partial<SeccompTarget> = {}): SeccompTarget => ({
  capabilities: DEFAULT_CAPABILITIES,
  arch: 'x64',
  kernel: '6.18.44-fc-v857',
  ...over,
});
const profile = (p: object) => decodeSeccompProfile(JSON.stringify(p));

const EPERM = 1;
const ENOSYS = 38;
const CMP: Record<string, (arg: number, value: number, valueTwo: number) => boolean> = {
  SCMP_CMP_NE: (a, v) => a !== v,
  SCMP_CMP_LT: (a, v) => a < v,
  SCMP_CMP_LE: (a, v) => a <= v,
  SCMP_CMP_EQ: (a, v) => a === v,
  SCMP_CMP_GE: (a, v) => a >= v,
  SCMP_CMP_GT: (a, v) => a > v,
  SCMP_CMP_MASKED_EQ: (a, v, two) => Number(BigInt(a) & BigInt(v)) === two,
};
/**
 * What a filter answers a call with: the action of the first rule naming the call whose argument comparisons all
 * hold, else the default — "ALLOW" or "ERRNO <n>". (libseccomp orders rules itself; the rules of moby's profile
 * never disagree about one call, so the first match is its answer.)
 */
function verdict(filter: SeccompProfile | undefined, call: string, args: number[] = []): string {
  if (!filter) return 'ALLOW';
  const rule = filter.syscalls.find(
    (r) =>
      r.names.includes(call) && (r.args ?? []).every((a) => CMP[a.op]!(args[a.index] ?? 0, a.value, a.valueTwo ?? 0)),
  );
  const action = rule ? rule.action : filter.defaultAction;
  const errno = rule ? rule.errnoRet : filter.defaultErrnoRet;
  return action === 'SCMP_ACT_ERRNO' ? `ERRNO ${errno ?? EPERM}` : action.replace('SCMP_ACT_', '');
}

describe('runtime: seccomp profiles in Docker’s format', () => {
  it('includes.caps needs every capability listed; excludes.caps drops the rule for any one held', () => {
    const p = profile({
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['chmod'], action: 'SCMP_ACT_ALLOW' },
        { names: ['syslog'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYSLOG'] } },
        { names: ['both'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYSLOG', 'CAP_SYS_ADMIN'] } },
        { names: ['ptrace'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'] } },
      ],
    });
    assert.deepEqual(names(seccompFor(p, target({ capabilities: ['CAP_CHOWN'] }))), ['chmod', 'ptrace']);
    assert.deepEqual(names(seccompFor(p, target({ capabilities: ['CAP_SYSLOG'] }))), ['chmod', 'syslog', 'ptrace']);
    assert.deepEqual(names(seccompFor(p, target({ capabilities: ['CAP_SYSLOG', 'CAP_SYS_ADMIN'] }))), [
      'chmod',
      'syslog',
      'both',
    ]);
    assert.deepEqual(names(seccompFor(p, target({ capabilities: ['CAP_SYS_PTRACE'] }))), ['chmod']);
  });

  it('includes/excludes.arches by the names profiles use (amd64, x86, arm64, s390x, ppc64le)', () => {
    const p = profile({
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
        { names: ['modify_ldt'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32', 'x86'] } },
        { names: ['set_tls'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['arm', 'arm64'] } },
        { names: ['not_s390'], action: 'SCMP_ACT_ALLOW', excludes: { arches: ['s390', 's390x'] } },
        { names: ['swapcontext'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['ppc64le'] } },
      ],
    });
    const on = (arch: string) => names(seccompFor(p, target({ arch })));
    assert.deepEqual(on('x64'), ['arch_prctl', 'modify_ldt', 'not_s390']);
    assert.deepEqual(on('ia32'), ['modify_ldt', 'not_s390']);
    assert.deepEqual(on('arm64'), ['set_tls', 'not_s390']);
    assert.deepEqual(on('s390x'), []);
    assert.deepEqual(on('ppc64'), ['not_s390', 'swapcontext']);
  });

  it('minKernel compares "<kernel>.<major>" of the host release; includes need it, excludes drop at it', () => {
    const p = profile({
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        { names: ['new_call'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '4.8' } },
        { names: ['old_workaround'], action: 'SCMP_ACT_ALLOW', excludes: { minKernel: '4.8' } },
        { names: ['any_kernel'], action: 'SCMP_ACT_ALLOW', includes: { minKernel: '' } },
      ],
    });
    const on = (kernel: string) => names(seccompFor(p, target({ kernel })));
    assert.deepEqual(on('4.7.10-generic'), ['old_workaround', 'any_kernel']);
    assert.deepEqual(on('4.8-1-amd64'), ['new_call', 'any_kernel']);
    assert.deepEqual(on('4.8.0-rc5'), ['new_call', 'any_kernel']);
    assert.deepEqual(on('4.10.1'), ['new_call', 'any_kernel']); // 10 > 8: numbers, not strings
    assert.deepEqual(on('3.99'), ['old_workaround', 'any_kernel']);
    assert.deepEqual(on('6.18.44-fc-v857'), ['new_call', 'any_kernel']);
    assert.throws(() => on('weird'), /failed to parse kernel version "weird"/);
    // A kernel is read only when a rule asks for one.
    assert.ok(seccompFor(profile({ defaultAction: 'SCMP_ACT_ALLOW' }), target({ kernel: 'weird' })));
  });

  it('refuses a minKernel moby cannot read, with its text', () => {
    const bad = (minKernel: unknown) => () =>
      profile({ syscalls: [{ names: ['x'], action: 'SCMP_ACT_ALLOW', includes: { minKernel } }] });
    assert.throws(bad('4.8.1'), /: Decoding seccomp profile failed: invalid kernel version: "4.8.1", expected/);
    assert.throws(bad('4'), /invalid kernel version: "4", expected "<kernel>.<major>"$/);
    assert.throws(bad('0.0'), /invalid kernel version: "0.0", expected "<kernel>.<major>": version cannot be 0.0/);
    assert.throws(bad('4.x'), /strconv.ParseUint: parsing "x": invalid syntax/);
    assert.throws(bad('300.1'), /strconv.ParseUint: parsing "300": value out of range/);
    assert.throws(bad(48), /cannot unmarshal number into Go value of type string/);
  });

  it('archMap: the host arch’s entry and its sub-architectures; architectures kept; other fields carried', () => {
    const p = profile({
      DefaultAction: 'SCMP_ACT_ERRNO', // Go's decoder ignores case
      defaultErrnoRet: 13,
      flags: ['SECCOMP_FILTER_FLAG_LOG'],
      listenerPath: '/run/agent.sock',
      archMap: [
        { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
        { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
        { architecture: 'SCMP_ARCH_RISCV64', subArchitectures: null },
      ],
      syscalls: [{ name: 'read', action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 2, op: 'SCMP_CMP_EQ' }] }],
    });
    const x64 = seccompFor(p, target())!;
    assert.deepEqual(x64, {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 13,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      flags: ['SECCOMP_FILTER_FLAG_LOG'],
      listenerPath: '/run/agent.sock',
      syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 2, op: 'SCMP_CMP_EQ' }] }],
    });
    assert.deepEqual(seccompFor(p, target({ arch: 'arm64' }))!.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    assert.deepEqual(seccompFor(p, target({ arch: 'riscv64' }))!.architectures, ['SCMP_ARCH_RISCV64']);
    assert.deepEqual(seccompFor(p, target({ arch: 's390x' }))!.architectures, []); // no entry: the native arch only
    const listed = profile({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86'] });
    assert.deepEqual(seccompFor(listed, target())!.architectures, ['SCMP_ARCH_X86']);
  });

  it('no default action and no rules is no filter; both name and names, or architectures and archMap, refused', () => {
    assert.equal(seccompFor(profile({}), target()), undefined);
    // (moby looks no further in such a profile: architectures and archMap together pass there)
    assert.equal(
      seccompFor(profile({ architectures: ['SCMP_ARCH_X86'], archMap: [{ architecture: 'X' }] }), target()),
      undefined,
    );
    assert.throws(
      () => profile({ syscalls: [{ name: 'read', names: ['write'], action: 'SCMP_ACT_ALLOW' }] }),
      /: both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'$/,
    );
    assert.throws(
      () =>
        profile({
          defaultAction: 'SCMP_ACT_ALLOW',
          architectures: ['SCMP_ARCH_X86_64'],
          archMap: [{ architecture: 'SCMP_ARCH_X86_64' }],
        }),
      /both 'architectures' and 'archMap' are specified in the seccomp profile/,
    );
    assert.throws(() => decodeSeccompProfile('[]'), /: Decoding seccomp profile failed: json: cannot unmarshal/);
    assert.throws(() => profile({ syscalls: [{ names: ['x'] }] }), /Decoding seccomp profile failed/);
    assert.throws(() => profile({ syscalls: [{ names: ['x'], action: 'A', errnoRet: -1 }] }), /Decoding seccomp/);
  });
});

describe('runtime: the default seccomp profile (moby’s default.json)', () => {
  const spec = (over: Partial<SpecInput> = {}) =>
    buildSpec({
      rootfs: '/r',
      args: ['sh'],
      env: [],
      cwd: '/',
      user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
      hostname: 'h',
      network: { mode: 'private' },
      hostNofileHard: 1024,
      cgroupsPath: undefined,
      arch: 'x64',
      kernel: '6.18.44-fc-v857',
      ...over,
    }).linux.seccomp as SeccompProfile | undefined;

  it('is moby’s file unmodified, with its provenance and licence beside it and in the notices', () => {
    const file = path.join(ROOT, 'third_party/moby-profiles/seccomp/default.json');
    const sha = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    const readme = fs.readFileSync(path.join(ROOT, 'third_party/moby-profiles/README.md'), 'utf8');
    assert.ok(readme.includes(sha), `the README records another SHA-256 than the file's (${sha})`);
    const commit = /Commit \| `([0-9a-f]{40})`/.exec(readme)![1]!;
    const notices = fs.readFileSync(path.join(ROOT, 'THIRD_PARTY_NOTICES.md'), 'utf8');
    assert.ok(notices.includes(commit) && notices.includes('Apache License'), 'THIRD_PARTY_NOTICES.md');
    assert.match(fs.readFileSync(path.join(ROOT, 'third_party/moby-profiles/LICENSE'), 'utf8'), /Apache License/);
    assert.match(fs.readFileSync(path.join(ROOT, '.vscodeignore'), 'utf8'), /^!THIRD_PARTY_NOTICES\.md$/m);
  });

  it('default capabilities: an allow-list refusing with EPERM; io_uring refused; clone3 ENOSYS; no mount', () => {
    const p = spec();
    assert.equal(p!.defaultAction, 'SCMP_ACT_ERRNO');
    assert.deepEqual(p!.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    for (const call of ['read', 'write', 'execve', 'openat', 'epoll_wait', 'arch_prctl', 'modify_ldt', 'ptrace'])
      assert.equal(verdict(p, call), 'ALLOW', call);
    for (const call of ['io_uring_setup', 'io_uring_enter', 'io_uring_register'])
      assert.equal(verdict(p, call), 'ERRNO 1', call);
    for (const call of ['mount', 'umount2', 'unshare', 'setns', 'reboot', 'init_module', 'kexec_load', 'bpf'])
      assert.equal(verdict(p, call), 'ERRNO 1', call);
    for (const call of ['open_by_handle_at', 'kcmp', 'settimeofday', 'acct', 'vhangup', 'set_tls', 'swapcontext'])
      assert.equal(verdict(p, call), 'ERRNO 1', call);
    assert.equal(verdict(p, 'clone3'), `ERRNO ${ENOSYS}`);
    // clone: threads and processes, no new namespaces (CLONE_NEWUSER = 0x10000000, CLONE_NEWNET = 0x40000000)
    assert.equal(verdict(p, 'clone', [0x3d0f00]), 'ALLOW');
    assert.equal(verdict(p, 'clone', [0x10000000 | 17]), 'ERRNO 1');
    assert.equal(verdict(p, 'clone', [0x40000000]), 'ERRNO 1');
    // socket: every family but AF_ALG (38) and AF_VSOCK (40)
    for (const family of [1, 2, 10, 16, 17, 37, 39, 41, 45]) assert.equal(verdict(p, 'socket', [family]), 'ALLOW');
    for (const family of [38, 40]) assert.equal(verdict(p, 'socket', [family]), 'ERRNO 1', `family ${family}`);
    // personality: only the harmless personas
    assert.equal(verdict(p, 'personality', [0xffffffff]), 'ALLOW');
    assert.equal(verdict(p, 'personality', [0x0400000]), 'ERRNO 1'); // ADDR_NO_RANDOMIZE
  });

  it('capabilities open their calls: SYS_ADMIN (mount, unshare, clone3, clone with namespaces), PTRACE, BOOT…', () => {
    const admin = spec({ capAdd: ['SYS_ADMIN'] });
    for (const call of ['mount', 'umount2', 'unshare', 'setns', 'clone3', 'fsopen', 'sethostname', 'bpf'])
      assert.equal(verdict(admin, call), 'ALLOW', call);
    assert.equal(verdict(admin, 'clone', [0x10000000 | 17]), 'ALLOW');
    assert.equal(verdict(admin, 'io_uring_setup'), 'ERRNO 1'); // no capability opens io_uring
    const caps = spec({ capAdd: ['SYS_PTRACE', 'SYS_BOOT', 'SYS_MODULE', 'SYS_TIME', 'DAC_READ_SEARCH', 'SYS_NICE'] });
    for (const call of ['kcmp', 'pidfd_getfd', 'process_madvise', 'reboot', 'init_module', 'finit_module'])
      assert.equal(verdict(caps, call), 'ALLOW', call);
    for (const call of ['settimeofday', 'clock_settime', 'open_by_handle_at', 'mbind', 'set_mempolicy'])
      assert.equal(verdict(caps, call), 'ALLOW', call);
    assert.equal(verdict(caps, 'mount'), 'ERRNO 1');
    assert.equal(verdict(caps, 'clone3'), `ERRNO ${ENOSYS}`);
    // --cap-add ALL: every capability's calls (but still no io_uring)
    const all = spec({ capAdd: ['ALL'] });
    for (const call of ['mount', 'reboot', 'ptrace', 'iopl', 'syslog', 'acct', 'vhangup', 'perf_event_open'])
      assert.equal(verdict(all, call), 'ALLOW', call);
    assert.equal(verdict(all, 'io_uring_enter'), 'ERRNO 1');
  });

  it('by kernel: ptrace and process_vm_* without CAP_SYS_PTRACE only from 4.8 on', () => {
    assert.equal(verdict(spec({ kernel: '4.8.0' }), 'process_vm_readv'), 'ALLOW');
    assert.equal(verdict(spec({ kernel: '4.4.0-210-generic' }), 'ptrace'), 'ERRNO 1');
    assert.equal(verdict(spec({ kernel: '4.4.0-210-generic', capAdd: ['SYS_PTRACE'] }), 'ptrace'), 'ALLOW');
  });

  it('by architecture: arm64 and s390x get their calls, architectures and clone argument', () => {
    const arm = spec({ arch: 'arm64' });
    assert.deepEqual(arm!.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    assert.equal(verdict(arm, 'set_tls'), 'ALLOW');
    assert.equal(verdict(arm, 'arch_prctl'), 'ERRNO 1');
    const s390 = spec({ arch: 's390x' });
    assert.deepEqual(s390!.architectures, ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390']);
    assert.equal(verdict(s390, 's390_runtime_instr'), 'ALLOW');
    // clone's flags are its second argument on s390
    assert.equal(verdict(s390, 'clone', [0, 17]), 'ALLOW');
    assert.equal(verdict(s390, 'clone', [0, 0x10000000]), 'ERRNO 1');
    assert.equal(s390!.syscalls.filter((r) => r.names.includes('clone')).length, 1);
  });

  it('privileged and seccomp=unconfined: no filter; seccomp=builtin: the default; a profile of one’s own instead', () => {
    assert.equal(spec({ privileged: true }), undefined);
    assert.equal(spec({ securityOpt: ['seccomp=unconfined'] }), undefined);
    assert.deepEqual(spec({ securityOpt: ['seccomp=builtin'] }), spec());
    const log = `seccomp=${JSON.stringify({ defaultAction: 'SCMP_ACT_LOG' })}`;
    const own = spec({ securityOpt: [log] });
    assert.deepEqual(own, { defaultAction: 'SCMP_ACT_LOG', architectures: [], syscalls: [] });
    // daemon.json's profile is the default a container's own replaces; it never applies to a privileged container,
    // while a profile the privileged container names itself does (Docker 27)
    assert.deepEqual(spec({ daemonSecurityOpt: [log] }), own);
    assert.deepEqual(spec({ daemonSecurityOpt: [log], securityOpt: ['seccomp=builtin'] }), spec());
    assert.equal(spec({ daemonSecurityOpt: ['seccomp=unconfined'] }), undefined);
    assert.equal(spec({ daemonSecurityOpt: [log], privileged: true }), undefined);
    assert.deepEqual(spec({ securityOpt: [log], privileged: true }), own);
    assert.equal(spec({ securityOpt: ['seccomp=unconfined'], privileged: true }), undefined);
    const privilegedBuiltin = spec({ securityOpt: ['seccomp=builtin'], privileged: true });
    assert.equal(verdict(privilegedBuiltin, 'mount'), 'ALLOW'); // every capability's calls
    assert.equal(verdict(privilegedBuiltin, 'io_uring_setup'), 'ERRNO 1');
    // moby's file through a user's --security-opt gives what the built-in gives
    const file = fs.readFileSync(path.join(ROOT, 'third_party/moby-profiles/seccomp/default.json'), 'utf8');
    assert.deepEqual(
      spec({ securityOpt: [`seccomp=${file}`], capAdd: ['NET_ADMIN'] }),
      spec({ capAdd: ['NET_ADMIN'] }),
    );
  });

  it('the decoded default is the file’s rules, in order', () => {
    const raw = JSON.parse(
      fs.readFileSync(path.join(ROOT, 'third_party/moby-profiles/seccomp/default.json'), 'utf8'),
    ).syscalls;
    assert.equal(DEFAULT_SECCOMP_PROFILE.syscalls.length, raw.length);
    assert.deepEqual(
      DEFAULT_SECCOMP_PROFILE.syscalls.map((r) => r.names),
      raw.map((r: any) => r.names),
    );
  });
});
