/*
 * log.h: the container's json-file log, written as Docker's json-file driver writes it: one
 * {"log","stream","time"} object per line (RFC3339Nano UTC), messages split at 16 KiB, rotated by max-size and
 * max-file. berthd reads the same files (src/engine/logs).
 */
#ifndef BERTH_SHIM_LOG_H
#define BERTH_SHIM_LOG_H
#include <stddef.h>

#define MAX_LINE (16 * 1024) /* Docker splits log messages at 16 KiB */

/* One stream's bytes not yet ended by a newline. */
struct linebuf {
  const char *name;
  unsigned char buf[MAX_LINE];
  size_t len;
};
extern struct linebuf log_out, log_err;

/* Opens (appending to) the log at `path`; max_size 0: never rotated. Without a call nothing is logged. */
void log_open(const char *path, long long max_size, int max_file);
/* Appends the bytes of one output chunk to a stream's line buffer and writes every complete line to the log. */
void line_add(struct linebuf *s, const unsigned char *data, size_t len);
/* Emits every complete line (with its newline) and 16 KiB chunks of an over-long one, keeping the rest; with
 * `all` the rest too (the stream ended). */
void line_flush(struct linebuf *s, int all);

#endif
