/*
 * enter.c: berth-shim's fast exec. Starts a process inside the running container the way `runc exec` does, but
 * without runc (enter.h lists the parts; this file forks the helpers and answers the client).
 *
 * Why: `runc exec` costs ~35 ms on 2 cores (two Go start-ups, re-reading the state, compiling the seccomp
 * profile again). The shim already owns the container, so the same steps cost ~2 ms here. Docker's
 * `docker exec CTR true` target is <= 0.75x dockerd, which no runc-based path reaches.
 *
 * The steps follow runc 1.1's setns path (nsexec.c, setns_init_linux.go, finalizeNamespace), in its order:
 *  child A, still in the host's pid namespace:
 *   - default signal dispositions and an empty mask; not dumpable (nothing in the container may ptrace or open
 *     /proc/<pid>/ files of a process that still holds the host's privileges); stdio in place, every other fd closed;
 *   - rlimits and oom_score_adj of the process, the session keyring "_ses.<container id>";
 *   - the init's cgroups (every hierarchy; host paths found through our mountinfo, computed once): on v1 A moves
 *     itself (its thread: `tasks`, not cgroup.procs, which costs an RCU grace period per exec); on v2 B is forked
 *     into it (clone3 CLONE_INTO_CGROUP);
 *   - setns into each namespace of the init that differs from ours but the cgroup one (B joins it), the mount
 *     namespace last (which also makes the container's root our root, as for runc);
 *   - fork B (a fork is what enters a pid namespace), report B's host pid on the status pipe, exit.
 *  child B, inside the container:
 *   - the init's cgroup namespace; setsid; with a TTY a pty from the container's /dev/ptmx: the master goes to the shim over a socketpair,
 *     the slave (TIOCGPTPEER, never a path the container could swap) becomes stdio and controlling terminal;
 *   - no_new_privs when asked; seccomp: the init's own filter program, read once with PTRACE_SECCOMP_GET_FILTER
 *     (fast_prepare) while runc's init waits to be started: exactly what runc compiled, not a re-compilation.
 *     Without no_new_privs it is installed before the capabilities drop, with it just before execve (as runc);
 *   - bounding set, keep-caps, stdio owned by the user, groups/gid/uid, cwd, capabilities, ambient set;
 *   - the command looked up in PATH as runc does (Go 1.19's exec.LookPath), the status pipe closed, execve.
 * Errors up to the lookup reach berthd in runc's words ("exec failed: unable to start container process: ...").
 * The shim does not wait for A and B: the status pipe is one more fd in its poll loop (struct fstart), so a
 * helper the container stops or freezes costs that exec (10 s, then an error), not the container's stdio.
 *
 * When it is not used (exec goes through `runc exec`): berthd did not pass -X (the shim binary is not on a
 * read-only mount; see below), the init is in another user namespace, it has a different number of seccomp
 * filters than runc installs (none when unconfined, one otherwise), a cgroup cannot be mapped, or berthd sent no
 * fast-exec file (a process with an AppArmor/SELinux label). A rootless engine cannot read the init's filter (the
 * kernel shows filters only to root of the initial user namespace): there the first exec builds the same program
 * from the spec (enter_seccomp.c), and without libseccomp in the build such execs go through runc.
 *
 * CVE-2019-5736: B runs the shim's binary until its execve, so a "#!/proc/self/exe" script in the container makes
 * the container run us, and /proc/<pid>/exe would then reach our file on the host. berthd therefore runs shims
 * from a read-only bind mount (writes fail with EROFS, also for root) and passes -X only when that holds.
 */
#include "shim.h"
#include <sys/socket.h>
#include "clients.h"
#include "enter.h"
#include "procs.h"
#include "reaper.h"
#include "runc.h"

/* Receives the pty master B sent (already queued: B sends it before it can finish). */
static int recv_master(int sock) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  int fd = -1;
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) > 0) {
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  }
  return fd;
}

/* A fast exec between its fork and its answer. The shim's loop keeps serving meanwhile (attach, kill, logs,
 * other execs): a helper the container stops (SIGSTOP on B, a cgroup frozen under A) costs its exec, not the
 * container's stdio. */
struct fstart {
  struct proc *p;
  int ci, tty, with_stdin, sized;
  int st, sock, out, err, in, null;
  pid_t a, b;              /* helper A; B once A's "pid" line came */
  int a_done, b_done, b_status; /* reaped by the loop's reaper while the start was pending */
  long long deadline;
  size_t len;
  char buf[8192];
};
static struct fstart *fstarts[MAX_PROCS];
#define START_TIMEOUT_MS 10000

struct proc *fast_exec(int ci, const char *id, int tty, int with_stdin, const char *runc_file, const char *file, int rows, int cols, char *reply, size_t rsize) {
  struct fexec x;
  int parsed = fexec_parse(file, &x);
  if (parsed == 0 && x.seccomp && !fx.filter && fx.filter_file) {
    /* Once per container; a failure leaves this exec and the next ones to runc. */
    (void)compile_filter(fx.filter_file);
    free(fx.filter_file);
    fx.filter_file = NULL;
  }
  if (parsed < 0 || (x.seccomp && !fx.filter)) {
    /* Something this path does not do, or a container whose init should have a filter and has none. */
    fexec_free(&x);
    return runc_exec(ci, id, tty, with_stdin, runc_file, reply, rsize);
  }
  int slot = -1;
  for (int i = 0; i < MAX_PROCS && slot < 0; i++)
    if (!fstarts[i]) slot = i;
  struct fstart *fs = slot >= 0 ? calloc(1, sizeof *fs) : NULL;
  struct proc *p = fs ? proc_new(id) : NULL;
  if (!p) { free(fs); fexec_free(&x); snprintf(reply, rsize, "err too many exec processes\n"); return NULL; }
  int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, st[2] = {-1, -1}, sock[2] = {-1, -1};
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0 && fstat(null, &fx.host_null) < 0) close_fd(&null);
  if (null < 0 || pipe2(st, O_CLOEXEC) < 0 || (!tty && (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)) ||
      (!tty && with_stdin && pipe2(in, O_CLOEXEC) < 0) || (tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) < 0)) {
    snprintf(reply, rsize, "err pipe: %s\n", strerror(errno));
    goto fail;
  }
  if (tty) { x.rows = (unsigned short)rows; x.cols = (unsigned short)cols; }
  pid_t a = fork();
  if (a < 0) { snprintf(reply, rsize, "err fork: %s\n", strerror(errno)); goto fail; }
  if (a == 0) {
    if (tty) fast_child_a(&x, 1, null, null, null, st[1], sock[1]);
    else fast_child_a(&x, 0, with_stdin ? in[0] : null, out[1], err[1], st[1], -1);
  }
  fexec_free(&x);
  close_fd(&st[1]); close_fd(&out[1]); close_fd(&err[1]); close_fd(&in[0]); close_fd(&sock[1]); close_fd(&null);
  set_nonblock(st[0]);
  *fs = (struct fstart){.p = p, .ci = ci, .tty = tty, .with_stdin = with_stdin, .sized = tty && rows > 0 && cols > 0, .st = st[0], .sock = sock[0],
                        .out = out[0], .err = err[0], .in = in[1], .null = -1, .a = a, .deadline = now_ms() + START_TIMEOUT_MS};
  fstarts[slot] = fs;
  reply[0] = 0;
  return NULL;
fail:
  close_fd(&out[0]); close_fd(&out[1]); close_fd(&err[0]); close_fd(&err[1]); close_fd(&in[0]); close_fd(&in[1]);
  close_fd(&st[0]); close_fd(&st[1]); close_fd(&sock[0]); close_fd(&sock[1]); close_fd(&null);
  fexec_free(&x);
  free(fs);
  p->used = 0;
  return NULL;
}

/* A helper's status is nobody's: reaped now if it has ended, dropped from the reaper's record if the loop took
 * it first, or dropped when it comes (never waited for: the container can stop or freeze its processes). */
static void reap_helper(pid_t pid) {
  int st;
  pid_t r;
  while ((r = waitpid(pid, &st, WNOHANG)) < 0 && errno == EINTR) {}
  if (r == 0) discard_status(pid);
  else if (r < 0) claim_early(pid);
}

/* A's "pid" line and EOF came (or the deadline, or the container ended: `why`): the client gets its answer. */
static void fast_start_finish(int slot, const char *why) {
  struct fstart *fs = fstarts[slot];
  struct proc *p = fs->p;
  fs->buf[fs->len] = 0;
  /* Lines: "pid N" from A, "err ..." from A or B (child_fail keeps each message on one line). */
  pid_t pid = 0;
  char *el = NULL, reply[4200];
  for (char *line = fs->buf, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    if (strncmp(line, "pid ", 4) == 0 && !pid) pid = (pid_t)atoi(line + 4);
    else if (strncmp(line, "err ", 4) == 0 && !el) el = line;
  }
  /* B's status came to this start if the reaper met B after A named it. */
  int b_done = fs->b_done && fs->b == pid, b_status = fs->b_status;
  if (why) {
    /* Still running somewhere (frozen or stopped): ended here, and their statuses dropped when they come.
     * Killed only while not reaped yet: an unreaped pid cannot belong to anyone else. */
    if (!fs->a_done && claim_early(fs->a) == -1) { kill(fs->a, SIGKILL); reap_helper(fs->a); }
    if (pid > 0 && !b_done && claim_early(pid) == -1) { kill(pid, SIGKILL); reap_helper(pid); }
  } else if (!fs->a_done) {
    reap_helper(fs->a); /* it has closed its end: it is exiting */
  }
  int master = fs->tty ? recv_master(fs->sock) : -1;
  if (why || el || pid <= 0 || (fs->tty && master < 0)) {
    if (el) snprintf(reply, sizeof reply, "%.4000s\n", el);
    else snprintf(reply, sizeof reply, "err exec failed: unable to start container process%s%s\n", why ? ": " : "", why ? why : "");
    if (pid > 0 && !why && !b_done) reap_helper(pid); /* B ends after its error */
    close_fd(&master);
    close_fd(&fs->out); close_fd(&fs->err); close_fd(&fs->in);
    p->used = 0;
    if (fs->ci >= 0) client_queue(&clients[fs->ci], reply, strlen(reply));
  } else {
    proc_started(p, fs->ci, pid, b_done ? b_status : claim_early(pid), fs->tty, fs->with_stdin, master, fs->out, fs->err, fs->in);
    if (fs->ci >= 0) {
      struct client *c = &clients[fs->ci];
      c->mode = C_EXEC;
      c->proc = (int)(p - procs);
      c->want_in = fs->with_stdin;
      c->want_out = c->want_err = 1;
      snprintf(reply, sizeof reply, "ok %d%s\n", pid, fs->sized ? " sized" : "");
      client_queue(c, reply, strlen(reply));
    }
  }
  close_fd(&fs->st);
  close_fd(&fs->sock);
  free(fs);
  fstarts[slot] = NULL;
}

/* The status pipe of start `slot` is readable. */
static void fast_start_read(int slot) {
  struct fstart *fs = fstarts[slot];
  for (;;) {
    if (fs->len == sizeof fs->buf - 1) { fast_start_finish(slot, NULL); return; }
    ssize_t n = read(fs->st, fs->buf + fs->len, sizeof fs->buf - 1 - fs->len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) { fast_start_finish(slot, NULL); return; }
    fs->len += (size_t)n;
    fs->buf[fs->len] = 0;
    /* B's pid as soon as A says it, so that the reaper can hand B's status to this start (fast_start_reaped). */
    for (char *line = fs->buf, *nl; !fs->b && (nl = strchr(line, '\n')); line = nl + 1)
      if (strncmp(line, "pid ", 4) == 0) fs->b = (pid_t)atoi(line + 4);
  }
}

int fast_start_reaped(pid_t pid, int status) {
  for (int i = 0; i < MAX_PROCS; i++) {
    struct fstart *fs = fstarts[i];
    if (!fs) continue;
    if (pid == fs->a && !fs->a_done) { fs->a_done = 1; return 1; }
    if (fs->b && pid == fs->b && !fs->b_done) { fs->b_done = 1; fs->b_status = status; return 1; }
  }
  return 0;
}

void fast_start_client_gone(int ci) {
  for (int i = 0; i < MAX_PROCS; i++)
    if (fstarts[i] && fstarts[i]->ci == ci) fstarts[i]->ci = -1;
}

int fast_start_pending(int slot, long long now, int *timeout) {
  struct fstart *fs = fstarts[slot];
  if (!fs) return -1;
  if (fs->deadline <= now) {
    fast_start_finish(slot, "timed out");
    return -1;
  }
  if (*timeout < 0 || fs->deadline - now < *timeout) *timeout = (int)(fs->deadline - now);
  return fs->st;
}

void fast_start_readable(int slot, int fd) {
  if (fstarts[slot] && fstarts[slot]->st == fd) fast_start_read(slot);
}

void fast_starts_end(const char *why) {
  for (int i = 0; i < MAX_PROCS; i++)
    if (fstarts[i]) fast_start_finish(i, why);
}
