/*
 * enter.h: berth-shim's fast exec: a process started inside the running container the way `runc exec` does it,
 * without runc (~2 ms instead of ~35). Why and how, step by step: enter.c. The parts:
 *   enter_prepare.c  once per container, what every exec needs from the init (its seccomp program, cgroups);
 *   enter_file.c     the fast-exec file berthd writes for one exec (the process: args, env, user, caps, ...);
 *   enter_child.c    the two helper processes that enter the container and become the process;
 *   enter.c          an exec's start: forks the helpers, and answers the client once they report, while the
 *                    shim's loop keeps serving.
 */
#ifndef BERTH_SHIM_ENTER_H
#define BERTH_SHIM_ENTER_H
#include <linux/filter.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

struct proc;

/* What fast_prepare learnt of the container's init, shared by every exec of this container. */
struct fast_exec_state {
  int ready;                  /* fast_prepare succeeded for this container */
  struct sock_filter *filter; /* the init's seccomp program; NULL: unconfined */
  unsigned short filter_len;
  /* Rootless: berthd's seccomp.fx, compiled into `filter` by the first exec that needs it (compile_filter costs
   * 10-25 ms on 2 cores: not on the way of every container's start). */
  char *filter_file;
  /* The init's cgroup in every hierarchy: its host directory, and whether it is cgroup v2 (how it is joined:
   * enter_child.c). */
  struct fx_cgroup { char *dir; int v2; } *cgroups;
  int ncgroups;
  int last_cap;
  /* The shim's /dev/null (an exec's stdin without -i): B must never chown it, whatever the container's
   * /dev/null is. */
  struct stat host_null;
};
extern struct fast_exec_state fx;

/* ---------- for the rest of the shim ---------- */

/* Called between `runc create` and `runc start` (with -X): reads what every exec needs from the waiting init. */
void fast_prepare(pid_t pid);
/* Starts exec `id` for client `ci`: without runc when it can (else through runc_exec with the runc file). With a
 * TTY and `rows`/`cols` (else 0), the TTY has that size before the process runs; the answer then says "sized".
 * Returns the proc when it started at once, NULL with "err ..." in `reply`, or NULL with an empty reply when
 * the start goes on in the background (the client gets its answer once the helpers report). */
struct proc *fast_exec(int ci, const char *id, int tty, int with_stdin, const char *runc_file, const char *file, int rows, int cols, char *reply, size_t rsize);
/* The status pipe of pending start `slot` for the loop to poll (its deadline lowers *timeout), after ending the
 * start if its time is up; -1: no start pending there. */
int fast_start_pending(int slot, long long now, int *timeout);
/* The status pipe `fd` of start `slot` is readable. */
void fast_start_readable(int slot, int fd);
/* The container ended: every pending start fails with `why`. */
void fast_starts_end(const char *why);
/* The reaper found a pending start's helper (A, or B already ended): 1 when the status was one of them. */
int fast_start_reaped(pid_t pid, int status);
/* A client that left no longer gets an answer (its slot may serve someone else next). */
void fast_start_client_gone(int ci);

/* ---------- between the enter*.c files ---------- */

#define MAX_RLIMITS 16

/* What berthd sends for one exec: NUL-separated tokens, a key then its values (see runtime/index.ts). */
struct fexec {
  char *buf;
  char **argv, **envp;
  int argc, envc;
  const char *cwd;
  uid_t uid;
  gid_t gid;
  gid_t groups[256];
  int ngroups;
  unsigned long long caps[5]; /* bounding, effective, permitted, inheritable, ambient */
  struct { int resource; struct rlimit lim; } rlimits[MAX_RLIMITS];
  int nrlimits;
  int nnp, has_oom, oom;
  int seccomp; /* the container has a seccomp profile: an init without a filter means something is off */
  unsigned short rows, cols; /* a TTY's size from the start; 0: none */
};

int fexec_parse(const char *file, struct fexec *x);
/* The container's filter built from berthd's seccomp.fx the way runc builds it (enter_seccomp.c), for where the
 * init's cannot be copied (rootless): 0 with fx.filter set, -1 when runc exec should be used. */
int compile_filter(const char *file);
void fexec_free(struct fexec *x);
/* Whether namespace `ns` of `pid` is ours: 1 same (or a kind this kernel does not have), 0 different, -1 the
 * process is gone. */
int same_ns(pid_t pid, const char *ns);
/* Child A: enters the container's cgroups and namespaces, forks B (the process), reports B's pid on `st_fd` and
 * exits; any failure goes to `st_fd` as "err <runc's words>". Never returns. */
void fast_child_a(struct fexec *x, int tty, int in_fd, int out_fd, int err_fd, int st_fd, int sock_fd) __attribute__((noreturn));

#endif
