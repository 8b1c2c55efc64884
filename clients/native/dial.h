/* Opening a connection: where to (resolved once), and the opening itself, either at once on
 * a blocking socket or step by step without blocking (connect, the TLS handshake, the
 * WebSocket upgrade), as far as the socket lets each step go. */
#ifndef LOAD_DIAL_H
#define LOAD_DIAL_H
#include <stddef.h>
#include <sys/socket.h>

#include "channel.h"
#include "websocket.h"

struct target {
    struct sockaddr_storage address;
    socklen_t address_size;
    const char *host; /* for SNI and the upgrade's Host: header */
    int tcp, tls, ws, resume;
    int rcvbuf; /* SO_RCVBUF to ask before connecting (0: the kernel's) */
};

enum dial_stage { DIAL_CONNECTING, DIAL_SECURING, DIAL_UPGRADING, DIAL_OPEN, DIAL_REFUSED };
enum dial_wait { DIAL_READY, DIAL_WANTS_READ, DIAL_WANTS_WRITE, DIAL_FAILED };

struct dial {
    enum dial_stage stage;
    char key[32];
    char *response; /* the upgrade's response so far (WS_RESPONSE_MAX), while upgrading */
    size_t got;
    int error; /* DIAL_REFUSED: connect's errno */
};

/* Resolve the server's address once: NULL, or why not. */
const char *resolve(struct target *t, const char *host, const char *port, const char *unix_path);
/* Connect, secure and upgrade on a blocking socket (its timeouts apply): NULL, or why not. */
const char *dial_blocking(const struct target *t, struct channel *ch);
/* Begin without blocking: ch->fd connecting (-1 and `why` if no socket could be made). */
int dial_start(struct dial *d, const struct target *t, struct channel *ch, const char **why);
/* Go on once the socket is ready for what the last step waited for. */
enum dial_wait dial_step(struct dial *d, const struct target *t, struct channel *ch, const char **why);
/* A message and the reply it must bring back, byte for byte. */
struct greeting {
    const unsigned char *message, *reply;
    size_t message_size, reply_size;
};

/* Open `count` connections into `out`, up to `at_once` opening together, each through its
 * handshakes and one echo of `hello` (so the server has accepted and served it before the
 * next one opens: opening ahead of its accepts overflows the listen queue, and each dropped
 * SYN costs a second); return once all are open (NULL) or one failed (why). */
const char *dial_many(const struct target *t, struct channel *out, size_t count, size_t at_once,
                      const struct greeting *hello);
#endif
