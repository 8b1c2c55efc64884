"""Reads a results file back into cells and points: what `writer` stored, typed again."""

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyperf
from hdrh.histogram import HdrHistogram

from aionetbench.errors import UsageError
from aionetbench.wakeups import Wakeup, Wakeups
from bench.plan.cells import Cell
from bench.store.machine import SystemCheck
from bench.store.records import (
    EnvironmentRecord,
    GcRecord,
    PointRecord,
    RunRecord,
    WakeRecord,
    from_metadata,
)
from bench.store.schema import PERCENTILES, SECTION, cell_fields
from clients.stats import merge
from clients.summary import Waits


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
    clients: list[str] = field(default_factory=list)  # per repeat, the load generator
    # With churn, per repeat: connections completed per second, and the server's CPU per
    # connection (its accept, handshakes, echoes and close), in us.
    cps: list[float] = field(default_factory=list)
    server_us_per_connection: list[float] = field(default_factory=list)
    # With idle connections, per repeat: the server's memory growth over the run per idle
    # connection (peak less the resident memory before, / idle), in bytes.
    bytes_per_idle: list[float] = field(default_factory=list)
    growth_bytes: list[float] = field(default_factory=list)  # the same, whole, per repeat

    @property
    def median_rps(self) -> float:
        return statistics.median(self.rps)

    @property
    def is_client_bound(self) -> bool:
        """At least half its repeats measured the load generator rather than the server."""
        return 2 * sum(self.client_bound) >= len(self.client_bound) > 0

    @property
    def median_p99_us(self) -> float:
        """The median over repeats of the p99 (closed loop: at saturation)."""
        return statistics.median(self.percentiles_us["p99"])

    @property
    def median_server_us(self) -> float | None:
        return statistics.median(self.server_us) if self.server_us else None

    def latency(self) -> HdrHistogram:
        """All repeats' latencies in one histogram (nanoseconds)."""
        return merge(self.histograms)


@dataclass(frozen=True)
class GcTally:
    """A point's garbage collections as stored: how many per generation over the point,
    and the pauses of at least 0.1 ms inside its window."""

    collections: tuple[int, int, int]
    pauses: int
    pause_ms: float
    longest_ms: float
    longest_generation: int


@dataclass(frozen=True)
class SweepPoint(Cell):
    """One open-loop point: a cell at one offered load (latencies in us)."""

    rate: float = 0.0  # offered, messages/s
    process: int = 1  # which of the cell's fresh server processes climbed to it
    arrivals: str = ""
    achieved_rate: float = 0.0
    p50_us: float = 0.0
    p99_us: float = 0.0
    p999_us: float = 0.0
    p99_ci_us: tuple[float, float] | None = None  # 95% interval
    intended_p99_us: float | None = None  # from intended send times: with the client's lateness
    saturated: bool = False
    client_limited: bool = False
    unreliable: bool = False
    server_cpu: float = 0.0  # cores
    interfered: bool = False  # a long tail another thread, the hypervisor or the client can make
    remeasured: bool = False  # measured twice: the first was interfered with
    stalled: bool = False  # the load generator's own stall made the tail
    slices: int = 1
    duration_s: float = 0.0  # measured, all slices
    waits: Waits | None = None
    gc: GcTally | None = None  # a Python server's collections over the point
    # Other threads on the server's ("server") or the load generator's CPUs, ms, longest first.
    others: tuple[tuple[str, str, float], ...] = ()
    others_span_s: float = 0.0  # the run they were counted over (s)
    wakeups: Wakeups | None = None  # the server's over the window; None: not traced


@dataclass
class Results:
    cells: list[CellResults]
    environment: EnvironmentRecord
    failures: list[dict[str, Any]]
    path: Path
    dates: tuple[str, str] | None = None  # first and last run
    points: list[SweepPoint] = field(default_factory=list)
    ladder: list[float] = field(default_factory=list)
    slo_p99_ms: float = 1.0
    explained: list[dict[str, Any]] = field(default_factory=list)  # `bench explain`'s figures
    unsupported: list[dict[str, str]] = field(default_factory=list)  # cells a loop cannot run
    system: SystemCheck | None = None  # what `bench system check` found before the run
    # Each server Python's environment (metadata of its first benchmark) by its label
    # (`Cell.python`; "" for a run that did not compare Pythons).
    server_environments: dict[str, EnvironmentRecord] = field(default_factory=dict)


@dataclass
class Series:
    """One benchmark across history: a point per file that has it."""

    name: str
    unit: str
    labels: list[str] = field(default_factory=list)
    values: list[list[float]] = field(default_factory=list)
    regressions: list[int] = field(default_factory=list)  # indexes into labels

    @property
    def medians(self) -> list[float]:
        return [statistics.median(v) for v in self.values]


def load_suite(path: Path) -> pyperf.BenchmarkSuite:
    """Load a pyperf file, turning every way it can be wrong into a one-line UsageError."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory: name a results file (a .json) in it")
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        return pyperf.BenchmarkSuite.load(str(path))
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as error:
        raise UsageError(f"{path}: not a pyperf results file ({error})") from None


def load_points(suite: pyperf.BenchmarkSuite) -> list[SweepPoint]:
    """Every open-loop point, from its `/p99` benchmark (which holds the run metadata) and
    its `/p50` and `/p999` siblings."""
    points = []
    names = set(suite.get_benchmark_names())
    for benchmark in suite.get_benchmarks():
        metadata = benchmark.get_metadata()
        if metadata.get("mode") != "open" or not benchmark.get_name().endswith("/p99"):
            continue
        prefix = benchmark.get_name().removesuffix("/p99")
        # One run per server process that measured this load, in the same order in each.
        siblings = {
            p: [run.values[0] * 1e6 for run in suite.get_benchmark(f"{prefix}/{p}").get_runs()]
            for p in ("p50", "p999")
            if f"{prefix}/{p}" in names
        }
        for index, measured in enumerate(benchmark.get_runs()):
            process = int(measured.get_metadata().get("repeat", 1))
            point = from_metadata(PointRecord, measured.get_metadata())
            sibling = {p: values[index] for p, values in siblings.items() if index < len(values)}
            points.append(sweep_point(metadata, point, process, measured.values[0], sibling))
    return points


def sweep_point(
    metadata: dict[str, Any], run: PointRecord, process: int, p99_s: float, sibling: dict
) -> SweepPoint:
    """One open-loop point from its `/p99` run (and its siblings' p50 and p999, us)."""
    interval = (
        (run.p99_ci_low_s * 1e6, run.p99_ci_high_s * 1e6)
        if run.p99_ci_low_s is not None and run.p99_ci_high_s is not None
        else None
    )
    return SweepPoint(
        **cell_fields(metadata),
        rate=metadata["offered_rate"],
        process=process,
        arrivals=metadata["arrivals"],
        achieved_rate=run.achieved_rate,
        p50_us=sibling.get("p50", math.nan),
        p99_us=p99_s * 1e6,
        p999_us=sibling.get("p999", math.nan),
        p99_ci_us=interval,
        intended_p99_us=run.intended_p99_s * 1e6 if run.intended_p99_s is not None else None,
        saturated=run.saturated,
        client_limited=run.client_limited
        if run.client_limited is not None
        else run.fell_behind or run.client_stalled,
        unreliable=run.unreliable,
        server_cpu=run.server_cpu,
        interfered=run.interfered,
        remeasured=run.remeasured,
        stalled=run.client_stalled,
        slices=run.slices,
        duration_s=run.duration,
        waits=run.waits,
        gc=gc_of(run.gc),
        others=tuple(tuple(other) for other in json.loads(run.others)) if run.others else (),  # type: ignore[misc]
        others_span_s=run.others_span_s,
        wakeups=wakeups_of(run.wake),
    )


def wakeups_of(wake: WakeRecord | None) -> Wakeups | None:
    if wake is None:
        return None
    late = tuple(Wakeup(us, holder) for us, holder in json.loads(wake.late))
    return Wakeups(wake.count, 1e6 * wake.p50_s, 1e6 * wake.p99_s, 1e6 * wake.max_s, late)


def gc_of(gc: GcRecord | None) -> GcTally | None:
    if gc is None:
        return None
    return GcTally(
        collections=(gc.gen0, gc.gen1, gc.gen2),
        pauses=gc.window_pauses,
        pause_ms=1000 * gc.window_pause_s,
        longest_ms=1000 * gc.longest_s,
        longest_generation=gc.longest_generation,
    )


def server_line(env: EnvironmentRecord) -> str:
    """`CPython 3.12.1 (/path/python) with uvloop 0.23.0, websockets 17.4, ...`."""
    free = ", free-threading" if env.server_free_threading else ""
    libraries = ", ".join(f"{name} {version}" for name, version in env.libraries.items())
    return (
        f"{env.python_implementation} {env.python_version}{free} "
        f"({env.python_executable}) with {libraries or 'no libraries recorded'}"
    )


def generator_of(metadata: dict[str, Any]) -> str:
    """Which load generator measured a run, `native` or `python`: files from before the
    native one name none (or call it `load_generator`), and it was the Python one."""
    return metadata.get("client") or metadata.get("load_generator") or "python"


def client_of(metadata: dict[str, Any]) -> str:
    """Which load generator measured a run: `native`, or `python (LOOP)`."""
    client = generator_of(metadata)
    loop = metadata.get("client_loop")
    return f"python ({loop})" if client == "python" and loop else client


def load_results(path: Path) -> Results:
    """The cells of an aionetbench results file, in the order they were run."""
    suite = load_suite(path)
    cells: dict[str, CellResults] = {}
    environment: dict[str, Any] = {}
    server_environments: dict[str, EnvironmentRecord] = {}
    for benchmark in suite.get_benchmarks():
        metadata = benchmark.get_metadata()
        if metadata.get("metric") != "time per request":
            continue
        cell = CellResults(**cell_fields(metadata))
        for run in benchmark.get_runs():
            metadata_of_run = run.get_metadata()
            record = from_metadata(RunRecord, metadata_of_run)
            cell.rps.append(record.rps)
            cell.mib_s.append(record.mib_s)
            cell.client_bound.append(record.client_bound)
            cell.latency_max_us.append(record.latency_max_s * 1e6)
            cell.histograms.append(record.latency_histogram_ns)
            cell.clients.append(client_of(metadata_of_run))
            if record.server_rss_before:
                growth = record.server_peak_rss - record.server_rss_before
                cell.growth_bytes.append(growth)
                if cell.idle:
                    cell.bytes_per_idle.append(growth / cell.idle)
            if cell.churn and record.cps:
                cell.cps.append(record.cps)
                if record.server_cpu:
                    cell.server_us_per_connection.append(record.server_cpu / record.cps * 1e6)
        environment = environment or metadata
        server_environments.setdefault(cell.python, from_metadata(EnvironmentRecord, metadata))
        cells[cell.name] = cell
    section = json.loads(path.read_text()).get(SECTION, {})
    if not cells and not section.get("explain"):
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
    dates = suite.get_dates()
    span = (
        (dates[0].isoformat(" ", "seconds"), dates[1].isoformat(" ", "seconds")) if dates else None
    )
    return Results(
        list(cells.values()),
        from_metadata(EnvironmentRecord, environment),
        section.get("failed", []),
        path,
        span,
        points=load_points(suite),
        ladder=section.get("ladder", []),
        slo_p99_ms=section.get("plan", {}).get("slo_p99_ms", 1.0),
        explained=section.get("explain", []),
        unsupported=section.get("unsupported", []),
        system=SystemCheck.from_json(section["system"]) if section.get("system") else None,
        server_environments=server_environments,
    )
