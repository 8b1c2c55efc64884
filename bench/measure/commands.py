"""The measuring commands: `run`, `list`, `count`, `explain` and `system`, their arguments and
handlers."""

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from aionetbench.argtypes import list_of, positive_float, positive_int
from aionetbench.errors import UsageError
from aionetbench.loops import loop_argument
from bench.measure import system
from bench.measure.options import (
    add_client_option,
    add_echo_count_options,
    add_force_option,
    add_host_options,
    add_plan_options,
    checked_plan,
    lab_from,
    pinning_from,
    without_unbuilt,
)
from bench.measure.pythons import describe, found, interpreter, server_pythons
from bench.measure.session import Side, run_session
from bench.plan.cells import LOOPBACK
from bench.plan.profiles import AUTO, EXPLAIN_OPEN_RATE, FOUND, PROFILES, Plan, make_plan
from bench.store.files import check_writable
from bench.store.writer import ResultsFile
from servers import SERVERS

DEFAULT_OUTPUT = Path("results/latest.json")


def run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run every cell of a profile's matrix (options override the profile) with a fresh "
        "pinned server per run, interleaving repeats, and record a pyperf suite."
    )
    add_plan_options(parser, DEFAULT_OUTPUT)
    parser.add_argument(
        "--pythons",
        type=list_of(str),
        metavar="LIST|found",
        help="run every cell's server on each of these Pythons, interleaved: versions (3.12: "
        "found on PATH, in pyenv or uv, given its own environment in .venvs/) or interpreter "
        "paths; `found` for every one on this machine (the wide profile's default)",
    )
    add_host_options(parser)


def command_run(args: argparse.Namespace) -> int:
    plan = checked_plan(args)
    check_writable(args.output, args.force)
    lab = lab_from(args, plan)  # every host checked before anything runs
    machine = None if lab else system.check(system.RUN_SAMPLE_S)
    pinning = pinning_from(args, system.quietest_cpu(machine) if machine else None)
    if lab:
        pinning, plan = replace(pinning, lab=lab), replace(plan, pythons=())
        pythons: dict[str, str] = {}
        servers = {"": lab.about_server()}
    else:
        # Every interpreter is found and set up before anything is measured.
        pythons = server_pythons(pythons_of(tuple(args.pythons or plan.pythons)))
        plan = replace(plan, pythons=tuple(pythons))
        servers = {label: describe(python) for label, python in pythons.items()}
    results = ResultsFile(
        args.output, plan, str(pinning), args.profile, servers,
        "native" if lab else pinning.clients.preferred.name, lab.metadata() if lab else None,
    )  # fmt: skip
    results.system = machine.to_json() if machine else None
    side = Side("run", sys.executable, results, pythons)
    if pythons:
        print(
            "servers on " + ", ".join(f"Python {k} ({v})" for k, v in pythons.items()),
            file=sys.stderr,
        )
    print(f"writing {args.output}", file=sys.stderr)
    return run_session(plan, pinning, [side], args.quiet)


def pythons_of(specs: tuple[str, ...]) -> tuple[str, ...]:
    """The Pythons a plan names, with `found` replaced by every one on this machine."""
    return tuple(found()) if specs == (FOUND,) else specs


def list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Show each profile: its matrix, its cells and how long it takes."


def workloads_line(plan: Plan) -> str:
    """What each of a plan's workloads runs, for `bench list`."""
    said = {
        "steady": "steady",
        "churn": f"churn ({plan.churn_messages} message(s) per connection)",
        "idle": f"idle ({','.join(map(str, plan.idle_connections))} connections)",
        "slow": f"slow ({plan.slow_readers} slow readers)",
    }
    fixed = {"idle", "slow"} & set(plan.workloads)
    at = f"; {' and '.join(sorted(fixed))} at {plan.fixed_rate:,.0f} msg/s" if fixed else ""
    return ", ".join(said[w] for w in plan.workloads) + at


def command_list(args: argparse.Namespace) -> int:
    for name, plan in PROFILES.items():
        plan = replace(plan, pythons=pythons_of(plan.pythons))
        print(
            f"{name}: {len(plan.cells)} cells x {plan.repeats} repeats, "
            f"{plan.warmup:g} s warm-up + {plan.duration:g} s each, about {plan.estimated_seconds() / 60:.0f} min"
        )
        print(
            f"  apis {','.join(plan.apis)}; loops {','.join(plan.loops)}; transports {','.join(plan.transports)}; "
            f"sizes {','.join(map(str, plan.sizes))}; concurrency {','.join(map(str, plan.concurrency))}; "
            f"pipeline {','.join(map(str, plan.pipeline))}; client loop {plan.client_loop}"
            + (f"; server Pythons {','.join(plan.pythons)}" if plan.pythons else "")
            + (
                f"; networks {','.join(plan.networks)} (off loopback from {plan.network_min_size} B)"
                if set(plan.networks) != {LOOPBACK}
                else ""
            )
        )
        if plan.workloads != ("steady",):
            print(f"  workloads {workloads_line(plan)}")
        if plan.rates:
            rates = "auto ladder" if plan.rates == AUTO else ",".join(f"{r:g}" for r in plan.rates)
            print(
                f"  open-loop sweep: {rates}, {plan.ladder_length} loads and a knee search per cell, {plan.arrivals} arrivals, "
                f"{plan.sweep_warmup:g} s + slices of {plan.sweep_duration:g} s per point"
                f"{f' (up to {plan.sweep_cap:g} s until p99 is known to +-10%)' if plan.sweep_cap > plan.sweep_duration else ''}, "
                f"{plan.sweep_processes} server process(es) per cell, about {plan.sweep_seconds() / 60:.1f} min"
            )
        swept = {cell.name for cell in plan.sweep_cells} if plan.rates else set()
        for cell in plan.cells:
            print(f"    {cell.name}{'  (swept)' if cell.name in swept else ''}")
    return 0


def count_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the server under valgrind (callgrind) for N and 2N echoes on one connection and "
        "print (I(2N) - I(N)) / N: instructions per request, start-up excluded. Independent "
        "of machine noise; needs valgrind."
    )
    parser.add_argument("api", choices=SERVERS, metavar="API")
    parser.add_argument("--loop", type=loop_argument, default="asyncio")
    add_echo_count_options(parser, requests=1000)
    parser.add_argument(
        "--repeats", type=positive_int, default=2, help="counts to record (default %(default)s)"
    )
    parser.add_argument(
        "--python", default=sys.executable, metavar="PATH", help="the server's python"
    )
    parser.add_argument("-o", "--output", type=Path, help="add the counts to this results file")
    add_force_option(parser)


def command_count(args: argparse.Namespace) -> int:
    from bench.measure.count import CountFailed, count_api

    python = interpreter(args.python)
    if args.output:
        check_writable(args.output, args.force)
    try:
        counts = count_api(
            args.api, args.loop, args.size, args.requests, args.repeats, python, args.output
        )
    except CountFailed as error:
        print(f"bench: counting failed: {error}", file=sys.stderr)
        return 1
    print(
        f"count/{args.api}/{args.loop}/{args.size}B: {statistics.median(counts):.0f} instructions per request"
    )
    return 0


def explain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "For each API x loop (default: the quick profile's cells, native included), a fresh "
        "pinned, warmed server driven with 10 connections at depth 1: system calls by name per "
        "request (counted with perf, or strace where perf cannot, around N and 2N verified "
        "echoes and differenced), event-loop passes (averaged over both runs, and again with "
        "one connection, where messages cannot share them), system calls per message under "
        "open load at --open-rate (where reads can batch), server "
        "user/system CPU and context switches per request (an untraced 0.5 s run), Python "
        "function calls per request (--python-calls), and server memory per idle connection. "
        "Without perf or strace the system-call columns are skipped with a note. Ctrl-C keeps "
        "the cells already explained."
    )
    parser.add_argument(
        "--apis", type=list_of(str, tuple(SERVERS)), help="default: the quick profile's"
    )
    parser.add_argument("--loops", type=list_of(loop_argument), help="server loops")
    add_client_option(parser)
    parser.add_argument(
        "--client-loop",
        type=loop_argument,
        default="uvloop",
        help="the Python load generator's loop",
    )
    add_echo_count_options(parser, requests=2000)
    parser.add_argument(
        "--idle-connections",
        type=positive_int,
        metavar="K",
        help="idle connections for memory per connection (default 10,000, or 1,000 when the "
        "open-file limit is lower)",
    )
    parser.add_argument(
        "--python-calls",
        action="store_true",
        help="also count Python function calls per request (one more server run per cell)",
    )
    parser.add_argument(
        "--open-rate",
        type=positive_float,
        default=EXPLAIN_OPEN_RATE,
        metavar="MSG/S",
        help="open load for read and write calls per message, the same for every API "
        "(default %(default)g)",
    )
    parser.add_argument("--server-cpus", type=positive_int, default=1, help="default %(default)s")
    parser.add_argument("--json", action="store_true", help="print a JSON list, not a table")
    parser.add_argument(
        "-o", "--output", type=Path, help="also put the figures in this results file"
    )
    add_force_option(parser)


def command_explain(args: argparse.Namespace) -> int:
    from bench.measure.explain.cells import Interrupted, explain_all, table
    from bench.measure.session import INTERRUPTED, stop_on_sigterm
    from bench.store.writer import record_explanations

    plan = without_unbuilt(make_plan("quick", apis=args.apis, loops=args.loops, sizes=(args.size,)))
    if not plan.cells:
        raise UsageError("no cells to explain")
    if args.output:
        check_writable(args.output, args.force)

    def save(done: list) -> None:
        if args.output:
            record_explanations(args.output, done)

    stop_on_sigterm()
    try:
        rows, failures = explain_all(
            plan.cells, pinning_from(args), args.requests, args.idle_connections,
            args.python_calls, args.client_loop, save, args.open_rate,
        )  # fmt: skip
    except Interrupted as interrupted:
        saved = ""
        if args.output:
            saved = (
                f"; {len(interrupted.done)} cells explained saved to {args.output}"
                if interrupted.done
                else f"; no cell was explained, so nothing was written to {args.output}"
            )
        print(f"bench: interrupted{saved}", file=sys.stderr)
        return INTERRUPTED
    if args.json:
        print(json.dumps([row.as_json() for row in rows], indent=2))
    else:
        print(table(rows))
    return 1 if failures else 0


# Command -> (its arguments, its handler), for bench.cli.
def system_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "What on this machine may interfere with a run, and what a user could tune: the "
        "threads that kept each CPU busy, steal, interrupts, the idle driver and guest halt "
        "polling, transparent huge pages, the frequency governor, isolated CPUs (in the spirit "
        "of `pyperf system show`). `bench run` samples the same before it measures."
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    inspect = actions.add_parser("check", help="sample the machine and say what was found")
    inspect.add_argument(
        "--seconds",
        type=positive_float,
        default=system.SAMPLE_S,
        help="sample (default %(default)s)",
    )
    inspect.add_argument("--json", action="store_true", help="print one JSON object")


def command_system(args: argparse.Namespace) -> int:
    found = system.check(args.seconds)
    if args.json:
        print(json.dumps({**found.to_json(), "advice": found.advice()}))
        return 0
    print("\n".join([*found.lines(), *(f"tune: {tip}" for tip in found.advice())]))
    quiet = system.quietest_cpu(found)
    if quiet is not None:
        print(f"bench run would pin the server to CPU {quiet}, the quietest")
    return 0


COMMANDS: dict[str, tuple[Callable, Callable]] = {
    "run": (run_arguments, command_run),
    "system": (system_arguments, command_system),
    "list": (list_arguments, command_list),
    "count": (count_arguments, command_count),
    "explain": (explain_arguments, command_explain),
}
