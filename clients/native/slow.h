/* Slow readers (--slow-readers K): connections beside the measured ones that keep sending
 * messages and read their echoes at a capped rate, with a small receive buffer, so that a
 * server that does not stop reading when it cannot write must buffer what they send. */
#ifndef LOAD_SLOW_H
#define LOAD_SLOW_H
#include <stdint.h>

#include "dial.h"
#include "workload.h"

/* Bytes each offers a second, when the server reads them: enough to get past what the kernel
 * buffers for a connection on loopback (the server's send buffer grows to 4 MiB, its receive
 * buffer to 6 MiB) within a run, so what a server that keeps reading must hold is its own. */
#define SLOW_SEND_PER_S (8 * 1024 * 1024)
#define SLOW_READ_PER_S (16 * 1024) /* bytes each reads a second */

struct slow_reader {
    struct channel ch;
    size_t out;    /* where its sends are in the workload's messages, end to end */
    size_t offset; /* where its reads are in the reply stream */
    uint64_t sent, read;          /* bytes, since it started */
    uint32_t watched;             /* the events epoll watches for it */
    char error[160];
};

/* Open one (blocking, then non-blocking) and add it to `epoll_fd` with `tag`: NULL or why not. */
const char *slow_open(struct slow_reader *r, const struct target *t, const struct workload *w,
                      size_t first, int epoll_fd, uint64_t tag);
/* Watch for what its budgets allow `seconds` after the start (sending, reading, or neither). */
void slow_watch(struct slow_reader *r, int epoll_fd, uint64_t tag, double seconds);
/* The socket is ready: send and read as far as the budgets allow; a wrong echo or a lost
 * connection is its error (and it stops). */
void slow_serve(struct slow_reader *r, const struct workload *w, uint32_t events, double seconds);
#endif
