/*
 * An independent open-loop echo client, to check the load generator against (`python -m
 * clients.pacebench`): written apart from load.c and built another way. A sender thread
 * sleeps until each message's due time (Poisson arrivals, round-robin over the connections)
 * and writes it with blocking sends; a receiver thread polls the sockets and reads the
 * replies with their kernel receive timestamps. A message's latency runs from its send to
 * its reply's arrival, the figure the load generator ranks on. Replies are counted by size,
 * not verified: the load generator's own tests verify echoes.
 *
 * Usage: crosscheck HOST PORT RATE SECONDS [CONNECTIONS] (1 KiB messages, 0.5 s warm-up);
 * prints {"count":N,"p50_us":X,"p99_us":Y,"late_p99_us":Z} (late: its own send lateness).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/net_tstamp.h>
#include <math.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SIZE 1024
#define RING 65536 /* messages in flight per connection, at most */
#define WARMUP_NS 500000000LL
#define MAX_CONNECTIONS 64

struct line {
    int fd;
    int64_t sent[RING];      /* written by the sender only */
    atomic_ulong made;       /* messages sent so far (released after `sent` is written) */
    unsigned long taken;     /* replies completed (receiver only) */
    size_t partial;          /* bytes of the next reply already read */
};

static struct line lines[MAX_CONNECTIONS];
static int connections = 10;
static double rate, seconds;
static int64_t start_ns, window_start_ns, window_end_ns;
static int64_t *latencies, *lateness;
static size_t latency_count, lateness_count, capacity;
static atomic_int sending_done;

static int64_t clock_ns(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *sender(void *unused) {
    (void)unused;
    static char message[SIZE];
    double due = 0;
    unsigned short seed[3] = {1, 2, 3};
    for (long n = 0;; n++) {
        due += -log(1 - erand48(seed)) * 1e9 / rate;
        int64_t at = start_ns + (int64_t)due;
        if (at >= window_end_ns) break;
        struct timespec wake = {.tv_sec = at / 1000000000LL, .tv_nsec = at % 1000000000LL};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, NULL) == EINTR) {}
        struct line *l = &lines[n % connections];
        int64_t now = clock_ns(CLOCK_MONOTONIC);
        if (at >= window_start_ns && lateness_count < capacity) lateness[lateness_count++] = now - at;
        unsigned long made = atomic_load_explicit(&l->made, memory_order_relaxed);
        l->sent[made % RING] = now < window_start_ns ? -now : now; /* negative: warm-up */
        atomic_store_explicit(&l->made, made + 1, memory_order_release);
        if (send(l->fd, message, SIZE, MSG_NOSIGNAL) != SIZE) perror("crosscheck: send"), exit(1);
    }
    atomic_store(&sending_done, 1);
    return NULL;
}

static int64_t arrival_of(struct msghdr *header, int64_t mono, int64_t real) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR(header); c; c = CMSG_NXTHDR(header, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING) {
            struct timespec stamp[3];
            memcpy(stamp, CMSG_DATA(c), sizeof stamp);
            return mono - (real - ((int64_t)stamp[0].tv_sec * 1000000000LL + stamp[0].tv_nsec));
        }
    return mono;
}

static void *receiver(void *unused) {
    (void)unused;
    struct pollfd polls[MAX_CONNECTIONS];
    static char buffer[1 << 16];
    char control[256];
    for (int i = 0; i < connections; i++) polls[i] = (struct pollfd){.fd = lines[i].fd, .events = POLLIN};
    int64_t give_up = 0;
    for (;;) {
        if (atomic_load(&sending_done) && !give_up) give_up = clock_ns(CLOCK_MONOTONIC) + 500000000LL;
        if (give_up && clock_ns(CLOCK_MONOTONIC) > give_up) break;
        if (poll(polls, connections, 10) <= 0) continue;
        for (int i = 0; i < connections; i++) {
            if (!(polls[i].revents & POLLIN)) continue;
            struct iovec part = {buffer, sizeof buffer};
            struct msghdr header = {.msg_iov = &part, .msg_iovlen = 1, .msg_control = control,
                                    .msg_controllen = sizeof control};
            ssize_t got = recvmsg(polls[i].fd, &header, MSG_DONTWAIT);
            if (got <= 0) continue;
            int64_t arrived = arrival_of(&header, clock_ns(CLOCK_MONOTONIC), clock_ns(CLOCK_REALTIME));
            struct line *l = &lines[i];
            l->partial += (size_t)got;
            unsigned long made = atomic_load_explicit(&l->made, memory_order_acquire);
            for (; l->partial >= SIZE && l->taken < made; l->partial -= SIZE, l->taken++) {
                int64_t sent = l->sent[l->taken % RING];
                if (sent > 0 && latency_count < capacity) latencies[latency_count++] = arrived - sent;
            }
        }
    }
    return NULL;
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
    prctl(PR_SET_TIMERSLACK, 1UL); /* its sleeps end when asked */
    rate = atof(argv[3]), seconds = atof(argv[4]);
    if (argc > 5) connections = atoi(argv[5]);
    if (rate <= 0 || seconds <= 0 || connections < 1 || connections > MAX_CONNECTIONS)
        return fprintf(stderr, "crosscheck: bad rate, seconds or connections\n"), 2;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *found;
    if (getaddrinfo(argv[1], argv[2], &hints, &found)) return fprintf(stderr, "crosscheck: bad address\n"), 2;
    int one = 1, stamping = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
    for (int i = 0; i < connections; i++) {
        lines[i].fd = socket(found->ai_family, SOCK_STREAM, 0);
        if (connect(lines[i].fd, found->ai_addr, found->ai_addrlen)) return perror("crosscheck: connect"), 2;
        setsockopt(lines[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(lines[i].fd, SOL_SOCKET, SO_TIMESTAMPING, &stamping, sizeof stamping);
    }
    capacity = (size_t)(rate * seconds * 1.5) + 1000;
    latencies = calloc(capacity, sizeof *latencies), lateness = calloc(capacity, sizeof *lateness);
    start_ns = clock_ns(CLOCK_MONOTONIC);
    window_start_ns = start_ns + WARMUP_NS, window_end_ns = window_start_ns + (int64_t)(seconds * 1e9);
    pthread_t threads[2];
    pthread_create(&threads[0], NULL, sender, NULL);
    pthread_create(&threads[1], NULL, receiver, NULL);
    pthread_join(threads[0], NULL);
    pthread_join(threads[1], NULL);
    double p50 = percentile_us(latencies, latency_count, 50), p99 = percentile_us(latencies, latency_count, 99);
    printf("{\"count\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"late_p99_us\":%.1f}\n", latency_count, p50, p99,
           percentile_us(lateness, lateness_count, 99));
    return 0;
}
