#include "common.h"
#include "pacing.h"

#include <sched.h>

/* Waking a sleeping thread here is late by 24 us at the median and 41-62 us at p99 (timer
 * slack 1 ns, pinned). Sleeping until 40 us before a send and spinning the rest kept the
 * schedule lag p99 at 35-39 us at 13,000 msg/s for 0.51 of a core (spinning: 0.90; waking
 * 80 us early: 30 us for 0.72; not at all: 75 us for 0.42). */
#define WAKE_EARLY_NS 40000LL

/* A real-time worker that never blocks starves its CPU's ksoftirqd, which carries its own
 * packets when the softirq work overflows: at 100,000 msg/s ksoftirqd/1 waited 383 ms in a
 * 2.3 s run, and when the kernel gave the starved threads their share the sends stopped for
 * 35-50 ms. So every WATCH_NS the worker looks at how long that thread waited for the CPU;
 * past STARVED_NS it spends the next WATCH_NS at normal priority (a breather), then goes
 * back. (At 50,000 msg/s it waited at most 1.8 ms in any 10 ms; where it stalled, 5-19 ms.) */
#define WATCH_NS 10000000LL
#define STARVED_NS 2000000LL

static struct {
    int schedstat;         /* /proc/PID/schedstat of this CPU's ksoftirqd, or -1 */
    int64_t next, waited;  /* when to look next; its wait for a CPU so far (ns) */
    int realtime;          /* whether the worker is real-time now */
} watch = {.schedstat = -1};

int64_t wake_at(int64_t now, int64_t due) { return due - now > WAKE_EARLY_NS ? due - WAKE_EARLY_NS : now; }

static int64_t softirq_wait_ns(void) {
    char text[96];
    ssize_t got = pread(watch.schedstat, text, sizeof text - 1, 0);
    long long ran, waited;
    if (got <= 0) return -1;
    text[got] = 0;
    return sscanf(text, "%lld %lld", &ran, &waited) == 2 ? waited : -1;
}

static void open_softirq_watch(void) {
    char wanted[32], path[64], name[32];
    snprintf(wanted, sizeof wanted, "ksoftirqd/%d\n", sched_getcpu());
    DIR *proc = opendir("/proc");
    for (struct dirent *entry; proc && watch.schedstat < 0 && (entry = readdir(proc));) {
        snprintf(path, sizeof path, "/proc/%.20s/comm", entry->d_name);
        FILE *comm = fopen(path, "r");
        if (!comm) continue;
        if (fgets(name, sizeof name, comm) && strcmp(name, wanted) == 0) {
            snprintf(path, sizeof path, "/proc/%.20s/schedstat", entry->d_name);
            watch.schedstat = open(path, O_RDONLY | O_CLOEXEC);
        }
        fclose(comm);
    }
    if (proc) closedir(proc);
}

static int set_policy(int policy) {
    struct sched_param lowest = {.sched_priority = sched_get_priority_min(policy)};
    return sched_setscheduler(0, policy, &lowest) == 0;
}

int cpus_of_its_own(int server_pid) {
    cpu_set_t mine, theirs, shared;
    if (sched_getaffinity(0, sizeof mine, &mine) != 0) return 0;
    if (CPU_COUNT(&mine) >= sysconf(_SC_NPROCESSORS_ONLN)) return 0; /* not pinned */
    if (server_pid <= 0 || sched_getaffinity(server_pid, sizeof theirs, &theirs) != 0) return 1;
    CPU_AND(&shared, &mine, &theirs);
    return CPU_COUNT(&shared) == 0;
}

int enter_realtime(int say) {
    if (!set_policy(SCHED_FIFO)) {
        if (say)
            fprintf(stderr, "load: real-time priority refused (%s; it needs CAP_SYS_NICE): "
                    "normal priority\n", strerror(errno));
        return 0;
    }
    open_softirq_watch();
    watch.waited = softirq_wait_ns();
    return watch.realtime = 1;
}

int64_t watch_realtime(int64_t now) {
    if (now < watch.next || watch.schedstat < 0) return 0;
    watch.next = now + WATCH_NS;
    int64_t waited = softirq_wait_ns(), starved = waited - watch.waited > STARVED_NS;
    watch.waited = waited;
    if (watch.realtime == starved && set_policy(starved ? SCHED_OTHER : SCHED_FIFO))
        watch.realtime = !starved;
    return watch.realtime ? 0 : WATCH_NS;
}
