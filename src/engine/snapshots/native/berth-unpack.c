// The two things Node's fs cannot do while unpacking a layer: mknod (device nodes, fifos and overlay
// whiteouts, which are 0/0 character devices) and lsetxattr (security.capability, trusted.overlay.opaque).
// Reads NUL-separated records from stdin, one operation each, and stops at the first failure:
//   m PATH MODE(octal, with type bits) MAJOR MINOR UID GID MTIME_SEC MTIME_NSEC
//   x PATH NAME HEXVALUE
//   t PATH                 (marks a directory "top of a hierarchy": see below; never fails)
// The engine has already confined PATH to the snapshot (no "..", no symlinked parents); this helper never
// follows a final symlink either (lsetxattr, lchown, AT_SYMLINK_NOFOLLOW).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static char *field(void) {
  static char *buf = NULL;
  static size_t cap = 0;
  ssize_t n = getdelim(&buf, &cap, '\0', stdin);
  if (n <= 0) return NULL;
  return strdup(buf);
}

static int unhex(const char *hex, unsigned char **out, size_t *len) {
  size_t n = strlen(hex);
  if (n % 2) return -1;
  *len = n / 2;
  *out = malloc(*len + 1);
  for (size_t i = 0; i < *len; i++) {
    unsigned int v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1) return -1;
    (*out)[i] = (unsigned char)v;
  }
  return 0;
}

int main(void) {
  char *op;
  while ((op = field()) != NULL) {
    if (strcmp(op, "m") == 0) {
      char *f[8];
      for (int i = 0; i < 8; i++) if (!(f[i] = field())) { fprintf(stderr, "truncated record\n"); return 2; }
      mode_t mode = (mode_t)strtoul(f[1], NULL, 8);
      dev_t dev = makedev(strtoul(f[2], NULL, 10), strtoul(f[3], NULL, 10));
      if (mknod(f[0], mode, dev) != 0) { fprintf(stderr, "mknod %s: %s\n", f[0], strerror(errno)); return 1; }
      if (lchown(f[0], (uid_t)strtoul(f[4], NULL, 10), (gid_t)strtoul(f[5], NULL, 10)) != 0) { fprintf(stderr, "lchown %s: %s\n", f[0], strerror(errno)); return 1; }
      if (chmod(f[0], mode & 07777) != 0) { fprintf(stderr, "chmod %s: %s\n", f[0], strerror(errno)); return 1; }
      struct timespec ts[2];
      ts[0].tv_sec = ts[1].tv_sec = (time_t)strtoll(f[6], NULL, 10);
      ts[0].tv_nsec = ts[1].tv_nsec = strtol(f[7], NULL, 10);
      if (utimensat(AT_FDCWD, f[0], ts, AT_SYMLINK_NOFOLLOW) != 0) { fprintf(stderr, "utimensat %s: %s\n", f[0], strerror(errno)); return 1; }
      for (int i = 0; i < 8; i++) free(f[i]);
    } else if (strcmp(op, "x") == 0) {
      char *f[3];
      for (int i = 0; i < 3; i++) if (!(f[i] = field())) { fprintf(stderr, "truncated record\n"); return 2; }
      unsigned char *value;
      size_t len;
      if (unhex(f[2], &value, &len) != 0) { fprintf(stderr, "bad hex value for %s\n", f[1]); return 2; }
      if (lsetxattr(f[0], f[1], value, len, 0) != 0) { fprintf(stderr, "lsetxattr %s %s: %s\n", f[0], f[1], strerror(errno)); return 1; }
      free(value);
      for (int i = 0; i < 3; i++) free(f[i]);
    } else if (strcmp(op, "t") == 0) {
      // ext4 without a journal skips inodes deleted in the last minutes when it allocates new ones, scanning
      // past each of them: after a 10,000-file layer is removed, unpacking another one next to it costs
      // seconds of kernel time (O(n^2)). The TOPDIR flag (chattr +T) makes ext4's Orlov allocator spread this
      // directory's subdirectories over block groups, so a new layer rarely lands among fresh deletions.
      // Only a hint: filesystems without it (ENOTTY, EOPNOTSUPP) are fine as they are.
      char *dir = field();
      if (!dir) { fprintf(stderr, "truncated record\n"); return 2; }
      int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      int flags;
      if (fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && !(flags & FS_TOPDIR_FL)) {
        flags |= FS_TOPDIR_FL;
        ioctl(fd, FS_IOC_SETFLAGS, &flags);
      }
      if (fd >= 0) close(fd);
      free(dir);
    } else {
      fprintf(stderr, "unknown operation %s\n", op);
      return 2;
    }
    free(op);
  }
  return 0;
}
