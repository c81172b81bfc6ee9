/* enter_prepare.c: once per container, what every fast exec needs from the init (enter.h). */
#include "shim.h"
#include <linux/filter.h>
#include <sys/ptrace.h>
#include "enter.h"
#include "reaper.h"

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif

struct fast_exec_state fx = {.last_cap = 40};

/* A "Key:\tvalue" number from /proc/<pid>/status; -1 when absent. */
static long status_field(pid_t pid, const char *key) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  long v = -1;
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, kl) == 0 && line[kl] == ':') { v = strtol(line + kl + 1, NULL, 10); break; }
  fclose(f);
  return v;
}

int same_ns(pid_t pid, const char *ns) {
  char a[64], b[64];
  struct stat sa, sb;
  snprintf(a, sizeof a, "/proc/%d/ns/%s", pid, ns);
  snprintf(b, sizeof b, "/proc/self/ns/%s", ns);
  if (stat(b, &sb) < 0) return 1;
  if (stat(a, &sa) < 0) return -1;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Reads the seccomp program of `pid` (runc's init, waiting in `runc create` for its start). The stop is a
 * ptrace-stop we wait for with waitpid(pid): nothing else in the shim runs meanwhile, so its reaper cannot see it.
 * In a rootless engine this always fails: the kernel gives a filter only to CAP_SYS_ADMIN of the initial user namespace
 * (and runc's non-dumpable init, from a binary of an unmapped owner, is not even ours to seize), so its containers
 * with a filter are entered through runc; those without one (unconfined, privileged) through the shim. */
static int fetch_filter(pid_t pid) {
  if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0) return -1;
  int ok = -1, st;
  if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) == 0) {
    pid_t w;
    while ((w = waitpid(pid, &st, __WALL)) < 0 && errno == EINTR) {}
    if (w == pid && !WIFSTOPPED(st)) {
      note_reaped(pid, st); /* it ended meanwhile: there is nothing to detach from */
      return -1;
    }
    if (w == pid) {
      long n = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, NULL);
      /* Exactly one filter, runc's: index 1 must not exist (Seccomp_filters in status needs Linux 5.9). */
      int single = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 1, NULL) < 0 && errno == ENOENT;
      if (single && n > 0 && n <= BPF_MAXINSNS) {
        fx.filter = calloc((size_t)n, sizeof *fx.filter);
        if (fx.filter && ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, fx.filter) == n) {
          fx.filter_len = (unsigned short)n;
          ok = 0;
        } else {
          free(fx.filter);
          fx.filter = NULL;
        }
      }
    }
  }
  ptrace(PTRACE_DETACH, pid, 0, 0);
  return ok;
}

/* Does `tok` appear in the comma-separated list `list`? */
static int in_list(const char *list, const char *tok, size_t toklen) {
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (l == toklen && strncmp(p, tok, l) == 0) return 1;
    if (!e) break;
    p = e + 1;
  }
  return 0;
}

/* Maps each line of /proc/<pid>/cgroup ("id:controllers:path") to the directory <mountpoint><path> on the host,
 * through our mountinfo (fields: ... root mountpoint ... - fstype source superoptions). */
static int load_cgroups(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
  FILE *cg = fopen(path, "re"), *mi = fopen("/proc/self/mountinfo", "re"), *own = fopen("/proc/self/cgroup", "re");
  char *mounts[256], *ours[64];
  int nm = 0, no = 0, ok = 0, lines = 0;
  char *line = NULL;
  size_t cap = 0;
  if (!cg || !mi || !own) goto out;
  while (nm < 256 && getline(&line, &cap, mi) > 0)
    if (strstr(line, " - cgroup")) mounts[nm++] = strdup(line);
  while (no < 64 && getline(&line, &cap, own) > 0) ours[no++] = strdup(line);
  ok = 1;
  while (ok && getline(&line, &cap, cg) > 0) {
    lines++;
    /* A hierarchy where the init is in our own cgroup needs no join (A inherits it): a rootless engine's runc
     * makes no cgroup, and the engine's own is not ours to write. */
    int shared = 0;
    for (int i = 0; i < no && !shared; i++) shared = ours[i] && strcmp(ours[i], line) == 0;
    if (shared) continue;
    line[strcspn(line, "\n")] = 0;
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) { ok = 0; break; }
    *c2 = 0;
    const char *ctrls = c1 + 1, *cgpath = c2 + 1;
    char *found = NULL;
    for (int i = 0; i < nm && !found; i++) {
      char copy[4096];
      snprintf(copy, sizeof copy, "%s", mounts[i]);
      copy[strcspn(copy, "\n")] = 0;
      char *f[8] = {0}, *save = NULL, *sep = strstr(copy, " - ");
      if (!sep) continue;
      *sep = 0;
      char *fstype = strtok_r(sep + 3, " ", &save), *src = strtok_r(NULL, " ", &save), *super = strtok_r(NULL, " ", &save);
      (void)src;
      int k = 0;
      for (char *t = strtok_r(copy, " ", &save); t && k < 8; t = strtok_r(NULL, " ", &save)) f[k++] = t;
      if (k < 5 || !fstype || !super) continue;
      const char *root = f[3], *mountpoint = f[4];
      if (*ctrls == 0) {
        if (strcmp(fstype, "cgroup2") != 0) continue;
      } else {
        if (strcmp(fstype, "cgroup") != 0) continue;
        int all = 1;
        for (const char *p = ctrls; *p && all;) {
          const char *e = strchr(p, ',');
          size_t l = e ? (size_t)(e - p) : strlen(p);
          if (!in_list(super, p, l)) all = 0;
          p = e ? e + 1 : p + l;
        }
        if (!all) continue;
      }
      const char *rel = cgpath;
      if (strcmp(root, "/") != 0) {
        size_t rl = strlen(root);
        if (strncmp(cgpath, root, rl) != 0 || (cgpath[rl] != '/' && cgpath[rl] != 0)) continue;
        rel = cgpath + rl;
      }
      if (asprintf(&found, "%s%s", mountpoint, strcmp(rel, "/") == 0 ? "" : rel) < 0) found = NULL;
    }
    if (!found) { ok = 0; break; }
    struct fx_cgroup *grown = realloc(fx.cgroups, sizeof *grown * (size_t)(fx.ncgroups + 1));
    if (!grown) { free(found); ok = 0; break; }
    fx.cgroups = grown;
    fx.cgroups[fx.ncgroups++] = (struct fx_cgroup){.dir = found, .v2 = *ctrls == 0};
  }
out:
  free(line);
  for (int i = 0; i < nm; i++) free(mounts[i]);
  for (int i = 0; i < no; i++) free(ours[i]);
  if (cg) fclose(cg);
  if (mi) fclose(mi);
  if (own) fclose(own);
  return ok && lines > 0 ? 0 : -1;
}

/* Between `runc create` and `runc start`: runc's init waits on its exec fifo with the container's seccomp
 * filter installed, namespaces and cgroups set up, and no code of the image has run yet. */
void fast_prepare(pid_t pid) {
  if (!opt.fast) return;
  if (same_ns(pid, "user") != 1) return; /* ids would need mapping: runc does it */
  long mode = status_field(pid, "Seccomp");
  if (mode == 2) {
    if (fetch_filter(pid) < 0) {
      char file[4200];
      snprintf(file, sizeof file, "%s/seccomp.fx", opt.bundle);
      if (access(file, R_OK) < 0 || !(fx.filter_file = strdup(file))) return;
    }
  } else if (mode != 0) {
    return; /* strict mode, or unknown */
  }
  if (load_cgroups(pid) < 0) return;
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  if (f) {
    if (fscanf(f, "%d", &fx.last_cap) != 1 || fx.last_cap < 0) fx.last_cap = 40;
    if (fx.last_cap > 63) fx.last_cap = 63; /* the masks are 64 bits */
    fclose(f);
  }
  fx.ready = 1;
}
