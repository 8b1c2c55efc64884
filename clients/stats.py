"""Latency histograms: bulk recording of raw timings, exact merging, and summaries.

HdrHistogram's `record_value` is pure Python (about 1 us a call), far too slow for the hot
path. Connections append raw nanoseconds to arrays; after the window they are counted at
100 ns resolution and recorded once per distinct value, about 0.1 us a message.
"""

from array import array
from collections import Counter
from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

HIGHEST_NS = 60 * 10**9  # latencies beyond a minute are clamped
SIGNIFICANT_DIGITS = 3
QUANTUM_NS = 100
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)


def histogram_of(samples: Iterable[array]) -> HdrHistogram:
    """A histogram (in nanoseconds) of every sample, each rounded to the middle of its 100 ns."""
    counts: Counter[int] = Counter()
    for chunk in samples:
        counts.update(map(QUANTUM_NS.__rfloordiv__, chunk))
    histogram = new_histogram()
    for quantum, count in counts.items():
        value = min(max(quantum * QUANTUM_NS + QUANTUM_NS // 2, 1), HIGHEST_NS)
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
