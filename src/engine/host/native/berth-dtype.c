// Whether a directory's file system fills in d_type: what overlay needs of its layers' file system (xfs made with
// ftype=0 does not), and what `docker info` reports as "Supports d_type" (moby's fsutils.SupportsDType: a file
// made in a temporary directory, read back with getdents64, its type not DT_UNKNOWN). Node cannot tell: its
// readdir quietly falls back to lstat for an unknown type.
//
//   berth-dtype DIR      prints "true" or "false"; exit 1 with a message on stderr when it cannot probe.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct linux_dirent64 {
  unsigned long long d_ino;
  long long d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: berth-dtype DIR\n");
    return 1;
  }
  char dir[4096];
  if (snprintf(dir, sizeof dir, "%s/.berth-dtype-XXXXXX", argv[1]) >= (int)sizeof dir || !mkdtemp(dir)) {
    fprintf(stderr, "berth-dtype: mkdtemp in %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  int result = -1;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int f = dfd >= 0 ? openat(dfd, "probe", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1;
  if (f >= 0) {
    close(f);
    char buf[4096];
    long n;
    while (result < 0 && (n = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0)
      for (long off = 0; off < n;) {
        struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
        if (strcmp(d->d_name, "probe") == 0) result = d->d_type != DT_UNKNOWN;
        off += d->d_reclen;
      }
    unlinkat(dfd, "probe", 0);
  }
  int err = errno;
  if (dfd >= 0) close(dfd);
  rmdir(dir);
  if (result < 0) {
    fprintf(stderr, "berth-dtype: probing %s: %s\n", dir, strerror(err));
    return 1;
  }
  puts(result ? "true" : "false");
  return 0;
}
