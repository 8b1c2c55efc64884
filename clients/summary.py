"""What a load generator measured: the one JSON object it prints with `--json`, parsed once
into types (`Summary.from_json` is `to_json`'s exact inverse). Facts only: what a point can
and cannot say is judged in clients.judgement."""

from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from typing import Any


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
    lag_p50_us: float  # how late the client sent each message: its own lateness
    lag_p99_us: float
    lag_max_us: float
    fell_behind: bool
    late_share: float  # of the messages sent, those the client sent in a stall (LATE_NS late)
    client_stalled: bool  # over STALL_SHARE of them: the arrivals were not the schedule's


@dataclass(frozen=True)
class Waits:
    """Over the window, what besides the server's own work can make a tail: time the server
    and the load generator were runnable but waiting for a CPU, the load generator's
    involuntary context switches, and the machine's steal time (aionetbench.procstat)."""

    server_wait_ms: float
    client_wait_ms: float
    client_involuntary: int
    steal_ms: float


@dataclass(frozen=True)
class WorkerShare:
    """One worker process's part of the run."""

    connections: int
    requests: int
    rps: float
    client_cpu: float
    histogram: str


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
    latency: Latency  # the server's: from each send to its reply's arrival in the client's kernel
    latency_samples: int
    undelivered: int
    per_worker: list[WorkerShare] = field(default_factory=list)
    server: ServerCost | None = None  # with --server-pid
    schedule: Schedule | None = None  # open loop
    generator: str = "python"
    slices: int = 1  # windows of --duration measured (clients.slices); duration_s is their sum
    waits: Waits | None = None
    window_ns: list[int] = field(default_factory=list)  # [start, end] on CLOCK_MONOTONIC
    # The longest any worker waited, with messages in flight, for a byte of a reply.
    silent_s: float = 0.0
    # Open loop: from each message's intended send time to its reply's read (wrk2's figure,
    # which also carries the client's own lateness).
    intended_latency: Latency | None = None
    # Of the replies timed, the share whose arrival the kernel timestamped (SO_TIMESTAMPING);
    # the rest were timed when read (Unix sockets, the Python load generator).
    kernel_timed: float = 0.0
    realtime_share: float = 0.0  # of the window, the share run at real-time priority
    # --churn: messages per connection (0: connections stay open), and the connections that
    # were dialed in the window and completed, per second; the latency is then a connection's.
    churn: int = 0
    connections_opened: int = 0
    cps: float = 0.0
    tls_resumed: int = 0  # of those connections, the TLS handshakes that resumed a session

    @property
    def server_cpu_us_per_connection(self) -> float:
        """With --churn, the server's CPU per connection (its accept, handshakes, echoes and
        close), 0 if unknown."""
        return self.server.cpu / self.cps * 1e6 if self.server and self.cps else 0.0

    @property
    def first_error(self) -> str:
        return self.error_messages[0] if self.error_messages else "echoes missing"

    def to_json(self) -> dict[str, Any]:
        """The JSON object, flat as the load generators print it."""
        data: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in NESTED
        }
        data["latency_us"] = asdict(self.latency)
        if self.intended_latency is not None:
            data["intended_latency_us"] = asdict(self.intended_latency)
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
            intended_latency=Latency(**data["intended_latency_us"])
            if "intended_latency_us" in data
            else None,
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
# not plain JSON keys
NESTED = ("latency", "intended_latency", "per_worker", "server", "schedule", "waits")


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
