#include <stdio.h>

#include "histogram.h"

static int bucket_of(int64_t value) { /* the bucket's index, as HdrHistogram computes it */
    int bucket = 63 - __builtin_clzll((uint64_t)value | ((1 << SUB_BUCKET_BITS) - 1)) -
                 (SUB_BUCKET_BITS - 1);
    int64_t sub = value >> bucket;
    return ((bucket + 1) << (SUB_BUCKET_BITS - 1)) + (int)(sub - HALF_BUCKETS);
}

static int64_t middle_of(int index) { /* the bucket's middle: what clients.stats records */
    int bucket = (index >> (SUB_BUCKET_BITS - 1)) - 1;
    int64_t sub = (index & (HALF_BUCKETS - 1)) + HALF_BUCKETS;
    if (bucket < 0) sub -= HALF_BUCKETS, bucket = 0;
    return (sub << bucket) + ((1LL << bucket) >> 1);
}

void record(struct histogram *h, int64_t value) {
    value = value < 1 ? 1 : value > HIGHEST_NS ? HIGHEST_NS : value;
    h->counts[bucket_of(value)]++;
    h->count++;
    h->total += (double)value;
    h->total_sq += (double)value * (double)value;
}

void print_pairs(const struct histogram *h) {
    const char *comma = "";
    putchar('[');
    for (int i = 0; i < BUCKET_INDEXES; i++)
        if (h->counts[i]) printf("%s%lld,%llu", comma, (long long)middle_of(i),
                                 (unsigned long long)h->counts[i]), comma = ",";
    putchar(']');
}

void print_recorded(const struct histogram *h) {
    printf("{\"count\":%llu,\"total_ns\":%.17g,\"total_sq_ns\":%.17g,\"pairs\":",
           (unsigned long long)h->count, h->total, h->total_sq);
    print_pairs(h);
    putchar('}');
}
