/* enter_file.c: the fast-exec file berthd writes for one exec (enter.h; the writer is runtime/index.ts). */
#include "shim.h"
#include "enter.h"

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
_Static_assert(N_RLIMITS <= MAX_RLIMITS, "struct fexec holds every rlimit");

static unsigned long long cap_mask(const char *list) {
  unsigned long long m = 0;
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ',');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    /* Unknown names and capabilities this kernel lacks are skipped, as runc does. */
    for (int i = 0; i < N_CAP_NAMES && i <= fx.last_cap; i++)
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

void fexec_free(struct fexec *x) {
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

int fexec_parse(const char *file, struct fexec *x) {
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
        if (strcmp(rlimit_names[i].name, tok[0]) == 0 && x->nrlimits < MAX_RLIMITS) {
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
