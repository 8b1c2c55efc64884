"""Latency histograms: bulk recording of raw timings, exact merging, and summaries.

HdrHistogram's `record_value` is pure Python (about 1 us a call), far too slow for the hot
path. Connections append raw nanoseconds to arrays; after the window numpy rounds them to
the histogram's own resolution and counts them, and each distinct value is recorded once.
However wide the spread, there are at most a few tens of thousands of distinct values.

hdrh also computes mean and standard deviation by walking every bucket in Python (about
0.5 s each), so those come from exact sums kept beside the histogram instead.
"""

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from hdrh.histogram import HdrHistogram

HIGHEST_NS = 60 * 10**9  # latencies beyond a minute are clamped
SIGNIFICANT_DIGITS = 3
# 3 significant decimal digits is 2048 sub-buckets in HdrHistogram: 11 significant bits.
SIGNIFICANT_BITS = 11
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


@dataclass(frozen=True)
class Recorded:
    """One worker's latencies: the encoded histogram (ns) and exact sums; parts merge exactly."""

    histogram: str
    count: int
    total_ns: float
    total_sq_ns: float


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)


def _values(samples: Iterable[array]) -> np.ndarray:
    chunks = [np.frombuffer(chunk, dtype=np.int64) for chunk in samples if len(chunk)]
    return np.clip(np.concatenate(chunks), 1, HIGHEST_NS) if chunks else np.empty(0, np.int64)


def _histogram(values: np.ndarray) -> HdrHistogram:
    histogram = new_histogram()
    if not len(values):
        return histogram
    # Keep the top SIGNIFICANT_BITS bits of each value and round to the middle of the rest.
    shift = np.maximum(np.floor(np.log2(values)).astype(np.int64) + 1 - SIGNIFICANT_BITS, 0)
    rounded = ((values >> shift) << shift) + ((1 << shift) >> 1)
    distinct, counts = np.unique(rounded, return_counts=True)
    for value, count in zip(distinct.tolist(), counts.tolist(), strict=True):
        histogram.record_value(value, count)
    return histogram


def record(samples: Iterable[array]) -> Recorded:
    """Everything a summary needs from raw samples, in a form that merges across workers."""
    values = _values(samples)
    as_float = values.astype(np.float64)
    return Recorded(
        histogram=encode(_histogram(values)),
        count=len(values),
        total_ns=float(as_float.sum()),
        total_sq_ns=float(np.square(as_float).sum()),
    )


def encode(histogram: HdrHistogram) -> str:
    return histogram.encode().decode("ascii")


def merge(encoded: Iterable[str]) -> HdrHistogram:
    """Add encoded histograms into one; counts add up exactly."""
    merged = new_histogram()
    for text in encoded:
        merged.add(HdrHistogram.decode(text))
    return merged


def percentiles(histogram: HdrHistogram, wanted: Iterable[float]) -> dict[float, int]:
    """Values at many percentiles in one walk of the histogram (hdrh walks once per call)."""
    return histogram.get_percentile_to_value_dict(list(wanted))


def summary_us(parts: Iterable[Recorded]) -> dict[str, float | str]:
    """Percentiles, max, mean and stdev in microseconds, plus the merged encoded histogram."""
    parts = list(parts)
    histogram = merge(part.histogram for part in parts)
    count = sum(part.count for part in parts)
    summary: dict[str, float | str] = dict.fromkeys([*PERCENTILES, "max", "mean", "stdev"], 0.0)
    if count:
        at = percentiles(histogram, PERCENTILES.values())
        summary.update({name: at[p] / 1000 for name, p in PERCENTILES.items()})
        mean = sum(part.total_ns for part in parts) / count
        variance = max(sum(part.total_sq_ns for part in parts) / count - mean * mean, 0.0)
        summary.update(
            max=histogram.get_max_value() / 1000, mean=mean / 1000, stdev=math.sqrt(variance) / 1000
        )
    summary["histogram"] = encode(histogram)
    return summary
