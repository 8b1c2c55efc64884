/* The messages a worker sends and the reply stream they must bring back, built once: every
 * connection cycles through distinct messages cut from one random block, and each chunk it
 * reads is compared with the expected stream at its offset (one memcmp). */
#ifndef LOAD_WORKLOAD_H
#define LOAD_WORKLOAD_H
#include <stddef.h>

struct workload {
    size_t count, message_size, reply_size, period;
    unsigned char *messages; /* count messages of message_size bytes, on the wire */
    unsigned char *expected; /* the replies, twice over: any read fits in one compare */
};

/* For PROTOCOL (tcp, line or ws: masked frames out, unmasked ones back) and payload `size`. */
struct workload build_workload(const char *protocol, size_t size);
#endif
