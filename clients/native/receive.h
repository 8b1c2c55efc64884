/* Reading replies with the time the kernel received them (software receive timestamps,
 * SO_TIMESTAMPING), so a reply the worker got round to late is not charged to the server. */
#ifndef LOAD_RECEIVE_H
#define LOAD_RECEIVE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct reading {
    int64_t read_at;    /* CLOCK_MONOTONIC, when recvmsg returned */
    int64_t arrived_at; /* when the kernel received the last bytes read; read_at if untimed */
    int timed;          /* whether the kernel gave a timestamp (TCP does; Unix sockets do not) */
};

void ask_receive_timestamps(int fd);
/* Keep the kernel stamping received packets while connections come and go (see receive.c). */
void keep_receive_timestamps_on(void);
ssize_t receive(int fd, void *buffer, size_t size, struct reading *when);
#endif
