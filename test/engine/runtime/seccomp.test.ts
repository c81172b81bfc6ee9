// The seccomp profile enforced for real: a static probe (test/fixtures/seccomp/probe.c) makes each call the default
// profile (moby's default.json, turned into the container's filter by runtime/seccomp.ts) decides on, in containers
// with the default capabilities, with CAP_SYS_ADMIN, unconfined and privileged — and on the host, where the same
// calls are not refused with EPERM.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEngine } from '../../helpers/engine';
import { type MirroredEngine, startMirroredEngine } from '../../helpers/mirrored-engine';

const EPERM = 1;
const EBADF = 9;
const EINVAL = 22;
const ENOSYS = 38;
const EAFNOSUPPORT = 97;
/** The probe's lines as {call: errno} (0 when the call succeeded). */
function results(out: string): Record<string, number> {
  const r: Record<string, number> = {};
  for (const m of out.matchAll(/^(\w+) (0|-1) errno=(\d+)$/gm)) r[m[1]!] = Number(m[3]);
  return r;
}

describe('runtime: the default seccomp profile in a container', function () {
  this.timeout(120_000);
  let target: MirroredEngine;
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-seccomp-'));
    execFileSync('gcc', [
      '-static',
      '-O2',
      '-o',
      path.join(dir, 'probe'),
      path.join(__dirname, '../../fixtures/seccomp/probe.c'),
    ]);
    target = await startMirroredEngine();
  });
  after(async () => {
    await target?.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const probe = async (SecurityOpt?: string[], Cmd = ['/probe/probe'], more: Record<string, unknown> = {}) => {
    const c = target.engine.client;
    const { Id } = await c.json('POST', '/containers/create', {
      body: {
        Image: 'busybox',
        Cmd,
        Tty: true,
        HostConfig: { Binds: [`${dir}:/probe:ro`], NetworkMode: 'none', SecurityOpt, ...more },
      },
    });
    await c.startContainer(Id);
    await c.json('POST', `/containers/${Id}/wait`);
    const logs = await c.containerLogs(Id, { stdout: true, stderr: true });
    let text = '';
    for await (const chunk of logs) text += chunk;
    await c.removeContainer(Id, { force: true });
    return text.replace(/\r/g, '');
  };
  const status = (SecurityOpt?: string[]) =>
    probe(SecurityOpt, ['grep', '-E', '^(NoNewPrivs|Seccomp):', '/proc/self/status']);

  it('on the host no call is refused with EPERM', () => {
    const host = results(execFileSync('unshare', ['-m', path.join(dir, 'probe')], { encoding: 'utf8' }));
    assert.deepEqual(host.io_uring_setup, 0);
    assert.equal(host.io_uring_enter, EBADF);
    assert.equal(host.io_uring_register, EINVAL);
    assert.equal(host.vsock, 0);
    assert.ok([0, EAFNOSUPPORT].includes(host.alg!), `alg: ${host.alg}`);
    assert.equal(host.clone3, EINVAL);
    assert.deepEqual([host.unix, host.unshare_newuser, host.mount, host.ptrace], [0, 0, 0, 0]);
  });

  it('default capabilities: io_uring, AF_VSOCK/AF_ALG sockets, unshare and mount get EPERM, clone3 ENOSYS', async () => {
    const out = await probe();
    assert.deepEqual(
      results(out),
      {
        io_uring_setup: EPERM,
        io_uring_enter: EPERM,
        io_uring_register: EPERM,
        vsock: EPERM,
        alg: EPERM,
        unix: 0,
        clone3: ENOSYS, // so that libcs fall back to clone, whose flags seccomp can see
        unshare_newuser: EPERM,
        mount: EPERM,
        ptrace: 0, // allowed from kernel 4.8 on (the profile's minKernel rule)
      },
      out,
    );
  });

  it('--cap-add SYS_ADMIN opens clone3, unshare and mount; io_uring and the socket families stay refused', async () => {
    const out = await probe(undefined, undefined, { CapAdd: ['SYS_ADMIN'] });
    const r = results(out);
    assert.deepEqual([r.clone3, r.unshare_newuser, r.mount], [EINVAL, 0, 0], out);
    assert.deepEqual([r.io_uring_setup, r.io_uring_enter, r.io_uring_register, r.vsock, r.alg], [1, 1, 1, 1, 1], out);
  });

  it('--privileged: no filter (every call as on the host, Seccomp: 0)', async () => {
    const r = results(await probe(undefined, undefined, { Privileged: true }));
    assert.deepEqual([r.io_uring_setup, r.io_uring_enter, r.vsock, r.clone3, r.mount], [0, EBADF, 0, EINVAL, 0]);
    assert.match(await probe(undefined, ['grep', '^Seccomp:', '/proc/self/status'], { Privileged: true }), /\t0$/m);
  });

  it('--security-opt seccomp=unconfined: no filter, io_uring and vsock as on the host', async () => {
    const out = await probe(['seccomp=unconfined']);
    const r = results(out);
    assert.deepEqual(
      [r.io_uring_setup, r.io_uring_enter, r.vsock, r.clone3, r.unshare_newuser],
      [0, EBADF, 0, EINVAL, 0],
    );
    assert.notEqual(r.alg, EPERM, out);
    assert.equal(r.mount, EPERM, out); // the capability is still missing
    assert.match(await status(['seccomp=unconfined']), /^Seccomp:\t0$/m);
  });

  it("--security-opt seccomp=<profile>: the user's profile (Docker's format: names, includes by arch) instead", async () => {
    const goArch = { x64: 'amd64', arm64: 'arm64' }[process.arch as string] ?? process.arch;
    const profile = JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { name: 'io_uring_setup', action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        // only on another architecture: dropped here
        { names: ['socket'], action: 'SCMP_ACT_ERRNO', includes: { arches: ['not-' + goArch] } },
        { names: ['socketpair'], action: 'SCMP_ACT_ERRNO', includes: { arches: [goArch] } },
        // by kernel version: this host's is newer than 4.8 and older than 99.0
        { names: ['unshare'], action: 'SCMP_ACT_ERRNO', errnoRet: 14, includes: { minKernel: '4.8' } },
        { names: ['ptrace'], action: 'SCMP_ACT_ERRNO', errnoRet: 15, includes: { minKernel: '99.0' } },
        // by capability: the default set lacks CAP_SYS_ADMIN and holds CAP_CHOWN
        { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, excludes: { caps: ['CAP_SYS_ADMIN'] } },
        { names: ['mount'], action: 'SCMP_ACT_ERRNO', errnoRet: 16, excludes: { caps: ['CAP_CHOWN'] } },
      ],
    });
    const out = await probe([`seccomp=${profile}`]);
    assert.deepEqual(
      results(out),
      {
        io_uring_setup: 13,
        io_uring_enter: EBADF,
        io_uring_register: EINVAL,
        vsock: 0,
        alg: results(execFileSync('unshare', ['-m', path.join(dir, 'probe')], { encoding: 'utf8' })).alg,
        unix: 0,
        clone3: ENOSYS,
        unshare_newuser: 14,
        mount: EPERM, // from the missing capability, not the profile
        ptrace: 0,
      },
      out,
    );
    const admin = results(await probe([`seccomp=${profile}`], undefined, { CapAdd: ['SYS_ADMIN'] }));
    assert.deepEqual([admin.clone3, admin.mount], [EINVAL, 0]);
    // --privileged keeps a profile the container names itself (Docker 27)
    const privileged = results(await probe([`seccomp=${profile}`], undefined, { Privileged: true }));
    assert.deepEqual([privileged.io_uring_setup, privileged.unshare_newuser, privileged.mount], [13, 14, 0]);
    // seccomp=builtin is the default profile again
    assert.match(await probe(['seccomp=builtin']), /^io_uring_setup -1 errno=1$/m);
  });

  it('--security-opt no-new-privileges[=true|false] sets NoNewPrivs; the default profile stays', async () => {
    assert.match(await status([]), /^NoNewPrivs:\t0$/m);
    const on = await status(['no-new-privileges']);
    assert.match(on, /^NoNewPrivs:\t1$/m, on);
    assert.match(on, /^Seccomp:\t2$/m, on);
    assert.match(await status(['no-new-privileges=true']), /^NoNewPrivs:\t1$/m);
    assert.match(await status(['no-new-privileges:true', 'no-new-privileges=false']), /^NoNewPrivs:\t0$/m);
  });

  it('HostConfig MaskedPaths/ReadonlyPaths as given (the docker CLI sends [] for systempaths=unconfined)', async () => {
    // masked paths are /dev/null bound over the path, read-only ones read-only binds: both show in mountinfo
    const mounts = async (more: Record<string, unknown>) => {
      const out = await probe(undefined, ['cat', '/proc/self/mountinfo'], more);
      return (path: string) => out.split('\n').find((l) => l.split(' ')[4] === path);
    };
    const def = await mounts({});
    assert.ok(def('/proc/timer_list') && def('/proc/keys'), 'default masked paths');
    assert.match(def('/proc/sys') ?? '', / ro,/);
    const open = await mounts({ MaskedPaths: [], ReadonlyPaths: [] });
    assert.equal(open('/proc/timer_list') ?? open('/proc/keys') ?? open('/proc/sys'), undefined);
    const own = await mounts({ MaskedPaths: ['/proc/cpuinfo'], ReadonlyPaths: ['/proc/sys/kernel'] });
    assert.ok(own('/proc/cpuinfo') && !own('/proc/keys'), 'the given masked paths only');
    assert.match(own('/proc/sys/kernel') ?? '', / ro,/);
    const c = target.engine.client;
    const { Id } = await c.json('POST', '/containers/create', {
      body: { Image: 'busybox', HostConfig: { MaskedPaths: ['/proc/cpuinfo'], NetworkMode: 'none' } },
    });
    try {
      const info: any = await c.json('GET', `/containers/${Id}/json`);
      assert.deepEqual(info.HostConfig.MaskedPaths, ['/proc/cpuinfo']);
      assert.ok(info.HostConfig.ReadonlyPaths.includes('/proc/sys'), info.HostConfig.ReadonlyPaths);
    } finally {
      await c.removeContainer(Id, { force: true });
    }
  });

  it('inspect shows SecurityOpt as given; bad options and profiles are refused at create with dockerd’s text', async () => {
    const c = target.engine.client;
    const opts = ['seccomp=unconfined', 'no-new-privileges'];
    const { Id } = await c.json('POST', '/containers/create', {
      body: { Image: 'busybox', HostConfig: { SecurityOpt: opts, NetworkMode: 'none' } },
    });
    try {
      const info: any = await c.json('GET', `/containers/${Id}/json`);
      assert.deepEqual(info.HostConfig.SecurityOpt, opts);
    } finally {
      await c.removeContainer(Id, { force: true });
    }
    const refused = async (opt: string, text: string | RegExp) => {
      const before: any[] = await c.json('GET', '/containers/json?all=1');
      await assert.rejects(
        c.json('POST', '/containers/create', { body: { Image: 'busybox', HostConfig: { SecurityOpt: [opt] } } }),
        (err: any) => {
          assert.equal(err.status, 400, err.message);
          if (typeof text === 'string') assert.ok(err.message.includes(text), err.message);
          else assert.match(err.message, text);
          return true;
        },
      );
      assert.equal((await c.json<any[]>('GET', '/containers/json?all=1')).length, before.length);
    };
    await refused('bogus', 'invalid --security-opt 1: "bogus"');
    await refused('nosuch=1', 'invalid --security-opt 2: "nosuch=1"');
    await refused('no-new-privileges=maybe', 'invalid --security-opt 2: "no-new-privileges=maybe"');
    await refused('seccomp={not json', /^Decoding seccomp profile failed: /);
    await refused('seccomp={"defaultAction":1}', /^Decoding seccomp profile failed: /);
    await refused(
      'seccomp={"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}',
      "both 'architectures' and 'archMap' are specified",
    );
  });

  it('daemon.json seccomp-profile and no-new-privileges are the defaults a container’s own options change', async () => {
    const profile = path.join(dir, 'daemon-profile.json');
    fs.writeFileSync(
      profile,
      JSON.stringify({
        defaultAction: 'SCMP_ACT_ALLOW',
        syscalls: [{ names: ['io_uring_setup'], action: 'SCMP_ACT_ERRNO', errnoRet: 22 }],
      }),
    );
    const e = await startEngine({
      config: { 'registry-mirrors': [target.registry.url], 'seccomp-profile': profile, 'no-new-privileges': true },
    });
    try {
      for await (const p of e.client.pullImage('busybox', 'latest')) assert.equal(p.error, undefined, p.error);
      const run = async (SecurityOpt: string[], Cmd: string[], Privileged = false) => {
        const { Id } = await e.client.json('POST', '/containers/create', {
          body: {
            Image: 'busybox',
            Cmd,
            Tty: true,
            HostConfig: { Binds: [`${dir}:/probe:ro`], NetworkMode: 'none', SecurityOpt, Privileged },
          },
        });
        await e.client.startContainer(Id);
        await e.client.json('POST', `/containers/${Id}/wait`);
        let text = '';
        for await (const chunk of await e.client.containerLogs(Id, { stdout: true, stderr: true })) text += chunk;
        await e.client.removeContainer(Id, { force: true });
        return text.replace(/\r/g, '');
      };
      const nnp = ['grep', 'NoNewPrivs', '/proc/self/status'];
      assert.match(await run([], ['/probe/probe']), /^io_uring_setup -1 errno=22$/m);
      assert.match(await run(['seccomp=builtin'], ['/probe/probe']), /^io_uring_setup -1 errno=1$/m);
      assert.match(await run(['seccomp=unconfined'], ['/probe/probe']), /^io_uring_setup 0 errno=0$/m);
      // the daemon's profile is not for privileged containers
      assert.match(await run([], ['/probe/probe'], true), /^io_uring_setup 0 errno=0$/m);
      assert.match(await run([], nnp), /^NoNewPrivs:\t1$/m);
      assert.match(await run(['no-new-privileges=false'], nnp), /^NoNewPrivs:\t0$/m);
      const info: any = await e.client.json('GET', '/info');
      assert.ok(info.SecurityOptions.includes(`name=seccomp,profile=${profile}`), info.SecurityOptions);
      assert.ok(info.SecurityOptions.includes('name=no-new-privileges'), info.SecurityOptions);
    } finally {
      await e.cleanup();
    }
  });
});
