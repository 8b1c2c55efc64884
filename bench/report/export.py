"""`bench export`: results in the input formats of github-action-benchmark and Bencher.

Both take the median over runs; every metric here is lower-is-better (seconds are exported
in nanoseconds, instruction counts as they are).
"""

import statistics
from typing import Any

import pyperf


def scaled(benchmark: pyperf.Benchmark) -> tuple[list[float], str]:
    """Values in the unit people read: nanoseconds for seconds, counts as they are."""
    values = list(benchmark.get_values())
    if benchmark.get_unit() == "second":
        return [v * 1e9 for v in values], "ns"
    return values, benchmark.get_unit()


def github_action_benchmark(suite: pyperf.BenchmarkSuite) -> list[dict[str, Any]]:
    """The `customSmallerIsBetter` tool's input: a list of {name, unit, value, range, extra}."""
    entries = []
    for benchmark in suite.get_benchmarks():
        values, unit = scaled(benchmark)
        metadata = benchmark.get_metadata()
        entries.append(
            {
                "name": benchmark.get_name(),
                "unit": unit,
                "value": statistics.median(values),
                "range": f"± {(max(values) - min(values)) / 2:.6g}",
                "extra": f"{metadata.get('metric', '')}; median of {len(values)} runs",
            }
        )
    return entries


def bencher(suite: pyperf.BenchmarkSuite) -> dict[str, dict[str, dict[str, float]]]:
    """Bencher Metric Format: {benchmark: {measure: {value, lower_value, upper_value}}}, one
    benchmark per pyperf benchmark, measured by its metric (e.g. `latency-p99-ns`)."""
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    for benchmark in suite.get_benchmarks():
        values, unit = scaled(benchmark)
        metric = benchmark.get_metadata().get("metric", "value").replace(" ", "-")
        metrics[benchmark.get_name()] = {
            f"{metric}-{unit}": {
                "value": statistics.median(values),
                "lower_value": min(values),
                "upper_value": max(values),
            }
        }
    return metrics


CONVERTERS = {"github-action-benchmark": github_action_benchmark, "bencher": bencher}
FORMATS = tuple(CONVERTERS)
