// Docker's default seccomp profile (moby profiles/seccomp/default.json, as of Docker 25+), generated from a compact
// table rather than carried as a 800-line JSON blob: an allow-list with EPERM for everything else, a few argument
// rules (personality, clone without namespace flags, socket without AF_VSOCK), and groups that open up when the
// container holds a capability. runc skips syscall names the host's libseccomp does not know, so the list can name
// newer calls. Since Docker 25 (moby#46762, as containerd 2.0) the io_uring calls are not allowed: a ring performs
// operations seccomp never sees.
import { invalidParameter } from '../errdefs';

const ALWAYS = `
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32 clock_adjtime
clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1
epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown
fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd
getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer
getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32
getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid
getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy
io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown
lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64
madvise membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2
mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep
newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free
pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6
pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq
rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32
setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32
setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area
set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat
sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime
timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
ptrace process_vm_readv process_vm_writev arch_prctl modify_ldt`;
// (ptrace and process_vm_* are in moby's list for kernels from 4.8 on, where seccomp cannot be bypassed by them.)

/** Syscalls allowed only when the container has the capability (Docker's `includes.caps`). */
const BY_CAPABILITY: Record<string, string> = {
  CAP_DAC_READ_SEARCH: 'open_by_handle_at',
  CAP_SYS_ADMIN:
    'bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare',
  CAP_SYS_BOOT: 'reboot',
  CAP_SYS_CHROOT: 'chroot',
  CAP_SYS_MODULE: 'delete_module init_module finit_module',
  CAP_SYS_PACCT: 'acct',
  CAP_SYS_PTRACE: 'kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace',
  CAP_SYS_RAWIO: 'iopl ioperm',
  CAP_SYS_TIME: 'settimeofday stime clock_settime clock_settime64',
  CAP_SYS_TTY_CONFIG: 'vhangup',
  CAP_SYS_NICE: 'get_mempolicy mbind set_mempolicy set_mempolicy_home_node',
  CAP_SYSLOG: 'syslog',
  CAP_BPF: 'bpf',
  CAP_PERFMON: 'perf_event_open',
};

// CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP: without CAP_SYS_ADMIN clone may not make namespaces.
const CLONE_NAMESPACE_FLAGS = 2114060288;
const EPERM = 1;
const ENOSYS = 38;
const AF_VSOCK = 40;

export interface SeccompRule {
  names: string[];
  action: string;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
  errnoRet?: number;
}
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls: SeccompRule[];
}

const words = (s: string) => s.split(/\s+/).filter(Boolean);

function architectures(arch: string): string[] {
  switch (arch) {
    case 'x64':
      return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'arm64':
      return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    case 'arm':
      return ['SCMP_ARCH_ARM'];
    case 'ppc64':
      return ['SCMP_ARCH_PPC64LE'];
    case 's390x':
      return ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390'];
    case 'riscv64':
      return ['SCMP_ARCH_RISCV64'];
    default:
      return [];
  }
}

/** Docker's default profile for a container holding `capabilities` (names like CAP_SYS_ADMIN). */
export function defaultSeccompProfile(capabilities: string[], arch: string = process.arch): SeccompProfile {
  const caps = new Set(capabilities);
  const syscalls: SeccompRule[] = [{ names: words(ALWAYS), action: 'SCMP_ACT_ALLOW' }];
  // Any socket but vsock: a container must not talk to the host's (or a VM host's) vsock services.
  syscalls.push({
    names: ['socket'],
    action: 'SCMP_ACT_ALLOW',
    args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }],
  });
  // personality(2) only with the harmless personas (PER_LINUX, PER_LINUX32, UNAME26 variants, query).
  for (const value of [0x0, 0x8, 0x20000, 0x20008, 0xffffffff]) {
    syscalls.push({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] });
  }
  for (const [cap, names] of Object.entries(BY_CAPABILITY)) {
    if (caps.has(cap)) syscalls.push({ names: words(names), action: 'SCMP_ACT_ALLOW' });
  }
  if (!caps.has('CAP_SYS_ADMIN')) {
    // The clone flags argument is the first on most architectures, the second on s390.
    const index = arch === 's390x' ? 1 : 0;
    syscalls.push({
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    });
    // clone3 passes flags in memory seccomp cannot inspect: ENOSYS makes libcs fall back to clone.
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: EPERM, architectures: architectures(arch), syscalls };
}

/** Node's process.arch as moby's profiles name architectures in includes/excludes (Go's GOARCH). */
const GOARCH: Record<string, string> = {
  x64: 'amd64',
  ia32: '386',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};
/** The SCMP_ARCH_ name an archMap entry must carry to apply on this architecture. */
const NATIVE_SCMP: Record<string, string> = {
  x64: 'SCMP_ARCH_X86_64',
  ia32: 'SCMP_ARCH_X86',
  arm64: 'SCMP_ARCH_AARCH64',
  arm: 'SCMP_ARCH_ARM',
  ppc64: 'SCMP_ARCH_PPC64LE',
  s390x: 'SCMP_ARCH_S390X',
  riscv64: 'SCMP_ARCH_RISCV64',
};

interface Filter {
  arches?: string[];
  caps?: string[];
  minKernel?: string;
}
interface ProfileSyscall extends SeccompRule {
  name?: string;
  includes?: Filter;
  excludes?: Filter;
}
/** A profile in Docker's format (moby profiles/seccomp: the OCI fields plus archMap, name, includes, excludes). */
interface DockerProfile {
  defaultAction?: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  syscalls?: ProfileSyscall[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
}

/** Go's encoding/json matches field names without regard to case: keys folded to the profile's spelling. */
const FIELDS = [
  'defaultAction',
  'defaultErrnoRet',
  'architectures',
  'archMap',
  'architecture',
  'subArchitectures',
  'syscalls',
  'flags',
  'listenerPath',
  'listenerMetadata',
  'name',
  'names',
  'action',
  'errnoRet',
  'args',
  'index',
  'value',
  'valueTwo',
  'op',
  'includes',
  'excludes',
  'arches',
  'caps',
  'minKernel',
  'comment',
];
const FOLD = new Map(FIELDS.map((f) => [f.toLowerCase(), f]));
function fold(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fold);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[FOLD.get(k.toLowerCase()) ?? k] = fold(x);
    return out;
  }
  return v;
}

const isStrings = (v: unknown) =>
  v === undefined || v === null || (Array.isArray(v) && v.every((s) => typeof s === 'string'));
const isUint = (v: unknown) =>
  v === undefined || v === null || (typeof v === 'number' && Number.isInteger(v) && v >= 0);

/** A --security-opt seccomp=<JSON> profile, decoded and checked (moby's LoadProfile refusals, with its texts). */
export function decodeSeccompProfile(body: string): DockerProfile {
  const failed = (why: string) => invalidParameter(`Decoding seccomp profile failed: ${why}`);
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err: any) {
    throw failed(err.message);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw failed('json: cannot unmarshal non-object into Go value of type seccomp.Seccomp');
  const p = fold(raw) as DockerProfile;
  const typeError = (field: string) => failed(`json: cannot unmarshal ${field} of the wrong type in seccomp.Seccomp`);
  if (p.defaultAction != null && typeof p.defaultAction !== 'string') throw typeError('defaultAction');
  if (!isUint(p.defaultErrnoRet)) throw typeError('defaultErrnoRet');
  if (!isStrings(p.architectures)) throw typeError('architectures');
  if (!isStrings(p.flags)) throw typeError('flags');
  if (p.archMap != null && !Array.isArray(p.archMap)) throw typeError('archMap');
  for (const a of p.archMap ?? [])
    if (!a || typeof a.architecture !== 'string' || !isStrings(a.subArchitectures)) throw typeError('archMap');
  if (p.syscalls != null && !Array.isArray(p.syscalls)) throw typeError('syscalls');
  for (const s of p.syscalls ?? []) {
    if (!s || typeof s !== 'object' || typeof s.action !== 'string') throw typeError('syscalls');
    if ((s.name != null && typeof s.name !== 'string') || !isStrings(s.names) || !isUint(s.errnoRet))
      throw typeError('syscalls');
    if (s.name && s.names?.length) throw invalidParameter("use either 'name' or 'names'");
    for (const a of s.args ?? [])
      if (!a || !isUint(a.index) || !isUint(a.value) || !isUint(a.valueTwo) || typeof a.op !== 'string')
        throw typeError('syscalls.args');
    for (const f of [s.includes, s.excludes])
      if (f && (!isStrings(f.arches) || !isStrings(f.caps) || (f.minKernel != null && typeof f.minKernel !== 'string')))
        throw typeError('syscalls.includes');
  }
  if (p.architectures?.length && p.archMap?.length)
    throw invalidParameter(
      "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'",
    );
  return p;
}

const kernelAtLeast = (kernel: string, min: string) => {
  const parts = (s: string) => (s.match(/^(\d+)(?:\.(\d+))?/) ?? []).slice(1).map((x) => Number(x ?? 0));
  const [a = 0, b = 0] = parts(kernel);
  const [x = 0, y = 0] = parts(min);
  return a > x || (a === x && b >= y);
};

/**
 * The OCI seccomp of a Docker-format profile for a container whose bounding set is `capabilities` (moby's
 * setupSeccomp): archMap picks this architecture's entry, includes/excludes filter rules by arch, capability
 * and kernel. No defaultAction and no rules means no filter at all.
 */
export function seccompFromProfile(
  body: string,
  capabilities: string[],
  arch: string = process.arch,
  kernel = '0.0',
): SeccompProfile | undefined {
  const p = decodeSeccompProfile(body);
  if (!p.defaultAction && !p.syscalls?.length) return undefined;
  const goArch = GOARCH[arch] ?? arch;
  const architectures = [...(p.architectures ?? [])];
  const native = p.archMap?.find((a) => a.architecture === NATIVE_SCMP[arch]);
  if (native) architectures.push(native.architecture, ...(native.subArchitectures ?? []));
  const bounding = new Set(capabilities);
  const syscalls: SeccompRule[] = [];
  for (const call of p.syscalls ?? []) {
    const ex = call.excludes;
    if (ex) {
      if (ex.arches?.includes(goArch)) continue;
      if (ex.caps?.some((c) => bounding.has(c))) continue;
      if (ex.minKernel && kernelAtLeast(kernel, ex.minKernel)) continue;
    }
    const inc = call.includes;
    if (inc) {
      if (inc.arches?.length && !inc.arches.includes(goArch)) continue;
      if (inc.caps?.some((c) => !bounding.has(c))) continue;
      if (inc.minKernel && !kernelAtLeast(kernel, inc.minKernel)) continue;
    }
    const rule: SeccompRule = { names: call.name ? [call.name] : (call.names ?? []), action: call.action };
    if (call.args?.length) rule.args = call.args;
    if (call.errnoRet != null) rule.errnoRet = call.errnoRet;
    syscalls.push(rule);
  }
  const out: SeccompProfile = { defaultAction: p.defaultAction ?? '', architectures, syscalls };
  if (p.defaultErrnoRet != null) out.defaultErrnoRet = p.defaultErrnoRet;
  if (p.flags?.length) out.flags = p.flags;
  if (p.listenerPath) out.listenerPath = p.listenerPath;
  if (p.listenerMetadata) out.listenerMetadata = p.listenerMetadata;
  return out;
}
