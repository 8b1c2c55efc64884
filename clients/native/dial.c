#include "common.h"
#include "dial.h"

#define BLOCKING_TIMEOUT_S 10 /* a blocking socket's send and receive timeouts */
/* Connections that come and go leave their ports in TIME_WAIT for a minute, and the kernel
 * searches past them for a free (source, destination) pair on every connect: at 17,000 a
 * second half the load generator's time went to that search (__inet_hash_connect). To a
 * loopback server, new connections come from this many source addresses of 127/8 in turn,
 * each with a port range of its own. */
#define SOURCES 64

const char *resolve(struct target *t, const char *host, const char *port, const char *unix_path) {
    t->host = host ? host : "localhost", t->tcp = !unix_path;
    if (unix_path) {
        struct sockaddr_un *un = (struct sockaddr_un *)&t->address;
        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof un->sun_path, "%s", unix_path);
        t->address_size = sizeof *un;
        return NULL;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *found;
    int status = getaddrinfo(host, port, &hints, &found);
    if (status) return gai_strerror(status);
    memcpy(&t->address, found->ai_addr, found->ai_addrlen); /* the first address */
    t->address_size = found->ai_addrlen;
    freeaddrinfo(found);
    return NULL;
}

/* Opening without blocking (churn, idle connections) to an IPv4 loopback server: the next of
 * SOURCES source addresses (127.0.0.2 on). */
static void spread_source(const struct target *t, int fd) {
    static unsigned next;
    const struct sockaddr_in *to = (const struct sockaddr_in *)&t->address;
    if (t->address.ss_family != AF_INET || (ntohl(to->sin_addr.s_addr) >> 24) != 127) return;
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one); /* the port: at connect */
    struct sockaddr_in from = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000002u + next++ % SOURCES)};
    bind(fd, (struct sockaddr *)&from, sizeof from);
}

/* What every connection gets: no Nagle, kernel receive timestamps. */
static void set_up(const struct target *t, int fd) {
    if (t->tcp) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ask_receive_timestamps(fd);
}

const char *dial_blocking(const struct target *t, struct channel *ch) {
    ch->tls = NULL;
    ch->fd = socket(t->address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ch->fd < 0) return strerror(errno);
    if (t->rcvbuf) setsockopt(ch->fd, SOL_SOCKET, SO_RCVBUF, &t->rcvbuf, sizeof t->rcvbuf);
    struct timeval timeout = {.tv_sec = BLOCKING_TIMEOUT_S};
    setsockopt(ch->fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    setsockopt(ch->fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (connect(ch->fd, (const struct sockaddr *)&t->address, t->address_size) < 0)
        return errno == EINPROGRESS ? "timed out" : strerror(errno);
    set_up(t, ch->fd);
    if (t->tls) {
        ch->tls = tls_start(ch->fd, t->host, t->resume);
        if (tls_handshake(ch->tls) != TLS_DONE) return tls_failure();
    }
    return t->ws ? ws_handshake(ch, t->host) : NULL;
}

int dial_start(struct dial *d, const struct target *t, struct channel *ch, const char **why) {
    d->stage = DIAL_CONNECTING, d->got = 0;
    ch->tls = NULL;
    ch->fd = socket(t->address.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (ch->fd < 0) {
        *why = strerror(errno);
        return -1;
    }
    set_up(t, ch->fd);
    spread_source(t, ch->fd);
    if (connect(ch->fd, (const struct sockaddr *)&t->address, t->address_size) < 0 && errno != EINPROGRESS) {
        d->stage = DIAL_REFUSED, d->error = errno; /* said by the first step, as a later failure is */
    }
    return ch->fd;
}

/* The upgrade's response, as much as has come: DIAL_READY once it is whole and accepted. */
static enum dial_wait read_response(struct dial *d, const char *key, struct channel *ch, const char **why) {
    for (;;) {
        struct reading when;
        ssize_t got = channel_receive(ch, d->response + d->got, WS_RESPONSE_MAX - 1 - d->got, &when);
        if (got < 0 && errno == EAGAIN) return DIAL_WANTS_READ;
        if (got <= 0) {
            *why = got == 0 ? "closed during handshake: EOF" : channel_failure(ch);
            return DIAL_FAILED;
        }
        d->got += (size_t)got, d->response[d->got] = 0;
        char *end = strstr(d->response, "\r\n\r\n");
        if (end) { /* the server says nothing more before the first message */
            *why = end + 4 != d->response + d->got ? "data before any message" : ws_accepted(d->response, key);
            return *why ? DIAL_FAILED : DIAL_READY;
        }
        if (d->got + 1 >= WS_RESPONSE_MAX) {
            *why = "handshake response too long";
            return DIAL_FAILED;
        }
    }
}

enum dial_wait dial_step(struct dial *d, const struct target *t, struct channel *ch, const char **why) {
    switch (d->stage) {
    case DIAL_REFUSED:
        *why = strerror(d->error);
        return DIAL_FAILED;
    case DIAL_CONNECTING: /* on loopback usually connected already; if not, the first send waits */
        if (t->tls) ch->tls = tls_start(ch->fd, t->host, t->resume);
        d->stage = t->tls ? DIAL_SECURING : t->ws ? DIAL_UPGRADING : DIAL_OPEN;
        return dial_step(d, t, ch, why);
    case DIAL_SECURING:
        switch (tls_handshake(ch->tls)) {
        case TLS_WANTS_READ: return DIAL_WANTS_READ;
        case TLS_WANTS_WRITE: return DIAL_WANTS_WRITE;
        case TLS_FAILED: *why = tls_failure(); return DIAL_FAILED;
        case TLS_DONE: break;
        }
        d->stage = t->ws ? DIAL_UPGRADING : DIAL_OPEN;
        return dial_step(d, t, ch, why);
    case DIAL_UPGRADING: {
        if (!d->response) { /* the request goes out whole: a socket just opened takes it */
            char request[512];
            int length = ws_request(request, sizeof request, t->host, d->key);
            ssize_t sent = channel_send(ch, request, (size_t)length);
            if (sent < 0 && errno == EAGAIN) return DIAL_WANTS_WRITE; /* still connecting */
            if (sent != length) {
                *why = sent < 0 ? channel_failure(ch) : "the upgrade request did not fit the socket";
                return DIAL_FAILED;
            }
            d->response = allocate(WS_RESPONSE_MAX), d->got = 0;
        }
        enum dial_wait wait = read_response(d, d->key, ch, why);
        if (wait == DIAL_WANTS_READ) return wait;
        free(d->response), d->response = NULL;
        if (wait == DIAL_READY) d->stage = DIAL_OPEN;
        return wait;
    }
    case DIAL_OPEN: return DIAL_READY;
    }
    return DIAL_FAILED;
}

/* A connection just opened: send the greeting, or read its reply as far as it came. */
static enum dial_wait greet(struct channel *ch, const struct greeting *hello, size_t *got, int sent,
                            const char **why) {
    unsigned char buffer[4096];
    if (!sent && channel_send(ch, hello->message, hello->message_size) != (ssize_t)hello->message_size) {
        *why = "an idle connection's greeting did not fit its socket";
        return DIAL_FAILED;
    }
    for (;;) {
        size_t want = hello->reply_size - *got;
        struct reading when;
        ssize_t n = channel_receive(ch, buffer, want < sizeof buffer ? want : sizeof buffer, &when);
        if (n < 0 && errno == EAGAIN) return DIAL_WANTS_READ;
        if (n <= 0) {
            *why = n == 0 ? "closed before echoing an idle connection's greeting" : channel_failure(ch);
            return DIAL_FAILED;
        }
        if (memcmp(buffer, hello->reply + *got, (size_t)n) != 0) {
            *why = "an idle connection's greeting came back different";
            return DIAL_FAILED;
        }
        if ((*got += (size_t)n) == hello->reply_size) return DIAL_READY;
    }
}

const char *dial_many(const struct target *t, struct channel *out, size_t count, size_t at_once,
                      const struct greeting *hello) {
    struct dial *dials = allocate(at_once * sizeof *dials);
    size_t *opening = allocate(at_once * sizeof *opening); /* its connection's index + 1; 0: free */
    size_t *echoed = allocate(at_once * sizeof *echoed);   /* open: reply bytes back; else SIZE_MAX */
    int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    size_t started = 0, opened = 0;
    const char *why = NULL;
    struct epoll_event events[64];
    while (opened < count && !why) {
        for (size_t d = 0; d < at_once && started < count && !why; d++) {
            if (opening[d]) continue;
            struct channel *ch = &out[started];
            opening[d] = ++started, echoed[d] = SIZE_MAX;
            if (dial_start(&dials[d], t, ch, &why) < 0) break;
            struct epoll_event event = {.events = EPOLLOUT, .data.u64 = d}; /* connected */
            epoll_ctl(epoll_fd, EPOLL_CTL_ADD, ch->fd, &event);
        }
        int ready = why ? 0 : epoll_wait(epoll_fd, events, 64, 1000);
        for (int i = 0; i < ready && !why; i++) {
            size_t d = events[i].data.u64;
            struct channel *ch = &out[opening[d] - 1];
            if (events[i].events & (EPOLLERR | EPOLLHUP)) {
                int error = 0;
                socklen_t size = sizeof error;
                getsockopt(ch->fd, SOL_SOCKET, SO_ERROR, &error, &size);
                why = strerror(error ? error : ECONNRESET);
                break;
            }
            enum dial_wait wait = echoed[d] != SIZE_MAX ? greet(ch, hello, &echoed[d], 1, &why)
                                                        : dial_step(&dials[d], t, ch, &why);
            if (wait == DIAL_READY && echoed[d] == SIZE_MAX)
                echoed[d] = 0, wait = greet(ch, hello, &echoed[d], 0, &why);
            if (wait == DIAL_READY) {
                epoll_ctl(epoll_fd, EPOLL_CTL_DEL, ch->fd, NULL);
                opening[d] = 0, opened++;
            } else if (wait != DIAL_FAILED) {
                struct epoll_event event = {.events = wait == DIAL_WANTS_WRITE ? EPOLLOUT : EPOLLIN,
                                            .data.u64 = d};
                epoll_ctl(epoll_fd, EPOLL_CTL_MOD, ch->fd, &event);
            }
        }
    }
    close(epoll_fd);
    free(dials), free(opening), free(echoed);
    return why;
}
