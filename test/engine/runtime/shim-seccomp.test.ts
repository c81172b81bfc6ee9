// What berthd hands berth-shim to build a container's filter itself (runtime/shim.ts seccompRequest; the shim's
// side, enter_seccomp.c, is tested against runc's filter in test/engine/rootless/exec.test.ts).
import * as assert from 'node:assert/strict';
import { seccompRequest } from '../../../src/engine/runtime/shim';
import { DEFAULT_SECCOMP_PROFILE, seccompFor } from '../../../src/engine/runtime/seccomp';

const lines = (b?: Buffer) => b?.toString().trim().split('\n');

describe('runtime: the seccomp request for the shim', () => {
  it('gives the default action, the architectures and one rule per name, as libseccomp numbers', () => {
    const r = lines(
      seccompRequest({
        defaultAction: 'SCMP_ACT_ERRNO',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'],
        syscalls: [
          { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
          { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
          { names: ['kill'], action: 'SCMP_ACT_KILL_PROCESS' },
        ],
      }),
    );
    assert.deepEqual(r, [
      'default 327681 -', // SCMP_ACT_ERRNO(EPERM): runc's errno when the profile names none
      'arch x86_64',
      'arch x32',
      'rule read 2147418112', // SCMP_ACT_ALLOW
      'rule write 2147418112',
      'rule clone3 327718', // SCMP_ACT_ERRNO(ENOSYS)
      'rule kill 2147483648', // SCMP_ACT_KILL_PROCESS
    ]);
  });

  it('keeps conditions together unless one argument is named twice (then one rule each, as runc)', () => {
    const r = lines(
      seccompRequest({
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 38,
        architectures: [],
        syscalls: [
          {
            names: ['socket'],
            action: 'SCMP_ACT_ALLOW',
            args: [
              { index: 0, value: 40, op: 'SCMP_CMP_NE' },
              { index: 1, value: 2, op: 'SCMP_CMP_EQ' },
            ],
          },
          {
            names: ['personality'],
            action: 'SCMP_ACT_ALLOW',
            args: [
              { index: 0, value: 0, op: 'SCMP_CMP_EQ' },
              { index: 0, value: 4294967295, op: 'SCMP_CMP_EQ' },
            ],
          },
          {
            names: ['clone'],
            action: 'SCMP_ACT_ALLOW',
            args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
          },
        ],
      }),
    );
    assert.deepEqual(r, [
      'default 327718 38',
      'rule socket 2147418112 0 1 40 0 1 4 2 0',
      'rule personality 2147418112 0 4 0 0',
      'rule personality 2147418112 0 4 4294967295 0',
      'rule clone 2147418112 0 7 2114060288 0',
    ]);
  });

  it('leaves to runc what the shim does not build: flags, a listener, notify, unknown actions or operators', () => {
    const base = { defaultAction: 'SCMP_ACT_ERRNO', architectures: [], syscalls: [] };
    assert.equal(seccompRequest(undefined), undefined);
    assert.equal(seccompRequest({ ...base, flags: ['SECCOMP_FILTER_FLAG_LOG'] }), undefined);
    assert.equal(seccompRequest({ ...base, listenerPath: '/run/x.sock' }), undefined);
    assert.equal(seccompRequest({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_NOTIFY' }] }), undefined);
    const badOp = { names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_XX' }] };
    assert.equal(seccompRequest({ ...base, syscalls: [badOp] }), undefined);
  });

  it('takes the default profile as a container gets it', () => {
    const profile = seccompFor(DEFAULT_SECCOMP_PROFILE, { capabilities: [], arch: 'x64', kernel: '6.1.0' });
    const r = lines(seccompRequest(profile))!;
    assert.equal(r[0], `default 327681 ${profile?.defaultErrnoRet ?? '-'}`);
    assert.deepEqual(
      r.filter((l) => l.startsWith('arch ')),
      ['arch x86_64', 'arch x86', 'arch x32'],
    );
    assert.ok(r.includes('rule read 2147418112'));
    assert.ok(r.every((l) => /^(default|arch|rule) /.test(l)));
  });
});
