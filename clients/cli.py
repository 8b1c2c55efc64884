"""`python -m clients {tcp,ws}`: drive an echo server and report throughput and latency."""

import argparse
import json
import sys
from collections.abc import Callable

from aionetbench.argtypes import non_negative_float, positive_float, positive_int
from aionetbench.endpoints import Endpoint
from aionetbench.errors import UsageError, run_command
from aionetbench.loops import loop_argument
from clients.arrivals import ARRIVALS
from clients.contract import PROTOCOLS, LoadSpec
from clients.result import format_table
from clients.slices import measure_sliced
from clients.window import WorkerFailed, WorkerResult
from clients.workers import run

DEFAULT = LoadSpec("tcp", Endpoint())  # the defaults of every option
PROG = {"python": "clients", "native": "clients.native"}  # how each names itself in errors


def endpoint_arg(text: str) -> Endpoint:
    try:
        return Endpoint.parse(text)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


DESCRIPTION = (
    "Echo load generator. Closed loop (default) keeps --pipeline messages in flight per "
    "connection and measures peak throughput; open loop (--rate) sends at a given rate "
    "(Poisson or uniform arrivals) and measures each latency from the message's intended send "
    "time (the wrk2 method), so server stalls are not hidden; messages in flight at the "
    "window's end are waited for, not dropped. Every echo is verified byte for byte; a run "
    "with errors exits 1."
)


def parse_args(
    argv: list[str] | None = None, prog: str = "python -m clients", description: str = DESCRIPTION
) -> tuple[LoadSpec, bool]:
    """The spec and whether to print JSON; `prog` and `description` let the native load
    generator, which takes the same arguments, say what it is."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "protocol",
        choices=PROTOCOLS,
        help="raw TCP echo, WebSocket, or line-framed TCP (each message ends in its only newline)",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--connect", metavar="HOST:PORT", type=endpoint_arg, help="TCP server")
    target.add_argument("--unix", metavar="PATH", help="Unix socket server")
    parser.add_argument("--tls", action="store_true", help="TLS (the certificate is not verified)")
    parser.add_argument(
        "--loop",
        type=loop_argument,
        default=DEFAULT.loop,
        help="client event loop: a name from aionetbench.loops, BASE+LAYER or MODULE:FACTORY "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--size",
        type=positive_int,
        default=DEFAULT.size,
        help="payload bytes (default %(default)s)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT.concurrency,
        help="connections (default %(default)s)",
    )
    parser.add_argument(
        "--pipeline",
        type=positive_int,
        default=DEFAULT.pipeline,
        help="closed loop: messages in flight per connection (default %(default)s)",
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=DEFAULT.duration,
        help="measured seconds (default %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=non_negative_float,
        default=DEFAULT.warmup,
        help="discarded seconds first (default %(default)s)",
    )
    parser.add_argument(
        "--rate", type=positive_float, help="open loop: messages per second over all connections"
    )
    parser.add_argument(
        "--requests",
        type=positive_int,
        metavar="N",
        help="closed loop: exactly N verified echoes over all connections, then stop (no "
        "warm-up; --duration is ignored): a fixed amount of work, for per-request counts",
    )
    parser.add_argument(
        "--arrivals",
        choices=ARRIVALS,
        default=DEFAULT.arrivals,
        help="open loop: exponential gaps (poisson, as mutilate and Lancet) or constant ones "
        "(uniform, as wrk2) (default %(default)s)",
    )
    parser.add_argument(
        "--drain",
        type=non_negative_float,
        default=DEFAULT.drain,
        help="seconds to wait after the window for replies still in flight; those that do not "
        "come count with their latency so far (default %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=DEFAULT.workers,
        help="processes to split connections over (default %(default)s)",
    )
    parser.add_argument(
        "--server-pid",
        type=positive_int,
        metavar="PID",
        help="also measure this server process's CPU time over the measured window",
    )
    parser.add_argument(
        "--p99-within",
        type=positive_float,
        metavar="FRACTION",
        help="open loop: measure further windows of --duration until the p99's 95%% interval "
        "is within +-FRACTION of it (0.1 is +-10%%), or --max-duration is reached",
    )
    parser.add_argument(
        "--max-duration",
        type=positive_float,
        metavar="S",
        help="with --p99-within: measured seconds at most (default five windows)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )
    args = parser.parse_args(argv)
    if args.workers > args.concurrency:
        parser.error("--workers cannot exceed --concurrency")
    if (args.p99_within or args.max_duration) and not args.rate:
        parser.error("--p99-within and --max-duration go with --rate")
    if args.max_duration and not args.p99_within:
        parser.error("--max-duration goes with --p99-within")
    if args.requests and (args.rate or args.workers > 1):
        parser.error("--requests goes with neither --rate nor more than one worker")
    endpoint = Endpoint(path=args.unix) if args.unix else args.connect
    return LoadSpec(
        protocol=args.protocol,
        endpoint=endpoint,
        tls=args.tls,
        loop=args.loop,
        size=args.size,
        concurrency=args.concurrency,
        pipeline=args.pipeline,
        duration=args.duration,
        warmup=args.warmup,
        rate=args.rate,
        requests=args.requests,
        arrivals=args.arrivals,
        drain=args.drain,
        workers=args.workers,
        server_pid=args.server_pid,
        p99_within=args.p99_within,
        max_duration=args.max_duration,
    ), args.json


def main(argv: list[str] | None = None) -> None:
    run_command("clients", lambda: run_and_report(*parse_args(argv)))


def run_and_report(
    spec: LoadSpec,
    as_json: bool,
    measure: Callable[[LoadSpec], list[WorkerResult]] = run,
    generator: str = "python",
) -> int:
    """Measure with `measure` (the Python workers by default), print the summary, and
    return the exit status: 1 if any echo failed."""
    try:
        summary = measure_sliced(spec, measure, generator)
    except WorkerFailed as error:
        print(f"{PROG[generator]}: {error}", file=sys.stderr)
        return 1
    if as_json:
        json.dump(summary.to_json(), sys.stdout)
        print()
    else:
        print(format_table(summary))
    return 1 if summary.errors else 0
