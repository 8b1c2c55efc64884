"""`python -m clients {tcp,ws}`: drive an echo server and report throughput and latency."""

import argparse
import json
import sys
from collections.abc import Callable

from aionetbench.errors import UsageError, run_command
from clients.result import format_table
from clients.slices import measure_sliced
from clients.spec import LoadSpec, add_arguments, from_args
from clients.window import WorkerFailed, WorkerResult
from clients.workers import run

PROG = {"python": "clients", "native": "clients.native"}  # how each names itself in errors


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
    add_arguments(parser)
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )
    args = parser.parse_args(argv)
    try:
        return from_args(args), args.json
    except UsageError as error:
        parser.error(str(error))


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
