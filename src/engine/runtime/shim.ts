// The berth-shim binary containers run from, and the fast-exec file it reads (native/berth-shim/enter_file.c).
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { log } from '../log';
import { writeFileAtomic } from '../util/fsx';
import { isMountPoint, readOnlyMount } from './mounts';
import type { SeccompProfile } from './seccomp';

export function defaultShimPath(): string {
  return process.env.BERTH_SHIM ?? path.join(__dirname, 'bin', 'berth-shim');
}

/**
 * The shim binary containers run from: a copy on a read-only bind mount in exec-root. The shim's fast exec
 * (native/berth-shim/enter.c) runs the shim's own binary inside the container until its execve, so a "#!/proc/self/exe"
 * script there would reach this file through /proc/<pid>/exe (CVE-2019-5736); on a read-only mount a write
 * fails with EROFS, root or not. `readOnly` is what mountinfo says of it: fast exec is used only then.
 * Copies of other shim versions are unmounted (lazily: running shims keep theirs) and removed.
 */
export function readOnlyShim(source: string, execRoot: string): { path: string; readOnly: boolean } {
  try {
    const data = fs.readFileSync(source);
    const dir = path.join(execRoot, 'bin');
    const name = `berth-shim-${crypto.createHash('sha256').update(data).digest('hex').slice(0, 16)}`;
    const target = path.join(dir, name);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const old of fs.readdirSync(dir)) {
      if (old === name || !old.startsWith('berth-shim-')) continue;
      if (isMountPoint(path.join(dir, old))) execFileSync('umount', ['-l', path.join(dir, old)], { stdio: 'ignore' });
      fs.rmSync(path.join(dir, old), { force: true });
    }
    if (!isMountPoint(target)) {
      writeFileAtomic(target, data, 0o755);
      execFileSync('mount', ['--bind', target, target], { stdio: 'ignore' });
      // exec: exec-root may be a noexec tmpfs (/run); the remount sets this mount's flags anew
      execFileSync('mount', ['-o', 'remount,bind,ro,exec,nosuid,nodev', target], { stdio: 'ignore' });
    }
    if (readOnlyMount(target)) return { path: target, readOnly: true };
    log.warn('the shim binary is not on a read-only mount; exec goes through runc', { path: target });
    return { path: target, readOnly: false };
  } catch (err: any) {
    log.warn('could not make a read-only copy of the shim; exec goes through runc', { error: err?.message });
    return { path: source, readOnly: false };
  }
}

/**
 * An exec's process as berth-shim's fast path reads it (native/berth-shim/enter.c): NUL-terminated tokens, a key and its
 * values. undefined when runc should handle it: an AppArmor or SELinux label, or what runc refuses with its own
 * words (a relative cwd, an env entry without "=") or takes further (more than 256 extra groups).
 * `seccomp`: the container has a profile, so its init must have a filter for the shim to copy.
 */
export function fastExecRequest(proc: Record<string, any>, seccomp: boolean): Buffer | undefined {
  if (proc.apparmorProfile || proc.selinuxLabel) return undefined;
  if (!String(proc.cwd || '/').startsWith('/') || (proc.env ?? []).some((e: string) => !String(e).includes('=')))
    return undefined;
  if ((proc.user?.additionalGids ?? []).length > 256) return undefined;
  const t: string[] = [];
  for (const a of proc.args ?? []) t.push('arg', String(a));
  for (const e of proc.env ?? []) t.push('env', String(e));
  t.push('cwd', proc.cwd || '/');
  t.push('user', String(proc.user?.uid ?? 0), String(proc.user?.gid ?? 0));
  for (const g of proc.user?.additionalGids ?? []) t.push('group', String(g));
  const caps = proc.capabilities ?? {};
  t.push(
    'caps',
    ...['bounding', 'effective', 'permitted', 'inheritable', 'ambient'].map((k) => (caps[k] ?? []).join(',')),
  );
  for (const r of proc.rlimits ?? []) t.push('rlimit', String(r.type), String(r.soft), String(r.hard));
  t.push('nnp', proc.noNewPrivileges ? '1' : '0');
  if (typeof proc.oomScoreAdj === 'number') t.push('oom', String(proc.oomScoreAdj));
  t.push('seccomp', seccomp ? '1' : '0');
  if (t.some((x) => x.includes('\0'))) return undefined; // runc refuses these too; let it say so
  return Buffer.from(t.map((x) => `${x}\0`).join(''));
}

// libseccomp's action values (seccomp.h): what runc's getAction gives each OCI action.
const SCMP_ACTIONS: Record<string, (errno: number) => number> = {
  SCMP_ACT_KILL: () => 0x00000000,
  SCMP_ACT_KILL_THREAD: () => 0x00000000,
  SCMP_ACT_KILL_PROCESS: () => 0x80000000,
  SCMP_ACT_TRAP: () => 0x00030000,
  SCMP_ACT_ERRNO: (errno) => 0x00050000 | (errno & 0xffff),
  SCMP_ACT_TRACE: (errno) => 0x7ff00000 | (errno & 0xffff),
  SCMP_ACT_LOG: () => 0x7ffc0000,
  SCMP_ACT_ALLOW: () => 0x7fff0000,
};
const SCMP_OPS: Record<string, number> = {
  SCMP_CMP_NE: 1,
  SCMP_CMP_LT: 2,
  SCMP_CMP_LE: 3,
  SCMP_CMP_EQ: 4,
  SCMP_CMP_GE: 5,
  SCMP_CMP_GT: 6,
  SCMP_CMP_MASKED_EQ: 7,
};
const EPERM = 1;

/**
 * A container's seccomp filter as berth-shim compiles it for fast exec where it cannot copy the init's
 * (native/berth-shim/enter_seccomp.c: a rootless engine; the kernel shows a filter only to root of the initial
 * user namespace). Lines of numbers the shim hands to libseccomp as runc 1.1 does (libcontainer/seccomp):
 * `default ACTION ERRNORET|-`, `arch NAME`, `rule NAME ACTION [INDEX OP VALUE VALUETWO]...`, one rule per name, and
 * a rule whose conditions name an argument twice split into one rule per condition. undefined when the shim should
 * leave it to runc: flags, a listener or a notify action, or an action it does not know.
 */
export function seccompRequest(s: SeccompProfile | undefined): Buffer | undefined {
  if (!s || s.flags?.length || s.listenerPath) return undefined;
  const action = (name: string, errnoRet?: number) => SCMP_ACTIONS[name]?.(errnoRet ?? EPERM);
  const fallback = action(s.defaultAction, s.defaultErrnoRet);
  if (fallback === undefined) return undefined;
  const lines = [`default ${fallback} ${s.defaultErrnoRet ?? '-'}`];
  for (const a of s.architectures ?? []) lines.push(`arch ${a.replace(/^SCMP_ARCH_/, '').toLowerCase()}`);
  for (const rule of s.syscalls ?? []) {
    const act = action(rule.action, rule.errnoRet);
    if (act === undefined) return undefined;
    const conds: string[] = [];
    for (const c of rule.args ?? []) {
      const op = SCMP_OPS[c.op];
      if (op === undefined || !Number.isInteger(c.index) || c.index < 0 || c.index > 5) return undefined;
      conds.push(`${c.index} ${op} ${BigInt(c.value)} ${BigInt(c.valueTwo ?? 0)}`);
    }
    const indexes = (rule.args ?? []).map((c) => c.index);
    const split = new Set(indexes).size !== indexes.length;
    for (const name of rule.names ?? []) {
      if (!/^[\w]+$/.test(name)) return undefined;
      if (split) for (const c of conds) lines.push(`rule ${name} ${act} ${c}`);
      else lines.push(['rule', name, act, ...conds].join(' '));
    }
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}
