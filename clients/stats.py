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


@dataclass(frozen=True)
class Counts:
    """A compact histogram: distinct values (ns, rounded as HdrHistogram rounds them) and
    how often each occurred. Small, picklable, and merged by concatenation."""

    values: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, samples: Iterable[array]) -> "Counts":
        values = _values(samples)
        if not len(values):
            return cls(np.empty(0, np.int64), np.empty(0, np.int64))
        # Keep the top SIGNIFICANT_BITS bits of each value and round to the middle of the rest.
        shift = np.maximum(np.floor(np.log2(values)).astype(np.int64) + 1 - SIGNIFICANT_BITS, 0)
        rounded = ((values >> shift) << shift) + ((1 << shift) >> 1)
        distinct, counts = np.unique(rounded, return_counts=True)
        return cls(distinct, counts)

    @classmethod
    def merge(cls, parts: Iterable["Counts"]) -> "Counts":
        parts = list(parts)
        return cls(
            np.concatenate([p.values for p in parts]), np.concatenate([p.counts for p in parts])
        )


def _histogram(counted: Counts) -> HdrHistogram:
    histogram = new_histogram()
    for value, count in zip(counted.values.tolist(), counted.counts.tolist(), strict=True):
        histogram.record_value(value, count)
    return histogram


def percentile_interval(
    blocks: list[Counts],
    percentile: float = 99.0,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Confidence interval (ns) of a percentile by block bootstrap over consecutive time
    blocks of one run.

    Resampling whole blocks, not single messages, keeps what makes tails hard to measure:
    latencies come in bursts (a GC pause, a stall), so neighbouring samples are not
    independent. A stall seen in one block of twenty gives a wide interval, as it should.
    """
    blocks = [block for block in blocks if block.counts.sum()]
    if len(blocks) < 2:
        return (math.nan, math.nan)
    merged = Counts.merge(blocks)
    bins, where = np.unique(merged.values, return_inverse=True)
    matrix = np.zeros((len(blocks), len(bins)))
    start = 0
    for row, block in enumerate(blocks):
        np.add.at(matrix[row], where[start : start + len(block.values)], block.counts)
        start += len(block.values)
    rng = np.random.default_rng(seed)
    estimates = []
    for chunk in range(0, resamples, 200):  # bounded memory: 200 x bins at a time
        picks = rng.integers(0, len(blocks), (min(200, resamples - chunk), len(blocks)))
        weights = np.stack([np.bincount(row, minlength=len(blocks)) for row in picks])
        cumulative = np.cumsum(weights @ matrix, axis=1)
        rank = cumulative[:, -1:] * percentile / 100
        estimates.append(bins[np.argmax(cumulative >= rank, axis=1)])
    low, high = np.percentile(
        np.concatenate(estimates), [50 - confidence * 50, 50 + confidence * 50]
    )
    return float(low), float(high)


def record(samples: Iterable[array]) -> Recorded:
    """Everything a summary needs from raw samples, in a form that merges across workers."""
    values = _values(samples)
    as_float = values.astype(np.float64)
    return Recorded(
        histogram=encode(_histogram(Counts.of([values]))),
        count=len(values),
        total_ns=float(as_float.sum()),
        total_sq_ns=float(np.square(as_float).sum()),
    )


def recorded_from(counted: Counts, total_ns: float, total_sq_ns: float) -> Recorded:
    """What `record` gives for values already counted by bucket (the native load generator
    counts them itself), with their exact sums."""
    return Recorded(
        histogram=encode(_histogram(counted)),
        count=int(counted.counts.sum()),
        total_ns=total_ns,
        total_sq_ns=total_sq_ns,
    )


def joined(first: Recorded | None, second: Recorded | None) -> Recorded | None:
    """Two recordings as one, exactly (a point measured in slices)."""
    if first is None or second is None:
        return first or second
    return Recorded(
        histogram=encode(merge([first.histogram, second.histogram])),
        count=first.count + second.count,
        total_ns=first.total_ns + second.total_ns,
        total_sq_ns=first.total_sq_ns + second.total_sq_ns,
    )


def count_at_least(parts: Iterable[Recorded], threshold_ns: int) -> int:
    """How many recorded values were `threshold_ns` or more (to the histogram's resolution:
    a value counts by its bucket's middle)."""
    merged = merge(part.histogram for part in parts)
    return sum(
        item.count_at_value_iterated_to
        for item in merged.get_recorded_iterator()
        if item.value_iterated_to >= threshold_ns
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
