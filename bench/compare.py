"""`bench compare`: is NEW slower than BASE, by more than noise and more than a threshold?

Works on any pyperf files. Every metric the suite records is "lower is better" (time per
request, latency, CPU per request, instruction counts), so a ratio NEW/BASE above 1 is a
slowdown. Significance is Welch's t-test (unequal sizes and variances) at 95%. `pyperf
compare_to` differs on purpose in two ways: it calls any comparison of unequal sample sizes
or of single values "significant", and it exits 0 even on a slowdown; a gate can do neither.
"""

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import ttest_ind

from aionetbench.errors import UsageError
from bench.results import load_suite

BOOTSTRAP_SAMPLES = 2000
ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    name: str
    label: str  # which NEW file
    base_mean: float
    new_mean: float
    low: float  # 95% bootstrap interval of the ratio
    high: float
    significant: bool
    threshold: float

    @property
    def ratio(self) -> float:
        return self.new_mean / self.base_mean

    @property
    def regression(self) -> bool:
        return self.significant and self.ratio > 1 + self.threshold

    @property
    def improvement(self) -> bool:
        return self.significant and self.ratio < 1 - self.threshold

    @property
    def verdict(self) -> str:
        if self.regression:
            return "REGRESSION"
        if self.improvement:
            return "improvement"
        return "significant, within threshold" if self.significant else "not significant"


def ratio_interval(base: list[float], new: list[float], seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of mean(new) / mean(base)."""
    rng = np.random.default_rng(seed)
    base_means = rng.choice(base, (BOOTSTRAP_SAMPLES, len(base))).mean(axis=1)
    new_means = rng.choice(new, (BOOTSTRAP_SAMPLES, len(new))).mean(axis=1)
    low, high = np.percentile(new_means / base_means, [2.5, 97.5])
    return float(low), float(high)


def is_significant(base: list[float], new: list[float]) -> bool:
    """Welch's two-sided t-test at 95%; one value per side can never be significant."""
    if len(base) < 2 or len(new) < 2:
        return False
    if statistics.pvariance(base) == 0 and statistics.pvariance(new) == 0:
        return statistics.fmean(base) != statistics.fmean(new)
    return bool(ttest_ind(base, new, equal_var=False).pvalue < ALPHA)


def compare_values(
    name: str, label: str, base: list[float], new: list[float], threshold: float
) -> Comparison:
    significant = is_significant(base, new)
    low, high = ratio_interval(base, new)
    return Comparison(
        name,
        label,
        statistics.fmean(base),
        statistics.fmean(new),
        low,
        high,
        significant,
        threshold,
    )


def compare_files(paths: list[Path], threshold: float) -> list[Comparison]:
    """Every benchmark common to all files, each NEW file against the first."""
    suites = [load_suite(path) for path in paths]
    common = set(suites[0].get_benchmark_names())
    for suite in suites[1:]:
        common &= set(suite.get_benchmark_names())
    if not common:
        raise UsageError("the files have no benchmarks in common")
    order = [name for name in suites[0].get_benchmark_names() if name in common]
    return [
        compare_values(
            name,
            path.stem,
            list(suites[0].get_benchmark(name).get_values()),
            list(suite.get_benchmark(name).get_values()),
            threshold,
        )
        for path, suite in zip(paths[1:], suites[1:], strict=True)
        for name in order
    ]


def table(comparisons: list[Comparison]) -> list[str]:
    rows = [
        "| benchmark | file | ratio new/base | 95% interval | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows += [
        f"| `{c.name}` | {c.label} | {c.ratio:.3f} | {c.low:.3f}-{c.high:.3f} | {'**' + c.verdict + '**' if c.regression else c.verdict} |"
        for c in comparisons
    ]
    return rows
