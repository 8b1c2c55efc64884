#include "common.h"
#include "procstat.h"

/* Nanoseconds the threads of `pid` ("self" too) were runnable but waiting for a CPU: the
 * second field of each /proc/PID/task/TID/schedstat, as aionetbench/procstat.py reads it. */
static long long run_delay_ns(const char *pid) {
    char path[64], file_path[128];
    snprintf(path, sizeof path, "/proc/%s/task", pid);
    DIR *tasks = opendir(path);
    if (!tasks) return 0;
    long long total = 0;
    struct dirent *task;
    while ((task = readdir(tasks))) {
        if (task->d_name[0] == '.') continue;
        snprintf(file_path, sizeof file_path, "%s/%.32s/schedstat", path, task->d_name);
        FILE *file = fopen(file_path, "r");
        unsigned long long on_cpu, waiting;
        if (file && fscanf(file, "%llu %llu", &on_cpu, &waiting) == 2) total += (long long)waiting;
        if (file) fclose(file);
    }
    closedir(tasks);
    return total;
}

/* The machine's steal time so far, summed over CPUs (the 8th value of /proc/stat's `cpu`). */
static long long steal_ns(void) {
    FILE *file = fopen("/proc/stat", "r");
    unsigned long long steal = 0;
    if (!file) return 0;
    if (fscanf(file, "cpu %*u %*u %*u %*u %*u %*u %*u %llu", &steal) != 1) steal = 0;
    fclose(file);
    return (long long)((double)steal * 1e9 / (double)sysconf(_SC_CLK_TCK));
}


struct own own_usage(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (struct own){run_delay_ns("self"), usage.ru_nivcsw, steal_ns()};
}

struct usage server_usage(int pid) {
    struct usage u = {0};
    char path[64], text[4096];
    if (!pid) return u;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *file = fopen(path, "r");
    if (!file) return u;
    size_t length = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[length] = 0;
    char *after_name = strrchr(text, ')');
    unsigned long long user, system;
    /* fields 3.. after the name; utime and stime are the 14th and 15th */
    if (!after_name || sscanf(after_name + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                              &user, &system) != 2)
        return u;
    double tick = (double)sysconf(_SC_CLK_TCK);
    u.user_s = (double)user / tick, u.system_s = (double)system / tick;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    if (!(file = fopen(path, "r"))) return u;
    char line[256];
    while (fgets(line, sizeof line, file)) {
        sscanf(line, "voluntary_ctxt_switches: %lld", &u.voluntary);
        sscanf(line, "nonvoluntary_ctxt_switches: %lld", &u.involuntary);
    }
    fclose(file);
    snprintf(path, sizeof path, "%d", pid);
    u.run_delay_ns = run_delay_ns(path);
    u.known = 1;
    return u;
}
