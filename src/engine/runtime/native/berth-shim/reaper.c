/* reaper.c: reaping, and each status to its owner (reaper.h). */
#include "shim.h"
#include "enter.h"
#include "procs.h"
#include "reaper.h"

struct container_state container = {.pid = -1};

/* Statuses reaped before we knew the container's pid (it can exit before `runc run -d` returns). */
/* Room for every exec process (and its start helper) at once: a status must never be pushed out before it is
 * claimed, or its exec would never report an exit. */
#define EARLY_MAX (2 * MAX_PROCS + 64)
static struct { pid_t pid; int status; } early[EARLY_MAX];
static int n_early = 0;

/* Helpers of a fast exec that was given up (enter.c): their statuses, when they come, are nobody's. */
static pid_t discarded[MAX_PROCS];
void discard_status(pid_t pid) {
  for (int i = 0; i < MAX_PROCS; i++)
    if (!discarded[i]) { discarded[i] = pid; return; }
}

void note_reaped(pid_t pid, int status) {
  for (int i = 0; i < MAX_PROCS; i++)
    if (discarded[i] == pid) { discarded[i] = 0; return; }
  if (fast_start_reaped(pid, status)) return;
  if (container.pid > 0 && pid == container.pid) {
    container.exited = 1;
    container.exit_code = code_of(status);
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
   * `runc exec` did. Kept (the oldest overwritten) until runc_exec, a fast exec or main claims it. */
  early[n_early % EARLY_MAX].pid = pid;
  early[n_early % EARLY_MAX].status = status;
  n_early++;
}

int claim_early(pid_t pid) {
  int n = n_early < EARLY_MAX ? n_early : EARLY_MAX;
  for (int i = 0; i < n; i++)
    if (early[i].pid == pid) {
      early[i].pid = 0;
      return early[i].status;
    }
  return -1;
}

void reap_all(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) note_reaped(pid, status);
}

void container_started(pid_t pid) {
  container.pid = pid;
  int status = claim_early(pid);
  if (status != -1) {
    container.exited = 1;
    container.exit_code = code_of(status);
  }
}
