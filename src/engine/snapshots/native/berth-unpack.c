// Applies the filesystem operations of a layer unpack, in order, for the engine (snapshots/unpack.ts), which
// parses the tar and decides everything: names, confinement, whiteouts, what replaces what. Doing the syscalls
// here keeps them off the engine's event loop (a 10,000-file layer is ~50,000 of them) and lets them run on
// another core while the engine decompresses and hashes; it also does what Node's fs cannot (mknod, lsetxattr).
// Reads NUL-terminated fields from stdin, one operation each, and stops at the first failure (exit 1):
//   d PATH                                   mkdir -p (mode 0755; an existing directory is fine)
//   f PATH MODE UID GID SEC NSEC SIZE <SIZE raw bytes>   a new regular file
//   l PATH TARGET UID GID SEC NSEC           a symlink
//   h TARGET PATH                            a hard link
//   r PATH                                   remove, recursively, without following symlinks (absent is fine)
//   a PATH MODE UID GID SEC NSEC             owner, mode and mtime of a directory
//   m PATH MODE(octal, with type bits) MAJOR MINOR UID GID SEC NSEC
//   x PATH NAME HEXVALUE
//   t PATH                                   marks a directory "top of a hierarchy": see below; never fails
// MODEs are octal. The engine has already confined every PATH to the snapshot (no "..", no symlinked
// parents); this helper never follows a final symlink either (O_NOFOLLOW, lchown, lsetxattr, AT_SYMLINK_NOFOLLOW).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_FIELDS 9

static char *fields[MAX_FIELDS];
static size_t caps[MAX_FIELDS];
static char data[1 << 20];

static int read_field(int i) {
  ssize_t n = getdelim(&fields[i], &caps[i], '\0', stdin);
  return n > 0;
}

static int read_fields(int n) {
  for (int i = 0; i < n; i++) {
    if (!read_field(i)) { fprintf(stderr, "truncated record\n"); exit(2); }
  }
  return 0;
}

static int fail(const char *what, const char *path) {
  fprintf(stderr, "%s %s: %s\n", what, path, strerror(errno));
  exit(1);
}

static unsigned long num(int i, int base) { return strtoul(fields[i], NULL, base); }

static void times_of(int sec, struct timespec ts[2]) {
  ts[0].tv_sec = ts[1].tv_sec = (time_t)strtoll(fields[sec], NULL, 10);
  ts[0].tv_nsec = ts[1].tv_nsec = strtol(fields[sec + 1], NULL, 10);
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

static int mkdir_p(char *path) {
  if (mkdir(path, 0755) == 0) return 0;
  if (errno == EEXIST) {
    struct stat st;
    if (lstat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) { errno = ENOTDIR; return -1; }
    return 0;
  }
  if (errno != ENOENT) return -1;
  char *slash = strrchr(path, '/');
  if (!slash || slash == path) return -1;
  *slash = '\0';
  int r = mkdir_p(path);
  *slash = '/';
  if (r != 0) return -1;
  if (mkdir(path, 0755) == 0 || errno == EEXIST) return 0;
  return -1;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st; (void)ftw;
  int r = (type == FTW_DP) ? rmdir(path) : unlink(path);
  if (r != 0 && errno != ENOENT) fail("remove", path);
  return 0;
}

static void write_file(void) {
  read_fields(7);
  const char *path = fields[0];
  mode_t mode = (mode_t)num(1, 8) & 07777;
  uid_t uid = (uid_t)num(2, 10);
  gid_t gid = (gid_t)num(3, 10);
  struct timespec ts[2];
  times_of(4, ts);
  unsigned long long size = strtoull(fields[6], NULL, 10);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
  if (fd < 0) fail("open", path);
  while (size > 0) {
    size_t want = size < sizeof data ? (size_t)size : sizeof data;
    size_t got = fread(data, 1, want, stdin);
    if (got == 0) { fprintf(stderr, "truncated file data for %s\n", path); exit(2); }
    for (size_t off = 0; off < got;) {
      ssize_t w = write(fd, data + off, got - off);
      if (w < 0) { if (errno == EINTR) continue; fail("write", path); }
      off += (size_t)w;
    }
    size -= got;
  }
  // The process runs as root with umask 0: a new file is root's with exactly mode & 0777.
  if ((uid != 0 || gid != 0 || geteuid() != 0) && fchown(fd, uid, gid) != 0) fail("chown", path);
  if ((mode & 07000) && fchmod(fd, mode) != 0) fail("chmod", path); // after chown, which clears setuid bits
  if (futimens(fd, ts) != 0) fail("utimens", path);
  if (close(fd) != 0) fail("close", path);
}

int main(void) {
  static char inbuf[1 << 20];
  setvbuf(stdin, inbuf, _IOFBF, sizeof inbuf);
  fcntl(0, F_SETPIPE_SZ, 1 << 20); // fewer, larger writes for the engine (best effort: stdin may be a file)
  umask(0);
  char *op = NULL;
  size_t opcap = 0;
  while (getdelim(&op, &opcap, '\0', stdin) > 0) {
    if (strcmp(op, "f") == 0) {
      write_file();
    } else if (strcmp(op, "d") == 0) {
      read_fields(1);
      if (mkdir_p(fields[0]) != 0) fail("mkdir", fields[0]);
    } else if (strcmp(op, "l") == 0) {
      read_fields(6);
      struct timespec ts[2];
      times_of(4, ts);
      if (symlink(fields[1], fields[0]) != 0) fail("symlink", fields[0]);
      if (lchown(fields[0], (uid_t)num(2, 10), (gid_t)num(3, 10)) != 0) fail("lchown", fields[0]);
      if (utimensat(AT_FDCWD, fields[0], ts, AT_SYMLINK_NOFOLLOW) != 0) fail("utimensat", fields[0]);
    } else if (strcmp(op, "h") == 0) {
      read_fields(2);
      if (link(fields[0], fields[1]) != 0) fail("link", fields[1]);
    } else if (strcmp(op, "r") == 0) {
      read_fields(1);
      if (nftw(fields[0], remove_one, 64, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT) fail("remove", fields[0]);
    } else if (strcmp(op, "a") == 0) {
      read_fields(6);
      struct timespec ts[2];
      times_of(4, ts);
      int fd = open(fields[0], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) fail("open", fields[0]);
      if (fchown(fd, (uid_t)num(2, 10), (gid_t)num(3, 10)) != 0) fail("chown", fields[0]);
      if (fchmod(fd, (mode_t)num(1, 8) & 07777) != 0) fail("chmod", fields[0]);
      if (futimens(fd, ts) != 0) fail("utimens", fields[0]);
      close(fd);
    } else if (strcmp(op, "m") == 0) {
      read_fields(8);
      mode_t mode = (mode_t)num(1, 8);
      dev_t dev = makedev(num(2, 10), num(3, 10));
      struct timespec ts[2];
      times_of(6, ts);
      /* The mode is exact (umask 0). No chmod after: it follows symlinks, and `docker cp` makes nodes in a
       * running container's tree, where the name could be swapped for a link before it ran. */
      if (mknod(fields[0], mode, dev) != 0) fail("mknod", fields[0]);
      if (lchown(fields[0], (uid_t)num(4, 10), (gid_t)num(5, 10)) != 0) fail("lchown", fields[0]);
      if (utimensat(AT_FDCWD, fields[0], ts, AT_SYMLINK_NOFOLLOW) != 0) fail("utimensat", fields[0]);
    } else if (strcmp(op, "x") == 0) {
      read_fields(3);
      unsigned char *value;
      size_t len;
      if (unhex(fields[2], &value, &len) != 0) { fprintf(stderr, "bad hex value for %s\n", fields[1]); return 2; }
      if (lsetxattr(fields[0], fields[1], value, len, 0) != 0) { fprintf(stderr, "lsetxattr %s %s: %s\n", fields[0], fields[1], strerror(errno)); return 1; }
      free(value);
    } else if (strcmp(op, "t") == 0) {
      // ext4 without a journal skips inodes deleted in the last minutes when it allocates new ones, scanning
      // past each of them: after a 10,000-file layer is removed, unpacking another one next to it costs
      // seconds of kernel time (O(n^2)). The TOPDIR flag (chattr +T) makes ext4's Orlov allocator spread this
      // directory's subdirectories over block groups, so a new layer rarely lands among fresh deletions.
      // Only a hint: filesystems without it (ENOTTY, EOPNOTSUPP) are fine as they are.
      read_fields(1);
      int fd = open(fields[0], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      int flags;
      if (fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && !(flags & FS_TOPDIR_FL)) {
        flags |= FS_TOPDIR_FL;
        ioctl(fd, FS_IOC_SETFLAGS, &flags);
      }
      if (fd >= 0) close(fd);
    } else {
      fprintf(stderr, "unknown operation %s\n", op);
      return 2;
    }
  }
  return 0;
}
