/* The worker's command line: clients/spec.py's options that say worker=True, each checked. */
#ifndef LOAD_OPTIONS_H
#define LOAD_OPTIONS_H
#include <stddef.h>
#include <stdint.h>

#define MAX_SIZE (16 * 1024 * 1024) /* as clients/spec.py's MAX_SIZE */

struct options {
    const char *protocol, *host, *port, *unix_path, *arrivals, *priority;
    size_t size, connections, first, pipeline, idle, slow_readers;
    double duration, warmup, rate, drain;
    uint64_t requests, churn;
    int server_pid, tls, tls_resume;
};

/* Parse argv into `o`; a bad value or option is one line on stderr and exit 2. */
void parse_options(int argc, char **argv, struct options *o);
uint64_t count_arg(const char *name, const char *text, uint64_t maximum);
double seconds_arg(const char *name, const char *text, int positive);
#endif
