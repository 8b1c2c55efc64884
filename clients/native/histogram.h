/* Latencies counted in HdrHistogram's bucket layout (1 ns to 60 s, 3 significant digits),
 * printed as (bucket middle, count) pairs: recorded into an hdrh histogram they fill exactly
 * the buckets the raw values would, so workers and slices merge exactly. */
#ifndef LOAD_HISTOGRAM_H
#define LOAD_HISTOGRAM_H
#include <stdint.h>

#define HIGHEST_NS 60000000000LL /* latencies are clamped to 1 ns .. 60 s */
#define SUB_BUCKET_BITS 11       /* 3 significant digits: 2048 sub-buckets */
#define HALF_BUCKETS (1 << (SUB_BUCKET_BITS - 1))
#define BUCKET_INDEXES (27 * HALF_BUCKETS) /* enough for HIGHEST_NS */

struct histogram {
    uint64_t counts[BUCKET_INDEXES];
    uint64_t count;
    double total, total_sq; /* exact sums beside the buckets, for the mean and stdev */
};

void record(struct histogram *h, int64_t value);
void print_pairs(const struct histogram *h); /* [middle,count,middle,count,...] */
/* {"count":N,"total_ns":T,"total_sq_ns":S,"pairs":[...]} */
void print_recorded(const struct histogram *h);
#endif
