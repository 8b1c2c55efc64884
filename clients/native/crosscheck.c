/*
 * An independent open-loop echo client, to check the load generator against (`python -m
 * clients.pacebench`): written apart from load.c, as plainly as it can be. One thread and
 * ppoll: it sends each message when due (Poisson arrivals, round-robin over the
 * connections), sleeping in ppoll until then, and reads replies with their kernel receive
 * timestamps. A message's latency runs from its send to its reply's arrival, the figure the
 * load generator ranks on. Replies are counted by size, not verified: the load generator's
 * own tests verify echoes.
 *
 * Usage: crosscheck HOST PORT RATE SECONDS [CONNECTIONS] (1 KiB messages, 0.5 s warm-up,
 * 0.5 s drain); prints {"count":N,"p50_us":X,"p99_us":Y,"late_p99_us":Z} (late: how late it
 * sent, its own lateness).
 */
#define _GNU_SOURCE
#include <linux/net_tstamp.h>
#include <math.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>

#define SIZE 1024
#define RING 65536 /* messages in flight per connection, at most */
#define WARMUP_NS 500000000LL
#define DRAIN_NS 500000000LL
#define MAX_CONNECTIONS 64

struct line {
    int64_t sent[RING]; /* send times of the messages in flight; negative: warm-up */
    unsigned long made, taken;
    size_t partial; /* bytes of the next reply already read */
};

static struct line lines[MAX_CONNECTIONS];
static struct pollfd polls[MAX_CONNECTIONS];
static int64_t *latencies, *lateness;
static size_t latency_count, lateness_count, capacity;

static int64_t clock_ns(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int64_t arrival_of(struct msghdr *header, int64_t read_at) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(header); c; c = CMSG_NXTHDR(header, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING) {
            struct timespec stamp[3];
            memcpy(stamp, CMSG_DATA(c), sizeof stamp);
            int64_t age = clock_ns(CLOCK_REALTIME) - (stamp[0].tv_sec * 1000000000LL + stamp[0].tv_nsec);
            return read_at - age;
        }
    return read_at;
}

static void read_replies(int i) {
    static char buffer[1 << 16];
    char control[256];
    struct iovec part = {buffer, sizeof buffer};
    struct msghdr header = {.msg_iov = &part, .msg_iovlen = 1, .msg_control = control,
                            .msg_controllen = sizeof control};
    ssize_t got = recvmsg(polls[i].fd, &header, MSG_DONTWAIT);
    if (got <= 0) return;
    int64_t arrived = arrival_of(&header, clock_ns(CLOCK_MONOTONIC));
    struct line *l = &lines[i];
    for (l->partial += (size_t)got; l->partial >= SIZE && l->taken < l->made; l->partial -= SIZE) {
        int64_t sent = l->sent[l->taken++ % RING];
        if (sent > 0 && latency_count < capacity) latencies[latency_count++] = arrived - sent;
    }
}

static int compare(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double percentile_us(int64_t *values, size_t count, double p) {
    if (!count) return 0;
    qsort(values, count, sizeof *values, compare);
    return values[(size_t)ceil(p / 100 * count) - 1] / 1000.0;
}

int main(int argc, char **argv) {
    if (argc < 5) return fprintf(stderr, "usage: crosscheck HOST PORT RATE SECONDS [CONNECTIONS]\n"), 2;
    double rate = atof(argv[3]), seconds = atof(argv[4]);
    int connections = argc > 5 ? atoi(argv[5]) : 10;
    if (rate <= 0 || seconds <= 0 || connections < 1 || connections > MAX_CONNECTIONS)
        return fprintf(stderr, "crosscheck: bad rate, seconds or connections\n"), 2;
    prctl(PR_SET_TIMERSLACK, 1UL);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *found;
    if (getaddrinfo(argv[1], argv[2], &hints, &found)) return fprintf(stderr, "crosscheck: bad address\n"), 2;
    int one = 1, stamping = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
    for (int i = 0; i < connections; i++) {
        int fd = socket(found->ai_family, SOCK_STREAM, 0);
        if (connect(fd, found->ai_addr, found->ai_addrlen)) return perror("crosscheck: connect"), 2;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &stamping, sizeof stamping);
        polls[i] = (struct pollfd){.fd = fd, .events = POLLIN};
    }
    capacity = (size_t)(rate * seconds * 1.5) + 1000;
    latencies = calloc(capacity, sizeof *latencies), lateness = calloc(capacity, sizeof *lateness);
    static char message[SIZE];
    unsigned short seed[3] = {1, 2, 3};
    int64_t start = clock_ns(CLOCK_MONOTONIC), window = start + WARMUP_NS;
    int64_t end = window + (int64_t)(seconds * 1e9), due = start;
    for (long n = 0;; n++) {
        due += (int64_t)(-log(1 - erand48(seed)) * 1e9 / rate);
        int64_t now = clock_ns(CLOCK_MONOTONIC);
        while (now < due) { /* sleep till due, reading replies meanwhile */
            struct timespec wait = {.tv_sec = (due - now) / 1000000000LL, .tv_nsec = (due - now) % 1000000000LL};
            if (ppoll(polls, connections, &wait, NULL) > 0)
                for (int i = 0; i < connections; i++)
                    if (polls[i].revents & POLLIN) read_replies(i);
            now = clock_ns(CLOCK_MONOTONIC);
        }
        if (due >= end) break;
        struct line *l = &lines[n % connections];
        if (due >= window && lateness_count < capacity) lateness[lateness_count++] = now - due;
        l->sent[l->made++ % RING] = due >= window ? now : -now;
        if (send(polls[n % connections].fd, message, SIZE, MSG_NOSIGNAL) != SIZE)
            return perror("crosscheck: send"), 1;
    }
    for (int64_t stop = clock_ns(CLOCK_MONOTONIC) + DRAIN_NS; clock_ns(CLOCK_MONOTONIC) < stop;)
        if (poll(polls, connections, 10) > 0)
            for (int i = 0; i < connections; i++)
                if (polls[i].revents & POLLIN) read_replies(i);
    double p50 = percentile_us(latencies, latency_count, 50), p99 = percentile_us(latencies, latency_count, 99);
    printf("{\"count\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"late_p99_us\":%.1f}\n", latency_count, p50,
           p99, percentile_us(lateness, lateness_count, 99));
    return 0;
}
