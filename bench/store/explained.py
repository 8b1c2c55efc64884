"""`bench explain`'s figures for one cell, as stored in a results file's section and read
back by the report."""

from dataclasses import dataclass
from typing import Any

# The calls a loop waits in, one per pass: epoll, or poll/select; or io_uring_enter for a
# loop that uses none of those (veloxloop), which also submits with it. libuv (uvloop) calls
# io_uring_enter besides epoll_pwait, to batch its epoll_ctl calls: not a pass there.
READINESS_WAITS = ("epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select",
                   "pselect6")  # fmt: skip
URING_WAIT = "io_uring_enter"
LOOP_PASSES = (*READINESS_WAITS, URING_WAIT)


@dataclass
class Explained:
    """One cell's per-request costs (None where the tool or option was missing)."""

    api: str
    loop: str
    requests: int
    syscalls: dict[str, float] | None
    failed_syscalls: dict[str, float] | None
    user_us: float
    system_us: float
    voluntary_switches: float
    involuntary_switches: float
    python_calls: float | None
    rss_per_connection_bytes: float | None
    idle_connections: int
    counter: str | None = None  # what counted the system calls: perf, strace or nothing
    # Loop passes per message with one connection at depth 1, where messages cannot share
    # them: the mechanism itself, not the timing of ten connections.
    single_loop_passes: float | None = None
    single_syscalls: dict[str, float] | None = None  # the same run's system calls per message
    # System calls per message under open load at `open_rate` msg/s (Poisson, the cell's
    # connections), where reads can batch and writes can buffer.
    open_syscalls: dict[str, float] | None = None
    open_rate: float | None = None
    # System calls per connection that connects, exchanges one echo and closes: the accept
    # path (accept4, epoll_ctl, setsockopt, ...) and the echo, differenced as the others.
    churn_syscalls: dict[str, float] | None = None

    @property
    def loop_passes(self) -> float | None:
        return None if self.syscalls is None else self.passes(self.syscalls)

    @staticmethod
    def passes(syscalls: dict[str, float]) -> float:
        """Loop passes (waits for readiness or completions) per request in a count of system calls."""
        readiness = sum(syscalls.get(name, 0.0) for name in READINESS_WAITS)
        return readiness if readiness > 0 else syscalls.get(URING_WAIT, 0.0)

    def open_calls(self, names: tuple[str, ...]) -> float | None:
        """Calls of `names` per message under open load; None if not measured."""
        if self.open_syscalls is None:
            return None
        return sum(self.open_syscalls.get(name, 0.0) for name in names)

    @property
    def cpu_us(self) -> float:
        return self.user_us + self.system_us

    def as_json(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "loop": self.loop,
            "requests": self.requests,
            "per_request": {
                "syscalls": self.syscalls,
                "failed_syscalls": self.failed_syscalls,
                "loop_passes": self.loop_passes,
                "context_switches": {
                    "voluntary": self.voluntary_switches,
                    "involuntary": self.involuntary_switches,
                },
                "user_us": self.user_us,
                "system_us": self.system_us,
                "python_calls": self.python_calls,
            },
            "rss_per_connection_bytes": self.rss_per_connection_bytes,
            "idle_connections": self.idle_connections,
            "counted_with": self.counter,
            "single_connection": {
                "loop_passes": self.single_loop_passes,
                "syscalls": self.single_syscalls,
            },
            "open_load": {"rate": self.open_rate, "syscalls": self.open_syscalls},
            "per_connection": {"syscalls": self.churn_syscalls},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Explained":
        per = data["per_request"]
        return cls(
            api=data["api"],
            loop=data["loop"],
            requests=data["requests"],
            syscalls=per["syscalls"],
            failed_syscalls=per.get("failed_syscalls"),
            user_us=per["user_us"],
            system_us=per["system_us"],
            voluntary_switches=per["context_switches"]["voluntary"],
            involuntary_switches=per["context_switches"]["involuntary"],
            python_calls=per["python_calls"],
            rss_per_connection_bytes=data["rss_per_connection_bytes"],
            idle_connections=data.get("idle_connections", 0),
            counter=data.get("counted_with"),
            single_loop_passes=data.get("single_connection", {}).get("loop_passes"),
            single_syscalls=data.get("single_connection", {}).get("syscalls"),
            open_syscalls=data.get("open_load", {}).get("syscalls"),
            open_rate=data.get("open_load", {}).get("rate"),
            churn_syscalls=data.get("per_connection", {}).get("syscalls"),
        )


def syscall_total(explained: Explained) -> float | None:
    return sum(explained.syscalls.values()) if explained.syscalls is not None else None
