"""`python -m bench`: run the benchmark matrix and list the profiles."""

import argparse
import signal
import statistics
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from aionetbench.argtypes import list_of, positive_int
from aionetbench.cpus import split_cpus
from aionetbench.errors import UsageError, run_command
from aionetbench.loops import LOOPS
from bench.plan import PROFILES, TRANSPORTS, Plan, make_plan
from bench.record import ResultsFile
from bench.run import Failure, Measurement, Pinning, run_cell
from servers import APIS

DEFAULT_OUTPUT = Path("results/latest.json")
INTERRUPTED = 130


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
    run.add_argument("--profile", choices=PROFILES, default="quick", help="default %(default)s")
    run.add_argument("--apis", type=list_of(str, tuple(APIS)), help="e.g. protocol,streams")
    run.add_argument("--loops", type=list_of(str, LOOPS), help="server loops, e.g. uvloop")
    run.add_argument("--client-loop", choices=LOOPS, help="the load generator's loop")
    run.add_argument("--transport", choices=TRANSPORTS, help="tcp, unix or tls")
    run.add_argument("--sizes", type=list_of(positive_int), help="payload bytes, e.g. 1024,102400")
    run.add_argument("--concurrency", type=list_of(positive_int), help="connections, e.g. 1,10,100")
    run.add_argument(
        "--pipeline", type=list_of(positive_int), help="messages in flight per connection"
    )
    run.add_argument("--repeats", type=positive_int, help="runs per cell")
    run.add_argument("--duration", type=float, help="measured seconds per run")
    run.add_argument("--warmup", type=float, help="discarded seconds before each window")
    run.add_argument(
        "--server-cpus",
        type=positive_int,
        default=1,
        help="CPUs pinned to the server; the client gets the rest (default %(default)s)",
    )
    run.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="default %(default)s"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar (for CI)")

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
    count.add_argument(
        "--size", type=positive_int, default=1024, help="payload bytes (default %(default)s)"
    )
    count.add_argument(
        "--requests", type=positive_int, default=1000, help="N (default %(default)s)"
    )
    count.add_argument(
        "--repeats", type=positive_int, default=2, help="counts to record (default %(default)s)"
    )
    count.add_argument("-o", "--output", type=Path, help="add the counts to this results file")

    report = commands.add_parser(
        "report", help="write a Markdown report and plots from a results file"
    )
    report.add_argument("file", type=Path, help="a results file from `bench run`")
    report.add_argument(
        "-o", "--output", type=Path, help="directory (default: next to FILE, named after it)"
    )

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
    compare.add_argument(
        "--threshold", type=float, default=5.0, metavar="PCT", help="default %(default)s%%"
    )
    compare.add_argument(
        "--count-threshold",
        type=float,
        default=1.0,
        metavar="PCT",
        help="threshold for instruction counts from `bench count` (default %(default)s%%)",
    )
    compare.add_argument(
        "--no-correction",
        action="store_true",
        help="test each benchmark at 95%% alone instead of Holm-Bonferroni over all of them",
    )
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
        sizes=args.sizes,
        concurrency=args.concurrency,
        pipeline=args.pipeline,
        repeats=args.repeats,
        duration=args.duration,
        warmup=args.warmup,
    )


def stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so a cancelled CI job also saves and cleans up."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def command_run(args: argparse.Namespace) -> int:
    plan = plan_from(args)
    if not plan.cells:
        raise UsageError("the plan has no cells (is every API unsupported on this transport?)")
    try:
        server_cpus, client_cpus = split_cpus(args.server_cpus)
    except ValueError as error:
        raise UsageError(str(error)) from None
    pinning = Pinning(frozenset(server_cpus), frozenset(client_cpus))
    results = ResultsFile(args.output, plan, pinning, args.profile)
    schedule = plan.schedule()
    print(
        f"{len(plan.cells)} cells x {plan.repeats} repeats = {len(schedule)} runs, about "
        f"{plan.estimated_seconds() / 60:.1f} min; pinned {pinning}; writing {args.output}",
        file=sys.stderr,
    )
    measured: dict[str, list[Measurement]] = {}
    stop_on_sigterm()
    progress = tqdm(total=len(schedule), disable=args.quiet, unit="run", dynamic_ncols=True)
    try:
        for repeat, cell in schedule:
            with tempfile.TemporaryDirectory(prefix="aionetbench-") as workdir:
                outcome = run_cell(cell, plan, pinning, Path(workdir))
            if isinstance(outcome, Failure):
                results.add_failure(cell, repeat, outcome)
                progress.write(
                    f"FAILED {cell.name} (repeat {repeat}): {outcome.reason}", file=sys.stderr
                )
            else:
                results.add(cell, repeat, outcome)
                measured.setdefault(cell.name, []).append(outcome)
                progress.set_postfix_str(
                    f"{cell.name} {outcome.client['rps']:,.0f} req/s", refresh=False
                )
            progress.update()
    except KeyboardInterrupt:
        progress.close()
        results.interrupted = True
        results.save()
        print(
            f"bench: interrupted; {results.completed} completed runs saved to {args.output}",
            file=sys.stderr,
        )
        return INTERRUPTED
    progress.close()
    print(summary_table(measured))
    if results.failures:
        print(
            f"bench: {len(results.failures)} of {len(schedule)} runs failed; see {args.output}",
            file=sys.stderr,
        )
        return 1
    return 0


def summary_table(measured: dict[str, list[Measurement]]) -> str:
    """Per cell: median req/s (min-max), median p99 and server CPU per request, warnings."""
    lines = [f"{'cell':<36} {'req/s median (min-max)':>28} {'p99 us':>9} {'server us/req':>14}"]
    for name, runs in measured.items():
        rps = [run.client["rps"] for run in runs]
        p99 = statistics.median(run.client["latency_us"]["p99"] for run in runs)
        cpu = statistics.median(run.client.get("server_cpu_us_per_request", 0.0) for run in runs)
        bound = sum(run.client["client_bound"] for run in runs)
        flag = f"  client-bound in {bound}/{len(runs)}" if bound else ""
        spread = f"{statistics.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f})"
        lines.append(f"{name:<36} {spread:>28} {p99:>9,.1f} {cpu:>14.2f}{flag}")
    return "\n".join(lines)


def command_list(args: argparse.Namespace) -> int:
    for name, plan in PROFILES.items():
        print(
            f"{name}: {len(plan.cells)} cells x {plan.repeats} repeats, "
            f"{plan.warmup:g} s warm-up + {plan.duration:g} s each, about {plan.estimated_seconds() / 60:.0f} min"
        )
        print(
            f"  apis {','.join(plan.apis)}; loops {','.join(plan.loops)}; transports {','.join(plan.transports)}; "
            f"sizes {','.join(map(str, plan.sizes))}; concurrency {','.join(map(str, plan.concurrency))}; "
            f"pipeline {','.join(map(str, plan.pipeline))}; client loop {plan.client_loop}"
        )
        for cell in plan.cells:
            print(f"    {cell.name}")
    return 0


def command_count(args: argparse.Namespace) -> int:
    from bench.count import instructions_per_request
    from bench.record import record_counts

    name = f"count/{args.api}/{args.loop}/{args.size}B"
    counts = []
    with tempfile.TemporaryDirectory(prefix="aionetbench-count-") as workdir:
        for repeat in range(1, args.repeats + 1):
            counts.append(
                instructions_per_request(
                    args.api, args.loop, args.size, args.requests, Path(workdir)
                )
            )
            print(
                f"{name}: repeat {repeat}: {counts[-1]:,.1f} instructions per request",
                file=sys.stderr,
            )
    if args.output:
        metadata = {
            "metric": "instructions per request",
            "api": args.api,
            "server_loop": args.loop,
            "size": args.size,
        }
        record_counts(args.output, name, counts, metadata)
    print(f"{name}: {statistics.median(counts):.0f} instructions per request")
    return 0


def command_report(args: argparse.Namespace) -> int:
    from bench.report import write_report  # matplotlib is loaded only by the commands that draw

    directory = args.output or args.file.with_suffix("")
    print(write_report(args.file, directory))
    return 0


def command_compare(args: argparse.Namespace) -> int:
    from bench import plots
    from bench.compare import compare_files
    from bench.compare import table as compare_table

    if args.threshold < 0:
        raise UsageError("--threshold must not be negative")
    comparisons = compare_files(
        [args.base, *args.new],
        args.threshold / 100,
        args.count_threshold / 100,
        not args.no_correction,
    )
    lines = compare_table(comparisons)
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


COMMANDS = {
    "run": command_run,
    "list": command_list,
    "count": command_count,
    "report": command_report,
    "compare": command_compare,
}
