// Writes the changes held in an overlayfs upper directory as an OCI layer tar on stdout: what `docker commit`
// and every build step store. Overlay's own marks become the image format's: a 0/0 character device (a deleted
// file) becomes an empty `.wh.<name>`, a directory with trusted.overlay.opaque=y gets a `.wh..wh..opq` entry;
// overlay's other trusted.overlay.* attributes are left out, every other xattr is kept (PAX SCHILY.xattr.*).
// Entries come in byte order of their names, hard links within the layer as links, times in whole seconds, no
// user or group names: the same directory always gives the same tar (and so the same diff ID).
//
//   berth-diff UPPER [-l LOWER]... [-s PATH]...
// -l: the layers below, topmost first. -s: a path the engine itself made as a mount point (etc/hosts, proc…):
// left out when it holds nothing and no lower layer has it, and so are the directories that were copied up only
// to hold such paths (unchanged owner and mode, nothing else in them) — Docker keeps those in its init layer.
// Exit 0 on success; 1 with a message on stderr. Redirected or metacopy-only entries (redirect_dir, metacopy)
// cannot be expressed in a layer and are refused.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define BLOCK 512
#define MAX_LOWERS 512
#define MAX_SKIPS 64

static const char *upper;
static const char *lowers[MAX_LOWERS];
static int nlowers;
static const char *skips[MAX_SKIPS];
static int nskips;

static char outbuf[1 << 20];
static size_t outlen;

static void die(const char *what, const char *path) {
  fprintf(stderr, "%s %s: %s\n", what, path, strerror(errno));
  exit(1);
}

static void flush_out(void) {
  size_t off = 0;
  while (off < outlen) {
    ssize_t n = write(1, outbuf + off, outlen - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("write", "stdout");
    }
    off += (size_t)n;
  }
  outlen = 0;
}

static void out(const void *data, size_t len) {
  const char *p = data;
  while (len) {
    size_t room = sizeof(outbuf) - outlen;
    size_t n = len < room ? len : room;
    memcpy(outbuf + outlen, p, n);
    outlen += n;
    p += n;
    len -= n;
    if (outlen == sizeof(outbuf)) flush_out();
  }
}

static void pad(uint64_t size) {
  static const char zeros[BLOCK];
  size_t rem = size % BLOCK;
  if (rem) out(zeros, BLOCK - rem);
}

// ---------- headers ----------

struct entry {
  const char *name; // in the archive (directories end with '/')
  mode_t mode;      // permission bits (07777)
  char type;        // '0' file, '1' hard link, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo
  uid_t uid;
  gid_t gid;
  uint64_t size;
  int64_t mtime;
  const char *link;
  unsigned major, minor;
  // xattrs: "name\0value" pairs with lengths
  char *xattrs;
  size_t xattrs_len;
};

static void octal(char *field, size_t width, uint64_t v) {
  // width-1 digits (callers keep v in range), NUL-terminated, as Go's tar writer does
  for (size_t i = width - 1; i-- > 0; v >>= 3) field[i] = (char)('0' + (v & 7));
  field[width - 1] = 0;
}

static size_t pax_record(char *buf, size_t cap, const char *key, const char *value, size_t vlen) {
  size_t base = strlen(key) + vlen + 3; // ' ' '=' '\n'
  size_t digits = 1;
  for (size_t t = base + digits; t >= 10; t /= 10) digits++;
  size_t total = base + digits;
  // total may gain a digit once its own length is counted
  char tmp[32];
  if ((size_t)snprintf(tmp, sizeof tmp, "%zu", total) != digits) total++;
  if (total > cap) return 0;
  int n = snprintf(buf, cap, "%zu %s=", total, key);
  memcpy(buf + n, value, vlen);
  buf[n + vlen] = '\n';
  return total;
}

static void write_block_header(const char *name, char type, const struct entry *e, uint64_t size) {
  char h[BLOCK];
  memset(h, 0, sizeof h);
  strncpy(h, name, 100);
  octal(h + 100, 8, e->mode & 07777);
  octal(h + 108, 8, e->uid > 07777777 ? 0 : e->uid);
  octal(h + 116, 8, e->gid > 07777777 ? 0 : e->gid);
  octal(h + 124, 12, size > 077777777777ULL ? 0 : size);
  octal(h + 136, 12, e->mtime < 0 ? 0 : (uint64_t)e->mtime);
  h[156] = type;
  if (e->link) strncpy(h + 157, e->link, 100);
  memcpy(h + 257, "ustar\0" "00", 8);
  if (type == '3' || type == '4') {
    octal(h + 329, 8, e->major);
    octal(h + 337, 8, e->minor);
  }
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < BLOCK; i++) sum += (unsigned char)h[i];
  octal(h + 148, 7, sum);
  h[155] = ' ';
  out(h, BLOCK);
}

static void write_entry(const struct entry *e) {
  size_t name_len = strlen(e->name);
  size_t link_len = e->link ? strlen(e->link) : 0;
  int need_pax = name_len > 100 || link_len > 100 || e->uid > 07777777 || e->gid > 07777777 ||
                 e->size > 077777777777ULL || e->xattrs_len > 0;
  if (need_pax) {
    size_t cap = 512 + name_len + link_len + e->xattrs_len * 2;
    char *pax = malloc(cap);
    if (!pax) die("malloc", e->name);
    size_t len = 0;
    char num[32];
    if (name_len > 100) len += pax_record(pax + len, cap - len, "path", e->name, name_len);
    if (link_len > 100) len += pax_record(pax + len, cap - len, "linkpath", e->link, link_len);
    if (e->uid > 07777777) {
      snprintf(num, sizeof num, "%u", (unsigned)e->uid);
      len += pax_record(pax + len, cap - len, "uid", num, strlen(num));
    }
    if (e->gid > 07777777) {
      snprintf(num, sizeof num, "%u", (unsigned)e->gid);
      len += pax_record(pax + len, cap - len, "gid", num, strlen(num));
    }
    if (e->size > 077777777777ULL) {
      snprintf(num, sizeof num, "%llu", (unsigned long long)e->size);
      len += pax_record(pax + len, cap - len, "size", num, strlen(num));
    }
    for (size_t off = 0; off < e->xattrs_len;) {
      const char *xname = e->xattrs + off;
      size_t nlen = strlen(xname);
      uint32_t vlen;
      memcpy(&vlen, xname + nlen + 1, 4);
      const char *value = xname + nlen + 5;
      char key[300];
      snprintf(key, sizeof key, "SCHILY.xattr.%s", xname);
      size_t n = pax_record(pax + len, cap - len, key, value, vlen);
      if (!n) {
        cap = cap * 2 + vlen + 600;
        pax = realloc(pax, cap);
        if (!pax) die("realloc", e->name);
        continue;
      }
      len += n;
      off += nlen + 5 + vlen;
    }
    struct entry ph = *e;
    ph.link = NULL;
    char pax_name[100];
    snprintf(pax_name, sizeof pax_name, "PaxHeaders.0/%.80s", strrchr(e->name, '/') && strrchr(e->name, '/')[1]
                                                                ? strrchr(e->name, '/') + 1
                                                                : e->name);
    write_block_header(pax_name, 'x', &ph, len);
    out(pax, len);
    pad(len);
    free(pax);
  }
  write_block_header(e->name, e->type, e, e->type == '0' ? e->size : 0);
}

// ---------- the walk ----------

static int in_lower(const char *rel, struct stat *found) {
  char p[2 * PATH_MAX + 2];
  for (int i = 0; i < nlowers; i++) {
    if (snprintf(p, sizeof p, "%s/%s", lowers[i], rel) >= (int)sizeof p) continue;
    struct stat st;
    if (lstat(p, &st) == 0) {
      if (S_ISCHR(st.st_mode) && st.st_rdev == 0) return 0; // deleted in that layer
      if (found) *found = st;
      return 1;
    }
  }
  return 0;
}

static int is_skip(const char *rel) {
  for (int i = 0; i < nskips; i++)
    if (strcmp(rel, skips[i]) == 0) return 1;
  return 0;
}

static int is_skip_ancestor(const char *rel) {
  size_t n = strlen(rel);
  for (int i = 0; i < nskips; i++)
    if (strncmp(skips[i], rel, n) == 0 && skips[i][n] == '/') return 1;
  return 0;
}

// xattrs of a path as "name\0<u32 len>value" records, trusted.overlay.* left out. Returns the opaque mark.
static int read_xattrs(const char *path, char **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  ssize_t n = llistxattr(path, NULL, 0);
  if (n <= 0) return 0;
  char *names = malloc((size_t)n);
  if (!names) die("malloc", path);
  n = llistxattr(path, names, (size_t)n);
  if (n < 0) die("llistxattr", path);
  int opaque = 0;
  size_t cap = 0;
  for (char *name = names; name < names + n; name += strlen(name) + 1) {
    ssize_t vlen = lgetxattr(path, name, NULL, 0);
    if (vlen < 0) continue;
    char *value = malloc((size_t)vlen + 1);
    if (!value) die("malloc", path);
    vlen = lgetxattr(path, name, value, (size_t)vlen);
    if (vlen < 0) {
      free(value);
      continue;
    }
    if (strncmp(name, "trusted.overlay.", 16) == 0) {
      if (strcmp(name, "trusted.overlay.opaque") == 0 && vlen >= 1 && value[0] == 'y') opaque = 1;
      if (strcmp(name, "trusted.overlay.redirect") == 0 || strcmp(name, "trusted.overlay.metacopy") == 0) {
        fprintf(stderr, "%s: overlay %s entries cannot be stored in a layer (mount with redirect_dir=off,metacopy=off)\n",
                path, name + 16);
        exit(1);
      }
      free(value);
      continue;
    }
    size_t nlen = strlen(name);
    size_t need = *len + nlen + 5 + (size_t)vlen;
    if (need > cap) {
      cap = need * 2;
      *buf = realloc(*buf, cap);
      if (!*buf) die("realloc", path);
    }
    memcpy(*buf + *len, name, nlen + 1);
    uint32_t v32 = (uint32_t)vlen;
    memcpy(*buf + *len + nlen + 1, &v32, 4);
    memcpy(*buf + *len + nlen + 5, value, (size_t)vlen);
    *len = need;
    free(value);
  }
  free(names);
  return opaque;
}

struct link {
  dev_t dev;
  ino_t ino;
  char *name;
};
static struct link *links;
static size_t nlinks, caplinks;

static const char *first_link(const struct stat *st, const char *name) {
  for (size_t i = 0; i < nlinks; i++)
    if (links[i].dev == st->st_dev && links[i].ino == st->st_ino) return links[i].name;
  if (nlinks == caplinks) {
    caplinks = caplinks ? caplinks * 2 : 64;
    links = realloc(links, caplinks * sizeof *links);
    if (!links) die("realloc", name);
  }
  links[nlinks].dev = st->st_dev;
  links[nlinks].ino = st->st_ino;
  links[nlinks].name = strdup(name);
  nlinks++;
  return NULL;
}

// Directory headers not yet written: written when something inside is, or at the end unless prunable.
struct pending {
  struct entry e;
  int written;
};
static struct pending pend[PATH_MAX / 2];
static int npend;

static void flush_pending(void) {
  for (int i = 0; i < npend; i++) {
    if (pend[i].written) continue;
    write_entry(&pend[i].e);
    pend[i].written = 1;
  }
}

static void copy_content(const char *path, uint64_t size) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die("open", path);
  uint64_t left = size;
  while (left) {
    if (outlen == sizeof(outbuf)) flush_out();
    size_t room = sizeof(outbuf) - outlen;
    size_t want = left < room ? (size_t)left : room;
    ssize_t n = read(fd, outbuf + outlen, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("read", path);
    }
    if (n == 0) {
      fprintf(stderr, "%s: file shrank while being read\n", path);
      exit(1);
    }
    outlen += (size_t)n;
    left -= (uint64_t)n;
  }
  close(fd);
  pad(size);
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static void walk(const char *rel) {
  char dirpath[2 * PATH_MAX + 2];
  snprintf(dirpath, sizeof dirpath, "%s%s%s", upper, *rel ? "/" : "", rel);
  struct dirent **list;
  int n = scandir(dirpath, &list, NULL, by_name);
  if (n < 0) die("scandir", dirpath);
  for (int i = 0; i < n; i++) {
    const char *nm = list[i]->d_name;
    if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0) {
      free(list[i]);
      continue;
    }
    char child[PATH_MAX], full[2 * PATH_MAX + 2];
    if (snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", nm) >= (int)sizeof child) {
      errno = ENAMETOOLONG;
      die("path", nm);
    }
    if (snprintf(full, sizeof full, "%s/%s", upper, child) >= (int)sizeof full) {
      errno = ENAMETOOLONG;
      die("path", child);
    }
    free(list[i]);
    struct stat st;
    if (lstat(full, &st) < 0) die("lstat", full);
    struct entry e = {0};
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.mtime = st.st_mtim.tv_sec;
    e.mode = st.st_mode & 07777;
    if (S_ISCHR(st.st_mode) && st.st_rdev == 0) {
      // a whiteout: the file is gone
      char wh[PATH_MAX + 8];
      snprintf(wh, sizeof wh, "%s%s.wh.%s", rel, *rel ? "/" : "", nm);
      e.name = wh;
      e.type = '0';
      e.mode = 0600;
      flush_pending();
      write_entry(&e);
      continue;
    }
    if (is_skip(child) && !in_lower(child, NULL)) {
      int empty = 0;
      if (S_ISREG(st.st_mode)) empty = st.st_size == 0;
      else if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(full);
        empty = 1;
        if (d) {
          struct dirent *de;
          while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) empty = 0;
          closedir(d);
        }
      }
      if (empty) continue;
    }
    char *xattrs;
    size_t xlen;
    int opaque = read_xattrs(full, &xattrs, &xlen);
    e.xattrs = xattrs;
    e.xattrs_len = xlen;
    if (S_ISDIR(st.st_mode)) {
      char name[PATH_MAX + 1];
      snprintf(name, sizeof name, "%s/", child);
      struct stat lst;
      int prunable = !opaque && is_skip_ancestor(child) && in_lower(child, &lst) && S_ISDIR(lst.st_mode) &&
                     lst.st_uid == st.st_uid && lst.st_gid == st.st_gid && (lst.st_mode & 07777) == e.mode && !xlen;
      e.type = '5';
      e.name = strdup(name);
      if (npend >= (int)(sizeof pend / sizeof pend[0])) {
        errno = ENAMETOOLONG;
        die("depth", full);
      }
      pend[npend].e = e;
      pend[npend].written = 0;
      npend++;
      if (!prunable) flush_pending();
      if (opaque) {
        char opq[PATH_MAX + 16];
        snprintf(opq, sizeof opq, "%s/.wh..wh..opq", child);
        struct entry o = {0};
        o.name = opq;
        o.type = '0';
        o.mtime = e.mtime;
        write_entry(&o);
      }
      walk(child);
      npend--;
      free((char *)pend[npend].e.name);
      free(xattrs);
      continue;
    }
    e.name = child;
    if (S_ISREG(st.st_mode)) {
      const char *first = st.st_nlink > 1 ? first_link(&st, child) : NULL;
      flush_pending();
      if (first) {
        e.type = '1';
        e.link = first;
        write_entry(&e);
      } else {
        e.type = '0';
        e.size = (uint64_t)st.st_size;
        write_entry(&e);
        copy_content(full, e.size);
      }
    } else if (S_ISLNK(st.st_mode)) {
      char target[PATH_MAX + 1];
      ssize_t tn = readlink(full, target, PATH_MAX);
      if (tn < 0) die("readlink", full);
      target[tn] = 0;
      e.type = '2';
      e.link = target;
      flush_pending();
      write_entry(&e);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      e.type = S_ISCHR(st.st_mode) ? '3' : '4';
      e.major = major(st.st_rdev);
      e.minor = minor(st.st_rdev);
      flush_pending();
      write_entry(&e);
    } else if (S_ISFIFO(st.st_mode)) {
      e.type = '6';
      flush_pending();
      write_entry(&e);
    }
    // sockets cannot be archived (Docker leaves them out too)
    free(xattrs);
  }
  free(list);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: berth-diff UPPER [-l LOWER]... [-s PATH]...\n");
    return 2;
  }
  upper = argv[1];
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "-l") == 0 && i + 1 < argc && nlowers < MAX_LOWERS) lowers[nlowers++] = argv[++i];
    else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc && nskips < MAX_SKIPS) skips[nskips++] = argv[++i];
    else {
      fprintf(stderr, "bad argument %s\n", argv[i]);
      return 2;
    }
  }
  walk("");
  static const char trailer[2 * BLOCK];
  out(trailer, sizeof trailer);
  flush_out();
  return 0;
}
