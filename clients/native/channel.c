#include "common.h"
#include "channel.h"

ssize_t channel_send(struct channel *c, const void *data, size_t size) {
    return c->tls ? tls_send(c->tls, data, size) : send(c->fd, data, size, MSG_NOSIGNAL);
}

ssize_t channel_receive(struct channel *c, void *buffer, size_t size, struct reading *when) {
    return c->tls ? tls_receive(c->tls, buffer, size, when) : receive(c->fd, buffer, size, when);
}

int channel_buffered(struct channel *c) { return c->tls ? tls_buffered(c->tls) : 0; }

const char *channel_failure(const struct channel *c) {
    return c->tls && errno == EPROTO ? tls_failure() : strerror(errno);
}

void channel_close(struct channel *c) {
    if (c->tls) tls_free(c->tls), c->tls = NULL;
    close(c->fd);
}
