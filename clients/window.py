"""How a load is split over workers, and what one worker measured over its window: the load
generators' common result, which `clients.result` merges into the Summary (the Python
workers and the native ones fill it)."""

from dataclasses import dataclass, field

from aionetbench.errors import UsageError
from aionetbench.limits import raise_fd_limit
from clients import stats
from clients.spec import LoadSpec

# Open loop: a message sent this late went out in a stall of the client (descheduled, a page
# fault storm), not in its loop's own jitter while it handles a burst of replies (under about
# 0.6 ms here up to 120,000 msg/s), and with the others of the stall, as a burst the schedule
# never asked for.
LATE_NS = 1_000_000


@dataclass(frozen=True)
class ServerUsage:
    """The server's CPU seconds and context switches so far, or over a window (`-`)."""

    user_s: float
    system_s: float
    voluntary: int
    involuntary: int
    run_delay_s: float = 0.0  # runnable but waiting for a CPU (aionetbench.procstat)

    def __add__(self, other: "ServerUsage") -> "ServerUsage":
        return ServerUsage(
            self.user_s + other.user_s,
            self.system_s + other.system_s,
            self.voluntary + other.voluntary,
            self.involuntary + other.involuntary,
            self.run_delay_s + other.run_delay_s,
        )

    def __sub__(self, other: "ServerUsage") -> "ServerUsage":
        return ServerUsage(
            self.user_s - other.user_s,
            self.system_s - other.system_s,
            self.voluntary - other.voluntary,
            self.involuntary - other.involuntary,
            self.run_delay_s - other.run_delay_s,
        )

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.system_s


@dataclass
class WorkerResult:
    """One worker's measured window."""

    connections: int = 0
    requests: int = 0  # replies received in the window: the throughput count
    opened: int = 0  # --churn: connections dialed in the window that exchanged all theirs
    resumed: int = 0  # ...of them, those whose TLS handshake resumed a session
    window_s: float = 0.0
    cpu_s: float = 0.0
    # Every message sent in the window, from when it went out to when its reply reached the
    # client's kernel (or was read, without receive timestamps): the server's latency.
    latency: stats.Recorded | None = None
    blocks: list[stats.Counts] = field(default_factory=list)  # the same, per time block
    # Open loop: the same messages from when each was due to when its reply was read (wrk2's).
    intended: stats.Recorded | None = None
    undelivered: int = 0  # messages still unanswered when the drain gave up
    lag: stats.Recorded | None = None  # open loop: how late each message went out
    timed: int = 0  # replies recorded whose arrival the kernel timestamped
    realtime_s: float = 0.0  # of the window, the time this worker ran at real-time priority
    scheduled: int = 0
    sent: int = 0
    server: ServerUsage | None = None  # over the window, when measured
    errors: list[str] = field(default_factory=list)
    slices: int = 1  # windows joined into this one (clients.slices)
    # Over the window: this worker's time runnable but waiting for a CPU and its involuntary
    # switches, and the machine's steal (aionetbench.procstat): whether the tail is the client's.
    own_wait_s: float = 0.0
    own_involuntary: int = 0
    steal_s: float = 0.0
    started_ns: int = 0  # the window's bounds on CLOCK_MONOTONIC, to place server events in it
    ended_ns: int = 0
    # The longest wait, with messages in flight, for any byte of a reply in the window and
    # drain: a server that stopped or stalled (bench run fails a run past SILENCE_LIMIT_S).
    silent_s: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.window_s if self.window_s else 0.0

    @property
    def cpu(self) -> float:
        """CPU seconds per wall second over the window: 1.0 is a whole core."""
        return self.cpu_s / self.window_s if self.window_s else 0.0


class WorkerFailed(Exception):
    """A worker process died without a result, or the workers overran their deadline."""


def split(total: int, parts: int) -> list[int]:
    """Split `total` (connections, echoes) as evenly as possible over `parts` workers."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def worker_loads(spec: LoadSpec) -> list[tuple[int, int, float | None]]:
    """Each worker's connections, the index of its first one, and its share of the rate
    (open loop), after checking that the open-file limit allows that many connections."""
    connections = spec.concurrency + (spec.idle or 0) + (spec.slow_readers or 0)
    if (limit := raise_fd_limit()) < connections + 64:  # worker processes inherit it
        raise UsageError(
            f"{connections} connections need more open files than the limit allows "
            f"(ulimit -n is {limit}); raise the hard limit or lower --concurrency or --idle"
        )
    shares = split(spec.concurrency, spec.workers)
    return [
        (share, sum(shares[:i]), spec.rate * share / spec.concurrency if spec.rate else None)
        for i, share in enumerate(shares)
    ]
