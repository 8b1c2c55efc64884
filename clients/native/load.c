/*
 * The native load generator's worker: one process, one thread, epoll, non-blocking sockets
 * (this file: the run; beside it its command line, /proc, the messages and their replies,
 * the WebSocket handshake, the histograms, reading with receive timestamps, pacing, opening
 * connections with or without blocking, slow readers, and a connection's stream: the socket
 * or TLS over it, channel.c and tls.c).
 * `python -m clients.native` starts one per --workers, hands each its share of the
 * connections and of the rate, releases them together, and turns what each prints (one JSON
 * object) into the same Summary as `python -m clients`. The semantics are that client's:
 *
 * - Every connection cycles through distinct messages cut from one random block; the reply
 *   stream it must get back is known in advance and each chunk read is compared with it at
 *   the current offset (one memcmp), so a reordered, truncated, duplicated or corrupted echo
 *   fails the connection and the run.
 * - Closed loop: `--pipeline` messages in flight per connection, each reply sends the next
 *   (`--requests`: exactly that many echoes, no warm-up). Open loop (`--rate`): one schedule of
 *   due times (Poisson or uniform), round-robin over the connections, each message stamped
 *   with the time it was due and the time it went out (`struct stamp`): its server latency
 *   runs from the send to the reply's arrival in the kernel (receive.c), its intended
 *   latency from the due time to the reply's read, and its lateness is kept apart. Between
 *   sends the worker sleeps and may run at real-time priority (pacing.c).
 * - The window's latency sample is the messages sent in it (replies to warm-up messages are
 *   skipped exactly: they come back first); after it, the replies in flight are waited for
 *   up to `--drain` seconds and those that never come count with their latency so far.
 * - Server latencies go into HdrHistogram's bucket layout (histogram.c), one histogram per
 *   twentieth of the window; intended latencies and lateness into one each.
 *
 * - Every run ends by itself: the connections have CONNECT_TIMEOUT_S in all to open, and
 *   the run warm-up + window + drain (or the counted limit) plus GRACE_S; past either, one
 *   line on stderr and exit 3, whatever the server does (stops, floods, never answers).
 * - `silent_ns`: the longest the worker waited, with messages in flight, for any byte of a
 *   reply during the window and drain (a server stopped or stalled shows here).
 *
 * Usage (internal: `python -m clients.native --help` is the command for people): the
 * options of clients/spec.py that say `worker=True`, as `to_argv(worker=True)` writes them,
 * plus this worker's first connection:
 *   load PROTOCOL (--connect HOST:PORT | --unix PATH) [--size N] [--concurrency N] [--first N]
 *        [--pipeline N] [--duration S] [--warmup S] [--rate R] [--requests N] [--arrivals KIND]
 *        [--drain S] [--server-pid PID] [--priority auto|realtime|normal] [--tls] [--tls-resume]
 *        [--churn N] [--idle N] [--slow-readers K]
 * Every value is checked here (a bad one: one line, exit 2). After connecting, the worker
 * prints `connected` and waits for a line on stdin (the barrier); refused: one line on
 * stderr, exit 2. `load --features` prints `tls` when built with it. Self-checks:
 * `load --histogram` reads integers (ns) from stdin and prints the pairs; `load --schedule
 * RATE ARRIVALS N` prints N due times.
 */
#include "common.h"
#include "channel.h"
#include "dial.h"
#include "histogram.h"
#include "options.h"
#include "pacing.h"
#include "procstat.h"
#include "receive.h"
#include "slow.h"
#include "websocket.h"
#include "workload.h"

#define READ_SIZE (256 * 1024)    /* as asyncio and uvloop read */
#define STRIDE 7                  /* connection i starts at message i * STRIDE */
#define BLOCKS 20                 /* slices of the window, for the p99's confidence interval */
/* Open loop: one tick sends for at most this long, then lets the loop look at the clock and
 * its sockets. Without it, when each send costs more than the gap between arrivals, every
 * tick starts with a larger backlog than the last and the run overruns its end (500,000
 * msg/s on a busy 2-core machine: a tick begun before the window's end ran for a minute). */
#define TICK_BUDGET_NS 1000000LL
#define CONNECT_TIMEOUT_S 10                 /* for all the worker's connections together */
#define COUNTED_TIMEOUT_NS 60000000000LL /* as clients/spec.py's COUNTED_LIMIT_S */
#define GRACE_S 2.0                          /* beyond the run's own length, before giving up */
#define MAX_EVENTS 256
#define IDLE_OPENING 64        /* --idle: connections opening at once, under a listen backlog */
#define IDLE_PER_S 500         /* --idle: the slowest opening allowed for (WebSocket over TLS) */
#define SLOW_TAG 0xFFFFFFFFULL /* an epoll tag's upper half: a slow reader's event */
#define SLOW_TICK_NS 10000000LL /* with slow readers, their budgets are looked at this often */

/* ---- time, randomness, output ---------------------------------------------------------- */

static uint64_t rng_state[4]; /* xoshiro256**: the arrival process's random numbers */

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_random(void) {
    uint64_t *s = rng_state, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
    return result;
}

static void json_string(const char *text) {
    putchar('"');
    for (; *text; text++) {
        if (*text == '"' || *text == '\\') putchar('\\');
        if ((unsigned char)*text >= 0x20) putchar(*text);
    }
    putchar('"');
}

/* ---- connections ----------------------------------------------------------------------- */

/* A message in flight: when it was due, and when the worker handed it to its socket (the
 * same, unless the worker itself was late). Its server latency runs from `sent` to the reply's
 * arrival in the kernel; its intended latency (wrk2's) from `due` to the reply's read. A send
 * the socket would not take (the server not reading) is `sent` when it was attempted, so the
 * server is charged every wait it causes and none of the worker's own. */
struct stamp {
    int64_t due, sent;
};

struct connection {
    struct channel ch;
    int closing;               /* failed or given up: this slot is done */
    uint32_t index, generation; /* its epoll tag: events of a closed predecessor are ignored */
    uint32_t watched;           /* the events epoll watches for it (0: its socket is not added) */
    char error[200];
    size_t next_message, offset, reply_left;
    struct stamp *sent_at; /* a ring of the messages in flight */
    size_t ring_size, head, in_flight;
    uint64_t skip;    /* replies still due to messages sent before the window */
    uint64_t replies; /* replies since the window started: the throughput count */
    uint64_t budget;  /* closed loop: messages it may still send by itself (--churn: connections) */
    unsigned char *out;
    size_t out_start, out_length, out_capacity; /* bytes the socket would not take yet */
    /* --churn: each connection in this slot opens, exchanges `churn` messages and closes */
    struct dial dial;     /* its opening, until open */
    int64_t due, dialed;  /* when it was due (open loop; else when dialed), and dialed */
    uint64_t left;        /* messages it has still to send */
    int answered, idle;   /* its first echo came; the slot holds no connection */
};

enum phase { WARMUP, WINDOW, DRAIN };

static struct {
    struct workload w;
    struct connection *conns;
    size_t count;
    int epoll_fd;
    enum phase phase;
    int64_t window_start, duration_ns;
    struct histogram *blocks; /* BLOCKS of them: server latency, per slice of the window */
    struct histogram *intended; /* open loop: from each message's due time to its reply's read */
    int open_loop;
    struct target target;
    size_t pipeline;
    uint64_t churn;          /* messages per connection, 0: connections stay open */
    uint64_t opened;         /* --churn: connections that completed in the window */
    uint64_t resumed;        /* ...of those, TLS handshakes that resumed a session */
    size_t *idle_slots, idle_count; /* open-loop churn: the slots free for the next arrival */
    struct slow_reader *slow; /* --slow-readers */
    size_t slow_count;
    int64_t started;          /* released: when the run began (the slow readers' budgets) */
    uint64_t timed;           /* replies recorded whose arrival the kernel timestamped */
    int realtime;             /* open loop: real-time priority granted (pacing.h) */
    int64_t breathers_ns;     /* ...and the time of the window it spent at normal priority */
    size_t in_flight;         /* over all connections */
    int64_t heard_at;         /* the last byte read, or the first send after none in flight */
    int64_t silent_ns;        /* the longest wait for a byte with messages in flight, measured */
    unsigned char buffer[READ_SIZE];
} run;

/* A byte arrived (or the worker stops waiting) at `now`: how long it was silent till then.
 * Not with --churn: a server past its accept backlog drops SYNs, each retried a second later,
 * and a second of silence is then its saturation, which each connection's latency carries. */
static void heard(int64_t now) {
    if (run.phase != WARMUP && run.in_flight && !run.churn) {
        int64_t since = run.heard_at > run.window_start ? run.heard_at : run.window_start;
        if (now - since > run.silent_ns) run.silent_ns = now - since;
    }
    run.heard_at = now;
}

/* Watch its socket for `events` (one epoll_ctl, none when they are watched already). */
static void watch(struct connection *c, uint32_t events) {
    if (events == c->watched) return;
    struct epoll_event event = {.events = events, .data.u64 = (uint64_t)c->generation << 32 | c->index};
    epoll_ctl(run.epoll_fd, c->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->ch.fd, &event);
    c->watched = events;
}

static void watch_writes(struct connection *c, int on) { watch(c, EPOLLIN | (on ? EPOLLOUT : 0)); }

static void fail(struct connection *c, const char *format, const char *detail) {
    if (!c->error[0]) snprintf(c->error, sizeof c->error, format, detail);
    if (!c->closing) {
        c->closing = 1;
        run.in_flight -= c->in_flight;
        channel_close(&c->ch);
    }
}

static void send_message(struct connection *c, int64_t due, int64_t sent) {
    if (c->closing) return;
    const unsigned char *message = run.w.messages + c->next_message * run.w.message_size;
    size_t size = run.w.message_size, written = 0;
    c->next_message = (c->next_message + 1) % run.w.count;
    if (c->in_flight == c->ring_size) { /* grow the ring, oldest first */
        struct stamp *bigger = allocate(2 * c->ring_size * sizeof *bigger);
        for (size_t i = 0; i < c->in_flight; i++) bigger[i] = c->sent_at[(c->head + i) % c->ring_size];
        free(c->sent_at);
        c->sent_at = bigger, c->head = 0, c->ring_size *= 2;
    }
    c->sent_at[(c->head + c->in_flight++) % c->ring_size] = (struct stamp){due, sent};
    if (!run.in_flight++) run.heard_at = now_ns(); /* waiting from now, not since the last reply */
    if (!c->out_length) {
        ssize_t sent = channel_send(&c->ch, message, size);
        if (sent < 0 && errno != EAGAIN && errno != EINTR) {
            fail(c, "connection lost: %s", channel_failure(&c->ch));
            return;
        }
        written = sent < 0 ? 0 : (size_t)sent;
        if (written == size) return;
        watch_writes(c, 1);
    }
    if (c->out_start + c->out_length + size - written > c->out_capacity) {
        /* Move what is waiting to the front only when the end is reached (each byte moves at
         * most once per doubling), and grow when that is not room enough. */
        memmove(c->out, c->out + c->out_start, c->out_length);
        c->out_start = 0;
        if (c->out_length + size - written > c->out_capacity) {
            c->out_capacity = 2 * (c->out_length + size);
            c->out = realloc(c->out, c->out_capacity);
            if (!c->out) die(1, "out of memory (%s)", "realloc");
        }
    }
    memcpy(c->out + c->out_start + c->out_length, message + written, size - written);
    c->out_length += size - written;
}

static void writable(struct connection *c) {
    ssize_t sent = channel_send(&c->ch, c->out + c->out_start, c->out_length);
    if (sent < 0) {
        if (errno != EAGAIN && errno != EINTR) fail(c, "connection lost: %s", channel_failure(&c->ch));
        return;
    }
    c->out_start += (size_t)sent, c->out_length -= (size_t)sent;
    if (!c->out_length) c->out_start = 0, watch_writes(c, 0);
}

static struct histogram *block_at(int64_t now) {
    int64_t index = run.phase == DRAIN ? BLOCKS - 1 : (now - run.window_start) * BLOCKS / run.duration_ns;
    return &run.blocks[index < 0 ? 0 : index >= BLOCKS ? BLOCKS - 1 : index];
}

static void measured(struct stamp message, const struct reading *when) {
    record(block_at(when->read_at), when->arrived_at - message.sent);
    if (run.open_loop) record(run.intended, when->read_at - message.due); /* closed: no due times */
    run.timed += (uint64_t)when->timed;
}

static void churn_reply(struct connection *c, const struct reading *when);

static void reply_completed(struct connection *c, const struct reading *when) {
    struct stamp message = c->sent_at[c->head];
    c->head = (c->head + 1) % c->ring_size, c->in_flight--, run.in_flight--;
    if (run.phase != WARMUP) c->replies++;
    if (run.churn) { /* the sample is the connection's, not each message's */
        churn_reply(c, when);
        return;
    }
    if (run.phase != WARMUP) {
        if (c->skip)
            c->skip--;
        else
            measured(message, when);
    }
    if (c->budget) {
        c->budget--;
        send_message(c, when->read_at, when->read_at);
    }
}

/* One read and the replies it completes: 0 when there was nothing to read or it failed. */
static int read_once(struct connection *c) {
    uint32_t generation = c->generation; /* --churn: its last echo may close it */
    struct reading when;
    ssize_t got = channel_receive(&c->ch, run.buffer, READ_SIZE, &when);
    if (got <= 0) {
        if (got == 0)
            fail(c, "connection lost: %s", "closed by the server");
        else if (errno != EAGAIN && errno != EINTR)
            fail(c, "connection lost: %s", channel_failure(&c->ch));
        return 0;
    }
    size_t size = (size_t)got;
    heard(when.read_at);
    if (memcmp(run.buffer, run.w.expected + c->offset, size) != 0) {
        size_t first = 0;
        while (run.buffer[first] == run.w.expected[c->offset + first]) first++;
        char where[80];
        snprintf(where, sizeof where, "%zu of %zu", (c->offset + first) % run.w.reply_size, run.w.reply_size);
        fail(c, "reply differs from what was sent at byte %s", where);
        return 0;
    }
    c->offset = (c->offset + size) % run.w.period;
    size_t completed = 0;
    if (size < c->reply_left) {
        c->reply_left -= size;
    } else {
        size -= c->reply_left;
        completed = 1 + size / run.w.reply_size;
        c->reply_left = run.w.reply_size - size % run.w.reply_size;
    }
    if (!completed) return 1;
    if (completed > c->in_flight) {
        fail(c, "%s", "the server sent more replies than messages");
        return 0;
    }
    while (completed--) reply_completed(c, &when);
    return !c->closing && c->generation == generation;
}

/* The socket is readable: one read, and more while TLS holds bytes it already took from the
 * socket (what is left in the socket, level-triggered epoll reports again). */
static void readable(struct connection *c) {
    while (read_once(c) && channel_buffered(&c->ch)) continue;
}

/* ---- connection churn ------------------------------------------------------------------ */

/* A connection's latency, from when it was dialed (server) or due (intended) to its first echo:
 * sampled when it was dialed in the window, as a message is when it was sent in it. */
static void connection_measured(struct connection *c, const struct reading *when) {
    if (run.phase == WARMUP || c->dialed < run.window_start) return;
    record(block_at(when->read_at), when->arrived_at - c->dialed);
    if (run.open_loop) record(run.intended, when->read_at - c->due);
    run.timed += (uint64_t)when->timed;
}

static void dial_slot(struct connection *c, int64_t due);

/* Its last echo came: closed, counted, and the slot dialed again or left free. */
static void connection_done(struct connection *c, int64_t now) {
    if (run.phase != WARMUP && c->dialed >= run.window_start)
        run.opened++, run.resumed += c->ch.tls && tls_resumed(c->ch.tls);
    channel_close(&c->ch);
    c->generation++, c->watched = 0;
    if (c->budget) {
        c->budget--;
        dial_slot(c, now);
    } else {
        c->idle = 1;
        if (run.idle_slots) run.idle_slots[run.idle_count++] = c->index;
    }
}

static void churn_reply(struct connection *c, const struct reading *when) {
    if (!c->answered) c->answered = 1, connection_measured(c, when);
    if (c->left)
        c->left--, send_message(c, when->read_at, when->read_at);
    else if (!c->in_flight)
        connection_done(c, when->read_at);
}

/* Open: its first messages go out (as many as --pipeline), waiting for echoes from now on. */
static void start_echoing(struct connection *c) {
    int64_t now = now_ns();
    watch(c, EPOLLIN);
    for (size_t d = 0; d < run.pipeline && c->left; d++) c->left--, send_message(c, now, now);
}

static void dialing(struct connection *c) {
    const char *why = NULL;
    switch (dial_step(&c->dial, &run.target, &c->ch, &why)) {
    case DIAL_READY: start_echoing(c); break;
    case DIAL_WANTS_READ: watch(c, EPOLLIN); break;
    case DIAL_WANTS_WRITE: watch(c, EPOLLOUT); break;
    case DIAL_FAILED: fail(c, "cannot connect: %s", why); break;
    }
}

/* A new connection in this slot, due at `due` (open loop; else now). */
static void dial_slot(struct connection *c, int64_t due) {
    const char *why = NULL;
    c->idle = 0, c->answered = 0, c->left = run.churn, c->due = due, c->dialed = now_ns();
    c->head = 0, c->in_flight = 0, c->out_start = 0, c->out_length = 0;
    c->offset = c->next_message * run.w.reply_size, c->reply_left = run.w.reply_size;
    if (dial_start(&c->dial, &run.target, &c->ch, &why) < 0) {
        c->ch.fd = -1;
        snprintf(c->error, sizeof c->error, "cannot connect: %s", why);
        c->closing = 1;
        return;
    }
    dialing(c); /* on loopback the handshake is usually done by now: no wait for it */
}

/* Whether the slot holds a connection still at work (its echoes, or its opening). */
static int busy(const struct connection *c) { return !c->closing && (run.churn ? !c->idle : c->in_flight > 0); }

/* ---- the open-loop schedule ------------------------------------------------------------ */

struct arrivals {
    int poisson;
    double interval_ns, last_ns;
    uint64_t made;
    int64_t next; /* the next due time, ns from the schedule's start */
};

static void advance(struct arrivals *a) {
    if (a->poisson) { /* exponential gaps, mean 1/rate */
        double uniform = (double)(next_random() >> 11) * 0x1.0p-53;
        a->last_ns += -log1p(-uniform) * a->interval_ns;
        a->next = (int64_t)a->last_ns;
    } else { /* from the index, so rounding never drifts */
        a->next = (int64_t)((double)a->made * a->interval_ns);
    }
    a->made++;
}

static struct arrivals arrivals_for(double rate, const char *kind) {
    struct arrivals a = {.poisson = strcmp(kind, "poisson") == 0, .interval_ns = 1e9 / rate};
    advance(&a);
    return a;
}

static struct {
    struct arrivals arrivals;
    int64_t started;
    uint64_t sent;
    int measuring;
    struct histogram *lateness; /* per message sent in the window: how late the worker sent it */
} schedule;

/* Messages due by `elapsed` (ns from the start): those sent, and those due but not yet sent. */
static uint64_t due_by(int64_t elapsed) {
    struct arrivals copy = schedule.arrivals;
    uint64_t due = schedule.sent;
    while (copy.next <= elapsed) due++, advance(&copy);
    return due;
}

static void tick(int64_t now) {
    int64_t elapsed = now - schedule.started;
    struct arrivals *a = &schedule.arrivals;
    if (a->next > elapsed) return;
    for (int64_t sent = now; a->next <= elapsed; sent = now_ns()) {
        if (sent - now > TICK_BUDGET_NS) break; /* the rest next tick */
        if (run.churn && !run.idle_count) break;  /* every slot busy: the arrival waits */
        int64_t due = schedule.started + a->next;
        if (schedule.measuring) record(schedule.lateness, sent - due);
        if (run.churn)
            dial_slot(&run.conns[run.idle_slots[--run.idle_count]], due);
        else
            send_message(&run.conns[schedule.sent % run.count], due, sent);
        schedule.sent++;
        advance(a);
    }
}

/* ---- the run --------------------------------------------------------------------------- */

static void on_signal(int number) { _exit(128 + number); }

/* As many open files as the hard limit allows (--idle, many connections): the wrapper has
 * checked that it is enough. */
static void raise_open_files(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

/* The deadline: past it, `deadline_message` on stderr and exit `deadline_status`. */
static char deadline_message[512];
static int deadline_status;

static void on_deadline(int number) {
    (void)number;
    ssize_t written = write(STDERR_FILENO, deadline_message, strlen(deadline_message));
    (void)written;
    _exit(deadline_status);
}

static void set_deadline(double seconds, int status, const char *message) {
    snprintf(deadline_message, sizeof deadline_message, "%s\n", message);
    deadline_status = status;
    struct itimerval timer = {.it_value = {.tv_sec = (time_t)seconds,
                                           .tv_usec = (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)}};
    setitimer(ITIMER_REAL, &timer, NULL);
}

static int any_error(void) {
    for (size_t i = 0; i < run.count; i++)
        if (run.conns[i].error[0]) return 1;
    return 0;
}

static int all_closed(void) {
    for (size_t i = 0; i < run.count; i++)
        if (!run.conns[i].closing) return 0;
    return 1;
}

static int none_in_flight(void) {
    for (size_t i = 0; i < run.count; i++)
        if (busy(&run.conns[i])) return 0;
    return 1;
}

static int counted_done(void) {
    for (size_t i = 0; i < run.count; i++)
        if (!run.conns[i].closing && (run.conns[i].budget || busy(&run.conns[i]))) return 0;
    return 1;
}

/* Wait for events until `deadline` (or, open loop, the next send that is due). */
static void poll_once(int64_t deadline, int open_loop) {
    struct epoll_event events[MAX_EVENTS];
    int64_t now = now_ns(), until = deadline;
    if (open_loop && !(run.churn && !run.idle_count)) { /* every slot busy: a free one wakes it */
        int64_t wake = wake_at(now, schedule.started + schedule.arrivals.next);
        if (wake < until) until = wake;
    }
    if (run.slow_count) {
        double seconds = (double)(now - run.started) / 1e9;
        for (size_t i = 0; i < run.slow_count; i++) slow_watch(&run.slow[i], run.epoll_fd, SLOW_TAG << 32 | i, seconds);
        if (now + SLOW_TICK_NS < until) until = now + SLOW_TICK_NS;
    }
    int64_t wait = until > now ? until - now : 0;
    struct timespec timeout = {.tv_sec = wait / 1000000000LL, .tv_nsec = wait % 1000000000LL};
    int ready = epoll_pwait2(run.epoll_fd, events, MAX_EVENTS, &timeout, NULL);
    for (int i = 0; i < ready; i++) {
        if (events[i].data.u64 >> 32 == SLOW_TAG) {
            slow_serve(&run.slow[(uint32_t)events[i].data.u64], &run.w, events[i].events,
                       (double)(now_ns() - run.started) / 1e9);
            continue;
        }
        struct connection *c = &run.conns[(uint32_t)events[i].data.u64];
        if (open_loop && run.phase != DRAIN) tick(now_ns()); /* between events: lag stays small */
        if (c->closing || c->generation != events[i].data.u64 >> 32) continue; /* closed since */
        if (run.churn && c->dial.stage != DIAL_OPEN) {
            dialing(c);
            continue;
        }
        if (events[i].events & EPOLLOUT) writable(c);
        if (!c->closing && events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) readable(c);
    }
}

static void print_result(const struct options *o, int64_t window_ns, int64_t cpu, uint64_t requests,
                         uint64_t undelivered, uint64_t scheduled, uint64_t sent, struct usage server,
                         struct own own, int64_t ended) {
    uint64_t count = 0;
    double total = 0, total_sq = 0;
    for (int b = 0; b < BLOCKS; b++)
        count += run.blocks[b].count, total += run.blocks[b].total, total_sq += run.blocks[b].total_sq;
    printf("{\"connections\":%zu,\"opened\":%llu,\"resumed\":%llu,\"requests\":%llu,\"window_ns\":%lld,\"cpu_ns\":%lld,"
           "\"undelivered\":%llu,\"scheduled\":%llu,\"sent\":%llu,",
           o->connections, (unsigned long long)run.opened, (unsigned long long)run.resumed,
           (unsigned long long)requests, (long long)window_ns, (long long)cpu,
           (unsigned long long)undelivered, (unsigned long long)scheduled, (unsigned long long)sent);
    printf("\"own_wait_ns\":%lld,\"own_involuntary\":%lld,\"steal_ns\":%lld,\"started_ns\":%lld,"
           "\"ended_ns\":%lld,\"silent_ns\":%lld,",
           own.wait_ns, own.involuntary, own.steal_ns, (long long)run.window_start, (long long)ended,
           (long long)run.silent_ns);
    if (server.known)
        printf("\"server\":{\"user_s\":%.17g,\"system_s\":%.17g,\"voluntary\":%lld,\"involuntary\":%lld,"
               "\"run_delay_s\":%.17g},",
               server.user_s, server.system_s, server.voluntary, server.involuntary, server.run_delay_ns / 1e9);
    else
        printf("\"server\":null,");
    printf("\"latency\":{\"count\":%llu,\"total_ns\":%.17g,\"total_sq_ns\":%.17g},\"blocks\":[",
           (unsigned long long)count, total, total_sq);
    for (int b = 0; b < BLOCKS; b++) {
        if (b) putchar(',');
        print_pairs(&run.blocks[b]);
    }
    printf("],\"intended\":");
    print_recorded(run.intended);
    printf(",\"lateness\":");
    print_recorded(schedule.lateness);
    int64_t realtime_ns = run.realtime ? window_ns - run.breathers_ns : 0;
    printf(",\"timed\":%llu,\"realtime_ns\":%lld,\"errors\":[", (unsigned long long)run.timed,
           (long long)(realtime_ns > 0 ? realtime_ns : 0));
    const char *comma = "";
    for (size_t i = 0; i < run.count; i++)
        if (run.conns[i].error[0]) printf("%s", comma), json_string(run.conns[i].error), comma = ",";
    uint64_t slow_sent = 0, slow_read = 0;
    for (size_t i = 0; i < run.slow_count; i++) {
        if (run.slow[i].error[0]) printf("%s", comma), json_string(run.slow[i].error), comma = ",";
        slow_sent += run.slow[i].sent, slow_read += run.slow[i].read;
    }
    printf("],\"slow_sent\":%llu,\"slow_read\":%llu}\n", (unsigned long long)slow_sent,
           (unsigned long long)slow_read);
}

static void refused(const struct options *o, const char *why) {
    if (o->unix_path)
        fprintf(stderr, "cannot connect to %s: %s\n", o->unix_path, why);
    else
        fprintf(stderr, "cannot connect to %s:%s: %s\n", o->host, o->port, why);
    exit(2);
}

/* Every connection open before the barrier, the slow readers' and the idle ones too; with
 * --churn, one opened and closed to show the server answers (the slots open theirs once
 * released). */
static void connect_all(const struct options *o) {
    const char *why = resolve(&run.target, o->host, o->port, o->unix_path);
    if (why) refused(o, why);
    run.target.tls = o->tls, run.target.ws = strcmp(o->protocol, "ws") == 0;
    run.target.resume = o->tls_resume;
    run.conns = allocate(o->connections * sizeof *run.conns);
    run.count = o->connections;
    run.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (run.churn) {
        struct channel probe;
        keep_receive_timestamps_on();
        if ((why = dial_blocking(&run.target, &probe))) refused(o, why);
        channel_close(&probe);
        if (o->rate > 0) run.idle_slots = allocate(o->connections * sizeof *run.idle_slots);
    }
    for (size_t i = 0; i < o->connections; i++) {
        struct connection *c = &run.conns[i];
        c->index = (uint32_t)i;
        c->next_message = ((o->first + i) * STRIDE) % run.w.count;
        c->offset = c->next_message * run.w.reply_size;
        c->reply_left = run.w.reply_size;
        c->ring_size = 64;
        c->sent_at = allocate(c->ring_size * sizeof *c->sent_at);
        if (run.churn) {
            c->idle = 1, c->ch.fd = -1;
            if (run.idle_slots) run.idle_slots[run.idle_count++] = o->connections - 1 - i;
            continue;
        }
        if ((why = dial_blocking(&run.target, &c->ch))) refused(o, why);
        fcntl(c->ch.fd, F_SETFL, fcntl(c->ch.fd, F_GETFL) | O_NONBLOCK);
        watch(c, EPOLLIN);
    }
    if (o->slow_readers) run.slow = allocate(o->slow_readers * sizeof *run.slow);
    run.slow_count = o->slow_readers;
    for (size_t i = 0; i < run.slow_count; i++)
        if ((why = slow_open(&run.slow[i], &run.target, &run.w, (o->first + o->connections + i) * STRIDE,
                             run.epoll_fd, SLOW_TAG << 32 | i)))
            refused(o, why);
    if (o->idle) { /* open, upgraded, one echo, then silent: the server holds them */
        struct channel *idle = allocate(o->idle * sizeof *idle);
        struct greeting hello = {run.w.messages, run.w.expected, run.w.message_size, run.w.reply_size};
        if ((why = dial_many(&run.target, idle, o->idle, IDLE_OPENING, &hello))) refused(o, why);
    }
}

static void start_window(int64_t now) {
    run.phase = WINDOW, run.window_start = now;
    for (size_t i = 0; i < run.count; i++) run.conns[i].replies = 0, run.conns[i].skip = run.conns[i].in_flight;
    schedule.measuring = 1;
}

static int run_load(const struct options *o) {
    int open_loop = run.open_loop = o->rate > 0, counted = o->requests > 0;
    run.duration_ns = (int64_t)(o->duration * 1e9);
    run.phase = WARMUP;
    if (open_loop) schedule.arrivals = arrivals_for(o->rate, o->arrivals);
    int64_t start = run.started = now_ns(), warm_end = start + (int64_t)(o->warmup * 1e9);
    /* Closed loop: each connection's messages, or with --churn each slot's connections. */
    uint64_t units = run.churn ? o->requests / run.churn : o->requests;
    for (size_t i = 0; i < run.count; i++) {
        struct connection *c = &run.conns[i];
        c->budget = open_loop ? 0 : counted ? units / run.count + (i < units % run.count) : UINT64_MAX;
    }
    if (counted) start_window(start);
    schedule.started = start;
    for (size_t i = 0; i < run.count && !open_loop; i++) {
        struct connection *c = &run.conns[i];
        if (run.churn) {
            if (c->budget) c->budget--, dial_slot(c, start);
            continue;
        }
        for (size_t d = 0; d < o->pipeline && c->budget; d++) c->budget--, send_message(c, start, start);
    }
    if (!counted) {
        while (now_ns() < warm_end && !all_closed()) {
            if (open_loop) tick(now_ns()), watch_realtime(now_ns());
            poll_once(warm_end, open_loop);
        }
        start_window(now_ns());
    }
    int64_t cpu_before = cpu_ns(), window_end = run.window_start + run.duration_ns;
    struct usage server_before = server_usage(o->server_pid);
    struct own own_before = own_usage();
    uint64_t sent_before = schedule.sent, due_before = open_loop ? due_by(run.window_start - schedule.started) : 0;
    if (counted) window_end = run.window_start + COUNTED_TIMEOUT_NS;
    while (now_ns() < window_end && !all_closed() && !(counted && counted_done())) {
        if (open_loop) tick(now_ns()), run.breathers_ns += watch_realtime(now_ns());
        poll_once(window_end, open_loop);
    }
    int64_t ended = now_ns();
    int64_t cpu = cpu_ns() - cpu_before;
    struct usage server = server_usage(o->server_pid);
    struct own own = own_usage();
    own.wait_ns -= own_before.wait_ns, own.involuntary -= own_before.involuntary, own.steal_ns -= own_before.steal_ns;
    if (server.known && server_before.known)
        server.user_s -= server_before.user_s, server.system_s -= server_before.system_s,
        server.voluntary -= server_before.voluntary, server.involuntary -= server_before.involuntary,
        server.run_delay_ns -= server_before.run_delay_ns;
    else
        server.known = 0;
    uint64_t requests = 0, undelivered = 0, scheduled = 0, sent = schedule.sent - sent_before;
    for (size_t i = 0; i < run.count; i++) requests += run.conns[i].replies, run.conns[i].budget = 0;
    if (open_loop) scheduled = due_by(ended - schedule.started) - due_before;
    run.phase = DRAIN;
    int64_t drain_end = now_ns() + (int64_t)(o->drain * 1e9);
    while (!counted && !none_in_flight() && now_ns() < drain_end) poll_once(drain_end, 0);
    int64_t gave_up = now_ns();
    heard(gave_up); /* a silence still going on counts up to here */
    for (size_t i = 0; i < run.count; i++) { /* each unanswered message counts as answered now */
        struct connection *c = &run.conns[i];
        if (run.churn) { /* a connection without its first echo counts with its wait so far */
            if (busy(c) && !c->answered && c->dialed >= run.window_start)
                connection_measured(c, &(struct reading){gave_up, gave_up, 0}), undelivered++;
            continue;
        }
        for (; !c->closing && c->in_flight; c->in_flight--, c->head = (c->head + 1) % c->ring_size)
            if (c->skip)
                c->skip--;
            else
                measured(c->sent_at[c->head], &(struct reading){gave_up, gave_up, 0}), undelivered++;
    }
    if (counted && requests < o->requests && !any_error()) {
        char message[120];
        snprintf(message, sizeof message, "only %llu of %llu echoes within 60 s", (unsigned long long)requests,
                 (unsigned long long)o->requests);
        snprintf(run.conns[0].error, sizeof run.conns[0].error, "%s", message);
    }
    print_result(o, ended - run.window_start, cpu, requests, undelivered, scheduled, sent, server, own, ended);
    return 0;
}

/* ---- self-checks and the entry point --------------------------------------------------- */

static int print_histogram_of_stdin(void) {
    struct histogram *h = allocate(sizeof *h);
    long long value;
    while (scanf("%lld", &value) == 1) record(h, value);
    print_pairs(h);
    putchar('\n');
    return 0;
}

static int print_schedule(double rate, const char *kind, long count) {
    struct arrivals a = arrivals_for(rate, kind);
    for (long i = 0; i < count; i++, advance(&a)) printf("%lld\n", (long long)a.next);
    return 0;
}

int main(int argc, char **argv) {
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGALRM, on_deadline);
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the wrapper that reads the result */
    prctl(PR_SET_TIMERSLACK, 1UL);    /* wake up for the next send when asked, not 50 us later */
    random_bytes(rng_state, sizeof rng_state);
    if (argc == 2 && strcmp(argv[1], "--histogram") == 0) return print_histogram_of_stdin();
    if (argc == 2 && strcmp(argv[1], "--features") == 0) return puts(tls_built() ? "tls" : ""), 0;
    if (argc == 5 && strcmp(argv[1], "--schedule") == 0)
        return print_schedule(seconds_arg("rate", argv[2], 1), argv[3],
                              (long)count_arg("count", argv[4], 100000000));
    struct options o;
    parse_options(argc, argv, &o);
    if (o.tls && !tls_built()) die(2, "load: %s", tls_failure());
    raise_open_files();
    run.churn = o.churn, run.pipeline = o.pipeline;
    run.w = build_workload(o.protocol, o.size);
    run.blocks = allocate(BLOCKS * sizeof *run.blocks);
    run.intended = allocate(sizeof *run.intended);
    schedule.lateness = allocate(sizeof *schedule.lateness);
    char message[sizeof deadline_message - 1];
    double connect_s = CONNECT_TIMEOUT_S + (double)o.idle / IDLE_PER_S;
    snprintf(message, sizeof message, "cannot connect to %.200s%s%s: timed out (%.0f s for all connections)",
             o.unix_path ? o.unix_path : o.host, o.unix_path ? "" : ":", o.unix_path ? "" : o.port,
             connect_s);
    set_deadline(connect_s, 2, message);
    connect_all(&o);
    int asked = strcmp(o.priority, "realtime") == 0;
    if (o.rate > 0 && (asked || (strcmp(o.priority, "auto") == 0 && cpus_of_its_own(o.server_pid))))
        run.realtime = enter_realtime(asked);
    setitimer(ITIMER_REAL, &(struct itimerval){0}, NULL); /* connected: no deadline till released */
    printf("connected\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) return 1; /* the wrapper went away: nothing to do */
    double limit = (o.requests ? COUNTED_TIMEOUT_NS / 1e9 : o.warmup + o.duration) + o.drain + GRACE_S;
    snprintf(message, sizeof message, "the run did not end within %.1f s (its warm-up, window and "
             "drain, and %.0f s more): given up", limit, GRACE_S);
    set_deadline(limit, 3, message);
    return run_load(&o);
}
