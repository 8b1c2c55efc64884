"""The load spec: everything the orchestrator may ask of a load generator, declared once.

Each field of `LoadSpec` says how it is written on a command line (its `Option`). The parser
both load generators share (`add_arguments`, `from_args`), `to_argv` (its exact inverse) and
the native worker's arguments (`to_argv(worker=True)`, which load.c parses and checks itself)
are all derived from these declarations: a new option is one field here.
"""

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from aionetbench.argtypes import at_least, non_negative_float, positive_float, positive_int
from aionetbench.endpoints import Endpoint
from aionetbench.errors import UsageError
from aionetbench.loops import loop_argument
from aionetbench.wire import FRAMINGS
from clients.arrivals import ARRIVALS

DRAIN_S = 1.0  # after the window, seconds to wait for the replies still in flight
PROTOCOLS = FRAMINGS  # what a load generator speaks is what a server frames
# A message's payload at most: every connection cycles through at least 16 distinct messages,
# all built in memory before the run (load.c refuses larger ones too).
MAX_SIZE = 16 * 1024 * 1024
# Seconds for a load generator to open its connections, and the slowest opening of idle
# ones allowed for (WebSocket over TLS, ~1,100 a second here): load.c's CONNECT_TIMEOUT_S and
# IDLE_PER_S, with 5 s more for the wrapper that waits for it.
CONNECT_S = 15.0
IDLE_OPENED_PER_S = 500
COUNTED_LIMIT_S = 60.0  # `--requests`: the whole count must be done within this (load.c too)
PRIORITIES = ("auto", "realtime", "normal")  # load.c's pacing.c applies them


@dataclass(frozen=True)
class Option:
    """How one LoadSpec field is written on a command line."""

    help: str
    type: Callable[[str], Any] | None = None  # argparse's; None for a flag (a bool field)
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    worker: bool = False  # the native worker takes it too (clients/native/load.c)


def option(default: Any, help: str, **how: Any) -> Any:
    """A LoadSpec field with its default and how it is written (`Option`'s other fields)."""
    return field(default=default, metadata={"option": Option(help, **how)})


def endpoint_argument(text: str) -> Endpoint:
    try:
        return Endpoint.parse(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


@dataclass(frozen=True)
class LoadSpec:
    """One load: where, what, how much, and for how long."""

    protocol: str  # PROTOCOLS
    endpoint: Endpoint
    tls: bool = option(False, "TLS (the certificate is not verified)", worker=True)
    loop: str = option(
        "uvloop",
        "client event loop: a name from aionetbench.loops, BASE+LAYER or MODULE:FACTORY",
        type=loop_argument,
    )
    size: int = option(1024, "payload bytes", type=at_least(int, 1, maximum=MAX_SIZE), worker=True)
    concurrency: int = option(10, "connections", type=positive_int, worker=True)
    pipeline: int = option(
        1, "closed loop: messages in flight per connection", type=positive_int, worker=True
    )
    duration: float = option(5.0, "measured seconds", type=positive_float, worker=True)
    warmup: float = option(1.0, "discarded seconds first", type=non_negative_float, worker=True)
    rate: float | None = option(
        None,
        "open loop: messages per second over all connections",
        type=positive_float,
        worker=True,
    )
    requests: int | None = option(
        None,
        "closed loop: exactly N verified echoes over all connections, then stop (no warm-up; "
        "--duration is ignored): a fixed amount of work, for per-request counts",
        type=positive_int,
        metavar="N",
        worker=True,
    )
    arrivals: str = option(
        "poisson",
        "open loop: exponential gaps (poisson, as mutilate and Lancet) or constant ones "
        "(uniform, as wrk2)",
        choices=ARRIVALS,
        worker=True,
    )
    drain: float = option(
        DRAIN_S,
        "seconds to wait after the window for replies still in flight; those that do not come "
        "count with their latency so far",
        type=non_negative_float,
        worker=True,
    )
    priority: str = option(
        "auto",
        "open loop, native load generator: run at real-time priority (SCHED_FIFO) so that "
        "other threads cannot preempt it mid-window (realtime: always, and say so if refused; "
        "auto: when permitted and pinned to CPUs of its own, not the --server-pid's; normal: "
        "never). The share of the window it ran so is in the results",
        choices=PRIORITIES,
        worker=True,
    )
    churn: int | None = option(
        None,
        "connection churn: each connection exchanges N messages (--pipeline at a time), "
        "closes, and a new one opens in its place; open loop: --rate is new connections per "
        "second, at most --concurrency open at once (an arrival waits for a free one). The "
        "latency is a connection's: from its connect (the intended one: from when it was "
        "due) to its first echo. Native load generator only",
        type=positive_int,
        metavar="N",
        worker=True,
    )
    idle: int | None = option(
        None,
        "closed or open loop: N more connections opened before the run (TLS handshake, "
        "WebSocket upgrade and one echo done) and held open, silent, beside the measured ones; "
        "native load generator only",
        type=positive_int,
        metavar="N",
        worker=True,
    )
    slow_readers: int | None = option(
        None,
        "K more connections beside the measured ones that keep sending messages (up to 8 MiB/s "
        "each) and read their echoes at 16 KiB/s with a 16 KiB receive buffer: a server that "
        "keeps reading what it cannot write back buffers it; native load generator only",
        type=positive_int,
        metavar="K",
        worker=True,
    )
    tls_resume: bool = option(
        False,
        "with --tls: offer the session the server last gave (TLS 1.3 ticket) instead of a full "
        "handshake on each new connection; native load generator only",
        worker=True,
    )
    workers: int = option(1, "processes to split connections over", type=positive_int)
    server_pid: int | None = option(
        None,
        "also measure this server process's CPU time over the measured window",
        type=positive_int,
        metavar="PID",
        worker=True,
    )
    # Open loop: measure more windows of `duration` until the p99's 95% interval is within
    # +-p99_within of it, or `max_duration` seconds were measured (clients.slices).
    p99_within: float | None = option(
        None,
        "open loop: measure further windows of --duration until the p99's 95%% interval is "
        "within +-FRACTION of it (0.1 is +-10%%), or --max-duration is reached",
        type=positive_float,
        metavar="FRACTION",
    )
    max_duration: float | None = option(
        None,
        "with --p99-within: measured seconds at most (default five windows)",
        type=positive_float,
        metavar="S",
    )

    def __post_init__(self) -> None:
        if problem := self.problem():
            raise UsageError(problem)

    def problem(self) -> str | None:
        """What makes this combination of options meaningless, or None."""
        if not 1 <= self.size <= MAX_SIZE:
            return f"--size must be 1 to {MAX_SIZE:,} bytes"
        if self.workers > self.concurrency:
            return "--workers cannot exceed --concurrency"
        if (self.p99_within or self.max_duration) and not self.rate:
            return "--p99-within and --max-duration go with --rate"
        if self.max_duration and not self.p99_within:
            return "--max-duration goes with --p99-within"
        if self.requests and (self.rate or self.workers > 1):
            return "--requests goes with neither --rate nor more than one worker"
        if self.tls_resume and not self.tls:
            return "--tls-resume goes with --tls"
        if (self.idle or self.slow_readers) and self.churn:
            return "--idle and --slow-readers go with connections that stay open, not --churn"
        if self.churn and self.requests and self.requests % self.churn:
            return "--requests must be a multiple of --churn (whole connections)"
        if self.priority == "realtime" and not self.rate:
            return "--priority realtime goes with --rate (a closed loop keeps its CPU busy)"
        return None

    @property
    def native_only(self) -> str | None:
        """The first option set that only the native load generator implements, or None."""
        flags = (("--churn", self.churn), ("--idle", self.idle),
                 ("--slow-readers", self.slow_readers), ("--tls-resume", self.tls_resume))  # fmt: skip
        return next((flag for flag, value in flags if value), None)

    @property
    def connect_s(self) -> float:
        """How long the load generator may take to open its connections (load.c: the same
        rule, less its own margin): more with many idle ones."""
        return CONNECT_S + (self.idle or 0) / IDLE_OPENED_PER_S

    @property
    def run_s(self) -> float:
        """How long one run of this load lasts at most, unsliced: warm-up, window and drain,
        or for an exact count its limit and the drain."""
        return (COUNTED_LIMIT_S if self.requests else self.warmup + self.duration) + self.drain

    def to_argv(self, worker: bool = False) -> list[str]:
        """The command-line arguments `from_args` turns back into this spec (without
        `--json`, which is how to print, not what to do); with `worker`, only what the
        native worker takes."""
        target = (
            ["--unix", self.endpoint.path]
            if self.endpoint.path
            else ["--connect", str(self.endpoint)]
        )
        argv = [self.protocol, *target]
        for name, how in OPTIONS.items():
            value = getattr(self, name)
            if (worker and not how.worker) or value is None or value is False:
                continue
            flag = f"--{name.replace('_', '-')}"
            argv += (
                [flag]
                if value is True
                else [flag, repr(value) if isinstance(value, float) else str(value)]
            )
        return argv


OPTIONS: dict[str, Option] = {f.name: f.metadata["option"] for f in fields(LoadSpec) if f.metadata}
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(LoadSpec) if f.metadata}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The spec's options, as both load generators take them."""
    parser.add_argument(
        "protocol",
        choices=PROTOCOLS,
        help="raw TCP echo, WebSocket, or line-framed TCP (each message ends in its only newline)",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--connect", metavar="HOST:PORT", type=endpoint_argument, help="TCP server")
    target.add_argument("--unix", metavar="PATH", help="Unix socket server")
    for name, how in OPTIONS.items():
        flag, default = f"--{name.replace('_', '-')}", DEFAULTS[name]
        if how.type is None and how.choices is None:
            parser.add_argument(flag, action="store_true", help=how.help)
            continue
        shown = "" if default is None else " (default %(default)s)"
        parser.add_argument(flag, type=how.type, choices=how.choices, metavar=how.metavar,
                            default=default, help=how.help + shown)  # fmt: skip


def from_args(args: argparse.Namespace) -> LoadSpec:
    """The spec `add_arguments`' options were parsed into (UsageError if meaningless)."""
    endpoint = Endpoint(path=args.unix) if args.unix else args.connect
    return LoadSpec(args.protocol, endpoint, **{name: getattr(args, name) for name in OPTIONS})
