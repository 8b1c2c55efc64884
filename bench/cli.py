"""`python -m bench`: run the benchmark matrix and list the profiles."""

import argparse
import json
import math
import os
import shutil
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from aionetbench.argtypes import list_of, non_negative_float, positive_float, positive_int
from aionetbench.cpus import split_cpus
from aionetbench.errors import UsageError, run_command
from aionetbench.loops import LOOPS
from bench.export import FORMATS
from bench.netns import PATHS, check_paths
from bench.plan import AUTO, FOUND, LOOPBACK, PROFILES, TRANSPORTS, Plan, make_plan
from bench.pythons import describe, found, interpreter, server_python, server_pythons
from bench.record import ResultsFile, suite_commit
from bench.results import load_suite
from bench.run import Pinning
from bench.session import Side, run_session
from clients.arrivals import ARRIVALS
from servers import APIS, native

DEFAULT_OUTPUT = Path("results/latest.json")
# What `bench ci` counts with valgrind: (API, loop); small enough to cost ~20 s per environment.
COUNTED = (("protocol", "asyncio"),)


def add_plan_options(parser: argparse.ArgumentParser, default_output: Path) -> None:
    """What to run: a profile, overrides of its matrix, pinning and where results go."""
    parser.add_argument("--profile", choices=PROFILES, default="quick", help="default %(default)s")
    parser.add_argument("--apis", type=list_of(str, tuple(APIS)), help="e.g. protocol,streams")
    parser.add_argument("--loops", type=list_of(str, LOOPS), help="server loops, e.g. uvloop")
    parser.add_argument("--client-loop", choices=LOOPS, help="the load generator's loop")
    parser.add_argument("--transport", choices=TRANSPORTS, help="tcp, unix or tls")
    parser.add_argument(
        "--network",
        type=list_of(str, PATHS),
        metavar="LIST",
        help="paths between load generator and server, each its own cells: loopback "
        "(default), veth (two network namespaces, MTU 1500), gbit (veth at 1 Gbit/s each way), "
        "lan / wan (veth with 0.1 / 10 ms netem delay each way; need sch_netem). All but "
        "loopback need root",
    )
    parser.add_argument(
        "--sizes", type=list_of(positive_int), help="payload bytes, e.g. 1024,102400"
    )
    parser.add_argument(
        "--concurrency", type=list_of(positive_int), help="connections, e.g. 1,10,100"
    )
    parser.add_argument(
        "--pipeline", type=list_of(positive_int), help="messages in flight per connection"
    )
    parser.add_argument("--repeats", type=positive_int, help="runs per cell")
    parser.add_argument("--duration", type=float, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, help="discarded seconds before each window")
    parser.add_argument(
        "--rates",
        type=rates_arg,
        metavar="LIST|auto|none",
        help="open-loop sweep after the matrix: offered loads in messages/s (e.g. 1000,5k,20k), "
        "or auto: one ladder for all cells from the capacities just measured, 5%% of the "
        "slowest to 110%% of the fastest (quick and full default to auto)",
    )
    parser.add_argument(
        "--arrivals",
        choices=ARRIVALS,
        help="sweep arrivals: poisson (default; as mutilate and Lancet) or uniform (as wrk2)",
    )
    parser.add_argument(
        "--sweep-duration", type=positive_float, help="measured seconds per sweep point"
    )
    parser.add_argument(
        "--sweep-warmup", type=non_negative_float, help="discarded seconds before each point"
    )
    parser.add_argument(
        "--slo-p99",
        type=positive_float,
        metavar="MS",
        help="the latency objective for SLO capacity in the report (default 1 ms)",
    )
    parser.add_argument(
        "--server-cpus",
        type=positive_int,
        default=1,
        help="CPUs pinned to the server; the client gets the rest (default %(default)s)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=default_output, help="default %(default)s"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar (for CI)")


def rates_arg(text: str) -> tuple[float, ...] | str:
    """`auto`, `none`, or positive messages/s separated by commas (`k` means thousands)."""
    if text.strip() in (AUTO, "none"):
        return AUTO if text.strip() == AUTO else ()

    def rate(item: str) -> float:
        scale = 1000 if item.lower().endswith("k") else 1
        try:
            value = float(item[:-1] if scale == 1000 else item) * scale
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a rate: {item!r}") from None
        if not math.isfinite(value) or value < 1:
            raise argparse.ArgumentTypeError(f"rates must be at least 1 message/s, got {item!r}")
        return value

    return tuple(sorted(set(list_of(rate)(text))))


def add_echo_count_options(parser: argparse.ArgumentParser, requests: int) -> None:
    """The size and number of the echoes a per-request count is made of."""
    parser.add_argument(
        "--size", type=positive_int, default=1024, help="payload bytes (default %(default)s)"
    )
    parser.add_argument(
        "--requests", type=positive_int, default=requests, help="N (default %(default)s)"
    )


def add_gate_options(parser: argparse.ArgumentParser) -> None:
    """How a comparison decides that something regressed."""
    parser.add_argument(
        "--threshold", type=float, default=5.0, metavar="PCT", help="default %(default)s%%"
    )
    parser.add_argument(
        "--count-threshold",
        type=float,
        default=1.0,
        metavar="PCT",
        help="threshold for instruction counts from `bench count` (default %(default)s%%)",
    )
    parser.add_argument(
        "--no-correction",
        action="store_true",
        help="test each benchmark at 95%% alone instead of Holm-Bonferroni over all of them",
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmark asyncio networking APIs."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="run a matrix and record pyperf results",
        description="Run every cell of a profile's matrix (options override the profile) with a "
        "fresh pinned server per run, interleaving repeats, and record a pyperf suite.",
    )
    add_plan_options(run, DEFAULT_OUTPUT)
    run.add_argument(
        "--pythons",
        type=list_of(str),
        metavar="LIST|found",
        help="run every cell's server on each of these Pythons, interleaved: versions (3.12: "
        "found on PATH, in pyenv or uv, given its own environment in .venvs/) or interpreter "
        "paths; `found` for every one on this machine (the wide profile's default)",
    )

    ab = commands.add_parser(
        "ab",
        help="measure a base and a new server environment interleaved, then compare them",
        description="Run every cell alternately with servers on the base and the new Python "
        "(each with aionetbench and its own uvloop, websockets... installed); the load generator "
        "stays this one. Writes DIR/base.json and DIR/new.json, compares them like `compare` "
        "and exits like it. Measuring both in one job, interleaved, is the reliable baseline on "
        "shared CI machines.",
    )
    add_plan_options(ab, Path("results/ab"))
    ab.add_argument(
        "--base-python",
        required=True,
        metavar="VERSION|PATH",
        help="the base servers' Python: a version such as 3.12 (found on PATH, in pyenv or uv, "
        "and given its own environment in .venvs/) or an environment's python",
    )
    ab.add_argument(
        "--new-python", default=sys.executable, metavar="VERSION|PATH", help="default: this one"
    )
    add_gate_options(ab)

    ci = commands.add_parser(
        "ci",
        help="the CI regression gate: measure the smoke profile, count instructions, compare",
        description="Measure (default: the smoke profile), add valgrind instruction counts, "
        "compare with the baseline, copy the new results into the history directory, and exit "
        "0 (no regression), 1 (regression or failed runs) or 2 (bad input). The baseline is "
        "either a stored results file (--baseline) or, better on shared machines, a second "
        "environment measured interleaved in the same job (--base-python).",
    )
    add_plan_options(ci, Path("results/ci"))
    ci.set_defaults(profile="smoke")
    baseline = ci.add_mutually_exclusive_group()
    baseline.add_argument("--baseline", type=Path, metavar="FILE", help="a stored results file")
    baseline.add_argument(
        "--base-python", metavar="PATH", help="measure this environment's servers too"
    )
    ci.add_argument("--no-count", dest="count", action="store_false", help="skip valgrind counts")
    ci.add_argument(
        "--history", type=Path, default=Path("results/history"), help="default %(default)s"
    )
    add_gate_options(ci)

    commands.add_parser("list", help="show the profiles, their cells and estimated durations")

    count = commands.add_parser(
        "count",
        help="count a server's user-space instructions per request under valgrind",
        description="Run the server under valgrind (callgrind) for N and 2N echoes on one "
        "connection and print (I(2N) - I(N)) / N: instructions per request, start-up excluded. "
        "Independent of machine noise; needs valgrind.",
    )
    count.add_argument("api", choices=APIS, metavar="API")
    count.add_argument("--loop", choices=LOOPS, default="asyncio")
    add_echo_count_options(count, requests=1000)
    count.add_argument(
        "--repeats", type=positive_int, default=2, help="counts to record (default %(default)s)"
    )
    count.add_argument(
        "--python", default=sys.executable, metavar="PATH", help="the server's python"
    )
    count.add_argument("-o", "--output", type=Path, help="add the counts to this results file")

    explain = commands.add_parser(
        "explain",
        help="per-request costs behind each result: system calls, loop passes, CPU, memory",
        description="For each API x loop (default: the quick profile's cells, native included), "
        "a fresh pinned, warmed server driven with 10 connections at depth 1: system calls by "
        "name per request (counted with perf, or strace where perf cannot, around N and 2N "
        "verified echoes and differenced), event-loop passes (averaged over both runs), "
        "server user/system CPU and context switches per request (an untraced 1 s run), "
        "Python function calls per request (--python-calls), and server memory per idle "
        "connection. Without perf or strace the system-call columns are skipped with a note.",
    )
    explain.add_argument(
        "--apis", type=list_of(str, tuple(APIS)), help="default: the quick profile's"
    )
    explain.add_argument("--loops", type=list_of(str, LOOPS), help="server loops")
    explain.add_argument("--client-loop", choices=LOOPS, default="uvloop")
    add_echo_count_options(explain, requests=2000)
    explain.add_argument(
        "--idle-connections",
        type=positive_int,
        metavar="K",
        help="idle connections for memory per connection (default 10,000, or 1,000 when the "
        "open-file limit is lower)",
    )
    explain.add_argument(
        "--python-calls",
        action="store_true",
        help="also count Python function calls per request (one more server run per cell)",
    )
    explain.add_argument("--server-cpus", type=positive_int, default=1, help="default %(default)s")
    explain.add_argument("--json", action="store_true", help="print a JSON list, not a table")
    explain.add_argument(
        "-o", "--output", type=Path, help="also put the figures in this results file"
    )

    report = commands.add_parser(
        "report", help="write a Markdown report and plots from a results file"
    )
    report.add_argument("file", type=Path, help="a results file from `bench run`")
    report.add_argument(
        "-o", "--output", type=Path, help="directory (default: next to FILE, named after it)"
    )
    report.add_argument(
        "--slo-p99",
        type=positive_float,
        metavar="MS",
        help="the p99 objective for SLO capacity (default: the one the run was made with)",
    )

    history = commands.add_parser(
        "history", help="plot each benchmark's trend over a directory of results"
    )
    history.add_argument(
        "directory",
        type=Path,
        nargs="?",
        default=Path("results/history"),
        help="default %(default)s",
    )
    history.add_argument("-o", "--output", type=Path, help="default: DIRECTORY/plots")
    history.add_argument(
        "--threshold", type=float, default=5.0, metavar="PCT", help="default %(default)s%%"
    )

    export = commands.add_parser(
        "export", help="convert results for github-action-benchmark or Bencher"
    )
    export.add_argument("file", type=Path)
    export.add_argument("--format", choices=FORMATS, required=True)
    export.add_argument("-o", "--output", type=Path, help="default: stdout")

    compare = commands.add_parser(
        "compare",
        help="compare results files; exit 1 on a significant regression",
        description="Compare each NEW file with BASE on every benchmark they share. Exit 0 if "
        "nothing is significantly slower by more than the threshold, 1 if something is, 2 on "
        "bad input.",
    )
    compare.add_argument("base", type=Path, metavar="BASE.json")
    compare.add_argument("new", type=Path, nargs="+", metavar="NEW.json")
    compare.add_argument(
        "-o", "--output", type=Path, help="directory for compare.md and compare.png"
    )
    add_gate_options(compare)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run_command("bench", lambda: COMMANDS[args.command](args))


def plan_from(args: argparse.Namespace) -> Plan:
    return make_plan(
        args.profile,
        apis=args.apis,
        loops=args.loops,
        client_loop=args.client_loop,
        transports=(args.transport,) if args.transport else None,
        networks=args.network,
        sizes=args.sizes,
        concurrency=args.concurrency,
        pipeline=args.pipeline,
        repeats=args.repeats,
        duration=args.duration,
        warmup=args.warmup,
        rates=args.rates,
        arrivals=args.arrivals,
        sweep_duration=args.sweep_duration,
        sweep_warmup=args.sweep_warmup,
        slo_p99_ms=args.slo_p99,
    )


def pinning_from(args: argparse.Namespace) -> Pinning:
    try:
        server_cpus, client_cpus = split_cpus(args.server_cpus)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return Pinning(frozenset(server_cpus), frozenset(client_cpus))


def without_unbuilt_native(plan: Plan) -> Plan:
    """The plan without the native server's cells when it could not be built (one line)."""
    if "native" in plan.apis and not os.access(native.BINARY, os.X_OK):
        print(
            "bench: the native server is not built (`make native` needs a C compiler); its cells are skipped",
            file=sys.stderr,
        )
        return replace(plan, apis=tuple(api for api in plan.apis if api != "native"))
    return plan


def checked_plan(args: argparse.Namespace) -> Plan:
    plan = without_unbuilt_native(plan_from(args))
    if set(plan.transports) == {"unix"} and LOOPBACK not in plan.networks:
        raise UsageError("a Unix socket crosses no network: use --network with tcp or tls")
    check_paths(plan.networks)  # root, iproute2 and netem, before anything is written or run
    if not plan.cells:
        raise UsageError("the plan has no cells (is every API unsupported on this transport?)")
    return plan


def command_run(args: argparse.Namespace) -> int:
    plan, pinning = checked_plan(args), pinning_from(args)
    # Every interpreter is found and set up before anything is measured.
    pythons = server_pythons(pythons_of(tuple(args.pythons or plan.pythons)))
    plan = replace(plan, pythons=tuple(pythons))
    servers = {label: describe(python) for label, python in pythons.items()}
    results = ResultsFile(args.output, plan, pinning, args.profile, servers)
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


def measure_ab(
    args: argparse.Namespace, base_python: str, new_python: str
) -> tuple[int, Path, Path]:
    """Run the plan with servers on both interpreters, interleaved; (status, base, new files)."""
    plan, pinning = checked_plan(args), pinning_from(args)
    pythons = {"base": server_python(base_python), "new": server_python(new_python)}
    sides = [
        Side(
            label,
            python,
            ResultsFile(
                args.output / f"{label}.json", plan, pinning, args.profile, {"": describe(python)}
            ),
        )
        for label, python in pythons.items()
    ]
    print(f"writing {args.output}/base.json and new.json", file=sys.stderr)
    return (
        run_session(plan, pinning, sides, args.quiet),
        sides[0].results.path,
        sides[1].results.path,
    )


def command_ab(args: argparse.Namespace) -> int:
    status, args.base, new = measure_ab(args, args.base_python, args.new_python)
    if status != 0:
        return status
    args.new = [new]
    return command_compare(args)


def command_ci(args: argparse.Namespace) -> int:
    """The regression gate: measure, count instructions, compare, keep history."""
    if bool(args.baseline) == bool(args.base_python):
        raise UsageError(
            "give exactly one baseline: --baseline FILE or --base-python PATH (see README)"
        )
    if args.baseline:
        load_suite(args.baseline)  # a bad baseline is a usage error before minutes of measuring
        plan, pinning = checked_plan(args), pinning_from(args)
        new = args.output / "new.json"
        side = Side("new", sys.executable, ResultsFile(new, plan, pinning, args.profile))
        status, base = run_session(plan, pinning, [side], args.quiet), args.baseline
    else:
        status, base, new = measure_ab(args, args.base_python, sys.executable)
    if status != 0:
        return status
    if args.count and shutil.which("valgrind"):
        from bench.count import CountFailed, count_into

        try:
            if args.base_python:
                count_into(base, COUNTED, interpreter(args.base_python))
            count_into(new, COUNTED, sys.executable)
        except CountFailed as error:
            print(f"bench: counting failed: {error}", file=sys.stderr)
            return 1
    elif args.count:
        print("bench: valgrind not found; instruction counts skipped", file=sys.stderr)
    args.history.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        new,
        args.history / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{suite_commit()}.json",
    )
    args.base, args.new = base, [new]
    return command_compare(args)


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
        if plan.rates:
            rates = "auto ladder" if plan.rates == AUTO else ",".join(f"{r:g}" for r in plan.rates)
            print(
                f"  open-loop sweep: {rates}, up to {plan.ladder_length} loads per cell, {plan.arrivals} arrivals, "
                f"{plan.sweep_warmup:g} s + {plan.sweep_duration:g} s per point, up to {plan.sweep_seconds() / 60:.1f} min"
            )
        for cell in plan.cells:
            print(f"    {cell.name}")
    return 0


def command_count(args: argparse.Namespace) -> int:
    from bench.count import CountFailed, count_api

    python = interpreter(args.python)
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


def command_explain(args: argparse.Namespace) -> int:
    from bench.explain import explain_all, table
    from bench.record import record_explanations

    plan = without_unbuilt_native(
        make_plan("quick", apis=args.apis, loops=args.loops, sizes=(args.size,))
    )
    if not plan.cells:
        raise UsageError("no cells to explain")

    def save(done: list) -> None:
        if args.output:
            record_explanations(args.output, [row.as_json() for row in done])

    rows, failures = explain_all(
        plan.cells, pinning_from(args), args.requests, args.idle_connections,
        args.python_calls, args.client_loop, save,
    )  # fmt: skip
    if args.json:
        print(json.dumps([row.as_json() for row in rows], indent=2))
    else:
        print(table(rows))
    return 1 if failures else 0


def command_report(args: argparse.Namespace) -> int:
    from bench.report import write_report  # matplotlib is loaded only by the commands that draw

    directory = args.output or args.file.with_suffix("")
    print(write_report(args.file, directory, args.slo_p99))
    return 0


def command_compare(args: argparse.Namespace) -> int:
    from bench import plots
    from bench.compare import compare_files, environments
    from bench.compare import table as compare_table

    if args.threshold < 0:
        raise UsageError("--threshold must not be negative")
    comparisons = compare_files(
        [args.base, *args.new],
        args.threshold / 100,
        args.count_threshold / 100,
        not args.no_correction,
    )
    lines = [*environments([args.base, *args.new]), "", *compare_table(comparisons)]
    print("\n".join(lines))
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "compare.md").write_text(
            "# aionetbench comparison\n\n" + "\n".join(lines) + "\n\n![comparison](compare.png)\n"
        )
        plots.comparison(comparisons, args.threshold / 100, args.output / "compare.png")
    regressions = [c for c in comparisons if c.regression]
    if regressions:
        print(
            f"bench: {len(regressions)} significant regression(s) beyond {args.threshold:g}%",
            file=sys.stderr,
        )
        return 1
    return 0


def command_history(args: argparse.Namespace) -> int:
    from bench.history import write_history

    print(
        write_history(args.directory, args.output or args.directory / "plots", args.threshold / 100)
    )
    return 0


def command_export(args: argparse.Namespace) -> int:
    from bench import export
    from bench.results import load_suite

    suite = load_suite(args.file)
    convert = (
        export.github_action_benchmark
        if args.format == "github-action-benchmark"
        else export.bencher
    )
    text = json.dumps(convert(suite), indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


COMMANDS = {
    "run": command_run,
    "ab": command_ab,
    "ci": command_ci,
    "list": command_list,
    "count": command_count,
    "explain": command_explain,
    "report": command_report,
    "compare": command_compare,
    "history": command_history,
    "export": command_export,
}
