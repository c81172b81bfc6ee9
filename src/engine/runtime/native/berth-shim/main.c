/*
 * berth-shim: berthd's per-container helper. One shim runs per running container.
 *
 * Why a separate process, and why C:
 *  - It must outlive berthd (crash, kill -9, upgrade): containers keep running while the daemon is down
 *    ("live-restore"), so the process that owns the container's stdio and reaps it cannot be berthd.
 *  - It is the container's child subreaper (prctl PR_SET_CHILD_SUBREAPER): when `runc run -d` returns, the
 *    container's init is re-parented to us, so we wait() for it and record its real exit status, and the pid
 *    cannot be reused while we have not reaped it (so `kill` through us never hits a stranger).
 *  - It keeps writing Docker's json-file log while berthd is down.
 *  - Cost: a Node helper would cost ~40 MB per container; this one is a few hundred kB (goal <= 3 MB PSS).
 *    conmon (podman's) writes k8s-file logs, not Docker's json-file; containerd-shim needs containerd.
 *
 * What it does, in order:
 *  1. (optional) mounts the container's overlay root filesystem (-M data -T target), unmounting a stale one;
 *  2. runs `runc run -d --pid-file` with pipes as the container's stdio (stdin a pipe with -I, else /dev/null), or
 *     with -t a TTY: runc creates the pty and sends us its master over a console socket (--console-socket);
 *     with -X `runc create`, then what fast exec needs is read from the waiting init, then `runc start`;
 *     with -G FD too, `runc start` waits for one byte on FD from berthd (the container's network, set up while runc
 *     created the container: its process runs only once eth0 is there); FD closed without one: no start;
 *  3. reports "ok <pid>\n" or "err <message>\n" on fd 3 (a pipe from berthd), and keeps it open for step 7;
 *  4. copies the container's output into the json-file log ({"log","stream","time"} per line, RFC3339Nano UTC,
 *     split at 16 KiB like Docker, rotated by max-size/max-file) and to attached clients;
 *  5. serves a unix socket (-S): one request a line (kill, resize, attach, exec, go), then Docker's stdcopy
 *     frames both ways, with backpressure (clients.h has the protocol);
 *  6. exec processes: with -X and a fast-exec file we enter the container ourselves (enter.c: the same steps as
 *     runc, ~2 ms instead of ~35); otherwise `runc exec --detach` (TTY over the console socket as above). Either
 *     way the process ends up re-parented to us (the subreaper): we reap it and report its exit code;
 *  7. when the container's init exits and its output is drained: reads the OOM-kill counter, says "exited\n" on
 *     fd 3 (berthd releases the container's network meanwhile: it needs no more than the processes gone), runs
 *     `runc delete`, unmounts the root filesystem, writes the exit file atomically (temp + rename):
 *     {"exitCode":N,"oomKilled":bool,"finishedAt":"RFC3339Nano"} and exits.
 *
 * Why a TTY through runc's console socket rather than a pty library in berthd: the terminal must outlive berthd
 * (live-restore) like the rest of the container's stdio, and the shim already owns that stdio.
 *
 * Usage: berth-shim -i ID -b BUNDLE -r RUNC -R RUNC_ROOT [-g RUNTIME_FLAG]... -d STATE_DIR -S SOCKET
 *                   [-t] [-I [-O]] [-W] [-X [-G FD]] [-l LOG -s MAX_SIZE -n MAX_FILE] [-o OOM_COUNTER_FILE]
 *                   [-M OVERLAY_DATA -T ROOTFS [-F FUSE_OVERLAYFS]]
 *
 * The parts: main.c (this: the container's life, from start to exit file), shim.h (options, small helpers),
 * log.c (the json-file log), procs.c (the process table), clients.c (the socket: requests, frames, output to
 * clients), reaper.c (whose is a reaped status), runc.c (running runc), enter*.c (fast exec without runc).
 */
#include "shim.h"
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include "clients.h"
#include "enter.h"
#include "log.h"
#include "procs.h"
#include "reaper.h"
#include "runc.h"

#define DRAIN_GRACE_MS 2000 /* after init exits, how long a stray holder of the pipes may keep them open */

/* oom_kill in a memory.events / memory.oom_control file; -1 when it cannot be read. */
static long long oom_kill_count(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char key[64];
  long long v, count = 0;
  while (fscanf(f, "%63s %lld", key, &v) == 2)
    if (strcmp(key, "oom_kill") == 0) count = v;
  fclose(f);
  return count;
}

/* The memory.events of the cgroup above the container's (v2 only: its counts include its children's). */
static char *parent_events(void) {
  if (!opt.oom) return NULL;
  const char *base = strrchr(opt.oom, '/');
  if (!base || strcmp(base, "/memory.events") != 0) return NULL;
  char *dir = strndup(opt.oom, (size_t)(base - opt.oom));
  char *up = dir ? strrchr(dir, '/') : NULL;
  char *path = NULL;
  if (up) { *up = 0; if (asprintf(&path, "%s/memory.events", dir) < 0) path = NULL; }
  free(dir);
  return path;
}

/* Whether the container was OOM-killed. Under the systemd cgroup driver systemd removes the container's scope as
 * soon as it is empty, often before this read: then a SIGKILLed init with the parent slice's oom_kill count risen
 * since the start says it (another OOM kill under the same slice in that time would be taken for it). */
static int oom_killed(long long parent_before, const char *parent) {
  if (!opt.oom) return 0;
  long long own = oom_kill_count(opt.oom);
  if (own >= 0) return own > 0;
  if (!parent || parent_before < 0 || container.exit_code != 137) return 0;
  return oom_kill_count(parent) > parent_before;
}

static void write_exit_file(int code, int oom) {
  char t[64], body[256];
  format_time(t, sizeof t);
  int l = snprintf(body, sizeof body, "{\"exitCode\":%d,\"oomKilled\":%s,\"finishedAt\":\"%s\"}\n", code,
                   oom ? "true" : "false", t);
  char *tmp = path_in_dir("exit.tmp"), *final = path_in_dir("exit");
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    write_all(fd, body, (size_t)l);
    close(fd);
    rename(tmp, final);
  }
  free(tmp);
  free(final);
}

static void unmount_rootfs(void) {
  if (opt.rootfs) umount2(opt.rootfs, MNT_DETACH);
}

/* The root overlay: mount(2), or fuse-overlayfs with the same data (it returns once mounted; its daemon stays until
 * the unmount). 0, or -1 with the reason in `why`. */
static int mount_rootfs(char *why, size_t n) {
  umount2(opt.rootfs, MNT_DETACH); /* a stale mount from a crashed run */
  if (!opt.fuse) {
    if (mount("overlay", opt.rootfs, "overlay", 0, opt.mount_data) == 0) return 0;
    snprintf(why, n, "%s", strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execl(opt.fuse, "fuse-overlayfs", "-o", opt.mount_data, opt.rootfs, (char *)NULL);
    _exit(127);
  }
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) < 0) {
    snprintf(why, n, "fuse-overlayfs: %s", strerror(errno));
    return -1;
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  snprintf(why, n, "fuse-overlayfs %s %d", WIFEXITED(st) ? "exited with" : "killed by signal",
           WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
  return -1;
}

/* -G: berthd's word that the container may start (one byte), or its end of the pipe closed: it may not. */
static int gate_opened(void) {
  if (!opt.gate) return 1;
  char byte;
  ssize_t n;
  while ((n = read(opt.gate, &byte, 1)) < 0 && errno == EINTR) {}
  close(opt.gate);
  opt.gate = 0;
  return n == 1;
}

int main(int argc, char **argv) {
  int c;
  while ((c = getopt(argc, argv, "i:b:r:R:g:d:S:l:s:n:o:M:T:F:G:tIOWX")) != -1) {
    switch (c) {
      case 'i': opt.id = optarg; break;
      case 'b': opt.bundle = optarg; break;
      case 'r': opt.runc = optarg; break;
      case 'R': opt.runc_root = optarg; break;
      case 'g':
        if (opt.nglobal == MAX_GLOBAL) die("too many runtime flags");
        opt.global[opt.nglobal++] = optarg;
        break;
      case 'd': opt.dir = optarg; break;
      case 'S': opt.sock = optarg; break;
      case 'l': opt.log = optarg; break;
      case 's': opt.max_size = atoll(optarg); break;
      case 'n': opt.max_file = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
      case 'o': opt.oom = optarg; break;
      case 'M': opt.mount_data = optarg; break;
      case 'T': opt.rootfs = optarg; break;
      case 'F': opt.fuse = optarg; break;
      case 'G': opt.gate = atoi(optarg) > 2 ? atoi(optarg) : 0; break;
      case 't': opt.tty = 1; break;
      case 'I': opt.stdin = 1; break;
      case 'O': opt.stdin_once = 1; break;
      case 'W': opt.hold = 1; break;
      case 'X': opt.fast = 1; break;
      default: die("bad arguments");
    }
  }
  if (!opt.id || !opt.bundle || !opt.runc || !opt.runc_root || !opt.dir || !opt.sock) die("missing arguments");
  for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;

  /* fd 3 is berthd's status pipe; anything else inherited must not leak into the container. */
  int status_fd = fcntl(3, F_GETFD) >= 0 ? 3 : -1;
  if (status_fd >= 0) fcntl(status_fd, F_SETFD, FD_CLOEXEC);
  if (opt.gate && fcntl(opt.gate, F_SETFD, FD_CLOEXEC) < 0) opt.gate = 0;
  setsid(); /* our own session: berthd's terminal or process group going away must not touch us */
  signal(SIGPIPE, SIG_IGN);
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd: %s", strerror(errno));
  runc_env.sigchld_fd = sfd;

  char report[8192];
  if (opt.rootfs && opt.mount_data) {
    char why[512];
    if (mount_rootfs(why, sizeof why) < 0) {
      int l = snprintf(report, sizeof report, "err error mounting root filesystem: %s\n", why);
      if (status_fd >= 0) write_all(status_fd, report, (size_t)l);
      return 1;
    }
  }

  int lfd = listen_socket();
  int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, clfd = -1;
  if (pipe2(err, O_CLOEXEC) < 0 || (!opt.tty && pipe2(out, O_CLOEXEC) < 0) || (!opt.tty && opt.stdin && pipe2(in, O_CLOEXEC) < 0))
    die("pipe: %s", strerror(errno));
  char *cpath = NULL;
  if (opt.tty) {
    cpath = console_path();
    clfd = console_listen(cpath);
    if (clfd < 0) die("console socket %s: %s", cpath, strerror(errno));
  }
  if (opt.log) log_open(opt.log, opt.max_size, opt.max_file);

  char *pid_file = path_in_dir("pid");
  runc_env.log_path = path_in_dir("runc.log");
  unlink(pid_file);
  /* With fast exec: `runc create`, read what exec needs from the waiting init (fast_prepare), start it (as
   * `runc start` does: start_via_fifo). Without: one `runc run --detach`. */
  pid_t runc = fork();
  if (runc < 0) die("fork: %s", strerror(errno));
  if (runc == 0) {
    int null = open("/dev/null", O_RDWR);
    char *args[20 + MAX_GLOBAL];
    int n = runc_argv(args);
    args[n++] = "--log"; args[n++] = runc_env.log_path; args[n++] = "--log-format"; args[n++] = "json";
    if (opt.fast) args[n++] = "create";
    else { args[n++] = "run"; args[n++] = "--detach"; }
    args[n++] = "--pid-file"; args[n++] = pid_file;
    if (opt.tty) { args[n++] = "--console-socket"; args[n++] = cpath; }
    args[n++] = "--bundle"; args[n++] = (char *)opt.bundle; args[n++] = (char *)opt.id; args[n] = NULL;
    if (opt.tty) child_stdio(null, null, err[1]);
    else child_stdio(opt.stdin ? in[0] : null, out[1], err[1]);
    execvp(opt.runc, args);
    _exit(127);
  }
  close_fd(&out[1]);
  close_fd(&err[1]);
  close_fd(&in[0]);

  int master = -1;
  int runc_status = wait_runc(runc, sfd, clfd, &master);
  if (clfd >= 0) { close(clfd); unlink(cpath); }

  char msg[8000];
  int failed = runc_status == -1 || !WIFEXITED(runc_status) || WEXITSTATUS(runc_status) != 0 || (opt.tty && master < 0);
  if (failed) {
    /* runc prints its error on stderr, which is the container's stderr pipe: it is the message, not output. */
    char fallback[64];
    snprintf(fallback, sizeof fallback, "runc run failed with status %d", runc_status == -1 ? -1 : code_of(runc_status));
    read_error(err[0], fallback, msg, sizeof msg);
  } else if (opt.fast) {
    int created = read_pid_file(pid_file);
    if (created > 0) fast_prepare(created);
    if (!gate_opened()) {
      failed = 1;
      snprintf(msg, sizeof msg, "start cancelled by berthd");
    } else {
      failed = start_created(created, msg, sizeof msg) < 0;
    }
  }
  if (failed) {
    /* Cleaned up before the word: when berthd answers, nothing of the container is left (as dockerd). */
    char *del[] = {"delete", "--force", (char *)opt.id, NULL};
    run_runc(del);
    unmount_rootfs();
    unlink(opt.sock);
    int l = snprintf(report, sizeof report, "err %s\n", msg);
    if (status_fd >= 0) write_all(status_fd, report, (size_t)l);
    return 1;
  }

  int pid = read_pid_file(pid_file);
  if (pid <= 0) die("no pid in %s", pid_file);
  container_started(pid);
  reap_all();

  init_proc = proc_new("init");
  init_proc->is_init = 1;
  init_proc->pid = pid;
  init_proc->tty = opt.tty;
  init_proc->stdin_once = opt.stdin_once;
  if (opt.tty) {
    close_fd(&err[0]);
    init_proc->master = master;
    init_proc->out_fd = master;
    set_nonblock(master);
    if (opt.stdin) {
      init_proc->in_fd = dup(master);
      fcntl(init_proc->in_fd, F_SETFD, FD_CLOEXEC);
      set_nonblock(init_proc->in_fd);
    }
  } else {
    init_proc->out_fd = out[0];
    init_proc->err_fd = err[0];
    init_proc->in_fd = in[1];
    if (in[1] >= 0) set_nonblock(in[1]);
  }

  if (status_fd >= 0) {
    int l = snprintf(report, sizeof report, "ok %d\n", pid);
    write_all(status_fd, report, (size_t)l);
  }
  int null = open("/dev/null", O_RDWR);
  dup2(null, 0);
  dup2(null, 1);
  dup2(null, 2);
  if (null > 2) close(null);

  long long exited_at = container.exited ? now_ms() : 0;
  if (opt.hold) hold_until = now_ms() + HOLD_MAX_MS;
  char *oom_parent = parent_events();
  long long oom_parent_before = oom_parent ? oom_kill_count(oom_parent) : -1;
  enum { K_SIG, K_LISTEN, K_OUT, K_ERR, K_IN, K_CLIENT, K_START };
  struct pollfd fds[2 + 4 * MAX_PROCS + MAX_CLIENTS];
  struct { int kind, idx; } what[2 + 4 * MAX_PROCS + MAX_CLIENTS];
  while (init_proc->out_fd >= 0 || init_proc->err_fd >= 0) {
    reap_all(); /* cheap, and nothing reaped elsewhere can be missed */
    if (container.exited && !exited_at) exited_at = now_ms();
    int nf = 0;
    fds[nf] = (struct pollfd){.fd = sfd, .events = POLLIN}; what[nf++].kind = K_SIG;
    fds[nf] = (struct pollfd){.fd = lfd, .events = POLLIN}; what[nf++].kind = K_LISTEN;
    long long now = now_ms();
    int timeout = -1;
    if (container.exited) {
      long long left = exited_at + DRAIN_GRACE_MS - now;
      if (left <= 0) break;
      timeout = (int)left;
    }
    for (int i = 0; i < MAX_PROCS; i++) {
      struct proc *p = &procs[i];
      if (!p->used) continue;
      if (!p->is_init && p->exited) {
        long long left = p->exited_at + DRAIN_GRACE_MS - now;
        if ((p->out_fd < 0 && p->err_fd < 0) || left <= 0) { proc_end(p); continue; }
        if (timeout < 0 || left < timeout) timeout = (int)left;
      }
      int throttled = proc_throttled(p) || (p->is_init && hold_until > now);
      if (p->is_init && hold_until > now && (timeout < 0 || hold_until - now < timeout)) timeout = (int)(hold_until - now);
      if (p->out_fd >= 0 && !throttled) { fds[nf] = (struct pollfd){.fd = p->out_fd, .events = POLLIN}; what[nf].kind = K_OUT; what[nf++].idx = i; }
      if (p->err_fd >= 0 && !throttled) { fds[nf] = (struct pollfd){.fd = p->err_fd, .events = POLLIN}; what[nf].kind = K_ERR; what[nf++].idx = i; }
      if (p->in_fd >= 0 && p->inlen > 0) { fds[nf] = (struct pollfd){.fd = p->in_fd, .events = POLLOUT}; what[nf].kind = K_IN; what[nf++].idx = i; }
    }
    for (int i = 0; i < MAX_PROCS; i++) {
      int st = fast_start_pending(i, now, &timeout);
      if (st >= 0) { fds[nf] = (struct pollfd){.fd = st, .events = POLLIN}; what[nf].kind = K_START; what[nf++].idx = i; }
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
      struct client *cl = &clients[i];
      if (cl->fd < 0) continue;
      if (cl->closing == 2 || (cl->closing == 3 && cl->linger_until <= now)) { client_drop(cl); continue; }
      if (cl->closing == 1 && cl->olen == 0) client_linger(cl);
      short ev = 0;
      if (cl->closing == 3) {
        ev |= POLLIN;
        if (timeout < 0 || cl->linger_until - now < timeout) timeout = (int)(cl->linger_until - now);
      } else if (!cl->closing && cl->ilen < IBUF_SIZE) ev |= POLLIN;
      if (cl->olen > 0) ev |= POLLOUT;
      fds[nf] = (struct pollfd){.fd = cl->fd, .events = ev}; what[nf].kind = K_CLIENT; what[nf++].idx = i;
    }
    int r = poll(fds, (nfds_t)nf, timeout);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("poll: %s", strerror(errno));
    for (int k = 0; k < nf; k++) {
      if (!fds[k].revents) continue;
      int i = what[k].idx;
      switch (what[k].kind) {
        case K_SIG: {
          struct signalfd_siginfo si;
          while (read(sfd, &si, sizeof si) == sizeof si) {}
          reap_all();
          if (container.exited && !exited_at) exited_at = now_ms();
          break;
        }
        case K_LISTEN: client_accept(lfd); break;
        case K_OUT: if (procs[i].used && procs[i].out_fd == fds[k].fd) proc_read(&procs[i], &procs[i].out_fd, F_STDOUT); break;
        case K_ERR: if (procs[i].used && procs[i].err_fd == fds[k].fd) proc_read(&procs[i], &procs[i].err_fd, F_STDERR); break;
        case K_IN:
          if (procs[i].used) {
            if (fds[k].revents & (POLLERR | POLLHUP)) { procs[i].inlen = 0; close_fd(&procs[i].in_fd); }
            else proc_write_stdin(&procs[i]);
          }
          break;
        case K_START: fast_start_readable(i, fds[k].fd); break;
        case K_CLIENT:
          if (clients[i].fd != fds[k].fd) break;
          if (fds[k].revents & POLLOUT) client_flush(&clients[i]);
          if (clients[i].fd >= 0 && (fds[k].revents & (POLLIN | POLLHUP | POLLERR))) client_read(i);
          break;
      }
    }
    /* Frames held back while a process's stdin buffer was full. */
    for (int i = 0; i < MAX_CLIENTS; i++)
      if (clients[i].fd >= 0 && clients[i].mode != C_LINE && clients[i].ilen > 0) client_parse(i);
  }
  line_flush(&log_out, 1);
  line_flush(&log_err, 1);
  /* Output is drained; if init has not been reaped yet (streams closed first), wait for it. */
  while (!container.exited) {
    int st;
    pid_t p = waitpid(-1, &st, 0);
    if (p < 0 && errno == EINTR) continue;
    if (p < 0) break;
    note_reaped(p, st);
  }

  fast_starts_end("container not running");
  int oom = oom_killed(oom_parent_before, oom_parent);
  free(oom_parent);
  /* berthd learns now that the init is gone and releases the container's network while runc deletes the container
   * (a Go process start, ~10-30 ms), instead of after the exit file. It may be gone (EPIPE; SIGPIPE is ignored). */
  if (status_fd >= 0) {
    write_all(status_fd, "exited\n", 7);
    close(status_fd);
  }
  char *del[] = {"delete", "--force", (char *)opt.id, NULL};
  run_runc(del);
  reap_all();
  /* The kernel ended every exec process with the container: report their exits, then send what is pending. */
  for (int i = 0; i < MAX_PROCS; i++) {
    struct proc *p = &procs[i];
    if (!p->used || p->is_init) continue;
    if (!p->exited) { p->code = 137; }
    proc_end(p);
  }
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *cl = &clients[i];
    if (cl->fd < 0) continue;
    fcntl(cl->fd, F_SETFL, fcntl(cl->fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {.tv_sec = 2};
    setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (cl->olen) write_all(cl->fd, (const char *)cl->obuf, cl->olen);
  }
  unmount_rootfs();
  write_exit_file(container.exit_code, oom);
  unlink(opt.sock);
  return 0;
}
