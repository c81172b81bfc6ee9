/*
 * runc.h: how the shim runs runc: `runc run/create/start/exec/delete` with the container's stdio, a TTY's master
 * received over runc's console socket, runc's error message read from its stderr. Each runc is waited for while
 * the other children's statuses go to the reaper. `runc start` is done without runc when it can (start_created).
 */
#ifndef BERTH_SHIM_RUNC_H
#define BERTH_SHIM_RUNC_H
#include <stddef.h>
#include <sys/types.h>

struct proc;

/* What every runc invocation shares: the SIGCHLD signalfd drained while waiting, runc's json log file. */
struct runc_env {
  int sigchld_fd;
  char *log_path;
};
extern struct runc_env runc_env;

/* Starts a runtime argv: the binary, --root, the global flags (-g). Returns the next free index. */
int runc_argv(char **argv);
/* Runs runc with the given arguments (after --root), stdio to /dev/null, and returns its wait status. */
int run_runc(char *const extra[]);
/* The console socket's path (the shim's socket + ".c"); the caller frees it. */
char *console_path(void);
/* Listens on the console socket at `path` (runc sends the pty master over it); -1 on error. */
int console_listen(const char *path);
/* Waits for `runc` (our child) to exit, receiving the pty master on `lfd` meanwhile when it is >= 0. Statuses of
 * other children reaped meanwhile go to the reaper. Returns runc's wait status, -1 on error. */
int wait_runc(pid_t runc, int sfd, int lfd, int *master);
/* Reads runc's error message from a pipe (runc prints it on stderr) into `out` as one line. */
void read_error(int fd, const char *fallback, char *out, size_t size);
int read_pid_file(const char *file);
/* In a child: the signal mask emptied, `in`, `out` and `err` as its stdio. */
void child_stdio(int in, int out, int err);
/* `runc exec --detach` of `process_json` for client `ci`: the process is re-parented to us (the subreaper), so we
 * reap it. Returns its proc, or NULL with "err ..." in `reply`. */
struct proc *runc_exec(int ci, const char *id, int tty, int with_stdin, const char *process_json, char *reply, size_t rsize);
/* `runc start` for a container made with `runc create` (through its exec fifo when it can); its error message
 * into `msg`. */
int start_created(pid_t init, char *msg, size_t size);

#endif
