/*
 * shim.h: what every part of berth-shim shares: its options (one object, filled by main from the command line)
 * and the small helpers of a process that must never block or die on a peer's behalf.
 * The shim's overview (why it exists, why C, what it does in which order) is at the top of main.c.
 */
#ifndef BERTH_SHIM_H
#define BERTH_SHIM_H
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
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_GLOBAL 8

/* The command line (see main.c's usage). */
struct shim_options {
  const char *id, *bundle, *runc, *runc_root, *dir, *sock, *log, *oom;
  /* -g: the runtime's global flags after --root (daemon.json runtimeArgs, --systemd-cgroup), the same on every
   * call. */
  char *global[MAX_GLOBAL];
  int nglobal;
  const char *mount_data, *rootfs; /* -M/-T: the overlay the shim mounts as the container's root */
  const char *fuse;                /* -F: fuse-overlayfs mounts it (the kernel refuses overlay in this userns) */
  long long max_size;              /* json-file max-size; 0: no rotation */
  int max_file;                    /* json-file max-file */
  int tty, stdin, stdin_once;      /* -t, -I, -O */
  int hold;                        /* -W: hold the init's output until berthd says "go" */
  int fast;                        /* -X: berthd allows the fast exec path (the shim binary is read-only) */
  int gate;                        /* -G FD (with -X): read one byte from FD between create and start; 0: none */
};
extern struct shim_options opt;

void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Writes everything, retrying on EINTR; gives up silently on errors (a full disk or a closed peer must not take
 * the container down). */
void write_all(int fd, const char *buf, size_t len);
/* A file in the state directory (-d); the caller frees it. */
char *path_in_dir(const char *name);
/* RFC3339Nano in UTC, trailing zeros of the fraction trimmed (Go's time.RFC3339Nano). Returns its length. */
size_t format_time(char *out, size_t size);
/* Milliseconds on the monotonic clock. */
long long now_ms(void);
/* A wait status as Docker's exit code: the status, or 128 + the signal. */
int code_of(int status);
void set_nonblock(int fd);
/* Closes *fd if open and marks it closed (-1). */
void close_fd(int *fd);

#endif
