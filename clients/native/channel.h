/* A connection's byte stream: the socket itself, or TLS over it (tls.h). */
#ifndef LOAD_CHANNEL_H
#define LOAD_CHANNEL_H
#include <stddef.h>
#include <sys/types.h>

#include "receive.h"
#include "tls.h"

struct channel {
    int fd;
    struct tls *tls; /* NULL: plain */
};

/* As send(MSG_NOSIGNAL) and receive(): -1 with errno EAGAIN when the socket would block. */
ssize_t channel_send(struct channel *c, const void *data, size_t size);
ssize_t channel_receive(struct channel *c, void *buffer, size_t size, struct reading *when);
int channel_buffered(struct channel *c); /* read from the socket, not yet returned (TLS) */
const char *channel_failure(const struct channel *c); /* why the last call returned -1 */
void channel_close(struct channel *c);
#endif
