/* clients.c: the shim's socket, its clients' requests and frames, and process output routed to them
 * (clients.h). */
#include "shim.h"
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "clients.h"
#include "enter.h"
#include "log.h"
#include "procs.h"
#include "reaper.h"
#include "runc.h"

struct client clients[MAX_CLIENTS];
long long hold_until = 0;

void client_queue(struct client *c, const void *data, size_t len) {
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

void client_drop(struct client *c) {
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
  c->linger_until = 0;
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

int proc_throttled(struct proc *p) {
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &clients[i];
    if (c->fd < 0 || c->olen < CLIENT_HIGH_WATER) continue;
    if ((p->is_init && c->mode == C_ATTACH) || p->session == i) return 1;
  }
  return 0;
}

static unsigned char scratch[65536];

void proc_read(struct proc *p, int *fd, int type) {
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

void proc_end(struct proc *p) {
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

static void client_request(int ci, char *line) {
  struct client *c = &clients[ci];
  char reply[4200], id[80], json[4096], fast[4096];
  int sig, a, b, d, rows = 0, cols = 0;
  if (sscanf(line, "kill %d", &sig) == 1) {
    if (container.exited) snprintf(reply, sizeof reply, "err container not running\n");
    else if (kill(container.pid, sig) == 0) snprintf(reply, sizeof reply, "ok\n");
    else snprintf(reply, sizeof reply, "err %s\n", strerror(errno));
  } else if (sscanf(line, "attach %d %d %d", &a, &b, &d) == 3) {
    c->mode = C_ATTACH;
    c->proc = (int)(init_proc - procs);
    c->want_in = a && init_proc->in_fd >= 0;
    c->want_out = b;
    c->want_err = d;
    snprintf(reply, sizeof reply, "ok\n");
  } else if ((d = sscanf(line, "exec %79s %d %d %4095s %4095s %d %d", id, &a, &b, json, fast, &rows, &cols)) >= 4) {
    if (d < 7 || !a || rows <= 0 || cols <= 0 || rows > 65535 || cols > 65535) rows = cols = 0;
    struct proc *p = d >= 5 && fx.ready && !container.exited && !proc_find(id) ? fast_exec(ci, id, a, b, json, fast, rows, cols, reply, sizeof reply)
                                                                                : runc_exec(ci, id, a, b, json, reply, sizeof reply);
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

void client_parse(int ci) {
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

void client_linger(struct client *c) {
  shutdown(c->fd, SHUT_WR);
  c->closing = 3;
  c->ilen = 0;
  c->linger_until = now_ms() + LINGER_MS;
}

void client_read(int ci) {
  struct client *c = &clients[ci];
  if (c->closing == 3) {
    ssize_t n = read(c->fd, c->ibuf, IBUF_SIZE);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) client_drop(c);
    return;
  }
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

void client_flush(struct client *c) {
  while (c->olen > 0) {
    ssize_t n = write(c->fd, c->obuf, c->olen);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) { c->closing = 2; return; }
    memmove(c->obuf, c->obuf + n, c->olen - (size_t)n);
    c->olen -= (size_t)n;
  }
}

int listen_socket(void) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(opt.sock) >= sizeof addr.sun_path) die("socket path too long: %s", opt.sock);
  strcpy(addr.sun_path, opt.sock);
  unlink(opt.sock);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind %s: %s", opt.sock, strerror(errno));
  chmod(opt.sock, 0600);
  if (listen(fd, 1024) < 0) die("listen: %s", strerror(errno));
  return fd;
}

void client_accept(int lfd) {
  int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (cfd < 0) return;
  int slot = -1;
  for (int j = 0; j < MAX_CLIENTS && slot < 0; j++)
    if (clients[j].fd < 0) slot = j;
  if (slot < 0) { close(cfd); return; }
  memset(&clients[slot], 0, sizeof clients[slot]);
  clients[slot].ibuf = malloc(IBUF_SIZE);
  if (!clients[slot].ibuf) { close(cfd); clients[slot].fd = -1; return; }
  clients[slot].fd = cfd;
}
