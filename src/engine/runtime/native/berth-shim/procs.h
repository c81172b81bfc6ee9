/*
 * procs.h: the shim's process table: the container's init and its exec processes, each with its stdio ends and,
 * once reaped, its exit. Who follows a process's output (clients.c) and who reaps it (reaper.c) look it up here.
 */
#ifndef BERTH_SHIM_PROCS_H
#define BERTH_SHIM_PROCS_H
#include <sys/types.h>
#include <stddef.h>

#define MAX_PROCS 1024 /* exec processes at once (Docker has no limit; 200 parallel execs are a test) */

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

extern struct proc procs[MAX_PROCS];
extern struct proc *init_proc; /* the container's init, once `runc run`/`runc create` told its pid */

/* A free slot for process `id`, its fds closed (-1); NULL when the table is full. */
struct proc *proc_new(const char *id);
struct proc *proc_find(const char *id);
/* Records a started exec process: its pid, its client, its stdio (the pty master, or the pipes' ends), and its
 * exit when it has already been reaped (`status`; -1: not yet). */
void proc_started(struct proc *p, int ci, pid_t pid, int status, int tty, int with_stdin, int master, int out_fd, int err_fd, int in_fd);
/* Writes what is buffered for the process's stdin, as much as it takes; closes stdin after an EOF once empty. */
void proc_write_stdin(struct proc *p);
/* A client's stdin EOF: the process's stdin is closed once what is buffered is written. */
void stdin_eof(struct proc *p);

#endif
