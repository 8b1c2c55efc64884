/*
 * The kernel floor: a single-threaded epoll echo server in C, the reference the Python
 * servers are measured against. Its CPU per request is what an echo costs the kernel plus
 * almost nothing, so what a Python API and loop add is the difference.
 *
 * Usage: echo LISTEN_FD READY_LINE [UNIX_PATH_TO_UNLINK]
 * `python -m servers native` binds the listening socket (so a port in use is one clear
 * error), then execs this with the socket inherited; this prints READY_LINE once serving.
 *
 * Same behaviour as the Python servers: 256 KiB reads; TCP_NODELAY; after the peer's EOF,
 * everything received is echoed, then the connection closes; back-pressure: while a
 * connection's echo cannot be written, that connection is not read; SIGTERM or SIGINT
 * closes every connection and exits 0 at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_SIZE (256 * 1024)
#define MAX_EVENTS 256

struct connection {
    char *pending; /* bytes read but not yet echoed; reading waits until they are */
    size_t length, offset;
    int open;
};

static struct connection *connections; /* indexed by file descriptor */
static size_t capacity;
static int epoll_fd;
static char buffer[READ_SIZE];

static void fail(const char *what) {
    perror(what);
    exit(1);
}

static struct connection *connection_of(int fd) {
    if ((size_t)fd >= capacity) {
        size_t wanted = capacity ? capacity : 1024;
        while (wanted <= (size_t)fd) wanted *= 2;
        connections = realloc(connections, wanted * sizeof *connections);
        if (!connections) fail("realloc");
        memset(connections + capacity, 0, (wanted - capacity) * sizeof *connections);
        capacity = wanted;
    }
    return &connections[fd];
}

static void watch(int fd, int op, unsigned events) {
    struct epoll_event event = {.events = events, .data.fd = fd};
    if (epoll_ctl(epoll_fd, op, fd, &event) < 0) fail("epoll_ctl");
}

static void drop(int fd) {
    struct connection *c = connection_of(fd);
    free(c->pending);
    memset(c, 0, sizeof *c);
    close(fd); /* also removes it from the epoll set */
}

/* Write what is pending; returns 0 when all of it went out, 1 if the socket is full, -1 on error. */
static int flush(int fd, struct connection *c) {
    while (c->offset < c->length) {
        ssize_t sent = send(fd, c->pending + c->offset, c->length - c->offset, MSG_NOSIGNAL);
        if (sent < 0) return errno == EAGAIN || errno == EINTR ? 1 : -1;
        c->offset += (size_t)sent;
    }
    free(c->pending);
    c->pending = NULL;
    c->length = c->offset = 0;
    return 0;
}

/* The echo: read once, write it back; whatever does not fit waits, and reading with it. */
static void readable(int fd) {
    struct connection *c = connection_of(fd);
    ssize_t got = recv(fd, buffer, READ_SIZE, 0);
    if (got == 0) {
        drop(fd); /* nothing is pending while we read: everything was echoed */
        return;
    }
    if (got < 0) {
        if (errno != EAGAIN && errno != EINTR) drop(fd);
        return;
    }
    ssize_t sent = send(fd, buffer, (size_t)got, MSG_NOSIGNAL);
    if (sent < 0 && errno != EAGAIN && errno != EINTR) {
        drop(fd);
        return;
    }
    if (sent < 0) sent = 0;
    if (sent < got) { /* the peer is slow: keep the rest and stop reading until it is out */
        c->length = (size_t)(got - sent);
        c->offset = 0;
        c->pending = malloc(c->length);
        if (!c->pending) fail("malloc");
        memcpy(c->pending, buffer + sent, c->length);
        watch(fd, EPOLL_CTL_MOD, EPOLLOUT);
    }
}

/* Once the rest is out, read again: after a half-close the socket may still hold data, and
 * the EOF is seen (and the connection closed) only when all of it has been echoed. */
static void writable(int fd) {
    int status = flush(fd, connection_of(fd));
    if (status < 0)
        drop(fd);
    else if (status == 0)
        watch(fd, EPOLL_CTL_MOD, EPOLLIN);
}

static void accept_all(int listener) {
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return;
            if (errno == EMFILE || errno == ENFILE) return; /* retried on the next event */
            fail("accept4");
        }
        struct sockaddr_storage address;
        socklen_t size = sizeof address;
        int one = 1;
        if (getsockname(fd, (struct sockaddr *)&address, &size) == 0 &&
            (address.ss_family == AF_INET || address.ss_family == AF_INET6))
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        connection_of(fd)->open = 1;
        watch(fd, EPOLL_CTL_ADD, EPOLLIN);
    }
}

static void raise_fd_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s LISTEN_FD READY_LINE [UNIX_PATH]\n", argv[0]);
        return 2;
    }
    int listener = atoi(argv[1]);
    const char *unix_path = argc > 3 ? argv[3] : NULL;
    raise_fd_limit();

    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    if (sigprocmask(SIG_BLOCK, &stop_signals, NULL) < 0) fail("sigprocmask");
    int signal_fd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd < 0) fail("signalfd");

    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) fail("epoll_create1");
    if (fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK) < 0) fail("fcntl");
    watch(listener, EPOLL_CTL_ADD, EPOLLIN);
    watch(signal_fd, EPOLL_CTL_ADD, EPOLLIN);
    printf("%s\n", argv[2]);
    fflush(stdout);

    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int ready = epoll_wait(epoll_fd, events, MAX_EVENTS, -1);
        if (ready < 0) {
            if (errno == EINTR) continue;
            fail("epoll_wait");
        }
        for (int i = 0; i < ready; i++) {
            int fd = events[i].data.fd;
            if (fd == signal_fd) {
                for (size_t open_fd = 0; open_fd < capacity; open_fd++)
                    if (connections[open_fd].open) close((int)open_fd);
                if (unix_path) unlink(unix_path);
                return 0;
            }
            if (fd == listener)
                accept_all(listener);
            else if (events[i].events & EPOLLOUT)
                writable(fd);
            else
                readable(fd);
        }
    }
}
