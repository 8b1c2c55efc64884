"""Reads a results file back into cells: the one place that knows how record.py stores them."""

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyperf
from hdrh.histogram import HdrHistogram

from aionetbench.errors import UsageError
from bench.plan import Cell
from bench.record import PERCENTILES, SECTION
from clients.stats import merge


@dataclass(frozen=True)
class CellResults(Cell):
    """Every repeat of one cell (the lists fill as runs are read)."""

    rps: list[float] = field(default_factory=list)
    mib_s: list[float] = field(default_factory=list)
    server_us: list[float] = field(default_factory=list)
    client_bound: list[bool] = field(default_factory=list)
    latency_max_us: list[float] = field(default_factory=list)
    histograms: list[str] = field(default_factory=list)
    percentiles_us: dict[str, list[float]] = field(default_factory=dict)

    @property
    def median_rps(self) -> float:
        return statistics.median(self.rps)

    def latency(self) -> HdrHistogram:
        """All repeats' latencies in one histogram (nanoseconds)."""
        return merge(self.histograms)


@dataclass
class Results:
    cells: list[CellResults]
    environment: dict[str, Any]
    failures: list[dict[str, Any]]
    path: Path
    dates: tuple[str, str] | None = None  # first and last run


def load_suite(path: Path) -> pyperf.BenchmarkSuite:
    """Load a pyperf file, turning every way it can be wrong into a one-line UsageError."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        return pyperf.BenchmarkSuite.load(str(path))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise UsageError(f"{path}: not a pyperf results file ({error})") from None


def load_results(path: Path) -> Results:
    """The cells of an aionetbench results file, in the order they were run."""
    suite = load_suite(path)
    cells: dict[str, CellResults] = {}
    environment: dict[str, Any] = {}
    for benchmark in suite.get_benchmarks():
        metadata = benchmark.get_metadata()
        if metadata.get("metric") != "time per request":
            continue
        cell = CellResults(
            api=metadata["api"],
            loop=metadata["server_loop"],
            transport=metadata["transport"],
            size=metadata["size"],
            concurrency=metadata["concurrency"],
            pipeline=metadata["pipeline"],
        )
        for run in benchmark.get_runs():
            run_metadata = run.get_metadata()
            cell.rps.append(run_metadata["rps"])
            cell.mib_s.append(run_metadata["mib_s"])
            cell.client_bound.append(bool(run_metadata["client_bound"]))
            cell.latency_max_us.append(run_metadata["latency_max_s"] * 1e6)
            cell.histograms.append(run_metadata["latency_histogram_ns"])
        environment = environment or metadata
        cells[cell.name] = cell
    if not cells:
        raise UsageError(f"{path}: no aionetbench benchmarks in this pyperf file")
    for name, cell in cells.items():
        for percentile in PERCENTILES:
            cell.percentiles_us[percentile] = [
                v * 1e6 for v in suite.get_benchmark(f"{name}/{percentile}").get_values()
            ]
        if f"{name}/server-cpu" in suite.get_benchmark_names():
            cell.server_us.extend(
                v * 1e6 for v in suite.get_benchmark(f"{name}/server-cpu").get_values()
            )
    section = json.loads(path.read_text()).get(SECTION, {})
    dates = suite.get_dates()
    span = (
        (dates[0].isoformat(" ", "seconds"), dates[1].isoformat(" ", "seconds")) if dates else None
    )
    return Results(list(cells.values()), environment, section.get("failed", []), path, span)
