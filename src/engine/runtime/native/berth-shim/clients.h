/*
 * clients.h: the shim's unix socket (-S) and its clients. berthd holds one connection open: its close tells
 * berthd the shim is gone, also after berthd restarts and reconnects. Requests are one line each:
 *   "kill <signo>"                      -> "ok" | "err ..."
 *   "resize <init|exec-id> <rows> <cols>" -> "ok" | "err ..."   (TIOCSWINSZ on the pty master)
 *   "attach <stdin> <stdout> <stderr>"  -> "ok", then frames both ways (the container's init)
 *   "exec <id> <tty> <stdin> <process.json> [<fast-exec file> [<rows> <cols>]]" -> "ok <pid>[ sized]" |
 *                                       "err <runc's message>", then frames both ways ("sized": the TTY had
 *                                       rows x cols before the process ran)
 *   "go"                                -> "ok" (with -W: attach clients are connected, start reading output)
 * Frames use Docker's stdcopy header (type, 0,0,0, big-endian length): to us 0 = stdin data, 4 = stdin EOF;
 * from us 1 = stdout, 2 = stderr, 3 = exit code (decimal text, exec only, last frame).
 * Output to a client is buffered without blocking; while a client has more than 1 MiB unsent we stop reading the
 * process (backpressure, as Docker's attach blocks the writer). Stdin likewise is read from a client only as
 * fast as the process takes it.
 */
#ifndef BERTH_SHIM_CLIENTS_H
#define BERTH_SHIM_CLIENTS_H
#include <stddef.h>

struct proc;

#define MAX_CLIENTS 1024
#define FRAME_MAX (32 * 1024)        /* largest frame a client may send */
#define IBUF_SIZE (FRAME_MAX + 8 + 256)
#define CLIENT_HIGH_WATER (1 << 20) /* pending output per client before we stop reading the process (backpressure) */
#define STDIN_CAP (FRAME_MAX + 8)
#define LINGER_MS 5000 /* how long a finished exec's client may keep its side open (closing = 3) */

/* Frame types on attach/exec connections: Docker's stdcopy header (type, 3 zero bytes, big-endian length). */
enum { F_STDIN = 0, F_STDOUT = 1, F_STDERR = 2, F_EXIT = 3, F_STDIN_EOF = 4 };

enum { C_LINE = 0, C_ATTACH = 1, C_EXEC = 2 };
struct client {
  int fd; /* -1: free slot */
  /* closing: 1 = close once the output is sent, 2 = drop now, 3 = output sent and our side shut: what the client
   * still sends is read and dropped until it closes too (LINGER_MS at most). Closing with its bytes unread would
   * reset the connection, and berthd's write of stdin racing the exit would lose the output not yet read. */
  int mode, proc, want_in, want_out, want_err, closing;
  long long linger_until;
  unsigned char *obuf;
  size_t olen, ocap;
  size_t ilen;
  unsigned char *ibuf; /* IBUF_SIZE bytes while connected */
};
extern struct client clients[MAX_CLIENTS];

/* -W: the init's output is not read until berthd connected the attach clients that wait for this start ("go"),
 * so `docker run` without -d sees the first bytes; the pipe or pty buffers them meanwhile. */
extern long long hold_until;
#define HOLD_MAX_MS 5000

/* Binds and listens on the shim's socket (-S). */
int listen_socket(void);
/* A new connection on the listening socket: a free client slot, or refused. */
void client_accept(int lfd);
/* Queues bytes for a client; writes at once when nothing is pending (keeps latency low for TTYs). */
void client_queue(struct client *c, const void *data, size_t len);
void client_drop(struct client *c);
/* Output sent to a finished exec's client: our side is shut and what it still sends is dropped (closing = 3). */
void client_linger(struct client *c);
/* The client's socket is readable: requests, then frames (or, lingering, bytes to drop). */
void client_read(int ci);
/* Handles what a client sent: request lines, then frames (stdin data, stdin EOF). Stops when the process's
 * stdin buffer is full; the rest is parsed once it drained (backpressure reaches the client through the socket). */
void client_parse(int ci);
/* Sends what is pending for a client, as much as its socket takes. */
void client_flush(struct client *c);
/* Reads one chunk from a process's output fd (to the log for the init, and to the clients that follow it);
 * closes it at EOF (a pty master reads EIO once the slave is gone). */
void proc_read(struct proc *p, int *fd, int type);
/* Whether a client following this process has too much unsent output (then we stop reading the process). */
int proc_throttled(struct proc *p);
/* Ends a finished exec process: its exit code goes to its client, which is closed once its output is sent. */
void proc_end(struct proc *p);

#endif
