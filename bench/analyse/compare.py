"""`bench compare`: is NEW slower than BASE, by more than noise and more than a threshold?

Works on any pyperf files. Every metric the suite records is "lower is better" (time per
request, latency, CPU per request, instruction counts), so a ratio NEW/BASE above 1 is a
slowdown. Significance is Welch's t-test (unequal sizes and variances) on the logarithms of
the values, with the Holm-Bonferroni correction across all benchmarks of a file by default:
a smoke run compares dozens of benchmarks, and at 95% each, one of them would be
"significant" on most runs of unchanged code. `pyperf compare_to` differs on purpose: it tests no family of benchmarks,
calls any comparison of unequal sample sizes or single values "significant", and exits 0
even on a slowdown; a gate can do none of these.

Instruction counts (unit `integer`, from `bench count`) hardly vary, so they get a threshold
of their own, 1% by default.
"""

import statistics
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyperf
from scipy.stats import ttest_ind

from aionetbench.errors import UsageError
from bench.store.reader import generator_of, load_suite, server_line
from bench.store.records import EnvironmentRecord, from_metadata

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
    p_value: float
    significant: bool  # after the correction for many benchmarks, if any
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


def p_value(base: list[float], new: list[float]) -> float:
    """Welch's two-sided t-test on the logarithms of the values: performance changes are
    ratios, and on a log scale a 30x slowdown is not lost in the spread of a noisy sample.
    A single value per side can never be significant (p = 1)."""
    if len(base) < 2 or len(new) < 2:
        return 1.0
    log_base, log_new = np.log(base), np.log(new)
    if np.var(log_base) == 0 and np.var(log_new) == 0:
        return 0.0 if log_base.mean() != log_new.mean() else 1.0
    with warnings.catch_warnings():  # nearly identical samples: scipy warns, the p is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(ttest_ind(log_base, log_new, equal_var=False).pvalue)


def holm(p_values: list[float], alpha: float = ALPHA) -> list[bool]:
    """Holm-Bonferroni: which hypotheses to reject, keeping the family-wise error <= alpha."""
    rejected = [False] * len(p_values)
    for rank, index in enumerate(sorted(range(len(p_values)), key=p_values.__getitem__)):
        if p_values[index] > alpha / (len(p_values) - rank):
            break
        rejected[index] = True
    return rejected


def compare_family(
    label: str, pairs: dict[str, tuple[list[float], list[float], float]], correct: bool = True
) -> list[Comparison]:
    """Compare every benchmark of one NEW file; `pairs` maps name -> (base, new, threshold)."""
    p_values = [p_value(base, new) for base, new, _ in pairs.values()]
    significant = holm(p_values) if correct else [p < ALPHA for p in p_values]
    comparisons = []
    for (name, (base, new, threshold)), p, rejected in zip(
        pairs.items(), p_values, significant, strict=True
    ):
        low, high = ratio_interval(base, new)
        mean_base, mean_new = statistics.fmean(base), statistics.fmean(new)
        comparisons.append(
            Comparison(name, label, mean_base, mean_new, low, high, p, rejected, threshold)
        )
    return comparisons


def clients_of(suite: pyperf.BenchmarkSuite) -> set[str]:
    """The load generators that measured a file's benchmarks (files from before the native
    one record none, or `load_generator`: the Python one; instruction counts use none)."""
    clients = set()
    for benchmark in suite.get_benchmarks():
        for run in benchmark.get_runs():
            metadata = run.get_metadata()
            if "mode" in metadata and "requests" in metadata:  # a run the client measured
                clients.add(generator_of(metadata))
    return clients


def check_same_clients(paths: list[Path], suites: list[pyperf.BenchmarkSuite]) -> None:
    """Refuse to compare files whose load generators differ: that changes every number."""
    base = clients_of(suites[0])
    for path, suite in zip(paths[1:], suites[1:], strict=True):
        if (new := clients_of(suite)) and base and new != base:
            raise UsageError(
                f"{paths[0]} was measured with the {'+'.join(sorted(base))} load generator and "
                f"{path} with {'+'.join(sorted(new))}: that changes every number; pass "
                "--allow-client-change to compare them anyway"
            )


def compare_files(
    paths: list[Path],
    threshold: float,
    count_threshold: float = 0.01,
    correct: bool = True,
    allow_client_change: bool = False,
) -> list[Comparison]:
    """Every benchmark common to all files, each NEW file against the first."""
    suites = [load_suite(path) for path in paths]
    if not allow_client_change:
        check_same_clients(paths, suites)
    common = set(suites[0].get_benchmark_names())
    for suite in suites[1:]:
        common &= set(suite.get_benchmark_names())
    if not common:
        raise UsageError("the files have no benchmarks in common")
    base = {
        name: suites[0].get_benchmark(name)
        for name in suites[0].get_benchmark_names()
        if name in common
    }
    comparisons = []
    for path, suite in zip(paths[1:], suites[1:], strict=True):
        pairs = {
            name: (
                list(benchmark.get_values()),
                list(suite.get_benchmark(name).get_values()),
                count_threshold if benchmark.get_unit() == "integer" else threshold,
            )
            for name, benchmark in base.items()
        }
        comparisons += compare_family(path.stem, pairs, correct)
    return comparisons


def environments(paths: list[Path]) -> list[str]:
    """One line per file: each server interpreter it records, with the library versions
    that interpreter imported (a run over several Pythons records several)."""
    lines = []
    for path in paths:
        servers: dict[str, EnvironmentRecord] = {}
        for benchmark in load_suite(path).get_benchmarks():
            env = from_metadata(EnvironmentRecord, benchmark.get_metadata())
            servers.setdefault(env.python_executable, env)
        described = " and ".join(server_line(env) for env in servers.values()) or "?"
        lines.append(f"- `{path.stem}`: servers on {described}")
    return lines


def table(comparisons: list[Comparison]) -> list[str]:
    rows = [
        "| benchmark | file | ratio new/base | 95% interval | p | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rows += [
        f"| `{c.name}` | {c.label} | {c.ratio:.3f} | {c.low:.3f}-{c.high:.3f} | {c.p_value:.2g} | {'**' + c.verdict + '**' if c.regression else c.verdict} |"
        for c in comparisons
    ]
    return rows
