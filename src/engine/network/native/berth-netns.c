// A container's network namespace, pinned and with its loopback up, in one process: what `ip netns add NAME`
// followed by `ip -n NAME link set lo up` did in two (each a process start on every bridged container's start,
// on its critical path). lo comes up as runc brings it up in a namespace of its own making.
//
//   berth-netns /run/netns/NAME    exit 0; exit 1 with a message on stderr (nothing left behind).
//
// As iproute2's netns add: the directory becomes a shared mount point (a pinned namespace then shows, and its
// unmount by `ip netns del` propagates, in every mount namespace below), the file is made with O_EXCL, and the
// new namespace is bind-mounted over it.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *target;
static int made_file;

static int fail(const char *what, const char *where) {
  int e = errno;
  if (made_file) unlink(target);
  fprintf(stderr, "%s %s: %s\n", what, where, strerror(e));
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 2 || argv[1][0] != '/') {
    fprintf(stderr, "usage: berth-netns /run/netns/NAME\n");
    return 1;
  }
  target = argv[1];
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", target);
  dirname(dir);
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) return fail("mkdir", dir);
  for (int bound = 0; mount("", dir, "none", MS_SHARED | MS_REC, NULL) != 0; bound = 1) {
    if (errno != EINVAL || bound) return fail("make shared", dir);
    if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) != 0) return fail("bind mount", dir);
  }
  int fd = open(target, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) return fail("create", target);
  close(fd);
  made_file = 1;
  if (unshare(CLONE_NEWNET) != 0) return fail("unshare", "CLONE_NEWNET");
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return fail("socket", "AF_INET");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) return fail("get flags", "lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) return fail("set up", "lo");
  close(s);
  if (mount("/proc/self/ns/net", target, "none", MS_BIND, NULL) != 0) return fail("bind mount", target);
  return 0;
}
