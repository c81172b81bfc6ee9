/*
 * enter_seccomp.c: the container's seccomp program for fast exec where it cannot be copied from the init (enter.h).
 *
 * fast_prepare copies the init's filter with PTRACE_SECCOMP_GET_FILTER, which the kernel allows only to
 * CAP_SYS_ADMIN of the initial user namespace: never in a rootless engine. There berthd writes the spec's
 * linux.seccomp as lines of numbers (seccomp.fx in the bundle; runtime/shim.ts seccompRequest) and this file builds
 * the program the way runc 1.1 does (libcontainer/seccomp InitSeccomp and patchbpf) with the same libseccomp:
 *   - seccomp_init(default action), the spec's architectures added;
 *   - one rule per syscall name, skipped when the name is unknown here or its action is the default one (berthd has
 *     already split a rule naming an argument twice into one rule per condition);
 *   - the program exported, and runc's -ENOSYS stub put before it: for each architecture of the spec, a syscall
 *     number above the largest one the rules name (for that architecture) gets ENOSYS instead of the default
 *     action, so that a libc falls back from a syscall newer than the profile (x32 told apart from x86_64 by bit
 *     30). No stub when the default action lets calls through, or is already ENOSYS.
 * Built only where libseccomp's static library was found (scripts/build.mjs); elsewhere compile_filter fails and
 * such execs go through runc.
 */
#include "shim.h"
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include "enter.h"

#ifndef BERTH_LIBSECCOMP
int compile_filter(const char *file) {
  (void)file;
  return -1;
}
#else
#include <seccomp.h>

#define MAX_ARCHES 8
#define STUB_MAX 64
#define RET_ENOSYS (SECCOMP_RET_ERRNO | ENOSYS)

/* runc's nativeArch: the AUDIT_ARCH value the kernel puts in seccomp_data.arch (x32 runs as x86_64). */
static uint32_t native_arch(uint32_t scmp) {
  return scmp == SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : scmp;
}

/* A stub being built backwards, as runc does: instructions are put before the ones already there. */
struct stub {
  struct sock_filter ins[STUB_MAX];
  int len;
};
static int put(struct stub *s, struct sock_filter i) {
  if (s->len == STUB_MAX) return -1;
  memmove(s->ins + 1, s->ins, sizeof *s->ins * (size_t)s->len);
  s->ins[0] = i;
  s->len++;
  return 0;
}
/* Puts a sequence before the stub, in its own order. */
static int put_all(struct stub *s, const struct sock_filter *seq, int n) {
  for (int i = n - 1; i >= 0; i--)
    if (put(s, seq[i]) < 0) return -1;
  return 0;
}
#define JUMP(code, k, jt, jf) ((struct sock_filter)BPF_JUMP(code, k, jt, jf))
#define STMT(code, k) ((struct sock_filter)BPF_STMT(code, k))

/* runc's generateEnosysStub: `natives[i]` has `count[i]` (1, or 2 for x86_64 with x32) largest syscall numbers. */
struct arch_max {
  uint32_t native;
  int count;
  uint32_t scmp[2];
  int32_t largest[2];
};
static int enosys_stub(struct arch_max *arches, int narches, struct stub *s) {
  uint32_t table[MAX_ARCHES] = {0};
  s->len = 0;
  struct sock_filter tail[] = {STMT(BPF_JMP | BPF_JA, 1), STMT(BPF_RET | BPF_K, RET_ENOSYS)};
  if (put_all(s, tail, 2) < 0) return -1;
  for (int a = 0; a < narches; a++) {
    struct arch_max *m = &arches[a];
    uint32_t to_enosys = (uint32_t)s->len - 1, to_filter = to_enosys + 1;
    struct sock_filter sec[8];
    int n = 0;
    sec[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, 0); /* the syscall number */
    if (m->count == 1) {
      struct sock_filter t[4];
      int k = 0;
      if (to_enosys + 1 <= 255) {
        t[k++] = JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)m->largest[0], (uint8_t)(to_enosys + 1), 0);
        t[k++] = STMT(BPF_JMP | BPF_JA, to_filter);
      } else {
        t[k++] = JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)m->largest[0], 0, 1);
        t[k++] = STMT(BPF_RET | BPF_K, RET_ENOSYS);
        t[k++] = STMT(BPF_JMP | BPF_JA, to_filter);
      }
      if (m->native == AUDIT_ARCH_X86_64) {
        /* Only the calls of this mode: x86_64 skips x32's (bit 30 set), x32 the others. */
        struct sock_filter mode = m->scmp[0] == SCMP_ARCH_X32
                                      ? JUMP(BPF_JMP | BPF_JSET | BPF_K, 1u << 30, 0, (uint8_t)(k - 1))
                                      : JUMP(BPF_JMP | BPF_JSET | BPF_K, 1u << 30, (uint8_t)(k - 1), 0);
        sec[n++] = mode;
      }
      for (int i = 0; i < k; i++) sec[n++] = t[i];
    } else {
      int x32 = m->scmp[0] == SCMP_ARCH_X32 ? 0 : 1, x86 = 1 - x32;
      if (to_enosys + 2 <= 255) {
        sec[n++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, 1u << 30, 1, 0);
        sec[n++] = JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)m->largest[x86], (uint8_t)(to_enosys + 2), 1);
        sec[n++] = JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)m->largest[x32], (uint8_t)(to_enosys + 1), 0);
        sec[n++] = STMT(BPF_JMP | BPF_JA, to_filter);
      } else {
        sec[n++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, 1u << 30, 1, 0);
        sec[n++] = JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)m->largest[x86], 1, 2);
        sec[n++] = JUMP(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)m->largest[x32], 0, 1);
        sec[n++] = STMT(BPF_RET | BPF_K, RET_ENOSYS);
        sec[n++] = STMT(BPF_JMP | BPF_JA, to_filter);
      }
    }
    if (put_all(s, sec, n) < 0) return -1;
    table[a] = (uint32_t)s->len;
  }
  if (put(s, STMT(BPF_JMP | BPF_JA, (uint32_t)s->len)) < 0) return -1;
  for (int a = 0; a < narches; a++) {
    uint32_t jump = (uint32_t)s->len - table[a];
    if (jump <= 255) {
      if (put(s, JUMP(BPF_JMP | BPF_JEQ | BPF_K, arches[a].native, (uint8_t)jump, 0)) < 0) return -1;
    } else {
      struct sock_filter far[] = {JUMP(BPF_JMP | BPF_JEQ | BPF_K, arches[a].native, 0, 1), STMT(BPF_JMP | BPF_JA, jump)};
      if (put_all(s, far, 2) < 0) return -1;
    }
  }
  return put(s, STMT(BPF_LD | BPF_W | BPF_ABS, 4)); /* the architecture */
}

struct rule {
  char name[64];
  uint32_t action;
  unsigned ncond;
  struct scmp_arg_cmp cond[6];
};

int compile_filter(const char *file) {
  FILE *f = fopen(file, "re");
  if (!f) return -1;
  uint32_t def = 0, scmp_arches[MAX_ARCHES];
  int have_default = 0, narch = 0, nrules = 0, cap = 0, bad = 0;
  long default_errno = -1;
  struct rule *rules = NULL;
  char line[1024];
  while (!bad && fgets(line, sizeof line, f)) {
    char word[64], rest[16];
    if (sscanf(line, "default %u %15s", &def, rest) == 2) {
      have_default = 1;
      if (strcmp(rest, "-") != 0) default_errno = strtol(rest, NULL, 10);
    } else if (sscanf(line, "arch %63s", word) == 1) {
      uint32_t a = seccomp_arch_resolve_name(word);
      if (!a || narch == MAX_ARCHES) bad = 1;
      else scmp_arches[narch++] = a;
    } else if (strncmp(line, "rule ", 5) == 0) {
      if (nrules == cap) {
        struct rule *grown = realloc(rules, sizeof *rules * (size_t)(cap = cap ? cap * 2 : 256));
        if (!grown) { bad = 1; break; }
        rules = grown;
      }
      struct rule *r = &rules[nrules];
      int used = 0;
      memset(r, 0, sizeof *r);
      if (sscanf(line, "rule %63s %u%n", r->name, &r->action, &used) != 2) { bad = 1; break; }
      const char *p = line + used;
      unsigned idx, op;
      unsigned long long a, b;
      int more;
      while (sscanf(p, " %u %u %llu %llu%n", &idx, &op, &a, &b, &more) == 4) {
        if (r->ncond == 6 || idx > 5 || op < SCMP_CMP_NE || op > SCMP_CMP_MASKED_EQ) { bad = 1; break; }
        r->cond[r->ncond++] = (struct scmp_arg_cmp){.arg = idx, .op = (enum scmp_compare)op, .datum_a = a, .datum_b = b};
        p += more;
      }
      nrules++;
    } else {
      bad = 1;
    }
  }
  fclose(f);
  scmp_filter_ctx ctx = have_default && !bad ? seccomp_init(def) : NULL;
  int ok = ctx != NULL;
  for (int i = 0; ok && i < narch; i++) {
    int rc = seccomp_arch_add(ctx, scmp_arches[i]);
    if (rc < 0 && rc != -EEXIST) ok = 0;
  }
  for (int i = 0; ok && i < nrules; i++) {
    struct rule *r = &rules[i];
    int nr = seccomp_syscall_resolve_name(r->name);
    if (nr == __NR_SCMP_ERROR || r->action == def) continue; /* unknown here, or nothing to add: as runc */
    if (seccomp_rule_add_array(ctx, r->action, nr, r->ncond, r->cond) < 0) ok = 0;
  }
  /* The -ENOSYS stub, unless the default lets calls through or is ENOSYS already (runc's generatePatch). */
  struct stub stub = {.len = 0};
  int allow = def == SCMP_ACT_ALLOW || def == SCMP_ACT_LOG || (def & SECCOMP_RET_ACTION_FULL) == SCMP_ACT_TRACE(0);
  if (ok && !allow && default_errno != ENOSYS) {
    struct arch_max arches[MAX_ARCHES];
    int n = 0;
    for (int i = 0; i < narch; i++) {
      uint32_t scmp = scmp_arches[i] == SCMP_ARCH_NATIVE ? seccomp_arch_native() : scmp_arches[i];
      int32_t largest = 0;
      for (int j = 0; j < nrules; j++) {
        int nr = seccomp_syscall_resolve_name_arch(scmp, rules[j].name);
        if (nr != __NR_SCMP_ERROR && nr > largest) largest = nr;
      }
      if (!largest) continue;
      struct arch_max *m = NULL;
      for (int k = 0; k < n && !m; k++)
        if (arches[k].native == native_arch(scmp)) m = &arches[k];
      if (!m) { m = &arches[n++]; *m = (struct arch_max){.native = native_arch(scmp)}; }
      int seen = 0;
      for (int k = 0; k < m->count; k++) seen |= m->scmp[k] == scmp;
      if (seen) continue;
      if (m->count == 2) { ok = 0; break; }
      m->scmp[m->count] = scmp;
      m->largest[m->count++] = largest;
    }
    for (int k = 0; ok && k < n; k++)
      if (arches[k].count == 2 && arches[k].native != AUDIT_ARCH_X86_64) ok = 0; /* runc refuses it too */
    if (ok && enosys_stub(arches, n, &stub) < 0) ok = 0;
  }
  /* The program, after the stub. */
  int mfd = ok ? memfd_create("berth-seccomp", MFD_CLOEXEC) : -1;
  if (mfd < 0 || seccomp_export_bpf(ctx, mfd) < 0) ok = 0;
  off_t size = ok ? lseek(mfd, 0, SEEK_END) : 0;
  size_t count = (size_t)size / sizeof(struct sock_filter) + (size_t)stub.len;
  if (ok && (size <= 0 || size % (off_t)sizeof(struct sock_filter) || count > BPF_MAXINSNS)) ok = 0;
  struct sock_filter *prog = ok ? calloc(count, sizeof *prog) : NULL;
  if (prog) {
    memcpy(prog, stub.ins, sizeof *prog * (size_t)stub.len);
    if (pread(mfd, prog + stub.len, (size_t)size, 0) != size) { free(prog); prog = NULL; }
  }
  if (mfd >= 0) close(mfd);
  if (ctx) seccomp_release(ctx);
  free(rules);
  if (!prog) return -1;
  fx.filter = prog;
  fx.filter_len = (unsigned short)count;
  return 0;
}
#endif
