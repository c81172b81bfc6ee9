/* runc.c: running runc (runc.h). */
#include "shim.h"
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "procs.h"
#include "reaper.h"
#include "runc.h"

struct runc_env runc_env = {.sigchld_fd = -1};

/* The global flags before --root: crun takes --rootless=VALUE as another --root (its option table gives both one
 * key, crun 1.8 and later), so only the last --root may be ours. runc reads them in any order. */
int runc_argv(char **argv) {
  int i = 0;
  argv[i++] = (char *)opt.runc;
  for (int j = 0; j < opt.nglobal; j++) argv[i++] = opt.global[j];
  argv[i++] = "--root";
  argv[i++] = (char *)opt.runc_root;
  return i;
}

int run_runc(char *const extra[]) {
  char *argv[32 + MAX_GLOBAL];
  int i = runc_argv(argv);
  for (int j = 0; extra[j] && i < 31 + MAX_GLOBAL; j++) argv[i++] = extra[j];
  argv[i] = NULL;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    execvp(opt.runc, argv);
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  return status;
}

/* ---------- TTYs: the console socket (runc sends the pty master over it) ---------- */

int console_listen(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) { close(fd); errno = ENAMETOOLONG; return -1; }
  strcpy(addr.sun_path, path);
  unlink(path);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 1) < 0) { close(fd); return -1; }
  chmod(path, 0600);
  return fd;
}

static int console_recv(int lfd) {
  int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return -1;
  char name[512];
  struct iovec iov = {.iov_base = name, .iov_len = sizeof name};
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  int fd = -1;
  if (recvmsg(c, &msg, MSG_CMSG_CLOEXEC) >= 0) {
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  }
  close(c);
  return fd;
}

int wait_runc(pid_t runc, int sfd, int lfd, int *master) {
  int runc_status = 0, runc_done = 0;
  for (;;) {
    int st;
    pid_t p;
    /* Reap everything that is there: a SIGCHLD drained here must not leave another child a zombie. */
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
      if (p == runc) { runc_status = st; runc_done = 1; }
      else note_reaped(p, st);
    }
    if (runc_done) {
      /* runc sends the master before it exits: pick it up if it is still queued */
      if (lfd >= 0 && *master < 0) {
        struct pollfd q = {.fd = lfd, .events = POLLIN};
        if (poll(&q, 1, 0) > 0) *master = console_recv(lfd);
      }
      return runc_status;
    }
    struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN}, {.fd = lfd, .events = POLLIN}};
    int r = poll(fds, lfd >= 0 && *master < 0 ? 2 : 1, 1000);
    if (r < 0 && errno != EINTR) return -1;
    if (r > 0 && fds[0].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {}
    }
    if (r > 0 && lfd >= 0 && *master < 0 && (fds[1].revents & POLLIN)) *master = console_recv(lfd);
  }
}

void read_error(int fd, const char *fallback, char *out, size_t size) {
  set_nonblock(fd);
  ssize_t n = read(fd, out, size - 1);
  if (n < 0) n = 0;
  while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ')) n--;
  for (ssize_t i = 0; i < n; i++)
    if (out[i] == '\n') out[i] = ' ';
  out[n] = 0;
  if (n == 0) snprintf(out, size, "%s", fallback);
}

int read_pid_file(const char *file) {
  FILE *pf = fopen(file, "r");
  int pid = 0;
  if (pf) {
    if (fscanf(pf, "%d", &pid) != 1) pid = 0;
    fclose(pf);
  }
  return pid;
}

void child_stdio(int in, int out, int err) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  dup2(in, 0);
  dup2(out, 1);
  dup2(err, 2);
}

char *console_path(void) {
  char *p;
  if (asprintf(&p, "%s.c", opt.sock) < 0) die("out of memory");
  return p;
}

/* ---------- exec: `runc exec --detach`; the process is re-parented to us (subreaper), so we reap it ---------- */

struct proc *runc_exec(int ci, const char *id, int tty, int with_stdin, const char *process_json, char *reply, size_t rsize) {
  if (container.exited) { snprintf(reply, rsize, "err container not running\n"); return NULL; }
  if (proc_find(id)) { snprintf(reply, rsize, "err exec %s exists\n", id); return NULL; }
  struct proc *p = proc_new(id);
  if (!p) { snprintf(reply, rsize, "err too many exec processes\n"); return NULL; }
  int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, lfd = -1;
  char *cpath = NULL, *pid_file = NULL;
  if (asprintf(&pid_file, "%s/exec-%s.pid", opt.dir, id) < 0) die("out of memory");
  unlink(pid_file);
  if (pipe2(err, O_CLOEXEC) < 0 || (!tty && pipe2(out, O_CLOEXEC) < 0) || (!tty && with_stdin && pipe2(in, O_CLOEXEC) < 0)) {
    snprintf(reply, rsize, "err pipe: %s\n", strerror(errno));
    goto fail;
  }
  if (tty) {
    cpath = console_path();
    lfd = console_listen(cpath);
    if (lfd < 0) { snprintf(reply, rsize, "err console socket: %s\n", strerror(errno)); goto fail; }
  }
  pid_t runc = fork();
  if (runc < 0) { snprintf(reply, rsize, "err fork: %s\n", strerror(errno)); goto fail; }
  if (runc == 0) {
    int null = open("/dev/null", O_RDWR);
    if (tty) child_stdio(null, null, err[1]);
    else child_stdio(with_stdin ? in[0] : null, out[1], err[1]);
    char *args[24 + MAX_GLOBAL];
    int n = runc_argv(args);
    args[n++] = "--log"; args[n++] = runc_env.log_path; args[n++] = "--log-format"; args[n++] = "json";
    args[n++] = "exec"; args[n++] = "--detach"; args[n++] = "--pid-file"; args[n++] = (char *)pid_file;
    args[n++] = "--process"; args[n++] = (char *)process_json;
    if (tty) { args[n++] = "--console-socket"; args[n++] = (char *)cpath; }
    args[n++] = (char *)opt.id; args[n] = NULL;
    execvp(opt.runc, args);
    _exit(127);
  }
  close_fd(&err[1]);
  close_fd(&out[1]);
  close_fd(&in[0]);
  int master = -1;
  int st = wait_runc(runc, runc_env.sigchld_fd, lfd, &master);
  if (lfd >= 0) { close(lfd); unlink(cpath); }
  int pid = read_pid_file(pid_file);
  unlink(pid_file);
  if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || pid <= 0 || (tty && master < 0)) {
    char msg[4096];
    read_error(err[0], "runc exec failed", msg, sizeof msg);
    snprintf(reply, rsize, "err %s\n", msg);
    close_fd(&master);
    goto fail;
  }
  /* Without a TTY the process inherited runc's stderr: from here on the pipe carries the process's stderr. */
  if (tty) close_fd(&err[0]);
  proc_started(p, ci, pid, claim_early(pid), tty, with_stdin, master, out[0], err[0], in[1]);
  snprintf(reply, rsize, "ok %d\n", pid);
  free(cpath);
  free(pid_file);
  return p;
fail:
  close_fd(&out[0]); close_fd(&out[1]); close_fd(&err[0]); close_fd(&err[1]); close_fd(&in[0]); close_fd(&in[1]);
  if (lfd >= 0) { close(lfd); unlink(cpath); }
  free(cpath);
  free(pid_file);
  p->used = 0;
  return NULL;
}

/* Whether `pid` has ended (gone, or a zombie not reaped yet). */
static int process_gone(pid_t pid) {
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 1;
  buf[n] = 0;
  char *end = strrchr(buf, ')');
  return !end || end[1] == 0 || end[2] == 'Z' || end[2] == 'X';
}

/* What `runc start` does for a created container (libcontainer's exec()): open runc's exec fifo, read the byte
 * the waiting init writes once it has a reader, remove the fifo (runc tells "created" from "running" by it).
 * Doing it here saves a Go start-up per container (~8 ms). Returns -1 when anything is not as expected: the
 * caller then runs `runc start`, which gives runc's own error. */
static int start_via_fifo(pid_t init) {
  char path[4200];
  struct stat st;
  /* Only runc's init writes its fifo and waits for a reader; crun's waits for `crun start` to write into its own
   * (same name), so reading there would only time out. Other runtimes get their own `start`. */
  const char *base = strrchr(opt.runc, '/');
  if (strcmp(base ? base + 1 : opt.runc, "runc") != 0) return -1;
  snprintf(path, sizeof path, "%s/%s/exec.fifo", opt.runc_root, opt.id);
  if (init <= 0 || lstat(path, &st) < 0 || !S_ISFIFO(st.st_mode)) return -1;
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  long long deadline = now_ms() + 10000;
  char byte[16];
  for (;;) {
    struct pollfd q = {.fd = fd, .events = POLLIN};
    if (poll(&q, 1, 100) > 0) {
      ssize_t n = read(fd, byte, sizeof byte);
      if (n > 0) break;
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) { close(fd); return -1; }
    }
    if (process_gone(init) || now_ms() > deadline) { close(fd); return -1; }
  }
  close(fd);
  unlink(path);
  return 0;
}

int start_created(pid_t init, char *msg, size_t size) {
  if (start_via_fifo(init) == 0) return 0;
  int errp[2];
  if (pipe2(errp, O_CLOEXEC) < 0) { snprintf(msg, size, "pipe: %s", strerror(errno)); return -1; }
  pid_t pid = fork();
  if (pid < 0) { snprintf(msg, size, "fork: %s", strerror(errno)); close(errp[0]); close(errp[1]); return -1; }
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    child_stdio(null, null, errp[1]);
    char *args[12 + MAX_GLOBAL];
    int n = runc_argv(args);
    args[n++] = "--log"; args[n++] = runc_env.log_path; args[n++] = "--log-format"; args[n++] = "json";
    args[n++] = "start"; args[n++] = (char *)opt.id; args[n] = NULL;
    execvp(opt.runc, args);
    _exit(127);
  }
  close(errp[1]);
  int none = -1;
  int st = wait_runc(pid, runc_env.sigchld_fd, -1, &none);
  int ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  if (!ok) read_error(errp[0], "runc start failed", msg, size);
  close(errp[0]);
  return ok ? 0 : -1;
}
