"""Latency histograms: bulk recording of raw timings, exact merging, and summaries.

HdrHistogram's `record_value` is pure Python (about 1 us a call), far too slow for the hot
path. Connections append raw nanoseconds to arrays; after the window numpy rounds them to
the histogram's own resolution and counts them, and each distinct value is recorded once.
However wide the spread, there are at most a few tens of thousands of distinct values.
"""

from array import array
from collections.abc import Iterable

import numpy as np
from hdrh.histogram import HdrHistogram

HIGHEST_NS = 60 * 10**9  # latencies beyond a minute are clamped
SIGNIFICANT_DIGITS = 3
# 3 significant decimal digits is 2048 sub-buckets in HdrHistogram: 11 significant bits.
SIGNIFICANT_BITS = 11
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)


def histogram_of(samples: Iterable[array]) -> HdrHistogram:
    """A histogram (in nanoseconds) of every sample in the arrays of signed 64-bit integers."""
    histogram = new_histogram()
    chunks = [np.frombuffer(chunk, dtype=np.int64) for chunk in samples if len(chunk)]
    if not chunks:
        return histogram
    values = np.clip(np.concatenate(chunks), 1, HIGHEST_NS)
    # Keep the top SIGNIFICANT_BITS bits of each value and round to the middle of the rest.
    shift = np.maximum(np.floor(np.log2(values)).astype(np.int64) + 1 - SIGNIFICANT_BITS, 0)
    rounded = ((values >> shift) << shift) + ((1 << shift) >> 1)
    distinct, counts = np.unique(rounded, return_counts=True)
    for value, count in zip(distinct.tolist(), counts.tolist(), strict=True):
        histogram.record_value(value, count)
    return histogram


def encode(histogram: HdrHistogram) -> str:
    return histogram.encode().decode("ascii")


def merge(encoded: Iterable[str]) -> HdrHistogram:
    """Add encoded histograms into one; counts add up exactly."""
    merged = new_histogram()
    for text in encoded:
        merged.add(HdrHistogram.decode(text))
    return merged


def summary_us(histogram: HdrHistogram) -> dict[str, float | str]:
    """Percentiles, max, mean and stdev in microseconds, plus the encoded histogram (ns)."""
    if histogram.get_total_count() == 0:
        summary: dict[str, float | str] = dict.fromkeys([*PERCENTILES, "max", "mean", "stdev"], 0.0)
    else:
        summary = {
            name: histogram.get_value_at_percentile(percentile) / 1000
            for name, percentile in PERCENTILES.items()
        }
        summary["max"] = histogram.get_max_value() / 1000
        summary["mean"] = histogram.get_mean_value() / 1000
        summary["stdev"] = histogram.get_stddev() / 1000
    summary["histogram"] = encode(histogram)
    return summary
