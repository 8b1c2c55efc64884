"""The commands that read results: `report`, `compare`, `history` and `export`."""

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from aionetbench.argtypes import positive_float
from aionetbench.errors import UsageError


def report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Write report.md and its PNG figures from a results file."
    parser.add_argument("file", type=Path, help="a results file from `bench run`")
    parser.add_argument(
        "-o", "--output", type=Path, help="directory (default: next to FILE, named after it)"
    )
    parser.add_argument(
        "--slo-p99",
        type=positive_float,
        metavar="MS",
        help="the p99 objective for SLO capacity (default: the one the run was made with)",
    )


def command_report(args: argparse.Namespace) -> int:
    from bench.report.report import write_report  # matplotlib is loaded only to draw

    directory = args.output or args.file.with_suffix("")
    print(write_report(args.file, directory, args.slo_p99))
    return 0


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
    parser.add_argument(
        "--allow-client-change",
        action="store_true",
        help="compare files measured with different load generators (native, python), whose "
        "every number differs for that reason alone",
    )


def compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Compare each NEW file with BASE on every benchmark they share. Exit 0 if nothing is "
        "significantly slower by more than the threshold, 1 if something is, 2 on bad input."
    )
    parser.add_argument("base", type=Path, metavar="BASE.json")
    parser.add_argument("new", type=Path, nargs="+", metavar="NEW.json")
    parser.add_argument(
        "-o", "--output", type=Path, help="directory for compare.md and compare.png"
    )
    add_gate_options(parser)


def command_compare(args: argparse.Namespace) -> int:
    from bench.analyse.compare import compare_files, environments
    from bench.analyse.compare import table as compare_table
    from bench.report.plots.gate import comparison

    if args.threshold < 0:
        raise UsageError("--threshold must not be negative")
    comparisons = compare_files(
        [args.base, *args.new],
        args.threshold / 100,
        args.count_threshold / 100,
        not args.no_correction,
        args.allow_client_change,
    )
    lines = [*environments([args.base, *args.new]), "", *compare_table(comparisons)]
    print("\n".join(lines))
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "compare.md").write_text(
            "# aionetbench comparison\n\n" + "\n".join(lines) + "\n\n![comparison](compare.png)\n"
        )
        comparison(comparisons, args.threshold / 100, args.output / "compare.png")
    regressions = [c for c in comparisons if c.regression]
    if regressions:
        print(
            f"bench: {len(regressions)} significant regression(s) beyond {args.threshold:g}%",
            file=sys.stderr,
        )
        return 1
    return 0


def history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = "Plot each benchmark's trend over a directory of results files."
    parser.add_argument(
        "directory",
        type=Path,
        nargs="?",
        default=Path("results/history"),
        help="default %(default)s",
    )
    parser.add_argument("-o", "--output", type=Path, help="default: DIRECTORY/plots")
    parser.add_argument(
        "--threshold", type=float, default=5.0, metavar="PCT", help="default %(default)s%%"
    )


def command_history(args: argparse.Namespace) -> int:
    from bench.report.history import write_history

    print(
        write_history(args.directory, args.output or args.directory / "plots", args.threshold / 100)
    )
    return 0


def export_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.report.export import FORMATS

    parser.description = "Convert a results file for github-action-benchmark or Bencher."
    parser.add_argument("file", type=Path)
    parser.add_argument("--format", choices=FORMATS, required=True)
    parser.add_argument("-o", "--output", type=Path, help="default: stdout")


def command_export(args: argparse.Namespace) -> int:
    from bench.report.export import CONVERTERS
    from bench.store.reader import load_suite

    text = json.dumps(CONVERTERS[args.format](load_suite(args.file)), indent=2) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


# Command -> (its arguments, its handler), for bench.cli.
COMMANDS: dict[str, tuple[Callable, Callable]] = {
    "report": (report_arguments, command_report),
    "compare": (compare_arguments, command_compare),
    "history": (history_arguments, command_history),
    "export": (export_arguments, command_export),
}
