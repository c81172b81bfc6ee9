/*
 * reaper.h: the shim is the container's child subreaper (PR_SET_CHILD_SUBREAPER), so the container's init, exec
 * processes, fast-exec helpers and orphans are all reaped here, and each status goes to whom it belongs.
 * A pid cannot be reused while we have not reaped it: `kill` through us never hits a stranger.
 */
#ifndef BERTH_SHIM_REAPER_H
#define BERTH_SHIM_REAPER_H
#include <sys/types.h>

/* The container's init: its pid once `runc run`/`runc create` told it (-1 before), and its exit. */
struct container_state {
  pid_t pid;
  int exited, exit_code;
};
extern struct container_state container;

/* The container's init is `pid`: its exit may already have been reaped. */
void container_started(pid_t pid);
/* Reaps every child that has ended (never blocks). */
void reap_all(void);
/* Hands a reaped child's status to whom it belongs: a given-up helper (dropped), a pending fast exec, the
 * container's init, an exec process; else it is kept until claimed (claim_early). */
void note_reaped(pid_t pid, int status);
/* The status of `pid` if it was reaped before we knew it; -1 otherwise. */
int claim_early(pid_t pid);
/* The status of `pid`, a helper of a fast exec that was given up, is nobody's when it comes. */
void discard_status(pid_t pid);

#endif
