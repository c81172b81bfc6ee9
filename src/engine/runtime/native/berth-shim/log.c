/* log.c: the json-file log writer (log.h). */
#include "shim.h"
#include "log.h"

/* The log file and its rotation settings; fd -1: no log. */
static struct {
  const char *path;
  int fd;
  long long size, max_size;
  int max_file;
} jlog = {.fd = -1, .max_file = 1};

struct linebuf log_out = {.name = "stdout"}, log_err = {.name = "stderr"};

static void reopen(int truncate) {
  jlog.fd = open(jlog.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0640);
  struct stat st;
  jlog.size = (jlog.fd >= 0 && fstat(jlog.fd, &st) == 0) ? st.st_size : 0;
}

void log_open(const char *path, long long max_size, int max_file) {
  jlog.path = path;
  jlog.max_size = max_size;
  jlog.max_file = max_file;
  reopen(0);
}

/* Docker's json-file rotation: log -> log.1 -> ... -> log.(max_file-1); with max_file 1 the file is truncated. */
static void log_rotate(void) {
  if (jlog.max_file > 1) {
    char from[4096], to[4096];
    for (int i = jlog.max_file - 1; i >= 1; i--) {
      if (i == 1) snprintf(from, sizeof from, "%s", jlog.path);
      else snprintf(from, sizeof from, "%s.%d", jlog.path, i - 1);
      snprintf(to, sizeof to, "%s.%d", jlog.path, i);
      rename(from, to);
    }
    close(jlog.fd);
    reopen(1);
  } else {
    if (ftruncate(jlog.fd, 0) == 0) jlog.size = 0;
  }
}

/* Appends a JSON string body (without quotes), escaped as Go's encoding/json does (HTML-safe, invalid UTF-8 ->
 * U+FFFD). Returns the new length. `out` must have room for 6 bytes per input byte. */
static size_t json_escape(char *out, const unsigned char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  for (size_t i = 0; i < len;) {
    unsigned char c = s[i];
    if (c < 0x80) {
      if (c == '"' || c == '\\') { out[o++] = '\\'; out[o++] = (char)c; }
      else if (c == '\n') { out[o++] = '\\'; out[o++] = 'n'; }
      else if (c == '\r') { out[o++] = '\\'; out[o++] = 'r'; }
      else if (c == '\t') { out[o++] = '\\'; out[o++] = 't'; }
      else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
        memcpy(out + o, "\\u00", 4);
        out[o + 4] = hex[c >> 4];
        out[o + 5] = hex[c & 15];
        o += 6;
      } else out[o++] = (char)c;
      i++;
      continue;
    }
    /* Multi-byte UTF-8: validate (no overlongs, no surrogates, <= U+10FFFF). */
    size_t n = 0;
    unsigned int cp = 0;
    if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; }
    int ok = n > 0 && i + n <= len;
    for (size_t k = 1; ok && k < n; k++) {
      if ((s[i + k] & 0xc0) != 0x80) ok = 0;
      else cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (ok && ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))) ok = 0;
    if (!ok) {
      memcpy(out + o, "\\ufffd", 6);
      o += 6;
      i++;
    } else if (cp == 0x2028 || cp == 0x2029) {
      memcpy(out + o, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
      o += 6;
      i += n;
    } else {
      memcpy(out + o, s + i, n);
      o += n;
      i += n;
    }
  }
  return o;
}

static char line_json[MAX_LINE * 6 + 256];

static void log_message(const char *stream, const unsigned char *msg, size_t len) {
  if (jlog.fd < 0) return;
  char t[64];
  format_time(t, sizeof t);
  size_t o = 0;
  memcpy(line_json, "{\"log\":\"", 8);
  o = 8;
  o += json_escape(line_json + o, msg, len);
  o += (size_t)sprintf(line_json + o, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream, t);
  if (jlog.max_size > 0 && jlog.size > 0 && jlog.size + (long long)o > jlog.max_size) log_rotate();
  write_all(jlog.fd, line_json, o);
  jlog.size += (long long)o;
}

void line_flush(struct linebuf *s, int all) {
  size_t start = 0;
  for (size_t i = 0; i < s->len; i++) {
    if (s->buf[i] == '\n') {
      log_message(s->name, s->buf + start, i + 1 - start);
      start = i + 1;
    }
  }
  if (start == 0 && s->len == sizeof s->buf) { /* a full buffer without a newline: a partial message */
    log_message(s->name, s->buf, s->len);
    start = s->len;
  }
  if (all && start < s->len) {
    log_message(s->name, s->buf + start, s->len - start);
    start = s->len;
  }
  memmove(s->buf, s->buf + start, s->len - start);
  s->len -= start;
}

void line_add(struct linebuf *s, const unsigned char *data, size_t len) {
  if (jlog.fd < 0) return;
  while (len > 0) {
    size_t room = sizeof s->buf - s->len, n = len < room ? len : room;
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    data += n;
    len -= n;
    line_flush(s, 0);
  }
}