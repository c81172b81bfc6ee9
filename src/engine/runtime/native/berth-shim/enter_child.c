/* enter_child.c: the helpers of a fast exec, A on the host side and B inside the container (enter.c says why
 * and in which order, after runc). From here on we run in A or B: failures go to the status pipe (fd 3) as
 * "err <runc's words>" and end the child. */
#include "shim.h"
#include <dirent.h>
#include <grp.h>
#include <sched.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include "enter.h"
#include "reaper.h"

#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* Go's error text for an errno: the C library's, with a lower-case first letter ("no such file or directory"). */
static const char *go_strerror(int err, char *buf, size_t size) {
  snprintf(buf, size, "%s", strerror(err));
  if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z')) buf[0] = (char)(buf[0] - 'A' + 'a');
  return buf;
}

#define ST_FD 3
#define MASTER_FD 4
static void child_fail(const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  int l = snprintf(msg, sizeof msg, "err exec failed: unable to start container process: ");
  l += vsnprintf(msg + l, sizeof msg - (size_t)l, fmt, ap);
  va_end(ap);
  if (l > (int)sizeof msg - 2) l = (int)sizeof msg - 2;
  /* One line: the message carries argv[0] or the cwd, which must not be able to forge the "pid" line. */
  for (int i = 0; i < l; i++)
    if (msg[i] == '\n' || msg[i] == '\r') msg[i] = ' ';
  msg[l++] = '\n';
  write_all(ST_FD, msg, (size_t)l);
  _exit(1);
}

/* Go 1.19's exec.LookPath, which runc uses: a name with a slash is taken as it is; otherwise PATH is searched.
 * Only the mode bits count (no access check), and a match relative to the working directory is refused. */
static void look_path(const char *file, char **envp, char *out, size_t size) {
  char e[256];
  struct stat st;
  if (strchr(file, '/')) {
    if (stat(file, &st) < 0) child_fail("exec: \"%s\": stat %s: %s", file, file, go_strerror(errno, e, sizeof e));
    if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) child_fail("exec: \"%s\": permission denied", file);
    snprintf(out, size, "%s", file);
    return;
  }
  const char *path = "";
  for (char **v = envp; v && *v; v++)
    if (strncmp(*v, "PATH=", 5) == 0) path = *v + 5; /* the last one wins, as in Go's environment */
  for (const char *p = path; *path;) { /* Go splits "" into no entries at all */
    const char *end = strchr(p, ':');
    size_t l = end ? (size_t)(end - p) : strlen(p);
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)l, l ? p : ".");
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dir[--dl] = 0;
    snprintf(out, size, "%s%s%s", strcmp(dir, "/") == 0 ? "" : dir, "/", file);
    if (stat(out, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111)) {
      if (out[0] != '/') child_fail("exec: \"%s\": cannot run executable found relative to current directory", file);
      return;
    }
    if (!end) break;
    p = end + 1;
  }
  child_fail("exec: \"%s\": executable file not found in $PATH", file);
}

/* Opens `path` with no symbolic link anywhere in it (openat2 RESOLVE_NO_SYMLINKS, Linux 5.6; before, O_NOFOLLOW
 * on the last component). */
static int open_nofollow(const char *path, int flags) {
  struct { unsigned long long flags, mode, resolve; } how = {.flags = (unsigned long long)flags, .mode = 0, .resolve = 0x04 | 0x02 /* NO_SYMLINKS | NO_MAGICLINKS */};
  int fd = (int)syscall(437 /* SYS_openat2 */, AT_FDCWD, path, &how, sizeof how);
  if (fd >= 0 || (errno != ENOSYS && errno != E2BIG)) return fd;
  return open(path, flags | O_NOFOLLOW);
}

/* Is `fd` a character device `major`:`minor` (minor -1: any) on a devpts file system? */
static int on_devpts(int fd, unsigned int major_no, int minor_no) {
  struct stat st;
  struct statfs sfs;
  if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0) return 0;
  return sfs.f_type == 0x1cd1 /* DEVPTS_SUPER_MAGIC */ && S_ISCHR(st.st_mode) && major(st.st_rdev) == major_no &&
         (minor_no < 0 || minor(st.st_rdev) == (unsigned int)minor_no);
}

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#define SYS_CLONE3 435 /* the same number on every architecture */
/* clone3's arguments up to `cgroup` (Linux 5.7). */
struct clone3_args {
  unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

struct cap_header { unsigned int version; int pid; };
struct cap_data { unsigned int effective, permitted, inheritable; };

/* Child B: inside the container's namespaces and cgroups, still root with all our capabilities. `cgroup_ns`: the
 * init's cgroup namespace, joined here (see fast_child_a), or -1. */
static void fast_child_b(struct fexec *x, int tty, int cgroup_ns) {
  char e[256];
  if (cgroup_ns >= 0 && (setns(cgroup_ns, CLONE_NEWCGROUP) < 0 || close(cgroup_ns) < 0))
    child_fail("failed to setns to cgroup namespace: %s", go_strerror(errno, e, sizeof e));
  if (setsid() < 0) child_fail("setsid: %s", go_strerror(errno, e, sizeof e));
  if (tty) {
    /* The container's devpts instance, opened without following links (the container owns /dev: a link there
     * could point anywhere while we still hold every capability), and checked to be a ptmx of a devpts. */
    int master = open_nofollow("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    int unlock = 0;
    if (master < 0) child_fail("open /dev/pts/ptmx: %s", go_strerror(errno, e, sizeof e));
    if (!on_devpts(master, 5, 2)) child_fail("/dev/pts/ptmx is not a pty multiplexer");
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0) child_fail("unlockpt: %s", go_strerror(errno, e, sizeof e));
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0 && (errno == EINVAL || errno == ENOTTY)) { /* Linux < 4.13: by its number, as runc does */
      unsigned int n;
      char name[64];
      if (ioctl(master, TIOCGPTN, &n) == 0) {
        snprintf(name, sizeof name, "/dev/pts/%u", n);
        slave = open_nofollow(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave >= 0 && !on_devpts(slave, 136, -1)) { close(slave); slave = -1; errno = EPERM; }
      }
    }
    if (slave < 0) child_fail("open pty slave: %s", go_strerror(errno, e, sizeof e));
    /* The size from exec start, before the process can ask for it (runc's setupConsole does the same). */
    struct winsize ws = {.ws_row = x->rows, .ws_col = x->cols};
    if (x->rows && x->cols && ioctl(slave, TIOCSWINSZ, &ws) < 0) child_fail("resize pty: %s", go_strerror(errno, e, sizeof e));
    char byte = 0;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &master, sizeof master);
    if (sendmsg(MASTER_FD, &msg, 0) < 0) child_fail("send pty master: %s", go_strerror(errno, e, sizeof e));
    close(master);
    close(MASTER_FD);
    for (int fd = 0; fd < 3; fd++) dup2(slave, fd);
    if (slave > 2) close(slave);
    if (ioctl(0, TIOCSCTTY, 0) < 0) child_fail("ioctl(setctty): %s", go_strerror(errno, e, sizeof e));
  }
  struct sock_fprog prog = {.len = fx.filter_len, .filter = fx.filter};
  if (x->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail("prctl(no_new_privs): %s", go_strerror(errno, e, sizeof e));
  if (fx.filter && !x->nnp && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
    child_fail("error loading seccomp filter: %s", go_strerror(errno, e, sizeof e));

  /* finalizeNamespace: the bounding set first, then the user with capabilities kept, then the sets. */
  for (int c = 0; c <= fx.last_cap; c++)
    if (!(x->caps[0] & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      child_fail("drop bounding capability: %s", go_strerror(errno, e, sizeof e));
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) child_fail("prctl(keepcaps): %s", go_strerror(errno, e, sizeof e));
  /* runc tries the working directory as root first (it may be readable only by root), again as the user. */
  int chdir_later = 0;
  if (chdir(x->cwd) < 0) {
    if (errno != EACCES && errno != EPERM) child_fail("chdir to cwd (\"%s\") set in config.json failed: %s", x->cwd, go_strerror(errno, e, sizeof e));
    chdir_later = 1;
  }
  /* fixStdioPermissions: the user must be able to reopen its stdio (/dev/stdout); /dev/null stays as it is. */
  /* The shim's /dev/null is recognised by identity, not by the container's /dev/null, which the container can
   * replace (runc compares device numbers with it; a swapped node would have us chown the host's /dev/null). */
  struct stat null_st, st;
  if (stat("/dev/null", &null_st) < 0) memset(&null_st, 0, sizeof null_st);
  for (int fd = 0; fd < 3; fd++) {
    if (fstat(fd, &st) < 0 || st.st_uid == x->uid) continue;
    if (st.st_dev == fx.host_null.st_dev && st.st_ino == fx.host_null.st_ino) continue;
    if (S_ISCHR(st.st_mode) && (st.st_rdev == fx.host_null.st_rdev || st.st_rdev == null_st.st_rdev)) continue;
    if (fchown(fd, x->uid, (gid_t)-1) < 0 && errno != EINVAL && errno != EPERM && errno != EROFS)
      child_fail("fix stdio permissions: %s", go_strerror(errno, e, sizeof e));
  }
  if (setgroups((size_t)x->ngroups, x->groups) < 0) child_fail("setgroups: %s", go_strerror(errno, e, sizeof e));
  if (setresgid(x->gid, x->gid, x->gid) < 0) child_fail("setgid: %s", go_strerror(errno, e, sizeof e));
  if (setresuid(x->uid, x->uid, x->uid) < 0) child_fail("setuid: %s", go_strerror(errno, e, sizeof e));
  if (chdir_later && chdir(x->cwd) < 0)
    child_fail("chdir to cwd (\"%s\") set in config.json failed: %s", x->cwd, go_strerror(errno, e, sizeof e));
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) child_fail("prctl(keepcaps): %s", go_strerror(errno, e, sizeof e));
  struct cap_header hdr = {.version = 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, .pid = 0};
  struct cap_data data[2];
  for (int i = 0; i < 2; i++) {
    data[i].effective = (unsigned int)(x->caps[1] >> (32 * i));
    data[i].permitted = (unsigned int)(x->caps[2] >> (32 * i));
    data[i].inheritable = (unsigned int)(x->caps[3] >> (32 * i));
  }
  if (syscall(SYS_capset, &hdr, data) < 0) child_fail("apply capabilities: %s", go_strerror(errno, e, sizeof e));
  /* runc sets ambient capabilities one by one and only warns when one fails. */
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int c = 0; c <= fx.last_cap; c++)
    if (x->caps[4] & (1ULL << c)) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);

  char path[4096];
  look_path(x->argv[0], x->envp, path, sizeof path);
  if (fx.filter && x->nnp && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
    child_fail("error loading seccomp filter: %s", go_strerror(errno, e, sizeof e));
  /* Started, as far as berthd is concerned (runc's parent stops listening here too); an execve failure is the
   * process's own: its stderr and exit status 1, as with runc. */
  close(ST_FD);
  execve(path, x->argv, x->envp ? x->envp : (char *[]){NULL});
  dprintf(2, "exec %s: %s\n", path, go_strerror(errno, e, sizeof e));
  _exit(1);
}

/* Closes every fd from `low` up (close_range needs Linux 5.9; before, what /proc/self/fd lists). */
static void close_from(int low) {
  if (syscall(SYS_close_range, low, ~0U, 0) == 0) return;
  int fds[4096], n = 0;
  int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (!d) _exit(1); /* never start a process that could inherit the shim's fds */
  for (struct dirent *ent; (ent = readdir(d)) && n < 4096;) {
    int fd = atoi(ent->d_name);
    if (ent->d_name[0] >= '0' && ent->d_name[0] <= '9' && fd >= low && fd != dfd) fds[n++] = fd;
  }
  closedir(d);
  for (int i = 0; i < n; i++) close(fds[i]);
  if (n == 4096) close_from(low); /* more than one batch */
}

void fast_child_a(struct fexec *x, int tty, int in_fd, int out_fd, int err_fd, int st_fd, int sock_fd) {
  char e[256];
  sigset_t none;
  sigemptyset(&none);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* stdio, the status pipe at 3 and the pty socket at 4; nothing else of the shim may reach the container. */
  int hi_st = fcntl(st_fd, F_DUPFD_CLOEXEC, 10), hi_sock = sock_fd >= 0 ? fcntl(sock_fd, F_DUPFD_CLOEXEC, 10) : -1;
  if (hi_st < 0) _exit(1);
  dup2(in_fd, 0);
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  dup3(hi_st, ST_FD, O_CLOEXEC);
  if (hi_sock >= 0) dup3(hi_sock, MASTER_FD, O_CLOEXEC);
  close_from(hi_sock >= 0 ? MASTER_FD + 1 : ST_FD + 1);

  for (int i = 0; i < x->nrlimits; i++)
    if (setrlimit(x->rlimits[i].resource, &x->rlimits[i].lim) < 0) child_fail("setrlimit: %s", go_strerror(errno, e, sizeof e));
  if (x->has_oom) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || dprintf(fd, "%d", x->oom) < 0) child_fail("set oom_score_adj: %s", go_strerror(errno, e, sizeof e));
    close(fd);
  }
  char ring[128];
  snprintf(ring, sizeof ring, "_ses.%s", opt.id);
  /* Not berthd's session keyring; as runc, only a kernel without keyrings is let off. */
  if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, ring) < 0 && errno != ENOSYS)
    child_fail("unable to join session keyring: %s", go_strerror(errno, e, sizeof e));

  /* The init's cgroups. runc writes the pid to each cgroup.procs: a process move, which takes the kernel's global
   * threadgroup lock for writing, and that waits for an RCU grace period (5-18 ms on 2 busy cores: most of an
   * exec). A is one thread, so on v1 it writes "0" to `tasks` instead: a move of the calling thread alone, which
   * needs no such lock (kernel commit "cgroup: Optimize single thread migration": Linux 6.0 and the stable
   * kernels it went back to; before, the same cost as cgroup.procs), and B inherits the cgroups. On v2 (no
   * `tasks`) B is forked straight into the cgroup: clone3 CLONE_INTO_CGROUP (Linux 5.7) takes the lock's read
   * side only, as every fork does (and cgroup_mutex); an older kernel gets the cgroup.procs write. Both still
   * wait while another process's migration holds the lock (runc elsewhere on the host). */
  int v2_dir = -1, v2_procs = -1;
  const char *v2_path = "";
  for (int i = 0; i < fx.ncgroups; i++) {
    char p[4200];
    const char *dir = fx.cgroups[i].dir;
    if (fx.cgroups[i].v2) {
      v2_path = dir;
      snprintf(p, sizeof p, "%s/cgroup.procs", dir);
      if ((v2_dir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || (v2_procs = open(p, O_WRONLY | O_CLOEXEC)) < 0)
        child_fail("failed to join cgroup %s: %s", p, go_strerror(errno, e, sizeof e));
      continue;
    }
    snprintf(p, sizeof p, "%s/tasks", dir);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) < 0) child_fail("failed to join cgroup %s: %s", p, go_strerror(errno, e, sizeof e));
    close(fd);
  }
  /* The mount namespace last: opening the others goes through our /proc. The cgroup namespace is B's to join:
   * with it, a cgroup v2 mounted with nsdelegate would not let A place B in a cgroup outside that namespace. */
  static const struct { const char *name; int type; } order[] = {
    {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID},
    {"cgroup", CLONE_NEWCGROUP}, {"time", 0x80 /* CLONE_NEWTIME */}, {"mnt", CLONE_NEWNS},
  };
  int fds[7], cgroup_ns = -1;
  for (int i = 0; i < 7; i++) {
    fds[i] = -1;
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/ns/%s", container.pid, order[i].name);
    int same = same_ns(container.pid, order[i].name);
    if (same == 1) continue;
    if (same == -1 || (fds[i] = open(p, O_RDONLY | O_CLOEXEC)) < 0) child_fail("container init is gone (%s)", p);
  }
  for (int i = 0; i < 7; i++) {
    if (fds[i] >= 0 && order[i].type == CLONE_NEWCGROUP) { cgroup_ns = fds[i]; continue; }
    if (fds[i] >= 0 && (setns(fds[i], order[i].type) < 0 || close(fds[i]) < 0))
      child_fail("failed to setns to %s namespace: %s", order[i].name, go_strerror(errno, e, sizeof e));
  }
  pid_t b;
  if (v2_dir >= 0) {
    struct clone3_args args = {.flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (unsigned long long)v2_dir};
    b = (pid_t)syscall(SYS_CLONE3, &args, sizeof args);
    if (b < 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL)) { /* Linux < 5.7 */
      if (write(v2_procs, "0", 1) < 0)
        child_fail("failed to join cgroup %s/cgroup.procs: %s", v2_path, go_strerror(errno, e, sizeof e));
      b = fork();
    } else if (b < 0) {
      child_fail("failed to join cgroup %s/cgroup.procs: %s", v2_path, go_strerror(errno, e, sizeof e));
    }
  } else {
    b = fork();
  }
  if (b < 0) child_fail("fork: %s", go_strerror(errno, e, sizeof e));
  if (b == 0) {
    close(v2_dir);
    close(v2_procs);
    fast_child_b(x, tty, cgroup_ns);
  }
  char line[32];
  int l = snprintf(line, sizeof line, "pid %d\n", b);
  write_all(ST_FD, line, (size_t)l);
  _exit(0);
}
