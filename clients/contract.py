"""The contract between the orchestrator and a load generator: a spec in, a summary out.

`LoadSpec` is everything the orchestrator may ask of a load generator; `to_argv()` writes it
as the command line that `python -m clients` parses back into the same spec (a test holds
the two to each other). `Summary` is the one JSON object a load generator prints with
`--json`, parsed once into types, with what an open-loop point can say (`PointFlags`)
computed once. Any load generator that takes these arguments and prints this JSON is
driven the same way (`Generator`): the Python one here, a native one beside it.
"""

import math
import sys
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from functools import cached_property
from typing import Any

from aionetbench.endpoints import Endpoint

DRAIN_S = 1.0  # after the window, seconds to wait for the replies still in flight
PROTOCOLS = ("tcp", "ws", "line")  # raw TCP echo, WebSocket, newline-terminated messages

# What an open-loop point can say (PointFlags).
SATURATED_SHARE = 0.97  # replies under this share of the arrivals: the server fell behind
# ...and by at least this many messages: in a short window at a low rate, a few replies still
# in flight when it closes are already 3%, and they are not a backlog.
SATURATED_BACKLOG = 25
UNRELIABLE_HALF_WIDTH = 0.10  # p99's 95% interval wider than +-10%: not an exact figure
# Answering (or sending) more than this share of the window's arrivals: a backlog from before
# the window, sent when the load generator caught up, not the server's steady state.
OVER_ANSWER = 1.02
# Where a tail comes from: a p99 over LONG_TAIL p50s is worth explaining, and a cause present
# for CAUSE_SHARE of the window (the p99 is the slowest 1%) can account for it. Steal is read
# in 10 ms ticks summed over CPUs, so one tick a second is no cause: it needs STEAL_SHARE.
LONG_TAIL = 5.0
CAUSE_SHARE = 0.005
STEAL_SHARE = 0.02


@dataclass(frozen=True)
class LoadSpec:
    """One load: where, what, how much, and for how long."""

    protocol: str  # PROTOCOLS
    endpoint: Endpoint
    tls: bool = False
    loop: str = "uvloop"
    size: int = 1024
    concurrency: int = 10
    pipeline: int = 1
    duration: float = 5.0
    warmup: float = 1.0
    rate: float | None = None  # messages per second over all connections: open loop
    requests: int | None = None  # closed loop: exactly this many echoes, then stop (no warm-up)
    arrivals: str = "poisson"  # open loop: "poisson" or "uniform" (clients.arrivals)
    drain: float = DRAIN_S
    workers: int = 1
    server_pid: int | None = None  # when set, the server's CPU time is measured over the window
    # Open loop: measure more windows of `duration` until the p99's 95% interval is within
    # +-p99_within of it, or `max_duration` seconds were measured (clients.slices).
    p99_within: float | None = None
    max_duration: float | None = None

    def to_argv(self) -> list[str]:
        """The command-line arguments that `clients.cli.parse_args` turns back into this spec
        (without `--json`, which is how to print, not what to do)."""
        target = (
            ["--unix", self.endpoint.path]
            if self.endpoint.path
            else ["--connect", str(self.endpoint)]
        )
        argv = [self.protocol, *target, *(["--tls"] if self.tls else [])]
        for name in ("loop", "size", "concurrency", "pipeline", "duration", "warmup",
                     "rate", "requests", "arrivals", "drain", "workers", "server_pid",
                     "p99_within", "max_duration"):  # fmt: skip
            value = getattr(self, name)
            if value is not None:
                argv += [
                    f"--{name.replace('_', '-')}",
                    repr(value) if isinstance(value, float) else str(value),
                ]
        return argv


@dataclass(frozen=True)
class Generator:
    """A load generator: the program that takes a spec's arguments and prints a Summary."""

    name: str
    program: tuple[str, ...]
    tls: bool = True  # whether it can load a TLS server

    def command(self, spec: LoadSpec) -> list[str]:
        return [*self.program, *spec.to_argv(), "--json"]

    def can(self, spec: LoadSpec) -> bool:
        return self.tls or not spec.tls


@dataclass(frozen=True)
class Clients:
    """Which load generator measures a load: `preferred` wherever it can, else `fallback`
    (the native generator does not do TLS; the Python one does everything)."""

    preferred: Generator
    fallback: Generator

    def for_spec(self, spec: LoadSpec) -> Generator:
        return self.preferred if self.preferred.can(spec) else self.fallback


def python_generator(python: str = sys.executable) -> Generator:
    return Generator("python", (python, "-m", "clients"))


@dataclass(frozen=True)
class Latency:
    """Latency percentiles, max, mean and stdev in microseconds, and the encoded hdrh
    histogram (nanoseconds) they were read from."""

    p50: float
    p90: float
    p99: float
    p999: float
    max: float
    mean: float
    stdev: float
    histogram: str

    def at(self, percentile: str) -> float:
        """`p50`, `p90`, `p99`, `p999` or `max`."""
        return getattr(self, percentile)


@dataclass(frozen=True)
class ServerCost:
    """The server's CPU over the measured window: cores used, and per request."""

    cpu: float  # CPU seconds per wall second
    cpu_us: float
    user_us: float
    system_us: float
    voluntary_switches: float
    involuntary_switches: float


@dataclass(frozen=True)
class Schedule:
    """How an open-loop run kept to its schedule."""

    target_rate: float
    arrivals: str
    p99_ci_us: tuple[float | None, float | None]  # the p99's 95% interval, None if unknown
    achieved_rate: float  # replies per second
    sent_rate: float
    scheduled_rate: float  # the arrivals the schedule really drew
    lag_p50_us: float
    lag_p99_us: float
    lag_max_us: float
    fell_behind: bool
    late_share: float  # of the messages sent, those a stall of the client made late
    client_stalled: bool


@dataclass(frozen=True)
class Waits:
    """Over the window, what besides the server's own work can make a tail: time the server
    and the load generator were runnable but waiting for a CPU, the load generator's
    involuntary context switches, and the machine's steal time (aionetbench.procstat)."""

    server_wait_ms: float
    client_wait_ms: float
    client_involuntary: int
    steal_ms: float

    def interference(self, window_s: float) -> list[str]:
        """Which of these were present long enough to make a 1% tail: another process on the
        server's CPU, the hypervisor, or the load generator waiting for its own CPU."""
        window_ms = 1000 * window_s
        if window_ms <= 0:
            return []
        causes = (
            (f"the server waited {self.server_wait_ms:,.1f} ms for its CPU",
             self.server_wait_ms >= CAUSE_SHARE * window_ms),
            (f"the hypervisor stole {self.steal_ms:,.0f} ms",
             self.steal_ms >= STEAL_SHARE * window_ms),
            (f"the load generator waited {self.client_wait_ms:,.1f} ms for its CPU",
             self.client_wait_ms >= CAUSE_SHARE * window_ms),
        )  # fmt: skip
        return [text for text, present in causes if present]


@dataclass(frozen=True)
class WorkerShare:
    """One worker process's part of the run."""

    connections: int
    requests: int
    rps: float
    client_cpu: float
    histogram: str


@dataclass(frozen=True)
class PointFlags:
    """What one open-loop point can and cannot say."""

    saturated: bool  # the server answered under 97% of the arrivals (and 25 messages)
    fell_behind: bool  # the load generator could not keep to its schedule: its limit
    stalled: bool  # it kept to it but for a stall long enough to make the tail its own
    unreliable: bool  # the p99's 95% interval is wider than +-10%, or unknown
    caught_up: bool = False  # it answered or sent over OVER_ANSWER of the arrivals: a backlog
    interfered: bool = False  # a long tail, and another process or the client can make it

    @property
    def client_limited(self) -> bool:
        """The point measured the load generator, not the server."""
        return self.fell_behind or self.stalled or self.caught_up

    @property
    def stops_climbing(self) -> bool:
        """A higher load would saturate the server or the client again; a stall passes."""
        return self.saturated or self.fell_behind or self.caught_up

    @property
    def names(self) -> list[str]:
        return flag_names(self.saturated, self.client_limited, self.unreliable, self.interfered)


def flag_names(
    saturated: bool, client_limited: bool, unreliable: bool, interfered: bool = False
) -> list[str]:
    """A point's flags as the tables print them."""
    flags = (
        ("saturated", saturated),
        ("client-limited", client_limited),
        ("unreliable p99", unreliable),
        ("interfered", interfered),
    )
    return [name for name, on in flags if on]


@dataclass(frozen=True)
class Summary:
    """What a load generator measured: the `--json` object, typed."""

    protocol: str
    endpoint: str
    tls: bool
    loop: str
    size: int
    concurrency: int
    pipeline: int
    workers: int
    mode: str  # "closed" or "open"
    requests: int  # replies in the window
    duration_s: float
    rps: float
    mib_s: float
    errors: int
    error_messages: list[str]
    client_cpu: float  # cores
    client_cpu_us_per_request: float
    client_bound: bool
    latency: Latency
    latency_samples: int
    undelivered: int
    per_worker: list[WorkerShare] = field(default_factory=list)
    server: ServerCost | None = None  # with --server-pid
    schedule: Schedule | None = None  # open loop
    generator: str = "python"
    slices: int = 1  # windows of --duration measured (clients.slices); duration_s is their sum
    waits: Waits | None = None
    window_ns: list[int] = field(default_factory=list)  # [start, end] on CLOCK_MONOTONIC

    @cached_property
    def flags(self) -> PointFlags:
        """What this open-loop point can say (closed loop: never saturated nor unreliable)."""
        schedule = self.schedule
        if schedule is None:
            return PointFlags(False, False, False, False)
        arrived = schedule.scheduled_rate or schedule.target_rate
        backlog = (arrived - schedule.achieved_rate) * self.duration_s
        half_width = p99_half_width(self.latency.p99, schedule.p99_ci_us)
        return PointFlags(
            saturated=schedule.achieved_rate < SATURATED_SHARE * arrived
            and backlog >= SATURATED_BACKLOG,
            fell_behind=schedule.fell_behind,
            stalled=schedule.client_stalled,
            unreliable=half_width is None or half_width > UNRELIABLE_HALF_WIDTH,
            caught_up=max(schedule.achieved_rate, schedule.sent_rate) > OVER_ANSWER * arrived,
            interfered=bool(self.interference),
        )

    @property
    def long_tail(self) -> bool:
        return self.latency.p99 > LONG_TAIL * self.latency.p50

    @property
    def interference(self) -> list[str]:
        """What besides the server may have made a long tail (nothing if the tail is short)."""
        if not self.long_tail or self.waits is None:
            return []
        return self.waits.interference(self.duration_s)

    @property
    def first_error(self) -> str:
        return self.error_messages[0] if self.error_messages else "echoes missing"

    def to_json(self) -> dict[str, Any]:
        """The JSON object, flat as the load generators print it."""
        data: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in NESTED
        }
        data["latency_us"] = asdict(self.latency)
        data["per_worker"] = [asdict(worker) for worker in self.per_worker]
        if self.waits is not None:
            data["waits"] = asdict(self.waits)
        for part, keys in ((self.server, SERVER_KEYS), (self.schedule, SCHEDULE_KEYS)):
            if part is not None:
                for name, path in keys.items():
                    *outer, last = path
                    place = data
                    for key in outer:
                        place = place.setdefault(key, {})
                    value = getattr(part, name)
                    place[last] = list(value) if isinstance(value, tuple) else value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Summary":
        """Parse the JSON object; KeyError or TypeError if it is not one."""
        plain = {
            f.name: data[f.name] if required(f) else data.get(f.name, default_of(f))
            for f in fields(cls)
            if f.name not in NESTED
        }
        return cls(
            **plain,
            latency=Latency(**data["latency_us"]),
            per_worker=[WorkerShare(**worker) for worker in data.get("per_worker", [])],
            waits=Waits(**data["waits"]) if "waits" in data else None,
            server=parsed(ServerCost, SERVER_KEYS, data) if "server_cpu" in data else None,
            schedule=parsed(Schedule, SCHEDULE_KEYS, data) if data["mode"] == "open" else None,
        )


# Where each field of the nested parts sits in the flat JSON object (one table for both
# directions): field -> key path.
SERVER_KEYS = {
    "cpu": ("server_cpu",),
    "cpu_us": ("server_cpu_us_per_request",),
    "user_us": ("server_user_us_per_request",),
    "system_us": ("server_system_us_per_request",),
    "voluntary_switches": ("server_context_switches_per_request", "voluntary"),
    "involuntary_switches": ("server_context_switches_per_request", "involuntary"),
}
PLAIN_SCHEDULE_KEYS = (
    "target_rate", "arrivals", "p99_ci_us", "achieved_rate", "sent_rate", "scheduled_rate",
    "fell_behind", "late_share", "client_stalled",
)  # fmt: skip
SCHEDULE_KEYS = {
    **{name: (name,) for name in PLAIN_SCHEDULE_KEYS},
    "lag_p50_us": ("schedule_lag_us", "p50"),
    "lag_p99_us": ("schedule_lag_us", "p99"),
    "lag_max_us": ("schedule_lag_us", "max"),
}
NESTED = ("latency", "per_worker", "server", "schedule", "waits")  # not plain JSON keys


def required(f: Field) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def default_of(f: Field) -> Any:
    return f.default_factory() if f.default_factory is not MISSING else f.default


def parsed(part: type, keys: dict[str, tuple[str, ...]], data: dict[str, Any]) -> Any:
    """One nested part of a Summary, read from the flat JSON object by its key table."""
    values = {}
    for name, path in keys.items():
        value: Any = data
        for key in path:
            value = value[key]
        values[name] = tuple(value) if isinstance(value, list) else value
    return part(**values)


def p99_half_width(p99: float, interval: tuple[float | None, float | None]) -> float | None:
    """The larger side of the p99's 95% interval, relative to the p99; None if unknown."""
    low, high = interval
    if low is None or high is None or p99 <= 0 or math.isnan(low) or math.isnan(high):
        return None
    return max(p99 - low, high - p99) / p99
