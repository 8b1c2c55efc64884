"""Records runs as a pyperf BenchmarkSuite, saved atomically after every run.

One benchmark per cell and metric, one pyperf run per repeat. Every metric is stored so that
larger means slower, as `pyperf compare_to` assumes: time per request (not requests/s),
latency percentiles and server CPU per request, all in seconds. Failed cells cannot be pyperf
runs (a run needs values), so they go in an extra top-level "aionetbench" section that
pyperf ignores when it reads the file.
"""

import json
import platform
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyperf

from aionetbench.about import about
from aionetbench.loops import LOOPS, loop_named
from aionetbench.wakeups import Wakeups
from bench.plan.cells import Cell
from bench.plan.profiles import Plan
from bench.store.explained import Explained
from bench.store.files import read_suite, write_suite
from bench.store.records import (
    EnvironmentRecord,
    GcRecord,
    PointRecord,
    RunRecord,
    WakeRecord,
    to_metadata,
)
from bench.store.schema import (
    OPEN_PERCENTILES,
    PERCENTILES,
    Failure,
    GcPauses,
    Measurement,
    cell_metadata,
)
from clients.native import native_generator

REPO = Path(__file__).resolve().parents[2]
EXPLAIN_PREFIX = "explain/"  # `bench explain`'s benchmarks: explain/API/LOOP/server-cpu
EXPLAIN_METRIC = "server CPU per request (bench explain)"


def metric_values(measurement: Measurement) -> dict[str, tuple[str, float]]:
    """Benchmark-name suffix -> (what it is, value in seconds) for one good run."""
    client = measurement.client
    values = {"": ("time per request", 1 / client.rps)}
    for percentile in PERCENTILES:
        values[f"/{percentile}"] = (f"latency {percentile}", client.latency.at(percentile) / 1e6)
    if client.server is not None and client.server.cpu_us > 0:
        values["/server-cpu"] = ("server CPU per request", client.server.cpu_us / 1e6)
    return values


def suite_commit() -> str:
    """The suite's git commit, `-dirty` when tracked files changed, or `unknown`."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def environment_metadata(
    plan: Plan, pinning: str, profile: str, server: dict[str, Any], client: str = "python"
) -> dict[str, Any]:
    """What every benchmark of a run shares; pyperf adds CPU model and count, date.

    `python_*` and the library versions are the *server's* (from `servers --about`, run on
    the server's interpreter): the servers are what is measured. The orchestrator's own
    Python is `orchestrator_python_version`. `client` is the load generator asked for (the
    native one leaves TLS cells to the Python one: each run records its own)."""
    return to_metadata(
        EnvironmentRecord(
            python_version=server["python_version"],
            python_implementation=server["python_implementation"],
            python_executable=server["python_executable"],
            server_free_threading=bool(server["free_threading"]),
            orchestrator_python_version=platform.python_version(),
            client=client,
            native_client="built" if native_generator() else "not built",
            client_loop=plan.client_loop,
            pinning=pinning,
            profile=profile,
            kernel=platform.release(),
            libraries={
                name: version or "not installed" for name, version in server["libraries"].items()
            },
            pyperf_version=pyperf.__version__,
            suite_commit=suite_commit(),
            warmup_s=plan.warmup,
            duration_s=plan.duration,
            loop_versions=loop_versions(plan.loops),
        )
    )


def loop_versions(loops: tuple[str, ...]) -> str | None:
    """Loops outside the registry (MODULE:FACTORY, a layer over one), each with the version
    of the distribution that installed its module, as the orchestrator's Python sees it."""
    named = [loop_named(name) for name in loops if name not in LOOPS]
    if not named:
        return None
    return "; ".join(f"{loop.name} {loop.version() or 'not packaged'}" for loop in named)


def measured(measurement: Measurement) -> dict[str, Any]:
    """MeasuredRecord's fields for a run, closed loop or open."""
    client = measurement.client
    return {
        "duration": client.duration_s,
        "requests": client.requests,
        "client_cpu": client.client_cpu,
        "server_cpu": client.server.cpu if client.server else 0.0,
        "server_peak_rss": measurement.server_peak_rss,
        "latency_max_s": client.latency.max / 1e6,
        "latency_histogram_ns": client.latency.histogram,
        "client": client.generator,
        "client_loop": client.loop if client.generator == "python" else None,
        "client_hosts_detail": json.dumps(measurement.hosts) if measurement.hosts else None,
        "cps": client.cps,
        "server_rss_before": measurement.server_rss_before,
        "tls_resumed": client.tls_resumed,
    }


def point_record(measurement: Measurement) -> PointRecord:
    """What an open-loop point measured besides its percentiles."""
    client = measurement.client
    schedule, flags = client.schedule, measurement.flags
    assert schedule is not None, "an open-loop point has a schedule"
    low, high = schedule.p99_ci_us
    return PointRecord(
        **measured(measurement),
        achieved_rate=schedule.achieved_rate,
        sent_rate=schedule.sent_rate,
        scheduled_rate=schedule.scheduled_rate,
        fell_behind=schedule.fell_behind,
        client_stalled=schedule.client_stalled,
        caught_up=flags.caught_up,
        client_limited=flags.client_limited,
        interfered=flags.interfered,
        remeasured=measurement.remeasured,
        late_share=schedule.late_share,
        saturated=flags.saturated,
        unreliable=flags.unreliable,
        slices=client.slices,
        schedule_lag_p50_s=schedule.lag_p50_us / 1e6,
        schedule_lag_p99_s=schedule.lag_p99_us / 1e6,
        schedule_lag_max_s=schedule.lag_max_us / 1e6,
        latency_samples=client.latency_samples,
        undelivered=client.undelivered,
        p99_ci_low_s=None if low is None or high is None else low / 1e6,
        p99_ci_high_s=None if low is None or high is None else high / 1e6,
        intended_p99_s=client.intended_latency.p99 / 1e6 if client.intended_latency else None,
        kernel_timed=client.kernel_timed,
        realtime_share=client.realtime_share,
        others=json.dumps(measurement.others) if measurement.others else None,
        others_span_s=measurement.others_span_s,
        waits=client.waits,
        gc=gc_record(measurement.gc) if measurement.gc is not None else None,
        wake=wake_record(measurement.wakeups) if measurement.wakeups is not None else None,
    )


def wake_record(wakeups: Wakeups) -> WakeRecord:
    return WakeRecord(
        count=wakeups.count,
        p50_s=wakeups.p50_us / 1e6,
        p99_s=wakeups.p99_us / 1e6,
        max_s=wakeups.max_us / 1e6,
        late=json.dumps([[w.latency_us, w.held_by] for w in wakeups.late]),
    )


def gc_record(gc: GcPauses) -> GcRecord:
    generation, longest_ms = gc.longest
    gen0, gen1, gen2 = gc.collections
    return GcRecord(
        gen0=gen0,
        gen1=gen1,
        gen2=gen2,
        window_pauses=len(gc.in_window),
        window_pause_s=gc.total_ms / 1000,
        longest_s=longest_ms / 1000,
        longest_generation=generation,
    )


def run_record(measurement: Measurement, repeat: int) -> RunRecord:
    """What one closed-loop repeat measured besides the metric values."""
    client = measurement.client
    return RunRecord(
        **measured(measurement),
        repeat=repeat,
        rps=client.rps,
        mib_s=client.mib_s,
        client_bound=client.client_bound,
    )


class ResultsFile:
    """Collects runs and failures and rewrites the file after each, so an interrupted run
    leaves every completed cell on disk in a valid file.

    `servers` describes each server interpreter (`servers --about`) by the Python label its
    cells carry (`Cell.python`); "" is the default one, this interpreter unless given."""

    def __init__(
        self,
        path: Path,
        plan: Plan,
        pinning: str,
        profile: str,
        servers: dict[str, dict[str, Any]] | None = None,
        client: str = "python",
        hosts: dict[str, Any] | None = None,
    ) -> None:
        """`hosts`: the run's hosts (bench.measure.remote.Lab.metadata), when not this one."""
        self.path = path
        self.plan = plan
        servers = dict(servers or {})
        if "" not in servers:
            servers[""] = about()
        self.environments = {
            label: environment_metadata(plan, pinning, profile, server, client) | (hosts or {})
            for label, server in servers.items()
        }
        self.environment = self.environments[""]
        self.runs: dict[str, list[pyperf.Run]] = {}
        self.failures: list[dict[str, Any]] = []
        self.ladder: list[float] = []  # the sweep's offered loads, once known
        self.unsupported: dict[str, str] = {}  # cell name -> what its loop lacks
        self.system: dict[str, Any] | None = None  # bench.measure.system's check before the run
        self.completed = 0
        self.interrupted = False
        self.written = False  # nothing is, until a run has succeeded (write_suite)

    def add(self, cell: Cell, repeat: int, measurement: Measurement) -> None:
        """One closed-loop repeat of a cell."""
        entries = {}
        for suffix, (metric, value) in metric_values(measurement).items():
            extra = (
                to_metadata(run_record(measurement, repeat)) if suffix == "" else {"repeat": repeat}
            )
            entries[cell.name + suffix] = (value, {"metric": metric, "mode": "closed", **extra})
        self._add_runs(cell, entries)

    def add_point(
        self, cell: Cell, rate: float, measurement: Measurement, process: int = 1
    ) -> None:
        """One open-loop point: `<cell>/open<RATE>/p50`, `/p99` and `/p999` (the full run
        metadata is on `/p99`); each server process that measures the load adds a run to
        them, its number as the run's `repeat`."""
        latency = measurement.client.latency
        entries = {}
        for percentile in OPEN_PERCENTILES:
            metadata = {
                "metric": f"open-loop latency {percentile}",
                "mode": "open",
                "offered_rate": rate,
                "arrivals": self.plan.arrivals,
                "repeat": process,
                **(to_metadata(point_record(measurement)) if percentile == "p99" else {}),
            }
            name = f"{cell.point_name(rate)}/{percentile}"
            entries[name] = (latency.at(percentile) / 1e6, metadata)
        self._add_runs(cell, entries)

    def _add_runs(self, cell: Cell, entries: dict[str, tuple[float, dict[str, Any]]]) -> None:
        """Add one pyperf run per benchmark name, then save the file."""
        system: dict[str, Any] | None = None
        for name, (value, extra) in entries.items():
            metadata = {
                "name": name,
                "unit": "second",
                **self.environments.get(cell.python, self.environment),
                **cell_metadata(cell),
                **extra,
            }
            if system is None:  # collect the machine's state once, not per benchmark
                run = pyperf.Run([value], metadata=metadata)
                system = {k: v for k, v in run.get_metadata().items() if k not in metadata}
            else:
                run = pyperf.Run([value], metadata={**system, **metadata}, collect_metadata=False)
            self.runs.setdefault(name, []).append(run)
        self.completed += 1
        self.save()

    def add_unsupported(self, cell: Cell, reason: str) -> None:
        """A cell whose server cannot run on its loop (recorded once, not a failure)."""
        self.unsupported.setdefault(cell.name, reason)
        self.save()

    def add_failure(
        self, cell: Cell, repeat: int, failure: Failure, rate: float | None = None
    ) -> None:
        """A failed run, or with `rate` a failed open-loop point."""
        name = cell.name if rate is None else cell.point_name(rate)
        self.failures.append({"cell": name, "repeat": repeat, **asdict(failure)})
        self.save()

    def save(self) -> None:
        benchmarks = [pyperf.Benchmark(runs) for runs in self.runs.values()]
        section = {
            "plan": asdict(self.plan),
            "environment": self.environment,
            "failed": self.failures,
            "ladder": self.ladder,
            "unsupported": [{"cell": c, "reason": r} for c, r in self.unsupported.items()],
            "interrupted": self.interrupted,
            "completed_runs": self.completed,
            "system": self.system,
        }
        self.written = write_suite(self.path, benchmarks, section) or self.written


def record_explanations(path: Path, explained: list[Explained]) -> None:
    """Put `bench explain`'s per-request figures in a results file's section, and each
    cell's server CPU per request as a benchmark of its own (so a file of explained cells
    alone is one pyperf reads), keeping the rest."""
    benchmarks, section = read_suite(path)
    kept = [b for b in benchmarks if not b.get_name().startswith(EXPLAIN_PREFIX)]
    measured = [
        pyperf.Benchmark([pyperf.Run([row.cpu_us / 1e6], metadata={
            "name": f"{EXPLAIN_PREFIX}{row.api}/{row.loop}/server-cpu", "unit": "second",
            "metric": EXPLAIN_METRIC, "api": row.api, "loop": row.loop})])
        for row in explained
    ]  # fmt: skip
    write_suite(path, kept + measured, {**section, "explain": [row.as_json() for row in explained]})


def record_counts(path: Path, name: str, counts: list[float], metadata: dict[str, Any]) -> None:
    """Add (or replace) an instruction-count benchmark in a results file, keeping the rest."""
    benchmarks, section = read_suite(path)
    benchmarks = [b for b in benchmarks if b.get_name() != name]
    runs = [
        pyperf.Run(
            [round(count)], metadata={"name": name, "unit": "integer", **metadata, "repeat": repeat}
        )
        for repeat, count in enumerate(counts, 1)
    ]
    write_suite(path, [*benchmarks, pyperf.Benchmark(runs)], section)
