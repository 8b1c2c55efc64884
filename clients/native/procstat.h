/* What /proc says of this worker and of the server it loads: CPU, waits and switches. */
#ifndef LOAD_PROCSTAT_H
#define LOAD_PROCSTAT_H
struct usage {
    int known;
    double user_s, system_s;
    long long voluntary, involuntary, run_delay_ns;
};

struct own { /* this worker's waits and switches, and the machine's steal, so far */
    long long wait_ns, involuntary, steal_ns;
};

struct own own_usage(void);         /* this worker's, and the machine's steal, so far */
struct usage server_usage(int pid); /* the server's so far; known = 0 without a PID or a /proc */
#endif
