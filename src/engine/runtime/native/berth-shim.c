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
 *  3. reports "ok <pid>\n" or "err <message>\n" on fd 3 (a pipe from berthd) and closes it;
 *  4. copies the container's output into the json-file log ({"log","stream","time"} per line, RFC3339Nano UTC,
 *     split at 16 KiB like Docker, rotated by max-size/max-file) and to attached clients;
 *  5. serves a unix socket (-S). berthd holds one connection open: its close tells berthd the shim is gone, also
 *     after berthd restarts and reconnects. Requests are one line each:
 *       "kill <signo>"                      -> "ok" | "err ..."
 *       "resize <init|exec-id> <rows> <cols>" -> "ok" | "err ..."   (TIOCSWINSZ on the pty master)
 *       "attach <stdin> <stdout> <stderr>"  -> "ok", then frames both ways (the container's init)
 *       "exec <id> <tty> <stdin> <process.json> [<fast-exec file>]" -> "ok <pid>" | "err <runc's message>", then
 *                                           frames both ways
 *       "go"                                -> "ok" (with -W: attach clients are connected, start reading output)
 *     Frames use Docker's stdcopy header (type, 0,0,0, big-endian length): to us 0 = stdin data, 4 = stdin EOF;
 *     from us 1 = stdout, 2 = stderr, 3 = exit code (decimal text, exec only, last frame);
 *  6. exec processes: with -X and a fast-exec file we enter the container ourselves (enter.h: the same steps as
 *     runc, ~2 ms instead of ~35); otherwise `runc exec --detach` (TTY over the console socket as above). Either
 *     way the process ends up re-parented to us (the subreaper): we reap it and report its exit code;
 *  7. when the container's init exits and its output is drained: reads the OOM-kill counter, runs
 *     `runc delete`, unmounts the root filesystem, writes the exit file atomically (temp + rename):
 *     {"exitCode":N,"oomKilled":bool,"finishedAt":"RFC3339Nano"} and exits.
 * Output to a client is buffered without blocking; while a client has more than 1 MiB unsent we stop reading the
 * process (backpressure, as Docker's attach blocks the writer). Stdin likewise is read from a client only as
 * fast as the process takes it.
 *
 * Why a TTY through runc's console socket rather than a pty library in berthd: the terminal must outlive berthd
 * (live-restore) like the rest of the container's stdio, and the shim already owns that stdio.
 *
 * Usage: berth-shim -i ID -b BUNDLE -r RUNC -R RUNC_ROOT -d STATE_DIR -S SOCKET [-t] [-I [-O]] [-W] [-X]
 *                   [-l LOG -s MAX_SIZE -n MAX_FILE] [-o OOM_COUNTER_FILE] [-M OVERLAY_DATA -T ROOTFS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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
#define DRAIN_GRACE_MS 2000 /* after init exits, how long a stray holder of the pipes may keep them open */

static const char *opt_id, *opt_bundle, *opt_runc, *opt_runc_root, *opt_dir, *opt_sock, *opt_log, *opt_oom;
/* -g: the runtime's global flags after --root (daemon.json runtimeArgs, --systemd-cgroup), the same on every call. */
#define MAX_GLOBAL 8
static char *opt_global[MAX_GLOBAL];
static int opt_nglobal;

/* Starts a runtime argv: the binary, --root, the global flags. Returns the next free index. */
static int runc_argv(char **argv) {
  int i = 0;
  argv[i++] = (char *)opt_runc;
  argv[i++] = "--root";
  argv[i++] = (char *)opt_runc_root;
  for (int j = 0; j < opt_nglobal; j++) argv[i++] = opt_global[j];
  return i;
}
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
    execvp(opt_runc, argv);
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  return status;
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

/* Appends the bytes of one output chunk to a stream's line buffer and writes every complete line to the log. */
struct linebuf {
  const char *name;
  unsigned char buf[MAX_LINE];
  size_t len;
};

/* Emits every complete line (with its newline) and 16 KiB chunks of an over-long one, keeping the rest. */
static void line_flush(struct linebuf *s, int all) {
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

static void line_add(struct linebuf *s, const unsigned char *data, size_t len) {
  if (log_fd < 0) return;
  while (len > 0) {
    size_t room = sizeof s->buf - s->len, n = len < room ? len : room;
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    data += n;
    len -= n;
    line_flush(s, 0);
  }
}

/* ---------- processes (the container's init and its exec processes) and clients ---------- */

#define MAX_PROCS 1024   /* exec processes at once (Docker has no limit; 200 parallel execs are a test) */
#define MAX_CLIENTS 1024
#define IBUF_SIZE (FRAME_MAX + 8 + 256)
#define FRAME_MAX (32 * 1024)        /* largest frame a client may send */
#define CLIENT_HIGH_WATER (1 << 20) /* pending output per client before we stop reading the process (backpressure) */
#define STDIN_CAP (FRAME_MAX + 8)

/* Frame types on attach/exec connections: Docker's stdcopy header (type, 3 zero bytes, big-endian length). */
enum { F_STDIN = 0, F_STDOUT = 1, F_STDERR = 2, F_EXIT = 3, F_STDIN_EOF = 4 };

struct proc {
  int used;
  char id[80];
  int is_init, tty, stdin_once;
  pid_t pid;
  int exited, code;
  long long exited_at;
  int out_fd, err_fd; /* read ends; with a TTY out_fd is the pty master and err_fd is -1 */
  int in_fd;          /* write end of stdin (a pipe, or a dup of the pty master); -1 when none or closed */
  int master;         /* pty master for resize; -1 without a TTY */
  size_t inlen;
  int in_eof;  /* close in_fd once inbuf is written */
  int session; /* exec: index of the client that started it, -1 once it left */
  unsigned char *inbuf; /* STDIN_CAP bytes, allocated with the first stdin frame */
};

enum { C_LINE = 0, C_ATTACH = 1, C_EXEC = 2 };
struct client {
  int fd; /* -1: free slot */
  int mode, proc, want_in, want_out, want_err, closing;
  unsigned char *obuf;
  size_t olen, ocap;
  size_t ilen;
  unsigned char *ibuf; /* IBUF_SIZE bytes while connected */
};

static struct proc procs[MAX_PROCS];
static struct client clients[MAX_CLIENTS];
static struct linebuf log_out = {.name = "stdout"}, log_err = {.name = "stderr"};

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static struct proc *proc_new(const char *id) {
  for (int i = 0; i < MAX_PROCS; i++) {
    if (procs[i].used) continue;
    struct proc *p = &procs[i];
    memset(p, 0, sizeof *p);
    p->used = 1;
    snprintf(p->id, sizeof p->id, "%s", id);
    p->out_fd = p->err_fd = p->in_fd = p->master = -1;
    p->session = -1;
    return p;
  }
  return NULL;
}

static struct proc *proc_find(const char *id) {
  for (int i = 0; i < MAX_PROCS; i++)
    if (procs[i].used && strcmp(procs[i].id, id) == 0) return &procs[i];
  return NULL;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static int code_of(int status);
static int container_exited;
static int claim_early(pid_t pid);
static long long now_ms(void);
static void note_reaped(pid_t pid, int status);

/* Queues bytes for a client; writes at once when nothing is pending (keeps latency low for TTYs). */
static void client_queue(struct client *c, const void *data, size_t len) {
  if (c->fd < 0 || len == 0) return;
  if (c->olen == 0) {
    ssize_t n = write(c->fd, data, len);
    if (n > 0) {
      data = (const char *)data + n;
      len -= (size_t)n;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      c->closing = 2; /* broken: drop it */
      return;
    }
    if (len == 0) return;
  }
  if (c->olen + len > c->ocap) {
    size_t cap = c->ocap ? c->ocap : 16384;
    while (cap < c->olen + len) cap *= 2;
    unsigned char *nb = realloc(c->obuf, cap);
    if (!nb) { c->closing = 2; return; }
    c->obuf = nb;
    c->ocap = cap;
  }
  memcpy(c->obuf + c->olen, data, len);
  c->olen += len;
}

static void client_frame(struct client *c, int type, const void *data, size_t len) {
  while (len > 0 || type == F_EXIT) {
    size_t n = len > 0x7fffffff ? 0x7fffffff : len;
    unsigned char h[8] = {(unsigned char)type, 0, 0, 0, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
    client_queue(c, h, 8);
    client_queue(c, data, n);
    data = (const char *)data + n;
    len -= n;
    if (type == F_EXIT) break;
  }
}

static void fast_start_client_gone(int ci);

static void client_drop(struct client *c) {
  int idx = (int)(c - clients);
  fast_start_client_gone(idx);
  for (int i = 0; i < MAX_PROCS; i++)
    if (procs[i].used && procs[i].session == idx) procs[i].session = -1;
  close_fd(&c->fd);
  free(c->obuf);
  free(c->ibuf);
  c->obuf = c->ibuf = NULL;
  c->olen = c->ocap = c->ilen = 0;
  c->closing = 0;
}

/* A process's output chunk: to the log (init) and to the clients that follow it. */
static void proc_output(struct proc *p, int type, const unsigned char *data, size_t len) {
  if (p->is_init) line_add(type == F_STDERR ? &log_err : &log_out, data, len);
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &clients[i];
    if (c->fd < 0 || c->closing) continue;
    if (p->is_init ? (c->mode == C_ATTACH && ((type == F_STDOUT && c->want_out) || (type == F_STDERR && c->want_err)))
                   : (p->session == i))
      client_frame(c, type, data, len);
  }
}

/* Whether a client following this process has too much unsent output (then we stop reading the process). */
static int proc_throttled(struct proc *p) {
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &clients[i];
    if (c->fd < 0 || c->olen < CLIENT_HIGH_WATER) continue;
    if ((p->is_init && c->mode == C_ATTACH) || p->session == i) return 1;
  }
  return 0;
}

static unsigned char scratch[65536];

/* Reads one chunk from a process's output fd; closes it at EOF (a pty master reads EIO once the slave is gone). */
static void proc_read(struct proc *p, int *fd, int type) {
  ssize_t n = read(*fd, scratch, sizeof scratch);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    if (p->is_init) line_flush(type == F_STDERR ? &log_err : &log_out, 1);
    if (*fd == p->master) p->master = -1;
    close_fd(fd);
    return;
  }
  proc_output(p, type, scratch, (size_t)n);
}

static void proc_write_stdin(struct proc *p) {
  while (p->inlen > 0 && p->in_fd >= 0) {
    ssize_t n = write(p->in_fd, p->inbuf, p->inlen);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) { /* the process closed its stdin: what is left cannot be delivered */
      p->inlen = 0;
      close_fd(&p->in_fd);
      break;
    }
    memmove(p->inbuf, p->inbuf + n, p->inlen - (size_t)n);
    p->inlen -= (size_t)n;
  }
  if (p->inlen == 0 && p->in_eof && !p->tty) close_fd(&p->in_fd);
}

/* Ends a finished exec process: its exit code goes to its client, which is closed once its output is sent. */
static void proc_end(struct proc *p) {
  if (p->session >= 0) {
    struct client *c = &clients[p->session];
    char code[16];
    int l = snprintf(code, sizeof code, "%d", p->code);
    client_frame(c, F_EXIT, code, (size_t)l);
    c->closing = 1;
  }
  close_fd(&p->out_fd);
  close_fd(&p->err_fd);
  close_fd(&p->in_fd);
  close_fd(&p->master);
  free(p->inbuf);
  p->inbuf = NULL;
  p->used = 0;
}

/* ---------- runc helpers for TTYs: the console socket (runc sends the pty master over it) ---------- */

static int console_listen(const char *path) {
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

/* Waits for `runc` (our child) to exit, receiving the pty master on `lfd` meanwhile when it is >= 0. Statuses of
 * other children reaped meanwhile are recorded (note_reaped). Returns runc's wait status. */
static int wait_runc(pid_t runc, int sfd, int lfd, int *master) {
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

/* Reads runc's error message from a pipe (runc prints it on stderr) into `out` as one line. */
static void read_error(int fd, const char *fallback, char *out, size_t size) {
  set_nonblock(fd);
  ssize_t n = read(fd, out, size - 1);
  if (n < 0) n = 0;
  while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ')) n--;
  for (ssize_t i = 0; i < n; i++)
    if (out[i] == '\n') out[i] = ' ';
  out[n] = 0;
  if (n == 0) snprintf(out, size, "%s", fallback);
}

static int read_pid_file(const char *file) {
  FILE *pf = fopen(file, "r");
  int pid = 0;
  if (pf) {
    if (fscanf(pf, "%d", &pid) != 1) pid = 0;
    fclose(pf);
  }
  return pid;
}

static void child_stdio(int in, int out, int err) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  dup2(in, 0);
  dup2(out, 1);
  dup2(err, 2);
}

/* ---------- exec: `runc exec --detach`; the process is re-parented to us (subreaper), so we reap it ---------- */

static int sfd_global = -1;
static char *runc_log_path;
static char *console_path(void) {
  char *p;
  if (asprintf(&p, "%s.c", opt_sock) < 0) die("out of memory");
  return p;
}

/* Records a started exec process: its pid, its client, its stdio (the pty master, or the pipes' ends), and its
 * exit when it has already been reaped (`status`, or what the reaper kept for it; -1: none). */
static void proc_started(struct proc *p, int ci, pid_t pid, int status, int tty, int with_stdin, int master, int out_fd, int err_fd, int in_fd) {
  p->pid = pid;
  p->tty = tty;
  p->session = ci;
  if (status == -1) status = claim_early(pid);
  if (status != -1) {
    p->exited = 1;
    p->code = code_of(status);
    p->exited_at = now_ms();
  }
  if (tty) {
    p->master = master;
    p->out_fd = master;
    p->in_fd = with_stdin ? dup(master) : -1;
    if (p->in_fd >= 0) { fcntl(p->in_fd, F_SETFD, FD_CLOEXEC); set_nonblock(p->in_fd); }
    set_nonblock(master);
  } else {
    p->out_fd = out_fd;
    p->err_fd = err_fd;
    p->in_fd = in_fd;
    set_nonblock(out_fd);
    set_nonblock(err_fd);
    if (in_fd >= 0) set_nonblock(in_fd);
  }
}

/* Starts an exec process for client `ci`. On failure writes "err ..." into `reply`. */
static struct proc *start_exec(int ci, const char *id, int tty, int with_stdin, const char *process_json, char *reply, size_t rsize) {
  if (container_exited) { snprintf(reply, rsize, "err container not running\n"); return NULL; }
  if (proc_find(id)) { snprintf(reply, rsize, "err exec %s exists\n", id); return NULL; }
  struct proc *p = proc_new(id);
  if (!p) { snprintf(reply, rsize, "err too many exec processes\n"); return NULL; }
  int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, lfd = -1;
  char *cpath = NULL, *pid_file = NULL;
  if (asprintf(&pid_file, "%s/exec-%s.pid", opt_dir, id) < 0) die("out of memory");
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
    args[n++] = "--log"; args[n++] = runc_log_path; args[n++] = "--log-format"; args[n++] = "json";
    args[n++] = "exec"; args[n++] = "--detach"; args[n++] = "--pid-file"; args[n++] = (char *)pid_file;
    args[n++] = "--process"; args[n++] = (char *)process_json;
    if (tty) { args[n++] = "--console-socket"; args[n++] = (char *)cpath; }
    args[n++] = (char *)opt_id; args[n] = NULL;
    execvp(opt_runc, args);
    _exit(127);
  }
  close_fd(&err[1]);
  close_fd(&out[1]);
  close_fd(&in[0]);
  int master = -1;
  int st = wait_runc(runc, sfd_global, lfd, &master);
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
  proc_started(p, ci, pid, -1, tty, with_stdin, master, out[0], err[0], in[1]);
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

/* ---------- reaping: we are a subreaper, so the container's init, exec processes and orphans land here ---------- */

static pid_t container_pid = -1;
static int container_exited = 0, exit_code = 0;
/* Statuses reaped before we knew the container's pid (it can exit before `runc run -d` returns). */
/* Room for every exec process (and its start helper) at once: a status must never be pushed out before it is
 * claimed, or its exec would never report an exit. */
#define EARLY_MAX (2 * MAX_PROCS + 64)
static struct { pid_t pid; int status; } early[EARLY_MAX];
static int n_early = 0;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

/* Helpers of a fast exec that was given up (enter.h): their statuses, when they come, are nobody's. */
static pid_t discarded[MAX_PROCS];
static void discard_status(pid_t pid) {
  for (int i = 0; i < MAX_PROCS; i++)
    if (!discarded[i]) { discarded[i] = pid; return; }
}
static int fast_start_reaped(pid_t pid, int status);

static void note_reaped(pid_t pid, int status) {
  for (int i = 0; i < MAX_PROCS; i++)
    if (discarded[i] == pid) { discarded[i] = 0; return; }
  if (fast_start_reaped(pid, status)) return;
  if (container_pid > 0 && pid == container_pid) {
    container_exited = 1;
    exit_code = code_of(status);
    return;
  }
  for (int i = 0; i < MAX_PROCS; i++) {
    struct proc *p = &procs[i];
    if (p->used && !p->is_init && p->pid == pid && !p->exited) {
      p->exited = 1;
      p->code = code_of(status);
      p->exited_at = now_ms();
      return;
    }
  }
  /* Not known yet: the container's init before `runc run` returned, or an exec process that ended before
   * `runc exec` did. Kept (the oldest overwritten) until start_exec or main claims it. */
  early[n_early % EARLY_MAX].pid = pid;
  early[n_early % EARLY_MAX].status = status;
  n_early++;
}

/* The status of `pid` if it was reaped before we knew it; -1 otherwise. */
static int claim_early(pid_t pid) {
  int n = n_early < EARLY_MAX ? n_early : EARLY_MAX;
  for (int i = 0; i < n; i++)
    if (early[i].pid == pid) {
      early[i].pid = 0;
      return early[i].status;
    }
  return -1;
}

static void reap_all(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) note_reaped(pid, status);
}

#include "enter.h" /* fast exec without runc */

/* ---------- control socket: one line per request, then (attach, exec) a framed stream ---------- */

static struct proc *init_proc;
/* -W: the init's output is not read until berthd connected the attach clients that wait for this start ("go"),
 * so `docker run` without -d sees the first bytes; the pipe or pty buffers them meanwhile. */
static long long hold_until = 0;
#define HOLD_MAX_MS 5000

static void stdin_eof(struct proc *p) {
  if (!p->used) return;
  if (p->is_init && !p->stdin_once) return; /* without StdinOnce stdin stays open for the next attach */
  if (p->tty) return;                         /* a terminal has no EOF to give; Docker keeps it open too */
  p->in_eof = 1;
  proc_write_stdin(p);
}

static void client_request(int ci, char *line) {
  struct client *c = &clients[ci];
  char reply[4200], id[80], json[4096], fast[4096];
  int sig, a, b, d;
  if (sscanf(line, "kill %d", &sig) == 1) {
    if (container_exited) snprintf(reply, sizeof reply, "err container not running\n");
    else if (kill(container_pid, sig) == 0) snprintf(reply, sizeof reply, "ok\n");
    else snprintf(reply, sizeof reply, "err %s\n", strerror(errno));
  } else if (sscanf(line, "attach %d %d %d", &a, &b, &d) == 3) {
    c->mode = C_ATTACH;
    c->proc = (int)(init_proc - procs);
    c->want_in = a && init_proc->in_fd >= 0;
    c->want_out = b;
    c->want_err = d;
    snprintf(reply, sizeof reply, "ok\n");
  } else if ((d = sscanf(line, "exec %79s %d %d %4095s %4095s", id, &a, &b, json, fast)) >= 4) {
    struct proc *p = d == 5 && fast_ready && !container_exited && !proc_find(id) ? fast_exec(ci, id, a, b, json, fast, reply, sizeof reply)
                                                                                : start_exec(ci, id, a, b, json, reply, sizeof reply);
    if (p) {
      c->mode = C_EXEC;
      c->proc = (int)(p - procs);
      c->want_in = b;
      c->want_out = c->want_err = 1;
    }
  } else if (strcmp(line, "go") == 0) {
    hold_until = 0;
    snprintf(reply, sizeof reply, "ok\n");
  } else if (sscanf(line, "resize %79s %d %d", id, &a, &b) == 3) {
    struct proc *p = proc_find(id);
    struct winsize ws = {.ws_row = (unsigned short)a, .ws_col = (unsigned short)b};
    if (!p || p->master < 0) snprintf(reply, sizeof reply, "err no such TTY: %s\n", id);
    else if (ioctl(p->master, TIOCSWINSZ, &ws) < 0) snprintf(reply, sizeof reply, "err resize: %s\n", strerror(errno));
    else snprintf(reply, sizeof reply, "ok\n");
  } else {
    snprintf(reply, sizeof reply, "err unknown request\n");
  }
  client_queue(c, reply, strlen(reply));
}

/* Handles what a client sent: request lines, then frames (stdin data, stdin EOF). Stops when the process's
 * stdin buffer is full; the rest is parsed once it drained (backpressure reaches the client through the socket). */
static void client_parse(int ci) {
  struct client *c = &clients[ci];
  size_t off = 0;
  while (c->fd >= 0 && off < c->ilen) {
    if (c->mode == C_LINE) {
      unsigned char *nl = memchr(c->ibuf + off, '\n', c->ilen - off);
      if (!nl) {
        if (c->ilen - off > 8192) c->closing = 2;
        break;
      }
      *nl = 0;
      client_request(ci, (char *)c->ibuf + off);
      off = (size_t)(nl - c->ibuf) + 1;
      continue;
    }
    if (c->ilen - off < 8) break;
    unsigned char *h = c->ibuf + off;
    size_t len = ((size_t)h[4] << 24) | ((size_t)h[5] << 16) | ((size_t)h[6] << 8) | h[7];
    if (len > FRAME_MAX) { c->closing = 2; break; }
    if (c->ilen - off < 8 + len) break;
    struct proc *p = &procs[c->proc];
    if (h[0] == F_STDIN) {
      if (c->want_in && p->used && p->in_fd >= 0 && !p->in_eof) {
        if (!p->inbuf && !(p->inbuf = malloc(STDIN_CAP))) { c->closing = 2; break; }
        if (p->inlen + len > STDIN_CAP) break;
        memcpy(p->inbuf + p->inlen, h + 8, len);
        p->inlen += len;
        proc_write_stdin(p);
      }
    } else if (h[0] == F_STDIN_EOF) {
      if (c->want_in) stdin_eof(p);
      c->want_in = 0;
    }
    off += 8 + len;
  }
  memmove(c->ibuf, c->ibuf + off, c->ilen - off);
  c->ilen -= off;
}

static void client_read(int ci) {
  struct client *c = &clients[ci];
  ssize_t n = read(c->fd, c->ibuf + c->ilen, IBUF_SIZE - c->ilen);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    /* Gone: a detach, not an end of input (berthd sends a stdin-EOF frame for that); an exec keeps running. */
    client_drop(c);
    return;
  }
  c->ilen += (size_t)n;
  client_parse(ci);
}

static void client_flush(struct client *c) {
  while (c->olen > 0) {
    ssize_t n = write(c->fd, c->obuf, c->olen);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) { c->closing = 2; return; }
    memmove(c->obuf, c->obuf + n, c->olen - (size_t)n);
    c->olen -= (size_t)n;
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
  if (listen(fd, 1024) < 0) die("listen: %s", strerror(errno));
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
  snprintf(path, sizeof path, "%s/%s/exec.fifo", opt_runc_root, opt_id);
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

/* `runc start` for a container made with `runc create`; its error message into `msg`. */
static int start_created(pid_t init, char *msg, size_t size) {
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
    args[n++] = "--log"; args[n++] = runc_log_path; args[n++] = "--log-format"; args[n++] = "json";
    args[n++] = "start"; args[n++] = (char *)opt_id; args[n] = NULL;
    execvp(opt_runc, args);
    _exit(127);
  }
  close(errp[1]);
  int none = -1;
  int st = wait_runc(pid, sfd_global, -1, &none);
  int ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  if (!ok) read_error(errp[0], "runc start failed", msg, size);
  close(errp[0]);
  return ok ? 0 : -1;
}

/* ---------- main ---------- */

static int opt_tty = 0, opt_stdin = 0, opt_stdin_once = 0, opt_hold = 0;

int main(int argc, char **argv) {
  int c;
  while ((c = getopt(argc, argv, "i:b:r:R:g:d:S:l:s:n:o:M:T:tIOWX")) != -1) {
    switch (c) {
      case 'i': opt_id = optarg; break;
      case 'b': opt_bundle = optarg; break;
      case 'r': opt_runc = optarg; break;
      case 'R': opt_runc_root = optarg; break;
      case 'g':
        if (opt_nglobal == MAX_GLOBAL) die("too many runtime flags");
        opt_global[opt_nglobal++] = optarg;
        break;
      case 'd': opt_dir = optarg; break;
      case 'S': opt_sock = optarg; break;
      case 'l': opt_log = optarg; break;
      case 's': opt_max_size = atoll(optarg); break;
      case 'n': opt_max_file = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
      case 'o': opt_oom = optarg; break;
      case 'M': opt_mount_data = optarg; break;
      case 'T': opt_rootfs = optarg; break;
      case 't': opt_tty = 1; break;
      case 'I': opt_stdin = 1; break;
      case 'O': opt_stdin_once = 1; break;
      case 'W': opt_hold = 1; break;
      case 'X': opt_fast = 1; break;
      default: die("bad arguments");
    }
  }
  if (!opt_id || !opt_bundle || !opt_runc || !opt_runc_root || !opt_dir || !opt_sock) die("missing arguments");
  for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;

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
  sfd_global = sfd;

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
  int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, clfd = -1;
  if (pipe2(err, O_CLOEXEC) < 0 || (!opt_tty && pipe2(out, O_CLOEXEC) < 0) || (!opt_tty && opt_stdin && pipe2(in, O_CLOEXEC) < 0))
    die("pipe: %s", strerror(errno));
  char *cpath = NULL;
  if (opt_tty) {
    cpath = console_path();
    clfd = console_listen(cpath);
    if (clfd < 0) die("console socket %s: %s", cpath, strerror(errno));
  }
  if (opt_log) log_open(0);

  char *pid_file = path_in_dir("pid");
  runc_log_path = path_in_dir("runc.log");
  unlink(pid_file);
  /* With fast exec: `runc create`, read what exec needs from the waiting init (fast_prepare), start it (as
   * `runc start` does: start_via_fifo). Without: one `runc run --detach`. */
  pid_t runc = fork();
  if (runc < 0) die("fork: %s", strerror(errno));
  if (runc == 0) {
    int null = open("/dev/null", O_RDWR);
    char *args[20 + MAX_GLOBAL];
    int n = runc_argv(args);
    args[n++] = "--log"; args[n++] = runc_log_path; args[n++] = "--log-format"; args[n++] = "json";
    if (opt_fast) args[n++] = "create";
    else { args[n++] = "run"; args[n++] = "--detach"; }
    args[n++] = "--pid-file"; args[n++] = pid_file;
    if (opt_tty) { args[n++] = "--console-socket"; args[n++] = cpath; }
    args[n++] = "--bundle"; args[n++] = (char *)opt_bundle; args[n++] = (char *)opt_id; args[n] = NULL;
    if (opt_tty) child_stdio(null, null, err[1]);
    else child_stdio(opt_stdin ? in[0] : null, out[1], err[1]);
    execvp(opt_runc, args);
    _exit(127);
  }
  close_fd(&out[1]);
  close_fd(&err[1]);
  close_fd(&in[0]);

  int master = -1;
  int runc_status = wait_runc(runc, sfd, clfd, &master);
  if (clfd >= 0) { close(clfd); unlink(cpath); }

  char msg[8000];
  int failed = runc_status == -1 || !WIFEXITED(runc_status) || WEXITSTATUS(runc_status) != 0 || (opt_tty && master < 0);
  if (failed) {
    /* runc prints its error on stderr, which is the container's stderr pipe: it is the message, not output. */
    char fallback[64];
    snprintf(fallback, sizeof fallback, "runc run failed with status %d", runc_status == -1 ? -1 : code_of(runc_status));
    read_error(err[0], fallback, msg, sizeof msg);
  } else if (opt_fast) {
    int created = read_pid_file(pid_file);
    if (created > 0) fast_prepare(created);
    failed = start_created(created, msg, sizeof msg) < 0;
  }
  if (failed) {
    int l = snprintf(report, sizeof report, "err %s\n", msg);
    if (status_fd >= 0) write_all(status_fd, report, (size_t)l);
    char *del[] = {"delete", "--force", (char *)opt_id, NULL};
    run_runc(del);
    unmount_rootfs();
    unlink(opt_sock);
    return 1;
  }

  int pid = read_pid_file(pid_file);
  if (pid <= 0) die("no pid in %s", pid_file);
  container_pid = pid;
  int early_status = claim_early(pid);
  if (early_status != -1) { container_exited = 1; exit_code = code_of(early_status); }
  reap_all();

  init_proc = proc_new("init");
  init_proc->is_init = 1;
  init_proc->pid = pid;
  init_proc->tty = opt_tty;
  init_proc->stdin_once = opt_stdin_once;
  if (opt_tty) {
    close_fd(&err[0]);
    init_proc->master = master;
    init_proc->out_fd = master;
    set_nonblock(master);
    if (opt_stdin) {
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
    close(status_fd);
  }
  int null = open("/dev/null", O_RDWR);
  dup2(null, 0);
  dup2(null, 1);
  dup2(null, 2);
  if (null > 2) close(null);

  long long exited_at = container_exited ? now_ms() : 0;
  if (opt_hold) hold_until = now_ms() + HOLD_MAX_MS;
  enum { K_SIG, K_LISTEN, K_OUT, K_ERR, K_IN, K_CLIENT, K_START };
  struct pollfd fds[2 + 4 * MAX_PROCS + MAX_CLIENTS];
  struct { int kind, idx; } what[2 + 4 * MAX_PROCS + MAX_CLIENTS];
  while (init_proc->out_fd >= 0 || init_proc->err_fd >= 0) {
    reap_all(); /* cheap, and nothing reaped elsewhere can be missed */
    if (container_exited && !exited_at) exited_at = now_ms();
    int nf = 0;
    fds[nf] = (struct pollfd){.fd = sfd, .events = POLLIN}; what[nf++].kind = K_SIG;
    fds[nf] = (struct pollfd){.fd = lfd, .events = POLLIN}; what[nf++].kind = K_LISTEN;
    long long now = now_ms();
    int timeout = -1;
    if (container_exited) {
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
      struct fstart *fs = fstarts[i];
      if (!fs) continue;
      if (fs->deadline <= now) { fast_start_finish(i, "timed out"); continue; }
      if (timeout < 0 || fs->deadline - now < timeout) timeout = (int)(fs->deadline - now);
      fds[nf] = (struct pollfd){.fd = fs->st, .events = POLLIN}; what[nf].kind = K_START; what[nf++].idx = i;
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
      struct client *cl = &clients[i];
      if (cl->fd < 0) continue;
      if (cl->closing == 2 || (cl->closing == 1 && cl->olen == 0)) { client_drop(cl); continue; }
      short ev = 0;
      if (!cl->closing && cl->ilen < IBUF_SIZE) ev |= POLLIN;
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
          if (container_exited && !exited_at) exited_at = now_ms();
          break;
        }
        case K_LISTEN: {
          int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (cfd < 0) break;
          int slot = -1;
          for (int j = 0; j < MAX_CLIENTS && slot < 0; j++)
            if (clients[j].fd < 0) slot = j;
          if (slot < 0) { close(cfd); break; }
          memset(&clients[slot], 0, sizeof clients[slot]);
          clients[slot].ibuf = malloc(IBUF_SIZE);
          if (!clients[slot].ibuf) { close(cfd); clients[slot].fd = -1; break; }
          clients[slot].fd = cfd;
          break;
        }
        case K_OUT: if (procs[i].used && procs[i].out_fd == fds[k].fd) proc_read(&procs[i], &procs[i].out_fd, F_STDOUT); break;
        case K_ERR: if (procs[i].used && procs[i].err_fd == fds[k].fd) proc_read(&procs[i], &procs[i].err_fd, F_STDERR); break;
        case K_IN:
          if (procs[i].used) {
            if (fds[k].revents & (POLLERR | POLLHUP)) { procs[i].inlen = 0; close_fd(&procs[i].in_fd); }
            else proc_write_stdin(&procs[i]);
          }
          break;
        case K_START: if (fstarts[i] && fstarts[i]->st == fds[k].fd) fast_start_read(i); break;
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
  while (!container_exited) {
    int st;
    pid_t p = waitpid(-1, &st, 0);
    if (p < 0 && errno == EINTR) continue;
    if (p < 0) break;
    note_reaped(p, st);
  }

  for (int i = 0; i < MAX_PROCS; i++)
    if (fstarts[i]) fast_start_finish(i, "container not running");
  int oom = oom_killed();
  char *del[] = {"delete", "--force", (char *)opt_id, NULL};
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
  write_exit_file(exit_code, oom);
  unlink(opt_sock);
  return 0;
}
