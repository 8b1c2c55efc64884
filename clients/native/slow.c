#include "common.h"
#include "slow.h"

#define SLOW_RCVBUF (16 * 1024) /* asked before connecting: the kernel holds little for it */
#define SLOW_SPAN (64 * 1024)   /* bytes handed to one send at most */

static void stop(struct slow_reader *r, const char *what, const char *detail) {
    if (!r->error[0]) snprintf(r->error, sizeof r->error, "slow reader: %s%s", what, detail);
}

const char *slow_open(struct slow_reader *r, const struct target *t, const struct workload *w,
                      size_t first, int epoll_fd, uint64_t tag) {
    struct target small = *t;
    small.rcvbuf = SLOW_RCVBUF;
    const char *why = dial_blocking(&small, &r->ch);
    if (why) return why;
    fcntl(r->ch.fd, F_SETFL, fcntl(r->ch.fd, F_GETFL) | O_NONBLOCK);
    r->out = first % w->count * w->message_size, r->offset = first % w->count * w->reply_size;
    r->watched = EPOLLOUT;
    struct epoll_event event = {.events = r->watched, .data.u64 = tag};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, r->ch.fd, &event);
    return NULL;
}

void slow_watch(struct slow_reader *r, int epoll_fd, uint64_t tag, double seconds) {
    if (r->error[0]) return;
    uint32_t events = (r->sent < SLOW_SEND_PER_S * seconds ? EPOLLOUT : 0) |
                      (r->read < SLOW_READ_PER_S * seconds ? EPOLLIN : 0);
    if (events == r->watched) return;
    struct epoll_event event = {.events = events, .data.u64 = tag};
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, r->ch.fd, &event);
    r->watched = events;
}

void slow_serve(struct slow_reader *r, const struct workload *w, uint32_t events, double seconds) {
    if (r->error[0]) return;
    size_t end = w->count * w->message_size; /* the messages lie end to end: send spans of them */
    while (events & EPOLLOUT && r->sent < SLOW_SEND_PER_S * seconds) {
        size_t span = end - r->out < SLOW_SPAN ? end - r->out : SLOW_SPAN;
        ssize_t sent = channel_send(&r->ch, w->messages + r->out, span);
        if (sent < 0) {
            if (errno != EAGAIN && errno != EINTR) stop(r, "connection lost: ", channel_failure(&r->ch));
            break;
        }
        r->sent += (uint64_t)sent, r->out = (r->out + (size_t)sent) % end;
    }
    unsigned char buffer[4096];
    while (events & (EPOLLIN | EPOLLERR | EPOLLHUP) && !r->error[0] && r->read < SLOW_READ_PER_S * seconds) {
        size_t allowed = (size_t)(SLOW_READ_PER_S * seconds - (double)r->read) + 1;
        struct reading when;
        ssize_t got = channel_receive(&r->ch, buffer, allowed < sizeof buffer ? allowed : sizeof buffer, &when);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (got <= 0) {
            stop(r, "connection lost: ", got == 0 ? "closed by the server" : channel_failure(&r->ch));
            break;
        }
        if (memcmp(buffer, w->expected + r->offset, (size_t)got) != 0) {
            stop(r, "reply differs from what was sent", "");
            break;
        }
        r->offset = (r->offset + (size_t)got) % w->period, r->read += (uint64_t)got;
    }
}
