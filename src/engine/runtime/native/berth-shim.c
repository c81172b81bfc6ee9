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
 *  2. creates pipes for the container's stdout/stderr and runs `runc run -d --pid-file` with them as stdio;
 *  3. reports "ok <pid>\n" or "err <message>\n" on fd 3 (a pipe from berthd) and closes it;
 *  4. copies the pipes into the json-file log ({"log","stream","time"} per line, RFC3339Nano UTC, split at
 *     16 KiB like Docker, rotated by max-size/max-file);
 *  5. serves a unix socket: berthd connects and holds the connection (its close tells berthd the shim is gone,
 *     also after berthd restarts and reconnects). Requests are lines: "kill <signo>\n" -> "ok\n" | "err ...\n".
 *     This socket is the seam for attach/stdin/resize (a TTY via runc --console-socket) later;
 *  6. when the container's init exits and its output is drained: reads the OOM-kill counter, runs
 *     `runc delete`, unmounts the root filesystem, writes the exit file atomically (temp + rename):
 *     {"exitCode":N,"oomKilled":bool,"finishedAt":"RFC3339Nano"} and exits.
 *
 * Usage: berth-shim -i ID -b BUNDLE -r RUNC -R RUNC_ROOT -d STATE_DIR -S SOCKET
 *                   [-l LOG -s MAX_SIZE -n MAX_FILE] [-o OOM_COUNTER_FILE] [-M OVERLAY_DATA -T ROOTFS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE (16 * 1024) /* Docker splits log messages at 16 KiB */
#define MAX_CLIENTS 16
#define DRAIN_GRACE_MS 2000 /* after init exits, how long a stray holder of the pipes may keep them open */

static const char *opt_id, *opt_bundle, *opt_runc, *opt_runc_root, *opt_dir, *opt_sock, *opt_log, *opt_oom;
static const char *opt_mount_data, *opt_rootfs;
static long long opt_max_size = 0; /* 0: no rotation */
static int opt_max_file = 1;

/* ---------- small helpers ---------- */

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "berth-shim: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static void write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return; /* a full disk or closed peer must not take the container down */
    }
    buf += n;
    len -= (size_t)n;
  }
}

static char *path_in_dir(const char *name) {
  char *p;
  if (asprintf(&p, "%s/%s", opt_dir, name) < 0) die("out of memory");
  return p;
}

/* RFC3339Nano in UTC, trailing zeros of the fraction trimmed (Go's time.RFC3339Nano). */
static size_t format_time(char *out, size_t size) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
  if (ts.tv_nsec) {
    char frac[16];
    snprintf(frac, sizeof frac, ".%09ld", ts.tv_nsec);
    size_t l = strlen(frac);
    while (frac[l - 1] == '0') frac[--l] = 0;
    memcpy(out + n, frac, l);
    n += l;
  }
  out[n++] = 'Z';
  out[n] = 0;
  return n;
}

/* Runs runc with the given arguments, stdio to /dev/null, and returns its wait status. */
static int run_runc(char *const extra[]) {
  char *argv[32];
  int i = 0;
  argv[i++] = (char *)opt_runc;
  argv[i++] = "--root";
  argv[i++] = (char *)opt_runc_root;
  for (int j = 0; extra[j] && i < 31; j++) argv[i++] = extra[j];
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
    execvp(opt_runc, argv);
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  return status;
}

/* ---------- reaping: we are a subreaper, so any orphan of the container may land here ---------- */

static pid_t container_pid = -1;
static int container_exited = 0, exit_code = 0;
/* Statuses reaped before we knew the container's pid (it can exit before `runc run -d` returns). */
static struct { pid_t pid; int status; } early[64];
static int n_early = 0;

static int code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

static void note_reaped(pid_t pid, int status) {
  if (container_pid > 0 && pid == container_pid) {
    container_exited = 1;
    exit_code = code_of(status);
  } else if (container_pid <= 0 && n_early < 64) {
    early[n_early].pid = pid;
    early[n_early].status = status;
    n_early++;
  }
}

static void reap_all(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) note_reaped(pid, status);
}

/* ---------- json-file log ---------- */

static int log_fd = -1;
static long long log_size = 0;

static void log_open(int truncate) {
  log_fd = open(opt_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0640);
  struct stat st;
  log_size = (log_fd >= 0 && fstat(log_fd, &st) == 0) ? st.st_size : 0;
}

/* Docker's json-file rotation: log -> log.1 -> ... -> log.(max_file-1); with max_file 1 the file is truncated. */
static void log_rotate(void) {
  if (opt_max_file > 1) {
    char from[4096], to[4096];
    for (int i = opt_max_file - 1; i >= 1; i--) {
      if (i == 1) snprintf(from, sizeof from, "%s", opt_log);
      else snprintf(from, sizeof from, "%s.%d", opt_log, i - 1);
      snprintf(to, sizeof to, "%s.%d", opt_log, i);
      rename(from, to);
    }
    close(log_fd);
    log_open(1);
  } else {
    if (ftruncate(log_fd, 0) == 0) log_size = 0;
  }
}

/* Appends a JSON string body (without quotes), escaped as Go's encoding/json does (HTML-safe, invalid UTF-8 ->
 * U+FFFD). Returns the new length. `out` must have room for 6 bytes per input byte. */
static size_t json_escape(char *out, const unsigned char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    unsigned char c = s[i];
    if (c < 0x80) {
      if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
      else if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
      else if (c == '\r') { out[o++] = '\\'; out[o++] = 'r'; }
      else if (c == '\t') { out[o++] = '\\'; out[o++] = 't'; }
      else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
        memcpy(out + o, "\\u00", 4);
        out[o + 4] = hex[c >> 4];
        out[o + 5] = hex[c & 15];
        o += 6;
      } else out[o++] = (char)c;
      i++;
      continue;
    }
    /* Multi-byte UTF-8: validate (no overlongs, no surrogates, <= U+10FFFF). */
    size_t n = 0;
    unsigned int cp = 0;
    if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; }
    int ok = n > 0 && i + n <= len;
    for (size_t k = 1; ok && k < n; k++) {
      if ((s[i + k] & 0xc0) != 0x80) ok = 0;
      else cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (ok && ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))) ok = 0;
    if (!ok) {
      memcpy(out + o, "\\ufffd", 6);
      o += 6;
      i++;
    } else if (cp == 0x2028 || cp == 0x2029) {
      memcpy(out + o, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
      o += 6;
      i += n;
    } else {
      memcpy(out + o, s + i, n);
      o += n;
      i += n;
    }
  }
  return o;
}

static char line_json[MAX_LINE * 6 + 256];

static void log_message(const char *stream, const unsigned char *msg, size_t len) {
  if (log_fd < 0) return;
  char t[64];
  format_time(t, sizeof t);
  size_t o = 0;
  memcpy(line_json, "{\"log\":\"", 8);
  o = 8;
  o += json_escape(line_json + o, msg, len);
  o += (size_t)sprintf(line_json + o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream, t);
  if (opt_max_size > 0 && log_size > 0 && log_size + (long long)o > opt_max_size) log_rotate();
  write_all(log_fd, line_json, o);
  log_size += (long long)o;
}

struct stream {
  const char *name;
  int fd;
  unsigned char buf[MAX_LINE];
  size_t len;
};

/* Emits every complete line (with its newline) and 16 KiB chunks of an over-long one, keeping the rest. */
static void stream_flush(struct stream *s, int all) {
  size_t start = 0;
  for (size_t i = 0; i < s->len; i++) {
    if (s->buf[i] == '\n') {
      log_message(s->name, s->buf + start, i + 1 - start);
      start = i + 1;
    }
  }
  if (start == 0 && s->len == sizeof s->buf) { /* a full buffer without a newline: a partial message */
    log_message(s->name, s->buf, s->len);
    start = s->len;
  }
  if (all && start < s->len) {
    log_message(s->name, s->buf + start, s->len - start);
    start = s->len;
  }
  memmove(s->buf, s->buf + start, s->len - start);
  s->len -= start;
}

/* Reads what is available; returns 0 at EOF. */
static int stream_read(struct stream *s) {
  ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
  if (n < 0) return errno == EINTR || errno == EAGAIN;
  if (n == 0) return 0;
  s->len += (size_t)n;
  stream_flush(s, 0);
  return 1;
}

/* ---------- control socket ---------- */

static int clients[MAX_CLIENTS];
static int n_clients = 0;

static void client_request(int fd) {
  char req[128];
  ssize_t n = read(fd, req, sizeof req - 1);
  if (n <= 0) {
    close(fd);
    for (int i = 0; i < n_clients; i++)
      if (clients[i] == fd) clients[i] = clients[--n_clients];
    return;
  }
  req[n] = 0;
  int sig;
  if (sscanf(req, "kill %d", &sig) == 1) {
    if (container_exited) write_all(fd, "err container not running\n", 26);
    else if (kill(container_pid, sig) == 0) write_all(fd, "ok\n", 3);
    else {
      char msg[160];
      int l = snprintf(msg, sizeof msg, "err %s\n", strerror(errno));
      write_all(fd, msg, (size_t)l);
    }
  } else {
    write_all(fd, "err unknown request\n", 20);
  }
}

static int listen_socket(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(opt_sock) >= sizeof addr.sun_path) die("socket path too long: %s", opt_sock);
  strcpy(addr.sun_path, opt_sock);
  unlink(opt_sock);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind %s: %s", opt_sock, strerror(errno));
  chmod(opt_sock, 0600);
  if (listen(fd, 8) < 0) die("listen: %s", strerror(errno));
  return fd;
}

/* ---------- exit file ---------- */

static int oom_killed(void) {
  if (!opt_oom) return 0;
  FILE *f = fopen(opt_oom, "r");
  if (!f) return 0;
  char key[64];
  long long v;
  int killed = 0;
  while (fscanf(f, "%63s %lld", key, &v) == 2)
    if (strcmp(key, "oom_kill") == 0 && v > 0) killed = 1;
  fclose(f);
  return killed;
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
  if (opt_rootfs) umount2(opt_rootfs, MNT_DETACH);
}

/* ---------- main ---------- */

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
  int c;
  while ((c = getopt(argc, argv, "i:b:r:R:d:S:l:s:n:o:M:T:")) != -1) {
    switch (c) {
      case 'i': opt_id = optarg; break;
      case 'b': opt_bundle = optarg; break;
      case 'r': opt_runc = optarg; break;
      case 'R': opt_runc_root = optarg; break;
      case 'd': opt_dir = optarg; break;
      case 'S': opt_sock = optarg; break;
      case 'l': opt_log = optarg; break;
      case 's': opt_max_size = atoll(optarg); break;
      case 'n': opt_max_file = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
      case 'o': opt_oom = optarg; break;
      case 'M': opt_mount_data = optarg; break;
      case 'T': opt_rootfs = optarg; break;
      default: die("bad arguments");
    }
  }
  if (!opt_id || !opt_bundle || !opt_runc || !opt_runc_root || !opt_dir || !opt_sock) die("missing arguments");

  /* fd 3 is berthd's status pipe; anything else inherited must not leak into the container. */
  int status_fd = fcntl(3, F_GETFD) >= 0 ? 3 : -1;
  if (status_fd >= 0) fcntl(status_fd, F_SETFD, FD_CLOEXEC);
  setsid(); /* our own session: berthd's terminal or process group going away must not touch us */
  signal(SIGPIPE, SIG_IGN);
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd: %s", strerror(errno));

  char report[8192];
  if (opt_rootfs && opt_mount_data) {
    umount2(opt_rootfs, MNT_DETACH); /* a stale mount from a crashed run */
    if (mount("overlay", opt_rootfs, "overlay", 0, opt_mount_data) < 0) {
      int l = snprintf(report, sizeof report, "err error mounting root filesystem: %s\n", strerror(errno));
      if (status_fd >= 0) write_all(status_fd, report, (size_t)l);
      return 1;
    }
  }

  int lfd = listen_socket();
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
  if (opt_log) log_open(0);

  char *pid_file = path_in_dir("pid"), *runc_log = path_in_dir("runc.log");
  unlink(pid_file);
  pid_t runc = fork();
  if (runc < 0) die("fork: %s", strerror(errno));
  if (runc == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0); /* stdin: issue 5 adds a pipe or a console socket here */
    dup2(out[1], 1);
    dup2(err[1], 2);
    execlp(opt_runc, opt_runc, "--root", opt_runc_root, "--log", runc_log, "--log-format", "json", "run", "--detach",
          "--pid-file", pid_file, "--bundle", opt_bundle, opt_id, (char *)NULL);
    _exit(127);
  }
  close(out[1]);
  close(err[1]);

  int runc_status = 0;
  for (;;) {
    int st;
    pid_t p = waitpid(-1, &st, 0);
    if (p < 0 && errno == EINTR) continue;
    if (p < 0) die("waitpid: %s", strerror(errno));
    if (p == runc) { runc_status = st; break; }
    note_reaped(p, st);
  }

  if (!WIFEXITED(runc_status) || WEXITSTATUS(runc_status) != 0) {
    /* runc prints its error on stderr, which is the container's stderr pipe: it is the message, not output. */
    int fl = fcntl(err[0], F_GETFL);
    fcntl(err[0], F_SETFL, fl | O_NONBLOCK);
    ssize_t n = read(err[0], report + 4, sizeof report - 6);
    if (n < 0) n = 0;
    while (n > 0 && (report[4 + n - 1] == '\n' || report[4 + n - 1] == ' ')) n--;
    for (ssize_t i = 0; i < n; i++)
      if (report[4 + i] == '\n') report[4 + i] = ' ';
    memcpy(report, "err ", 4);
    if (n == 0) n = snprintf(report + 4, sizeof report - 6, "runc run failed with status %d", code_of(runc_status));
    report[4 + n] = '\n';
    if (status_fd >= 0) write_all(status_fd, report, (size_t)n + 5);
    char *del[] = {"delete", "--force", (char *)opt_id, NULL};
    run_runc(del);
    unmount_rootfs();
    unlink(opt_sock);
    return 1;
  }

  FILE *pf = fopen(pid_file, "r");
  int pid = 0;
  if (!pf || fscanf(pf, "%d", &pid) != 1 || pid <= 0) die("no pid in %s", pid_file);
  fclose(pf);
  container_pid = pid;
  for (int i = 0; i < n_early; i++)
    if (early[i].pid == pid) { container_exited = 1; exit_code = code_of(early[i].status); }
  reap_all();

  if (status_fd >= 0) {
    int l = snprintf(report, sizeof report, "ok %d\n", pid);
    write_all(status_fd, report, (size_t)l);
    close(status_fd);
  }
  int null = open("/dev/null", O_RDWR);
  dup2(null, 0);
  dup2(null, 1);
  dup2(null, 2);
  if (null > 2) close(null);

  struct stream so = {.name = "stdout", .fd = out[0]}, se = {.name = "stderr", .fd = err[0]};
  int open_streams = 2;
  long long exited_at = container_exited ? now_ms() : 0;
  while (open_streams > 0) {
    struct pollfd fds[4 + MAX_CLIENTS];
    int nf = 0;
    fds[nf++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    fds[nf++] = (struct pollfd){.fd = lfd, .events = POLLIN};
    fds[nf++] = (struct pollfd){.fd = so.fd, .events = POLLIN};
    fds[nf++] = (struct pollfd){.fd = se.fd, .events = POLLIN};
    for (int i = 0; i < n_clients; i++) fds[nf++] = (struct pollfd){.fd = clients[i], .events = POLLIN};
    int timeout = -1;
    if (container_exited) {
      long long left = exited_at + DRAIN_GRACE_MS - now_ms();
      if (left <= 0) break;
      timeout = (int)left;
    }
    int r = poll(fds, (nfds_t)nf, timeout);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("poll: %s", strerror(errno));
    if (fds[0].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {}
      reap_all();
      if (container_exited && !exited_at) exited_at = now_ms();
    }
    if (fds[1].revents & POLLIN) {
      int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
      if (cfd >= 0 && n_clients < MAX_CLIENTS) clients[n_clients++] = cfd;
      else if (cfd >= 0) close(cfd);
    }
    for (int k = 2; k < 4; k++) {
      struct stream *s = k == 2 ? &so : &se;
      if (s->fd >= 0 && fds[k].revents && !stream_read(s)) {
        stream_flush(s, 1);
        close(s->fd);
        s->fd = -1; /* poll ignores negative fds */
        open_streams--;
      }
    }
    for (int i = 4; i < nf; i++)
      if (fds[i].revents) client_request(fds[i].fd);
  }
  stream_flush(&so, 1);
  stream_flush(&se, 1);
  /* Output is drained; if init has not been reaped yet (streams closed first), wait for it. */
  while (!container_exited) {
    int st;
    pid_t p = waitpid(-1, &st, 0);
    if (p < 0 && errno == EINTR) continue;
    if (p < 0) break;
    note_reaped(p, st);
  }

  int oom = oom_killed();
  char *del[] = {"delete", "--force", (char *)opt_id, NULL};
  run_runc(del);
  reap_all();
  unmount_rootfs();
  write_exit_file(exit_code, oom);
  unlink(opt_sock);
  return 0;
}
