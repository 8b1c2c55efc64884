#include "common.h"

int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int64_t cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

void die(int status, const char *format, const char *detail) {
    fprintf(stderr, format, detail);
    fputc('\n', stderr);
    exit(status);
}

void *allocate(size_t size) {
    void *memory = calloc(1, size);
    if (!memory) die(1, "out of memory (%s)", "calloc");
    return memory;
}

void random_bytes(void *into, size_t size) {
    for (size_t done = 0; done < size;) {
        ssize_t got = getrandom((char *)into + done, size - done, 0);
        if (got < 0 && errno != EINTR) die(1, "getrandom: %s", strerror(errno));
        if (got > 0) done += (size_t)got;
    }
}
