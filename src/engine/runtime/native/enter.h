/*
 * enter.h: berth-shim's fast exec. Starts a process inside the running container the way `runc exec` does, but
 * without runc. Included by berth-shim.c (one binary); it uses the shim's proc table and reaper.
 *
 * Why: `runc exec` costs ~35 ms on 2 cores (two Go start-ups, re-reading the state, compiling the seccomp
 * profile again). The shim already owns the container, so the same steps cost ~2 ms here. Docker's
 * `docker exec CTR true` target is <= 0.75x dockerd, which no runc-based path reaches.
 *
 * The steps follow runc 1.1's setns path (nsexec.c, setns_init_linux.go, finalizeNamespace), in its order:
 *  child A, still in the host's pid namespace:
 *   - default signal dispositions and an empty mask; not dumpable (nothing in the container may ptrace or open
 *     /proc/<pid>/ files of a process that still holds the host's privileges); stdio in place, every other fd closed;
 *   - rlimits and oom_score_adj of the process, the session keyring "_ses.<container id>";
 *   - the init's cgroups (every hierarchy; host paths found through our mountinfo, computed once);
 *   - setns into each namespace of the init that differs from ours, the mount namespace last (which also makes
 *     the container's root our root, as for runc);
 *   - fork B (a fork is what enters a pid namespace), report B's host pid on the status pipe, exit.
 *  child B, inside the container:
 *   - setsid; with a TTY a pty from the container's /dev/ptmx: the master goes to the shim over a socketpair,
 *     the slave (TIOCGPTPEER, never a path the container could swap) becomes stdio and controlling terminal;
 *   - no_new_privs when asked; seccomp: the init's own filter program, read once with PTRACE_SECCOMP_GET_FILTER
 *     (fast_prepare) while runc's init waits to be started: exactly what runc compiled, not a re-compilation.
 *     Without no_new_privs it is installed before the capabilities drop, with it just before execve (as runc);
 *   - bounding set, keep-caps, stdio owned by the user, groups/gid/uid, cwd, capabilities, ambient set;
 *   - the command looked up in PATH as runc does (Go 1.19's exec.LookPath), the status pipe closed, execve.
 * Errors up to the lookup reach berthd in runc's words ("exec failed: unable to start container process: ...").
 * The shim does not wait for A and B: the status pipe is one more fd in its poll loop (struct fstart), so a
 * helper the container stops or freezes costs that exec (10 s, then an error), not the container's stdio.
 *
 * When it is not used (exec goes through `runc exec`): berthd did not pass -X (the shim binary is not on a
 * read-only mount; see below), the init is in another user namespace, it has a different number of seccomp
 * filters than runc installs (none when unconfined, one otherwise), a cgroup cannot be mapped, or berthd sent no
 * fast-exec file (a process with an AppArmor/SELinux label).
 *
 * CVE-2019-5736: B runs the shim's binary until its execve, so a "#!/proc/self/exe" script in the container makes
 * the container run us, and /proc/<pid>/exe would then reach our file on the host. berthd therefore runs shims
 * from a read-only bind mount (writes fail with EROFS, also for root) and passes -X only when that holds.
 */
#include <dirent.h>
#include <grp.h>
#include <sched.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>

#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static int opt_fast = 0;          /* -X: berthd allows the fast path (the shim binary is read-only) */
static int fast_ready = 0;        /* fast_prepare succeeded for this container */
static struct sock_filter *fast_filter; /* the init's seccomp program; NULL: unconfined */
static unsigned short fast_filter_len;
static char **fast_cgroups; /* host paths of the init's cgroup.procs files */
static int fast_ncgroups;
static int fast_last_cap = 40;
/* The shim's /dev/null (an exec's stdin without -i): B must never chown it, whatever the container's /dev/null is. */
static struct stat host_null;

static const char *const cap_names[] = {
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
  "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
  "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};
#define N_CAP_NAMES ((int)(sizeof cap_names / sizeof cap_names[0]))

static const struct { const char *name; int resource; } rlimit_names[] = {
  {"RLIMIT_CPU", RLIMIT_CPU}, {"RLIMIT_FSIZE", RLIMIT_FSIZE}, {"RLIMIT_DATA", RLIMIT_DATA},
  {"RLIMIT_STACK", RLIMIT_STACK}, {"RLIMIT_CORE", RLIMIT_CORE}, {"RLIMIT_RSS", RLIMIT_RSS},
  {"RLIMIT_NPROC", RLIMIT_NPROC}, {"RLIMIT_NOFILE", RLIMIT_NOFILE}, {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
  {"RLIMIT_AS", RLIMIT_AS}, {"RLIMIT_LOCKS", RLIMIT_LOCKS}, {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
  {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE}, {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
  {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};
#define N_RLIMITS ((int)(sizeof rlimit_names / sizeof rlimit_names[0]))

/* ---------- once per container: what every exec needs from the init ---------- */

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

/* Whether namespace `ns` of `pid` is ours: 1 same (or a kind this kernel does not have), 0 different, -1 the
 * process is gone. */
static int same_ns(pid_t pid, const char *ns) {
  char a[64], b[64];
  struct stat sa, sb;
  snprintf(a, sizeof a, "/proc/%d/ns/%s", pid, ns);
  snprintf(b, sizeof b, "/proc/self/ns/%s", ns);
  if (stat(b, &sb) < 0) return 1;
  if (stat(a, &sa) < 0) return -1;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Reads the seccomp program of `pid` (runc's init, waiting in `runc create` for its start). The stop is a
 * ptrace-stop we wait for with waitpid(pid): nothing else in the shim runs meanwhile, so its reaper cannot see it. */
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
        fast_filter = calloc((size_t)n, sizeof *fast_filter);
        if (fast_filter && ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, fast_filter) == n) {
          fast_filter_len = (unsigned short)n;
          ok = 0;
        } else {
          free(fast_filter);
          fast_filter = NULL;
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

/* Maps each line of /proc/<pid>/cgroup ("id:controllers:path") to <mountpoint><path>/cgroup.procs on the host,
 * through our mountinfo (fields: ... root mountpoint ... - fstype source superoptions). */
static int load_cgroups(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/cgroup", pid);
  FILE *cg = fopen(path, "re"), *mi = fopen("/proc/self/mountinfo", "re");
  char *mounts[256];
  int nm = 0, ok = 0;
  char *line = NULL;
  size_t cap = 0;
  if (!cg || !mi) goto out;
  while (nm < 256 && getline(&line, &cap, mi) > 0)
    if (strstr(line, " - cgroup")) mounts[nm++] = strdup(line);
  ok = 1;
  while (ok && getline(&line, &cap, cg) > 0) {
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
      if (asprintf(&found, "%s%s/cgroup.procs", mountpoint, strcmp(rel, "/") == 0 ? "" : rel) < 0) found = NULL;
    }
    if (!found) { ok = 0; break; }
    char **grown = realloc(fast_cgroups, sizeof *grown * (size_t)(fast_ncgroups + 1));
    if (!grown) { free(found); ok = 0; break; }
    fast_cgroups = grown;
    fast_cgroups[fast_ncgroups++] = found;
  }
out:
  free(line);
  for (int i = 0; i < nm; i++) free(mounts[i]);
  if (cg) fclose(cg);
  if (mi) fclose(mi);
  return ok && fast_ncgroups > 0 ? 0 : -1;
}

/* Called between `runc create` and `runc start`: runc's init waits on its exec fifo with the container's seccomp
 * filter installed, namespaces and cgroups set up, and no code of the image has run yet. */
static void fast_prepare(pid_t pid) {
  if (!opt_fast) return;
  if (same_ns(pid, "user") != 1) return; /* ids would need mapping: runc does it */
  long mode = status_field(pid, "Seccomp");
  if (mode == 2) {
    if (fetch_filter(pid) < 0) return;
  } else if (mode != 0) {
    return; /* strict mode, or unknown */
  }
  if (load_cgroups(pid) < 0) return;
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  if (f) {
    if (fscanf(f, "%d", &fast_last_cap) != 1 || fast_last_cap < 0) fast_last_cap = 40;
    if (fast_last_cap > 63) fast_last_cap = 63; /* the masks are 64 bits */
    fclose(f);
  }
  fast_ready = 1;
}

/* ---------- one exec ---------- */

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
  struct { int resource; struct rlimit lim; } rlimits[N_RLIMITS];
  int nrlimits;
  int nnp, has_oom, oom;
  int seccomp; /* the container has a seccomp profile: an init without a filter means something is off */
};

static unsigned long long cap_mask(const char *list) {
  unsigned long long m = 0;
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    /* Unknown names and capabilities this kernel lacks are skipped, as runc does. */
    for (int i = 0; i < N_CAP_NAMES && i <= fast_last_cap; i++)
      if (strlen(cap_names[i]) == l && strncmp(cap_names[i], p, l) == 0) m |= 1ULL << i;
    if (!e) break;
    p = e + 1;
  }
  return m;
}

static int push(char ***v, int *n, char *s) {
  char **g = realloc(*v, sizeof *g * (size_t)(*n + 2));
  if (!g) return -1;
  *v = g;
  g[(*n)++] = s;
  g[*n] = NULL;
  return 0;
}

static void fexec_free(struct fexec *x) {
  free(x->buf);
  free(x->argv);
  free(x->envp);
}

/* The next `n` tokens from `off`; each must end with a NUL inside the buffer. */
static int take(char *buf, size_t len, size_t *off, char **tok, int n) {
  for (int i = 0; i < n; i++) {
    char *nul = *off < len ? memchr(buf + *off, 0, len - *off) : NULL;
    if (!nul) return -1;
    tok[i] = buf + *off;
    *off = (size_t)(nul - buf) + 1;
  }
  return 0;
}

static int fexec_parse(const char *file, struct fexec *x) {
  memset(x, 0, sizeof *x);
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_size > (64 << 20)) { close(fd); return -1; }
  x->buf = malloc((size_t)st.st_size + 1);
  size_t len = 0;
  while (x->buf && len < (size_t)st.st_size) {
    ssize_t n = read(fd, x->buf + len, (size_t)st.st_size - len);
    if (n <= 0) break;
    len += (size_t)n;
  }
  close(fd);
  if (!x->buf || len != (size_t)st.st_size) return -1;
  x->buf[len] = 0;
  char *tok[5];
  size_t off = 0;
  while (off < len) {
    if (take(x->buf, len, &off, tok, 1) < 0) return -1;
    const char *key = tok[0];
    if (strcmp(key, "arg") == 0) { if (take(x->buf, len, &off, tok, 1) < 0) return -1; if (push(&x->argv, &x->argc, tok[0]) < 0) return -1; }
    else if (strcmp(key, "env") == 0) { if (take(x->buf, len, &off, tok, 1) < 0) return -1; if (push(&x->envp, &x->envc, tok[0]) < 0) return -1; }
    else if (strcmp(key, "cwd") == 0) { if (take(x->buf, len, &off, tok, 1) < 0) return -1; x->cwd = tok[0]; }
    else if (strcmp(key, "user") == 0) { if (take(x->buf, len, &off, tok, 2) < 0) return -1; x->uid = (uid_t)strtoul(tok[0], NULL, 10); x->gid = (gid_t)strtoul(tok[1], NULL, 10); }
    else if (strcmp(key, "group") == 0) {
      if (take(x->buf, len, &off, tok, 1) < 0 || x->ngroups == 256) return -1; /* berthd sends runc more than that */
      x->groups[x->ngroups++] = (gid_t)strtoul(tok[0], NULL, 10);
    }
    else if (strcmp(key, "caps") == 0) { if (take(x->buf, len, &off, tok, 5) < 0) return -1; for (int i = 0; i < 5; i++) x->caps[i] = cap_mask(tok[i]); }
    else if (strcmp(key, "rlimit") == 0) {
      if (take(x->buf, len, &off, tok, 3) < 0) return -1;
      for (int i = 0; i < N_RLIMITS; i++)
        if (strcmp(rlimit_names[i].name, tok[0]) == 0 && x->nrlimits < N_RLIMITS) {
          x->rlimits[x->nrlimits].resource = rlimit_names[i].resource;
          x->rlimits[x->nrlimits].lim.rlim_cur = strtoull(tok[1], NULL, 10);
          x->rlimits[x->nrlimits].lim.rlim_max = strtoull(tok[2], NULL, 10);
          x->nrlimits++;
        }
    }
    else if (strcmp(key, "nnp") == 0) { if (take(x->buf, len, &off, tok, 1) < 0) return -1; x->nnp = tok[0][0] == '1'; }
    else if (strcmp(key, "oom") == 0) { if (take(x->buf, len, &off, tok, 1) < 0) return -1; x->has_oom = 1; x->oom = atoi(tok[0]); }
    else if (strcmp(key, "seccomp") == 0) { if (take(x->buf, len, &off, tok, 1) < 0) return -1; x->seccomp = tok[0][0] == '1'; }
    else return -1;
  }
  return x->argc > 0 && x->cwd ? 0 : -1;
}

/* Go's error text for an errno: the C library's, with a lower-case first letter ("no such file or directory"). */
static const char *go_strerror(int err, char *buf, size_t size) {
  snprintf(buf, size, "%s", strerror(err));
  if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z')) buf[0] = (char)(buf[0] - 'A' + 'a');
  return buf;
}

/* From here on we run in A or B: failures go to the status pipe (fd 3) as "err <runc's words>" and end the child. */
#define ST_FD 3
#define MASTER_FD 4
static void child_fail(const char *fmt, ...) {
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  int l = snprintf(msg, sizeof msg, "err exec failed: unable to start container process: ");
  l += vsnprintf(msg + l, sizeof msg - (size_t)l, fmt, ap);
  va_end(ap);
  if (l > (int)sizeof msg - 2) l = (int)sizeof msg - 2;
  /* One line: the message carries argv[0] or the cwd, which must not be able to forge the "pid" line. */
  for (int i = 0; i < l; i++)
    if (msg[i] == '\n' || msg[i] == '\r') msg[i] = ' ';
  msg[l++] = '\n';
  write_all(ST_FD, msg, (size_t)l);
  _exit(1);
}

/* Go 1.19's exec.LookPath, which runc uses: a name with a slash is taken as it is; otherwise PATH is searched.
 * Only the mode bits count (no access check), and a match relative to the working directory is refused. */
static void look_path(const char *file, char **envp, char *out, size_t size) {
  char e[256];
  struct stat st;
  if (strchr(file, '/')) {
    if (stat(file, &st) < 0) child_fail("exec: \"%s\": stat %s: %s", file, file, go_strerror(errno, e, sizeof e));
    if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) child_fail("exec: \"%s\": permission denied", file);
    snprintf(out, size, "%s", file);
    return;
  }
  const char *path = "";
  for (char **v = envp; v && *v; v++)
    if (strncmp(*v, "PATH=", 5) == 0) path = *v + 5; /* the last one wins, as in Go's environment */
  for (const char *p = path; *path;) { /* Go splits "" into no entries at all */
    const char *end = strchr(p, ':');
    size_t l = end ? (size_t)(end - p) : strlen(p);
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)l, l ? p : ".");
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dir[--dl] = 0;
    snprintf(out, size, "%s%s%s", strcmp(dir, "/") == 0 ? "" : dir, "/", file);
    if (stat(out, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111)) {
      if (out[0] != '/') child_fail("exec: \"%s\": cannot run executable found relative to current directory", file);
      return;
    }
    if (!end) break;
    p = end + 1;
  }
  child_fail("exec: \"%s\": executable file not found in $PATH", file);
}

/* Opens `path` with no symbolic link anywhere in it (openat2 RESOLVE_NO_SYMLINKS, Linux 5.6; before, O_NOFOLLOW
 * on the last component). */
static int open_nofollow(const char *path, int flags) {
  struct { unsigned long long flags, mode, resolve; } how = {.flags = (unsigned long long)flags, .mode = 0, .resolve = 0x04 | 0x02 /* NO_SYMLINKS | NO_MAGICLINKS */};
  int fd = (int)syscall(437 /* SYS_openat2 */, AT_FDCWD, path, &how, sizeof how);
  if (fd >= 0 || (errno != ENOSYS && errno != E2BIG)) return fd;
  return open(path, flags | O_NOFOLLOW);
}

/* Is `fd` a character device `major`:`minor` (minor -1: any) on a devpts file system? */
static int on_devpts(int fd, unsigned int major_no, int minor_no) {
  struct stat st;
  struct statfs sfs;
  if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0) return 0;
  return sfs.f_type == 0x1cd1 /* DEVPTS_SUPER_MAGIC */ && S_ISCHR(st.st_mode) && major(st.st_rdev) == major_no &&
         (minor_no < 0 || minor(st.st_rdev) == (unsigned int)minor_no);
}

struct cap_header { unsigned int version; int pid; };
struct cap_data { unsigned int effective, permitted, inheritable; };

/* Child B: inside the container's namespaces and cgroups, still root with all our capabilities. */
static void fast_child_b(struct fexec *x, int tty) {
  char e[256];
  if (setsid() < 0) child_fail("setsid: %s", go_strerror(errno, e, sizeof e));
  if (tty) {
    /* The container's devpts instance, opened without following links (the container owns /dev: a link there
     * could point anywhere while we still hold every capability), and checked to be a ptmx of a devpts. */
    int master = open_nofollow("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    int unlock = 0;
    if (master < 0) child_fail("open /dev/pts/ptmx: %s", go_strerror(errno, e, sizeof e));
    if (!on_devpts(master, 5, 2)) child_fail("/dev/pts/ptmx is not a pty multiplexer");
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0) child_fail("unlockpt: %s", go_strerror(errno, e, sizeof e));
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0 && (errno == EINVAL || errno == ENOTTY)) { /* Linux < 4.13: by its number, as runc does */
      unsigned int n;
      char name[64];
      if (ioctl(master, TIOCGPTN, &n) == 0) {
        snprintf(name, sizeof name, "/dev/pts/%u", n);
        slave = open_nofollow(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave >= 0 && !on_devpts(slave, 136, -1)) { close(slave); slave = -1; errno = EPERM; }
      }
    }
    if (slave < 0) child_fail("open pty slave: %s", go_strerror(errno, e, sizeof e));
    char byte = 0;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &master, sizeof master);
    if (sendmsg(MASTER_FD, &msg, 0) < 0) child_fail("send pty master: %s", go_strerror(errno, e, sizeof e));
    close(master);
    close(MASTER_FD);
    for (int fd = 0; fd < 3; fd++) dup2(slave, fd);
    if (slave > 2) close(slave);
    if (ioctl(0, TIOCSCTTY, 0) < 0) child_fail("ioctl(setctty): %s", go_strerror(errno, e, sizeof e));
  }
  struct sock_fprog prog = {.len = fast_filter_len, .filter = fast_filter};
  if (x->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail("prctl(no_new_privs): %s", go_strerror(errno, e, sizeof e));
  if (fast_filter && !x->nnp && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
    child_fail("error loading seccomp filter: %s", go_strerror(errno, e, sizeof e));

  /* finalizeNamespace: the bounding set first, then the user with capabilities kept, then the sets. */
  for (int c = 0; c <= fast_last_cap; c++)
    if (!(x->caps[0] & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      child_fail("drop bounding capability: %s", go_strerror(errno, e, sizeof e));
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) child_fail("prctl(keepcaps): %s", go_strerror(errno, e, sizeof e));
  /* runc tries the working directory as root first (it may be readable only by root), again as the user. */
  int chdir_later = 0;
  if (chdir(x->cwd) < 0) {
    if (errno != EACCES && errno != EPERM) child_fail("chdir to cwd (\"%s\") set in config.json failed: %s", x->cwd, go_strerror(errno, e, sizeof e));
    chdir_later = 1;
  }
  /* fixStdioPermissions: the user must be able to reopen its stdio (/dev/stdout); /dev/null stays as it is. */
  /* The shim's /dev/null is recognised by identity, not by the container's /dev/null, which the container can
   * replace (runc compares device numbers with it; a swapped node would have us chown the host's /dev/null). */
  struct stat null_st, st;
  if (stat("/dev/null", &null_st) < 0) memset(&null_st, 0, sizeof null_st);
  for (int fd = 0; fd < 3; fd++) {
    if (fstat(fd, &st) < 0 || st.st_uid == x->uid) continue;
    if (st.st_dev == host_null.st_dev && st.st_ino == host_null.st_ino) continue;
    if (S_ISCHR(st.st_mode) && (st.st_rdev == host_null.st_rdev || st.st_rdev == null_st.st_rdev)) continue;
    if (fchown(fd, x->uid, (gid_t)-1) < 0 && errno != EINVAL && errno != EPERM && errno != EROFS)
      child_fail("fix stdio permissions: %s", go_strerror(errno, e, sizeof e));
  }
  if (setgroups((size_t)x->ngroups, x->groups) < 0) child_fail("setgroups: %s", go_strerror(errno, e, sizeof e));
  if (setresgid(x->gid, x->gid, x->gid) < 0) child_fail("setgid: %s", go_strerror(errno, e, sizeof e));
  if (setresuid(x->uid, x->uid, x->uid) < 0) child_fail("setuid: %s", go_strerror(errno, e, sizeof e));
  if (chdir_later && chdir(x->cwd) < 0)
    child_fail("chdir to cwd (\"%s\") set in config.json failed: %s", x->cwd, go_strerror(errno, e, sizeof e));
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) child_fail("prctl(keepcaps): %s", go_strerror(errno, e, sizeof e));
  struct cap_header hdr = {.version = 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, .pid = 0};
  struct cap_data data[2];
  for (int i = 0; i < 2; i++) {
    data[i].effective = (unsigned int)(x->caps[1] >> (32 * i));
    data[i].permitted = (unsigned int)(x->caps[2] >> (32 * i));
    data[i].inheritable = (unsigned int)(x->caps[3] >> (32 * i));
  }
  if (syscall(SYS_capset, &hdr, data) < 0) child_fail("apply capabilities: %s", go_strerror(errno, e, sizeof e));
  /* runc sets ambient capabilities one by one and only warns when one fails. */
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int c = 0; c <= fast_last_cap; c++)
    if (x->caps[4] & (1ULL << c)) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);

  char path[4096];
  look_path(x->argv[0], x->envp, path, sizeof path);
  if (fast_filter && x->nnp && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
    child_fail("error loading seccomp filter: %s", go_strerror(errno, e, sizeof e));
  /* Started, as far as berthd is concerned (runc's parent stops listening here too); an execve failure is the
   * process's own: its stderr and exit status 1, as with runc. */
  close(ST_FD);
  execve(path, x->argv, x->envp ? x->envp : (char *[]){NULL});
  dprintf(2, "exec %s: %s\n", path, go_strerror(errno, e, sizeof e));
  _exit(1);
}

/* Closes every fd from `low` up (close_range needs Linux 5.9; before, what /proc/self/fd lists). */
static void close_from(int low) {
  if (syscall(SYS_close_range, low, ~0U, 0) == 0) return;
  int fds[4096], n = 0;
  int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (!d) _exit(1); /* never start a process that could inherit the shim's fds */
  for (struct dirent *ent; (ent = readdir(d)) && n < 4096;) {
    int fd = atoi(ent->d_name);
    if (ent->d_name[0] >= '0' && ent->d_name[0] <= '9' && fd >= low && fd != dfd) fds[n++] = fd;
  }
  closedir(d);
  for (int i = 0; i < n; i++) close(fds[i]);
  if (n == 4096) close_from(low); /* more than one batch */
}

/* Child A: the host side. Never returns. */
static void fast_child_a(struct fexec *x, int tty, int in_fd, int out_fd, int err_fd, int st_fd, int sock_fd) {
  char e[256];
  sigset_t none;
  sigemptyset(&none);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* stdio, the status pipe at 3 and the pty socket at 4; nothing else of the shim may reach the container. */
  int hi_st = fcntl(st_fd, F_DUPFD_CLOEXEC, 10), hi_sock = sock_fd >= 0 ? fcntl(sock_fd, F_DUPFD_CLOEXEC, 10) : -1;
  if (hi_st < 0) _exit(1);
  dup2(in_fd, 0);
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  dup3(hi_st, ST_FD, O_CLOEXEC);
  if (hi_sock >= 0) dup3(hi_sock, MASTER_FD, O_CLOEXEC);
  close_from(hi_sock >= 0 ? MASTER_FD + 1 : ST_FD + 1);

  for (int i = 0; i < x->nrlimits; i++)
    if (setrlimit(x->rlimits[i].resource, &x->rlimits[i].lim) < 0) child_fail("setrlimit: %s", go_strerror(errno, e, sizeof e));
  if (x->has_oom) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || dprintf(fd, "%d", x->oom) < 0) child_fail("set oom_score_adj: %s", go_strerror(errno, e, sizeof e));
    close(fd);
  }
  char ring[128];
  snprintf(ring, sizeof ring, "_ses.%s", opt_id);
  /* Not berthd's session keyring; as runc, only a kernel without keyrings is let off. */
  if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, ring) < 0 && errno != ENOSYS)
    child_fail("unable to join session keyring: %s", go_strerror(errno, e, sizeof e));

  char pid_text[16];
  snprintf(pid_text, sizeof pid_text, "%d", getpid());
  for (int i = 0; i < fast_ncgroups; i++) {
    int fd = open(fast_cgroups[i], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, pid_text, strlen(pid_text)) < 0)
      child_fail("failed to join cgroup %s: %s", fast_cgroups[i], go_strerror(errno, e, sizeof e));
    close(fd);
  }
  /* The mount namespace last: opening the others goes through our /proc. */
  static const struct { const char *name; int type; } order[] = {
    {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID},
    {"cgroup", CLONE_NEWCGROUP}, {"time", 0x80 /* CLONE_NEWTIME */}, {"mnt", CLONE_NEWNS},
  };
  int fds[7];
  for (int i = 0; i < 7; i++) {
    fds[i] = -1;
    char p[64];
    snprintf(p, sizeof p, "/proc/%d/ns/%s", container_pid, order[i].name);
    int same = same_ns(container_pid, order[i].name);
    if (same == 1) continue;
    if (same == -1 || (fds[i] = open(p, O_RDONLY | O_CLOEXEC)) < 0) child_fail("container init is gone (%s)", p);
  }
  for (int i = 0; i < 7; i++)
    if (fds[i] >= 0 && (setns(fds[i], order[i].type) < 0 || close(fds[i]) < 0))
      child_fail("failed to setns to %s namespace: %s", order[i].name, go_strerror(errno, e, sizeof e));
  pid_t b = fork();
  if (b < 0) child_fail("fork: %s", go_strerror(errno, e, sizeof e));
  if (b == 0) fast_child_b(x, tty);
  char line[32];
  int l = snprintf(line, sizeof line, "pid %d\n", b);
  write_all(ST_FD, line, (size_t)l);
  _exit(0);
}

/* Receives the pty master B sent (already queued: B sends it before it can finish). */
static int recv_master(int sock) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  int fd = -1;
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) > 0) {
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  }
  return fd;
}

/* Starts exec `id` for client `ci` without runc. Returns the proc, or NULL with "err ..." in `reply`. */
static struct proc *start_exec(int ci, const char *id, int tty, int with_stdin, const char *process_json, char *reply, size_t rsize);

/* A fast exec between its fork and its answer. The shim's loop keeps serving meanwhile (attach, kill, logs,
 * other execs): a helper the container stops (SIGSTOP on B, a cgroup frozen under A) costs its exec, not the
 * container's stdio. */
struct fstart {
  struct proc *p;
  int ci, tty, with_stdin;
  int st, sock, out, err, in, null;
  pid_t a, b;              /* helper A; B once A's "pid" line came */
  int a_done, b_done, b_status; /* reaped by the loop's reaper while the start was pending */
  long long deadline;
  size_t len;
  char buf[8192];
};
static struct fstart *fstarts[MAX_PROCS];
#define START_TIMEOUT_MS 10000

/* Starts exec `id` for client `ci`: without runc when it can (else through start_exec with the runc file).
 * Returns the proc when it started at once, NULL with "err ..." in `reply`, or NULL with an empty reply when
 * the start goes on in the background (fast_start_finish answers the client). */
static struct proc *fast_exec(int ci, const char *id, int tty, int with_stdin, const char *runc_file, const char *file, char *reply, size_t rsize) {
  struct fexec x;
  if (fexec_parse(file, &x) < 0 || (x.seccomp && !fast_filter)) {
    /* Something this path does not do, or a container whose init should have a filter and has none. */
    fexec_free(&x);
    return start_exec(ci, id, tty, with_stdin, runc_file, reply, rsize);
  }
  int slot = -1;
  for (int i = 0; i < MAX_PROCS && slot < 0; i++)
    if (!fstarts[i]) slot = i;
  struct fstart *fs = slot >= 0 ? calloc(1, sizeof *fs) : NULL;
  struct proc *p = fs ? proc_new(id) : NULL;
  if (!p) { free(fs); fexec_free(&x); snprintf(reply, rsize, "err too many exec processes\n"); return NULL; }
  int out[2] = {-1, -1}, err[2] = {-1, -1}, in[2] = {-1, -1}, st[2] = {-1, -1}, sock[2] = {-1, -1};
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0 && fstat(null, &host_null) < 0) close_fd(&null);
  if (null < 0 || pipe2(st, O_CLOEXEC) < 0 || (!tty && (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)) ||
      (!tty && with_stdin && pipe2(in, O_CLOEXEC) < 0) || (tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) < 0)) {
    snprintf(reply, rsize, "err pipe: %s\n", strerror(errno));
    goto fail;
  }
  pid_t a = fork();
  if (a < 0) { snprintf(reply, rsize, "err fork: %s\n", strerror(errno)); goto fail; }
  if (a == 0) {
    if (tty) fast_child_a(&x, 1, null, null, null, st[1], sock[1]);
    else fast_child_a(&x, 0, with_stdin ? in[0] : null, out[1], err[1], st[1], -1);
  }
  fexec_free(&x);
  close_fd(&st[1]); close_fd(&out[1]); close_fd(&err[1]); close_fd(&in[0]); close_fd(&sock[1]); close_fd(&null);
  set_nonblock(st[0]);
  *fs = (struct fstart){.p = p, .ci = ci, .tty = tty, .with_stdin = with_stdin, .st = st[0], .sock = sock[0],
                        .out = out[0], .err = err[0], .in = in[1], .null = -1, .a = a, .deadline = now_ms() + START_TIMEOUT_MS};
  fstarts[slot] = fs;
  reply[0] = 0;
  return NULL;
fail:
  close_fd(&out[0]); close_fd(&out[1]); close_fd(&err[0]); close_fd(&err[1]); close_fd(&in[0]); close_fd(&in[1]);
  close_fd(&st[0]); close_fd(&st[1]); close_fd(&sock[0]); close_fd(&sock[1]); close_fd(&null);
  fexec_free(&x);
  free(fs);
  p->used = 0;
  return NULL;
}

/* A helper's status is nobody's: reaped now if it has ended, dropped from the reaper's record if the loop took
 * it first, or dropped when it comes (never waited for: the container can stop or freeze its processes). */
static void reap_helper(pid_t pid) {
  int st;
  pid_t r;
  while ((r = waitpid(pid, &st, WNOHANG)) < 0 && errno == EINTR) {}
  if (r == 0) discard_status(pid);
  else if (r < 0) claim_early(pid);
}

/* A's "pid" line and EOF came (or the deadline, or the container ended: `why`): the client gets its answer. */
static void fast_start_finish(int slot, const char *why) {
  struct fstart *fs = fstarts[slot];
  struct proc *p = fs->p;
  fs->buf[fs->len] = 0;
  /* Lines: "pid N" from A, "err ..." from A or B (child_fail keeps each message on one line). */
  pid_t pid = 0;
  char *el = NULL, reply[4200];
  for (char *line = fs->buf, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    if (strncmp(line, "pid ", 4) == 0 && !pid) pid = (pid_t)atoi(line + 4);
    else if (strncmp(line, "err ", 4) == 0 && !el) el = line;
  }
  /* B's status came to this start if the reaper met B after A named it. */
  int b_done = fs->b_done && fs->b == pid, b_status = fs->b_status;
  if (why) {
    /* Still running somewhere (frozen or stopped): ended here, and their statuses dropped when they come.
     * Killed only while not reaped yet: an unreaped pid cannot belong to anyone else. */
    if (!fs->a_done && claim_early(fs->a) == -1) { kill(fs->a, SIGKILL); reap_helper(fs->a); }
    if (pid > 0 && !b_done && claim_early(pid) == -1) { kill(pid, SIGKILL); reap_helper(pid); }
  } else if (!fs->a_done) {
    reap_helper(fs->a); /* it has closed its end: it is exiting */
  }
  int master = fs->tty ? recv_master(fs->sock) : -1;
  if (why || el || pid <= 0 || (fs->tty && master < 0)) {
    if (el) snprintf(reply, sizeof reply, "%.4000s\n", el);
    else snprintf(reply, sizeof reply, "err exec failed: unable to start container process%s%s\n", why ? ": " : "", why ? why : "");
    if (pid > 0 && !why && !b_done) reap_helper(pid); /* B ends after its error */
    close_fd(&master);
    close_fd(&fs->out); close_fd(&fs->err); close_fd(&fs->in);
    p->used = 0;
    if (fs->ci >= 0) client_queue(&clients[fs->ci], reply, strlen(reply));
  } else {
    proc_started(p, fs->ci, pid, b_done ? b_status : -1, fs->tty, fs->with_stdin, master, fs->out, fs->err, fs->in);
    if (fs->ci >= 0) {
      struct client *c = &clients[fs->ci];
      c->mode = C_EXEC;
      c->proc = (int)(p - procs);
      c->want_in = fs->with_stdin;
      c->want_out = c->want_err = 1;
      snprintf(reply, sizeof reply, "ok %d\n", pid);
      client_queue(c, reply, strlen(reply));
    }
  }
  close_fd(&fs->st);
  close_fd(&fs->sock);
  free(fs);
  fstarts[slot] = NULL;
}

/* The status pipe of start `slot` is readable. */
static void fast_start_read(int slot) {
  struct fstart *fs = fstarts[slot];
  for (;;) {
    if (fs->len == sizeof fs->buf - 1) { fast_start_finish(slot, NULL); return; }
    ssize_t n = read(fs->st, fs->buf + fs->len, sizeof fs->buf - 1 - fs->len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) { fast_start_finish(slot, NULL); return; }
    fs->len += (size_t)n;
    fs->buf[fs->len] = 0;
    /* B's pid as soon as A says it, so that the reaper can hand B's status to this start (fast_start_reaped). */
    for (char *line = fs->buf, *nl; !fs->b && (nl = strchr(line, '\n')); line = nl + 1)
      if (strncmp(line, "pid ", 4) == 0) fs->b = (pid_t)atoi(line + 4);
  }
}

/* The reaper found a pending start's helper (A, or B already ended): kept here, not in the shim's record. */
static int fast_start_reaped(pid_t pid, int status) {
  for (int i = 0; i < MAX_PROCS; i++) {
    struct fstart *fs = fstarts[i];
    if (!fs) continue;
    if (pid == fs->a && !fs->a_done) { fs->a_done = 1; return 1; }
    if (fs->b && pid == fs->b && !fs->b_done) { fs->b_done = 1; fs->b_status = status; return 1; }
  }
  return 0;
}

/* A client that left no longer gets an answer (its slot may serve someone else next). */
static void fast_start_client_gone(int ci) {
  for (int i = 0; i < MAX_PROCS; i++)
    if (fstarts[i] && fstarts[i]->ci == ci) fstarts[i]->ci = -1;
}
