#include "common.h"
#include "receive.h"

#include <linux/net_tstamp.h>
#include <linux/errqueue.h>

void ask_receive_timestamps(int fd) {
    int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags); /* none: read time */
}

/* The kernel stamps received packets only while some socket asks it to, and turns stamping
 * back on only after a deferred switch: with --churn at a low rate no connection may be open
 * between two, and 16% of first echoes came unstamped. A socket that never closes keeps it on. */
void keep_receive_timestamps_on(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) ask_receive_timestamps(fd); /* left open until the worker exits */
}

static int64_t realtime_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The kernel stamps on CLOCK_REALTIME; the stamp's age, read on the same clock at once,
 * moves it to CLOCK_MONOTONIC (a clock step between the two reads is the only error). On TCP
 * a read that takes several segments carries the last one's stamp: a reply that came earlier
 * in the same read is charged the difference, never less than its own latency. */
ssize_t receive(int fd, void *buffer, size_t size, struct reading *when) {
    union {
        char bytes[CMSG_SPACE(sizeof(struct scm_timestamping))];
        struct cmsghdr align;
    } control;
    struct iovec part = {.iov_base = buffer, .iov_len = size};
    struct msghdr message = {.msg_iov = &part, .msg_iovlen = 1, .msg_control = control.bytes,
                             .msg_controllen = sizeof control.bytes};
    ssize_t got = recvmsg(fd, &message, 0);
    when->read_at = now_ns(), when->arrived_at = when->read_at, when->timed = 0;
    if (got <= 0) return got;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_TIMESTAMPING) continue;
        struct scm_timestamping stamps;
        memcpy(&stamps, CMSG_DATA(c), sizeof stamps);
        int64_t stamp = (int64_t)stamps.ts[0].tv_sec * 1000000000LL + stamps.ts[0].tv_nsec;
        int64_t age = realtime_ns() - stamp;
        if (stamp && age >= 0) when->arrived_at = when->read_at - age, when->timed = 1;
    }
    return got;
}
