/* procs.c: the process table (procs.h). */
#include "shim.h"
#include "procs.h"

struct proc procs[MAX_PROCS];
struct proc *init_proc;

struct proc *proc_new(const char *id) {
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

struct proc *proc_find(const char *id) {
  for (int i = 0; i < MAX_PROCS; i++)
    if (procs[i].used && strcmp(procs[i].id, id) == 0) return &procs[i];
  return NULL;
}

void proc_started(struct proc *p, int ci, pid_t pid, int status, int tty, int with_stdin, int master, int out_fd, int err_fd, int in_fd) {
  p->pid = pid;
  p->tty = tty;
  p->session = ci;
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

void proc_write_stdin(struct proc *p) {
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

void stdin_eof(struct proc *p) {
  if (!p->used) return;
  if (p->is_init && !p->stdin_once) return; /* without StdinOnce stdin stays open for the next attach */
  if (p->tty) return;                         /* a terminal has no EOF to give; Docker keeps it open too */
  p->in_eof = 1;
  proc_write_stdin(p);
}
