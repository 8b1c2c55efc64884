"""What a results file holds: the records a session hands the writer, and how a cell is
stored in a benchmark's metadata and read back from it (both directions here, in one place)."""

from dataclasses import dataclass, field
from typing import Any

from aionetbench.wakeups import Wakeups
from bench.plan.cells import LOOPBACK, Cell
from clients.judgement import PointFlags, point_flags
from clients.summary import Summary

SECTION = "aionetbench"  # our top-level section of the pyperf file, which pyperf ignores
PERCENTILES = ("p50", "p90", "p99")  # stored per closed-loop repeat
OPEN_PERCENTILES = ("p50", "p99", "p999")  # stored per open-loop point


@dataclass(frozen=True)
class GcPauses:
    """A Python server's garbage collections over one run (servers.gcwatch): how many of each
    generation ran, and how long each pause of at least 0.1 ms inside the measured window
    took (generation, ms)."""

    collections: tuple[int, int, int]
    in_window: tuple[tuple[int, float], ...] = ()

    @classmethod
    def of(cls, report: dict, window_ns: list[int]) -> "GcPauses":
        """From a servers.gcwatch report, with the pauses that started in the window."""
        start, end = window_ns if len(window_ns) == 2 else (0, 0)
        return cls(
            tuple(report["counts"]),  # type: ignore[arg-type]
            tuple(
                (generation, length / 1e6)
                for generation, started, length in report["kept"]
                if start <= started <= end
            ),
        )

    @property
    def longest(self) -> tuple[int, float]:
        """(generation, ms) of the longest pause in the window; (0, 0.0) if none."""
        return max(self.in_window, key=lambda pause: pause[1], default=(0, 0.0))

    @property
    def total_ms(self) -> float:
        return sum(length for _, length in self.in_window)


@dataclass
class Measurement:
    """A good run: the load generator's summary, plus what only the orchestrator can see."""

    client: Summary
    server_peak_rss: int
    gc: GcPauses | None = None  # a Python server's collections (None: not asked, or native)
    remeasured: bool = False  # a first measurement was interfered with, and this replaced it
    hosts: list[dict[str, Any]] = field(default_factory=list)  # each client host's own part
    # Other threads that ran on the server's or the load generator's CPUs over the run, the
    # longest first: (name, "server" or "client", ms) (aionetbench.threads).
    others: list[tuple[str, str, float]] = field(default_factory=list)
    others_span_s: float = 0.0  # how long the run they were counted over lasted
    wakeups: Wakeups | None = None  # the server's, over the window (None: not traced)
    server_rss_before: int = 0  # its resident memory as the load generator started

    @property
    def flags(self) -> PointFlags:
        """What this point can say (clients.judgement), with the server's wake-ups."""
        return point_flags(self.client, self.wakeups)


@dataclass
class Failure:
    """A run that did not measure: why, and the end of the server's stderr."""

    reason: str
    stderr_tail: str = ""
    unsupported: bool = False  # the server's loop lacks what its API needs: not a fault


def cell_metadata(cell: Cell) -> dict[str, Any]:
    """A cell as benchmark metadata (read back by `cell_fields`)."""
    return {
        "api": cell.api,
        "server_loop": cell.loop,
        "transport": cell.transport,
        "size": cell.size,
        "concurrency": cell.concurrency,
        "pipeline": cell.pipeline,
        **({"server_python": cell.python} if cell.python else {}),
        "network": cell.network,
        **({"churn": cell.churn} if cell.churn else {}),
        **({"idle": cell.idle} if cell.idle else {}),
        **({"slow": cell.slow} if cell.slow else {}),
        **({"at_rate": cell.at_rate} if cell.at_rate else {}),
    }


def cell_fields(metadata: dict[str, Any]) -> dict[str, Any]:
    """The Cell fields of a benchmark, from its metadata (`cell_metadata`)."""
    return {
        "api": metadata["api"],
        "loop": metadata["server_loop"],
        "transport": metadata["transport"],
        "size": metadata["size"],
        "concurrency": metadata["concurrency"],
        "pipeline": metadata["pipeline"],
        "python": metadata.get("server_python", ""),
        "network": metadata.get("network", LOOPBACK),  # files from before paths: loopback
        "churn": metadata.get("churn", 0),
        "idle": metadata.get("idle", 0),
        "slow": metadata.get("slow", 0),
        "at_rate": metadata.get("at_rate", 0.0),
    }
