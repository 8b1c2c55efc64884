"""The runs a results file stores, as typed records: each declared once here, written into a
pyperf run's metadata by `to_metadata` and read back by `from_metadata` (its exact inverse,
round-trip tested). Values are kept in the units and under the keys files have always had
(seconds, bools as 0/1 for pyperf), so older files read the same way.
"""

import types
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, TypeVar

from aionetbench.about import LIBRARIES
from clients.summary import Waits

Record = TypeVar("Record")


@dataclass(frozen=True, kw_only=True)
class GcRecord:
    """A Python server's collections over a point, and its pauses inside the window."""

    gen0: int
    gen1: int
    gen2: int
    window_pauses: int
    window_pause_s: float
    longest_s: float
    longest_generation: int


@dataclass(frozen=True, kw_only=True)
class WakeRecord:
    """The server's wake-ups over a point's window (aionetbench.wakeups), in seconds."""

    count: int
    p50_s: float
    p99_s: float
    max_s: float
    late: str  # JSON: [[us, the thread that held the server's CPU], ...], the longest first


@dataclass(frozen=True, kw_only=True)
class MeasuredRecord:
    """What every run records, closed loop or open: window, work, CPU, memory, latencies."""

    server_cpu: float
    duration: float = 0.0  # pyperf's own key: the measured window
    requests: int = 0
    client_cpu: float = 0.0
    server_peak_rss: int = 0
    latency_max_s: float = 0.0
    latency_histogram_ns: str = ""
    client: str = "python"  # files from before the native load generator name none
    client_loop: str | None = None  # the Python load generator's
    client_hosts_detail: str | None = None  # JSON: each client host's own part
    # With churn: connections dialed in the window that completed, per second, and of those
    # the TLS handshakes that resumed a session.
    cps: float = 0.0
    tls_resumed: int = 0
    server_rss_before: int = 0  # bytes, as the load generator started (peak - this: its growth)


@dataclass(frozen=True, kw_only=True)
class RunRecord(MeasuredRecord):
    """One closed-loop repeat, beside its metric values."""

    repeat: int
    rps: float
    mib_s: float
    client_bound: bool


@dataclass(frozen=True, kw_only=True)
class PointRecord(MeasuredRecord):
    """One open-loop point (on its `/p99` benchmark), beside its percentiles."""

    achieved_rate: float
    sent_rate: float
    scheduled_rate: float
    fell_behind: bool
    client_stalled: bool = False
    caught_up: bool = False
    client_limited: bool | None = None  # None in files from before it: fell_behind or stalled
    interfered: bool = False
    remeasured: bool = False
    late_share: float = 0.0
    saturated: bool
    unreliable: bool
    slices: int = 1
    schedule_lag_p50_s: float = 0.0
    schedule_lag_p99_s: float = 0.0
    schedule_lag_max_s: float = 0.0
    latency_samples: int = 0
    undelivered: int = 0
    p99_ci_low_s: float | None = None
    p99_ci_high_s: float | None = None
    # The p99 from intended send times (wrk2's: it carries the load generator's lateness too;
    # the benchmark's own values are the server's latency, from the sends); None before it.
    intended_p99_s: float | None = None
    kernel_timed: float = 0.0  # of the replies, the share timed by kernel receive timestamps
    # JSON: [[thread, "server" or "client", ms], ...]: other threads on those CPUs over the run
    others: str | None = None
    others_span_s: float = 0.0  # the run they ran over: warm-up, window, drain and start-up
    realtime_share: float = 0.0  # of the window, the share the load generator ran real-time
    # Records within, flattened under a prefix (None: not stored).
    waits: Waits | None = field(default=None, metadata={"prefix": "waits_"})
    gc: GcRecord | None = field(default=None, metadata={"prefix": "gc_"})
    wake: WakeRecord | None = field(default=None, metadata={"prefix": "wake_"})


@dataclass(frozen=True, kw_only=True)
class EnvironmentRecord:
    """What every benchmark of a run shares (bench.store.writer.environment_metadata), and
    what pyperf adds itself (cpu_*). `python_*` and the libraries are the server's."""

    python_version: str = "?"
    python_implementation: str = "?"
    python_executable: str = "?"
    server_free_threading: bool = False
    orchestrator_python_version: str = "?"
    client: str = "python"  # the load generator asked for
    native_client: str = "?"  # "built" or "not built"
    client_loop: str = "?"
    pinning: str = "?"
    profile: str = "?"
    kernel: str = "?"
    pyperf_version: str = "?"
    suite_commit: str = "?"
    warmup_s: float | None = None
    duration_s: float | None = None
    loop_versions: str | None = None  # loops outside the registry, with their versions
    # pyperf's own: None here, so that writing this record never stands in for them.
    cpu_model_name: str | None = None
    cpu_count: int | None = None
    # A run across hosts (bench.measure.remote.Lab.metadata): the hosts, and JSON of each.
    server_host: str | None = None
    client_hosts: str | None = None
    hosts: str | None = None
    # Each library's version, as `NAME_version` ("not installed" when it was not).
    libraries: dict[str, str] = field(
        default_factory=dict, metadata={"suffix": "_version", "names": LIBRARIES}
    )


def is_bool(annotation: Any) -> bool:
    return annotation is bool or (
        isinstance(annotation, types.UnionType) and bool in annotation.__args__
    )


def record_type(annotation: Any) -> type:
    """The record class of a nested field (`X | None`)."""
    return next(arg for arg in annotation.__args__ if is_dataclass(arg))


def to_metadata(record: Any) -> dict[str, Any]:
    """A record as flat metadata: nested records under their prefix, bools as 0/1, None left out."""
    metadata: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if value is None:
            continue
        if prefix := f.metadata.get("prefix"):
            metadata |= {f"{prefix}{key}": inner for key, inner in to_metadata(value).items()}
        elif suffix := f.metadata.get("suffix"):
            metadata |= {f"{name}{suffix}": inner for name, inner in value.items()}
        else:
            metadata[f.name] = int(value) if isinstance(value, bool) else value
    return metadata


def from_metadata(cls: type[Record], metadata: dict[str, Any]) -> Record:
    """The record `to_metadata` wrote (KeyError for a field that is needed and missing); a
    nested record is None unless every one of its keys is there."""
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if prefix := f.metadata.get("prefix"):
            inner = {k.removeprefix(prefix): v for k, v in metadata.items() if k.startswith(prefix)}
            kind = record_type(f.type)
            if all(g.name in inner for g in fields(kind)):
                values[f.name] = from_metadata(kind, inner)
        elif suffix := f.metadata.get("suffix"):
            values[f.name] = {
                name: metadata[f"{name}{suffix}"]
                for name in f.metadata["names"]
                if f"{name}{suffix}" in metadata
            }
        elif f.name in metadata:
            value = metadata[f.name]
            values[f.name] = bool(value) if is_bool(f.type) else value
        elif f.default is MISSING and f.default_factory is MISSING:
            raise KeyError(f.name)
    return cls(**values)
